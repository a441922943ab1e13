"""Reaching a server through a proxy (`set proxy`), and the PROXY protocol header (`set proxy-protocol`).

`connect HOST PORT` with a proxy set connects to the proxy instead (its own
`connect` phase in `timing`), then asks it for HOST PORT (the `proxy` phase):

  - SOCKS5 (RFC 1928), with username/password (RFC 1929) when given: a name is
    sent as a name (ATYP 3), so the proxy resolves it; an address as one.
    A refusal names the reply code (`reply 5: connection refused`).
  - HTTP CONNECT (RFC 9110 section 9.3.6), with Basic Proxy-Authorization when
    given. A refusal shows the proxy's status line (escaped by the renderer).

Either failure is of kind `proxy`. Once the proxy says yes, the socket is a
tunnel to HOST PORT: every command (and `tls`, end to end) works through it.
The proxy's answer is read byte by byte up to its end, never past it, so a
server that speaks first keeps all of its bytes for the session.

The PROXY protocol (HAProxy's, v1 text or v2 binary; TCP4 or TCP6) header is
sent right after each connect, naming ADDR PORT as the source and the real
destination, and shown as a sent step.

Bounded: each read waits at most the session's timeout (Ctrl-C stops it); an
HTTP proxy's answer head is at most HEAD_LIMIT bytes.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time

from netrepl.core.errors import classify, failure
from netrepl.core.results import Elapsed, Endpoint, Result

HEAD_LIMIT = 16384  # bytes of an HTTP proxy's answer head, at most
SOCKS_REPLIES = {
    0: "succeeded", 1: "general SOCKS server failure", 2: "connection not allowed by ruleset",
    3: "network unreachable", 4: "host unreachable", 5: "connection refused", 6: "TTL expired",
    7: "command not supported", 8: "address type not supported",
}
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


class ProxyRefused(Exception):
    """The proxy said no (or spoke something else): the message says what it said."""


class Proxy:
    """`set proxy KIND HOST PORT [USER PASS]`."""

    __slots__ = ("kind", "host", "port", "user", "password")

    def __init__(self, kind: str, host: str, port: int, user: str | None = None, password: str | None = None):
        self.kind, self.host, self.port, self.user, self.password = kind, host, port, user, password

    def __str__(self) -> str:
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"{self.kind} proxy {where}" + (f" (user {self.user})" if self.user else "")


class ProxyProtocol:
    """`set proxy-protocol v1|v2 ADDR PORT`: the source a PROXY header names."""

    __slots__ = ("version", "address", "port")

    def __init__(self, version: str, address: str, port: int):
        self.version, self.address, self.port = version, address, port


def setting_lines(session, secrets=None) -> list[str]:
    """`set proxy ...` and `set proxy-protocol ...` as they stand, for a recording started after
    them (its connects depend on them). `secrets` (`set redact on`): the password as ${secretN}."""
    out = []
    p, pp = session.proxy, session.proxy_protocol
    if p is not None:
        line = f"set proxy {p.kind} {p.host} {p.port}"
        if p.user is not None:
            password = (f"${{{secrets.name(p.password.encode('utf-8', 'surrogateescape'), 'proxy password')}}}"
                        if secrets is not None else p.password.replace("$", "$$"))
            line += f" {p.user.replace('$', '$$')} {password}"
        out.append(line)
    if pp is not None:
        out.append(f"set proxy-protocol {pp.version} {pp.address} {pp.port}")
    return out


# ----- the handshakes ------------------------------------------------------------------------

def _exactly(sock: socket.socket, n: int, what: str) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ProxyRefused(f"the proxy closed the connection during {what} (after {len(out)} of {n} bytes)")
        out += chunk
    return bytes(out)


def socks5(sock: socket.socket, host: str, port: int, user: str | None, password: str | None) -> None:
    methods = b"\x00\x02" if user is not None else b"\x00"
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    version, method = _exactly(sock, 2, "the SOCKS greeting")
    if version != 5:
        raise ProxyRefused(f"not a SOCKS5 proxy: it answered version {version}")
    if method == 0xFF:
        raise ProxyRefused("the SOCKS5 proxy accepts none of our methods (reply 0xff: "
                           + ("no acceptable methods" if user is not None else "it wants a user and password") + ")")
    if method == 2:
        if user is None:
            raise ProxyRefused("the SOCKS5 proxy asks for a user and password: set proxy socks5 HOST PORT USER PASS")
        u, p = user.encode(), (password or "").encode()
        if len(u) > 255 or len(p) > 255:
            raise ProxyRefused("a SOCKS5 user or password is at most 255 bytes")
        sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        _, status = _exactly(sock, 2, "the SOCKS5 authentication")
        if status != 0:
            raise ProxyRefused(f"the SOCKS5 proxy refused the user and password (status {status})")
    elif method != 0:
        raise ProxyRefused(f"the SOCKS5 proxy chose method {method}, which was not offered")
    sock.sendall(b"\x05\x01\x00" + _socks_address(host) + struct.pack("!H", port))
    version, reply, _, atyp = _exactly(sock, 4, "the SOCKS5 reply")
    if reply != 0:
        raise ProxyRefused(f"the SOCKS5 proxy refused: reply {reply} ({SOCKS_REPLIES.get(reply, 'unassigned')})")
    size = {1: 4, 4: 16}.get(atyp)
    if size is None:
        if atyp != 3:
            raise ProxyRefused(f"the SOCKS5 proxy answered an unknown address type {atyp}")
        size = _exactly(sock, 1, "the SOCKS5 reply")[0]
    _exactly(sock, size + 2, "the SOCKS5 reply")  # the address it bound: not needed


def _socks_address(host: str) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if len(name) > 255:
            raise ProxyRefused(f"a host name for SOCKS5 is at most 255 bytes ({len(name)})") from None
        return b"\x03" + bytes([len(name)]) + name  # the proxy resolves it
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


def http_connect(sock: socket.socket, host: str, port: int, user: str | None, password: str | None) -> None:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {where} HTTP/1.1\r\nHost: {where}\r\n"
    if user is not None:
        import base64

        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        head += f"Proxy-Authorization: Basic {token}\r\n"
    sock.sendall((head + "\r\n").encode())
    answer = bytearray()
    while not answer.endswith(b"\r\n\r\n") and not answer.endswith(b"\n\n"):  # byte by byte: never past it
        if len(answer) >= HEAD_LIMIT:
            raise ProxyRefused(f"the HTTP proxy's answer head is over {HEAD_LIMIT} bytes")
        byte = sock.recv(1)
        if not byte:
            first = answer.split(b"\n", 1)[0].decode("latin-1").rstrip("\r")
            raise ProxyRefused("the HTTP proxy closed the connection" + (f" after {first!r}" if answer else ""))
        answer += byte
    status = answer.split(b"\n", 1)[0].decode("latin-1").rstrip("\r")
    parts = status.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyRefused(f"not an HTTP proxy's answer: {status!r}")
    if not parts[1].startswith("2"):
        raise ProxyRefused(f"the HTTP proxy refused CONNECT {where}: {status}")


HANDSHAKES = {"socks5": socks5, "http": http_connect}


# ----- connect through it ------------------------------------------------------------------

def connect_via(session, proxy: Proxy, host: str, port: int, resolve) -> Result:
    """The session's `connect HOST PORT` through `proxy`: its own phases in `timing`. `resolve` is
    connect.py's getaddrinfo with its errors worded (given, so this module does not import connect.py)."""
    from netrepl.core.sockstate import FAMILY_NAMES
    from netrepl.core.timing import Timing, kernel_rtt

    s = session
    result = s._result()
    s.timing = timing = Timing(host)
    started = time.perf_counter()
    try:
        addresses = resolve(s, proxy.host, proxy.port, socket.SOCK_STREAM)
    except OSError as exc:
        timing.add("resolve", time.perf_counter() - started, started, outcome="failed", detail=proxy.host)
        return s._os_error(exc, "connect", result)
    except KeyboardInterrupt as exc:
        return s._fail(classify(exc, "connect"), result)
    timing.add("resolve", time.perf_counter() - started, started, detail=f"the proxy {proxy.host}")
    family, socktype, proto, _, address = addresses[0]
    created_here = s.transport is None
    if created_here:
        try:
            s.adopt(socket.socket(family, socktype, proto))
        except OSError as exc:
            return s._os_error(exc, "socket", result)
        result.say(f"created {FAMILY_NAMES.get(family, family)} tcp socket")
    sock = s.transport.sock
    where = Endpoint.of(address)
    started = time.perf_counter()
    try:
        sock.connect(address)
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "connect")
        timing.add("connect", time.perf_counter() - started, started, where, err.errname or err.kind,
                   detail="the proxy")
        s._discard_socket()
        s.gone = "the one `connect` made for the proxy was closed when its connect failed"
        return s._fail(err, result.say(f"connecting to the {proxy} failed; closed the socket"))
    timing.add("connect", time.perf_counter() - started, started, where, detail="the proxy")
    started = time.perf_counter()
    try:
        HANDSHAKES[proxy.kind](sock, host, port, proxy.user, proxy.password)
    except ProxyRefused as exc:
        timing.add("proxy", time.perf_counter() - started, started, outcome="refused", detail=proxy.kind)
        s._discard_socket()
        s.gone = "the one connected to the proxy was closed when the proxy refused"
        return s._fail(failure("proxy", "connect", str(exc)), result)
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "connect")
        timing.add("proxy", time.perf_counter() - started, started, outcome=err.errname or err.kind,
                   detail=proxy.kind)
        s._discard_socket()
        s.gone = "the one connected to the proxy was closed when its handshake failed"
        return s._fail(err, result.say(f"the {proxy} handshake failed"))
    elapsed = time.perf_counter() - started
    timing.add("proxy", elapsed, started, detail=f"{proxy.kind} to {host}:{port}")
    timing.rtt = kernel_rtt(sock)
    s.transport.timing = timing
    s.connected, s.connect_failed = True, None
    s.peer, s.peer_name = Endpoint(host, port), host
    s.via = str(proxy)
    s._refresh_addresses()
    s.peer = Endpoint(host, port)  # the tunnel's far end, not the proxy getpeername() names
    result.say("connected ", s.local or "?", " -> ", s.peer, f" ({host}) through the {proxy} in ",
               Elapsed(time.perf_counter() - timing.began))
    result.state = s.state()
    return result


