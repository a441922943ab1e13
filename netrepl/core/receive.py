"""The receive commands: recv, recvfrom, recv line, recv all.

All of them read through the session's one cursor (core/buffer.py): bytes
an earlier command read but did not consume come first, then the transport.
Each wait is bounded: `recv line` has one overall deadline, `recv all` waits
at most the timeout for each chunk (and for its file), Ctrl-C stops any.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from netrepl.core.results import Elapsed, Endpoint, Result
from netrepl.core.sink import SinkError, Splicer
from netrepl.core.sockstate import plural

RECV_ALL_CHUNK = 1 << 20  # recv_into buffer for `recv all`: big reads keep up with loopback
LINE_LIMIT = 1 << 16  # `recv line` gives up on a line longer than this
LINE_READ = 1 << 16
DATAGRAM_MAX = 65535  # `recv line` on UDP reads one whole datagram
PROGRESS_EVERY = 0.1  # seconds between progress reports: at most ~10 a second
_TRUNC = getattr(socket, "MSG_TRUNC", 0)  # Linux: recv returns a datagram's real length


def _sender(address):
    """A datagram's sender as a Part: an inet Endpoint, or a Unix name (unix dgram sockets)."""
    if isinstance(address, tuple):
        return Endpoint.of(address)
    from netrepl.core.unix import name_of  # (only Unix datagram sockets get here)

    return name_of(address)


