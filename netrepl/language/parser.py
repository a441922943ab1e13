"""One line of text -> a command with typed arguments.

Errors carry the 1-based column of the offending text in the line as
typed, so scripts report FILE:LINE:COL and the shell can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from netrepl.core.errors import FAILURE_NAMES, errname_known
from netrepl.fastdata import field, record
from netrepl.language.registry import Arg, Command, Registry

MAX_LINE = 65536
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
VAR_RE = re.compile(r"\$(?:(\$)|\{(" + _NAME + r")(?::-([^}]*))?\}|(" + _NAME + r")|(\{))")
NAME_RE = re.compile(_NAME + r"\Z")
_FLAG_RE = re.compile(r"[ \t]+(-[A-Za-z])(?=[ \t]|$)")
_WORD_RE = re.compile(r"[^ \t]+")
_SUBWORD_RE = re.compile(r"[ \t]*([^ \t]+)")
_BLANKS_RE = re.compile(r"[ \t]*")
_PLAIN_TOKEN_RE = re.compile(r"[ \t]*([^ \t\"'$]+)(?![^ \t])")  # a whole token without quotes or $
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_UNSEEN = object()  # Parser._parse_args: no token looked at yet


class ParseError(Exception):
    def __init__(self, message: str, col: int = 1):
        super().__init__(message)
        self.message = message
        self.col = col


@record
class Token:
    text: str  # after quote removal and variable expansion
    col: int  # 1-based column of its first character in the line
    raw: str  # as typed


@record
class Parsed:
    command: Command
    args: dict[str, Any]
    flags: frozenset[str] = frozenset()
    text: str = ""  # the line as typed, stripped
    nested: "Parsed | None" = None  # the command inside `must-fail`
    vars_used: tuple[str, ...] = field(default_factory=tuple)


def expand(text: str, variables: Mapping[str, str], col: int = 1) -> str:
    """Replace $NAME, ${NAME}, ${NAME:-default}; `$$` is a literal `$`."""
    if "$" not in text:
        return text

    def sub(m: re.Match) -> str:
        if m.group(1):
            return "$"
        if m.group(5):
            raise ParseError("unterminated or malformed ${...}", col + m.start())
        name = m.group(2) or m.group(4)
        if name in variables and (variables[name] or m.group(3) is None):  # :- also replaces an empty value
            return variables[name]
        if m.group(3) is not None:
            return m.group(3)
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
    begin, parts = pos, []
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
    return Token("".join(parts), begin + 1, line[begin:pos]), pos


def tokenize(line: str, variables: Mapping[str, str], pos: int = 0) -> list[Token]:
    tokens = []
    while (found := next_token(line, pos, variables)) is not None:
        tokens.append(found[0])
        pos = found[1]
    return tokens


def _expected(arg: Arg) -> str:
    return arg.usage().strip("[]")  # built only for an error: _convert runs for every argument


def _convert(arg: Arg, tok: Token) -> Any:
    """Token -> the value a handler receives; ParseError when it does not fit."""
    text = tok.text
    if text in arg.choices:
        return arg.values.get(text, text)
    kind = arg.type
    if kind is None:
        raise ParseError(f"{arg.name}: expected {_expected(arg)}, got {text!r}", tok.col)
    if kind in ("int", "port"):
        try:
            value: Any = int(text, 10)
        except ValueError:
            if kind == "port" and text and re.fullmatch(r"[A-Za-z][A-Za-z0-9._+-]*", text):
                return text  # a service name, looked up when the command runs
            raise ParseError(f"{arg.name}: expected {_expected(arg)}, got {text!r}", tok.col) from None
        if kind == "port" and not 0 <= value <= 65535:
            raise ParseError(f"{arg.name}: port {value} is out of range 0-65535", tok.col)
    elif kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ParseError(f"{arg.name}: expected a number of seconds, got {text!r}", tok.col) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ParseError(f"{arg.name}: expected a finite number, got {text!r}", tok.col)
    elif kind == "var":
        if not NAME_RE.match(text):
            raise ParseError(f"{arg.name}: {text!r} is not a variable name (letters, digits, _)", tok.col)
        return text
    elif kind == "failure":
        if text.lower() not in FAILURE_NAMES and not errname_known(text):
            raise ParseError(f"{arg.name}: unknown failure kind {text!r}; one of "
                             + ", ".join(FAILURE_NAMES) + " or an errno name such as ECONNREFUSED", tok.col)
        return text.lower()
    else:
        if not text:
            raise ParseError(f"{arg.name}: empty value", tok.col)
        return text
    if arg.minimum is not None and value < arg.minimum:
        raise ParseError(f"{arg.name}: {text} is below the minimum {arg.minimum:.15g}", tok.col)
    if arg.maximum is not None and value > arg.maximum:
        raise ParseError(f"{arg.name}: {text} is above the maximum {arg.maximum:.15g}", tok.col)
    return value


_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[rnt0\\e]|x.{0,2}|.|$)", re.S)
_SIMPLE_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "e": b"\x1b"}


def decode_escapes(text: str, col: int = 1) -> bytes:
    """`\\r \\n \\t \\0 \\e \\\\ \\xNN` -> bytes; other text is UTF-8 encoded."""
    if "\\" not in text:
        return text.encode("utf-8", "surrogateescape")
    out = bytearray()
    last = 0
    for m in _ESCAPE_RE.finditer(text):
        out += text[last:m.start()].encode("utf-8", "surrogateescape")
        code = m.group(1)
        if code in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[code]
        elif len(code) == 3 and code[0] == "x" and all(c in "0123456789abcdefABCDEF" for c in code[1:]):
            out.append(int(code[1:], 16))
        elif code.startswith("x"):
            raise ParseError(f"malformed escape \\{code}: \\x takes two hex digits", col + m.start())
        elif code == "":
            raise ParseError("a trailing backslash escapes nothing (write \\\\ for a backslash)", col + m.start())
        else:
            raise ParseError(f"unknown escape \\{code} (known: \\r \\n \\t \\0 \\e \\\\ \\xNN)", col + m.start())
        last = m.end()
    out += text[last:].encode("utf-8", "surrogateescape")
    return bytes(out)


@record(frozen=True)
class Expectation:
    """What `expect` waits for: literal bytes, a bytes regex, or end of stream."""

    kind: str  # "text" | "regex" | "eof"
    source: str
    literal: bytes = b""
    pattern: "re.Pattern[bytes] | None" = None


def parse_expectation(text: str, col: int = 1) -> Expectation:
    if text == "eof":
        return Expectation("eof", text)
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        try:
            return Expectation("regex", text, pattern=re.compile(text[1:-1].encode("utf-8", "surrogateescape")))
        except re.error as exc:
            raise ParseError(f"bad regular expression: {exc.msg}", col + 1 + (exc.pos or 0)) from None
    return Expectation("text", text, literal=decode_escapes(text, col))


def _convert_rest(arg: Arg, text: str, col: int) -> Any:
    if arg.type == "escaped":
        return decode_escapes(text, col)
    if arg.type == "expect":
        return parse_expectation(text, col)
    return text


def suggest(word: str, names: list[str]) -> str:
    import difflib  # only to word an error: not worth its import on every start

    close = difflib.get_close_matches(word, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Parser:
    def __init__(self, registry: Registry):
        self.registry = registry

    def parse(self, line: str, variables: Mapping[str, str]) -> Parsed | None:
        """A line -> Parsed, or None for a blank line or a comment."""
        if len(line) > MAX_LINE:
            raise ParseError(f"line too long ({len(line)} characters, at most {MAX_LINE})", MAX_LINE + 1)
        bad = _CONTROL_RE.search(line)
        if bad:
            raise ParseError(f"control character {bad.group()!r} in the line; write it as an escape such as \\x1b",
                             bad.start() + 1)
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            return None
        return self._parse_at(line.rstrip(" \t"), len(line) - len(line.lstrip(" \t")), variables)

    def _parse_at(self, line: str, start: int, variables: Mapping[str, str]) -> Parsed:
        m = _WORD_RE.match(line, start)
        word = m.group()
        cmd = self.registry.get(word)
        if cmd is None:
            raise ParseError(f"unknown command {word!r}{suggest(word, self.registry.all_names())}; "
                             "`help` lists the commands", start + 1)
        pos = m.end()
        if cmd.subcommands:
            sm = _SUBWORD_RE.match(line, pos)
            if not sm:
                raise ParseError(f"{cmd.name}: expected one of {', '.join(cmd.subcommands)}", len(line) + 1)
            sub = cmd.subcommands.get(sm.group(1))
            if sub is None:
                raise ParseError(f"{cmd.name}: unknown setting {sm.group(1)!r}{suggest(sm.group(1), list(cmd.subcommands))}"
                                 f"; one of {', '.join(cmd.subcommands)}", sm.start(1) + 1)
            cmd, pos = sub, sm.end()
        parsed = self._parse_args(cmd, line, pos, variables)
        parsed.text = line[start:].strip(" \t")  # inside must-fail: the inner command only
        return parsed

    def _parse_args(self, cmd: Command, line: str, pos: int, variables: Mapping[str, str]) -> Parsed:
        text = line.strip(" \t")
        args_col = len(line) - len(line[pos:].lstrip(" \t")) + 1
        flags: set[str] = set()
        # Flags come first; a rest-of-line argument starts after them.
        while (fm := _FLAG_RE.match(line, pos)) and fm.group(1) in cmd.flags:
            flags.add(fm.group(1))
            pos = fm.end()
        args: dict[str, Any] = {}
        nested = None
        pending: tuple[Token, int] | None | object = _UNSEEN  # a token looked at but not taken (None: the end)
        deferred: ParseError | None = None  # why an optional argument was skipped

        def peek():
            nonlocal pending
            if pending is _UNSEEN:
                pending = next_token(line, pos, variables)
            return pending

        def take():
            nonlocal pending, pos
            tok, pos = peek()
            pending = _UNSEEN
            return tok

        for arg in cmd.args:
            if arg.rest:
                # One blank separates the command from its text; further blanks are data.
                start = pos + 1 if line[pos:pos + 1] in (" ", "\t") else pos
                raw = line[start:]
                if arg.type == "command":
                    body = raw.lstrip(" \t")
                    if not body:
                        raise ParseError(f"{arg.name}: missing command", len(line) + 1)
                    nested = self._parse_at(line, len(line) - len(body), variables)
                    args[arg.key] = nested
                elif raw:
                    expanded, cols = expand_mapped(raw, variables, start + 1)
                    try:
                        args[arg.key] = _convert_rest(arg, expanded, 1)
                    except ParseError as exc:  # point at the text as typed, not as expanded
                        exc.col = cols[exc.col - 1] if exc.col <= len(cols) else len(line) + 1
                        raise
                elif arg.optional:
                    args[arg.key] = arg.default
                else:
                    raise ParseError(f"missing {arg.name}; usage: {cmd.usage()}", len(line) + 1)
                pos = len(line)
                break
            found = peek()
            if arg.type == "redirect":
                if found and found[0].raw.startswith(">"):
                    tok = take()
                    if tok.raw == ">":
                        if peek() is None:
                            raise ParseError("> needs a file name", tok.col + 1)
                        args[arg.key] = take().text
                    else:
                        args[arg.key] = tok.text[1:]
                else:
                    args[arg.key] = None
                continue
            if found is None:
                if arg.optional:
                    args[arg.key] = arg.default
                    continue
                raise ParseError(f"missing {arg.name}; usage: {cmd.usage()}", len(line) + 1)
            try:
                args[arg.key] = _convert(arg, found[0])
                take()
            except ParseError as exc:
                if not arg.optional:
                    raise
                deferred = deferred or exc
                args[arg.key] = arg.default
        if (found := peek()) is not None:
            if deferred:
                raise deferred
            raise ParseError(f"unexpected argument {found[0].raw!r}; usage: {cmd.usage()}", found[0].col)
        if cmd.check:
            problem = cmd.check(args)
            if problem:
                raise ParseError(f"{problem}; usage: {cmd.usage()}", args_col)
        return Parsed(cmd, args, frozenset(flags), text, nested)
