"""`expect`: wait until data no earlier command consumed matches TEXT, /REGEX/ or eof.

It reads through the session's one cursor (core/buffer.py): it searches only
bytes no earlier command showed or matched, consumes them through the end of
its match, and leaves what it read past the match for the next command. A
failure consumes nothing. While it waits it keeps at most buffer.WINDOW bytes,
whatever the peer sends, ends at its deadline (a regex search too: a real-time
alarm, as the `regex` module's timeout counts CPU time), and its failure message quotes a bounded excerpt.
"""

from __future__ import annotations

import re
import time

from netrepl.core.buffer import WINDOW
from netrepl.core.errors import failure
from netrepl.core.results import Result
from netrepl.core.sockstate import plural
from netrepl.language.texttypes import Expectation
from netrepl.base.escape import escape_text

EXPECT_READ = 1 << 18  # bytes per read while expecting: big reads mean few re-searches of the window
# The rest of the matched line: waited for this long at most, and this much looked at.
LINE_WAIT = 0.1  # a line written at once arrives at once; a prompt without a newline costs this much
LINE_REST = 1 << 16  # the line limit of `recv line`
HEAD, TAIL = 100, 200  # bytes of the start and of the end of the unmatched data quoted in a failure


def excerpt(data: bytes) -> str:
    """The start and the end of `data`, escaped, with a marked gap: bounded whatever its size."""
    def words(part: bytes) -> str:
        return escape_text(part.decode("utf-8", "surrogateescape"))

    if not data:
        return "nothing"
    if len(data) <= HEAD + TAIL:
        return f"'{words(data)}'"
    gap = len(data) - HEAD - TAIL
    return f"'{words(data[:HEAD])}' … {gap} bytes not shown … '{words(data[-TAIL:])}'"


def _alarm(signum, frame):
    raise TimeoutError("regex search past the deadline")


