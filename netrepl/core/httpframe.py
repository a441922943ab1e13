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

import re
import time
from collections.abc import Callable

from netrepl.core.errors import failure
from netrepl.core.results import Elapsed, Result
from netrepl.core.sink import SinkError
from netrepl.core.sockstate import plural

HEAD_LIMIT = 64 << 10  # status line and header section (and, apart, the trailer section)
LINE_LIMIT = 64 << 10  # one chunk-size line, with its extensions
READ = 1 << 18  # bytes per read
MAX_KEPT = 64 << 20  # body bytes kept in memory for the Result; `recv http > PATH` streams any amount
MAX_INTERIM = 16  # 1xx responses shown whole; later ones are only counted (a peer can send them for ever)
MAX_REQUESTS = 64  # request methods remembered per connection (pipelined requests)

_STATUS = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
# chunk-ext (RFC 9112 7.1.1): *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ); linear.
_CHUNK_EXT = re.compile(rb'(?:[ \t]*;[ \t]*[!#$%&\'*+\-.^_`|~0-9A-Za-z]+'
                        rb'(?:[ \t]*=[ \t]*(?:[!#$%&\'*+\-.^_`|~0-9A-Za-z]+|"(?:[^"\\\r\n]|\\.)*"))?)*')
_HEAD_END = re.compile(rb"\n\r?\n")
# A request line at the start of what `send` sent, or after a line ending (pipelined requests).
_REQUEST = re.compile(rb"(?:^|\n)([A-Z]+) [^ \r\n]+ HTTP/1\.\d(?:\r?\n|$)")


class ProtocolError(Exception):
    """The peer broke HTTP/1.x framing: the message says how."""


class _Eof(Exception):
    pass


def note_requests(requests: list[str], data: bytes) -> None:
    """`send` sent `data`: remember the method of each request line in it, in order, so
    `recv http` knows that the response to a HEAD has no body."""
    if b" HTTP/1." not in data:
        return
    for m in _REQUEST.finditer(data):
        if len(requests) < MAX_REQUESTS:
            requests.append(m.group(1).decode("ascii"))


def _text(raw: bytes) -> str:
    """Peer bytes as a str for a message line (the renderer escapes it; undecodable bytes show as \\xNN)."""
    return raw.decode("utf-8", "surrogateescape")


class _Wire:
    """Reads from the session's transport into its buffer, within one deadline."""

    def __init__(self, session, deadline: float | None):
        self.session = session
        self.buf = session.buffer
        self.deadline = deadline
        self.chunk = bytearray(READ)

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
            write(data)
            done += len(data)
        return done


class Head:
    """A parsed status line and header section."""

    def __init__(self, version: str, status: int, reason: bytes, fields: list[tuple[bytes, bytes]], lines: list[bytes]):
        self.version, self.status, self.reason, self.fields, self.lines = version, status, reason, fields, lines

    def values(self, name: bytes) -> list[bytes]:
        """Every value of a field, list elements split at commas (empty ones dropped)."""
        out = []
        for field, value in self.fields:
            if field.lower() == name:
                out += [v.strip(b" \t") for v in value.split(b",") if v.strip(b" \t")]
        return out

    def has(self, name: bytes) -> bool:
        return any(field.lower() == name for field, _ in self.fields)


def parse_fields(lines: list[bytes], what: str) -> list[tuple[bytes, bytes]]:
    """Header (or trailer) lines -> (name, value); obsolete line folding joined with a space."""
    fields: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):  # obs-fold: a user agent replaces it with SP (RFC 9112 5.2)
            if not fields:
                raise ProtocolError(f"the first {what} line begins with white space: '{_text(line)}'")
            name, value = fields[-1]
            fields[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"{what} line without a colon: '{_text(line[:200])}'")
        if not _TOKEN.fullmatch(name):
            why = "white space before the colon" if name.rstrip(b" \t") != name else "not a field name"
            raise ProtocolError(f"{what} name '{_text(name[:200])}' is {why}")
        value = value.strip(b" \t")
        if b"\r" in value or b"\0" in value:
            raise ProtocolError(f"{what} '{_text(name)}' holds a bare CR or a NUL")
        fields.append((name, value))
    return fields


