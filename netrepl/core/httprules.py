"""HTTP/1.x response framing rules (RFC 9112), as pure functions over bytes: no socket.

The status line and header fields (parse_head, parse_fields: obsolete line folding
joined, a bare CR or NUL refused), which rule of section 6.3 frames the body
(framing, in the RFC's order), and a chunk-size line (chunk_size: extensions
checked and skipped). Each failure is ProtocolError naming what was wrong.
core/httpframe.py reads a response with them; an exported program carries
their source (export/httpemit.py), so it frames responses as netrepl does.
"""

from __future__ import annotations

import re

HEAD_LIMIT = 64 << 10  # status line and header section (and, apart, the trailer section)
LINE_LIMIT = 64 << 10  # one chunk-size line, with its extensions
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


class ProtocolError(OSError):
    """The peer broke HTTP/1.x framing (netrepl's failure kind protocol): the message says how."""


def request_methods(data: bytes) -> list[str]:
    """The method of each request line in what `send` sent, in order (pipelined requests): so
    `recv http` knows that the response to a HEAD has no body."""
    if b" HTTP/1." not in data:
        return []
    return [m.group(1).decode("ascii") for m in _REQUEST.finditer(data)]


def _text(raw: bytes) -> str:
    """Peer bytes as a str for a message line (the renderer escapes it; undecodable bytes show as \\xNN)."""
    return raw.decode("utf-8", "surrogateescape")


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


def _count(n: int) -> str:
    return "1 byte" if n == 1 else f"{n} bytes"


def chunk_size(line: bytes, total: int) -> int:
    """The size a chunk-size line (RFC 9112 7.1) gives, its extensions checked and skipped;
    `total`: body bytes before it (for the message)."""
    m = _HEX.match(line)
    if m is None:
        raise ProtocolError(f"bad chunk size '{_text(line[:100])}' after {_count(total)} of body "
                            "(expected hex digits)")
    if not _CHUNK_EXT.fullmatch(line, m.end()):
        raise ProtocolError(f"bad chunk size line '{_text(line[:100])}' after {_count(total)} of body "
                            "(after the hex size only `;name=value` extensions may follow)")
    if len(m.group().lstrip(b"0")) > 15:
        raise ProtocolError(f"chunk size '{_text(m.group()[:40])}' is beyond any real body")
    return int(m.group(), 16)
