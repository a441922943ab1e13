"""Secrets out of what netrepl writes (`relay --redact`, `set redact on` for `record`, `--cast`
and `export`): each secret a client sends, or a proxy password, becomes a variable
(`${secret1}`, ...) whose value is not stored. Running the file asks for it (`-D secret1=...`).

What is a secret: HTTP Authorization, Proxy-Authorization and Cookie, SMTP AUTH (its
argument on the AUTH line), IMAP LOGIN, POP3 and FTP PASS, redis AUTH, and the password
of `set proxy`. The same secret gets the same name throughout one file.
"""

from __future__ import annotations

import re

from netrepl.language.escapes import encode_escapes

# What a client sends that is a secret: (what it is, a pattern whose group 1 is the secret).
SECRETS = tuple((what, re.compile(pattern)) for what, pattern in (
    ("HTTP Authorization", rb"(?im)^(?:proxy-)?authorization:[ \t]*([^\r\n]+)"),
    ("HTTP Cookie", rb"(?im)^cookie:[ \t]*([^\r\n]+)"),
    ("SMTP AUTH", rb"(?im)^AUTH[ \t]+(?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER)[ \t]+([^\r\n]+)"),
    ("IMAP LOGIN", rb"(?im)^[^ \r\n]+[ \t]+LOGIN[ \t]+[^ \t\r\n]+[ \t]+([^\r\n]+)"),
    ("POP3/FTP PASS", rb"(?im)^PASS[ \t]+([^\r\n]+)"),
    ("redis AUTH", rb"(?i)\*[23]\r\n\$4\r\nAUTH\r\n(?:\$\d+\r\n[^\r\n]*\r\n)?\$\d+\r\n([^\r\n]+)\r\n"),
    ("redis AUTH", rb"(?im)^AUTH[ \t]+(?:[^ \t\r\n]+[ \t]+)?([^ \t\r\n]+)\r?$"),
))
SECRET_NAME = re.compile(r"\$\{?(secret\d+)\b")  # a secret's variable in a line written redacted already
NOTE = ("# Redacted: each secret (HTTP Authorization and Cookie, SMTP AUTH, IMAP LOGIN, POP3/FTP PASS,",
        "# redis AUTH, proxy passwords) is a variable, $secret1 ..., whose value is not stored here:",
        "# give it when you run this (-D secret1=VALUE).")


def find_secrets(data: bytes) -> list[tuple[int, int, str]]:
    """(start, end, what) of each secret in `data`, in order, none overlapping."""
    found: list[tuple[int, int, str]] = []
    for what, pattern in SECRETS:
        for m in pattern.finditer(data):
            start, end = m.span(1)
            if start < end and not any(a < end and start < b for a, b, _ in found):
                found.append((start, end, what))
    return sorted(found)


def lines_of(data: bytes, spans: list[tuple[int, int, str]], limit: int) -> list[str]:
    """Texts that decode to `data`, a break after each newline and every `limit` bytes; each span is
    written `${NAME}` (NAME: the span's third item) instead of its bytes."""
    out, line, size, at = [], [], 0, 0
    spans = list(spans)
    while at < len(data):
        if spans and spans[0][0] == at:
            start, end, name = spans.pop(0)
            line.append(f"${{{name}}}")
            size += end - start
            at = end
        else:
            stop = min(spans[0][0] if spans else len(data), at + max(1, limit - size))
            newline = data.find(b"\n", at, stop)
            stop = newline + 1 if newline >= 0 else stop
            line.append(encode_escapes(data[at:stop]))
            size += stop - at
            at = stop
            if newline < 0 and size < limit:
                continue
        if size >= limit or (at and data[at - 1:at] == b"\n"):
            out.append("".join(line))
            line, size = [], 0
    if line:
        out.append("".join(line))
    return out


