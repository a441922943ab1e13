"""Every command: its arguments, help and handler, registered in one place.

Handlers take (executor, args, flags) and return a Result (or, for
`source`, the Steps of the script they run). They never print.
"""

from __future__ import annotations

import os

from netrepl.core.errors import FAILURE_NAMES, KINDS, failure, matches
from netrepl.language.registry import Arg, Command, Registry
from netrepl.core.results import Endpoint, Result
from netrepl.core.sink import recv_all_to

REGISTRY = Registry()
command = REGISTRY.command

MAX_RECV = 64 << 20  # one recv of more than this is a typo, not a plan
LAB_KINDS = ("echo", "http", "discard", "daytime", "chargen", "close", "reset", "silent", "slow")
PROTOS = ("tcp", "udp")

HOST = Arg("HOST", "host", help="a host name or an IP address")
PORT = Arg("PORT", "port", help="a port number or a service name such as http")


def _error(ex, kind: str, op: str, message: str, code: int | None = None) -> Result:
    """A failure netrepl reports itself, with the session state after it."""
    return Result(error=failure(kind, op, message, code), state=ex.session.state())


# ----- the socket ------------------------------------------------------------

@command("socket", Arg("FAMILY", None, ("inet", "inet6"), optional=True, default="inet"),
         Arg("TYPE", None, PROTOS, optional=True, default="tcp"),
         help="create the session socket (default inet tcp)",
         details="socket.socket(AF_INET|AF_INET6, SOCK_STREAM|SOCK_DGRAM). Refused while one is open.")
def _socket(ex, a, flags):
    return ex.session.create(a["family"], a["type"])


@command("lookup", Arg("SERVICE", "port", help="a service name (getservbyname) or a port number (getservbyport)"),
         Arg("PROTO", None, PROTOS, optional=True, default="tcp"),
         help="port of a service, or service of a port",
         details="`lookup http tcp` -> getservbyname('http', 'tcp'); `lookup 80` -> getservbyport(80, 'tcp').")
def _lookup(ex, a, flags):
    return ex.session.lookup(a["service"], a["proto"])


@command("connect", HOST, PORT, help="connect to HOST PORT (creates a TCP socket if none is open)",
         details="PORT is a number or a service name, looked up with getservbyname as socketerrors.py does. "
                 "With no socket open, a TCP socket of the host's family is created first (each address of "
                 "the host is tried in turn). On a UDP socket, sets the default peer.")
def _connect(ex, a, flags):
    return ex.session.connect(a["host"], a["port"])


@command("bind", HOST, PORT, help="bind the socket to a local address")
def _bind(ex, a, flags):
    return ex.session.bind(a["host"], a["port"])


@command("info", help="family, type, state, local and peer address, timeout, byte counts")
def _info(ex, a, flags):
    return ex.session.info()


@command("shutdown", Arg("HOW", None, ("0", "1", "2", "rd", "wr", "rdwr"),
                         values={"0": 0, "1": 1, "2": 2, "rd": 0, "wr": 1, "rdwr": 2}),
         help="shut down the read (0), write (1) or both (2) sides",
         details="`shutdown 1` flushes and closes the write side; on a lost connection it reports the error "
                 "that send() could not (the worksheet's shutdown.py).")
def _shutdown(ex, a, flags):
    return ex.session.shutdown(a["how"])


@command("close", help="close the session socket")
def _close(ex, a, flags):
    return ex.session.close()


@command("timeout", Arg("SECONDS", "float", ("none",), values={"none": None}, minimum=0.001, maximum=86400),
         help="settimeout for blocking operations (default 10 s; none blocks, Ctrl-C interrupts)")
def _timeout(ex, a, flags):
    return ex.session.set_timeout(a["seconds"])


# ----- sending -------------------------------------------------------------

