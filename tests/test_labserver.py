"""Lab servers over real sockets, on loopback only."""

from __future__ import annotations

import errno
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import wait_for_reset, wait_until
from netrepl.lab import http as labhttp
from netrepl.lab.kinds import KINDS, UDP_KINDS
from netrepl.lab.foreground import serve_forever
from netrepl.lab.server import LabServer, LabServerError

ROOT = Path(__file__).resolve().parent.parent
INDEX = (ROOT / "netrepl" / "lab" / "site" / "index.html").read_bytes()
DAYTIME = re.compile(rb"[A-Z][a-z]+day, [A-Z][a-z]+ \d\d, \d{4} \d\d:\d\d:\d\d-UTC\r\n")


@pytest.fixture
def serve():
    """Start servers that are stopped at the end of the test, whatever happens."""
    servers = []

    def start(kind, proto="tcp", **kw):
        servers.append(LabServer(kind, proto=proto, **kw).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def connect(server, timeout=2.0):
    return socket.create_connection(server.address, timeout=timeout)


def recv_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def http(server, request: bytes) -> tuple[int | None, dict, bytes, bytes]:
    """(status, headers, body, raw response) for one request."""
    with connect(server) as sock:
        sock.sendall(request)
        raw = recv_all(sock)
    if not raw.startswith(b"HTTP/"):
        return None, {}, raw, raw
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body, raw


# ----- construction ------------------------------------------------------------

def test_kinds_in_order():
    assert list(KINDS) == ["echo", "http", "discard", "daytime", "chargen", "close", "reset", "silent", "slow",
                           "https", "tls-echo", "tls-expired", "tls-self-signed", "tls-wrong-host", "tls-unknown-ca",
                           "smtp", "smtp-inject", "imap", "pop3", "ftp", "postgres", "socks5", "http-proxy", "replay"]
    assert UDP_KINDS == {"echo", "discard", "daytime", "chargen"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid kinds: echo, http"):
        LabServer("gopher")
    with pytest.raises(ValueError, match="TCP-only.*echo, discard, daytime, chargen"):
        LabServer("http", proto="udp")
    with pytest.raises(ValueError):
        LabServer("echo", proto="sctp")
    with pytest.raises(ValueError):
        LabServer("http", root="/no/such/dir")


# ----- TCP kinds ---------------------------------------------------------------

def test_echo(serve):
    server = serve("echo")
    with connect(server) as sock:
        sock.sendall(b"hello\r\n")
        assert sock.recv(100) == b"hello\r\n"
        assert wait_until(lambda: server.connections == 1, what=lambda: f"1 open connection, not {server.connections}")
        assert server.describe() == f"echo tcp 127.0.0.1:{server.port} (1 connection, 1 served)"
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # the server closes when we do
    assert wait_until(lambda: server.connections == 0, what=lambda: f"0 open connections, not {server.connections}")


def test_http_get_index(serve):
    server = serve("http")
    status, headers, body, raw = http(server, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    assert status == 200
    assert body == INDEX
    assert headers == {"Server": "netrepl-lab", "Content-Type": "text/html",
                       "Content-Length": str(len(INDEX)), "Connection": "close"}
    assert http(server, b"GET /index.html HTTP/1.1\n\n")[3] == raw  # LF-only works; byte-identical
    status, headers, body, _ = http(server, b"GET /hello.txt?x=1 HTTP/1.0\r\n\r\n")
    assert (status, headers["Content-Type"]) == (200, "text/plain")


def test_http_errors(serve):
    server = serve("http")
    status, headers, body, _ = http(server, b"GET /nope HTTP/1.0\r\n\r\n")
    assert status == 404 and b"404 Not Found" in body and headers["Content-Length"] == str(len(body))
    status, headers, _, _ = http(server, b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    for bad in (b"HELLO\r\n", b"GET / FTP/1.0\r\n\r\n", b"GET nope HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0 x\r\n\r\n"):
        assert http(server, bad)[0] == 400, bad


def test_http_head(serve):
    server = serve("http")
    status, headers, body, _ = http(server, b"HEAD / HTTP/1.0\r\n\r\n")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(INDEX))


def test_http_09_gets_body_only(serve):
    server = serve("http")
    assert http(server, b"GET /\r\n")[3] == INDEX


@pytest.mark.parametrize("target", [
    "/../../../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E%2f%2E%2E%2fetc/passwd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd", "//etc/passwd", "/./../secret.txt", "/../secret.txt",
    "/%2e%2e/secret.txt", "/..\\secret.txt", "/link/secret.txt", "/%00", "/etc/passwd",
])
def test_http_refuses_traversal(serve, tmp_path, target):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("inside")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    (www / "link").symlink_to(tmp_path)  # a symlink out of the root must not help either
    server = serve("http", root=str(www))
    status, _, _, raw = http(server, f"GET {target} HTTP/1.0\r\n\r\n".encode())
    assert status in (400, 404)
    assert b"SECRET" not in raw and b"root:" not in raw


def test_http_timeout_and_size_cap(serve, monkeypatch):
    monkeypatch.setattr(labhttp, "HEAD_TIMEOUT", 0.2)
    monkeypatch.setattr(labhttp, "MAX_HEAD", 1000)
    server = serve("http")
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n")  # and never the blank line
        assert recv_all(sock).startswith(b"HTTP/1.0 408 Request Timeout\r\n")
    assert http(server, b"GET / HTTP/1.0\r\n" + b"X: y\r\n" * 300)[0] == 431


def test_discard(serve):
    server = serve("discard")
    with connect(server, timeout=0.3) as sock:
        sock.sendall(b"x" * 100_000)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        assert sock.recv(10) == b""


def test_daytime(serve):
    with connect(serve("daytime")) as sock:
        assert DAYTIME.fullmatch(recv_all(sock))


def test_chargen(serve):
    with connect(serve("chargen")) as sock:
        data = b""
        while len(data) < 74 * 100:
            data += sock.recv(65536)
    lines = data.split(b"\r\n")[:100]
    assert lines[0] == bytes(range(32, 104))
    for a, b in zip(lines, lines[1:]):
        assert len(a) == 72 and all(32 <= c < 127 for c in a)
        assert a[1:] == b[:71]  # each line starts one character further on
    assert lines[95] == lines[0]  # 95 printable characters: a full rotation


def test_close(serve):
    with connect(serve("close")) as sock:
        assert sock.recv(10) == b""


def test_reset(serve):
    with connect(serve("reset")) as sock:
        with pytest.raises(ConnectionResetError):
            sock.recv(10)


def test_silent(serve):
    server = serve("silent")
    with connect(server, timeout=0.3) as sock:
        sock.sendall(b"anyone there?\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        assert server.connections == 1


def test_slow_drips(serve):
    server = serve("slow", slow_interval=0.002)
    with connect(server) as sock:
        calls, data = 0, b""
        while chunk := sock.recv(1000):
            calls, data = calls + 1, data + chunk
    assert data == b"netrepl slow server: one byte at a time...\r\n" * 3
    assert calls > len(data) // 3  # arrives in many small pieces, not in one


def test_slow_stops_promptly(serve):
    server = serve("slow", slow_interval=30)
    with connect(server) as sock:
        assert sock.recv(10) == b"n"
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 0.5
        assert sock.recv(10) == b""


# ----- UDP ---------------------------------------------------------------------

def udp_ask(server, data=b"hi", timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, server.address)
        return sock.recvfrom(65535)


def test_udp_echo(serve):
    server = serve("echo", "udp")
    reply, peer = udp_ask(server, b"ping 1")
    assert reply == b"ping 1" and peer == server.address
    assert server.served == 1 and server.describe() == f"echo udp 127.0.0.1:{server.port} (1 served)"


def test_udp_daytime(serve):
    assert DAYTIME.fullmatch(udp_ask(serve("daytime", "udp"))[0])


def test_udp_chargen(serve):
    reply = udp_ask(serve("chargen", "udp"))[0]
    lines = reply.split(b"\r\n")
    assert 0 < len(reply) <= 512 and lines[-1] == b"" and all(len(line) == 72 for line in lines[:-1])


def test_udp_discard(serve):
    server = serve("discard", "udp")
    with pytest.raises(TimeoutError):
        udp_ask(server, timeout=0.3)
    assert server.served == 1


# ----- binding, stopping, threads -----------------------------------------------

@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_port_in_use(serve, proto):
    server = serve("echo", proto)
    with pytest.raises(LabServerError) as info:
        LabServer("echo", port=server.port, proto=proto).start()
    assert info.value.errno == errno.EADDRINUSE
    assert str(info.value) == f"port {server.port} on 127.0.0.1 is already in use (EADDRINUSE)"


def test_restart_on_same_port(serve):
    first = serve("echo")
    with connect(first) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        first.stop()  # the server closes first: its side lingers in FIN_WAIT/TIME_WAIT
        assert sock.recv(1) == b""
    second = serve("echo", port=first.port)
    with connect(second) as sock:
        sock.sendall(b"y")
        assert sock.recv(1) == b"y"


def test_stop_drops_connections(serve):
    server = serve("silent")
    socks = [connect(server) for _ in range(3)]
    assert wait_until(lambda: server.connections == 3, what=lambda: f"3 open connections, not {server.connections}")
    server.stop()
    server.stop()  # idempotent
    assert server.connections == 0 and server.describe().endswith("(stopped, 3 served)")
    for sock in socks:
        assert sock.recv(10) == b""  # a normal close (FIN)
        sock.close()
    with pytest.raises(ConnectionRefusedError):
        connect(server)


def test_lost_connection_sequence(serve):
    """The classic lab: connect, kill the server, send (works), then shutdown fails."""
    server = serve("echo")
    with connect(server) as sock:
        assert wait_until(lambda: server.connections == 1, what=lambda: f"1 open connection, not {server.connections}")
        server.stop()
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")  # accepted by our kernel; the server's answers RST
        wait_for_reset(sock)
        with pytest.raises(OSError) as info:
            sock.shutdown(socket.SHUT_WR)
    code = info.value.errno
    print("shutdown after the server went away:", errno.errorcode.get(code, code))
    assert code in {errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET}
    if sys.platform.startswith("linux"):
        assert code == errno.ENOTCONN


def test_no_thread_leaks():
    before = threading.active_count()
    servers = [LabServer(kind).start() for kind in KINDS] + [LabServer(k, proto="udp").start() for k in UDP_KINDS]
    socks = {s.kind: connect(s) for s in servers if s.proto == "tcp"}
    socks["http"].sendall(b"GET / HTTP/1.0\r\n")  # keeps http waiting for the rest of its head
    assert wait_until(lambda: sum(s.served for s in servers) == len(socks), what=f"{len(socks)} connections served")
    for server in servers:
        server.stop()
    for sock in socks.values():
        sock.close()
    assert wait_until(lambda: threading.active_count() == before,
                      what=lambda: f"the threads to end: {threading.enumerate()}")


def test_context_manager():
    with LabServer("echo") as server:
        assert server.running
        with connect(server) as sock:
            sock.sendall(b"ok")
            assert sock.recv(2) == b"ok"
    assert not server.running


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_loopback(serve):
    try:
        server = serve("echo", host="::1")
    except LabServerError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    assert server.describe().startswith(f"echo tcp [::1]:{server.port} ")
    with socket.create_connection(("::1", server.port), timeout=2) as sock:
        sock.sendall(b"six")
        assert sock.recv(3) == b"six"


# ----- foreground mode -------------------------------------------------------------

def test_serve_forever_error():
    out = io.StringIO()
    with LabServer("echo") as server:
        assert serve_forever("echo", "127.0.0.1", server.port, out=out) == 1
    assert out.getvalue() == f"netrepl serve: port {server.port} on 127.0.0.1 is already in use (EADDRINUSE)\n"


@pytest.mark.skipif(os.name == "nt", reason="needs SIGINT")
def test_serve_forever_stops_on_ctrl_c():
    # Restore Python's SIGINT handler in case this runs under a shell that ignores SIGINT.
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from netrepl.lab.foreground import serve_forever; sys.exit(serve_forever('echo', '127.0.0.1', 0))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        match = re.fullmatch(r"serving echo on tcp 127\.0\.0\.1:(\d+) \(Ctrl\+C to stop\)\n", line)
        assert match, line
        with socket.create_connection(("127.0.0.1", int(match[1])), timeout=2) as sock:
            sock.sendall(b"up?")
            assert sock.recv(3) == b"up?"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=5) == 0
            assert sock.recv(3) == b""  # stopping closed our connection
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.stderr.close()
