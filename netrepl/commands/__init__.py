"""Every command netrepl knows, assembled into the one registry.

Each module here registers the commands of one area (a CommandSet) with
their arguments, help and handlers; adding a command touches only the
module where it belongs, and a new module is one more name below.
Handlers take (executor, args, flags) and return a Result (or, for
`source`, the Steps of the script they run). They never print.

An area is imported when the registry first looks past the areas before
it (language/registry.py `get`): `netrepl -c "lookup http tcp"` loads one
area of sixteen, a script that connects, sends and receives five. That
keeps ~10M instructions, a fifth of what netrepl added to the interpreter's
start, off most runs (docs/bench.md). The order below is `help`'s order.
"""

from netrepl.commands.common import MAX_RECV  # noqa: F401 (read by tests)
from netrepl.language.registry import Registry


def _area(module: str, attribute: str = "COMMANDS"):
    return lambda: getattr(__import__(f"netrepl.commands.{module}", fromlist=(attribute,)), attribute)


AREAS = (*map(_area, ("sockets", "listening", "names", "sending", "receiving", "interacting")), _area("scripting", "CHECKS"),
         *map(_area, ("settings", "sockopts", "tlscmds", "starttls", "proxying", "redacting", "labs", "relaying", "timing")),
         _area("scripting"), _area("exporting"), _area("helptext"))
REGISTRY = Registry(*AREAS)
