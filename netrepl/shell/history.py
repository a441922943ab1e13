"""The shell's history file, opened so that no file system state can hang, crash or flood the shell.

prompt_toolkit's FileHistory follows symlinks, opens FIFOs and devices (a FIFO
blocks before the first prompt, /dev/full reads zeros for ever), loads files of
any size, and raises from every write once the disk is full. PrivateHistory
checks with lstat, opens with O_NOFOLLOW | O_NONBLOCK and checks again with
fstat, reads at most MAX_LOAD bytes (the newest entries), and on any failure
keeps the history in memory and says why, once. It never raises.

A symlink at the history path is refused rather than followed: following it
would write everything typed (passwords in `send` lines included) to, and
chmod, whatever file the link names. Point NETREPL_HISTFILE at the target to
use it. Directories above the file may be links; only the file itself is checked.
"""

from __future__ import annotations

import datetime
import errno as errno_mod
import os
import stat
from pathlib import Path
from typing import Iterable

from prompt_toolkit.history import History

from netrepl.render.text import safe

MAX_LOAD = 4 << 20  # bytes read at start-up: ~75,000 entries, ~80 ms, ~27 MiB at peak, whatever the file
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_IN_MEMORY = "history is kept in memory only for this session"


def _why(exc: OSError) -> str:
    name = errno_mod.errorcode.get(exc.errno, "") if exc.errno else ""
    return f"{name} ({exc.strerror})" if name and exc.strerror else str(exc)


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode cannot hold history, or None for a regular file."""
    for test, what in ((stat.S_ISLNK, "a symbolic link (not followed)"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


class PrivateHistory(History):
    """History in a private (0600) regular file, or in memory when that cannot be.

    `notes()` hands over what went wrong (each said once, already terminal-safe);
    the shell shows them between commands, never while the prompt is drawn.
    """

    def __init__(self, path: Path | str, max_load: int = MAX_LOAD) -> None:
        super().__init__()
        self.path = Path(path)
        self.max_load = max_load
        self.fd: int | None = None
        self._notes: list[str] = []
        self._strings: list[str] = []  # oldest first, as loaded from the file
        self._open()

    # ----- what the shell asks -------------------------------------------------

    @property
    def persistent(self) -> bool:
        return self.fd is not None

    def notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    def _note(self, what: str) -> None:
        self._notes.append(safe(f"history: {what}"))

    # ----- opening and loading ------------------------------------------------------

    def _open(self) -> None:
        where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            self._note(f"cannot create the directory {self.path.parent}: {_why(exc)}; {_IN_MEMORY}")
            return
        try:
            bad = _not_regular(os.lstat(self.path).st_mode)
        except FileNotFoundError:
            bad = None
        except OSError as exc:
            self._note(f"cannot use {where}: {_why(exc)}; {_IN_MEMORY}")
            return
        if bad:
            self._note(f"{where} is {bad}; {_IN_MEMORY}")
            return
        flags = os.O_APPEND | _NOFOLLOW | _NONBLOCK | _NOCTTY | _CLOEXEC
        writable = True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | flags, 0o600)
        except OSError as exc:
            if exc.errno not in (errno_mod.EACCES, errno_mod.EROFS, errno_mod.EPERM):
                self._note(f"cannot open {where}: {_why(exc)}; {_IN_MEMORY}")
                return
            # Read-only (file or file system): what is there can still be recalled.
            self._note(f"cannot write {where}: {_why(exc)}; earlier entries are loaded, new ones kept in memory")
            writable = False
            try:
                fd = os.open(self.path, os.O_RDONLY | flags)
            except OSError as exc2:
                self._notes[-1] = safe(f"history: cannot open {where}: {_why(exc2)}; {_IN_MEMORY}")
                return
        try:
            info = os.fstat(fd)  # again on what was opened: the path may have changed since lstat
            bad = _not_regular(info.st_mode)
            if bad:
                raise _Refused(f"{where} is {bad}; {_IN_MEMORY}")
            if writable and info.st_mode & 0o077:  # an older file readable by others: tighten it
                try:
                    os.fchmod(fd, 0o600)  # the opened file itself: a link is never followed
                except OSError as exc:
                    raise _Refused(f"cannot make {where} private (mode {stat.S_IMODE(info.st_mode):o}): "
                                   f"{_why(exc)}; {_IN_MEMORY}") from None
            self._strings = self._load(fd, info.st_size)
        except _Refused as refused:
            os.close(fd)
            self._note(str(refused))
            return
        except OSError as exc:
            os.close(fd)
            self._note(f"cannot read {where}: {_why(exc)}; {_IN_MEMORY}")
            return
        if writable:
            self.fd = fd
        else:
            os.close(fd)

    def _load(self, fd: int, size: int) -> list[str]:
        start = max(0, size - self.max_load)
        chunks = []
        remaining = size - start
        offset = start
        while remaining > 0:  # pread: the O_APPEND descriptor's position does not matter
            chunk = os.pread(fd, min(remaining, 1 << 20), offset)
            if not chunk:
                break  # the file shrank meanwhile
            chunks.append(chunk)
            offset += len(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if start:
            # Only the newest part: drop the entry cut in two, up to the next entry's "#" header.
            cut = data.find(b"\n#")
            data = data[cut + 1:] if cut >= 0 else b""
            self._note(f"{self.path} holds {size >> 20} MiB; only its last {self.max_load >> 20} MiB are loaded")
        return _parse(data)

    # ----- the History interface ----------------------------------------------------------

    def load_history_strings(self) -> Iterable[str]:
        return reversed(self._strings)  # newest first

    def store_string(self, string: str) -> None:
        if self.fd is None:
            return  # in memory only: History.append_string keeps it
        text = f"\n# {datetime.datetime.now()}\n" + "".join(f"+{line}\n" for line in string.split("\n"))
        data = text.encode("utf-8", errors="replace")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            os.close(self.fd)
            self.fd = None
            self._note(f"cannot write {self.path}: {_why(exc)}; history is kept in memory from now on")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Refused(Exception):
    pass


def _parse(data: bytes) -> list[str]:
    """FileHistory's format ("# date" header, then "+"-prefixed lines): entries, oldest first."""
    strings: list[str] = []
    lines: list[str] = []
    # One decode for all: a newline never falls inside a UTF-8 sequence, so this equals
    # FileHistory's decoding line by line, at a third of the time.
    for raw in data.decode("utf-8", errors="replace").split("\n"):
        if raw.startswith("+"):
            lines.append(raw[1:])
        elif lines:
            strings.append("\n".join(lines))
            lines = []
    if lines:
        strings.append("\n".join(lines))
    return strings
