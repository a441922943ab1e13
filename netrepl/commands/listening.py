"""The server side: listen, accept, reply (core/listener.py does the work), and lab clients to try it on."""

from __future__ import annotations

import socket

from netrepl.commands.common import BIND_ADDRESS, PORT, error
from netrepl.commands.labs import LabPort
from netrepl.commands.sending import TEXT
from netrepl.core import unix
from netrepl.core.errors import classify
from netrepl.core.results import Endpoint, Result, UnixName
from netrepl.lab.kinds import CLIENTS
from netrepl.language.argtypes import Choice
from netrepl.language.registry import Arg, CommandSet
from netrepl.render.escape import escape_bytes
from netrepl.render.text import unix_name

CLIENT_KINDS = tuple(CLIENTS)

COMMANDS = CommandSet()
command = COMMANDS.command
DEFAULT_HOST = "127.0.0.1"  # loopback unless told otherwise: a test server is not for the whole network
# The variables `listen` sets (the checker knows them too: language/nrs.py late_variables).
PORT_VAR, PATH_VAR = "listen_port", "listen_path"


def _listener():
    """core/listener.py, imported by the first command that needs it: listen/accept/reply
    are off the start-up path of most scripts (docs/bench.md)."""
    from netrepl.core import listener

    return listener


def _one_word(a) -> tuple[str, int]:
    """`listen WORD`: a number is the PORT on 127.0.0.1 (`listen 8080`), else the HOST on a free port."""
    word = a["host"]
    return (DEFAULT_HOST, int(word, 10)) if word.isdigit() else (word, 0)


def _check_listen(a):
    if isinstance(a["host"], UnixName) or a["port"] is not None:
        return None
    if a["host"].isdigit() and int(a["host"], 10) > 65535:
        return (f"port {a['host']} is out of range 0-65535", "host")
    return None


# `listen [HOST] PORT`: the first word is a PORT alone, or the HOST (HOST:PORT, a Unix PATH, @NAME).
LISTEN_ADDRESS = Arg("ADDRESS", BIND_ADDRESS.type, "host",
                     help="PORT alone (on 127.0.0.1), HOST (a free port), HOST PORT, HOST:PORT, a Unix PATH (it "
                          "holds a /), @NAME (Linux abstract) or @ (the kernel picks a name)")


@command("listen", LISTEN_ADDRESS, Arg("PORT", PORT.type, "port", optional=True, help=PORT.help),
         check=_check_listen,
         help="listen on [HOST] PORT (default 127.0.0.1; 0: a free port) or a Unix socket PATH / @NAME",
         details="Opens a listening socket beside the session socket; `accept` then waits for one client and "
                 "makes that connection the session socket. The listener stays open for the next `accept` "
                 "until `close listener`, a new `listen` or the end. `listen 0` lets the OS pick a free port "
                 "and sets $listen_port to it; one word that is not a number is the HOST, on a free port "
                 "(`listen ::1` listens on IPv6). `listen PATH` (a path holds a /) "
                 "makes a Unix stream socket file: a stale one (nothing listening) is replaced, a live one or "
                 "a file that is not a socket is refused, and the file is removed when the listener closes. "
                 "`listen @NAME` uses the Linux abstract namespace (no file); `listen @` lets the kernel pick a "
                 "name. A Unix listener sets $listen_path.")
def _listen(ex, a, flags):
    host = a["host"]
    if isinstance(host, UnixName):
        result = _listener().listen(ex.session, None, None, host)
        if result.ok:
            bound = ex.session.listener.address
            ex.variables[PATH_VAR] = unix_name(bound)
            if bound.ephemeral:
                ex.chosen_names.add(bound.name)
        return result
    host, port = (host, a["port"]) if a["port"] is not None else _one_word(a)
    result = _listener().listen(ex.session, host, port)
    if result.ok:
        ex.variables[PORT_VAR] = str(ex.session.listener.address.port)
    return result


