"""`send < PATH` and `sendto HOST PORT < PATH`: a file's bytes sent raw, in constant memory.

The file is opened non-blocking, so a FIFO with no writer cannot hang the
session: every wait for the file (and for the socket to take more) ends at
the session timeout, and Ctrl-C stops either. A stream sends the file chunk by
chunk through the transport (so a layer such as TLS carries it too); whatever
happens, the result says how many bytes went out. A datagram carries the whole file, so the file may hold at most one
datagram's worth. Failures of the file are kind `file`; the socket's keep
their usual kinds.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import stat
import time

from netrepl.core.errors import failure
from netrepl.core.results import Elapsed, Result
from netrepl.core.sink import ZEROCOPY
from netrepl.core.sockstate import plural
from netrepl.core.transport import Transport

# Bytes read and sent at a time. Measured on the 2-core gVisor VM (docs/bench.md): a 128 KiB
# read+send loop kept up with nc and beat os.sendfile (which is not zero-copy there) and 1 MiB.
# A regular file to a plain socket now goes by sendfile (issue 20): on a Linux kernel it is.
CHUNK = 128 << 10
SENDFILE_CHUNK = 1 << 30  # as much as the socket takes: sendfile returns what it sent
DATAGRAM_LIMIT = 65507  # the largest UDP payload over IPv4 (65,535 less the IP and UDP headers)


class FileError(Exception):
    """Reading the file failed (errno, words for it)."""

    def __init__(self, code: int | None, message: str):
        super().__init__(message)
        self.errno, self.message = code, message


class FileSource:
    """A file opened for `send <`: read within the session timeout."""

    def __init__(self, path: str, timeout: float | None):
        self.path, self.timeout = path, timeout
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise FileError(exc.errno, f"{path}: {exc.strerror}") from None
        mode = os.fstat(self.fd).st_mode
        if stat.S_ISDIR(mode):
            self.close()
            raise FileError(errno.EISDIR, f"{path}: is a directory, not a file to send")
        # A regular file's reads never wait; a FIFO's or a device's may (and /proc's say size 0).
        self.regular = stat.S_ISREG(mode) and os.fstat(self.fd).st_size > 0

    def readinto(self, buffer) -> int:
        """Some bytes into `buffer`; 0 at the end of the file. Waits at most the timeout for them."""
        while True:
            if not self.regular:  # a FIFO, a device: a read returns 0 when no writer ever came, so wait first
                ready, _, _ = select.select([self.fd], [], [], self.timeout)
                if not ready:
                    raise FileError(errno.ETIMEDOUT, f"{self.path}: no data to read within {self.timeout:g} s "
                                                     "(a FIFO with no writer?)")
            try:
                return os.readv(self.fd, [buffer])
            except BlockingIOError:
                continue
            except OSError as exc:
                raise FileError(exc.errno, f"{self.path}: {exc.strerror}") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _sendfile(session, source: FileSource) -> int | None:
    """A regular file to a plain TCP (or Unix stream) socket with os.sendfile: the kernel
    copies page cache to socket, the bytes never enter Python. Returns the count, or None
    before the first byte when sendfile cannot be used here (then _stream does it). Adds
    what went out to `session.sent` as it goes, as _stream does. Each wait for the socket
    to take more is bounded by the session timeout, as a send's is."""
    sock = session.transport.sock
    if not source.regular or type(sock) is not socket.socket or not hasattr(os, "sendfile") or not ZEROCOPY:
        return None  # a FIFO or device (reads may wait), or TLS (the bytes must be encrypted)
    if type(session.transport) is not Transport:  # `record -p` taps every byte sent (core/peerlog.py)
        return None
    if session.transport.timing is not None:
        session.transport.timing.sent()  # the next read's first byte is timed from here, as after a send
    fd = sock.fileno()
    timeout = session.timeout
    total = 0
    poll = None
    while True:
        try:
            n = os.sendfile(fd, source.fd, total, SENDFILE_CHUNK)
        except BlockingIOError:  # the socket's buffer is full (it is non-blocking under a timeout)
            if poll is None:
                poll = select.poll()
                poll.register(fd, select.POLLOUT)
            if not poll.poll(-1 if timeout is None else math.ceil(timeout * 1000)):
                raise TimeoutError("timed out") from None
            continue
        except OSError as exc:
            if total == 0 and exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                return None  # this file system or socket takes no sendfile
            if exc.errno == errno.EIO:
                raise FileError(exc.errno, f"{source.path}: {exc.strerror}") from None
            raise
        if not n:
            return total
        total += n
        session.sent += n


def _stream(session, source: FileSource) -> int:
    """Send the whole file; returns the count. Adds what went out to `session.sent` as it goes,
    so a failure part-way leaves the count right (the exception carries on)."""
    sent = _sendfile(session, source)
    if sent is not None:
        return sent
    transport = session.transport
    total = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while True:
        n = source.readinto(buffer)
        if not n:
            return total
        done = 0
        while done < n:
            sent = transport.send(view[done:n])
            done += sent
            total += sent
            session.sent += sent


def send_file(session, path: str) -> Result:
    """`send < PATH` on the session socket (a stream; a datagram socket sends one datagram)."""
    s = session
    if s.transport is None:
        return s._no_socket("send")
    if not s.stream:
        data, bad = read_datagram(s, path, "send <")
        if bad is not None:
            return bad
        result = s.send(data)
        if result.ok:
            result.lines[-1] = (f"sent {plural(len(data))} from {path} as one datagram",)
        return result
    try:
        source = FileSource(path, s.timeout)
    except FileError as exc:
        return s._fail(failure("file", "send <", exc.message, exc.errno), Result().say("sent 0 bytes"))
    before = s.sent
    started = time.perf_counter()
    try:
        total = _stream(s, source)
    except FileError as exc:
        result = Result().say(f"sent {plural(s.sent - before)} of {path} before the file error")
        return s._fail(failure("file", "send <", exc.message, exc.errno), result)
    except (OSError, KeyboardInterrupt) as exc:
        result = Result().say(f"sent {plural(s.sent - before)} of {path} before the error")
        result = s._os_error(exc, "send", result)
        if result.error.kind == "timeout":
            result.say(f"the peer took no more data within {s.timeout:g} s; the connection is still open")
        return result
    finally:
        source.close()
    return s._result().say(f"sent {plural(total)} from {path} in ", Elapsed(time.perf_counter() - started))


def read_datagram(session, path: str, op: str) -> tuple[bytes, Result | None]:
    """The whole file as one datagram's payload, or (b"", the failure): at most DATAGRAM_LIMIT bytes."""
    s = session
    try:
        source = FileSource(path, s.timeout)
    except FileError as exc:
        return b"", s._fail(failure("file", op, exc.message, exc.errno))
    buffer = bytearray(DATAGRAM_LIMIT + 1)
    view = memoryview(buffer)
    got = 0
    try:
        while got <= DATAGRAM_LIMIT and (n := source.readinto(view[got:])):
            got += n
    except FileError as exc:
        return b"", s._fail(failure("file", op, exc.message, exc.errno))
    except KeyboardInterrupt:
        return b"", s._fail(failure("interrupted", op, f"stopped reading {path}"))
    finally:
        source.close()
    if got > DATAGRAM_LIMIT:
        return b"", s._fail(failure("file", op, f"{path} holds more than {DATAGRAM_LIMIT:,} bytes: one UDP "
                                               f"datagram carries at most {DATAGRAM_LIMIT:,} (`send < PATH` "
                                               "on a TCP socket streams any size)", errno.EMSGSIZE))
    return bytes(view[:got]), None
