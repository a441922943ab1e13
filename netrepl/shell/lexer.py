"""A Pygments lexer for netrepl commands and .nrs scripts, built on the parser.

Each line is walked by the parser itself (Parser.analyze); every word gets
the token its argument type gives it, and the word the parser would reject
is an Error token, so what is highlighted is what will run. Registered under
the `pygments.lexers` entry point (`pygmentize -l nrs`); netrepl itself
imports the class directly (a lookup by name scans every installed plugin).
Importable without prompt_toolkit.
"""

from __future__ import annotations

from typing import Mapping

from pygments.lexer import Lexer
from pygments.token import Error, Name, String, Text, Whitespace, string_to_tokentype

from netrepl.commands import REGISTRY
from netrepl.language.parser import Parser
from netrepl.language.tokens import VAR_RE, UnknownValues

PARSER = Parser(REGISTRY)


class _Line:
    """The token of each character of one line, and where a new token must start
    even if its type is the one before (each escape is a token of its own)."""

    def __init__(self, line: str):
        self.kinds: list = [Whitespace if ch in " \t" else Text for ch in line]
        self.starts: set[int] = set()

    def overlay(self, start: int, end: int, token) -> None:
        self.kinds[start:end] = [token] * (end - start)
        self.starts.add(start)


def line_tokens(line: str, variables: Mapping[str, str] | None = None) -> _Line:
    """The tokens of one line (no newline)."""
    lenient = variables is None
    trace, problem = PARSER.analyze(line, UnknownValues() if lenient else variables, lenient=lenient)
    out = _Line(line)
    kinds = out.kinds
    for start, end, token, arg in trace.spans:
        kind = string_to_tokentype(token)
        out.starts.add(start)
        for i in range(start, end):  # blanks between words stay blanks; in text and command words they belong
            if line[i] not in " \t" or arg is not None or token in ("Keyword", "Comment.Single"):
                kinds[i] = kind
        if arg is not None:  # rest-of-line text: its escapes
            spans = getattr(arg.type, "spans", None)
            for begin, stop, part in spans(line[start:end]) if spans else ():
                out.overlay(start + begin, start + stop, string_to_tokentype(part))
        if token not in ("Comment.Single", "Error"):
            _quotes_and_variables(line, start, end, out)
    if problem is not None and problem.col <= len(line) and kinds[problem.col - 1] is not Error:
        at = problem.col - 1
        stop = at
        while stop < len(line) and line[stop] not in " \t":
            stop += 1
        out.overlay(at, max(stop, at + 1), Error)
    return out


def _quotes_and_variables(line: str, start: int, end: int, out: _Line) -> None:
    kinds = out.kinds
    text = line[start:end]
    for quote, token in (('"', String.Double), ("'", String.Single)):
        at = text.find(quote)
        while at >= 0:
            close = text.find(quote, at + 1)
            if close < 0:
                break
            if kinds[start + at] is not Error:
                out.overlay(start + at, start + close + 1, token)
            at = text.find(quote, close + 1)
    for m in VAR_RE.finditer(text):
        if not m.group(5) and kinds[start + m.start()] is not String.Single:
            out.overlay(start + m.start(), start + m.end(), Name.Variable)


class NrsLexer(Lexer):
    """netrepl commands and .nrs scripts."""

    name = "netrepl"
    aliases = ["nrs", "netrepl"]
    filenames = ["*.nrs"]
    mimetypes = ["text/x-netrepl"]
    url = "https://pypi.org/project/netrepl/"
    # The shell sets the session's variables (a subclass per shell), so `$NAME` is checked
    # against its real value; elsewhere any variable may hold anything.
    variables: Mapping[str, str] | None = None

    def get_tokens_unprocessed(self, text):
        offset = 0
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            tokens = line_tokens(body, self.variables)
            kinds, starts = tokens.kinds, tokens.starts
            run = 0
            for i in range(1, len(body) + 1):
                if i == len(body) or kinds[i] is not kinds[run] or i in starts:
                    yield offset + run, kinds[run], body[run:i]
                    run = i
            if len(line) > len(body):
                yield offset + len(body), Whitespace, line[len(body):]
            offset += len(line)


def session_lexer(variables: Mapping[str, str]) -> type[NrsLexer]:
    """The lexer class for one shell: `$NAME` checked against that session's variables (read live)."""
    return type("SessionNrsLexer", (NrsLexer,), {"variables": variables})
