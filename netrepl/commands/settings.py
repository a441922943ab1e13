"""`set`: the line ending, the display of received data, and variables."""

from __future__ import annotations

from netrepl.commands.common import error
from netrepl.core.results import Result
from netrepl.language.nrs import var_value
from netrepl.language.parser import ParseError
from netrepl.language.argtypes import Choice, VarName
from netrepl.language.texttypes import Text
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
EOLS = {"crlf": b"\r\n", "lf": b"\n", "none": b""}
EOL_SHOWN = {"crlf": "\\r\\n", "lf": "\\n", "none": "nothing"}
COMMANDS.group("set", help="change a setting (eol, display, live) or set a variable (var)")


@COMMANDS.sub("set", "eol", Arg("EOL", Choice(tuple(EOLS)), "eol"), help="line ending `send` adds (default crlf)")
def _set_eol(ex, a, flags):
    ex.session.eol = EOLS[a["eol"]]
    return Result().say(f"send adds {a['eol']} ({EOL_SHOWN[a['eol']]})")


@COMMANDS.sub("set", "display", Arg("MODE", Choice(("text", "hex")), "mode"),
              help="show received data as text or a hex dump")
def _set_display(ex, a, flags):
    ex.session.display = a["mode"]
    return Result().say(f"received data shown as {a['mode']}")


@COMMANDS.sub("set", "live", Arg("MODE", Choice(("on", "off")), "mode"),
              help="in the shell, receive and show what arrives while the prompt waits (default off)",
              details="With live on, each chunk that arrives while the shell's prompt waits is received by "
                      "an ordinary `recv` (counted, recorded and exported as one) and shown above the prompt; "
                      "a client connecting to `listen` is accepted the same way. Scripts are not affected.")
def _set_live(ex, a, flags):
    ex.session.live = a["mode"] == "on"
    if ex.session.live:
        return Result().say("live on: what arrives while the shell's prompt waits is received (`recv`) and shown")
    return Result().say("live off: what arrives waits until a command reads it (the toolbar counts it)")


@COMMANDS.sub("set", "var", Arg("NAME", VarName(), "name"),
              Arg("VALUE", Text(rest=True), "value", optional=True, default=""),
              flags={"-x": "VALUE is written with send's escapes (\\xNN: any byte)"},
              help="set a variable, used as $NAME or ${NAME:-default}",
              details="With -x, VALUE's escapes are decoded, so any value can be a script line: `record` "
                      "writes a value holding control characters or bytes that are not UTF-8 that way.")
def _set_var(ex, a, flags):
    try:
        value = var_value(a["value"], flags)
    except ParseError as exc:
        return error(ex, "usage", "set var", exc.message)
    ex.variables[a["name"]] = value
    return Result().say(f"${a['name']} = {value!r}")
