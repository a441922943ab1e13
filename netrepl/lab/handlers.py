"""What the classic lab kinds do with one connection (TCP) or one datagram (UDP).

echo, discard, daytime, chargen, close, reset, silent and slow: the handlers
kinds.py names. A TCP handler runs in its connection's thread with the
server's idle timeout already set on `conn` (server.IDLE_TIMEOUT), so a mute
or non-reading client ends in TimeoutError, which the server treats as a
normal end; it returns (or raises OSError) and the server closes `conn`.
A UDP handler returns the reply datagram, or None for no reply.
"""

from __future__ import annotations

import select
import socket
import struct
import time

LINGER_TIMEOUT = 2.0  # seconds, in all, to drain what the client still sends after our answer (finish)
LINGER_MAX = 1 << 20  # bytes drained at most: a client streaming at us can't keep the thread either
RESET_DELAY = 0.1  # seconds the reset kind waits before its RST (see reset)

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
# RFC 864: the 95 printable ASCII characters; line n is 72 of them starting at
# offset n. One full rotation (95 lines) is built once and sent over and over.
_RING = bytes(range(32, 127))
_CHARGEN_CYCLE = b"".join((_RING * 2)[n:n + 72] + b"\r\n" for n in range(len(_RING)))
_CHARGEN_UDP_LINES = 6  # 6 * 74 = 444 bytes: within RFC 864's 512 for a datagram
_SLOW_TEXT = b"netrepl slow server: one byte at a time...\r\n" * 3


def daytime_line() -> str:
    """The RFC 867 line, in UTC, without locale-dependent names."""
    t = time.gmtime()
    return (f"{_DAYS[t.tm_wday]}, {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d}, {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}-UTC\r\n")


def finish(conn: socket.socket) -> None:
    """Close after answering, but read what the client still sends first.

    Closing with unread data makes the kernel send an RST, which can make the
    client lose our answer; so send FIN and drain until its EOF -- within one
    overall deadline and byte budget, so a client dripping bytes (or streaming)
    cannot keep the thread.
    """
    conn.shutdown(socket.SHUT_WR)
    deadline, budget = time.monotonic() + LINGER_TIMEOUT, LINGER_MAX
    while budget > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        conn.settimeout(left)
        chunk = conn.recv(min(65536, budget))
        if not chunk:
            return
        budget -= len(chunk)


# ----- TCP ---------------------------------------------------------------------

def echo(conn: socket.socket, server) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def discard(conn: socket.socket, server) -> None:
    while conn.recv(65536):
        pass


silent = discard  # same over TCP: never a byte back, open until EOF, stop() or the idle timeout


def daytime(conn: socket.socket, server) -> None:
    conn.sendall(daytime_line().encode("ascii"))
    finish(conn)


def chargen(conn: socket.socket, server) -> None:
    # A client that stops reading fills the buffers; sendall then ends at the idle timeout.
    while not server.stopping.is_set():
        conn.sendall(_CHARGEN_CYCLE)


def close(conn: socket.socket, server) -> None:
    pass  # the server closes it


def reset(conn: socket.socket, server) -> None:
    # First let the client's connect() return (or the client speak): an RST that
    # arrives before connect() has seen the handshake makes connect itself fail.
    select.select([conn], [], [], RESET_DELAY)
    # Linger on with a zero timeout: close() then aborts with an RST instead of a FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def slow(conn: socket.socket, server) -> None:
    # Without TCP_NODELAY, Nagle would gather the bytes into fewer segments.
    if conn.family in (socket.AF_INET, socket.AF_INET6):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(_SLOW_TEXT)):
        if i and _gone_within(conn, server.slow_interval):
            return
        conn.sendall(_SLOW_TEXT[i:i + 1])
    finish(conn)


def _gone_within(conn: socket.socket, seconds: float) -> bool:
    """Wait `seconds`; True as soon as the client has closed (or stop() shut `conn` down).

    Waiting on the socket rather than on a timer frees the thread of a client
    that went away at once, instead of at the next byte (or never, for a long
    interval). What the client sends meanwhile is read and dropped.
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if select.select([conn], [], [], left)[0] and not conn.recv(4096):
            return True
    return False


# ----- UDP: one reply per datagram ---------------------------------------------

def echo_datagram(data: bytes, server) -> bytes | None:
    return data


def discard_datagram(data: bytes, server) -> bytes | None:
    return None


def daytime_datagram(data: bytes, server) -> bytes | None:
    return daytime_line().encode("ascii")


def chargen_datagram(data: bytes, server) -> bytes | None:
    return _CHARGEN_CYCLE[:74 * _CHARGEN_UDP_LINES]
