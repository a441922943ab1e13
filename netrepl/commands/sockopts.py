"""`setsockopt NAME VALUE`: the socket options people reach for (nodelay, keepalive, reuseaddr, linger, buffers)."""

from __future__ import annotations

from netrepl.core.sockopts import OPTIONS, set_option
from netrepl.language.argtypes import Choice, Int
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
COMMANDS.group("setsockopt", help="set a socket option on the session socket (nodelay, linger, rcvbuf, ...)",
               details="Each applies to the socket open now (`socket` first to set one before `connect` or "
                       "`bind`); the value the kernel put in force is read back and said. `info` shows them all.")
ON_OFF = Choice({"on": True, "off": False})


def _setter(name: str):
    def handler(ex, a, flags):
        return set_option(ex.session, name, a["value"])
    return handler


SIZE = Int(minimum=1, maximum=(1 << 31) - 1)
for _name, _metavar, _type, _help in (
        ("nodelay", "VALUE", ON_OFF, "TCP_NODELAY: send small writes at once (no Nagle delay)"),
        ("keepalive", "VALUE", ON_OFF, "SO_KEEPALIVE: probe an idle connection"),
        ("reuseaddr", "VALUE", ON_OFF, "SO_REUSEADDR: bind a port still in TIME_WAIT"),
        ("linger", "SECONDS", Int(("off",), minimum=0, maximum=65535),
         "SO_LINGER: `setsockopt linger 0` makes `close` send a reset (RST); `linger off` the default"),
        ("rcvbuf", "BYTES", SIZE, "SO_RCVBUF: the receive buffer (the kernel doubles it)"),
        ("sndbuf", "BYTES", SIZE, "SO_SNDBUF: the send buffer (the kernel doubles it)")):
    if _name not in OPTIONS:
        raise ValueError(f"no socket option {_name!r} in core/sockopts.py")
    COMMANDS.sub("setsockopt", _name, Arg(_metavar, _type, "value"), help=_help)(_setter(_name))
