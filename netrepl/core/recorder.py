"""`record FILE.nrs`: append every command that ran to a replayable script.

Each line is written and flushed as it happens (fsync'd), so a recording
survives the shell being killed. A command that failed is written as
`must-fail KIND ...` so replaying it against the same server passes.
With expectations on, the first line of received data becomes an
`expect` line written BEFORE the command that received it (the expect
consumes that line on replay; the command, kept when it showed more, reads
the rest): commands share one read cursor, so an expect written after
would look for bytes already consumed.
"""

from __future__ import annotations

import os
import re

from netrepl.core.results import Endpoint, Result
from netrepl.core.session import DEFAULT_TIMEOUT

EXPECT_MAX = 120  # bytes of received data turned into one `expect` line
_PLAIN = re.compile(rb"[\x21-\x23\x25-\x5b\x5d-\x7e]|\x20(?!\Z)")  # kept as is; the rest escaped


def expect_text(data: bytes) -> str:
    """Bytes -> the text of an `expect` line that matches them literally."""
    out = []
    for i in range(len(data)):
        b = data[i:i + 1]
        if b == b" " and i == len(data) - 1:
            out.append("\\x20")  # a trailing blank would be stripped from the script line
        elif _PLAIN.fullmatch(b):
            out.append(b.decode("ascii"))
        elif b == b"\\":
            out.append("\\\\")
        elif b == b"$":
            out.append("$$")
        else:
            out.append({b"\r": "\\r", b"\n": "\\n", b"\t": "\\t"}.get(b, f"\\x{data[i]:02x}"))
    text = "".join(out)
    if text.startswith("/") or text == "eof" or text.startswith(" "):
        text = f"\\x{ord(text[0]):02x}" + text[1:]  # not a regex, not `eof`, no lost blank
    return text


class Recorder:
    def __init__(self, path: str, expectations: bool = False):
        self.path = path
        self.expectations = expectations
        self.count = 0
        # Append, created private: recordings may hold what was typed at a service.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.file = os.fdopen(fd, "a", encoding="utf-8", newline="\n")

    def write(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.count += 1

    def write_setup(self, variables: dict[str, str], session) -> None:
        """What the lines to come depend on but was set before `record`: variables,
        settings, and the socket (so a replay reaches the same state).

        Without these a replay is rejected (`$NAME` undefined), sends other bytes
        (`set eol`), or has no socket for its first `send`.
        """
        for name, value in variables.items():
            if re.search(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]", value) or value != value.rstrip(" \t"):
                self.write(f"# ${name} not written: its value cannot be a script line; use -D {name}=...")
            else:
                self.write(f"set var {name} {value.replace('$', '$$')}")
        if session.eol != b"\r\n":
            self.write("set eol " + {b"\n": "lf", b"": "none"}.get(session.eol, "crlf"))
        if session.timeout != DEFAULT_TIMEOUT:
            self.write("timeout " + ("none" if session.timeout is None else repr(session.timeout)))
        if session.display != "text":
            self.write(f"set display {session.display}")
        if session.sock is not None:
            self.write(f"# recording started with a socket open ({session.state()})")
            self.write(f"socket {session.family} {session.proto}")
            if session.local is not None and not session.local.ephemeral:
                self.write(f"bind {session.local.host} {session.local.port}")
            if session.connected and session.peer is not None:
                self.write(f"connect {session.peer.host} {session.peer.port}")

    def add(self, parsed, result: Result) -> None:
        name = parsed.command.name
        if name in ("help", "exit", "source") or result.error and result.error.kind in ("interrupted", "syntax", "usage"):
            return
        if result.error is None:
            if self.expectations and result.data and name != "expect":
                # One read cursor: an `expect` written after the command would look for bytes the
                # command already consumed. So the expect comes first and consumes the first line;
                # the command is written after it only when it has more to read (the rest).
                first = result.data.split(b"\n", 1)[0][:EXPECT_MAX]
                if first.strip():
                    self.write("expect " + expect_text(first))
                    if len(first) == len(result.data) and name in ("recv", "recvfrom") and parsed.args.get("n") != "all":
                        return  # the expect consumed all this recv showed
            self.write(_replayable(parsed, result))
        elif name != "must-fail":
            self.write(f"must-fail {result.error.errname or result.error.kind} {parsed.text}")

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


def _replayable(parsed, result: Result) -> str:
    """The line to write: `serve KIND 0` is written with the port the OS chose,
    since the commands recorded after it (`connect localhost PORT`) name that port."""
    args = parsed.args
    if parsed.command.name == "serve" and args.get("kind") not in (None, "stop") and args.get("port") == 0:
        ports = [part.port for line in result.lines for part in line if isinstance(part, Endpoint)]
        if ports:
            return f"serve {args['kind']} {ports[0]} {args['proto']}"
    return parsed.text
