"""`export` of `set proxy` and `set proxy-protocol`: the SOCKS5 and HTTP CONNECT handshakes and the
PROXY header as plain socket code. Each script runs in netrepl and as its exported program
(test_export.py's harness: same standard output, same exit status), through the lab proxies and
real ones (`ssh -D`, tinyproxy), and the PROXY headers a recording server on loopback received from
both are the same bytes."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from netrepl.core.proxy import V2_SIGNATURE
from realpeers import Nginx, SshSocks, Tinyproxy, free_port, needs_nginx, needs_ssh, needs_tinyproxy
from conftest import run_cli
from test_export import export_and_compare

LAB_PROXIES = """serve http 0
serve socks5 0
serve http-proxy 0
set var hp $lab_port
set proxy socks5 localhost $lab_socks5_port
connect localhost $lab_http_port
send GET /hello.txt HTTP/1.0\\r\\n
expect HTTP/1.0 200
recv all
set proxy http 127.0.0.1 $hp
connect 127.0.0.1 $lab_http_port
send GET /hello.txt HTTP/1.0\\r\\n
recv all
set proxy socks5 127.0.0.1 $lab_socks5_port ${user:-lab} ${password:-lab}
connect localhost $lab_http_port
send GET /hello.txt HTTP/1.0\\r\\n
recv line
must-fail proxy connect 192.0.2.1 $lab_http_port
set proxy http 127.0.0.1 $hp
must-fail proxy connect 192.0.2.1 $lab_http_port
set proxy none
connect localhost $lab_http_port
send GET /hello.txt HTTP/1.0\\r\\n
recv line
close
print done
"""


def test_connects_through_the_lab_proxies_behave_the_same(tmp_path):
    path = tmp_path / "proxies.nrs"
    path.write_text(LAB_PROXIES)
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out.count("hello from the netrepl lab server") == 2 and out.endswith("done\n")
    assert err.count("failed as expected (proxy)") == 2
    assert "reply 2 (connection not allowed by ruleset)" in err and "HTTP/1.1 403" in err
    source = (tmp_path / "proxies.py").read_text()
    assert "def socks5_connect(sock, host, port, user, password):" in source
    assert "def http_connect(sock, host, port, user, password):" in source
    assert "except ProxyRefused as exc:" in source and "import netrepl" not in source


def test_a_wrong_password_fails_both_with_kind_proxy(tmp_path):
    path = tmp_path / "wrong.nrs"
    path.write_text(LAB_PROXIES)
    program, out, err = export_and_compare(path, {"password": "wrong"}, tmp_path)
    assert "refused the user and password (status 1)" in err and "done" not in out


class HeaderRecorder:
    """A loopback server that reads a PROXY header (v1: one line; v2: the signature and its length),
    keeps it, sends it back and closes: what netrepl and the program sent, byte for byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.headers: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                header = self._read(conn)
                self.headers.append(header)
                conn.sendall(header)

    @staticmethod
    def _read(conn) -> bytes:
        data = b""
        while True:
            if data.startswith(V2_SIGNATURE[:len(data)]) and len(data) >= 16:
                if len(data) >= 16 + struct.unpack("!H", data[14:16])[0]:
                    return data
            elif data.endswith(b"\r\n") and not V2_SIGNATURE.startswith(data):
                return data
            chunk = conn.recv(1)
            if not chunk:
                return data
            data += chunk

    def close(self):
        self.sock.close()
        self.thread.join(10)


def test_proxy_protocol_headers_are_the_same_bytes(tmp_path):
    recorder = HeaderRecorder()
    try:
        path = tmp_path / "pp.nrs"
        path.write_text("""serve socks5 0
set proxy-protocol v1 203.0.113.7 5555
connect 127.0.0.1 $rec
recv all
set proxy-protocol v2 ${source:-2001:db8::1} 6666
connect 127.0.0.1 $rec
recv all
set proxy socks5 127.0.0.1 $lab_socks5_port
set proxy-protocol v2 198.51.100.9 7777
connect localhost $rec
recv all
set proxy-protocol off
set proxy none
print done
""")
        export_and_compare(path, {"rec": str(recorder.port)}, tmp_path)
    finally:
        recorder.close()
    port = recorder.port
    v1 = f"PROXY TCP4 203.0.113.7 127.0.0.1 5555 {port}\r\n".encode()
    v2_mapped = (V2_SIGNATURE + b"\x21\x21" + struct.pack("!H", 36) + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
                 + socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1") + struct.pack("!HH", 6666, port))
    v2_four = (V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 12) + socket.inet_aton("198.51.100.9")
               + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 7777, port))
    once = [v1, v2_mapped, v2_four]
    assert recorder.headers == once + once  # netrepl's run, then the program's


