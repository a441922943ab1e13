"""Commands on the socket itself: socket, lookup, connect, bind, info, shutdown, close, timeout."""

from __future__ import annotations

from netrepl.commands.common import HOST_PORT, PORT, PROTO, PROTOS
from netrepl.language.argtypes import Choice, Port, Seconds
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
command = COMMANDS.command


@command("socket", Arg("FAMILY", Choice(("inet", "inet6")), "family", optional=True, default="inet"),
         Arg("TYPE", Choice(PROTOS), "type", optional=True, default="tcp"),
         help="create the session socket (default inet tcp)",
         details="socket.socket(AF_INET|AF_INET6, SOCK_STREAM|SOCK_DGRAM). Refused while one is open.")
def _socket(ex, a, flags):
    return ex.session.create(a["family"], a["type"])


@command("lookup", Arg("SERVICE", Port(), "service", help="a service name (getservbyname) or a port number (getservbyport)"),
         Arg("PROTO", PROTO, "proto", optional=True, default="tcp"),
         help="port of a service, or service of a port",
         details="`lookup http tcp` -> getservbyname('http', 'tcp'); `lookup 80` -> getservbyport(80, 'tcp').")
def _lookup(ex, a, flags):
    return ex.session.lookup(a["service"], a["proto"])


@command("connect", HOST_PORT, PORT,
         help="connect to HOST PORT (creates a TCP socket if none is open)",
         details="PORT is a number or a service name, looked up with getservbyname as socketerrors.py does; "
                 "HOST:PORT and [IPv6]:PORT work too. With no socket open, a TCP socket of the host's family "
                 "is created first (each address of the host is tried in turn). On a UDP socket, sets the "
                 "default peer.")
def _connect(ex, a, flags):
    return ex.session.connect(a["host"], a["port"])


@command("bind", HOST_PORT, PORT, help="bind the socket to a local address")
def _bind(ex, a, flags):
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


@command("close", help="close the session socket")
def _close(ex, a, flags):
    return ex.session.close()


@command("timeout", Arg("SECONDS", Seconds({"none": None}, minimum=0.001, maximum=86400), "seconds"),
         help="settimeout for blocking operations (default 10 s; none blocks, Ctrl-C interrupts)")
def _timeout(ex, a, flags):
    return ex.session.set_timeout(a["seconds"])
