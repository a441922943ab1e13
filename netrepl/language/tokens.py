"""Words of a line: blanks separate them, quotes group them, `$NAME` expands.

The parser, the lexer and completion all split lines with `next_token`, so
a quoted word or a variable is one word to each of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from netrepl.base.fastdata import datatype
from netrepl.base.patterns import lazy

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
VAR_RE = lazy(r"\$(?:(\$)|\{(" + _NAME + r")(?::-([^}]*))?\}|(" + _NAME + r")|(\{))")
NAME_RE = lazy(_NAME + r"\Z")
_BLANKS_RE = lazy(r"[ \t]*")
MAX_VALUE = 1024 * 1024  # characters one token may expand to: `set var b $a$a$a...` doubles at each line
_PLAIN_TOKEN_RE = lazy(r"[ \t]*([^ \t\"'$]+)(?![^ \t])")  # a whole token without quotes or $


class ParseError(Exception):
    def __init__(self, message: str, col: int = 1):
        super().__init__(message)
        self.message = message
        self.col = col


@datatype
class Token:
    text: str  # after quote removal and variable expansion
    col: int  # 1-based column of its first character in the line
    raw: str  # as typed


def expand(text: str, variables: Mapping[str, str], col: int = 1) -> str:
    """Replace $NAME, ${NAME}, ${NAME:-default}; `$$` is a literal `$`.

    The default is expanded too, so `${port:-$lab_port}` falls back to another variable."""
    if "$" not in text:
        return text

    size = len(text)

    def sub(m: re.Match) -> str:
        nonlocal size
        if m.group(1):
            return "$"
        if m.group(5):
            raise ParseError("unterminated or malformed ${...}", col + m.start())
        name = m.group(2) or m.group(4)
        if name in variables and (variables[name] or m.group(3) is None):  # :- also replaces an empty value
            size += len(variables[name])
            if size > MAX_VALUE:
                raise ParseError(f"expands to more than {MAX_VALUE >> 20} MiB", col + m.start())
            return variables[name]
        if m.group(3) is not None:
            return expand(m.group(3), variables, col + m.start(3))
        raise ParseError(f"undefined variable ${name} (set it with -D {name}=VALUE or `set var {name} VALUE`)",
                         col + m.start())

    return VAR_RE.sub(sub, text)


def expand_mapped(text: str, variables: Mapping[str, str], col: int = 1) -> tuple[str, Sequence[int]]:
    """expand(), plus the column each character of the result was typed at (a value's: its `$`)."""
    if "$" not in text:  # nothing to expand: every character is where it was typed
        return text, range(col, col + len(text))
    out, cols, last = [], [], 0
    for m in VAR_RE.finditer(text):
        value = expand(m.group(), variables, col + m.start())
        if len(cols) + len(value) > MAX_VALUE:  # the sum of the values, as expand() bounds one
            raise ParseError(f"expands to more than {MAX_VALUE >> 20} MiB", col + m.start())
        out += [text[last:m.start()], value]
        cols += [*range(col + last, col + m.start()), *[col + m.start()] * len(value)]
        last = m.end()
    out.append(text[last:])
    cols += range(col + last, col + len(text))
    return "".join(out), cols


def next_token(line: str, pos: int, variables: Mapping[str, str]) -> tuple[Token, int] | None:
    """The token starting at or after `pos`, and where it ends; None at the end.

    Blanks separate tokens; "double" and 'single' quotes group (variables
    are expanded except inside single quotes).
    """
    plain = _PLAIN_TOKEN_RE.match(line, pos)
    if plain:  # most tokens: no quotes, no variables, so the text is as typed
        text = plain.group(1)
        return Token(text, plain.start(1) + 1, text), plain.end()
    pos = _BLANKS_RE.match(line, pos).end()
    n = len(line)
    if pos >= n:
        return None
    begin, parts, size = pos, [], 0
    while pos < n and line[pos] not in " \t":
        ch = line[pos]
        if ch in "\"'":
            end = line.find(ch, pos + 1)
            if end < 0:
                raise ParseError(f"unterminated {ch} quote", pos + 1)
            inner = line[pos + 1:end]
            parts.append(inner if ch == "'" else expand(inner, variables, pos + 2))
            pos = end + 1
        else:
            j = pos
            while j < n and line[j] not in " \t\"'":
                j += 1
            parts.append(expand(line[pos:j], variables, pos + 1))
            pos = j
        size += len(parts[-1])
        if size > MAX_VALUE:  # each part is bounded by expand(); their sum is bounded here
            raise ParseError(f"expands to more than {MAX_VALUE >> 20} MiB", begin + 1)
    return Token("".join(parts), begin + 1, line[begin:pos]), pos


def tokenize(line: str, variables: Mapping[str, str], pos: int = 0) -> list[Token]:
    tokens = []
    while (found := next_token(line, pos, variables)) is not None:
        tokens.append(found[0])
        pos = found[1]
    return tokens


class UnknownValues(dict):
    """Variables whose values are not known here (the lexer or completion outside a
    session): every name counts as defined, with an empty value."""

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key) -> str:
        return ""
