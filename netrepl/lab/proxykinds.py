"""Lab proxies: `serve socks5` (RFC 1928; user `lab` password `lab` when a client offers RFC 1929)
and `serve http-proxy` (HTTP CONNECT), for offline demos and tests of `set proxy`.

Loopback targets only (127.0.0.0/8, ::1, localhost): anything else is refused with
the protocol's own answer (SOCKS reply 2, `403 Forbidden`), so a lab proxy can never
carry traffic off the machine. Capped and idle-bounded as every lab server is
(lab/server.py); the request (a SOCKS handshake, a CONNECT head of at most HEAD_LIMIT
bytes) must arrive within HEAD_TIMEOUT in all, and the tunnel copies through one bounded buffer a way.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time

from netrepl.lab.kinds import HTTP_HEAD_TIMEOUT

HEAD_LIMIT = 8192
HEAD_TIMEOUT = HTTP_HEAD_TIMEOUT  # seconds, in all, for a CONNECT head or a SOCKS handshake to arrive
CHUNK = 65536
LAB_USER = LAB_PASSWORD = b"lab"


def _loopback(host: str) -> list[tuple] | None:
    """The addresses HOST names, if all are loopback; None otherwise (or unresolvable). A name other
    than localhost is never looked up: a lab proxy sends no DNS query off the machine."""
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        if host.lower() != "localhost" and not host.lower().endswith(".localhost"):
            return None
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    if not infos or not all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos):
        return None
    return infos


def _dial(host: str, port: int, timeout: float | None) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout or 10)


def _tunnel(a: socket.socket, b: socket.socket, server) -> None:
    """Both ways until both have ended (a FIN passed on as a shutdown), the idle timeout, or stop()."""
    open_ways = {a: b, b: a}
    idle = server.idle_timeout
    a.settimeout(idle)  # the request's deadline is over: each wait now has the idle timeout
    b.settimeout(idle)
    while open_ways and not server.stopping.is_set():
        ready, _, _ = select.select(list(open_ways), [], [], idle)
        if not ready:
            return  # idle for the whole timeout
        for src in ready:
            dst = open_ways[src]
            data = src.recv(CHUNK)
            if not data:
                del open_ways[src]
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            dst.settimeout(idle)
            dst.sendall(data)


def _within(conn: socket.socket, deadline: float) -> None:
    """The next read waits at most until the request's deadline (a client dripping bytes is cut off)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request took longer than its deadline")
    conn.settimeout(left)


def _exactly(conn: socket.socket, n: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < n:
        _within(conn, deadline)
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise ConnectionAbortedError("the client left mid-request")
        out += chunk
    return bytes(out)


def socks5(conn: socket.socket, server) -> None:
    deadline = time.monotonic() + HEAD_TIMEOUT
    version, count = _exactly(conn, 2, deadline)
    if version != 5:
        from netrepl.lab.handlers import finish

        if version == 4:  # SOCKS4's own "request rejected", so such a client is told, not reset
            conn.sendall(b"\x00\x5b" + bytes(6))
        finish(conn)
        return
    methods = _exactly(conn, count, deadline)
    if 2 in methods:
        conn.sendall(b"\x05\x02")
        _, ulen = _exactly(conn, 2, deadline)
        user = _exactly(conn, ulen, deadline)
        password = _exactly(conn, _exactly(conn, 1, deadline)[0], deadline)
        ok = user == LAB_USER and password == LAB_PASSWORD
        conn.sendall(b"\x01\x00" if ok else b"\x01\x01")
        if not ok:
            return
    elif 0 in methods:
        conn.sendall(b"\x05\x00")
    else:
        conn.sendall(b"\x05\xff")
        return
    _, command, _, atyp = _exactly(conn, 4, deadline)
    if atyp == 1:
        host = str(ipaddress.IPv4Address(_exactly(conn, 4, deadline)))
    elif atyp == 4:
        host = str(ipaddress.IPv6Address(_exactly(conn, 16, deadline)))
    elif atyp == 3:
        host = _exactly(conn, _exactly(conn, 1, deadline)[0], deadline).decode("ascii", "replace")
    else:
        conn.sendall(b"\x05\x08\x00\x01" + bytes(6))
        return
    (port,) = struct.unpack("!H", _exactly(conn, 2, deadline))
    if command != 1:
        conn.sendall(b"\x05\x07\x00\x01" + bytes(6))  # only CONNECT
        return
    if _loopback(host) is None:
        conn.sendall(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by the ruleset: loopback only
        return
    try:
        up = _dial(host, port, server.idle_timeout)
    except ConnectionRefusedError:
        conn.sendall(b"\x05\x05\x00\x01" + bytes(6))
        return
    except OSError:
        conn.sendall(b"\x05\x04\x00\x01" + bytes(6))
        return
    with up:
        bound = up.getsockname()
        ip = ipaddress.ip_address(bound[0])
        conn.sendall(b"\x05\x00\x00" + (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
                     + struct.pack("!H", bound[1]))
        _tunnel(conn, up, server)


def _answer(conn: socket.socket, status: str) -> None:
    """A refusal, then a close the client sees after it (unread bytes would make it an RST)."""
    from netrepl.lab.handlers import finish

    conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    finish(conn)


def http_proxy(conn: socket.socket, server) -> None:
    head = bytearray()
    deadline = time.monotonic() + HEAD_TIMEOUT
    while b"\r\n\r\n" not in head:  # byte by byte: what follows the head is the client's, for the tunnel
        if len(head) >= HEAD_LIMIT:
            _answer(conn, "431 Request Header Fields Too Large")
            return
        _within(conn, deadline)
        byte = conn.recv(1)
        if not byte:
            return
        head += byte
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        _answer(conn, "400 Bad Request")
        return
    if parts[0] != "CONNECT":
        _answer(conn, "405 Method Not Allowed")
        return
    host, _, port = parts[1].rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        _answer(conn, "400 Bad Request")
        return
    if _loopback(host) is None:
        _answer(conn, "403 Forbidden")  # loopback targets only
        return
    try:
        up = _dial(host, int(port), server.idle_timeout)
    except OSError:
        _answer(conn, "502 Bad Gateway")
        return
    with up:
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _tunnel(conn, up, server)