@command("send", Arg("TEXT", "escaped", rest=True, optional=True, default=b""),
         flags={"-n": "send no line ending"},
         help="send TEXT plus the line ending (sendall); escapes \\r \\n \\t \\0 \\e \\\\ \\xNN",
         details="The rest of the line is sent after one blank. The line ending (`set eol`, default \\r\\n as "
                 "telnet and nc -C) is added unless -n is given. `send` alone sends just the line ending.")
def _send(ex, a, flags):
    data = a["text"] if "-n" in flags else a["text"] + ex.session.eol
    return ex.session.send(data)


@command("sendto", HOST, PORT, Arg("TEXT", "escaped", rest=True, optional=True, default=b""),
         flags={"-n": "send no line ending"},
         help="send one datagram to HOST PORT (creates a UDP socket if none is open)")
def _sendto(ex, a, flags):
    data = a["text"] if "-n" in flags else a["text"] + ex.session.eol
    return ex.session.sendto(a["host"], a["port"], data)


# ----- receiving -----------------------------------------------------------

def _check_recv(a):
    if a["path"] is not None and a["n"] != "all":
        return "only `recv all` can be redirected to a file"
    return None


@command("recv", Arg("N", "int", ("all", "line"), optional=True, default=2048, minimum=1, maximum=MAX_RECV),
         Arg("> PATH", "redirect", optional=True),
         help="one recv(N) (default 2048); `recv all` until end of stream; `recv line` one line (UDP: a datagram)",
         check=_check_recv,
         details="`recv all > PATH` streams the raw bytes to a file (or /dev/null) in constant memory and "
                 "prints only the count. Reports data, end of stream (peer closed), timeout or reset distinctly.")
def _recv(ex, a, flags):
    size, path = a["n"], a["path"]
    if size == "line":
        return ex.session.recv_line()
    if size != "all":
        return ex.session.recv(size)
    if path is None:
        if ex.data_writer is None:
            return ex.session.recv_all()
        from netrepl.render.text import DataStream

        # A front end shows the stream as it arrives instead of holding all of it.
        stream = DataStream(ex.data_writer, ex.session.display, ex.session.buffer.offset)
        try:
            return ex.session.recv_all(on_data=stream.feed)
        finally:
            stream.close()
    return recv_all_to(ex.session, path)


@command("recvfrom", Arg("N", "int", optional=True, default=2048, minimum=1, maximum=MAX_RECV),
         help="one recvfrom(N): a datagram and who sent it")
def _recvfrom(ex, a, flags):
    return ex.session.recvfrom(a["n"])


@command("expect", Arg("PATTERN", "expect", rest=True),
         help="wait until received data contains TEXT, matches /REGEX/, or reaches eof",
         details="Searches only data no earlier command showed or matched (recv, recv line, recv all and "
                 "expect read one stream, each byte once), reading more until it matches or the timeout runs "
                 "out. It consumes the data through its match; what it read past the match goes to the next "
                 "command. A failure consumes nothing and quotes the start and end of what it holds (at most "
                 "the last 1 MiB). TEXT takes the same escapes as send.")
def _expect(ex, a, flags):
    return ex.session.expect(a["pattern"])


@command("must-fail", Arg("KIND", "failure", FAILURE_NAMES),
         Arg("COMMAND", "command", rest=True),
         help="run COMMAND and succeed only if it fails with KIND (address, timeout, refused, ...)",
         details="KIND is an error kind (" + ", ".join(KINDS) + "), a short name (refused, reset, pipe, "
                 "notconn, lost, unreachable, inuse, any) or an errno name such as ECONNREFUSED.")
