"""`record FILE.nrs`: append every command that ran to a replayable script.

Each line is written and flushed as it happens (fsync'd), so a recording
survives the shell being killed. A command that failed is written as
`must-fail KIND ...` so replaying it against the same server passes.
With expectations on (`record -e`), what each read got is checked on
replay: core/recordchecks.py writes those lines.

Nothing that ran is dropped: text that is not UTF-8 (a `-D` value, piped
input) is written with `\\xNN` escapes where the command takes escapes, and
checked by parsing the written line again; a line that still cannot be
replayed becomes a `#` comment saying so. Lab servers on OS-chosen ports are
written as `serve KIND 0`, and later uses of their port as `$lab_port`
(or `$lab_KIND_port`), so a replay reaches the servers it starts itself.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable

from netrepl.core.peerlog import PeerLog
from netrepl.core.pathopen import open_within
from netrepl.core.recordchecks import STREAM_HEAD, read_checks, with_status
from netrepl.core.redact import Redaction
from netrepl.core.results import Endpoint, Result, UnixName
from netrepl.core.session import DEFAULT_TIMEOUT
from netrepl.language.nrs import capture_variables, serve_variables, var_value
from netrepl.language.parser import ParseError, Parsed
from netrepl.language.texttypes import Expectation
from netrepl.base.patterns import lazy
from netrepl.base.escape import safe
from netrepl.base.unixpaths import unix_name

_SURROGATE = lazy(r"[\udc80-\udcff]")  # a byte that was not UTF-8, as surrogateescape keeps it
_NOT_A_LINE = lazy(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]|[ \t]\Z")  # what a script line cannot hold
_WORD = lazy(r"[^ \t]+")
_PLAIN_WORD = lazy(r"[^ \t\"'${}#]+")  # a host that can stand as a ${NAME:-DEFAULT} default as it is
_PORT_WORD = {"connect": 2, "sendto": 2, "serve stop": 2, "client": 2, "resolve": 2, "set proxy": 4}  # where PORT is


def value_text(value: str) -> str:
    """A variable's value -> the VALUE of `set var -x`: what a line cannot hold as \\xNN (its UTF-8
    bytes, or the byte a surrogate stands for), backslashes doubled, `$` as `$$`."""
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "$":
            out.append("$$")
        elif _NOT_A_LINE.match(ch) or (ch in " \t" and i == len(value) - 1):
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape")))
        else:
            out.append(ch)
    return "".join(out)


def _bytes_escaped(text: str) -> str:
    """Each byte that was not UTF-8 as \\xNN (what send, sendto and expect decode back to it)."""
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xdc00:02x}", text)


def _writable(text: str) -> bool:
    return text.isascii() or not re.search(r"[\ud800-\udfff]", text)


class Recorder:
    STREAM_HEAD = STREAM_HEAD  # bytes of a streamed read kept for its checks

    def __init__(self, path: str, expectations: bool = False,
                 parse: Callable[[str], Parsed | None] | None = None, peer: bool = False,
                 timeout: float | None = -1.0):
        self._start(path, expectations, parse, peer)
        # Append, created private: recordings may hold what was typed at a service. A FIFO's
        # reader is waited for as long as the session's `timeout` (-1: pathopen's default; None: off).
        fd = open_within(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, timeout, mode=0o600)
        self.fd: int | None = fd  # written with os.write: no buffer left to flush again after a failure
        # fsync'd line by line when a file (a FIFO, a terminal or /dev/null refuse fsync: EINVAL).
        self.durable = stat.S_ISREG(os.fstat(fd).st_mode)

    def _start(self, path: str, expectations: bool, parse, peer: bool) -> None:
        """What a recording keeps, wherever its lines go (a file here, memory for `export`)."""
        self.path = path
        self.expectations = expectations
        self.parse = parse  # checks that an escaped line means what ran
        self.count = 0
        self.told = False  # the user hears once that a line could only be a comment
        # Lab ports a replay gets from `serve`: variable name -> (port, chosen by the OS).
        self.lab_vars: dict[str, tuple[int, bool]] = {}
        # Unix names the kernel chose (`serve KIND @`, `listen @`) -> the variable a replay sets to its own.
        self.name_vars: dict[str, str] = {}
        # Each peer connected to (host, port) -> the suffix of its variables: "" for $host/$port, "2", ...
        self.peers: dict[tuple, str] = {}
        self.taken: set[str] = set()  # variables the recording sets or uses otherwise: no peer's names
        # What a read shown as it arrived got (its first STREAM_HEAD bytes, its count): the
        # Result holds no data then (commands/receiving.py sets it for `record -e`).
        self.streamed: tuple[bytes, int] | None = None
        # The final status a `recv http` read (commands/receiving.py sets it): `record -e` writes
        # `recv http STATUS`, the check that replays it.
        self.http_status: int | None = None
        # With -p: the bytes each command moved, as `#<`/`#>` lines after it (core/peerlog.py).
        self.peer = PeerLog() if peer else None
        self.session = None  # whose transport the peer log taps (write_setup names it)
        self.redaction = Redaction()  # `set redact on`: secrets written as ${secretN} (core/redact.py)

    def write(self, line: str) -> None:
        self.write_lines([line])

    def write_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        data = memoryview("".join(line + "\n" for line in lines).encode("utf-8"))
        fd = self.fd
        if fd is None:
            raise ValueError("the recording is closed")
        size = os.fstat(fd).st_size if self.durable else None
        try:
            while data:
                data = data[os.write(fd, data):]
            if self.durable:
                os.fsync(fd)
        except OSError:
            # A full disk took part of the lines: cut them off, so the recording ends with the
            # last whole command instead of half of one (a replay would run that half).
            if size is not None:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
            raise
        self.count += len(lines)

    def write_peer(self) -> None:
        """The peer lines of what moved since the last call; taps a connection made meanwhile."""
        if self.peer is None:
            return
        if self.session is not None:
            self.peer.attach(self.session)
        self.write_lines(self.peer.lines(self.redaction.active))

    def write_setup(self, variables: dict[str, str], session, servers: Iterable = ()) -> None:
        """What the lines to come depend on but was set before `record`: lab servers,
        variables, settings, and the socket (so a replay reaches the same state).

        Without these a replay is refused (no lab server), rejected (`$NAME`
        undefined), sends other bytes (`set eol`), or has no socket for its first `send`.
        """
        self.session = session
        self.taken.update(variables)
        set_by_serve = set()
        for server in servers:
            name = getattr(server, "name", None)  # a lab server on a Unix socket (lab/unixserver.py)
            if name is not None:
                self.write(f"serve {server.kind} {'@' if name.ephemeral else unix_name(name)}")
                set_by_serve.add(unix_name(name))
                if name.ephemeral:
                    self._chosen(unix_name(name), ("lab_path", f"lab_{server.kind}_path"))
                continue
            port = 0 if server.ephemeral else server.port
            if server.kind == "relay":  # `relay LHOST 0 HOST $lab_port`: to the replay's own lab server
                line = server.serve_line(port)
                var = next((v for v, got in self.lab_vars.items() if got == (server.target[1], True)), None)
                self.write(line.rsplit(" ", 1)[0] + f" ${var}" if var else line)
                self.lab_vars["relay_port"] = (server.port, server.ephemeral)  # what `relay` sets
                set_by_serve.add(str(server.port))
                continue
            self.write(getattr(server, "serve_line", lambda p: None)(port)  # `serve replay FILE PORT`
                       or f"serve {server.kind} {port} {server.proto}")
            self._served(server.kind, server.port, server.ephemeral)
            set_by_serve.add(str(server.port))
        listener = session.listener
        if listener is not None:  # core/listener.py: `listen` again, on a port (or name) of its own if chosen
            where = listener.address
            if isinstance(where, UnixName):
                self.write(f"listen {'@' if where.ephemeral else unix_name(where)}")
                set_by_serve.add(unix_name(where))
                if where.ephemeral:
                    self._chosen(unix_name(where), ("listen_path",))
            else:
                self.write(f"listen {where.host} {0 if where.ephemeral else where.port}")
                set_by_serve.add(str(where.port))
                self.lab_vars["listen_port"] = (where.port, where.ephemeral)
        for name, value in variables.items():
            if value in set_by_serve and re.fullmatch(r"lab_(\w+_)?(port|path)|listen_(port|path)|relay_port", name):
                continue  # the `serve` line above sets it, to the port the replay gets
            self.write(self._set_var_line(name, value))
        if session.eol != b"\r\n":
            self.write("set eol " + {b"\n": "lf", b"": "none"}.get(session.eol, "crlf"))
        if session.timeout != DEFAULT_TIMEOUT:
            self.write("timeout " + ("none" if session.timeout is None else repr(session.timeout)))
        if session.display != "text":
            self.write(f"set display {session.display}")
        for line in session.tls_settings.lines():  # `set tls ...`: the next handshake depends on them
            self.write(line)
        self.write_lines(self.redaction.setup(session, self._lab_port_used))  # set redact, set proxy
        if session.sock is not None and session.family == "unix":
            self.write(f"# recording started with a socket open ({session.state()})")
            self.write(f"socket unix {session.proto}")
            if session.local is not None and not session.local.ephemeral and session.local.name:
                self.write(f"bind {unix_name(session.local)}")
            if session.connected and isinstance(session.peer, UnixName) and session.peer.name:
                self.write(self._names_in(f"connect {unix_name(session.peer)}"))
        elif session.sock is not None:
            self.write(f"# recording started with a socket open ({session.state()})")
            self.write(f"socket {session.family} {session.proto}")
            if session.local is not None and not session.local.ephemeral:
                self.write(f"bind {session.local.host} {session.local.port}")
            if session.connected and session.peer is not None:
                line = f"connect {session.peer.host} {session.peer.port}"
                used = self._lab_port_used(line, "connect", session.peer.port)
                self.write(used if used != line else "connect " + self._peer_words(session.peer.host,
                                                                                    session.peer.port))
            if session.tls is not None:  # the socket was upgraded: so is the replay's
                self.write("tls" + (" -k" if session.tls.insecure else "") + f" {session.tls.name}")
        self.write_peer()

    def add(self, parsed, result: Result) -> None:
        try:
            self._add(parsed, result)
        finally:  # what moved is written even for a command that is not (an interrupted one)
            self.write_peer()

    def _add(self, parsed, result: Result) -> None:
        name = parsed.command.name
        if name in ("help", "exit", "source", "export") or result.error and result.error.kind in ("interrupted", "syntax", "usage"):
            return
        streamed, self.streamed = self.streamed, None
        http_status, self.http_status = self.http_status, None
        self.write_lines(self.redaction.seen(parsed, result))
        if name == "set var":
            self.taken.add(parsed.args["name"])
        elif name == "expect" and result.error is None:
            self.taken.update(capture_variables(parsed))
        if result.error is None:
            data, total = (result.data, len(result.data or b"")) if streamed is None else streamed
            text = _replayable(parsed)
            if self.expectations and name == "recv" and parsed.args.get("n") == "http":
                if http_status is not None and parsed.args.get("amount") is None:
                    text = with_status(text, http_status)  # (no expect before it: it reads the head)
            elif self.expectations and data and name != "expect":
                checks, replaced = read_checks(parsed, data, total)
                self.write_lines(checks)  # BEFORE the command: one read cursor
                if replaced:
                    return
            self._write_command("", parsed, result, text)
        elif name != "must-fail":
            self._write_command(f"must-fail {result.error.errname or result.error.kind} ", parsed, result, parsed.text)

    def close(self) -> None:
        if self.peer is not None:
            self.peer.detach()
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    # ----- lines that replay the same -------------------------------------------------

    def _set_var_line(self, name: str, value: str) -> str:
        if not _NOT_A_LINE.search(value):
            return f"set var {name} {value.replace('$', '$$')}"
        text = value_text(value)
        # The line's `$$` is a `$` before -x decodes escapes, as the replay's parser reads it.
        if var_value(text.replace("$$", "$"), {"-x"}) != value:  # cannot happen; if it did, say so
            return f"# ${name} not written: its value cannot be a script line; use -D {name}=..."
        return f"set var -x {name} {text}"

    def _write_command(self, prefix: str, parsed, result: Result, text: str) -> None:
        inner = parsed.nested if parsed.command.name == "must-fail" and parsed.nested else parsed
        text = self._lab_ports_in(parsed, inner, text)
        text = self._peer_in(inner, text)
        if not _writable(text):
            text = self._escaped(parsed, text)
        if text is None:
            self.write("# not written: this command cannot be a script line that replays it: "
                       + safe(prefix + parsed.text))
            if not self.told:
                self.told = True
                result.say(f"recording to {self.path}: a command that cannot be replayed (text that is not "
                           "UTF-8) was written as a # comment")
        else:
            self.write_lines(self.redaction.lines(parsed, prefix + text, getattr(self.session, "eol", b"\r\n")))
        if result.error is None and inner.command.name == "serve" and inner.args.get("kind") not in (None, "stop"):
            names = [part for line in result.lines for part in line if isinstance(part, UnixName)]
            if names and names[-1].ephemeral:
                self._chosen(unix_name(names[-1]), ("lab_path", f"lab_{inner.args['kind']}_path"))
            ports = [part.port for line in result.lines for part in line if isinstance(part, Endpoint)]
            if ports and not names:
                self._served(inner.args["kind"], ports[0], inner.args["port"] == 0)
        if result.error is None and inner.command.name == "listen":
            for line in result.lines:  # `listening on ADDRESS`: what a replay's own listen gets instead
                if line and line[0] == "listening on " and isinstance(line[1], UnixName) and line[1].ephemeral:
                    self._chosen(unix_name(line[1]), ("listen_path",))
                elif line and line[0] == "listening on " and isinstance(line[1], Endpoint):
                    self.lab_vars["listen_port"] = (line[1].port, line[1].ephemeral)

    def _escaped(self, parsed, text: str) -> str | None:
        """The line with what is not UTF-8 escaped, if it parses back to the same command."""
        if parsed.command.name == "set var":
            candidate = f"set var -x {parsed.args['name']} {value_text(var_value(parsed.args['value'], parsed.flags))}"
        else:
            candidate = _bytes_escaped(text)
        if self.parse is None or not _writable(candidate):
            return None
        try:
            again = self.parse(candidate)
        except ParseError:
            return None
        return candidate if again is not None and _meaning(again) == _meaning(parsed) else None

    # ----- peers, as variables with the recorded values as defaults ---------------------

    def _peer_in(self, inner, text: str) -> str:
        """`connect 127.0.0.1 6379` -> `connect ${host:-127.0.0.1} ${port:-6379}`: the replay
        reaches the recorded peer by default and another with `-D host=... -D port=...` (a
        `serve replay` of the recording). A lab port (`$lab_port`) and words typed with
        variables stay as they are."""
        host, port = inner.args.get("host"), inner.args.get("port")
        if inner.command.name != "connect" or isinstance(host, UnixName) or port is None \
                or "$" in inner.text or not text.endswith(inner.text) or not _PLAIN_WORD.fullmatch(str(host)):
            return text
        return text[:len(text) - len(inner.text)] + "connect " + self._peer_words(host, port)

    def _peer_words(self, host: str, port) -> str:
        key = (host, port)
        if key not in self.peers:  # the next free suffix: "", then 2, 3, ...
            number = len(self.peers) + 1
            while {f"host{number if number > 1 else ''}", f"port{number if number > 1 else ''}"} & self.taken:
                number += 1
            self.peers[key] = str(number) if number > 1 else ""
            self.taken.update((f"host{self.peers[key]}", f"port{self.peers[key]}"))
        n = self.peers[key]
        return f"${{host{n}:-{host}}} ${{port{n}:-{port}}}"

    # ----- lab ports -------------------------------------------------------------------

    def _served(self, kind: str, port: int, chosen: bool) -> None:
        for name in serve_variables(kind):
            self.lab_vars[name] = (port, chosen)

    def _chosen(self, name: str, variables: tuple[str, ...]) -> None:
        """A Unix name the kernel chose (`@1a2b3`): later lines naming it use the variable instead."""
        self.name_vars[name] = variables[0]

    def _names_in(self, text: str) -> str:
        """`connect @1a2b3` -> `connect $lab_path` when the replay's own `serve KIND @` gets another name."""
        if not self.name_vars:
            return text
        return _WORD.sub(lambda m: "$" + self.name_vars[m.group()] if m.group() in self.name_vars else m.group(),
                         text)

    def _lab_ports_in(self, parsed, inner, text: str) -> str:
        if self.name_vars and inner.command.name in ("connect", "bind", "client", "serve"):
            text = self._names_in(text)  # (only address words: in `send` text the name is data)
        port = inner.args.get("port")
        name = "serve stop" if inner.command.name == "serve" and inner.args.get("kind") == "stop" else inner.command.name
        if name not in _PORT_WORD or not isinstance(port, int) or not text.endswith(inner.text):
            return text
        head = text[:len(text) - len(inner.text)]  # `must-fail KIND `: the port is in the COMMAND after it
        return head + self._lab_port_used(inner.text, name, port, inner.flags)

    def _lab_port_used(self, text: str, name: str, port: int, flags=()) -> str:
        """`connect localhost 40123` -> `connect localhost $lab_port` when a lab server the
        replay starts on port 0 got that port here."""
        var = next((v for v, got in self.lab_vars.items() if got == (port, True)), None)
        if var is None:
            return text
        # Flags may stand anywhere before TEXT (`sendto -l H P`, `sendto H P -n`): they are not counted.
        words = [w for w in _WORD.finditer(text) if w.group() not in flags]
        at = _PORT_WORD[name]
        if len(words) > at and words[at].group() == str(port):
            return text[:words[at].start()] + "$" + var + text[words[at].end():]
        joined = words[at - 1] if name in ("connect", "sendto") and len(words) >= at else None
        if joined and joined.group().endswith(f":{port}"):  # `connect HOST:PORT`, `sendto [v6]:PORT`
            return text[:joined.end() - len(str(port))] + "$" + var + text[joined.end():]
        return text  # typed as a variable or a service name: it replays as it is


def _replayable(parsed) -> str:
    """The line to write: as typed (`serve KIND 0` stays port 0: the replay's own lab
    server gets a port of its own, and the lines using it name $lab_port)."""
    return parsed.text


def _meaning(parsed) -> tuple:
    """What a parsed command does, to compare an escaped line with the one that ran."""
    args = []
    for key, value in sorted(parsed.args.items()):
        if isinstance(value, Parsed):
            value = _meaning(value)
        elif isinstance(value, Expectation):
            value = (value.kind, value.literal, value.pattern.pattern if value.pattern is not None else None)
        elif parsed.command.name == "set var" and key == "value":
            value = var_value(value, parsed.flags)
        elif parsed.command.name == "print" and key == "text":
            value = safe(value)  # print shows text: the same on screen is the same command
        args.append((key, value))
    return parsed.command.name, tuple(args), frozenset(parsed.flags) - {"-x"}
