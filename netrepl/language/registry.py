"""The command registry: one description of every command.

A `Command` names its arguments (`Arg`: a display name, an argument type
from argtypes.py, the key a handler reads, optional/default), its flags, its
help and a per-command `check`. Parsing, `help`, completion, the lexer and
the whole-script check all read these specs, so adding a command touches one
place (its registration in netrepl/commands/).
"""

from __future__ import annotations

from collections.abc import Callable

from netrepl.base.fastdata import field, datatype
from netrepl.language.argtypes import ArgType

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@datatype(frozen=True)
class Arg:
    """One positional argument: `name` is shown in usage, `dest` is the key handlers read."""

    name: str
    type: ArgType
    dest: str
    optional: bool = False
    default: Any = None
    help: str = ""
    # (flag, type) pairs: with that flag given, a rest-of-line argument is read as that type
    # instead (`send -x HEX`), so the parser, the lexer and the validator all see the same one.
    by_flag: tuple = ()

    # Read for every argument of every parsed line: plain attributes, not properties.
    def __post_init__(self) -> None:
        object.__setattr__(self, "rest", self.type.rest)

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.type.words)

    @property
    def key(self) -> str:
        return self.dest

    def usage(self) -> str:
        text = self.type.usage(self.name)
        return f"[{text}]" if self.optional else text

    def for_flags(self, flags) -> "Arg":
        """This argument as the flags given make it read (itself when none changes it)."""
        for flag, kind in self.by_flag:
            if flag in flags:
                return Arg(self.name, kind, self.dest, self.optional, self.default, self.help)
        return self


# A per-command rule checked once every argument has parsed: None when the
# arguments go together, else a message, or (message, dest) to point at one argument
# (dest "end": just past the line, for something missing).
# It may also normalise the arguments in place (`connect HOST:PORT`).
Check = Callable[[dict], "str | tuple[str, str] | None"]
# The same, for rules that involve the flags too (`send -x` takes no `< PATH`): (args, flags).
FlagsCheck = Callable[[dict, frozenset], "str | tuple[str, str] | None"]


@datatype
class Command:
    name: str
    args: tuple[Arg, ...]
    help: str
    handler: Callable[..., Any] | None = None
    aliases: tuple[str, ...] = ()
    flags: dict[str, str] = field(default_factory=dict)
    # Sub-commands chosen by the first word (e.g. `set eol`, `set var`).
    subcommands: dict[str, "Command"] = field(default_factory=dict)
    check: Check | None = None
    flags_check: FlagsCheck | None = None
    # Longer explanation shown by `help COMMAND`.
    details: str = ""
    # Not empty: the command needs a person at the shell's prompt (`interact`); the whole-script
    # check refuses it in a script with these words.
    shell_only: str = ""

    def usage(self) -> str:
        if self.subcommands:
            return "\n".join(sub.usage() for sub in self.subcommands.values())
        parts = [self.name]
        parts += [f"[{flag}]" for flag in self.flags]
        parts += [arg.usage() for arg in self.args]
        return " ".join(parts)


class CommandSet:
    """The commands of one module of netrepl/commands/, collected by decorators
    and added to a Registry as a whole (so no module needs a global registry)."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self._subs: list[tuple[str, Command]] = []

    def command(self, name: str, *args: Arg, help: str, **kw: Any):
        """Decorator: register the decorated function as the handler of `name`."""

        def register(fn):
            self.commands.append(Command(name, tuple(args), help, handler=fn, **kw))
            return fn

        return register

    def group(self, name: str, help: str, details: str = "") -> None:
        """A command made of sub-commands (`set`), each added with `sub`."""
        self.commands.append(Command(name, (), help, details=details))

    def sub(self, parent: str, name: str, *args: Arg, help: str, **kw: Any):
        """Decorator: register a sub-command (`set eol ...`) of the group `parent`."""

        def register(fn):
            self._subs.append((parent, Command(f"{parent} {name}", tuple(args), help, handler=fn, **kw)))
            return fn

        return register


class Registry:
    """The commands, by name. A source is a CommandSet, or a callable that gives one: an
    area of netrepl/commands/ imported when the registry first needs it (see `get`)."""

    def __init__(self, *sources: CommandSet | Callable[[], CommandSet]) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}
        self._pending = list(sources)
        while self._pending and not callable(self._pending[0]):
            self.extend(self._pending.pop(0))

    def add(self, command: Command) -> Command:
        if command.name in self._commands or command.name in self._aliases:
            raise ValueError(f"command {command.name!r} registered twice")
        self._commands[command.name] = command
        for alias in command.aliases:
            self._aliases[alias] = command.name
        return command

    def extend(self, commands: CommandSet) -> None:
        for command in commands.commands:
            self.add(command)
        for parent, sub in commands._subs:
            self._commands[parent].subcommands[sub.name.split(" ", 1)[1]] = sub

    def _load_next(self) -> bool:
        if not self._pending:
            return False
        source = self._pending.pop(0)
        self.extend(source() if callable(source) else source)
        return True

    def load_all(self) -> "Registry":
        while self._load_next():
            pass
        return self

    def get(self, name: str) -> Command | None:
        """The command (or alias) `name`. Areas are loaded in their order until it is found,
        so a script of socket commands never imports the TLS, lab or export areas; a group
        (`set`) loads them all, since any area may add a setting to it (`set tls`)."""
        while True:
            cmd = self._commands.get(self._aliases.get(name, name))
            if cmd is not None:
                if cmd.handler is None and self._pending:
                    self.load_all()
                return cmd
            if not self._load_next():
                return None

    def names(self) -> list[str]:
        return list(self.load_all()._commands)

    def all_names(self) -> list[str]:
        return list(self.load_all()._commands) + list(self._aliases)

    def __iter__(self):
        return iter(self.load_all()._commands.values())
