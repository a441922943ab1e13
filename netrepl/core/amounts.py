"""`recv exactly N` and `recv quiet SECONDS`: reading by amount and by silence.

Both read through the session's one cursor (core/buffer.py: bytes an earlier
command read past what it consumed come first), write what they read the way
`recv all` does (into a file sink, to a front end as it arrives, or kept for
the Result, at most MAX_KEPT), and say distinctly how they ended:
`exactly` has ONE deadline for the whole read (the session timeout) and ends
with the count, at end of stream (a failure, kind `eof`: fewer bytes than
asked) or at the deadline; `quiet` ends when no byte came for SECONDS, or at
end of stream, whichever comes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from netrepl.core.errors import failure
from netrepl.core.results import Elapsed, Result
from netrepl.core.sink import SinkError, Splicer
from netrepl.core.sockstate import plural

READ = 1 << 20  # recv_into buffer: big reads keep up with loopback
MAX_KEPT = 64 << 20  # bytes kept in memory for the Result when nothing streams them (the recv maximum)


class Amounts:
    """Mixed into Session: needs transport, buffer, timeout, received and the Receiving helpers."""

    def recv_exactly(self, count: int, sink=None, path: str | None = None,
                     on_data: Callable[[bytes], object] | None = None) -> Result:
        return self._read_by("recv exactly", count, None, sink, path, on_data)

    def recv_quiet(self, seconds: float, sink=None, path: str | None = None,
                   on_data: Callable[[bytes], object] | None = None) -> Result:
        return self._read_by("recv quiet", None, seconds, sink, path, on_data)

    def _read_by(self, op: str, count: int | None, quiet: float | None, sink, path, on_data) -> Result:
        if self.transport is None:
            return self._no_socket(op)
        if not self.stream:
            return self._fail(failure("state", op, f"`{op}` reads a byte stream; on UDP each recv is one "
                                                   "datagram: use `recv N` or `recvfrom N`"))
        buf = self.buffer
        offset = buf.offset
        kept = bytearray()
        write: Callable = sink.write if sink is not None else on_data if on_data is not None else kept.extend
        copy = on_data is not None  # a front end may hold on to what it is given: no views of the buffer
        started = time.perf_counter()
        deadline = None if quiet is not None or self.timeout is None else time.monotonic() + self.timeout
        total = 0
        ended = "count"
        splicer = Splicer.of(self, sink)  # into a file or pipe on Linux: socket -> pipe -> file, as recv all
        timing = self.transport.timing
        try:
            if len(buf):  # what an earlier command read past its end comes first
                early = buf.take(count)
                total = len(early)
                write(early)
            buffer = bytearray(READ if count is None else max(1, min(READ, count)))
            view = memoryview(buffer)
            while count is None or total < count:
                wait = self.timeout
                if quiet is not None:
                    wait = quiet
                elif deadline is not None:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        raise TimeoutError("timed out")
                want = len(buffer) if count is None else min(len(buffer), count - total)
                spliced = splicer is not None and (timing is None or timing.waiting is None)
                try:
                    if spliced:  # (a first byte to time after a send is read as ever)
                        n = splicer.read(wait, want)
                    else:
                        self.transport.settimeout(wait)
                        n = self.transport.recv_into(buffer, want)
                except TimeoutError:
                    if quiet is None:
                        raise
                    ended = "quiet"
                    break
                if not n:
                    ended = "eof"
                    break
                total += n
                self.received += n
                if not spliced:
                    write(bytes(view[:n]) if copy else view[:n])
                if write is kept.extend and len(kept) >= MAX_KEPT and count is None:
                    ended = "limit"
                    break
        except SinkError as exc:
            if splicer is not None:  # a chunk taken off the socket that the file did not take whole
                total += splicer.held
                self.received += splicer.held
            buf.offset = offset + total
            result = Result(data=bytes(kept) or None, data_offset=offset)
            result.say(f"received {plural(total)}; {plural(exc.written)} of them are in {path}")
            return self._fail(exc.info, result)
        except (OSError, KeyboardInterrupt) as exc:
            buf.offset = offset + total
            result = Result(data=bytes(kept) or None, data_offset=offset)
            where = f" (written to {path})" if path else ""
            of = f" of {count}" if count is not None else ""
            result.say(f"received {total}{of} bytes before the error{where}")
            result = self._recv_error(exc, op, result)
            if result.error.kind == "timeout" and count is not None:
                result.lines[-1] = (f"the {self.timeout:g} s timeout is for the whole read; "
                                    "the connection is still open",)
            return result
        finally:
            if splicer is not None:
                splicer.close()
            if self.transport is not None:
                self.transport.settimeout(self.timeout)
        buf.offset = offset + total
        return self._ended(op, ended, total, count, quiet, kept, offset, path, time.perf_counter() - started)

    def _ended(self, op, ended, total, count, quiet, kept, offset, path, elapsed) -> Result:
        result = Result(data=bytes(kept) or None, data_offset=offset)
        where = f" into {path}" if path else ""
        if ended == "count":
            result.say(f"received exactly {plural(total)}{where} in ", Elapsed(elapsed))
        elif ended == "quiet":
            result.say(f"received {plural(total)}{where}, then the peer was quiet for {quiet:g} s (in all ",
                       Elapsed(elapsed), ")")
        elif ended == "limit":
            result.say(f"received {plural(total)}; the peer was never quiet for {quiet:g} s")
            return self._fail(failure("expect", op, f"stopped at {MAX_KEPT >> 20} MiB kept in memory; "
                                                    "`recv quiet SECONDS > PATH` streams any amount"), result)
        else:
            words = self._no_more_data()  # sets peer_eof (unless our own read side is shut)
            if count is not None:
                result.say(f"{words}")
                return self._fail(failure("eof", op, f"end of stream after {total} of {plural(count)}{where}"),
                                  result)
            until = "until end of stream"
            if words.startswith("our read side"):
                until = "until recv returned no data (our read side is shut: shutdown 0)"
            elif (how := getattr(self.transport.sock, "eof_words", None)) is not None:
                until += f", {how()}"  # TLS: with close_notify, or truncated (as recv all says)
            result.say(f"received {plural(total)}{where} {until}, before any {quiet:g} s pause "
                       "(in ", Elapsed(elapsed), ")")
        result.state = self.state()
        return result