class Secrets:
    """The secrets one file holds so far, each with its variable (the same secret, the same name)."""

    def __init__(self, taken=()) -> None:
        self.names: dict[bytes, tuple[str, str]] = {}  # secret -> (variable name, what it is)
        self.taken = set(taken)  # names the file has already (a recording redacted when made)

    def name(self, value: bytes, what: str) -> str:
        if value not in self.names:
            number = len(self.names) + 1
            while f"secret{number}" in self.taken:
                number += 1
            self.names[value] = (f"secret{number}", what)
            self.taken.add(f"secret{number}")
        return self.names[value][0]

    def spans(self, data: bytes) -> list[tuple[int, int, str]]:
        """The secrets in `data`, each with its variable name."""
        return [(start, end, self.name(data[start:end], what)) for start, end, what in find_secrets(data)]

    def what(self, name: str) -> str:
        return next(what for n, what in self.names.values() if n == name)

    def said(self, names) -> str:
        """The note after a line: which of its variables were redacted, and what each is."""
        return "# redacted above: " + ", ".join(f"${n} ({self.what(n)})" for n in dict.fromkeys(names))

    def line(self, parsed, text: str, eol: bytes) -> tuple[str, list[str]]:
        """A command's script line with its secrets as variables, and their names ([]: none).
        `send` with a secret is written anew as `send -n` of its exact bytes (whatever escapes
        it was typed with); `set proxy ... USER PASS` gets `${secretN}` for PASS."""
        inner = parsed.nested if parsed.command.name == "must-fail" and parsed.nested else parsed
        head = text[:len(text) - len(inner.text)] if text.endswith(inner.text) else None
        name, args = inner.command.name, inner.args
        if head is None:
            return text, []
        if name == "send" and args.get("source") is None and "-x" not in inner.flags:
            data = args["text"] if "-n" in inner.flags else args["text"] + eol
            spans = self.spans(data)
            if not spans:
                return text, []
            pieces = lines_of(data, spans, 1 << 30)
            return head + "send -n " + "".join(pieces), [n for _, _, n in spans]
        if name == "set proxy" and args.get("password") is not None:
            password = args["password"]
            secret = self.name(password.encode("utf-8", "surrogateescape"), "proxy password")
            words = inner.text.rsplit(None, 1)
            return head + words[0] + f" ${{{secret}}}", [secret]
        return text, []

    def text(self, shown: str) -> str:
        """Shown text (a cast's output) with each secret it holds as its variable: the bytes a
        peer echoes back, say. A secret under 6 characters is left alone: it would be found in
        ordinary words (a password `lab` in `$lab_port`)."""
        for value, (name, _) in self.names.items():
            for form in {value.decode("utf-8", "replace"), encode_escapes(value)}:
                if len(form) >= 6 and form in shown:
                    shown = shown.replace(form, f"${name}")
        return shown


class Redaction:
    """A recording's `set redact`: on or off now, and its secrets (their names hold for the whole
    file). `follows` False: the `set redact` lines are left to export, which redacts itself."""

    def __init__(self) -> None:
        self.secrets: Secrets | None = None
        self.on = False
        self.follows = True

    @property
    def active(self) -> Secrets | None:
        return self.secrets if self.on else None

    def turn(self, on: bool) -> list[str]:
        """The lines to write: the note on what the variables are, the first time it is on."""
        first = on and self.secrets is None
        if first:
            self.secrets = Secrets()
        self.on = on
        return list(NOTE) if first else []

    def seen(self, parsed, result) -> list[str]:
        """A command that ran: `set redact on|off` turns it (the lines to write first)."""
        if parsed.command.name != "set redact" or result.error is not None or not self.follows:
            return []
        return self.turn(parsed.args["mode"] == "on")

    def lines(self, parsed, text: str, eol: bytes) -> list[str]:
        """A command's line as written: its secrets as variables and a note, when on."""
        if not self.on:
            return [text]
        text, names = self.secrets.line(parsed, text, eol)
        return [text, self.secrets.said(names)] if names else [text]

    def setup(self, session, lab_port_used) -> list[str]:
        """What a recording starting now writes first, after `set tls`: `set redact on` if it is,
        then `set proxy` and `set proxy-protocol` (its connects depend on them; the proxy's port
        through `lab_port_used`, so a lab proxy's is `$lab_..._port`)."""
        out = self.turn(True) + ["set redact on"] if getattr(session, "redact", False) else []
        if getattr(session, "proxy", None) is None and getattr(session, "proxy_protocol", None) is None:
            return out
        from netrepl.core.proxy import setting_lines  # (loaded already: a proxy is set)

        return out + [lab_port_used(line, "set proxy", session.proxy.port) if line.startswith("set proxy ") else line
                      for line in setting_lines(session, self.active)]
