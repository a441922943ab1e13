"""`help` (from the registry the executor was given) and `exit`."""

from __future__ import annotations

from netrepl.core.errors import failure
from netrepl.core.results import Result
from netrepl.language.argtypes import CommandName, SettingOf
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


@COMMANDS.command("help", Arg("COMMAND", CommandName(), "command", optional=True),
                  Arg("SETTING", SettingOf("command"), "setting", optional=True),
                  help="list the commands, or explain one (`help set eol`)")
def _help(ex, a, flags):
    registry = ex.registry
    name = a["command"]
    if name is None:
        width = max(len(c.name) for c in registry)
        lines = [f"{c.name:<{width}}  {c.help}" for c in registry]
        lines.append("\n`help COMMAND` shows its arguments. Lines starting with # are comments (also after "
                     "the words of a command, but not inside text such as send's); "
                     "$NAME and ${NAME:-default} expand variables.")
        return Result(text="\n".join(lines))
    cmd = registry.get(name)  # known: checked when the line was parsed
    setting = a["setting"]
    if setting is not None:
        if setting not in cmd.subcommands:
            known = ", ".join(cmd.subcommands) or "none"
            return Result(error=failure("usage", "help", f"{cmd.name} has no setting {setting!r} (settings: {known})"))
        cmd = cmd.subcommands[setting]
    parts = [f"usage: {cmd.usage()}".replace("\n", "\n       "), "", cmd.help]
    parts += [f"  {sub.name:<12} {sub.help}" for sub in cmd.subcommands.values()]
    if cmd.details:
        parts += ["", cmd.details]
    if cmd.aliases:
        parts += ["", "also: " + ", ".join(cmd.aliases)]
    return Result(text="\n".join(parts))


@COMMANDS.command("exit", help="leave netrepl (closes the socket)", aliases=("quit",))
def _exit(ex, a, flags):
    return Result(exit=True)
