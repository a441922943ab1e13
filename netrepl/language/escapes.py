r"""The language's escapes: `\r \n \t \0 \e \\ \xNN` in `send`/`expect` text -> bytes.

(The terminal direction, peer bytes -> safe display text, is render/escape.py:
display only, never decoded back.)
"""

from __future__ import annotations

import re

ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[rnt0\\e]|x.{0,2}|.|$)", re.S)
_SIMPLE_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "e": b"\x1b"}
_HEX = frozenset("0123456789abcdefABCDEF")


class EscapeError(ValueError):
    """A malformed escape; `offset` is where it starts in the text (0-based)."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.message, self.offset = message, offset


def _problem(code: str) -> str | None:
    """Why an escape (the text after its backslash) is malformed; None when it is good."""
    if code in _SIMPLE_ESCAPES or (len(code) == 3 and code[0] == "x" and code[1] in _HEX and code[2] in _HEX):
        return None
    if code.startswith("x"):
        return f"malformed escape \\{code}: \\x takes two hex digits"
    if code == "":
        return "a trailing backslash escapes nothing (write \\\\ for a backslash)"
    return f"unknown escape \\{code} (known: \\r \\n \\t \\0 \\e \\\\ \\xNN)"


def decode_escapes(text: str) -> bytes:
    """Escapes -> bytes; other text is UTF-8 encoded (surrogateescape keeps raw bytes)."""
    if "\\" not in text:
        return text.encode("utf-8", "surrogateescape")
    out = bytearray()
    last = 0
    for m in ESCAPE_RE.finditer(text):
        out += text[last:m.start()].encode("utf-8", "surrogateescape")
        code = m.group(1)
        simple = _SIMPLE_ESCAPES.get(code)
        if simple is not None:
            out += simple
        else:
            problem = _problem(code)
            if problem:
                raise EscapeError(problem, m.start())
            out.append(int(code[1:], 16))
        last = m.end()
    out += text[last:].encode("utf-8", "surrogateescape")
    return bytes(out)


def escape_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, good) of each escape in `text`, for highlighting; a bad one
    spans its backslash and the character after it (what makes it bad)."""
    spans = []
    for m in ESCAPE_RE.finditer(text):
        good = _problem(m.group(1)) is None
        spans.append((m.start(), m.end() if good else min(m.end(), m.start() + 2), good))
    return spans