def _must_fail(ex, a, flags):
    inner = a["command"]
    outcome = ex.call(inner)
    if not isinstance(outcome, Result):
        return _error(ex, "state", "must-fail", f"`{inner.command.name}` cannot be used inside must-fail")
    if outcome.error is None:
        outcome.error = failure("expect", "must-fail", f"expected `{inner.text}` to fail with {a['kind']}, "
                                                        "but it succeeded")
        return outcome
    if not matches(outcome.error, a["kind"]):
        got = outcome.error
        outcome.lines.append(("error: ", got))
        outcome.error = failure("expect", "must-fail",
                                f"expected a failure of kind {a['kind']}, got {got.kind} ({got.errname or got.message})")
        return outcome
    outcome.lines.append(("failed as expected (", a["kind"], "): ", outcome.error))
    outcome.error = None
    return outcome


@command("sleep", Arg("SECONDS", "float", minimum=0, maximum=86400), help="wait (Ctrl-C interrupts)")
def _sleep(ex, a, flags):
    return ex.session.sleep(a["seconds"])


@command("print", Arg("TEXT", "str", rest=True, optional=True, default=""), help="show TEXT (for demos)")
def _print(ex, a, flags):
    return Result(state=None).say(a["text"])


# ----- settings --------------------------------------------------------------

EOLS = {"crlf": b"\r\n", "lf": b"\n", "none": b""}
EOL_SHOWN = {"crlf": "\\r\\n", "lf": "\\n", "none": "nothing"}
REGISTRY.add(Command("set", (), help="change a setting (eol, display) or set a variable (var)"))


@REGISTRY.sub("set", "eol", Arg("EOL", None, tuple(EOLS)), help="line ending `send` adds (default crlf)")
def _set_eol(ex, a, flags):
    ex.session.eol = EOLS[a["eol"]]
    return Result().say(f"send adds {a['eol']} ({EOL_SHOWN[a['eol']]})")


@REGISTRY.sub("set", "display", Arg("MODE", None, ("text", "hex")), help="show received data as text or a hex dump")
def _set_display(ex, a, flags):
    ex.session.display = a["mode"]
    return Result().say(f"received data shown as {a['mode']}")


@REGISTRY.sub("set", "var", Arg("NAME", "var"), Arg("VALUE", "str", rest=True, optional=True, default=""),
              help="set a variable, used as $NAME or ${NAME:-default}")
def _set_var(ex, a, flags):
    ex.variables[a["name"]] = a["value"]
    return Result().say(f"${a['name']} = {a['value']!r}")


# ----- lab servers ---------------------------------------------------------

@command("serve", Arg("KIND", None, LAB_KINDS + ("stop",), optional=True),
         Arg("PORT", "int", optional=True, default=0, minimum=0, maximum=65535),
         Arg("PROTO", None, PROTOS, optional=True, default="tcp"),
         help="start a lab server on 127.0.0.1 (echo, http, ...); `serve stop [PORT]`; `serve` lists",
         details="Kinds: echo, http (a small built-in site), discard, daytime, chargen, and faults: close "
                 "(accept then close), reset (accept then RST), silent (never answers), slow (a byte at a "
                 "time). `serve stop` stops servers and drops their connections.")
def _serve(ex, a, flags):
    from netrepl.lab.server import LabServer, LabServerError

    kind, port, proto = a["kind"], a["port"], a["proto"]
    if kind is None:
        result = Result(state=ex.session.state())
        for server in ex.servers.values():  # the port as an Endpoint, so --stable masks an OS-chosen one
            head, _, tail = server.describe().partition(f"{server.host}:{server.port}")
            result.say(head, Endpoint(server.host, server.port, server.ephemeral), tail)
        if not ex.servers:
            result.say("no lab server running")
        return result
    if kind == "stop":
        stopping = [key for key in ex.servers if not port or key[1] == port]
        if not stopping:
            return _error(ex, "state", "serve stop", "no lab server running" + (f" on port {port}" if port else ""))
        result = Result(state=ex.session.state())
        for key in stopping:
            server = ex.servers.pop(key)
            server.stop()
            result.say(f"stopped {server.kind} {server.proto} server on ",
                       Endpoint(server.host, server.port, server.ephemeral))
        return result
    try:
        server = LabServer(kind, "127.0.0.1", port, proto).start()
    except ValueError as exc:
        return _error(ex, "usage", "serve", str(exc))
    except LabServerError as exc:
        return _error(ex, "io", "serve", str(exc), exc.errno)
    ex.servers[(proto, server.port)] = server
    return Result(state=ex.session.state()).say(f"serving {kind} on {proto} ",
                                                Endpoint(server.host, server.port, server.ephemeral))