def _search_by(pattern, data, deadline: float):
    """A `regex` search that ends at the wall-clock deadline. The module's own timeout counts
    this process's CPU time: on a loaded machine (load 7 on 2 cores) `timeout 2` ran 15 s. A
    real-time alarm ends it there; the CPU timeout stays as the fallback off the main thread."""
    import signal  # for this search alone: ~0.5 ms that `netrepl -c` start-up does not pay

    remaining = max(deadline - time.monotonic(), 0.001)
    try:
        previous = signal.signal(signal.SIGALRM, _alarm)
    except (ValueError, AttributeError):  # not the main thread, or no SIGALRM here
        return pattern.search(data, timeout=remaining)
    signal.setitimer(signal.ITIMER_REAL, remaining)
    try:
        return pattern.search(data, timeout=remaining)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Expecting:
    """Mixed into Session."""

    def expect(self, want: Expectation, whole_line: bool = True, spill=None) -> Result:
        """`spill` (--raw's standard output) takes the bytes the window would drop, oldest
        first, so a pipe still gets every byte the peer sent; without it they are dropped."""
        if self.transport is None:
            return self._no_socket("expect")
        buf = self.buffer
        buf.dropped = 0
        self.captures = {}
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        chunk = bytearray(EXPECT_READ)
        scan = 0  # a literal is searched for only where it could newly end
        spilled = 0
        try:
            while True:
                end = self._match(want, scan, deadline)
                if end is not None:
                    failed = None
                    if whole_line and want.kind != "eof" and self.stream:
                        end, failed = self._through_line_end(end, deadline, chunk)
                    offset = buf.offset
                    data = buf.take(end)
                    result = Result(data=data or None, data_offset=offset)
                    if failed is not None:  # the match stands; what ended the wait for its line is said
                        result.say(f"matched '{want.source}' ({plural(len(data))} consumed)")
                        return self._recv_error(failed, "expect", result)
                    if spilled:
                        result.say(f"{plural(spilled)} before these went to standard output as they came "
                                   f"(expect searches the last {WINDOW >> 20} MiB)")
                    if buf.dropped:
                        result.say(f"{plural(buf.dropped)} before these were dropped unseen "
                                   f"(expect keeps the last {WINDOW >> 20} MiB)")
                    if want.kind == "eof":
                        result.say("matched end of stream")
                    else:
                        result.say(f"matched '{want.source}' ({plural(len(data))} consumed)")
                    result.state = self.state()
                    return result
                if want.kind == "text":
                    scan = max(0, len(buf) - len(want.literal) + 1)
                if self.peer_eof:
                    return self._expect_failed(want, spilled, "end of stream came first")
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return self._expect_failed(want, spilled, f"nothing matched within {self.timeout:g} s")
                    self.transport.settimeout(remaining)
                n = self.transport.recv_into(chunk)
                if not n:
                    if self.rd_shut:
                        return self._expect_failed(want, spilled, "our read side is shut (shutdown 0)")
                    if self.stream:
                        self.peer_eof = True
                    continue
                self.received += n
                buf.add(memoryview(chunk)[:n])
                if spill is not None and len(buf) > WINDOW:  # out before the window would drop them
                    extra = len(buf) - WINDOW
                    spill(buf.take(extra))
                    spilled += extra
                    scan = max(0, scan - extra)
                scan = max(0, scan - buf.trim())
        except TimeoutError:
            return self._expect_failed(want, spilled, f"nothing matched within {self.timeout:g} s")
        except (OSError, KeyboardInterrupt) as exc:
            return self._recv_error(exc, "expect")
        finally:
            if self.transport is not None:
                self.transport.settimeout(self.timeout)

    def _through_line_end(self, end: int, deadline: float | None, chunk: bytearray
                          ) -> tuple[int, BaseException | None]:
        """Where a match ending at `end` stops consuming: through the end of the line it ends in.

        A reply line is one unit to the person (`expect 220` then `tls`; `expect 331` then
        `expect 230`): the rest of it must not be left for the next command. If its newline
        is not in yet, wait LINE_WAIT at most (within the deadline) for it; a line that does
        not end by then (a `Password: ` prompt) is consumed through the match only. At most
        LINE_REST bytes past the match are looked at. Returns (end, an error that ended the
        wait, if any: the match stands and the error is reported beside it)."""
        buf = self.buffer
        pending = buf.pending
        if end == 0 or pending[end - 1] == 0x0A:  # nothing matched yet, or it ends a line already
            return end, None
        stop = time.monotonic() + LINE_WAIT
        if deadline is not None:
            stop = min(stop, deadline)
        while True:
            at = pending.find(b"\n", end, end + LINE_REST)
            if at >= 0:
                return at + 1, None
            remaining = stop - time.monotonic()
            if remaining <= 0 or self.peer_eof or self.rd_shut or len(pending) - end >= LINE_REST:
                return end, None
            try:
                self.transport.settimeout(remaining)
                n = self.transport.recv_into(chunk, min(len(chunk), end + LINE_REST - len(pending)))
            except TimeoutError:
                return end, None
            except KeyboardInterrupt:  # Ctrl-C ends the short wait, not the match
                return end, None
            except OSError as exc:
                return end, exc
            if not n:
                self.peer_eof = True
                return end, None
            self.received += n
            buf.add(memoryview(chunk)[:n])

    def _match(self, want: Expectation, scan: int, deadline: float | None) -> int | None:
        pending = self.buffer.pending
        if want.kind == "eof":
            return len(pending) if self.peer_eof else None
        if want.kind == "regex":
            if deadline is None or isinstance(want.pattern, re.Pattern):
                m = want.pattern.search(pending)  # no deadline, or a stdlib `re` pattern (no timeout)
            else:
                m = _search_by(want.pattern, pending, deadline)
            if m is None:
                return None
            if want.pattern.groupindex:  # named groups: their bytes, taken before the buffer moves on
                self.captures = {name: bytes(m.group(name) or b"") for name in want.pattern.groupindex}
            return m.end()
        at = pending.find(want.literal, scan)
        return at + len(want.literal) if at >= 0 else None

    def _expect_failed(self, want: Expectation, spilled: int, why: str) -> Result:
        buf = self.buffer
        # Escaped here so the rest of the message (the pattern) is shown as typed.
        message = f"expected '{want.source}' but {why}; unmatched data received: {excerpt(bytes(buf.pending))}"
        result = Result()
        if spilled:
            result.say(f"{plural(spilled)} received while expecting went to standard output as they came "
                       f"(expect searches the last {WINDOW >> 20} MiB)")
        if buf.dropped:
            result.say(f"{plural(buf.dropped)} received while expecting were dropped unseen "
                       f"(expect keeps the last {WINDOW >> 20} MiB)")
        if len(buf):
            result.say(f"the {plural(len(buf))} not matched are kept for the next command")
        return self._fail(failure("expect", "expect", message), result)
