"""`recv all > PATH`: the file the stream goes to, opened and written within deadlines.

A regular file, /dev/null, a FIFO or a terminal: opened non-blocking so a
FIFO with no reader cannot hang the session (it waits for a reader at most
the session timeout), written in a loop so short writes are finished and a
failure (disk full) says how many bytes are truly in the file. Errors here
are kind `file`, never a connection error.
"""

from __future__ import annotations

import errno
import os
import select
import time

from netrepl.core.errors import classify, failure
from netrepl.core.results import ErrorInfo, Result

READER_POLL = 0.02  # seconds between tries to open a FIFO that has no reader yet


class SinkError(Exception):
    """Writing the file failed; `written` bytes are in it."""

    def __init__(self, info: ErrorInfo, written: int):
        super().__init__(info.message)
        self.info = info
        self.written = written


class FileSink:
    def __init__(self, path: str, timeout: float | None):
        self.path = path
        self.timeout = timeout
        self.written = 0
        self.fd = self._open()

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                return os.open(self.path, flags, 0o666)
            except OSError as exc:
                # ENXIO: a FIFO with no reader. Wait for one, up to the timeout (Ctrl-C stops it).
                if exc.errno != errno.ENXIO:
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    raise OSError(errno.ENXIO, f"no reader opened the FIFO within {self.timeout:g} s") from None
                time.sleep(READER_POLL)

    def write(self, data) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:  # a FIFO (or tty) that is full: wait until it drains, up to the timeout
                _, ready, _ = select.select([], [self.fd], [], self.timeout)
                if not ready:
                    raise SinkError(failure("file", "recv all >", f"{self.path}: its reader took no data "
                                            f"within {self.timeout:g} s", errno.ETIMEDOUT), self.written) from None
                continue
            except OSError as exc:
                raise SinkError(failure("file", "recv all >", f"{self.path}: {exc.strerror}", exc.errno),
                                self.written) from None
            if n == 0:
                raise SinkError(failure("file", "recv all >", f"{self.path}: write() wrote nothing"), self.written)
            self.written += n
            view = view[n:]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def recv_all_to(session, path: str) -> Result:
    """`recv all > PATH`: open PATH (no socket: say so before a file is touched), stream into it."""
    if session.transport is None:
        return session.recv_all()
    try:
        sink = FileSink(path, session.timeout)
    except OSError as exc:
        return session._fail(failure("file", "recv all >", f"{path}: {exc.strerror}", exc.errno))
    except KeyboardInterrupt as exc:
        return session._fail(classify(exc, "recv all >"), Result().say(f"stopped waiting for a reader of {path}"))
    try:
        return session.recv_all(sink, path)
    finally:
        sink.close()