# ----- scripts, recording, help ----------------------------------------------

@command("source", Arg("PATH", "path"), help="replay a .nrs script in this session")
def _source(ex, a, flags):
    return ex.source(a["path"])


@command("record", Arg("PATH", "path", ("stop",)), flags={"-e": "also write received data as expect lines"},
         help="append every command that runs to PATH (.nrs); `record stop` ends it",
         details="Each line is flushed as it is written, so a recording survives the shell being killed. "
                 "A command that failed is written as `must-fail KIND ...`; variables, settings and an open "
                 "socket from before `record` are written first. With -e, the first line of the data each "
                 "command received is written as an `expect` line before that command (which follows to read "
                 "the rest), so a replay checks the replies too.")
def _record(ex, a, flags):
    from netrepl.core.recorder import Recorder

    if a["path"] == "stop":
        if ex.recorder is None:
            return _error(ex, "state", "record stop", "not recording")
        path, count = ex.recorder.path, ex.recorder.count
        ex.recorder.close()
        ex.recorder = None
        return Result(state=ex.session.state()).say(f"stopped recording: {count} lines in {path}")
    if ex.recorder is not None:
        return _error(ex, "state", "record", f"already recording to {ex.recorder.path}; `record stop` first")
    try:
        ex.recorder = Recorder(os.path.expanduser(a["path"]), expectations="-e" in flags)
        ex.recorder.write_setup(ex.variables, ex.session)
    except OSError as exc:
        return _error(ex, "file", "record", f"{a['path']}: {exc.strerror}", exc.errno)
    extra = " with expect lines" if "-e" in flags else ""
    return Result(state=ex.session.state()).say(f"recording to {a['path']}{extra}")


def _check_help(a):
    from netrepl.language.parser import suggest

    name = a["command"]
    if name is not None and REGISTRY.get(name) is None:
        return f"no command {name!r}{suggest(name, REGISTRY.all_names())}"
    return None


@command("help", Arg("COMMAND", "str", optional=True), Arg("SETTING", "str", optional=True), check=_check_help,
         help="list the commands, or explain one (`help set eol`)")
def _help(ex, a, flags):
    name = a["command"]
    if name is None:
        width = max(len(c.name) for c in REGISTRY)
        lines = [f"{c.name:<{width}}  {c.help}" for c in REGISTRY]
        lines.append("\n`help COMMAND` shows its arguments. Lines starting with # are comments; "
                     "$NAME and ${NAME:-default} expand variables.")
        return Result(text="\n".join(lines))
    cmd = REGISTRY.get(name)  # known: checked when the line was parsed
    setting = a["setting"]
    if setting is not None:
        if setting not in cmd.subcommands:
            known = ", ".join(cmd.subcommands) or "none"
            return Result(error=failure("usage", "help", f"{cmd.name} has no setting {setting!r} (settings: {known})"))
        cmd = cmd.subcommands[setting]
    parts = [f"usage: {cmd.usage()}".replace("\n", "\n       "), "", cmd.help]
    parts += [f"  {sub.name:<12} {sub.help}" for sub in cmd.subcommands.values()]
    if cmd.details:
        parts += ["", cmd.details]
    if cmd.aliases:
        parts += ["", "also: " + ", ".join(cmd.aliases)]
    return Result(text="\n".join(parts))


@command("exit", help="leave netrepl (closes the socket)", aliases=("quit",))
def _exit(ex, a, flags):
    return Result(exit=True)
