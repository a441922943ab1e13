"""What kind of word goes at the cursor: a pure function over the parser.

The text before the cursor, less the word being typed, is walked by the
parser itself (Parser.analyze with partial=True), so quotes, variables,
flags, optional arguments and `must-fail` nesting are seen exactly as when
the line runs; the argument type found there says what to offer. The
prompt_toolkit completer (completer.py) only turns these suggestions into
Completion objects, so this part is tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from netrepl.language.parser import Parser
from netrepl.language.registry import Registry
from netrepl.language.tokens import UnknownValues

SERVICES_FILE = "/etc/services"


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "command" | "words" | "host" | "service" | "path" | "none"
    word: str  # the partial word at the cursor
    words: tuple[str, ...] = ()  # candidates for "command"/"words", and fixed extras for host/service/path
    label: str = ""  # what the word is (an argument's name), shown beside candidates


@lru_cache(maxsize=1)
def service_names(path: str = SERVICES_FILE) -> tuple[str, ...]:
    """Service names and aliases from the system services database."""
    names: set[str] = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and "/" in fields[1]:
                    names.add(fields[0])
                    names.update(fields[2:])
    except OSError:
        pass
    return tuple(sorted(names))


@lru_cache(maxsize=8)
def _parser(registry: Registry) -> Parser:
    return Parser(registry)


def suggest(line: str, registry: Registry, variables: Mapping[str, str] | None = None) -> Suggestion:
    """For the text before the cursor, what could the word under it be?"""
    # The word after the last blank (a `[^ \t]*$` search was quadratic: 2 minutes for a 64 kB line).
    word = line[max(line.rfind(" "), line.rfind("\t")) + 1:]
    head = line[:len(line) - len(word)]
    if word.startswith(('"', "'")) and word.count(word[0]) == 1:
        return Suggestion("none", word)  # inside an unfinished quote: nothing sensible to offer
    known = variables if variables is not None else UnknownValues()
    trace, problem = _parser(registry).analyze(head, known, partial=True, lenient=variables is None)
    expected = trace.expected
    if problem is not None or expected is None:
        return Suggestion("none", word)
    if expected[0] == "command":
        return Suggestion("command", word, tuple(sorted(registry.all_names())))
    if expected[0] == "subcommand":
        return Suggestion("words", word, tuple(expected[1].subcommands), "setting")
    cmd, args, candidates, flags = expected
    if not candidates:
        return Suggestion("none", word)
    arg = candidates[0]
    if arg.rest:  # free text: only the flags that may still come before it
        return Suggestion("words", word, flags) if flags and not args else Suggestion("none", word)
    offered = arg.type.candidates(arg.name, args, registry)
    if arg.type.name == "redirect":
        symbol = arg.type.symbol
        if head.rstrip(" \t").endswith(symbol):
            return Suggestion("path", word, (), "path")
        if word.startswith(symbol) and arg.type.attached:  # `recv all >PATH`, as the parser accepts
            return Suggestion("path", word[1:], (), "path")
        if not arg.type.attached and word and not symbol.startswith(word) and not word.startswith("-"):
            return Suggestion("none", word)  # `send hel`: the text has begun
        return Suggestion("words", word, (flags if not args else ()) + (symbol,))
    extra = flags if not args else ()
    if offered.kind == "words":
        return Suggestion("words", word, extra + offered.words, offered.label or arg.name)
    return Suggestion(offered.kind, word, offered.words, offered.label)
