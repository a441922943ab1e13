"""The helpers an exported program needs for socket options (`setsockopt`, `info -o`),
generated from core/sockopts.py when the program is written: its OPTIONS table (with
each level and option as its socket constant's name), and the source of its words()
and said(), so the program says of each option what netrepl says.
"""

from __future__ import annotations

import inspect
import socket

from netrepl.core import sockopts
from netrepl.export.prelude import helper

LEVELS = ("SOL_SOCKET", "IPPROTO_TCP", "IPPROTO_IP", "IPPROTO_IPV6")


def level_name(level: int) -> str:
    """socket.SOL_SOCKET -> "SOL_SOCKET": the constant a level of OPTIONS is."""
    for name in LEVELS:
        if getattr(socket, name, None) == level:
            return name
    raise ValueError(f"a level of core/sockopts.py's OPTIONS has no name here: {level}")


def _table() -> str:
    rows = [f"    {name!r}: (socket.{level_name(level)}, socket.{constant}, {constant!r}, {kind!r}),"
            for name, (level, _, constant, kind) in sockopts.OPTIONS.items()]
    return "\n".join(["# name -> (level, option, its constant's name, kind): the options `setsockopt` sets.",
                      "OPTIONS = {", *rows, "}"])


helper("option_value", ("socket", "struct"), (), f'''
{_table()}


{inspect.getsource(sockopts.words)}

def option_value(sock, name):
    """A socket option as getsockopt reads it back, in words (SO_LINGER is struct linger: two ints)."""
    level, option, _, kind = OPTIONS[name]
    if kind == "linger":
        return words(kind, struct.unpack("ii", sock.getsockopt(level, option, struct.calcsize("ii"))))
    return words(kind, sock.getsockopt(level, option))
''')

helper("option_said", (), ("option_value",), f'''
{inspect.getsource(sockopts.said)}

def bound(sock):
    """Has the socket a local address (a port, a Unix name)? What `setsockopt reuseaddr` says depends on it."""
    address = sock.getsockname()
    return address[1] != 0 if isinstance(address, tuple) else bool(address)
''')
