"""Opening a path that may be a FIFO without waiting past a deadline.

open() of a FIFO blocks until the other end opens it: `record FIFO`,
`--cast FIFO`, `export -o FIFO` waited for a reader, and `serve replay FIFO` for
a writer, for ever and deaf to `timeout`. Here the open is non-blocking: for
writing, ENXIO (no reader yet) is retried until the deadline; for reading, a
FIFO with no writer yet is waited for with select() (Linux reports it readable
only once a writer came). The descriptor is then made blocking again, for the
plain file object the caller writes or reads. Ctrl-C interrupts the wait.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

POLL = 0.02  # seconds between tries to open a FIFO that has no reader yet
# The deadline where no session timeout applies (--cast, export -o, serve replay): the default
# timeout. `record` passes the session's own `timeout` (None with `timeout off`: Ctrl-C only).
WAIT = 10.0


def open_within(path: str, flags: int, timeout: float | None = -1.0, mode: int = 0o666) -> int:
    """os.open(path, flags, mode), a FIFO's other end waited for at most `timeout` s (-1: WAIT; None: no
    limit, Ctrl-C only). Raises OSError."""
    if timeout is not None and timeout < 0:
        timeout = WAIT
    deadline = None if timeout is None else time.monotonic() + timeout
    writing = flags & (os.O_WRONLY | os.O_RDWR)
    while True:
        try:
            fd = os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or not writing:  # ENXIO: a FIFO with no reader (O_WRONLY|O_NONBLOCK)
                raise
            if deadline is not None and time.monotonic() >= deadline:
                raise OSError(errno.ETIMEDOUT, f"no reader opened the FIFO within {timeout:g} s") from None
            time.sleep(POLL)
    try:
        if not writing and stat.S_ISFIFO(os.fstat(fd).st_mode):
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise OSError(errno.ETIMEDOUT, f"no writer opened the FIFO within {timeout:g} s")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
