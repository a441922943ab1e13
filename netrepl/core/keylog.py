"""TLS key logs: `set tls keylog FILE` (or SSLKEYLOGFILE), NSS key log lines for every handshake.

OpenSSL (through ssl.SSLContext.keylog_filename) appends one line per secret,
in the format Wireshark and tshark read (`-o tls.keylog_file:FILE`), for the
client side and the server side (`tls --server`) alike.

The file decrypts every session logged in it, so before OpenSSL gets the name
it is opened here with O_NOFOLLOW | O_CREAT | O_APPEND and mode 0600: a new file
is private, and a symlink planted at that name (by another user, in /tmp) is
refused instead of followed. That covers SSLKEYLOGFILE too, which Python's
create_default_context would otherwise open as it is: `checked` runs before it.
OpenSSL opens the file itself right after (when keylog_filename is set), so
the check and its open are microseconds apart in the same process.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

ENV = "SSLKEYLOGFILE"


class KeylogError(ValueError):
    """The key log file cannot be used: a sentence naming it and why."""


def from_environment() -> str | None:
    """SSLKEYLOGFILE as Python's ssl honours it (not under -E / -I)."""
    if sys.flags.ignore_environment:
        return None
    return os.environ.get(ENV) or None


def checked(path: str, origin: str = "set tls keylog") -> str:
    """Create (0600) or open FILE for appending without following a symlink; its absolute path.
    Raises KeylogError with a sentence."""
    full = os.path.abspath(os.path.expanduser(path))
    try:
        # O_NONBLOCK: a FIFO nobody reads fails here (ENXIO) instead of blocking past every timeout, as
        # OpenSSL's own blocking open would; a FIFO with a reader, a terminal, a pipe are fine.
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(full):
            raise KeylogError(f"{origin} {path}: it is a symbolic link; a key log is never written through one "
                              "(someone else could point it at a file of theirs): name the file itself") from None
        if exc.errno == errno.ENXIO:
            raise KeylogError(f"{origin} {path}: a FIFO nobody reads (writing the key log would block)") from None
        raise KeylogError(f"{origin} {path}: cannot open it to append: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
        raise KeylogError(f"{origin} {path}: not a file, FIFO or terminal")
    return full


def wider_than_private(path: str) -> bool:
    """Can others read this key log file (it was there before, with a wider mode)?"""
    try:
        info = os.stat(path)
        return stat.S_ISREG(info.st_mode) and bool(info.st_mode & 0o077)
    except OSError:
        return False


def path_for(settings) -> str | None:
    """The key log of the next handshake, checked: `set tls keylog`, else SSLKEYLOGFILE. KeylogError."""
    chosen = getattr(settings, "keylog", None)
    if chosen == "":  # `set tls keylog none`: not even SSLKEYLOGFILE
        return None
    if chosen:
        return checked(chosen)
    env = from_environment()
    return checked(env, ENV) if env else None


def apply(context, path: str | None) -> None:
    """Log this context's handshakes to PATH (None: to nothing, SSLKEYLOGFILE's default undone)."""
    if hasattr(context, "keylog_filename"):  # (an OpenSSL without the callback: nothing to log)
        context.keylog_filename = path
