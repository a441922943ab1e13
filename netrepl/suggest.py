"""What kind of word goes at the cursor: a pure function over the registry.

The prompt_toolkit completer (completer.py) only turns these suggestions
into Completion objects, so this part is tested without a terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from netrepl.core.errors import FAILURE_NAMES
from netrepl.language.registry import Command, Registry

SERVICES_FILE = "/etc/services"


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "command" | "words" | "host" | "service" | "path" | "none"
    word: str  # the partial word at the cursor
    words: tuple[str, ...] = ()  # candidates for "command"/"words", and fixed extras for host/service
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


_WORD_END = re.compile(r"[^ \t]*$")
_MUST_FAIL_HEAD = re.compile(r"[ \t]*must-fail[ \t]+[^ \t]+[ \t]+")


def suggest(line: str, registry: Registry) -> Suggestion:
    """For the text before the cursor, what could the word under it be?"""
    word = _WORD_END.search(line).group()
    before = line[: len(line) - len(word)].split()
    if not before:
        return Suggestion("command", word, tuple(sorted(registry.all_names())))
    cmd = registry.get(before[0])
    if cmd is None:
        return Suggestion("none", word)
    if cmd.name == "must-fail":  # must-fail KIND COMMAND...: complete the kind, then a command
        inner = _MUST_FAIL_HEAD.match(line)
        if inner is None:
            return Suggestion("words", word, FAILURE_NAMES, "failure kind")
        return suggest(line[inner.end():], registry)
    rest = before[1:]
    if cmd.subcommands:
        if not rest:
            return Suggestion("words", word, tuple(cmd.subcommands), "setting")
        sub = cmd.subcommands.get(rest[0])
        if sub is None:
            return Suggestion("none", word)
        cmd, rest = sub, rest[1:]
    return _for_argument(cmd, rest, word, registry)


def _for_argument(cmd: Command, rest: list[str], word: str, registry: Registry) -> Suggestion:
    positional = [w for w in rest if w not in cmd.flags]
    flags = tuple(f for f in cmd.flags if f not in rest)
    index = 0
    for arg in cmd.args:
        if arg.rest:
            return Suggestion("words", word, flags) if not positional and flags else Suggestion("none", word)
        if arg.type == "redirect":
            if positional[index:index + 1] == [">"]:
                return Suggestion("path", word)
            if index >= len(positional):
                if word.startswith(">"):  # `recv all >PATH`, as the parser accepts
                    return Suggestion("path", word[1:], (), "path")
                return Suggestion("words", word, (">",))
            index += 1
            continue
        if index < len(positional):
            token = positional[index]
            if arg.optional and token not in arg.choices and arg.type is None:
                continue  # an optional word that was skipped: the token belongs to a later argument
            index += 1
            continue
        if cmd.name == "help":
            return Suggestion("words", word, tuple(sorted(registry.names())), "command")
        if arg.type == "host":
            return Suggestion("host", word, ("localhost", "127.0.0.1", "::1"), "host")
        if arg.type == "port":
            return Suggestion("service", word, arg.choices, "service")
        if arg.type == "path":
            return Suggestion("path", word, arg.choices, "path")
        return Suggestion("words", word, flags + arg.choices if not rest else arg.choices, arg.name)
    return Suggestion("none", word)
