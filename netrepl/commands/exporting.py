"""`export OUT.py`: write the session so far as a plain Python program."""

from __future__ import annotations

from netrepl.language.argtypes import Path
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


@COMMANDS.command("export", Arg("PATH", Path(), "path"),
                  help="write the session so far as a runnable Python program (standard library only)",
                  details="Each command that ran becomes the socket call it stands for (as `record` would write "
                          "it: a failure as must-fail, a lab server as a comment naming it, its port as the "
                          "program's --lab-port option). `netrepl export FILE.nrs` does the same for a script. "
                          "Commands with no socket equivalent (help, record, source) are refused with their line.")
def _export(ex, a, flags):
    # Imported here: the generator is for this command alone, not for every start-up.
    from netrepl.export.session import export_session

    return export_session(ex, a["path"])
