"""The command registry: one description of every command.

Parsing, `help`, completion and the lexer's keywords are all derived from
the `Command`/`Arg` specs held here, so adding a command touches one place.
"""

from __future__ import annotations

from functools import cached_property
from collections.abc import Callable

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from netrepl.fastdata import field, record


@record(frozen=True)
class Arg:
    """One positional argument.

    `choices` are words taken verbatim; `type` says what else is accepted
    (None: only the choices). Types: int, float, str, port (a number or a
    service name), path, host, var, failure, command, redirect.
    `rest` takes the rest of the line as raw text (escapes decoded later).
    """

    name: str
    type: str | None = "str"
    choices: tuple[str, ...] = ()
    optional: bool = False
    default: Any = None
    rest: bool = False
    minimum: float | None = None
    maximum: float | None = None
    # Maps a choice to the value handlers receive (e.g. "wr" -> 1).
    values: dict[str, Any] = field(default_factory=dict)
    help: str = ""

    @cached_property  # read for every argument of every parsed line
    def key(self) -> str:
        return self.name.lower().replace(" ", "_").strip("<>_")

    def usage(self) -> str:
        if self.type == "redirect":
            text = "> PATH"
        elif self.choices and self.type is None:
            text = "|".join(self.choices)
        elif self.choices:
            text = f"{self.name}|" + "|".join(self.choices)
        else:
            text = self.name + ("..." if self.rest else "")
        return f"[{text}]" if self.optional else text


@record
class Command:
    name: str
    args: tuple[Arg, ...]
    help: str
    handler: Callable[..., Any] | None = None
    aliases: tuple[str, ...] = ()
    flags: dict[str, str] = field(default_factory=dict)
    # Sub-commands chosen by the first word (e.g. `set eol`, `set var`).
    subcommands: dict[str, "Command"] = field(default_factory=dict)
    # Extra check at parse time: args -> error message or None.
    check: Callable[[dict], str | None] | None = None
    # Longer explanation shown by `help COMMAND`.
    details: str = ""

    def usage(self) -> str:
        if self.subcommands:
            return "\n".join(sub.usage() for sub in self.subcommands.values())
        parts = [self.name]
        parts += [f"[{flag}]" for flag in self.flags]
        parts += [arg.usage() for arg in self.args]
        return " ".join(parts)


class Registry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}

    def add(self, command: Command) -> Command:
        if command.name in self._commands:
            raise ValueError(f"command {command.name!r} registered twice")
        self._commands[command.name] = command
        for alias in command.aliases:
            self._aliases[alias] = command.name
        return command

    def command(self, name: str, *args: Arg, help: str, **kw: Any):
        """Decorator: register the decorated function as the handler."""

        def register(fn):
            self.add(Command(name, tuple(args), help, handler=fn, **kw))
            return fn

        return register

    def sub(self, parent: str, name: str, *args: Arg, help: str, **kw: Any):
        """Decorator: register a sub-command (`set eol ...`) of `parent`."""

        def register(fn):
            top = self._commands.get(parent)
            if top is None:
                top = self.add(Command(parent, (), help=f"{parent} a setting"))
            sub = Command(f"{parent} {name}", tuple(args), help, handler=fn, **kw)
            top.subcommands[name] = sub
            return fn

        return register

    def get(self, name: str) -> Command | None:
        return self._commands.get(self._aliases.get(name, name))

    def names(self) -> list[str]:
        return list(self._commands)

    def all_names(self) -> list[str]:
        return list(self._commands) + list(self._aliases)

    def __iter__(self):
        return iter(self._commands.values())

    def keywords(self) -> set[str]:
        """Every fixed word an argument can take (for the lexer and completion)."""
        words: set[str] = set()
        for cmd in self:
            for sub in [cmd, *cmd.subcommands.values()]:
                words.update(sub.subcommands)
                words.update(sub.flags)
                for arg in sub.args:
                    if arg.type != "failure":
                        words.update(arg.choices)
        return words