@pytest.fixture
def nginx(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("through\n")
    port = free_port()
    server = Nginx(tmp_path, f"server {{ listen 127.0.0.1:{port}; root {site}; }}", [port]).start()
    server.port = port
    yield server
    server.stop()


REAL = """set proxy {kind} 127.0.0.1 $proxy
connect {host} $web
send GET /index.html HTTP/1.0\\r\\nHost: localhost\\r\\n
recv line
recv line
close
set proxy {kind} 127.0.0.1 $proxy
must-fail proxy connect 127.0.0.1 $closed
"""


@needs_ssh
@needs_nginx
def test_connect_through_ssh_dash_d_behaves_the_same(tmp_path, nginx, closed_port):
    proxy = SshSocks(tmp_path)
    try:
        path = tmp_path / "ssh.nrs"
        path.write_text(REAL.format(kind="socks5", host="localhost"))  # the name goes to the proxy
        program, out, err = export_and_compare(
            path, {"proxy": str(proxy.port), "web": str(nginx.port), "closed": str(closed_port)}, tmp_path)
    finally:
        proxy.close()
    assert out.startswith("HTTP/1.1 200 OK\\r\nServer: nginx")
    assert "failed as expected (proxy)" in err and "closed the connection" in err  # ssh -D sends no reply code


@needs_tinyproxy
@needs_nginx
def test_connect_through_tinyproxy_behaves_the_same(tmp_path, nginx, closed_port):
    proxy = Tinyproxy(tmp_path, nginx.port)
    try:
        path = tmp_path / "tiny.nrs"
        path.write_text(REAL.format(kind="http", host="127.0.0.1"))
        program, out, err = export_and_compare(
            path, {"proxy": str(proxy.port), "web": str(nginx.port), "closed": str(closed_port)}, tmp_path)
    finally:
        proxy.close()
    assert out.startswith("HTTP/1.1 200 OK\\r\nServer: nginx")
    assert "failed as expected (proxy)" in err and "the HTTP proxy refused CONNECT" in err


def test_connect_again_drops_what_was_read_and_not_shown(tmp_path):
    # The program's `pending` held the old connection's unread bytes: the next read showed them.
    path = tmp_path / "again.nrs"
    path.write_text("serve echo 0\nset eol lf\nconnect localhost $lab_port\nsend first\\nstale\nrecv line\n"
                    "connect localhost $lab_port\nsend second\nrecv line\nclose\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out == "first\nsecond\n"


def test_tls_through_the_tunnel_behaves_the_same(tmp_path):
    # The handshake runs end to end: the certificate checked is the server's, named as connect named it.
    path = tmp_path / "tunnel.nrs"
    path.write_text("serve https 0\nserve socks5 0\nset tls ca $lab_ca\n"
                    "set proxy socks5 127.0.0.1 $lab_socks5_port\nconnect localhost $lab_https_port\ntls\n"
                    "send GET /hello.txt HTTP/1.0\\r\\n\nrecv all\n")
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out.startswith("HTTP/1.0 200 OK") and "hello from the netrepl lab server" in out


def test_a_hostile_proxy_answer_is_shown_escaped_by_the_program(tmp_path):
    # An HTTP proxy's refusal line carries a terminal escape and a bidi override: the program's note escapes them.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(30)

    def answer():
        for _ in range(2):  # netrepl's run, then the program's
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall("HTTP/1.1 403 no\x1b[2J\u202egro.live\r\n\r\n".encode())

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    path = tmp_path / "hostile.nrs"
    path.write_text("set proxy http 127.0.0.1 $proxy\nmust-fail proxy connect 127.0.0.1 9\nprint refused\n")
    try:
        program, out, err = export_and_compare(path, {"proxy": str(server.getsockname()[1])}, tmp_path)
    finally:
        server.close()
        thread.join(10)
    assert out == "refused\n" and "\x1b" not in err and "\u202e" not in err
    assert "403 no\\x1b[2J" in err


def test_connect_of_a_socket_made_by_socket_through_a_proxy_is_refused_with_its_line(tmp_path):
    path = tmp_path / "own.nrs"
    path.write_text("socket inet tcp\nset proxy socks5 127.0.0.1 1080\nconnect localhost 80\n")
    p = run_cli("export", str(path))
    assert p.returncode == 2 and f"{path}:3: `connect` of a socket made by `socket`" in p.stderr