def parse_head(raw: bytes) -> Head:
    """The bytes of a head, through its empty line."""
    lines = [line[:-1] if line.endswith(b"\r") else line for line in raw.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    m = _STATUS.fullmatch(lines[0]) if lines else None
    if m is None:
        shown = _text(lines[0][:200]) if lines else ""
        raise ProtocolError(f"bad status line '{shown}' (expected `HTTP/1.x NNN reason`)")
    if m.group(1) != b"1":
        raise ProtocolError(f"HTTP/{m.group(1).decode()}.{m.group(2).decode()} is not HTTP/1.x: "
                            "`recv http` reads HTTP/1.0 and HTTP/1.1")
    fields = parse_fields(lines[1:], "header")
    return Head(f"1.{m.group(2).decode()}", int(m.group(3)), m.group(4) or b"", fields, lines)


def framing(head: Head, method: str | None) -> tuple[str, int | None]:
    """RFC 9112 6.3, in its order: ("none", why) / ("chunked", None) / ("length", N) / ("close", None)."""
    status = head.status
    if method == "HEAD":
        return "none: a response to HEAD", None
    if 100 <= status < 200 or status in (204, 304):
        return f"none: status {status} has no body", None
    if method == "CONNECT" and 200 <= status < 300:
        return "none: a 2xx to CONNECT (the connection is a tunnel now)", None
    codings = [c.lower() for c in head.values(b"transfer-encoding")]
    lengths = head.values(b"content-length")
    if head.has(b"transfer-encoding"):
        if head.has(b"content-length"):
            raise ProtocolError("both Content-Length and Transfer-Encoding: the body's length is ambiguous "
                                "(request smuggling territory)")
        if not codings:
            raise ProtocolError("empty Transfer-Encoding")
        if codings[-1] == b"chunked":
            if codings.count(b"chunked") > 1:
                raise ProtocolError(f"Transfer-Encoding '{_text(b', '.join(codings))}' applies chunked twice")
            return "chunked", None
        return "close: Transfer-Encoding does not end in chunked", None
    if head.has(b"content-length"):
        for value in lengths:
            if not value.isdigit() or not value.isascii():
                raise ProtocolError(f"bad Content-Length '{_text(value[:100])}'")
        numbers = sorted({int(v) for v in lengths})
        if not numbers:
            raise ProtocolError("empty Content-Length")
        if len(numbers) > 1:
            raise ProtocolError(f"different Content-Lengths: {', '.join(map(str, numbers))}")
        if numbers[0] >= 1 << 62:
            raise ProtocolError(f"Content-Length {numbers[0]} is beyond any real body")
        return "length", numbers[0]
    return "close", None


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
        line = wire.line(LINE_LIMIT, "a chunk-size line")
        m = _HEX.match(line)
        if m is None:
            raise ProtocolError(f"bad chunk size '{_text(line[:100])}' after {plural(total)} of body "
                                "(expected hex digits)")
        size_text = m.group()
        if not _CHUNK_EXT.fullmatch(line, m.end()):
            raise ProtocolError(f"bad chunk size line '{_text(line[:100])}' after {plural(total)} of body "
                                "(after the hex size only `;name=value` extensions may follow)")
        if len(size_text.lstrip(b"0")) > 15:
            raise ProtocolError(f"chunk size '{_text(size_text[:40])}' is beyond any real body")
        size = int(size_text, 16)
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


def read_response(session, method: str | None = None, sink=None, path: str | None = None
                  ) -> tuple[Result, int | None]:
    """One response from the session's cursor: (Result, final status or None)."""
    op = "recv http"
    if session.transport is None:
        return session._no_socket(op), None
    if not session.stream:
        return session._fail(failure("state", op, "HTTP/1.x responses come on a byte stream (TCP, TLS, a Unix "
                                                   "stream socket): this socket is UDP")), None
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
    try:
        interim = 0
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
        _said_consumed(session, result, stage, total, path)
        return session._fail(failure("protocol", op, str(exc)), result), status
    except _Eof as exc:
        result.data = bytes(kept) or None
        result.data_offset = body_offset
        _said_consumed(session, result, stage, total, path)
        return session._fail(failure("eof", op, str(exc)), result), status
    except OverflowError as exc:
        result.data = bytes(kept) or None
        _said_consumed(session, result, stage, total, path)
        return session._fail(failure("usage", op, f"{exc}; `recv http > PATH` streams any amount"), result), status
    except SinkError as exc:
        result.say(f"received {plural(total)} of body; {plural(exc.written)} of them are in {path}")
        return session._fail(exc.info, result), status
    except (OSError, KeyboardInterrupt) as exc:
        result.data = bytes(kept) or None
        result.data_offset = body_offset
        _said_consumed(session, result, stage, total, path)
        result = session._recv_error(exc, op, result, "complete response")
        if result.error.kind == "timeout":
            result.lines[-1] = (f"no complete response within {session.timeout:g} s (one timeout for the whole "
                                "response); the connection is still open",)
        return result, status
    finally:
        if session.transport is not None:
            session.transport.settimeout(session.timeout)
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


def _said_consumed(session, result: Result, stage: str, total: int, path: str | None) -> None:
    if stage == "head":
        if len(session.buffer):
            result.say(f"nothing consumed: the {plural(len(session.buffer))} received stay for the next command")
    else:
        where = f" (written to {path})" if path else ""
        result.say(f"the head and {plural(total)} of body were consumed before the error{where}")