# ----- the PROXY protocol ------------------------------------------------------------------

def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.strip("[]"))


def proxy_header(version: str, src: str, sport: int, dst: str, dport: int) -> bytes:
    """A PROXY protocol header (v1 or v2, TCP over IPv4 or IPv6); an IPv4 address meets IPv6 as ::ffff:a.b.c.d."""
    s, d = _address(src), _address(dst)
    if s.version != d.version:
        s, d = (ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a for a in (s, d))
    if version == "v1":
        def text(a):  # a mapped IPv4 address as people write it (and as nginx reports it)
            return f"::ffff:{a.ipv4_mapped}" if a.version == 6 and a.ipv4_mapped else str(a)

        return f"PROXY TCP{s.version} {text(s)} {text(d)} {sport} {dport}\r\n".encode("ascii")
    family = b"\x11" if s.version == 4 else b"\x21"
    body = s.packed + d.packed + struct.pack("!HH", sport, dport)
    return V2_SIGNATURE + b"\x21" + family + struct.pack("!H", len(body)) + body


def send_proxy_header(session, result: Result, host: str) -> Result:
    """After a connect: the header, sent first and shown (a failure to send is the connect's failure)."""
    from netrepl.language.escapes import encode_escapes

    s, setting = session, session.proxy_protocol
    try:
        dst = s.peer.host if s.peer is not None else host
        try:
            _address(dst)
        except ValueError:  # a name (through a SOCKS proxy): the header needs an address
            dst = socket.getaddrinfo(dst, None, socket.AF_UNSPEC, socket.SOCK_STREAM)[0][4][0]
        header = proxy_header(setting.version, setting.address, setting.port, dst, s.peer.port)
        s.transport.sock.sendall(header)
    except (OSError, ValueError, KeyboardInterrupt) as exc:
        err = classify(exc, "proxy-protocol") if not isinstance(exc, ValueError) else \
            failure("usage", "proxy-protocol", str(exc))
        return s._fail(err, result)
    s.sent += len(header)
    result.say(f"sent PROXY protocol {setting.version} header ({len(header)} bytes, source "
               f"{setting.address} port {setting.port}): {encode_escapes(header)}")
    result.state = s.state()
    return result