@command("accept",
         help="wait for one client on the listener; its connection becomes the session socket",
         details="Waits at most the timeout (`timeout`; Ctrl-C stops it) and says who connected (on a Unix "
                 "socket also the client's pid/uid/gid, SO_PEERCRED). Refused while the session socket is "
                 "open: `close` the connection first; the listener stays open for the next `accept`.")
def _accept(ex, a, flags):
    return _listener().accept(ex.session)


@command("reply", TEXT,
         flags={"-l": "add the line ending (`set eol`)", "-n": "send no line ending (the default, as sendto)"},
         help="send one datagram back to the sender of the last datagram `recvfrom` received",
         details="The UDP (or Unix datagram) server side: `bind HOST PORT`, `recvfrom`, then `reply TEXT`. "
                 "TEXT takes the escapes of send; no line ending is added unless -l is given. Before any "
                 "`recvfrom` there is nobody to reply to: a state error.")
def _reply(ex, a, flags):
    data = a["text"] + ex.session.eol if "-l" in flags and "-n" not in flags else a["text"]
    return _listener().reply(ex.session, data)


@command("client", Arg("KIND", Choice(CLIENT_KINDS + ("stop",)), "kind", optional=True),
         Arg("PORT", LabPort(minimum=0, maximum=65535), "port", optional=True),
         help="start a lab client that connects to the listener (or 127.0.0.1 PORT, a Unix PATH); `client` lists",
         details="For trying the server side offline: `listen 0`, `client http` (it connects to the session's "
                 "listener; or `client http PORT|PATH`), `accept`, then "
                 "answer it. Kinds: " + "; ".join(f"{k}: {v[0]}" for k, v in CLIENTS.items())
                 + ". The client connects at once (the listener's backlog holds it until `accept`), talks in the "
                 "background, and `client` lists what each received (its first line, escaped). `client stop` "
                 "(and the end of the session) closes them.")
def _client(ex, a, flags):
    from netrepl.lab.client import LabClient  # threading: off the start-up path of scripts that never use it

    kind, port = a["kind"], a["port"]
    clients = ex.clients
    if kind is None:
        result = Result(state=ex.session.state())
        for client in clients:
            head, tail = client.describe()
            result.say(head, client.shown, tail)
            if client.kept:
                result.say("  first line received: " + escape_bytes(client.first_line()).rstrip("\n"))
        if not clients:
            result.say("no lab client started")
        return result
    if kind == "stop":
        if not clients:
            return error(ex, "state", "client stop", "no lab client started")
        for client in clients:
            client.stop()
        result = Result(state=ex.session.state()).say(f"stopped {len(clients)} lab client(s)")
        clients.clear()
        return result
    where = ex.session.listener.address if ex.session.listener is not None else None
    if port is None:  # the session's own listener
        if where is None:
            return error(ex, "state", "client", "no listener to connect to: `listen 0` first, or give the PORT "
                                                "(or Unix PATH)")
        port = where if isinstance(where, UnixName) else where.port
    if port == 0:  # (0 parses: it stands for $listen_port while a script is checked)
        return error(ex, "usage", "client", "a client connects to a port: 1-65535, not 0")
    if isinstance(port, UnixName):
        family, address, shown = unix.UNIX, unix.sockaddr(port), port
    elif isinstance(where, Endpoint) and where.port == port:  # our listener, IPv6 (`listen ::1 0`) too
        family = socket.AF_INET6 if ":" in where.host else socket.AF_INET
        address, shown = (where.host, port), where
    else:
        family, address, shown = socket.AF_INET, (DEFAULT_HOST, port), Endpoint(DEFAULT_HOST, port)
    try:
        client = LabClient(kind, family, address, shown).start()
    except OSError as exc:
        return Result(error=classify(exc, "client"), state=ex.session.state()).say("the lab client could not "
                                                                                   "connect to ", shown)
    clients.append(client)
    return Result(state=ex.session.state()).say(f"started a lab {kind} client connected to ", shown,
                                                "; `accept` takes its connection")
