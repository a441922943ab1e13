"""One line of text -> a command with typed arguments.

Every argument is converted by its argument type (argtypes.py). Errors
carry the 1-based column of the offending text in the line as typed, so
scripts report FILE:LINE:COL and the shell can point at it.

The same walk over a line also serves the lexer and completion: given a
`Trace`, the parser notes what each word was (command, flag, which argument)
and, for the text before the cursor, which arguments could come next. So
highlighting and completion see quotes, variables, flags and optional
arguments exactly as the parser does.
"""

from __future__ import annotations

from collections.abc import Mapping

from netrepl.base.fastdata import field, datatype
from netrepl.language.argtypes import ArgError, Mismatch, NotForThis, did_you_mean
from netrepl.language.registry import Arg, Command, Registry
from netrepl.language.tokens import NAME_RE, ParseError, Token, expand_mapped, next_token  # noqa: F401
from netrepl.base.patterns import lazy

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_LINE = 65536
MAX_NESTING = 8  # `must-fail K must-fail K ...`: each level is a Python call, and a line may hold 4,000 of them
_FLAG_RE = lazy(r"[ \t]+(-[A-Za-z]|--[a-z][a-z-]+)(?=[ \t]|$)")  # -k, or a word flag: `tls --server`
_WORD_RE = lazy(r"[^ \t]+")
_SUBWORD_RE = lazy(r"[ \t]*([^ \t]+)")
_CONTROL_RE = lazy(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_ALONE_RE = lazy(r"[ \t]+<(?=[ \t]|$)")  # an input redirect: `<` alone as a word
_UNSEEN = object()  # Parser._parse_args: no token looked at yet


@datatype
class Parsed:
    command: Command
    args: dict[str, Any]
    flags: frozenset[str] = frozenset()
    text: str = ""  # the line as typed, stripped
    nested: "Parsed | None" = None  # the command inside `must-fail`
    vars_used: tuple[str, ...] = field(default_factory=tuple)
    # 1-based column in the line where each argument given was typed (dest -> col): what
    # `netrepl export` reads to turn a `$NAME` in an argument into the program's option.
    cols: dict[str, int] = field(default_factory=dict)


class Trace:
    """What the parser saw, for the lexer (`spans`) and completion (`expected`).

    spans: (start, end, token, arg) with 0-based offsets and a Pygments token
    name from the argument's type ("Keyword" for command words); `arg` is set
    for rest-of-line text, which the lexer colours further (escapes).
    With `partial` (the text before the cursor, its last word removed), the
    parser stops where the words run out and sets `expected` to what may come
    next: (command, args so far, candidate arguments, flags still allowed), or
    ("subcommand", command) or ("command",) for a command name.
    With `lenient`, a word holding a `$` whose value does not fit is taken as
    it is (a lexer without the session's variables cannot know their values).
    """

    def __init__(self, partial: bool = False, lenient: bool = False):
        self.partial, self.lenient = partial, lenient
        self.spans: list[tuple[int, int, str, Arg | None]] = []
        self.expected: tuple | None = None


class _Stop(Exception):
    """A partial parse ran out of words (Trace.expected says what comes next)."""


def _expected(arg: Arg) -> str:
    return arg.usage().strip("[]")  # built only for an error: conversion runs for every argument


class Parser:
    def __init__(self, registry: Registry):
        self.registry = registry

    def parse(self, line: str, variables: Mapping[str, str], trace: Trace | None = None) -> Parsed | None:
        """A line -> Parsed, or None for a blank line or a comment."""
        if len(line) > MAX_LINE:
            raise ParseError(f"line too long ({len(line)} characters, at most {MAX_LINE})", MAX_LINE + 1)
        bad = _CONTROL_RE.search(line)
        if bad:
            raise ParseError(f"control character {bad.group()!r} in the line; write it as an escape such as \\x1b",
                             bad.start() + 1)
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            if trace is not None and stripped:
                trace.spans.append((line.index("#"), len(line), "Comment.Single", None))
            if trace is not None and trace.partial:
                trace.expected = ("command",) if not stripped else None
            return None
        return self._parse_at(line.rstrip(" \t"), len(line) - len(line.lstrip(" \t")), variables, trace)

    def analyze(self, line: str, variables: Mapping[str, str], partial: bool = False,
                lenient: bool = False) -> tuple[Trace, ParseError | None]:
        """parse() with a Trace; never raises: the error (if any) is returned beside it."""
        trace = Trace(partial, lenient)
        try:
            self.parse(line, variables, trace)
        except _Stop:
            return trace, None
        except ParseError as exc:
            return trace, exc
        return trace, None

    def _parse_at(self, line: str, start: int, variables: Mapping[str, str], trace: Trace | None,
                  depth: int = 0) -> Parsed:
        m = _WORD_RE.match(line, start)
        if m is None:  # a partial line that ends right after `must-fail KIND `
            trace.expected = ("command",)
            raise _Stop()
        word = m.group()
        cmd = self.registry.get(word)
        if cmd is None:
            raise ParseError(f"unknown command {word!r}{did_you_mean(word, self.registry.all_names())}; "
                             "`help` lists the commands", start + 1)
        if trace is not None:
            trace.spans.append((m.start(), m.end(), "Keyword", None))
        pos = m.end()
        if cmd.subcommands:
            sm = _SUBWORD_RE.match(line, pos)
            if not sm:
                if trace is not None and trace.partial:
                    trace.expected = ("subcommand", cmd)
                    raise _Stop()
                if trace is not None:  # `set` alone is not a command yet
                    trace.spans[-1] = (m.start(), m.end(), "Error", None)
                raise ParseError(f"{cmd.name}: expected one of {', '.join(cmd.subcommands)}", len(line) + 1)
            sub = cmd.subcommands.get(sm.group(1))
            if sub is None:
                raise ParseError(f"{cmd.name}: unknown setting {sm.group(1)!r}"
                                 f"{did_you_mean(sm.group(1), list(cmd.subcommands))}"
                                 f"; one of {', '.join(cmd.subcommands)}", sm.start(1) + 1)
            if trace is not None:
                trace.spans[-1] = (m.start(), sm.end(1), "Keyword", None)  # `set eol` is one command word
            cmd, pos = sub, sm.end()
        return self._parse_args(cmd, line, start, pos, variables, trace, depth)

    def _flags(self, cmd: Command, line: str, pos: int, flags: set, trace: Trace | None) -> int:
        while (fm := _FLAG_RE.match(line, pos)) and fm.group(1) in cmd.flags:
            flags.add(fm.group(1))
            if trace is not None:
                trace.spans.append((fm.start(1), fm.end(1), "Name.Attribute", None))
            pos = fm.end()
        return pos

    def _parse_args(self, cmd: Command, line: str, start: int, pos: int, variables: Mapping[str, str],
                    trace: Trace | None, depth: int = 0) -> Parsed:
        """The arguments of `cmd` from `pos` on; `start` is where the command's name begins."""
        end = len(line)  # where the command's text ends (before a trailing comment)
        args_col = len(line) - len(line[pos:].lstrip(" \t")) + 1
        flags: set[str] = set()
        pos = self._flags(cmd, line, pos, flags, trace)  # flags come first
        args: dict[str, Any] = {}
        cols: dict[str, int] = {}  # where each argument was typed, for a check pointing at one
        typed: dict[str, int] = {}  # and where text and `> PATH` were (Parsed.cols has both)
        nested = None
        pending: tuple[Token, int] | None | object = _UNSEEN  # a token looked at but not taken (None: the end)
        deferred: ParseError | None = None  # why an optional argument was skipped
        registry = self.registry

        def peek():
            nonlocal pending, end
            if pending is _UNSEEN:
                found = next_token(line, pos, variables)
                if found is not None and found[0].raw.startswith("#"):
                    # A trailing comment ends the words (rest-of-line text keeps its `#`).
                    end = found[0].col - 1
                    found = None
                    if trace is not None:
                        trace.spans.append((end, len(line), "Comment.Single", None))
                pending = found
            return pending

        def take():
            nonlocal pending, pos
            tok, pos = peek()
            pending = _UNSEEN
            return tok

        def stop(candidates: list[Arg]):
            trace.expected = (cmd, args, candidates, tuple(f for f in cmd.flags if f not in flags))
            raise _Stop()

        for arg in cmd.args:
            if arg.rest:
                if args and cmd.flags:  # flags may also stand right before the text (`sendto H P -n TEXT`)
                    pos = self._flags(cmd, line, pos, flags, trace)
                arg = arg.for_flags(flags)  # `send -x`: the text is hex
                # One blank separates the command from its text; further blanks are data.
                begin = pos + 1 if line[pos:pos + 1] in (" ", "\t") else pos
                raw = line[begin:end]  # `end`: before a comment only after `< PATH`
                cut = arg.type.comment_at(raw) if hasattr(arg.type, "comment_at") else None
                if cut is not None:  # `expect /REGEX/  # why`: the type says where its text ends
                    if trace is not None:
                        hash_at = begin + cut + len(raw[cut:]) - len(raw[cut:].lstrip(" \t"))
                        trace.spans.append((hash_at, len(line), "Comment.Single", None))
                    end = begin + cut
                    raw = raw[:cut]
                cols[arg.dest] = begin + 1
                if arg.type.name == "command":
                    body = raw.lstrip(" \t")
                    if not body:
                        if trace is not None and trace.partial:
                            trace.expected = ("command",)
                            raise _Stop()
                        raise ParseError(f"{arg.name}: missing command", len(line) + 1)
                    if depth >= MAX_NESTING:
                        raise ParseError(f"commands nested more than {MAX_NESTING} deep", len(line) - len(body) + 1)
                    nested = self._parse_at(line, len(line) - len(body), variables, trace, depth + 1)
                    args[arg.dest] = nested
                    end = len(line) - len(body) + len(nested.text)  # the inner command's trailing comment
                elif trace is not None and trace.partial:
                    stop([arg] if not raw.strip(" \t") else [])
                elif raw:
                    typed[arg.dest] = begin + 1
                    if trace is not None:
                        trace.spans.append((begin, end, arg.type.token, arg))
                    expanded, where = expand_mapped(raw, variables, begin + 1)
                    try:
                        args[arg.dest] = arg.type.convert(expanded, args, registry)
                    except ArgError as exc:  # point at the text as typed, not as expanded
                        at = exc.offset + 1
                        col = where[at - 1] if at <= len(where) else len(line) + 1
                        raise ParseError(exc.message, col) from None
                elif arg.optional:
                    args[arg.dest] = arg.default
                else:
                    raise ParseError(f"missing {arg.name}; usage: {cmd.usage()}", len(line) + 1)
                pos = len(line)
                pending = None
                break
            if arg.dest in args:
                continue  # given already by an earlier word (`connect HOST:PORT`)
            if not arg.type.applies(args):  # `recv all` has no AMOUNT: it is not in the args at all
                continue
            if arg.type.name == "redirect":
                symbol = arg.type.symbol
                if not arg.type.attached and pending is _UNSEEN:
                    # Only a `<` standing alone redirects; otherwise the words are not looked at
                    # here, so a `#` in the text after them stays text.
                    found = peek() if _ALONE_RE.match(line, pos) else None
                else:
                    found = peek()
                if found and (found[0].raw == symbol or (arg.type.attached and found[0].raw.startswith(symbol))):
                    tok = take()
                    if trace is not None:
                        trace.spans.append((tok.col - 1, tok.col, "Operator", None))
                    if symbol == ">" and tok.raw.startswith(">>"):  # a shell's append: it made a file `>PATH`
                        raise ParseError("`>>` (append) is not supported: `> PATH` writes the file anew",
                                         tok.col + 1)
                    if tok.raw == symbol:
                        if peek() is None:
                            if trace is not None and trace.partial:
                                stop([arg])
                            raise ParseError(f"{symbol} needs a file name", tok.col + 1)
                        target = take()
                        args[arg.dest] = target.text
                        typed[arg.dest] = target.col
                        if trace is not None:
                            trace.spans.append((target.col - 1, target.col - 1 + len(target.raw), "String", None))
                        if not arg.type.attached:
                            cols[arg.dest] = tok.col
                            peek()  # a trailing comment after the file name ends the words
                    else:
                        args[arg.dest] = tok.text[1:]
                        typed[arg.dest] = tok.col + 1
                        if trace is not None:
                            trace.spans.append((tok.col, tok.col - 1 + len(tok.raw), "String", None))
                else:
                    if found is None and trace is not None and trace.partial and not line[pos:end].strip(" \t"):
                        stop([arg])
                    args[arg.dest] = None
                continue
            found = peek()
            if found is None:
                if trace is not None and trace.partial:
                    stop([arg])
                if arg.optional:
                    args[arg.dest] = arg.default
                    continue
                raise ParseError(f"missing {arg.name}; usage: {cmd.usage()}", len(line) + 1)
            tok = found[0]
            try:
                value = arg.type.words.get(tok.text, _UNSEEN) if arg.type.words else _UNSEEN
                args[arg.dest] = arg.type.convert(tok.text, args, registry) if value is _UNSEEN else value
                cols[arg.dest] = tok.col
                take()
                if trace is not None:
                    trace.spans.append((tok.col - 1, tok.col - 1 + len(tok.raw),
                                        arg.type.lex(tok.text, args, registry), None))
            except ArgError as exc:
                if trace is not None and trace.lenient and "$" in tok.raw:
                    args[arg.dest] = tok.text  # a variable's value is unknown here: take the word as it is
                    take()
                    trace.spans.append((tok.col - 1, tok.col - 1 + len(tok.raw), "Name.Other", None))
                    continue
                message = (f"{arg.name}: expected {_expected(arg)}, got {tok.text!r}" if isinstance(exc, Mismatch)
                           else f"{arg.name}: {exc.message}")
                # Within the word where it was typed as is (quotes would shift the offset).
                error = ParseError(message, tok.col + (exc.offset if tok.raw == tok.text else 0))
                if not arg.optional:
                    raise error from None
                deferred = deferred or (None if isinstance(exc, NotForThis) else error)
                args[arg.dest] = arg.default
        if (found := peek()) is not None:
            if deferred:
                raise deferred
            raise ParseError(f"unexpected argument {found[0].raw!r}; usage: {cmd.usage()}", found[0].col)
        for arg in cmd.args:  # a type's rule on its value once every word is in (`help COMMAND SETTING`)
            final = getattr(arg.type, "check_parsed", None)
            if final is not None and (problem := final(args.get(arg.dest), args, registry)):
                raise ParseError(f"{arg.name}: {problem}", cols.get(arg.dest, args_col))
        for rule in (cmd.check, cmd.flags_check):
            if rule is None:
                continue
            problem = rule(args) if rule is cmd.check else rule(args, frozenset(flags))
            if problem:
                message, dest = problem if isinstance(problem, tuple) else (problem, None)
                col = len(line) + 1 if dest == "end" else cols.get(dest, args_col)
                raise ParseError(f"{message}; usage: {cmd.usage()}", col)
        return Parsed(cmd, args, frozenset(flags), line[start:end].strip(" \t"), nested, cols={**cols, **typed})
