"""`set proxy` and `set proxy-protocol` in an exported program: the SOCKS5 and HTTP CONNECT
handshakes and the PROXY protocol header, written out as plain socket code (core/proxy.py
is what netrepl runs; these are the same steps, for a reader to follow).

`set proxy KIND HOST PORT [USER PASS]` binds the program's `proxy` local; each `connect`
after it (emitters.py asks `connect_code`) connects to the proxy and asks it for the
target. `set proxy-protocol v1|v2 ADDR PORT` binds `proxy_source`; each connect after it
sends the header first. A script has no branches, so which code a connect needs is known
here, as it is for every other setting.
"""

from __future__ import annotations

from netrepl.export.prelude import helper
from netrepl.export.program import Program
from netrepl.export.table import emitter
from netrepl.export.values import to_str

helper("proxy_refused", (), (), '''
class ProxyRefused(OSError):
    """The proxy said no, or did not speak its protocol (netrepl's failure kind proxy): the
    message names the SOCKS reply code or shows the HTTP proxy's status line."""


def proxy_read(sock, count, what):
    """Exactly count bytes of the proxy's answer (never more: what follows is the server's)."""
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ProxyRefused(f"the proxy closed the connection during {what} (after {len(data)} of {count} bytes)")
        data += chunk
    return bytes(data)
''')

helper("socks5_connect", ("ipaddress", "struct"), ("proxy_refused",), '''
SOCKS_REPLIES = {
    0: "succeeded", 1: "general SOCKS server failure", 2: "connection not allowed by ruleset",
    3: "network unreachable", 4: "host unreachable", 5: "connection refused", 6: "TTL expired",
    7: "command not supported", 8: "address type not supported",
}


def socks5_connect(sock, host, port, user, password):
    """Ask a SOCKS5 proxy (RFC 1928) for a tunnel to host, port, logging in (RFC 1929) if asked to."""
    # 1. Greeting: version 5 and the methods we offer (0: none; 2: user and password).
    methods = b"\\x00\\x02" if user is not None else b"\\x00"
    sock.sendall(b"\\x05" + bytes([len(methods)]) + methods)
    version, method = proxy_read(sock, 2, "the SOCKS greeting")
    if version != 5:
        raise ProxyRefused(f"not a SOCKS5 proxy: it answered version {version}")
    if method == 0xFF:
        raise ProxyRefused("the SOCKS5 proxy accepts none of our methods (reply 0xff)")
    if method == 2:
        if user is None:
            raise ProxyRefused("the SOCKS5 proxy asks for a user and password")
        # 2. Login: version 1, then the user and the password, each after its length.
        name, secret = user.encode(), password.encode()
        sock.sendall(b"\\x01" + bytes([len(name)]) + name + bytes([len(secret)]) + secret)
        _, status = proxy_read(sock, 2, "the SOCKS5 authentication")
        if status != 0:
            raise ProxyRefused(f"the SOCKS5 proxy refused the user and password (status {status})")
    elif method != 0:
        raise ProxyRefused(f"the SOCKS5 proxy chose method {method}, which was not offered")
    # 3. CONNECT (command 1): an address as 4 or 16 bytes (type 1 or 4), a name as a name
    #    (type 3), which the proxy resolves; then the port, big-endian.
    try:
        address = ipaddress.ip_address(host)
        target = (b"\\x01" if address.version == 4 else b"\\x04") + address.packed
    except ValueError:
        name = host.encode("idna")
        target = b"\\x03" + bytes([len(name)]) + name
    sock.sendall(b"\\x05\\x01\\x00" + target + struct.pack("!H", port))
    # 4. The reply: version, reply code (0: succeeded), reserved, then the address it bound.
    version, reply, _, kind = proxy_read(sock, 4, "the SOCKS5 reply")
    if reply != 0:
        raise ProxyRefused(f"the SOCKS5 proxy refused: reply {reply} ({SOCKS_REPLIES.get(reply, 'unassigned')})")
    size = {1: 4, 4: 16}.get(kind)
    if size is None:
        if kind != 3:
            raise ProxyRefused(f"the SOCKS5 proxy answered an unknown address type {kind}")
        size = proxy_read(sock, 1, "the SOCKS5 reply")[0]
    proxy_read(sock, size + 2, "the SOCKS5 reply")  # the bound address and port: not needed
''')

helper("http_connect", ("base64",), ("proxy_refused",), '''
HEAD_LIMIT = 16384  # bytes of the proxy's answer head, at most


def http_connect(sock, host, port, user, password):
    """Ask an HTTP proxy for a tunnel to host, port with CONNECT (RFC 9110 section 9.3.6)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {where} HTTP/1.1\\r\\nHost: {where}\\r\\n"
    if user is not None:  # Basic: base64 of user:password
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        head += f"Proxy-Authorization: Basic {token}\\r\\n"
    sock.sendall((head + "\\r\\n").encode())
    # The answer head, byte by byte up to its empty line: the bytes after it are the server's.
    answer = bytearray()
    while not answer.endswith(b"\\r\\n\\r\\n") and not answer.endswith(b"\\n\\n"):
        if len(answer) >= HEAD_LIMIT:
            raise ProxyRefused(f"the HTTP proxy's answer head is over {HEAD_LIMIT} bytes")
        byte = sock.recv(1)
        if not byte:
            raise ProxyRefused("the HTTP proxy closed the connection")
        answer += byte
    status = answer.split(b"\\n", 1)[0].decode("latin-1").rstrip("\\r")
    parts = status.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyRefused(f"not an HTTP proxy's answer: {status!r}")
    if not parts[1].startswith("2"):
        raise ProxyRefused(f"the HTTP proxy refused CONNECT {where}: {status}")
''')

