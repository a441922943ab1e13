"""`set redact on` in an exported program: each secret the script sends after it (core/redact.py)
is a required option of the program (--secret1 ...), its value not written in the program.

The script's lines are rewritten before they are exported: a `send` with a secret becomes a
`send -n` of its bytes with `${secretN}` in the secret's place, the PASS of `set proxy` becomes
`${secretN}`; the rest of the export sees only variables without a default.
"""

from __future__ import annotations

from netrepl.export.program import Program
from netrepl.export.table import emitter

EOLS = {"crlf": b"\r\n", "lf": b"\n", "none": b""}
PLACEHOLDER = "(redacted)"  # what the script check sees for a secret: the value is the program's option


def written_secrets(lines: list[str], given) -> dict[str, str]:
    """The ${secretN} of a script recorded with `set redact on` (their values were never written):
    options the program needs, as the secrets export finds itself are."""
    from netrepl.core.redact import SECRET_NAME

    if not any(line.strip() == "set redact on" for line in lines):
        return {}
    return {name: "secret" for line in lines for name in SECRET_NAME.findall(line) if name not in given}


def redact_lines(lines: list[str], commands, taken=()) -> tuple[list[str], dict[str, str]]:
    """The lines with each secret sent while `set redact on` holds written as its variable, and the
    variables (name -> what it is); the lines unchanged and {} when the script never redacts."""
    from netrepl.core.redact import SECRET_NAME, Secrets

    secrets, eol, on, out = Secrets(taken), b"\r\n", False, list(lines)
    for number, parsed in commands:
        name = parsed.command.name
        if name == "set eol":
            eol = EOLS.get(parsed.args["eol"], eol)
        elif name == "set redact":
            on = parsed.args["mode"] == "on"
        elif on and parsed.text in out[number - 1] and not SECRET_NAME.search(parsed.text):  # (not twice)
            text, names = secrets.line(parsed, parsed.text, eol)
            if names:
                out[number - 1] = out[number - 1].replace(parsed.text, text, 1)
    return out, {name: what for name, what in secrets.names.values()}


def require(values, secrets: dict[str, str]) -> None:
    """Each secret an option the program cannot run without (its value is nowhere in the program)."""
    for name, what in secrets.items():
        option = values.option(name)
        option.required = True
        option.help = f"the redacted {what} ($" + name + "): its value is not written in this program"


@emitter("set redact")
def _set_redact(p: Program, parsed) -> None:
    if parsed.args["mode"] == "off":
        p.comment("(secrets after this line are written as they are)")
        return
    if p.secrets:
        p.comment("Redacted: the secrets below are not written here; each is an option the program needs: "
                  + ", ".join(f"--{name} ({what})" for name, what in p.secrets.items()))
    else:
        p.comment("(no secret was sent after this line: nothing redacted)")
