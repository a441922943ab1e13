"""A `record -p` recording's peer lines as events in recorded order, for `export --pcap`.

The grammar is core/peerlog.py's (`#<` / `#>` data and directives, `#@ tcp`
addresses before `#> connect`, `#@ udp>` / `#@ udp<` datagrams with their `#d`
bytes); the escapes are decoded as `serve replay` decodes them (lab/replay.py),
with its bounds: lines of at most MAX_LINE characters, MAX_DATA decoded bytes.

Events (tuples):
    ("open", Conn)                   a TCP connection: handshake
    ("data", Conn, way, bytes, more) bytes one way (`>` ours, `<` the peer's); `more` not kept
    ("fin", Conn, way)               that side's end of stream
    ("rst", Conn, way)               a reset
    ("udp", way, (lh, lp, rh, rp), bytes, size, line)
"""

from __future__ import annotations

import os
import re

from netrepl.core.peerlog import DIRECTIVE
from netrepl.lab.recordlines import ReplayError, recording_lines
from netrepl.lab.replay import MAX_DATA, MAX_MORE, _decode
from netrepl.language.escapes import EscapeError
from netrepl.language.nrs import MAX_BYTES

_TCP = re.compile(r"tcp (client|server) (\S{1,64}) (\d{1,5}) (\S{1,64}) (\d{1,5})\Z")
_UDP = re.compile(r"udp([<>]) (\S{1,64}) (\d{1,5}) (\S{1,64}) (\d{1,5}) (\d{1,6})\Z")
FALLBACK_CLIENT_PORT = 49152  # an older recording has no `#@` line: its ports are made up from here


class Conn:
    """One TCP connection: its addresses, which side we were, and the line of its `#> connect`."""

    __slots__ = ("number", "line", "role", "local", "remote", "guessed")

    def __init__(self, number: int, line: int, role: str, local: tuple, remote: tuple, guessed: bool):
        self.number, self.line, self.role, self.local, self.remote = number, line, role, local, remote
        self.guessed = guessed


def _port(text: str, where: str) -> int:
    port = int(text)
    if port > 65535:
        raise ReplayError(f"{where}: port {port} is over 65535")
    return port


def read(path: str) -> list[tuple]:
    """The events of a recording; ReplayError (FILE:LINE: why) or OSError when it cannot be read."""
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise ReplayError(f"{path}: {size} bytes; a recording has at most {MAX_BYTES}")
    events: list[tuple] = []
    conn: Conn | None = None
    pending_tcp = None  # the `#@ tcp` line for the next `#> connect`
    datagram = None  # the `#@ udp` event whose `#d` lines come
    last_connect = ("127.0.0.1", 0)  # the target of the last `connect` line, for a `#> connect` without `#@`
    last_client = None  # a relay recording's `# connection #N from HOST:PORT`
    total = 0
    for lineno, text in recording_lines(path):
        where = f"{path}:{lineno}"
        head, body = text[:3], text[3:]
        if head == "#@ ":
            tcp, udp = _TCP.match(body), _UDP.match(body)
            if tcp:
                pending_tcp = (tcp.group(1), (tcp.group(2), _port(tcp.group(3), where)),
                               (tcp.group(4), _port(tcp.group(5), where)))
            elif udp:
                datagram = ["udp", udp.group(1), (udp.group(2), _port(udp.group(3), where), udp.group(4),
                                                  _port(udp.group(5), where)), bytearray(), int(udp.group(6)), lineno]
                events.append(datagram)
            else:
                raise ReplayError(f"{where}: `#@ {body[:80]}` is not an address line "
                                  "(#@ tcp ROLE HOST PORT HOST PORT, #@ udp> HOST PORT HOST PORT SIZE)")
            continue
        if head == "#d ":
            if datagram is None:
                raise ReplayError(f"{where}: datagram bytes (`#d`) with no `#@ udp` line before them")
            data = _decoded(body, path, lineno)
            total += len(data)
            if total > MAX_DATA or len(datagram[3]) + len(data) > datagram[4]:
                raise ReplayError(f"{where}: more datagram bytes than its `#@ udp` line says")
            datagram[3] += data
            continue
        datagram = None
        if head not in ("#< ", "#> "):
            if text.startswith("connect "):  # where an older recording (or a relay's) connected
                last_connect = _connect_target(text)
            elif (client := _RELAYED_FROM.match(text)) is not None:  # lab/relayrecord.py's block head
                last_client = _connect_target(f"connect {client.group(1)} {client.group(2)}")
            continue
        way = text[1]
        directive = DIRECTIVE.match(body)
        if body == "connect" and way == ">":
            number = sum(1 for e in events if e[0] == "open") + 1
            if pending_tcp is not None:
                role, local, remote = pending_tcp
                conn = Conn(number, lineno, role, local, remote, False)
            else:  # no `#@` line (an older recording, a relay's): the `connect` line's target, if
                # it names an address and a port, else loopback; our port made up
                ours = "::1" if ":" in last_connect[0] else "127.0.0.1"
                local = last_client if last_client and (":" in last_client[0]) == (":" in ours) \
                    else (ours, FALLBACK_CLIENT_PORT + number)
                conn = Conn(number, lineno, "client", local, last_connect, True)
                last_client = None
            pending_tcp = None
            events.append(("open", conn))
            continue
        if conn is None:
            raise ReplayError(f"{where}: a peer line before the first `#> connect`")
        if directive and directive.group(1):  # more N bytes sha256 HEX: N bytes not kept
            more = int(directive.group(1))
            if more > MAX_MORE:
                raise ReplayError(f"{where}: `more {more} bytes` is over the limit of {MAX_MORE}")
            events.append(("data", conn, way, b"", more))
        elif directive:
            if body in ("eof", "close"):
                events.append(("fin", conn, way))
            elif body == "reset" and way == "<":
                events.append(("rst", conn, way))
            else:
                raise ReplayError(f"{where}: `{text}` is not a peer line (#> connect, #< eof, #< reset, "
                                  "#> eof, #> close)")
        else:
            data = _decoded(body, path, lineno)
            total += len(data)
            if total > MAX_DATA:
                raise ReplayError(f"{where}: more than {MAX_DATA} bytes of recorded data")
            last = events[-1]
            if last[0] == "data" and last[1] is conn and last[2] == way and not last[4]:
                last[3] += data  # one step: a bytearray while reading
            else:
                events.append(["data", conn, way, bytearray(data), 0])
    return [tuple(bytes(part) if isinstance(part, bytearray) else part for part in event) for event in events]


_RELAYED_FROM = re.compile(r"# connection #\d+ from \[?([0-9A-Fa-f:.]+)\]?:(\d{1,5})\Z")
_DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")  # ${port:-8080} -> 8080 (relay --record writes these)


def _connect_target(line: str) -> tuple[str, int]:
    """`connect HOST PORT` -> (an IP address, a port); loopback and 0 for what is not one."""
    import ipaddress

    words = _DEFAULTED.sub(lambda m: m.group(1), line).split()[1:]
    host, port = (words + ["", ""])[:2]
    if host == "localhost":
        host = "127.0.0.1"
    try:
        host = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        host = "127.0.0.1"
    port = int(port) if port.isdigit() and int(port) <= 65535 else 0
    return host, port


def _decoded(body: str, path: str, lineno: int) -> bytes:
    try:
        return _decode(body, 4)
    except EscapeError as exc:
        raise ReplayError(f"{path}:{lineno}:{exc.col}: {exc.message}") from None
