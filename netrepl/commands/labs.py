"""`serve`: the built-in lab servers on 127.0.0.1 (start, list, stop)."""

from __future__ import annotations

from netrepl.commands.common import PROTO, error
from netrepl.core.results import Endpoint, Result
from netrepl.lab import kinds as lab_kinds
from netrepl.language.nrs import serve_variables  # the names `serve` sets: the checker knows them too
from netrepl.language.argtypes import Choice, Int, NotForThis, Path
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


class Recording(Path):
    """`serve replay FILE.nrs`: a path after a KIND, but never a port number or a protocol (those
    words go on to PORT and PROTO: `serve echo 8080` is echo on port 8080; ./8080 names a file),
    nor a misspelt KIND (`serve ecko` is reported as that)."""

    def convert(self, text, args, registry):
        if args.get("kind") is None or text.isdigit() or text in PROTO.words:
            raise NotForThis()
        return super().convert(text, args, registry)


def _check_serve(a):
    if a["kind"] in (None, "stop"):
        return None
    problem = lab_kinds.check_kind(a["kind"], a["proto"])  # the one table: lab/kinds.py
    return (problem, "proto") if problem else None


@COMMANDS.command("serve", Arg("KIND", Choice(lab_kinds.kind_names() + ("stop",)), "kind", optional=True),
                  Arg("FILE.nrs", Recording(), "file", optional=True),
                  Arg("PORT", Int(minimum=0, maximum=65535), "port", optional=True, default=0),
                  Arg("PROTO", PROTO, "proto", optional=True, default="tcp"),
                  check=_check_serve,
                  help="start a lab server on 127.0.0.1 (echo, http, ...); `serve stop [PORT]`; `serve` lists",
                  details=lab_kinds.details() + " `serve stop` stops servers and drops their connections. PORT 0 "
                  "(the default) lets the OS choose a free one: each start sets $lab_port (the last server "
                  "started) and $lab_KIND_port (e.g. $lab_http_port) to the port, so scripts say "
                  "`connect localhost $lab_port` and never collide when run in parallel. `serve replay FILE.nrs [PORT]` "
                  "acts as the peer a `record -p` recording talked to: it sends what the peer sent, reads what "
                  "the client sends until it matches the recording, and reports a mismatch (step, line, byte, "
                  "expected and received) in the `serve` listing and with the first command that sees the "
                  "connection end.")
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
        for server in ex.servers.values():  # the port as an Endpoint, so --stable masks an OS-chosen one
            head, _, tail = server.describe().partition(f"{server.host}:{server.port}")
            result.say(head, Endpoint(server.host, server.port, server.ephemeral), tail)
        if not ex.servers:
            result.say("no lab server running")
        return result
    if kind == "stop":
        stopping = [key for key in ex.servers if not port or key[1] == port]
        if not stopping:
            return error(ex, "state", "serve stop", "no lab server running" + (f" on port {port}" if port else ""))
        result = Result(state=ex.session.state())
        for key in stopping:
            server = ex.servers.pop(key)
            server.stop()
            result.say(f"stopped {server.kind} {server.proto} server on ",
                       Endpoint(server.host, server.port, server.ephemeral))
        return result
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
    result = Result(state=ex.session.state()).say(f"serving {kind} on {proto} ",
                                                  Endpoint(server.host, server.port, server.ephemeral))
    if kind == "replay":
        count = len(server.conversations)
        result.say(f"replaying the peer of {a['file']}: {count} conversation{'' if count == 1 else 's'}")
    return result


def _replay_server(ex, file: str, port: int):
    """A ReplayServer for FILE (resolved as `source` resolves it), or the Result saying why not."""
    from netrepl.lab.replay import ReplayError, ReplayServer  # with the lab server: not at start-up
    from netrepl.language.nrs import resolve

    try:
        return ReplayServer(resolve(file, ex.cwd), "127.0.0.1", port, shown=file)
    except ReplayError as exc:
        return error(ex, "file", "serve replay", str(exc))
    except OSError as exc:
        return error(ex, "file", "serve replay", f"{file}: {exc.strerror}", exc.errno)
