"""The socket options people reach for: set one (and read back what the kernel
made of it), and the getsockopt rows `info` shows.

TCP_NODELAY, SO_KEEPALIVE, SO_REUSEADDR, SO_LINGER (on with 0 s: `close`
sends a reset instead of a FIN) and the buffer sizes (Linux doubles what is
asked, for its own bookkeeping: the value read back is what is in force).
"""

from __future__ import annotations

import socket

from netrepl.core.results import Result

_LINGER = "ii"  # struct linger {int l_onoff; int l_linger;}; `struct` is imported when one is read or set

# name -> (level, option, constant's name, kind)
OPTIONS: dict[str, tuple[int, int, str, str]] = {
    "nodelay": (socket.IPPROTO_TCP, socket.TCP_NODELAY, "TCP_NODELAY", "bool"),
    "keepalive": (socket.SOL_SOCKET, socket.SO_KEEPALIVE, "SO_KEEPALIVE", "bool"),
    "reuseaddr": (socket.SOL_SOCKET, socket.SO_REUSEADDR, "SO_REUSEADDR", "bool"),
    "linger": (socket.SOL_SOCKET, socket.SO_LINGER, "SO_LINGER", "linger"),
    "rcvbuf": (socket.SOL_SOCKET, socket.SO_RCVBUF, "SO_RCVBUF", "size"),
    "sndbuf": (socket.SOL_SOCKET, socket.SO_SNDBUF, "SO_SNDBUF", "size"),
}
WIDTH = max(len(constant) for _, _, constant, _ in OPTIONS.values())


def read(sock, name: str) -> str:
    """The option's value as getsockopt reports it, in words."""
    level, option, _, kind = OPTIONS[name]
    if kind == "linger":
        import struct  # only for SO_LINGER: not on every script's start-up

        return words(kind, struct.unpack(_LINGER, sock.getsockopt(level, option, struct.calcsize(_LINGER))))
    return words(kind, sock.getsockopt(level, option))


# words() and said() use nothing but their arguments and OPTIONS: `netrepl export` copies their
# source into the programs it writes (export/optprelude.py), so both say what netrepl says.

def words(kind, value):
    """A value getsockopt read, in words: an int, or SO_LINGER's (l_onoff, l_linger)."""
    if kind == "linger":
        onoff, seconds = value
        if not onoff:
            return "off"
        return f"on, {seconds} s" + (" (close sends a reset)" if seconds == 0 else "")
    if kind == "bool":
        return "on" if value else "off"
    return f"{value} bytes"


def said(name, value, now, bound):
    """What `setsockopt NAME VALUE` says: the value asked and what getsockopt says now (its words),
    then what it means here (bound: the socket has a local address)."""
    _, _, constant, kind = OPTIONS[name]
    if kind == "linger":
        asked = "off" if value == "off" else f"on, {value} s"
    elif kind == "bool":
        asked = "on" if value else "off"
    else:
        asked = f"{value} bytes"
    lines = [f"{constant} set to {asked}; getsockopt says {now}"]
    if kind == "size" and now != asked:
        lines.append("(Linux doubles the size asked for its own bookkeeping, within net.core."
                     f"{'r' if name == 'rcvbuf' else 'w'}mem_max)")
    if name == "linger" and value == 0:
        lines.append("`close` now sends a reset (RST) instead of a FIN; unsent data is dropped")
    if name == "reuseaddr" and bound:
        lines.append("(it matters for a bind that comes after it: this socket is bound already)")
    return lines


def was_set(session) -> bool:
    """Has `setsockopt` changed an option of the socket open now? (Then `info` shows them.)"""
    return session.transport is not None and getattr(session, "sockopts_on", None) is session.transport.sock


def rows(sock) -> list[tuple[str, str]]:
    """`info` rows: each option read from the socket (one that does not apply, e.g. TCP_NODELAY on UDP, is left out)."""
    out = []
    for name, (_, _, constant, _) in OPTIONS.items():
        try:
            value = read(sock, name)
        except OSError:
            continue
        out.append(("options" if not out else "", f"{constant:<{WIDTH}}  {value}"))
    return out


def set_option(session, name: str, value) -> Result:
    """setsockopt on the session socket, then read back what is in force."""
    s = session
    if s.transport is None:
        return s._no_socket(f"setsockopt {name}")
    level, option, constant, kind = OPTIONS[name]
    sock = s.transport.sock
    if kind == "linger":
        import struct  # only for SO_LINGER: not on every script's start-up

        raw: object = struct.pack(_LINGER, 0, 0) if value == "off" else struct.pack(_LINGER, 1, value)
    else:
        raw = int(value)
    try:
        sock.setsockopt(level, option, raw)
        s.sockopts_on = sock  # a later socket is another object: its options are shown only once set
        now = read(sock, name)
    except OSError as exc:
        return s._os_error(exc, f"setsockopt({constant})")
    result = s._result()
    for line in said(name, value, now, s.local is not None):
        result.say(line)
    return result
