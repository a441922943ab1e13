"""`recv http`: exactly one HTTP/1.x response, framed by RFC 9112 section 6.3.

It reads through the session's one cursor (core/buffer.py), like every read:
the status line and the header section first (at most HEAD_LIMIT bytes), then
the body by the first rule that applies -- none after HEAD, for 1xx, 204 and
304 (and a 2xx to CONNECT); `Transfer-Encoding` ending in chunked (chunk
extensions skipped, trailers kept); `Content-Length`; else until end of
stream. A 1xx interim response is shown and the next one read. What follows
the response stays in the buffer for the next command: two responses on one
keep-alive connection are two `recv http`.

Malformed framing is a failure of kind `protocol` that names what was wrong.
A failure in the head consumes nothing (the bytes stay for the next command);
one in the body has consumed the head and what came of the body, and says so.
ONE deadline (the session timeout) bounds the whole command; memory is
bounded by HEAD_LIMIT, one read and, without `> PATH`, MAX_KEPT of body.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from netrepl.core.errors import failure
from netrepl.core.httprules import (HEAD_LIMIT, LINE_LIMIT, MAX_REQUESTS, ProtocolError, _HEAD_END, _STATUS, Head,
                                    _text, chunk_size, framing, parse_fields, parse_head, request_methods)
from netrepl.core.results import Elapsed, Result
from netrepl.core.sink import SinkError
from netrepl.core.sockstate import plural

READ = 1 << 18  # bytes per read
MAX_KEPT = 64 << 20  # body bytes kept in memory for the Result; `recv http > PATH` streams any amount
MAX_INTERIM = 16  # 1xx responses shown whole; later ones are only counted (a peer can send them for ever)

class _Eof(Exception):
    pass


def note_sent(session, data: bytes) -> None:
    """`send` sent `data`: each request line in it waits for its response, with the stream offset
    consumed when it was sent."""
    for method in request_methods(data):
        if len(session.http_requests) < MAX_REQUESTS:
            session.http_requests.append((method, session.buffer.offset))


def _method(session) -> str | None:
    """The method of the request the next response answers. When other commands (recv, expect)
    consumed bytes since the last response `recv http` read, they read the answers to the requests
    sent before those bytes: those requests are dropped (a HEAD's would else leave a GET bodiless)."""
    requests, here = session.http_requests, session.buffer.offset
    if here != session.http_end:
        requests[:] = [request for request in requests if request[1] >= here]
        session.http_end = here
    return requests[0][0] if requests else None


def _answered(session) -> None:
    """A response's head was read: its request is answered; the next response starts after it."""
    if session.http_requests:
        session.http_requests.pop(0)


class _Wire:
    """Reads from the session's transport into its buffer, within one deadline."""

    def __init__(self, session, deadline: float | None):
        self.session = session
        self.buf = session.buffer
        self.deadline = deadline
        self.chunk = bytearray(READ)
        self.body = 0  # body bytes consumed so far (what a failure says was consumed)

    def more(self) -> bool:
        """Read once more into the buffer; False at end of stream."""
        s = self.session
        if s.peer_eof:
            return False
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            s.transport.settimeout(remaining)
        n = s.transport.recv_into(self.chunk)
        if not n:
            s._no_more_data()  # sets peer_eof (unless our read side is shut)
            return False
        s.received += n
        self.buf.add(memoryview(self.chunk)[:n])
        return True

    def line(self, limit: int, what: str) -> bytes:
        """Consume one line (LF or CRLF ended), without its line ending."""
        pending = self.buf.pending
        scanned = 0
        while (at := pending.find(b"\n", scanned, limit + 2)) < 0:
            if len(pending) > limit + 1:
                raise ProtocolError(f"{what} longer than {limit >> 10} KiB")
            scanned = len(pending)
            if not self.more():
                raise _Eof(f"end of stream in {what}")
        line = self.buf.take(at + 1)[:-1]
        return line[:-1] if line.endswith(b"\r") else line

    def line_end(self, what: str) -> None:
        """Consume the CRLF (or LF) that must end chunk data."""
        pending = self.buf.pending
        while len(pending) < 2 and not pending.startswith(b"\n"):
            if not self.more():
                raise _Eof(f"end of stream after {what}: no CRLF")
        if pending.startswith(b"\r\n") or pending.startswith(b"\n"):
            self.buf.take(2 if pending[0] == 13 else 1)
            return
        raise ProtocolError(f"{what} is not followed by CRLF but by '{_text(bytes(pending[:20]))}'")

    def copy(self, count: int | None, write: Callable) -> int:
        """Consume `count` bytes (None: until end of stream) into `write`; how many came."""
        done = 0
        while count is None or done < count:
            if not len(self.buf) and not self.more():
                if count is None:
                    return done
                raise _Eof(f"end of stream after {done} of {plural(count)} of body")
            data = self.buf.take(None if count is None else count - done)
            self.body += len(data)
            write(data)
            done += len(data)
        return done


def read_head(wire: _Wire) -> tuple[Head, int]:
    """Wait for a whole head (at most HEAD_LIMIT) and parse it: (head, its length in the buffer).
    It stays in the buffer: the caller consumes it once its framing is known to be sound."""
    buf = wire.buf
    scanned = 0
    while True:
        pending = buf.pending
        skip = 0
        while pending.startswith(b"\r\n", skip) or pending.startswith(b"\n", skip):  # empty lines before it
            skip += 2 if pending[skip] == 13 else 1
        m = _HEAD_END.search(pending, max(skip, scanned - 2), HEAD_LIMIT + skip)
        if m is not None:
            return parse_head(bytes(pending[skip:m.end()])), m.end()
        if len(pending) - skip >= HEAD_LIMIT:
            first = bytes(pending[skip:skip + 200]).split(b"\n", 1)[0]
            if not _STATUS.match(first):
                parse_head(first)  # a bad status line says so, not "too long"
            raise ProtocolError(f"status line and headers longer than {HEAD_LIMIT >> 10} KiB")
        start = bytes(pending[skip:skip + 5])
        if start not in (b"", b"\r") and not b"HTTP/".startswith(start):
            parse_head(bytes(pending[skip:]).split(b"\n", 1)[0])  # not a response: say so now, not at the deadline
        scanned = len(pending)
        if not wire.more():
            if len(buf) > skip:
                raise _Eof(f"end of stream in the head ({plural(len(buf))} of an unfinished response)")
            raise _Eof("end of stream before any response")


def read_chunked(wire: _Wire, write: Callable) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """The chunked coding (RFC 9112 7.1): (body bytes, chunks, trailer fields)."""
    total = chunks = 0
    while True:
        size = chunk_size(wire.line(LINE_LIMIT, "a chunk-size line"), total)
        if size == 0:
            break
        total += wire.copy(size, write)
        chunks += 1
        wire.line_end(f"chunk {chunks} ({plural(size)})")
    trailer: list[bytes] = []
    size = 0
    while line := wire.line(HEAD_LIMIT, "the trailer section"):
        size += len(line) + 2
        if size > HEAD_LIMIT:
            raise ProtocolError(f"trailer section longer than {HEAD_LIMIT >> 10} KiB")
        trailer.append(line)
    return total, chunks, parse_fields(trailer, "trailer")


def _head_lines(result: Result, head: Head) -> None:
    for line in head.lines:
        result.say(_text(line))


def read_response(session, sink=None, path: str | None = None) -> tuple[Result, int | None]:
    """One response from the session's cursor: (Result, final status or None)."""
    op = "recv http"
    if session.transport is None:
        return session._no_socket(op), None
    if not session.stream:
        return session._fail(failure("state", op, "HTTP/1.x responses come on a byte stream (TCP, TLS, a Unix "
                                                   "stream socket): this socket is UDP")), None
    method = _method(session)
    kept = bytearray()
    write: Callable = sink.write if sink is not None else kept.extend
    started = time.perf_counter()
    deadline = None if session.timeout is None else time.monotonic() + session.timeout
    wire = _Wire(session, deadline)
    result = Result()
    status = None
    body_offset = session.buffer.offset
    total = 0
    stage = "head"
    interim = 0
    try:
        while True:
            head, size = read_head(wire)
            if not 100 <= head.status < 200 or head.status == 101:
                break
            session.buffer.take(size)
            interim += 1
            if interim <= MAX_INTERIM:
                _head_lines(result, head)
                result.say(f"(interim response {head.status}: no body; reading the next one)")
        if interim > MAX_INTERIM:
            result.say(f"({interim - MAX_INTERIM} more interim 1xx responses not shown)")
        _head_lines(result, head)
        if head.status == 101:
            how, length = "none: 101 Switching Protocols (what follows is the new protocol)", None
        else:
            how, length = framing(head, method)
        if how == "length" and sink is None and length > MAX_KEPT:
            raise OverflowError(f"a body of {length} bytes is over the {MAX_KEPT >> 20} MiB kept in memory")
        session.buffer.take(size)  # the head is sound: consumed, and its status known
        status = head.status
        _answered(session)
        stage = "body"
        body_offset = session.buffer.offset
        trailer: list = []
        if how == "length":
            total = wire.copy(length, write)
            words = f"{plural(total)} of body by Content-Length"
        elif how == "chunked":
            counted = _Counting(write, sink is None)
            total, chunks, trailer = read_chunked(wire, counted)
            words = f"{plural(total)} of body by chunked transfer coding ({plural(chunks, 'chunk')}" \
                    + (f", {plural(len(trailer), 'trailer field')})" if trailer else ")")
        elif how.startswith("close"):
            counted = _Counting(write, sink is None)
            total = wire.copy(None, counted)
            eof = getattr(session.transport.sock, "eof_words", None)
            why = how.partition(": ")[2]
            words = f"{plural(total)} of body until end of stream" + (f" ({why})" if why else "") \
                + (f", {eof()}" if eof else "")
        else:
            words = f"no body ({how.partition(': ')[2]})"
    except ProtocolError as exc:
        result.data = bytes(kept) or None
        result.data_offset = body_offset
        _said_consumed(session, result, stage, wire.body, path, interim)
        return session._fail(failure("protocol", op, str(exc)), result), status
    except _Eof as exc:
        result.data = bytes(kept) or None
        result.data_offset = body_offset
        _said_consumed(session, result, stage, wire.body, path, interim)
        return session._fail(failure("eof", op, str(exc)), result), status
    except OverflowError as exc:
        result.data = bytes(kept) or None
        _said_consumed(session, result, stage, wire.body, path, interim)
        return session._fail(failure("usage", op, f"{exc}; `recv http > PATH` streams any amount"), result), status
    except SinkError as exc:
        result.say(f"received {plural(wire.body)} of body; {plural(exc.written)} of them are in {path}")
        return session._fail(exc.info, result), status
    except (OSError, KeyboardInterrupt) as exc:
        result.data = bytes(kept) or None
        result.data_offset = body_offset
        _said_consumed(session, result, stage, wire.body, path, interim)
        result = session._recv_error(exc, op, result, "complete response")
        if result.error.kind == "timeout":
            result.lines[-1] = (f"no complete response within {session.timeout:g} s (one timeout for the whole "
                                "response); the connection is still open",)
        return result, status
    finally:
        if session.transport is not None:
            session.transport.settimeout(session.timeout)
        if status is not None:
            session.http_end = session.buffer.offset
    where = f" into {path}" if path else ""
    result.say(f"response {status}: {words}{where}, in ", Elapsed(time.perf_counter() - started))
    for name, value in trailer:
        result.say(f"trailer {_text(name)}: {_text(value)}")
    result.data = bytes(kept) or None
    result.data_offset = body_offset
    result.state = session.state()
    return result, status


class _Counting:
    """Writes on, and stops a body kept in memory at MAX_KEPT."""

    def __init__(self, write: Callable, bounded: bool):
        self.write, self.bounded, self.count = write, bounded, 0

    def __call__(self, data) -> None:
        self.count += len(data)
        if self.bounded and self.count > MAX_KEPT:
            raise OverflowError(f"the body grew over the {MAX_KEPT >> 20} MiB kept in memory")
        self.write(data)


def _said_consumed(session, result: Result, stage: str, total: int, path: str | None, interim: int = 0) -> None:
    if stage == "head":
        left = f"what was received ({plural(len(session.buffer))}) stays for the next command"
        if interim:
            were = "was" if interim == 1 else "were"
            result.say(f"the {plural(interim, 'interim response')} before it {were} consumed; " + left)
        elif len(session.buffer):
            result.say(f"nothing consumed: {left}")
    else:
        where = f" (written to {path})" if path else ""
        result.say(f"the head and {plural(total)} of body were consumed before the error{where}")
