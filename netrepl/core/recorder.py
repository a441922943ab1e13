"""`record FILE.nrs`: append every command that ran to a replayable script.

Each line is written and flushed as it happens (fsync'd), so a recording
survives the shell being killed. A command that failed is written as
`must-fail KIND ...` so replaying it against the same server passes.
With expectations on, the first line of received data becomes an
`expect` line.
"""

from __future__ import annotations

import os
import re

from netrepl.core.results import Endpoint, Result
from netrepl.core.session import DEFAULT_TIMEOUT
from netrepl.language.escapes import expect_text

EXPECT_MAX = 120  # bytes of received data turned into one `expect` line


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
            self.write(_replayable(parsed, result))
        elif name != "must-fail":
            self.write(f"must-fail {result.error.errname or result.error.kind} {parsed.text}")
        if self.expectations and result.data and result.error is None and name != "expect":
            first = result.data.split(b"\n", 1)[0][:EXPECT_MAX]
            if first.strip():
                self.write("expect " + expect_text(first))

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
