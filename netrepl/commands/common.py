"""What several command modules share: common arguments, limits and the error helper."""

from __future__ import annotations

from netrepl.core.errors import failure
from netrepl.core.results import Result
from netrepl.language.argtypes import Choice, Host, HostPort, Port
from netrepl.language.registry import Arg

MAX_RECV = 64 << 20  # one recv of more than this is a typo, not a plan
PROTOS = ("tcp", "udp")
PROTO = Choice(PROTOS)

HOST = Arg("HOST", Host(), "host", help="a host name or an IP address ([::1] brackets allowed)")
# HOST for commands that also take HOST:PORT and [v6]:PORT in one word (connect, bind).
HOST_PORT = Arg("HOST", HostPort("port"), "host", help="a host name or an IP address, or HOST:PORT, [v6]:PORT")
_UNIX_HELP = "; or a Unix socket: a PATH (it holds a /) or @NAME (Linux abstract), with no PORT"
# connect: a Unix socket path too; bind and listen also take `@` alone (the kernel picks a name).
CONNECT_ADDRESS = Arg("HOST", HostPort("port", unix=True), "host", help=HOST_PORT.help + _UNIX_HELP)
BIND_ADDRESS = Arg("HOST", HostPort("port", unix=True, autobind=True), "host",
                   help=HOST_PORT.help + _UNIX_HELP + " (`@` alone: a name the kernel chooses)")
PORT = Arg("PORT", Port(), "port", help="a port number or a service name such as http")


def error(ex, kind: str, op: str, message: str, code: int | None = None) -> Result:
    """A failure netrepl reports itself, with the session state after it."""
    return Result(error=failure(kind, op, message, code), state=ex.session.state())
