"""Argument types for rest-of-line text: free text, text with escapes (`send`),
what `expect` waits for, and a nested command (`must-fail`).

Like the word types in argtypes.py, each owns its conversion, usage,
completion and highlighting; these also tell the lexer which parts of the
text to colour (`spans`).
"""

from __future__ import annotations

import re
import warnings

from netrepl.base.fastdata import datatype
from netrepl.language.argtypes import ArgError, ArgType, Candidates
from netrepl.language.escapes import EscapeError, decode_escapes, escape_spans
from netrepl.base.patterns import lazy


@datatype(frozen=True)
class Expectation:
    """What `expect` waits for: literal bytes, a bytes regex, or end of stream."""

    kind: str  # "text" | "regex" | "eof"
    source: str
    literal: bytes = b""
    pattern: "re.Pattern[bytes] | None" = None


_COMMENT_RE = lazy(r"[ \t]+(#.*)?\Z", re.S)  # what may follow a closing `/` or `eof`: blanks, a comment


def regex_end(text: str) -> int | None:
    """Where the `/REGEX/` that `text` starts with closes: the index just past its closing `/`,
    or None when `text` is not a /regex/ (then it is literal TEXT, as `/usr/bin is here`).

    The closing `/` is the first one not escaped by a backslash (`\\/` is a `/` of the
    regex) that ends the text or is followed by blanks and a `# comment`; so `/a/b/` is the
    regex `a/b` and `/PONG/  # the pong` the regex `PONG` with a comment."""
    if not text.startswith("/"):
        return None
    i, n = 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "/" and (i + 1 == n or _COMMENT_RE.match(text, i + 1)):
            return i + 1
        i += 1
    return None


def comment_at(text: str) -> int | None:
    """Where a trailing `# comment` starts in an `expect` argument (the blanks before it
    included), or None: only after a /regex/ or `eof`; TEXT keeps a `#` as text, as send does."""
    end = 3 if text.startswith("eof") and _COMMENT_RE.match(text, 3) else regex_end(text)
    return end if end is not None and end < len(text) else None


MAX_REGEX_NESTING = 64  # groups within groups: `re`'s parser recurses per level (400 deep: RecursionError)


def too_deep(source: str) -> int | None:
    """The index of the first `(` nested more than MAX_REGEX_NESTING deep in a regex, or None.
    Escaped parentheses and those in a [class] do not count (counting one too many would only
    refuse a regex that is nearly too deep anyway)."""
    depth, i, n = 0, 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":  # a class: `]` right after `[` or `[^` is a member, not its end
            i += 2 if source.startswith("[^", i) else 1
            i += 1 if source[i:i + 1] == "]" else 0
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
        elif ch == "(":
            depth += 1
            if depth > MAX_REGEX_NESTING:
                return i
        elif ch == ")":
            depth = max(0, depth - 1)
        i += 1
    return None


def parse_expectation(text: str) -> Expectation:
    """`eof`, `/REGEX/` or TEXT with escapes; EscapeError with the 1-based column in `text`.
    (`text` holds no trailing comment: the parser cut it off with comment_at.)"""
    if text == "eof":
        return Expectation("eof", text)
    if len(text) >= 2 and regex_end(text) == len(text):
        # Imported here, not at the top: 10-35 ms (-X importtime, 2-core machine), and only a
        # /REGEX/ needs it. `regex`, not `re`: its search takes a timeout and checks Ctrl-C.
        import regex

        deep = too_deep(text[1:-1])
        if deep is not None:
            raise EscapeError(f"bad regular expression: groups nested more than {MAX_REGEX_NESTING} deep", 2 + deep)
        source = text[1:-1].encode("utf-8", "surrogateescape")
        try:
            with warnings.catch_warnings():  # `[[a]`: re's FutureWarning would reach the user's terminal raw
                warnings.simplefilter("ignore")
                re.compile(source)  # `re` first: its syntax and its messages are the documented ones
            return Expectation("regex", text, pattern=regex.compile(source))
        except (re.error, regex.error) as exc:
            raise EscapeError(f"bad regular expression: {exc.msg}", 2 + (exc.pos or 0)) from None
        except (RecursionError, OverflowError, MemoryError) as exc:  # what the bound above did not foresee
            raise EscapeError(f"bad regular expression: too complex to compile ({type(exc).__name__})", 2) from None
    return Expectation("text", text, literal=decode_escapes(text))