class Receiving:
    """Mixed into Session: needs transport, buffer, timeout, received and the SocketState helpers."""

    def _no_more_data(self) -> str:
        """recv gave no data on a stream: the peer's end of stream, unless our own read
        side is shut (then recv returns nothing whatever the peer does). Words for it."""
        if self.rd_shut:
            return "our read side is shut (shutdown 0): recv returns no data whatever the peer does"
        self.peer_eof = True
        how = getattr(self.transport.sock, "eof_words", None)  # TLS: with close_notify, or truncated
        return "end of stream: the peer closed its side" + (f" {how()}" if how else "")

    def _recv_error(self, exc: BaseException, op: str, result: Result | None = None, what: str = "data") -> Result:
        result = self._os_error(exc, op, result)
        if result.error.kind == "timeout":
            still = "the connection" if self.connected and self.proto == "tcp" else "the socket"
            result.say(f"no {what} within {self.timeout:g} s; {still} is still open")
        return result

    def _kept(self, size: int | None, op: str) -> Result:
        """Bytes an earlier command read past what it consumed: they come first."""
        offset = self.buffer.offset
        data = self.buffer.take(size)
        return Result(data=data, data_offset=offset, state=self.state()).say(
            f"received {plural(len(data))} (read earlier by expect or recv line, not shown until now)")

    def _datagram(self, size: int, op: str):
        """One datagram into `size` bytes: (data, real length, sender). Its Result's data_offset
        is 0: a datagram is a message of its own, so its hex view is numbered from its first
        byte (the second DNS reply starts at 00000000, not where the first one ended)."""
        buffer = bytearray(size)
        n, address = self.transport.recvfrom_into(buffer, size, _TRUNC)
        self.received += min(n, size)
        self.buffer.offset += min(n, size)
        return bytes(buffer[:min(n, size)]), n, address

    def _say_datagram(self, result: Result, data: bytes, real: int, source=None) -> Result:
        if not real:
            return result.say("received an empty datagram", *((" from ", source) if source else ()))
        result.say(f"received {plural(len(data))}", *((" from ", source) if source else ()))
        if real > len(data):
            result.say(f"datagram of {real} bytes truncated to {len(data)}: the other {real - len(data)} "
                       f"bytes are lost (`recv {real}` reads such a datagram whole)")
        return result

    def recv(self, size: int) -> Result:
        if self.transport is None:
            return self._no_socket("recv")
        if len(self.buffer):
            return self._kept(size, "recv")
        offset = self.buffer.offset
        if not self.stream:
            try:
                data, real, _ = self._datagram(size, "recv")
            except (OSError, KeyboardInterrupt) as exc:
                return self._recv_error(exc, "recv")
            result = Result(data=data or None, data_offset=0, state=self.state())
            return self._say_datagram(result, data, real)
        try:
            data = self.transport.recv(size)
        except (OSError, KeyboardInterrupt) as exc:
            return self._recv_error(exc, "recv")
        if not data:
            if self.lost:  # after a reset recv returns b"" too
                return self._result().say(f"no data: the connection was lost earlier ({self.lost}); "
                                          "recv returned no data")
            words = self._no_more_data()  # first: it sets peer_eof, which the state reports
            return self._result().say(f"{words} (recv returned no data)")
        self.received += len(data)
        self.buffer.offset += len(data)
        return Result(data=data, data_offset=offset, state=self.state()).say(f"received {plural(len(data))}")

    def recvfrom(self, size: int) -> Result:
        if self.transport is None:
            return self._no_socket("recvfrom")
        if self.stream or len(self.buffer):  # a stream names no sender: recvfrom is recv (and sees EOF)
            return self.recv(size)
        try:
            data, real, address = self._datagram(size, "recvfrom")
        except (OSError, KeyboardInterrupt) as exc:
            return self._recv_error(exc, "recvfrom")
        self.last_sender = "" if address is None else address  # what `reply` answers (core/listener.py);
        # "" : an unbound Unix datagram socket sent it (Python gives None): it cannot be answered
        result = Result(data=data or None, data_offset=0, state=self.state())
        return self._say_datagram(result, data, real, _sender(address))

    def recv_line(self) -> Result:
        """One line (through its newline), under one overall deadline; on UDP one datagram."""
        if self.transport is None:
            return self._no_socket("recv line")
        if not self.stream and not len(self.buffer):
            try:
                data, real, _ = self._datagram(DATAGRAM_MAX, "recv line")
            except (OSError, KeyboardInterrupt) as exc:
                return self._recv_error(exc, "recv line")
            result = Result(data=data or None, data_offset=0, state=self.state())
            return self._say_datagram(result, data, real).say("(on UDP `recv line` reads one datagram)")
        buf = self.buffer
        offset = buf.offset
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        ended = None
        try:
            while (end := buf.line_end(LINE_LIMIT)) is None:
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("timed out")
                    self.transport.settimeout(remaining)
                chunk = self.transport.recv(LINE_READ)
                if not chunk:
                    ended = self._no_more_data() if self.stream else "end of stream"
                    end = len(buf)
                    break
                self.received += len(chunk)
                buf.add(chunk)
        except (OSError, KeyboardInterrupt) as exc:
            line = buf.take(LINE_LIMIT)
            result = Result(data=line or None, data_offset=offset)
            if line:
                result.say(f"received {plural(len(line))} of an unfinished line before the error")
            return self._recv_error(exc, "recv line", result, "complete line" if line else "data")
        finally:
            if self.transport is not None:
                self.transport.settimeout(self.timeout)
        line = buf.take(end)
        result = Result(data=line or None, data_offset=offset, state=self.state())
        if line.endswith(b"\n"):
            result.say(f"received a line of {plural(len(line))}")
        elif len(line) >= LINE_LIMIT:
            result.say(f"received {plural(len(line))} with no newline yet (line limit)")
        elif line:
            result.say(f"received {plural(len(line))} with no newline, then {ended}")
        else:
            result.say(f"{ended} (readline returned no data)")
        return result

    def recv_all(self, sink=None, path: str | None = None,
                 on_data: Callable[[bytes], object] | None = None) -> Result:
        """recv until end of stream: into `sink` (core/sink.py FileSink), handed chunk by
        chunk to `on_data` (a front end showing it as it arrives), or kept for the Result.
        The first two run in constant memory. `self.progress(total, seconds)`, when set,
        hears how far it got at most every PROGRESS_EVERY seconds."""
        if self.transport is None:
            return self._no_socket("recv all")
        offset = self.buffer.offset
        kept = bytearray()
        write: Callable = sink.write if sink is not None else on_data if on_data is not None else kept.extend
        progress = self.progress
        started = time.perf_counter()
        total = 0
        splicer = Splicer.of(self, sink)  # Linux, plain TCP/Unix stream, a file or pipe: the kernel moves it
        try:
            if len(self.buffer):  # what an earlier command read past its end comes first
                early = self.buffer.take()
                total = len(early)
                write(early if on_data is None else bytes(early))
            buffer = bytearray(RECV_ALL_CHUNK if splicer is None else LINE_READ)
            view = memoryview(buffer)
            recv_into = self.transport.recv_into
            report = started + PROGRESS_EVERY
            timing = self.transport.timing
            while True:
                if splicer is not None and (timing is None or timing.waiting is None):
                    n = splicer.read(self.timeout)  # moved into the sink already
                else:  # (a first byte to time after a send: read it as ever, then splice)
                    n = recv_into(buffer)
                    if n:
                        write(view[:n] if on_data is None else bytes(view[:n]))
                if not n:
                    break
                total += n
                self.received += n
                if progress is not None and (now := time.perf_counter()) >= report:
                    report = now + PROGRESS_EVERY
                    progress(total, now - started)
        except SinkError as exc:
            if splicer is not None:  # a chunk taken off the socket that the file did not take whole
                total += splicer.held
                self.received += splicer.held
            self.buffer.offset = offset + total
            result = Result(data=bytes(kept) or None, data_offset=offset)
            result.say(f"received {plural(total)}; {plural(exc.written)} of them are in {path}")
            return self._fail(exc.info, result)
        except (OSError, KeyboardInterrupt) as exc:
            self.buffer.offset = offset + total
            result = Result(data=bytes(kept) or None, data_offset=offset)
            where = f" (written to {path})" if path else ""
            result.say(f"received {plural(total)} before the error{where}")
            return self._recv_error(exc, "recv all", result)
        finally:
            if splicer is not None:
                splicer.close()
        elapsed = time.perf_counter() - started
        if self.transport.timing is not None:  # a long read's duration and rate, for `timing`
            self.transport.timing.transfer(total, elapsed, started)
        self.buffer.offset = offset + total
        until = "until end of stream"
        ended = self._no_more_data() if self.stream else ""
        if ended.startswith("our read side"):
            until = "until recv returned no data (our read side is shut: shutdown 0)"
        elif (how := getattr(self.transport.sock, "eof_words", None)) is not None:
            until += f", {how()}"  # TLS: with close_notify, or truncated
        result = Result(data=bytes(kept) or None, data_offset=offset)
        where = f" into {path}" if path else ""
        result.say(f"received {plural(total)} in total{where} {until}, in ", Elapsed(elapsed))
        result.state = self.state()
        return result
