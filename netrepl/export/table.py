"""THE table of `netrepl export`: command name -> the function writing its code.

Each emitter writes, into main() of the program (program.py), the socket call
the command stands for: emitters.py for the socket commands, listenemit.py for the
server side (listen, accept, reply, client, close), namesemit.py for resolve, reverse,
setsockopt and timing, tlsemit.py for tls, set tls and starttls, scripting.py for
must-fail, print, set, serve, source and the rest. A command added to netrepl
is exported once it has an entry here (one `@emitter("name")` function); one
without an entry is refused with FILE:LINE (`netrepl export` exits 2), with
the reason from REFUSED when there is one.
"""

from __future__ import annotations

from collections.abc import Callable

from netrepl.export.program import Program
from netrepl.language.nrs import PORT_PLACEHOLDER, serve_variables, var_value

EMITTERS: dict[str, Callable[[Program, object], None]] = {}

# Commands that have no socket equivalent, and why (the refusal says so).
REFUSED = {
    "help": "`help` shows netrepl's own help; it has no socket equivalent",
    "record": "`record` writes a netrepl script; it has no socket equivalent",
    "interact": "`interact` hands the session to a person at the shell; a program cannot",
    "relay": "`relay` runs netrepl's relay (threads, a recording) beside the socket; it is not exported",
}


def emitter(*names: str):
    def register(fn):
        for name in names:
            EMITTERS[name] = fn
        return fn
    return register


def emit(p: Program, parsed) -> None:
    """One command of the script -> its code (after a comment quoting it)."""
    name = parsed.command.name
    if p.ended:
        p.comment(f"{p.where}: not run (after exit): {parsed.text}")
        return
    fn = EMITTERS.get(name)
    if fn is None:
        p.refuse(REFUSED.get(name, f"`{name}` has no socket equivalent; not exported"))
    p.comment(f"{p.where}: {parsed.text}")
    decoded = len(p.values.decoded)
    fn(p, parsed)
    p.decoded += [(p.where, code, "decode_escapes") for code in p.values.decoded[decoded:]]
    # What a sourced script's lines are parsed with: the values as the checker knows them.
    if name == "set var":
        p.known[parsed.args["name"]] = var_value(parsed.args["value"], parsed.flags)
    elif name == "serve" and parsed.args["kind"] not in (None, "stop"):
        p.known.update(dict.fromkeys(serve_variables(parsed.args["kind"]), PORT_PLACEHOLDER))