class Text(ArgType):
    """Free text: one word, or with `rest` the rest of the line as typed (`print`, `set var`)."""

    name = "str"
    token = "String"

    def __init__(self, rest: bool = False):
        super().__init__()
        self.rest = rest

    def convert(self, text, args, registry):
        return text if self.rest else super().convert(text, args, registry)

    def candidates(self, label, args, registry):
        return Candidates("none", (), label)


class EscapedText(Text):
    """The rest of the line with `\\r \\n \\t \\0 \\e \\\\ \\xNN` decoded to bytes (`send`)."""

    name = "escaped"

    def __init__(self):
        super().__init__(rest=True)

    def convert(self, text, args, registry):
        try:
            return decode_escapes(text)
        except EscapeError as exc:
            raise ArgError(exc.message, exc.col - 1) from None

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, token) of the parts the lexer colours within the text: each escape, good or bad."""
        return [(a, b, "String.Escape" if good else "Error") for a, b, good in escape_spans(text)]


class Pattern(EscapedText):
    """What `expect` waits for: TEXT (escapes as for send), /REGEX/ or eof."""

    name = "expect"

    def spans(self, text):
        if text == "eof":
            return [(0, 3, "Keyword.Constant")]
        if len(text) >= 2 and regex_end(text) == len(text):
            return [(0, len(text), "String.Regex")]
        return super().spans(text)

    def comment_at(self, text: str) -> int | None:
        return comment_at(text)

    def convert(self, text, args, registry):
        try:
            return parse_expectation(text)
        except EscapeError as exc:
            raise ArgError(exc.message, exc.col - 1) from None


class CommandLine(ArgType):
    """The rest of the line is a command of its own (`must-fail KIND COMMAND...`); the parser parses it."""

    name = "command"
    rest = True
    token = "Keyword"

    def usage(self, metavar):
        return metavar + "..."


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def hex_problem(text: str) -> tuple[str, int] | None:
    """Why `text` is not bytes written in hex (message, offset in `text`), or None."""
    digits = 0
    last = 0
    for i, ch in enumerate(text):
        if ch in " \t":
            continue
        if ch not in _HEX_DIGITS:
            return f"{ch!r} is not a hex digit (write bytes as pairs of 0-9 a-f, blanks optional)", i
        digits += 1
        last = i
    if not digits:
        return "no hex digits (e.g. `send -x 16 03 01`)", 0
    if digits % 2:
        return f"an odd number of hex digits ({digits}): each byte is two digits", last
    return None


class HexBytes(Text):
    """The rest of the line as bytes written in hex, blanks optional (`send -x 16 03 01`, `160301`)."""

    name = "hex"
    token = "Number.Hex"

    def __init__(self):
        super().__init__(rest=True)

    def usage(self, metavar):
        return "HEX..."

    def convert(self, text, args, registry):
        problem = hex_problem(text)
        if problem is not None:
            raise ArgError(*problem)
        return bytes.fromhex("".join(text.split()))

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Each character that is not a hex digit, and a lone last digit, as Error."""
        spans = [(i, i + 1, "Error") for i, ch in enumerate(text) if ch not in _HEX_DIGITS and ch not in " \t"]
        problem = hex_problem(text)
        if not spans and problem is not None and problem[0].startswith("an odd"):
            spans.append((problem[1], problem[1] + 1, "Error"))
        return spans
