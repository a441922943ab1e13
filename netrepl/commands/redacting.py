"""`set redact on|off`: secrets out of what `record`, `--cast` and `export` write (core/redact.py)."""

from __future__ import annotations

from netrepl.core.results import Result
from netrepl.language.argtypes import Choice
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


@COMMANDS.sub("set", "redact", Arg("MODE", Choice(("on", "off")), "mode"),
              help="write secrets as variables ($secret1 ...) in `record`, `--cast` and `export` (default off)",
              details="With redact on, each secret a command sends (HTTP Authorization and Cookie, SMTP AUTH, "
                      "IMAP LOGIN, POP3/FTP PASS, redis AUTH) and the PASS of `set proxy` is written as a variable "
                      "whose value is not stored, with a `# redacted above` note: running the recording asks for "
                      "it (`netrepl -D secret1=VALUE FILE.nrs`), an exported program takes it as --secret1. "
                      "What the commands do is unchanged; only what is written of them.")
def _set_redact(ex, a, flags):
    ex.session.redact = a["mode"] == "on"
    if ex.session.redact:
        return Result().say("record, --cast and export write each secret as a variable ($secret1 ...), "
                            "its value not stored")
    return Result().say("record, --cast and export write secrets as they are")
