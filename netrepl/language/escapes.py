"""The backslash escapes of script text (`send`, `expect`), both directions.

  * decode_escapes: the text of a `send`/`expect` argument -> the bytes it
    stands for: `\\r \\n \\t \\0 \\e \\\\ \\xNN`; other text is UTF-8.
  * encode_escapes: bytes -> text that decode_escapes turns back into the same
    bytes and that is safe as the tail of one script line (see its doc).
    expect_text adds what an `expect` argument needs on top of that, for
    `record -e`.

In a script line `$` expansion runs first (language/parser.py), then
decode_escapes on the expanded text. encode_escapes never writes a `$`, so its
text means the same with or without that expansion.

This is the script direction only. render/escape.py is the display direction:
its output (with `\\uXXXX` forms, no `$` care) is for a person to read on a
terminal and is not meant to be decoded; text for a script comes from here.
"""

from __future__ import annotations

import re

from netrepl.base.patterns import lazy

__all__ = ["EscapeError", "decode_escapes", "encode_escapes", "expect_text", "escape_spans"]

_ESCAPE_RE = lazy(r"\\(x[0-9A-Fa-f]{2}|[rnt0\\e]|x.{0,2}|.|$)", re.S)
_SIMPLE_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "e": b"\x1b"}


class EscapeError(ValueError):
    """A malformed escape; col is the 1-based column of its backslash in the text
    (counted from the `col` given to decode_escapes). The parser reports it as a
    ParseError at that column."""

    def __init__(self, message: str, col: int = 1):
        super().__init__(message)
        self.message = message
        self.col = col


_HEX = frozenset("0123456789abcdefABCDEF")


def _problem(code: str) -> str | None:
    """Why an escape (the text after its backslash) is malformed; None when it is good."""
    if code in _SIMPLE_ESCAPES or (len(code) == 3 and code[0] == "x" and code[1] in _HEX and code[2] in _HEX):
        return None
    if code.startswith("x"):
        return f"malformed escape \\{code}: \\x takes two hex digits"
    if code == "":
        return "a trailing backslash escapes nothing (write \\\\ for a backslash)"
    return f"unknown escape \\{code} (known: \\r \\n \\t \\0 \\e \\\\ \\xNN)"


def decode_escapes(text: str, col: int = 1) -> bytes:
    """`\\r \\n \\t \\0 \\e \\\\ \\xNN` -> bytes; other text is UTF-8 encoded."""
    if "\\" not in text:
        return text.encode("utf-8", "surrogateescape")
    out = bytearray()
    last = 0
    for m in _ESCAPE_RE.finditer(text):
        out += text[last:m.start()].encode("utf-8", "surrogateescape")
        code = m.group(1)
        simple = _SIMPLE_ESCAPES.get(code)
        if simple is not None:
            out += simple
        else:
            problem = _problem(code)
            if problem:
                raise EscapeError(problem, col + m.start())
            out.append(int(code[1:], 16))
        last = m.end()
    out += text[last:].encode("utf-8", "surrogateescape")
    return bytes(out)


def escape_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, good) of each escape in `text`, for highlighting; a bad one
    spans its backslash and the character after it (what makes it bad)."""
    spans = []
    for m in _ESCAPE_RE.finditer(text):
        good = _problem(m.group(1)) is None
        spans.append((m.start(), m.end() if good else min(m.end(), m.start() + 2), good))
    return spans


# Byte value -> its text. Printable ASCII is kept but for `\\` (doubled) and `$`
# (as \x24, not `$$`: then the text needs no `$` expansion to decode, see the
# module doc). Everything else, UTF-8 text included, is \xNN, so a script line
# is plain ASCII: no control, bidi or invisible character ever lands in a .nrs
# file. A str table, so str.translate does the work at C speed.
_ENCODE = [chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02x}" for b in range(256)]
_ENCODE[0x5C] = "\\\\"
_ENCODE[0x24] = "\\x24"
_ENCODE[0x0D], _ENCODE[0x0A], _ENCODE[0x09] = "\\r", "\\n", "\\t"
# A leading `-X` followed by a blank or the end would be taken for a flag of
# the command (`send -n -n` sends nothing): its `-` is written as \x2d.
_FLAG_LIKE = lazy(r"-[A-Za-z](?: |\Z)")
_REDIRECT_LIKE = lazy(r"<(?:[ \t]|\Z)")


def encode_escapes(data: bytes) -> str:
    """Bytes -> text with decode_escapes(text) == data that is safe as the
    rest-of-line argument of a script line: printable ASCII only, no `$`, no
    leading or trailing blank (a trailing one is stripped from the line, a
    leading one is invisible), and not starting with what looks like a flag
    or with a `<` standing alone (send's `< PATH`: interact's typed `< FILE`
    must go out as text, never as the file).
    Kept as typed: printable ASCII but `\\` and `$`; \\r \\n \\t; the rest \\xNN."""
    text = data.decode("latin-1").translate(_ENCODE)
    if text.endswith(" "):
        text = text[:-1] + "\\x20"
    if text.startswith(" "):
        text = "\\x20" + text[1:]
    elif _FLAG_LIKE.match(text):
        text = "\\x2d" + text[1:]
    elif _REDIRECT_LIKE.match(text):  # `send < x` reads the file x: a `<` alone first is written \x3c
        text = "\\x3c" + text[1:]
    return text


def expect_text(data: bytes) -> str:
    """Bytes -> the text of an `expect` line that matches them literally:
    encode_escapes, and a leading `/` or the word `eof` (alone, or before a blank:
    `eof  # x` would be eof and a comment) escaped so that the text is neither a
    /regex/ nor end of stream."""
    text = encode_escapes(data)
    if text.startswith("/") or text == "eof" or (text.startswith("eof") and text[3:4] in (" ", "\t")):
        text = f"\\x{ord(text[0]):02x}" + text[1:]
    return text
