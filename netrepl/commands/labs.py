"""`serve`: the built-in lab servers on 127.0.0.1 (start, list, stop)."""

from __future__ import annotations

from netrepl.commands.common import PROTO, error
from netrepl.core.results import Endpoint, Result
from netrepl.lab import kinds as lab_kinds
from netrepl.language.nrs import serve_constants, serve_variables  # the names `serve` sets: the checker knows them too
from netrepl.core.results import UnixName
from netrepl.core.unix import is_unix_word, parse_name
from netrepl.language.argtypes import ArgError, Choice, Int, NotForThis, Path
from netrepl.render.text import unix_name
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


class LabPort(Int):
    """A port number, or (for a lab server on a Unix stream socket) a PATH, @NAME or `@`."""

    def convert(self, text, args, registry):
        if is_unix_word(text):
            try:
                return parse_name(text, allow_autobind=True)
            except ValueError as exc:
                raise ArgError(str(exc)) from None
        return super().convert(text, args, registry)

    def lex(self, text, args, registry):
        token = super().lex(text, args, registry)
        return "String" if token != "Error" and is_unix_word(text) else token


class Recording(Path):
    """`serve replay FILE.nrs`: a path after a KIND, but never a port number or a protocol (those
    words go on to PORT and PROTO: `serve echo 8080` is echo on port 8080; ./8080 names a file),
    nor a misspelt KIND (`serve ecko` is reported as that), nor, after another kind, a Unix socket
    path or @NAME (`serve echo ./x.sock` serves echo there)."""

    def convert(self, text, args, registry):
        kind = args.get("kind")
        if kind is None or text.isdigit() or text in PROTO.words or (kind != "replay" and is_unix_word(text)):
            raise NotForThis()
        return super().convert(text, args, registry)


def unix_variables(kind: str) -> tuple[str, str]:
    """What `serve KIND PATH` sets to the socket's name (`@` lets the kernel choose one)."""
    return "lab_path", f"lab_{kind}_path"


def _check_serve(a):
    if a["kind"] in (None, "stop"):
        return None
    if isinstance(a["port"], UnixName) and a["proto"] != "tcp":
        return ("a lab server on a Unix socket is a stream server: no udp", "proto")
    problem = lab_kinds.check_kind(a["kind"], a["proto"])  # the one table: lab/kinds.py
    return (problem, "proto") if problem else None


@COMMANDS.command("serve", Arg("KIND", Choice(lab_kinds.kind_names() + ("stop",)), "kind", optional=True),
                  Arg("FILE.nrs", Recording(), "file", optional=True),
                  Arg("PORT", LabPort(minimum=0, maximum=65535), "port", optional=True, default=0),
                  Arg("PROTO", PROTO, "proto", optional=True, default="tcp"),
                  check=_check_serve,
                  help="start a lab server on 127.0.0.1 (echo, http, ...); `serve stop [PORT]`; `serve` lists",
                  details=lab_kinds.details() + " `serve stop` stops servers and drops their connections. PORT 0 "
                  "(the default) lets the OS choose a free one: each start sets $lab_port (the last server "
                  "started) and $lab_KIND_port (e.g. $lab_http_port) to the port, so scripts say "
                  "`connect localhost $lab_port` and never collide when run in parallel. On a Unix stream "
                  "socket: `serve KIND PATH` (a path holds a /), `serve KIND @NAME` (abstract) or `serve KIND @` "
                  "(the kernel picks a name) set $lab_path and $lab_KIND_path; a stale socket file is replaced, "
                  "a live one refused, and the file is removed when the server stops. A TLS kind also sets "
                  "$lab_ca, the lab CA file (`set tls ca $lab_ca` makes its certificates verify). "
                  "`serve replay FILE.nrs [PORT]` acts as the peer a `record -p` recording talked to: it sends "
                  "what the peer sent, reads what the client sends until it matches the recording, and reports "
                  "a mismatch (step, line, byte, expected and received) in the `serve` listing and with the "
                  "first command that sees the connection end.")
