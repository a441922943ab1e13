"""The server side's entries of the export table (table.py): listen, accept, reply,
client (netrepl's lab client, as real code) and close (the session socket, the
listener, or both)."""

from __future__ import annotations

from netrepl.core.results import UnixName
from netrepl.export import httpemit, listenprelude  # noqa: F401 (listenprelude: the helpers these emitters need)
from netrepl.export.emitters import _data, close_socket
from netrepl.export.program import Program
from netrepl.export.table import emitter
from netrepl.export.values import Expr, to_number
from netrepl.lab.kinds import CLIENTS, TLS_CLIENTS

DEFAULT_HOST = "127.0.0.1"  # netrepl's (commands/listening.py): `listen PORT` is on loopback


def _uses_listener(p: Program) -> None:
    """main() has a `listener` local, closed (stop_listening) when it ends."""
    p.uses.add("listener")
    p.need("stop_listening")


def _state(p: Program, command: str) -> None:
    p.refuse_state(f"`{command}` here: netrepl refuses it (its own state check); not exported")


@emitter("listen")
def _listen(p: Program, parsed) -> None:
    host, port = parsed.args["host"], parsed.args["port"]
    _uses_listener(p)
    if p.listener:  # netrepl replaces the listener open before
        p.code("stop_listening(listener)")
    if isinstance(host, UnixName):
        p.need("listen_unix")
        p.need("unix_name")
        p.code(f"listener = listen_unix({p.unix(parsed)})")
        _sets(p, "listen_path", "unix_name(listener.getsockname())", "str")
        p.listener_family = "unix"
    else:
        p.need("listen")
        if port is None and p.raw(parsed, "host") is None and host.isdigit():  # `listen PORT`: on 127.0.0.1
            code = f"listen({DEFAULT_HOST!r}, {int(host, 10)})"
        elif port is None:  # `listen HOST` (a free port), or one word from an option: a port if a number
            word = p.host(parsed)
            code = f"listen({word}, 0)" if p.raw(parsed, "host") is None else \
                f"listen(*(({DEFAULT_HOST!r}, int({word})) if {word}.isdigit() else ({word}, 0)))"
        else:
            code = f"listen({p.host(parsed)}, {p.port(parsed)})"
        p.code(f"listener = {code}")
        _sets(p, "listen_port", "listener.getsockname()[1]", "int")
        p.listener_family = "inet"
    p.listener = True


def _sets(p: Program, name: str, code: str, kind: str) -> None:
    """The variable `listen` sets: a local of main(), assigned only when the script reads it."""
    if name in p.values.used or not p.values.decided:
        p.code(f"{name} = {code}")
    p.values.bound[name] = Expr(name, kind)


@emitter("accept")
def _accept(p: Program, parsed) -> None:
    httpemit.forget_requests(p)  # a new connection: no request waits for its response
    if not p.listener or (p.sock and not p.maybe_closed):
        _state(p, "accept")
    p.no_open_socket("accept", "the session socket is open")
    p.need("accept")
    p.uses.add("timeout")
    p.code("sock = accept(listener, timeout)")
    p.opened("tcp", p.listener_family)
    p.connected = True  # a later connect closes this connection first, as netrepl's does
    p.peer = "sock.getpeername()[0]" if p.listener_family != "unix" else None  # the TLS name: the peer's address


@emitter("reply")
def _reply(p: Program, parsed) -> None:
    if not p.sock or p.proto != "udp" or not p.sender:
        _state(p, "reply")
    data = _data(p, parsed, "-l" in parsed.flags and "-n" not in parsed.flags)
    p.code(f"sock.sendto({data}, sender)  # back to the sender of the last datagram")


@emitter("client")
def _client(p: Program, parsed) -> None:
    kind, port = parsed.args["kind"], parsed.args["port"]
    p.uses.add("clients")
    if kind is None:
        p.need("note")
        p.code("for client in clients:", "    note(client.describe())")
        return
    if kind == "stop":
        p.code("for client in clients:", "    client.stop()", "clients.clear()")
        return
    if isinstance(port, UnixName):
        target = p.unix(parsed, "port")
    elif p.raw(parsed, "port") is not None:
        target = to_number(p.value(parsed, "port", "int"), "int").code
    elif port is not None:
        target = repr(port)
    elif p.listener:
        target = "None"  # the session's own listener
    else:
        _state(p, "client")
    if kind in TLS_CLIENTS:
        p.refuse(f"`client {kind}` (a lab client over TLS) is not exported: the program has no lab client for TLS")
    p.need("lab_client")
    _uses_listener(p)
    p.comment(f"(netrepl's lab {kind} client: it sends these bytes, then reads until the server closes)")
    p.code(f"clients.append(lab_client({CLIENTS[kind][1]!r}, {target}, listener))")


@emitter("close")
def _close(p: Program, parsed) -> None:
    what = parsed.args["what"]
    if what is None:
        p.no_socket("close")
        close_socket(p)
        return
    if what == "listener" and not p.listener or what == "all" and not (p.listener or p.sock):
        _state(p, f"close {what}")
    if what == "all" and p.sock and p.maybe_closed and p.listener:  # the socket, if the handshake left one
        p.code("if sock is not None:")
        p.depth += 1
        close_socket(p)
        p.depth -= 1
    elif what == "all" and p.sock:
        p.no_socket("close all")
        close_socket(p)
    if p.listener:
        p.code("stop_listening(listener)", "listener = None")
        p.listener = False
