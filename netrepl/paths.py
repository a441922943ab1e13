"""Where netrepl keeps files: history in the XDG state directory."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def history_path() -> Path:
    """$NETREPL_HISTFILE, else $XDG_STATE_HOME/netrepl/history (~/.local/state/netrepl/history)."""
    override = os.environ.get("NETREPL_HISTFILE")
    if override:
        return Path(override).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "netrepl" / "history"


def ensure_private_file(path: Path) -> Path:
    """Create the file (and its directory) readable by the owner only: history holds what was typed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Never through a symlink (it would chmod its target), never blocking on a FIFO.
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags, 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_mode & 0o077:  # an older file readable by others: tighten it
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def interact_history_path() -> Path:
    """Lines typed inside `interact` (sent to a peer), kept apart from the commands: next to the
    command history, with `.interact` added to its name (~/.local/state/netrepl/history.interact)."""
    path = history_path()
    try:
        if path.exists() and not path.is_file():  # NETREPL_HISTFILE=/dev/null: no history kept, here neither
            return path
    except OSError:
        pass
    return path.with_name(path.name + ".interact")
