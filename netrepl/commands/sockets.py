"""Commands on the socket itself: socket, lookup, connect, bind, info, shutdown, close, timeout."""

from __future__ import annotations

from netrepl.commands.common import BIND_ADDRESS, CONNECT_ADDRESS, PORT, PROTO, PROTOS, error
from netrepl.core import unix
from netrepl.core.results import Result, UnixName
from netrepl.core.sockstate import UNIX_TYPES
from netrepl.language.argtypes import Candidates, Choice, Mismatch, Port, Seconds
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
command = COMMANDS.command


class SocketType(Choice):
    """tcp|udp, and their unix names stream|dgram: completion offers the names of the family
    given before it (`socket unix ` -> stream, dgram)."""

    def convert(self, text, args, registry):
        if text in UNIX_TYPES:
            return text
        raise Mismatch()

    def usage(self, metavar):
        return "|".join((*self.words, *UNIX_TYPES))

    def lex(self, text, args, registry):
        return "Keyword.Constant" if text in UNIX_TYPES else super().lex(text, args, registry)

    def candidates(self, label, args, registry):
        words = tuple(UNIX_TYPES) if args.get("family") == "unix" else tuple(self.words)
        return Candidates("words", words, label)


# The same two types under both names: unix tcp is a unix stream socket, inet dgram a udp one.
SAME_TYPE = {"tcp": "stream", "udp": "dgram", "stream": "tcp", "dgram": "udp"}


@command("socket", Arg("FAMILY", Choice(("inet", "inet6", "unix")), "family", optional=True, default="inet"),
         Arg("TYPE", SocketType(PROTOS), "type", optional=True, default="tcp"),
         help="create the session socket (default inet tcp; unix: stream or dgram)",
         details="socket.socket(AF_INET|AF_INET6|AF_UNIX, SOCK_STREAM|SOCK_DGRAM): tcp and stream are one type, "
                 "udp and dgram the other (unix tcp is a unix stream socket). Refused while one is open. "
                 "`socket unix dgram` then `bind PATH` (or `bind @NAME`), `recvfrom` and `reply` is a Unix "
                 "datagram server.")
def _socket(ex, a, flags):
    kind = a["type"]
    if (a["family"] == "unix") != (kind in UNIX_TYPES):
        kind = SAME_TYPE[kind]
    return ex.session.create(a["family"], kind)


@command("lookup", Arg("SERVICE", Port(), "service", help="a service name (getservbyname) or a port number (getservbyport)"),
         Arg("PROTO", PROTO, "proto", optional=True, default="tcp"),
         help="port of a service, or service of a port",
         details="`lookup http tcp` -> getservbyname('http', 'tcp'); `lookup 80` -> getservbyport(80, 'tcp').")
def _lookup(ex, a, flags):
    return ex.session.lookup(a["service"], a["proto"])


@command("connect", CONNECT_ADDRESS, PORT,
         help="connect to HOST PORT (creates a TCP socket if none is open)",
         details="PORT is a number or a service name, looked up with getservbyname as socketerrors.py does; "
                 "HOST:PORT and [IPv6]:PORT work too. With no socket open, a TCP socket of the host's family "
                 "is created first (each address of the host is tried in turn). On a connected socket (the "
                 "connection open, lost or closed by the peer) it closes that connection first, saying so "
                 "with its totals, and connects anew. On a UDP socket, sets (or changes) the default peer. "
                 "`connect PATH` (a word holding a /) or `connect @NAME` (the Linux abstract namespace) "
                 "connects a Unix stream socket, with no PORT, and shows the peer's pid/uid/gid.")
def _connect(ex, a, flags):
    s = ex.session
    if isinstance(a["host"], UnixName) or s.family == "unix":
        # A connected stream socket is replaced (as core/connect.py does for HOST PORT): here
        # before the family is looked at, so a TCP connection can be followed by a Unix one.
        if (ended := s.end_connection()) is not None:
            result = (unix.connect(s, a["host"]) if isinstance(a["host"], UnixName)
                      else s.connect(a["host"], a["port"]))
            result.lines.insert(0, ended)
            return result
    if isinstance(a["host"], UnixName):
        return unix.connect(ex.session, a["host"])
    if ex.session.family == "unix":
        return error(ex, "state", "connect", "the session socket is a unix socket: connect it to a PATH or "
                                             "@NAME, or `close` it first")
    return ex.session.connect(a["host"], a["port"])


@command("bind", BIND_ADDRESS, PORT, help="bind the socket to a local address (a Unix socket: PATH or @NAME)")
def _bind(ex, a, flags):
    if isinstance(a["host"], UnixName):
        result = unix.bind(ex.session, a["host"])
        if result.ok and a["host"].ephemeral:  # `bind @`: the kernel's name is masked under --stable
            ex.chosen_names.add(ex.session.local.name)
        return result
    if ex.session.family == "unix":
        return error(ex, "state", "bind", "the session socket is a unix socket: bind it to a PATH or @NAME")
    return ex.session.bind(a["host"], a["port"])


@command("info", flags={"-o": "also the socket options (getsockopt), as `setsockopt` sets them"},
         help="family, type, state, local and peer address, timeout, byte counts",
         details="With -o, or once `setsockopt` has set one on this socket, the options too: TCP_NODELAY, "
                 "SO_KEEPALIVE, SO_REUSEADDR, SO_LINGER, SO_RCVBUF, SO_SNDBUF as getsockopt reads them.")
def _info(ex, a, flags):
    return ex.session.info(options="-o" in flags)


@command("shutdown", Arg("HOW", Choice({"0": 0, "1": 1, "2": 2, "rd": 0, "wr": 1, "rdwr": 2}), "how"),
         help="shut down the read (0), write (1) or both (2) sides",
         details="`shutdown 1` flushes and closes the write side; on a lost connection it reports the error "
                 "that send() could not (the worksheet's shutdown.py).")
def _shutdown(ex, a, flags):
    return ex.session.shutdown(a["how"])


@command("close", Arg("WHAT", Choice(("listener", "all")), "what", optional=True),
         help="close the session socket; `close listener` the listener; `close all` both",
         details="`close` closes the connection (or socket) and leaves a listener open for the next `accept`. "
                 "`close listener` stops listening (a Unix socket file is removed), `close all` does both.")
def _close(ex, a, flags):
    what = a["what"]
    if what is None:
        return ex.session.close()
    # core/listener.py is imported by the commands that use a listener, not at start-up (docs/bench.md)
    from netrepl.core import listener

    if what == "listener":
        return listener.stop(ex.session)
    result = Result()
    for done in ((ex.session.close(),) if ex.session.transport is not None else ()) + (
            (listener.stop(ex.session),) if ex.session.listener is not None else ()):
        result.lines += done.lines
    if not result.lines:
        return error(ex, "state", "close all", "no socket and no listener open")
    result.state = ex.session.state()
    return result


@command("timeout", Arg("SECONDS", Seconds({"none": None}, minimum=0.001, maximum=86400), "seconds"),
         help="settimeout for blocking operations (default 10 s; none blocks, Ctrl-C interrupts)")
def _timeout(ex, a, flags):
    return ex.session.set_timeout(a["seconds"])
