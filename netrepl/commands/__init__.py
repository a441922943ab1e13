"""Every command netrepl knows, assembled into the one registry.

Each module here registers the commands of one area (a CommandSet) with
their arguments, help and handlers; adding a command touches only the
module where it belongs, and a new module is one more name below.
Handlers take (executor, args, flags) and return a Result (or, for
`source`, the Steps of the script they run). They never print.
"""

from netrepl.commands import (exporting, helptext, labs, listening, names, receiving, scripting, sending, settings,
                              sockets, sockopts, starttls, timing, tlscmds)
from netrepl.commands.common import MAX_RECV  # noqa: F401 (read by tests)
from netrepl.language.registry import Registry

REGISTRY = Registry(sockets.COMMANDS, listening.COMMANDS, names.COMMANDS, sending.COMMANDS, receiving.COMMANDS,
                    scripting.CHECKS, settings.COMMANDS, sockopts.COMMANDS, tlscmds.COMMANDS, starttls.COMMANDS,
                    labs.COMMANDS, timing.COMMANDS, scripting.COMMANDS, exporting.COMMANDS, helptext.COMMANDS)
