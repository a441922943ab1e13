"""`recv all > PATH`: the file the stream goes to, opened and written within deadlines.

A regular file, /dev/null, a FIFO or a terminal: opened non-blocking so a
FIFO with no reader cannot hang the session (it waits for a reader at most
the session timeout), written in a loop so short writes are finished and a
failure (disk full) says how many bytes are truly in the file. Errors here
are kind `file`, never a connection error.

On Linux the bytes of a plain (not TLS) stream socket need not pass through
Python at all: Splicer moves them socket -> pipe -> file with os.splice, the
kernel handing pages along (about a sixth faster than recv_into + write for
bulk receive, issue 20). A sink that can take them that way has `drain`.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import sys
import time

from netrepl.core.errors import classify, failure
from netrepl.core.results import ErrorInfo, Result
from netrepl.core.transport import Transport

READER_POLL = 0.02  # seconds between tries to open a FIFO that has no reader yet


class SinkError(Exception):
    """Writing the file failed; `written` bytes are in it."""

    def __init__(self, info: ErrorInfo, written: int):
        super().__init__(info.message)
        self.info = info
        self.written = written


# Linux only. NETREPL_NO_ZEROCOPY=1 keeps the recv_into path here and the read + send one for
# `send < FILE` (core/payload.py): to compare them (scripts/bench.py), or to rule splice out.
ZEROCOPY = not os.environ.get("NETREPL_NO_ZEROCOPY")
SPLICE = sys.platform.startswith("linux") and hasattr(os, "splice") and ZEROCOPY
# The pipe between socket and file: 64 KiB (set explicitly: the default can differ). Measured by
# scripts/bench.py on a quiet 2-core VM, 2 GiB to /dev/null: a 1 MiB pipe took 1.10-1.18 of nc's
# time, 64 KiB 0.75-0.81 (the pages a splice moves stay in cache; recv_into: 1.2-1.5).
PIPE_SIZE = 1 << 16


class FileSink:
    def __init__(self, path: str, timeout: float | None, op: str = "recv all >"):
        self.path = path
        self.timeout = timeout
        self.op = op
        self.written = 0
        self.spliceable = True  # until the file refuses a splice (EINVAL: then os.read + write)
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
                    raise self._stalled() from None
                continue
            except OSError as exc:
                raise self._failed(exc) from None
            if n == 0:
                raise SinkError(failure("file", self.op, f"{self.path}: write() wrote nothing"), self.written)
            self.written += n
            view = view[n:]

    def drain(self, pipe: int, n: int) -> None:
        """Move the `n` bytes waiting in `pipe` (Splicer's) into the file, all of them or SinkError."""
        while n:
            if not self.spliceable:
                data = os.read(pipe, n)
                self.write(data)
                n -= len(data)
                continue
            try:
                moved = os.splice(pipe, self.fd, n, flags=os.SPLICE_F_MOVE)
            except BlockingIOError:  # a full FIFO, as in write()
                _, ready, _ = select.select([], [self.fd], [], self.timeout)
                if not ready:
                    raise self._stalled() from None
                continue
            except OSError as exc:
                if exc.errno == errno.EINVAL:  # this kind of file takes no splice (a terminal): plain writes
                    self.spliceable = False
                    continue
                raise self._failed(exc) from None
            if moved == 0:
                raise SinkError(failure("file", self.op, f"{self.path}: splice() wrote nothing"), self.written)
            self.written += moved
            n -= moved

    def _stalled(self) -> SinkError:
        return SinkError(failure("file", self.op, f"{self.path}: its reader took no data within {self.timeout:g} s",
                                 errno.ETIMEDOUT), self.written)

    def _failed(self, exc: OSError) -> SinkError:
        return SinkError(failure("file", self.op, f"{self.path}: {exc.strerror}", exc.errno), self.written)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Splicer:
    """Reads a plain stream socket straight into a sink with `drain`: socket -> pipe
    (os.splice), then the sink moves the pipe's bytes on. Same contract as recv_into:
    returns how many bytes moved (0: end of stream), raises TimeoutError when none came
    within `timeout`, OSError as the socket gives it (a reset), SinkError/OutputLost as
    the sink does. Nothing is left in the pipe between calls."""

    def __init__(self, sock, sink):
        import fcntl  # only a splice needs it

        self.sock_fd = sock.fileno()
        self.sink = sink
        self.r, self.w = os.pipe2(os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # a lower pipe-max-size: the default (64 KiB) still works
            pass
        self.size = fcntl.fcntl(self.w, fcntl.F_GETPIPE_SZ)
        self.held = 0
        self.poll = select.poll()
        self.poll.register(self.sock_fd, select.POLLIN)

    @classmethod
    def of(cls, session, sink) -> Splicer | None:
        """A Splicer for `recv all` / `recv exactly|quiet` into `sink`, or None where the bytes
        must come through recv_into: no splice here, a TLS layer, a datagram socket, or a sink
        that cannot take them (a terminal gets them escaped)."""
        sock = session.transport.sock if session.transport is not None else None
        if not SPLICE or sink is None or not getattr(sink, "spliceable", False) or not session.stream:
            return None
        if type(sock) is not socket.socket:  # TLS (an SSLSocket, core/tlssock.py): the bytes need decrypting
            return None
        if type(session.transport) is not Transport:  # `record -p` taps every byte read (core/peerlog.py)
            return None
        try:
            return cls(sock, sink)
        except OSError:  # no descriptor left for the pipe: recv_into needs none
            return None

    def read(self, timeout: float | None, want: int = 0) -> int:
        want = min(want, self.size) if want else self.size
        while True:
            try:
                n = os.splice(self.sock_fd, self.w, want, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
                break
            except BlockingIOError:  # nothing queued: wait as recv_into would (Ctrl-C stops the wait)
                wait = -1 if timeout is None else math.ceil(max(0.0, timeout) * 1000)
                if not self.poll.poll(wait):
                    raise TimeoutError("timed out") from None
        if n:
            self.held = n  # off the socket, not yet in the sink: counted as received if the sink fails
            self.sink.drain(self.r, n)
            self.held = 0
        return n

    def close(self) -> None:
        for fd in (self.r, self.w):
            os.close(fd)


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