def _serve(ex, a, flags):
    # Imported here, not at the top: the lab server brings threading, select and the HTTP
    # machinery, which a script that never serves should not pay for at start-up.
    from netrepl.lab.server import LabServer, LabServerError

    kind, port, proto = a["kind"], a["port"], a["proto"]
    if kind == "replay" and a["file"] is None:  # here, not in the check: KIND and FILE parse apart
        return error(ex, "usage", "serve replay", "`serve replay` needs the recording: serve replay FILE.nrs [PORT]")
    if a["file"] is not None and kind != "replay":
        usage = "serve stop [PORT]" if kind == "stop" else f"serve {kind} [PORT] [PROTO]"
        return error(ex, "usage", "serve", f"only `serve replay` takes a FILE.nrs (got {a['file']!r} after "
                                           f"{kind}); usage: {usage}")
    if kind is None:
        result = Result(state=ex.session.state())
        for key, server in ex.servers.items():  # the port as an Endpoint, so --stable masks an OS-chosen one
            if key[0] == "relay":  # `relay` lists relays (commands/relaying.py)
                continue
            if getattr(server, "name", None) is not None:  # a Unix server: its name as a UnixName part
                head, _, tail = server.describe().partition(server.where())
                result.say(head, server.name, tail)
                continue
            head, _, tail = server.describe().partition(f"{server.host}:{server.port}")
            result.say(head, Endpoint(server.host, server.port, server.ephemeral), tail)
        if not any(key[0] != "relay" for key in ex.servers):
            result.say("no lab server running")
        return result
    if kind == "stop":
        if isinstance(port, UnixName):
            port = unix_name(port)  # `serve stop PATH`: the key of a Unix server
        stopping = [key for key in ex.servers if key[0] != "relay" and (not port or key[1] == port)]
        if not stopping:
            return error(ex, "state", "serve stop", "no lab server running" + (f" on port {port}" if port else ""))
        result = Result(state=ex.session.state())
        for key in stopping:
            server = ex.servers.pop(key)
            server.stop()
            where = getattr(server, "name", None) or Endpoint(server.host, server.port, server.ephemeral)
            result.say(f"stopped {server.kind} {key[0]} server on ", where)
        return result
    if isinstance(port, UnixName):
        return _serve_unix(ex, kind, port)
    try:
        if kind == "replay":
            server = _replay_server(ex, a["file"], port)
            if isinstance(server, Result):
                return server
        else:
            server = LabServer(kind, "127.0.0.1", port, proto)
        server.start()
    except ValueError as exc:
        return error(ex, "usage", "serve", str(exc))
    except LabServerError as exc:
        return error(ex, "io", "serve", str(exc), exc.errno)
    ex.servers[(proto, server.port)] = server
    for name in serve_variables(kind):  # what a script connects to, whatever port the OS chose
        ex.variables[name] = str(server.port)
    ex.variables.update(serve_constants(kind))  # $lab_ca for a TLS kind
    result = Result(state=ex.session.state()).say(f"serving {kind} on {proto} ",
                                                  Endpoint(server.host, server.port, server.ephemeral))
    if kind in lab_kinds.TLS_KINDS:  # the path itself varies by install: a transcript shows the variable
        result.say("lab-only certificates; the lab CA is $lab_ca (trust it: set tls ca $lab_ca)")
    if kind == "replay":
        count = len(server.conversations)
        result.say(f"replaying the peer of {a['file']}: {count} conversation{'' if count == 1 else 's'}")
    return result


def _replay_server(ex, file: str, port: int):
    """A ReplayServer for FILE (resolved as `source` resolves it), or the Result saying why not."""
    from netrepl.lab.replay import ReplayError, ReplayServer  # with the lab server: not at start-up
    from netrepl.language.nrs import resolve

    try:
        return ReplayServer(resolve(file, ex.cwd), "127.0.0.1", port, shown=file, variables=ex.variables)
    except ReplayError as exc:
        return error(ex, "file", "serve replay", str(exc))
    except OSError as exc:
        return error(ex, "file", "serve replay", f"{file}: {exc.strerror}", exc.errno)


def _serve_unix(ex, kind: str, name: UnixName) -> Result:
    from netrepl.lab.server import LabServerError  # (as above: off the start-up path)
    from netrepl.lab.unixserver import UnixLabServer

    try:
        server = UnixLabServer(kind, name).start()
    except ValueError as exc:
        return error(ex, "usage", "serve", str(exc))
    except LabServerError as exc:
        return error(ex, "io", "serve", str(exc), exc.errno)
    shown = unix_name(server.name)
    if server.name.ephemeral:
        ex.chosen_names.add(server.name.name)
    ex.servers[("unix", shown)] = server
    for var in unix_variables(kind):
        ex.variables[var] = shown
    result = Result(state=ex.session.state())
    if server.replaced:
        result.say(server.replaced)
    return result.say(f"serving {kind} on unix ", server.name)