helper("connect_through", (), ("connect", "note"), '''
def connect_through(proxy, host, port, timeout):
    """A TCP socket to host, port through proxy (kind, its host and port, user, password): a
    connect to the proxy, then its handshake; from then on the socket is a tunnel to the server."""
    kind, proxy_host, proxy_port, user, password = proxy
    sock = connect(proxy_host, proxy_port, timeout)
    try:
        (socks5_connect if kind == "socks5" else http_connect)(sock, host, port, user, password)
    except BaseException:
        sock.close()  # netrepl closes the socket a refused handshake leaves
        raise
    note(f"through the {kind} proxy {proxy_host} port {proxy_port} to {host!r} port {port}")
    return sock
''')

helper("send_proxy_header", ("ipaddress", "socket", "struct"), ("note",), '''
V2_SIGNATURE = b"\\r\\n\\r\\n\\x00\\r\\nQUIT\\n"


def send_proxy_header(sock, version, source, destination):
    """Send the PROXY protocol header (HAProxy's; v1 text, v2 binary) first: it names source
    (address, port) as the client and destination (the server's address, port) as the server."""
    (src, sport), (dst, dport) = source, destination
    try:
        d = ipaddress.ip_address(dst)
    except ValueError:  # a name (given to a SOCKS proxy): the header needs an address
        d = ipaddress.ip_address(socket.getaddrinfo(dst, None, type=socket.SOCK_STREAM)[0][4][0])
    s = ipaddress.ip_address(src)
    if s.version != d.version:  # an IPv4 address beside an IPv6 one: as ::ffff:a.b.c.d
        s, d = (ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a for a in (s, d))
    if version == "v1":  # one text line
        def text(a):
            return f"::ffff:{a.ipv4_mapped}" if a.version == 6 and a.ipv4_mapped else str(a)

        header = f"PROXY TCP{s.version} {text(s)} {text(d)} {sport} {dport}\\r\\n".encode("ascii")
    else:  # the signature, version 2 + PROXY (0x21), TCP over IPv4 (0x11) or IPv6 (0x21), length
        body = s.packed + d.packed + struct.pack("!HH", sport, dport)
        header = V2_SIGNATURE + b"\\x21" + (b"\\x11" if s.version == 4 else b"\\x21") + struct.pack("!H", len(body)) + body
    sock.sendall(header)
    note(f"sent PROXY protocol {version} header ({len(header)} bytes, source {src} port {sport}): {header!r}")
''')


@emitter("set proxy")
def _set_proxy(p: Program, parsed) -> None:
    kind = parsed.args["kind"]
    if kind == "none":
        p.proxy = None
        p.code("proxy = None  # connect goes directly")
        return
    host, port = p.host(parsed), p.port(parsed)
    if parsed.args["user"] is None:
        user = password = "None"
    else:
        user, password = (to_str(p.value(parsed, dest)).code for dest in ("user", "password"))
    p.proxy = kind
    p.code(f"proxy = ({kind!r}, {host}, {port}, {user}, {password})  # connect goes through it")


@emitter("set proxy-protocol")
def _set_proxy_protocol(p: Program, parsed) -> None:
    version = parsed.args["version"]
    if version == "off":
        p.proxy_protocol = None
        p.code("proxy_source = None  # no PROXY header")
        return
    address = to_str(p.value(parsed, "address")).code
    p.proxy_protocol = version
    p.code(f"proxy_source = ({address}, {p.port(parsed)})  # the client each PROXY header names")


def connect_code(p: Program, host: str, port: str) -> None:
    """`connect HOST PORT` (a new TCP socket): directly or through the proxy, then the PROXY header."""
    if p.proxy is None:
        p.need("connect")
        p.code(f"sock = connect({host}, {port}, timeout)")
    else:
        p.need("socks5_connect")
        p.need("http_connect")
        p.need("connect_through")
        p.code(f"sock = connect_through(proxy, {host}, {port}, timeout)")
    if p.proxy_protocol is not None:
        p.need("send_proxy_header")
        # The real destination: the server the proxy reached, or the address connected to.
        destination = f"({host}, {port})" if p.proxy is not None else "sock.getpeername()[:2]"
        p.code(f"send_proxy_header(sock, {p.proxy_protocol!r}, proxy_source, {destination})")


def own_socket(p: Program) -> None:
    """`connect` on a TCP socket `socket` made: netrepl goes through the proxy with it; not written."""
    if p.proto == "tcp" and p.family != "unix" and (p.proxy is not None or p.proxy_protocol is not None):
        p.refuse("`connect` of a socket made by `socket` with `set proxy` or `set proxy-protocol` is not "
                 "exported: connect without `socket` first")
