"""The exported program's file: written within a deadline, whatever the path is.

`netrepl export -o PATH` and the `export PATH` command may be given a FIFO or a
terminal. The open waits for a FIFO's reader at most the deadline (core/pathopen.py,
as `record` and `--cast` do); the writes too end there, so a reader that opened the
FIFO and then takes nothing cannot hold netrepl either. Errors are OSError with a
strerror that says which wait ran out.
"""

from __future__ import annotations

import errno
import os
import select
import time

from netrepl.core import pathopen


def write_program(path: str, text: str, timeout: float | None = -1.0) -> None:
    """Write the program's text to path (created 0666 less the umask, truncated), all of it by
    `timeout` seconds from now (-1: pathopen.WAIT, netrepl's default timeout; None: no deadline)."""
    if timeout is not None and timeout < 0:
        timeout = pathopen.WAIT
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = pathopen.open_within(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, timeout)
    try:
        os.set_blocking(fd, False)  # (a full FIFO or terminal: wait below, up to the deadline)
        view = memoryview(text.encode("utf-8"))
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not select.select([], [fd], [], remaining)[1]:
                    raise OSError(errno.ETIMEDOUT, f"its reader took the program only in part within "
                                                   f"{timeout:g} s") from None
    finally:
        os.close(fd)
