"""Every command through the Executor, against real servers on loopback.

Each test drives `Executor.run_line` as the shell and scripts do, then checks
both what the peer saw on the wire and what the user is told (rendered text
and the session state in words). Timeout cases use `timeout 0.3`.
"""

from __future__ import annotations

import errno
import queue
import re
import socket
import threading
import time

import pytest

from conftest import has_ipv6_loopback, run, text_of
from helpers import wait_for_reset, wait_until
from netrepl.core.session import DEFAULT_TIMEOUT

WAIT = 5.0  # generous bound for "the peer got it" (never a timing assertion)
LOST = {"ENOTCONN", "EPIPE", "ECONNRESET"}
needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) here")


def fields(result) -> dict[str, str]:
    """`info` rows as rendered text, by label."""
    rows = {}
    for line in text_of(result).splitlines():
        m = re.match(r"  (\w+) +(.*)$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def lines(ex, *commands):
    """Run several lines; return their Results."""
    return [run(ex, c) for c in commands]


class Recorder:
    """A tcp_server handler that keeps every byte a client sends, and notes EOF."""

    def __init__(self, greeting: bytes = b""):
        self.greeting = greeting
        self.chunks: "queue.Queue[bytes]" = queue.Queue()
        self.eof = threading.Event()
        self.peers: list = []

    def __call__(self, conn):
        self.peers.append(conn.getpeername())
        if self.greeting:
            conn.sendall(self.greeting)
        while data := conn.recv(65536):
            self.chunks.put(data)
        self.eof.set()

    def received(self, size: int) -> bytes:
        """At least `size` bytes (or fail after WAIT)."""
        got = b""
        deadline = time.monotonic() + WAIT
        while len(got) < size:
            try:
                got += self.chunks.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
        return got


# ----- socket ---------------------------------------------------------------

def test_socket_defaults_to_inet_tcp(ex):
    r = run(ex, "socket")
    assert r.ok
    assert "created inet tcp socket" in text_of(r)
    assert r.state == "tcp created"
    assert ex.session.sock.family == socket.AF_INET and ex.session.sock.type == socket.SOCK_STREAM
    assert ex.session.sock.gettimeout() == DEFAULT_TIMEOUT  # never an unbounded block by default
    info = fields(run(ex, "info"))
    assert info["family"].startswith("inet (AF_INET)")
    assert info["type"].startswith("tcp (SOCK_STREAM)")
    assert info["state"] == "tcp created"
    assert info["sent"] == "0 bytes" and info["received"] == "0 bytes"


@needs_ipv6
def test_socket_inet6_udp(ex):
    r = run(ex, "socket inet6 udp")
    assert r.ok and "created inet6 udp socket" in text_of(r)
    assert ex.session.sock.family == socket.AF_INET6 and ex.session.sock.type == socket.SOCK_DGRAM
    info = fields(run(ex, "info"))
    assert info["family"] == "inet6 (AF_INET6)"
    assert info["type"] == "udp (SOCK_DGRAM)"


def test_socket_refused_while_one_is_open(ex):
    run(ex, "socket")
    fd = ex.session.sock.fileno()
    r = run(ex, "socket inet udp")
    assert r.error is not None and r.error.kind == "state"
    text = text_of(r)
    assert "already open" in text and "close" in text
    assert ex.session.sock.fileno() == fd and ex.session.proto == "tcp"  # the open one is untouched
    assert r.state == "tcp created"


def test_socket_again_after_close(ex):
    lines(ex, "socket", "close")
    r = run(ex, "socket inet udp")
    assert r.ok and r.state == "udp created"


# ----- lookup ---------------------------------------------------------------

def test_lookup_service_gives_port(ex):
    r = run(ex, "lookup http tcp")
    assert r.ok
    assert "port 80" in text_of(r)
    assert str(socket.getservbyname("http", "tcp")) in text_of(r)


def test_lookup_port_gives_service(ex):
    r = run(ex, "lookup 80")
    assert r.ok and "'http'" in text_of(r)


def test_lookup_unknown_service_is_a_service_error(ex):
    r = run(ex, "lookup port80")
    assert r.error is not None and r.error.kind == "service"
    text = text_of(r)
    assert "port80" in text and "service lookup error" in text
    assert "Traceback" not in text


# ----- connect ----------------------------------------------------------------

def test_connect_host_port_creates_socket_and_shows_addresses(ex, tcp_server):
    rec = Recorder()
    server = tcp_server(rec)
    r = run(ex, f"connect 127.0.0.1 {server.port}")
    assert r.ok, text_of(r)
    text = text_of(r)
    assert "created inet tcp socket" in text  # auto-created, family said
    local_port = ex.session.sock.getsockname()[1]
    assert f"connected 127.0.0.1:{local_port} -> 127.0.0.1:{server.port}" in text
    assert re.search(r" in \d+(\.\d+)? (us|ms|s)\b", text), text  # how long it took
    assert r.state == "tcp connected"
    # The server really sees us from that local address.
    wait_until(lambda: rec.peers, WAIT, what="the server to accept the connection")
    assert rec.peers and rec.peers[0][1] == local_port


@pytest.fixture
def service_server():
    """A lab echo server on the port of a service name from the services database."""
    from netrepl.lab.server import LabServer, LabServerError

    for name in ("http-alt", "webcache", "postgresql", "mysql", "svn", "git", "x11"):
        try:
            port = socket.getservbyname(name, "tcp")
        except OSError:
            continue
        try:
            server = LabServer("echo", "127.0.0.1", port).start()
        except LabServerError:  # port taken here: try the next service
            continue
        yield name, server
        server.stop()
        return
    pytest.skip("no service port from the services database is free here")


def test_connect_host_service_name(ex, service_server):
    name, server = service_server
    r = run(ex, f"connect localhost {name}")
    assert r.ok, text_of(r)
    assert f"-> 127.0.0.1:{server.port}" in text_of(r)
    assert ex.session.sock.getpeername()[1] == server.port
    lines(ex, "send via service")
    r = run(ex, "expect service\\r\\n")
    assert r.ok and r.data == b"via service\r\n"


def test_connect_unknown_service_is_service_error(ex, lab):
    r = run(ex, "connect localhost port80")
    assert r.error is not None and r.error.kind == "service"
    assert "couldn't find your port" in text_of(r)
    assert ex.session.sock is None and r.state == "no socket"


def test_connect_localhost_tries_each_address(ex, lab):
    """A server only on 127.0.0.1 is reached through `localhost` whatever it resolves to."""
    server = lab("echo")
    r = run(ex, f"connect localhost {server.port}")
    assert r.ok, text_of(r)
    assert ex.session.sock.getpeername()[:2] == ("127.0.0.1", server.port)
    first = socket.getaddrinfo("localhost", server.port, 0, socket.SOCK_STREAM)[0]
    if first[0] == socket.AF_INET6:  # ::1 came first and was refused: we were told, then moved on
        assert "trying the next address" in text_of(r)
        assert "created inet6 tcp socket" in text_of(r)
    assert r.lines[-1][0].startswith("connected")


@needs_ipv6
def test_connect_ipv6_auto_socket_says_family(ex, lab):
    server = lab("echo", host="::1")
    r = run(ex, f"connect ::1 {server.port}")
    assert r.ok, text_of(r)
    assert "created inet6 tcp socket" in text_of(r)
    assert f"-> [::1]:{server.port}" in text_of(r)
    assert fields(run(ex, "info"))["family"] == "inet6 (AF_INET6)"


def test_connect_on_udp_sets_default_peer(ex, lab):
    server = lab("echo", proto="udp")
    run(ex, "socket inet udp")
    r = run(ex, f"connect 127.0.0.1 {server.port}")
    assert r.ok and "default peer set" in text_of(r)
    assert r.state == "udp default peer set"
    assert fields(run(ex, "info"))["peer"] == f"127.0.0.1:{server.port}"
    assert run(ex, "send ping").ok
    r = run(ex, "recv")
    assert r.data == b"ping\r\n"


def test_connect_again_closes_the_connection_with_its_totals_and_connects_anew(ex, lab):
    first, second = lab("echo"), lab("echo")
    run(ex, f"connect 127.0.0.1 {first.port}")
    run(ex, "send one")
    assert run(ex, "recv").data == b"one\r\n"
    r = run(ex, f"connect 127.0.0.1 {second.port}")
    assert r.ok, text_of(r)
    assert text_of(r).startswith(f"closed the previous connection to 127.0.0.1:{first.port} "
                                 "(sent 5 bytes, received 5 bytes)\ncreated inet tcp socket\nconnected ")
    assert r.state == "tcp connected"
    info = fields(run(ex, "info"))
    assert info["peer"] == f"127.0.0.1:{second.port}" and info["sent"] == "0 bytes"
    run(ex, "send two")
    assert run(ex, "recv").data == b"two\r\n"


def test_a_forgotten_close_under_k_no_longer_fails_every_later_command(lab):
    """Issue 16: with -k, one forgotten `close` made the commands after the second connect fail."""
    from conftest import run_cli

    first, second = lab("echo"), lab("echo")
    p = run_cli("-k", "-q", "-c", f"connect 127.0.0.1 {first.port}; send a; recv line; "
                                  f"connect 127.0.0.1 {second.port}; send b; recv line; send c; recv line; info")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stderr == ""
    assert f"closed the previous connection to 127.0.0.1:{first.port} (sent 3 bytes, received 3 bytes)" in p.stdout
    assert p.stdout.count("received a line of 3 bytes") == 3
    assert re.search(rf"peer +127\.0\.0\.1:{second.port}\n", p.stdout)


def test_connect_again_after_a_reset_says_the_connection_was_lost(ex, lab):
    first, second = lab("reset"), lab("echo")
    run(ex, f"connect 127.0.0.1 {first.port}")
    assert run(ex, "recv").error.errname == "ECONNRESET"
    r = run(ex, f"connect 127.0.0.1 {second.port}")
    assert r.ok, text_of(r)
    assert f"closed the previous connection to 127.0.0.1:{first.port}, lost earlier (ECONNRESET)" in text_of(r)
    assert r.state == "tcp connected"


def test_connect_again_to_a_name_that_does_not_resolve_keeps_the_connection(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "connect nosuch.invalid 80")
    assert r.error is not None and r.error.kind == "address"
    assert f"the connection to 127.0.0.1:{server.port} is kept" in text_of(r)
    assert r.state == "tcp connected"
    run(ex, "send still here")
    assert run(ex, "recv").data == b"still here\r\n"


def test_connect_again_from_tcp_to_a_unix_socket_and_back(ex, lab, tmp_path):
    tcp = lab("echo")
    path = tmp_path / "u.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)  # the backlog takes the connection: nothing needs to accept it
    run(ex, f"connect 127.0.0.1 {tcp.port}")
    r = run(ex, f"connect {path}")
    assert r.ok, text_of(r)
    assert f"closed the previous connection to 127.0.0.1:{tcp.port}" in text_of(r)
    assert r.state == "unix stream connected"
    r = run(ex, f"connect 127.0.0.1 {tcp.port}")
    assert r.ok, text_of(r)
    assert f"closed the previous connection to {path}" in text_of(r)
    assert r.state == "tcp connected"
    listener.close()


# ----- info -----------------------------------------------------------------

def test_info_fields_match_the_socket(ex, tcp_server):
    server = tcp_server(Recorder(greeting=b"hi\n"))
    lines(ex, f"connect 127.0.0.1 {server.port}", "timeout 2.5", "send abc")
    run(ex, "expect hi\\n")
    info = fields(run(ex, "info"))
    local = ex.session.sock.getsockname()
    assert info == {
        "family": "inet (AF_INET)",
        "type": "tcp (SOCK_STREAM)",
        "state": "tcp connected",
        "local": f"{local[0]}:{local[1]}",
        "peer": f"127.0.0.1:{server.port}",
        "timeout": "2.5 s",
        "sent": "5 bytes",
        "received": "3 bytes",
    }


def test_info_without_socket(ex):
    info = fields(run(ex, "info"))
    assert info["state"] == "no socket"
    assert info["timeout"] == "10 s"
    assert "family" not in info


# ----- send -------------------------------------------------------------------

def test_send_adds_crlf_by_default_and_counts(ex, tcp_server):
    rec = Recorder()
    server = tcp_server(rec)
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "send GET /x")
    assert r.ok and "sent 8 bytes" in text_of(r)
    assert rec.received(8) == b"GET /x\r\n"
    r = run(ex, "send -n abc")
    assert "sent 3 bytes" in text_of(r)
    assert rec.received(3) == b"abc"
    r = run(ex, "send")  # just the line ending
    assert "sent 2 bytes" in text_of(r)
    assert rec.received(2) == b"\r\n"
    assert fields(run(ex, "info"))["sent"] == "13 bytes"


def test_send_full_http_request_line(ex, tcp_server):
    rec = Recorder()
    server = tcp_server(rec)
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "send GET /x HTTP/1.0\\r\\n")
    assert rec.received(19) == b"GET /x HTTP/1.0\r\n\r\n"


def test_send_eol_settings_and_escapes(ex, tcp_server):
    rec = Recorder()
    server = tcp_server(rec)
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert run(ex, "set eol lf").ok
    run(ex, "send a\\tb\\x00\\xff\\\\c\\e")
    assert rec.received(9) == b"a\tb\x00\xff\\c\x1b\n"
    run(ex, "set eol none")
    run(ex, "send r\\r")
    assert rec.received(2) == b"r\r"
    run(ex, "set eol crlf")
    run(ex, "send  two  blanks é")  # one blank separates; the rest is data, UTF-8 encoded
    want = " two  blanks é\r\n".encode()
    assert rec.received(len(want)) == want


def test_send_bad_escape_is_rejected_before_sending(ex, tcp_server):
    rec = Recorder()
    server = tcp_server(rec)
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "send abc\\q")
    assert r.error is not None and r.error.kind == "syntax"
    assert ex.session.sent == 0


# ----- recv -------------------------------------------------------------------

def test_recv_sizes(ex, tcp_server):
    server = tcp_server(Recorder(greeting=b"0123456789"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv 4")
    assert r.ok and r.data == b"0123"[:len(r.data)] and 1 <= len(r.data) <= 4
    got = r.data
    while len(got) < 10:
        r = run(ex, "recv")
        assert r.ok and r.data, text_of(r)
        got += r.data
    assert got == b"0123456789"
    assert "received" in text_of(r)
    assert fields(run(ex, "info"))["received"] == "10 bytes"


def test_recv_end_of_stream_timeout_and_reset_are_distinct(ex, lab):
    closing, resetting, silent = lab("close"), lab("reset"), lab("silent")

    # The default timeout for the close and reset peers: a loaded machine may take a while to answer.
    run(ex, f"connect 127.0.0.1 {closing.port}")
    eof = run(ex, "recv")
    assert eof.ok and eof.data is None
    assert "end of stream" in text_of(eof)
    assert eof.state == "tcp connected, peer closed"
    run(ex, "close")

    run(ex, f"connect 127.0.0.1 {resetting.port}")
    reset = run(ex, "recv")
    assert reset.error is not None and reset.error.kind == "io" and reset.error.errname == "ECONNRESET"
    assert "reset" in text_of(reset).lower()
    assert reset.state == "tcp connection lost (ECONNRESET)"
    assert fields(run(ex, "info"))["state"] == "tcp connection lost (ECONNRESET)"
    run(ex, "close")

    lines(ex, "timeout 0.3", f"connect 127.0.0.1 {silent.port}")
    timeout = run(ex, "recv")
    assert timeout.error is not None and timeout.error.kind == "timeout"
    assert "still open" in text_of(timeout)
    assert timeout.state == "tcp connected"  # a timeout loses nothing

    texts = {text_of(eof), text_of(reset), text_of(timeout)}
    assert len(texts) == 3


def test_recv_all_to_screen(ex, tcp_server):
    payload = b"line one\nline two\r\n\x1b[2Jend"

    def handler(conn):
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass

    server = tcp_server(handler)
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv all")
    assert r.ok and r.data == payload
    text = text_of(r)
    assert f"received {len(payload)} bytes in total" in text
    assert "\x1b" not in text and "\\x1b[2J" in text  # escaped, never raw
    assert r.state == "tcp connected, peer closed"


def _sender(payload):
    def handler(conn):
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass
    return handler


def test_recv_all_to_file_writes_exact_bytes(ex, tcp_server, tmp_path):
    payload = bytes(range(256)) * 2000 + b"\r\n\x1b]52;c;AAAA\x07tail"
    server = tcp_server(_sender(payload))
    target = tmp_path / "out.bin"
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, f"recv all > {target}")
    assert r.ok, text_of(r)
    assert target.read_bytes() == payload
    assert r.data is None  # nothing shown but the count
    text = text_of(r)
    assert f"received {len(payload)} bytes in total into {target}" in text
    assert len(text) < 300
    assert fields(run(ex, "info"))["received"] == f"{len(payload)} bytes"


def test_recv_all_to_dev_null(ex, tcp_server):
    payload = b"x" * 100_000
    server = tcp_server(_sender(payload))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv all > /dev/null")
    assert r.ok and r.data is None
    assert f"received {len(payload)} bytes" in text_of(r)


def test_recv_all_to_unwritable_path_is_a_file_error(ex, tcp_server, tmp_path):
    server = tcp_server(_sender(b"abc"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, f"recv all > {tmp_path}/no/such/dir/out")
    assert r.error is not None and r.error.kind == "file"
    assert r.state == "tcp connected"


def test_recv_line_keeps_the_bytes_after_the_line(ex, tcp_server):
    server = tcp_server(Recorder(greeting=b"first line\nrest of it"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv line")
    assert r.ok and r.data == b"first line\n"
    assert "line of 11 bytes" in text_of(r)
    got = b""
    while len(got) < len(b"rest of it"):
        r = run(ex, "recv")
        assert r.ok and r.data, text_of(r)
        got += r.data
    assert got == b"rest of it"


def test_recv_line_then_end_of_stream(ex, tcp_server):
    server = tcp_server(_sender(b"no newline"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv line")
    assert r.ok and r.data == b"no newline"
    assert "end of stream" in text_of(r)
    r = run(ex, "recv line")
    assert r.ok and r.data is None and "end of stream" in text_of(r)


# ----- UDP: sendto / recvfrom / bind -------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)])
def test_udp_sendto_recvfrom_echo(ex, lab, host):
    server = lab("echo", proto="udp", host=host)
    family = "inet6" if ":" in host else "inet"
    r = run(ex, f"sendto -l {host} {server.port} datagram")  # -l: with the line ending
    assert r.ok, text_of(r)
    assert f"created {family} udp socket" in text_of(r)
    assert "sent 10 bytes to" in text_of(r)
    r = run(ex, "recvfrom")
    assert r.ok and r.data == b"datagram\r\n"
    shown = f"[{host}]:{server.port}" if ":" in host else f"{host}:{server.port}"
    assert f"from {shown}" in text_of(r)
    info = fields(run(ex, "info"))
    assert info["sent"] == "10 bytes" and info["received"] == "10 bytes"


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)])
def test_udp_bind_then_echo_comes_back_to_bound_port(ex, lab, host):
    server = lab("echo", proto="udp", host=host)
    family = "inet6" if ":" in host else "inet"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    run(ex, f"socket {family} udp")
    r = run(ex, f"bind {host} {port}")
    assert r.ok, text_of(r)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    assert f"bound to {shown}" in text_of(r)
    assert r.state == "udp bound"
    assert fields(run(ex, "info"))["local"] == shown
    run(ex, f"sendto -n {host} {server.port} x")
    r = run(ex, "recvfrom 100")
    assert r.data == b"x"
    assert ex.session.sock.getsockname()[1] == port


def test_recvfrom_on_tcp_reads_like_recv(ex, lab):
    """A stream names no sender: no 'from None', and end of stream is reported as such."""
    echo, closing = lab("echo"), lab("close")
    lines(ex, f"connect 127.0.0.1 {echo.port}", "send hi")
    r = run(ex, "recvfrom")
    assert r.ok and r.data == b"hi\r\n"
    assert "None" not in text_of(r)
    lines(ex, "close", f"connect 127.0.0.1 {closing.port}")
    r = run(ex, "recvfrom")
    assert r.ok and "end of stream" in text_of(r) and "peer closed" in r.state


def test_bind_without_socket_is_a_state_error(ex):
    r = run(ex, "bind 127.0.0.1 0")
    assert r.error is not None and r.error.kind == "state"


def test_bind_port_in_use_is_an_io_error(ex, lab):
    server = lab("echo", proto="udp")
    run(ex, "socket inet udp")
    r = run(ex, f"bind 127.0.0.1 {server.port}")
    assert r.error is not None and r.error.kind == "io" and r.error.errname == "EADDRINUSE"
    assert r.state == "udp created"


def test_recvfrom_timeout(ex):
    lines(ex, "socket inet udp", "bind 127.0.0.1 0", "timeout 0.3")
    r = run(ex, "recvfrom")
    assert r.error is not None and r.error.kind == "timeout"
    assert r.state == "udp bound"


# ----- shutdown and close ---------------------------------------------------------

@pytest.mark.parametrize("how, words", [
    ("0", "read side shut"), ("rd", "read side shut"),
    ("1", "write side shut"), ("wr", "write side shut"),
    ("2", "both sides shut"), ("rdwr", "both sides shut"),
])
def test_shutdown_state_words(ex, lab, how, words):
    server = lab("silent")
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, f"shutdown {how}")
    assert r.ok, text_of(r)
    assert r.state == f"tcp connected, {words}"
    number = {"rd": 0, "wr": 1, "rdwr": 2}.get(how, how)
    assert f"shutdown({number})" in text_of(r)


def test_shutdown_read_then_write_is_both(ex, lab):
    server = lab("silent")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "shutdown rd")
    r = run(ex, "shutdown wr")
    assert r.state == "tcp connected, both sides shut"


def test_shutdown_write_sends_eof_to_the_peer(ex, tcp_server):
    rec = Recorder()
    server = tcp_server(rec)
    lines(ex, f"connect 127.0.0.1 {server.port}", "send bye")
    run(ex, "shutdown 1")
    assert rec.eof.wait(WAIT)
    assert rec.received(5) == b"bye\r\n"
    r = run(ex, "send more")  # the write side is shut: EPIPE from the OS
    assert r.error is not None and r.error.errname == "EPIPE"


def test_shutdown_without_socket(ex):
    r = run(ex, "shutdown 2")
    assert r.error is not None and r.error.kind == "state"


def test_close_reports_counts_and_state(ex, lab):
    server = lab("echo")
    lines(ex, f"connect 127.0.0.1 {server.port}", "send hello")
    run(ex, "expect hello\\r\\n")
    r = run(ex, "close")
    assert r.ok and r.state == "closed"
    assert "closed (sent 7 bytes, received 7 bytes)" in text_of(r)
    assert ex.session.sock is None
    info = fields(run(ex, "info"))
    assert info["state"] == "closed" and info["sent"] == "7 bytes"


# ----- timeout, sleep, display ----------------------------------------------------

def test_timeout_seconds_and_none(ex):
    run(ex, "socket")
    r = run(ex, "timeout 2.5")
    assert r.ok and "2.5 s" in text_of(r)
    assert ex.session.sock.gettimeout() == 2.5
    r = run(ex, "timeout none")
    assert r.ok and ex.session.sock.gettimeout() is None
    assert fields(run(ex, "info"))["timeout"] == "none (blocking)"
    run(ex, "close")
    run(ex, "timeout 0.75")
    run(ex, "socket")  # a new socket takes the setting
    assert ex.session.sock.gettimeout() == 0.75


@pytest.mark.parametrize("bad", ["timeout 0", "timeout -1", "timeout abc", "timeout", "timeout nan"])
def test_timeout_bad_values_are_syntax_errors(ex, bad):
    r = run(ex, bad)
    assert r.error is not None and r.error.kind == "syntax"
    assert ex.session.timeout == DEFAULT_TIMEOUT


def test_sleep(ex):
    started = time.monotonic()
    r = run(ex, "sleep 0.05")
    assert r.ok and "slept 0.05 s" in text_of(r)
    assert time.monotonic() - started >= 0.05


def test_display_hex_renders_a_hexdump(ex, lab):
    server = lab("echo")
    r = run(ex, "set display hex")
    assert r.ok and ex.session.display == "hex"
    lines(ex, f"connect 127.0.0.1 {server.port}", "send -n hello\\x1b")
    r = run(ex, "expect \\e")
    text = text_of(r, ex.session.display)
    assert "00000000  68 65 6c 6c 6f 1b" in text
    assert "|hello.|" in text
    assert "\x1b" not in text
    run(ex, "set display text")
    assert ex.session.display == "text"


# ----- serve ---------------------------------------------------------------------

def test_serve_start_list_stop(ex):
    r = run(ex, "serve echo 0")
    assert r.ok, text_of(r)
    port = int(re.search(r"serving echo on tcp 127\.0\.0\.1:(\d+)", text_of(r)).group(1))
    lines(ex, f"connect 127.0.0.1 {port}", "send hi")
    assert run(ex, "expect hi").ok
    listing = text_of(run(ex, "serve"))
    assert f"echo tcp 127.0.0.1:{port} (1 connection, 1 served)" in listing
    r = run(ex, "serve stop")
    assert r.ok and f"stopped echo tcp server on 127.0.0.1:{port}" in text_of(r)
    assert "no lab server running" in text_of(run(ex, "serve"))
    assert ex.servers == {}
    r = run(ex, "serve stop")
    assert r.error is not None and r.error.kind == "state"
    run(ex, "close")
    r = run(ex, f"connect 127.0.0.1 {port}")
    assert r.error is not None and r.error.errname == "ECONNREFUSED"


def test_serve_stop_one_port_and_udp(ex):
    tcp = run(ex, "serve echo 0")
    udp = run(ex, "serve daytime 0 udp")
    assert tcp.ok and udp.ok
    tport = int(re.search(r":(\d+)", text_of(tcp)).group(1))
    uport = int(re.search(r":(\d+)", text_of(udp)).group(1))
    assert f"daytime udp 127.0.0.1:{uport}" in text_of(run(ex, "serve"))
    r = run(ex, f"serve stop {uport}")
    assert r.ok and "daytime udp" in text_of(r)
    listing = text_of(run(ex, "serve"))
    assert f"echo tcp 127.0.0.1:{tport}" in listing and "daytime" not in listing


def test_serve_port_in_use(ex, lab):
    server = lab("echo")
    r = run(ex, f"serve echo {server.port}")
    assert r.error is not None and r.error.kind == "io" and r.error.errname == "EADDRINUSE"
    assert "in use" in text_of(r)


def test_serve_udp_only_kind_rule(ex):
    r = run(ex, "serve reset 0 udp")
    # Rejected when the line is parsed (a script exits 2 before running), pointing at `udp`.
    assert r.error is not None and r.error.kind == "syntax"
    assert "reset has no UDP variant" in text_of(r)
    assert ex.servers == {}


# ----- expect --------------------------------------------------------------------

def receive_all(ex, size: int) -> bytes:
    """`recv` until `size` bytes came (each recv waits up to the default timeout)."""
    got = b""
    while len(got) < size:
        r = run(ex, "recv")
        assert r.ok and r.data, text_of(r)
        got += r.data
    return got


def test_expect_text_regex_and_keeps_the_rest(ex, tcp_server):
    server = tcp_server(Recorder(greeting=b"one two three\r\nfive six seven\r\nfour"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    # No recv first: recv and expect read one stream, and expect never matches what recv showed.
    lines(ex, "timeout 0.3")
    r = run(ex, "expect one")
    assert r.ok and "matched 'one'" in text_of(r)
    assert r.data == b"one two three\r\n"  # through the end of the line the match ends in
    r = run(ex, "expect /s.x/")
    assert r.ok and r.data == b"five six seven\r\n", text_of(r)
    r = run(ex, "expect seven")  # already consumed by the regex match (its whole line)
    assert r.error is not None and r.error.kind == "expect"
    r = run(ex, "expect four")
    assert r.ok


def test_expect_failure_shows_received_data_escaped(ex, tcp_server):
    greeting = b"hello \x1b[2J\x07 world\r\n"
    server = tcp_server(Recorder(greeting=greeting))
    run(ex, f"connect 127.0.0.1 {server.port}")
    lines(ex, "timeout 0.3")  # no recv first: expect searches only data no command showed yet
    r = run(ex, "expect goodbye")
    assert r.error is not None and r.error.kind == "expect"
    text = text_of(r)
    assert "goodbye" in text and "hello" in text
    assert "\\x1b[2J" in text and "\\x07" in text and "\\r" in text
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert r.state == "tcp connected"
    r = run(ex, "expect world")  # what failed to match is kept for the next expect
    assert r.ok, text_of(r)


def test_expect_eof(ex, tcp_server, lab):
    server = tcp_server(_sender(b"bye\n"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "expect eof")
    assert r.ok and "end of stream" in text_of(r)
    assert r.data == b"bye\n"
    assert "peer closed" in r.state
    run(ex, "close")
    silent = lab("silent")
    lines(ex, "timeout 0.3", f"connect 127.0.0.1 {silent.port}")
    r = run(ex, "expect eof")
    assert r.error is not None and r.error.kind == "expect"


def test_expect_when_stream_ends_first(ex, tcp_server):
    server = tcp_server(_sender(b"abc"))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "expect xyz")
    assert r.error is not None and r.error.kind == "expect"
    assert "end of stream" in text_of(r)


def test_expect_bad_regex_is_a_syntax_error(ex):
    r = run(ex, "expect /a(/")
    assert r.error is not None and r.error.kind == "syntax"


# ----- must-fail, print, source, exit -------------------------------------------------

def test_must_fail_passes_on_matching_kind(ex, closed_port):
    for kind in ("refused", "io", "ECONNREFUSED", "econnrefused", "any"):
        r = run(ex, f"must-fail {kind} connect 127.0.0.1 {closed_port}")
        assert r.ok, (kind, text_of(r))
        assert "failed as expected" in text_of(r)
        assert r.state == "no socket"


def test_must_fail_fails_on_other_kind(ex, closed_port):
    r = run(ex, f"must-fail timeout connect 127.0.0.1 {closed_port}")
    assert r.error is not None and r.error.kind == "expect"
    text = text_of(r)
    assert "timeout" in text and "ECONNREFUSED" in text


def test_must_fail_fails_on_success(ex):
    r = run(ex, "must-fail any print all good")
    assert r.error is not None and r.error.kind == "expect"
    text = text_of(r)
    assert "succeeded" in text
    assert "`print all good`" in text  # names the command that ran, not the whole line


def test_must_fail_address_and_service(ex):
    assert run(ex, "must-fail address connect www.nonexisting.server.invalid 80").ok
    assert run(ex, "must-fail service connect localhost port80").ok
    assert run(ex, "must-fail service lookup port80").ok


def test_must_fail_unknown_kind_is_syntax_error(ex):
    r = run(ex, "must-fail sometimes print x")
    assert r.error is not None and r.error.kind == "syntax"


def test_print(ex):
    r = run(ex, "print hello   world")
    assert r.ok and text_of(r) == "hello   world\n"
    run(ex, "set var who you")
    assert text_of(run(ex, "print hi $who ${missing:-there}")) == "hi you there\n"


def test_source_runs_until_a_failure(ex, tmp_path):
    script = tmp_path / "part.nrs"
    script.write_text("set var reached one\nprint first\nlookup port80\nset var reached two\nprint never\n")
    steps = list(ex.run_line(f"source {script}"))
    assert [s.text for s in steps] == ["set var reached one", "print first", "lookup port80"]
    assert steps[-1].result.error.kind == "service"
    assert steps[-1].where == f"{script}:3"
    assert ex.variables["reached"] == "one"


def test_source_with_syntax_error_runs_nothing(ex, tmp_path):
    script = tmp_path / "broken.nrs"
    script.write_text("set var reached yes\nprint fine\nrecv lots\n")
    steps = list(ex.run_line(f"source {script}"))
    assert len(steps) == 1
    r = steps[0].result
    assert r.error is not None and r.error.kind in ("usage", "syntax")
    assert f"{script}:3:6" in text_of(r)
    assert "reached" not in ex.variables


def test_source_missing_file(ex, tmp_path):
    r = run(ex, f"source {tmp_path}/nope.nrs")
    assert r.error is not None and r.error.kind == "file" and r.error.errname == "ENOENT"


def test_exit(ex):
    r = run(ex, "exit")
    assert r.ok and r.exit
    assert run(ex, "quit").exit


# ----- the worksheet's lost connection --------------------------------------------

def test_lost_connection_detected_by_shutdown(ex, lab):
    server = lab("echo")
    run(ex, f"connect localhost {server.port}")
    server.stop()  # the server goes away after connect, before any data
    r = run(ex, "send GET /index.html HTTP/1.0\\r\\n")
    assert r.ok, text_of(r)  # send does not notice
    wait_for_reset(ex.session.sock)  # the peer's RST answer, which a loaded machine may process late
    r = run(ex, "shutdown 1")
    assert r.error is not None and r.error.kind == "io"
    assert r.error.errname in LOST, text_of(r)
    text = text_of(r)
    assert "connection/I-O error" in text and r.error.errname in text
    assert "lost" in text
    info = fields(run(ex, "info"))
    assert info["state"] == f"tcp connection lost ({r.error.errname})"
    assert info["sent"] == "28 bytes"


# ----- error kinds, each with errno and message, and the state after it ----------------

def test_dns_failure_is_address_error(ex):
    r = run(ex, "connect www.nonexisting.server.invalid 80")
    err = r.error
    assert err is not None and err.kind == "address"
    assert err.exc == "gaierror"
    assert err.errno is not None and err.errname and err.errname.startswith("EAI_")
    text = text_of(r)
    assert "address-related error (socket.gaierror)" in text
    assert err.errname in text and str(err.errno) in text and err.message in text
    assert ex.session.sock is None
    assert fields(run(ex, "info"))["state"] == "no socket"


def test_refused_is_io_error(ex, closed_port):
    r = run(ex, f"connect 127.0.0.1 {closed_port}")
    err = r.error
    assert err is not None and err.kind == "io" and err.errname == "ECONNREFUSED"
    assert err.errno == errno.ECONNREFUSED
    text = text_of(r)
    assert f"[ECONNREFUSED {errno.ECONNREFUSED}]" in text and "connection/I-O error" in text
    assert ex.session.sock is None  # the socket it created for the attempt is gone
    assert fields(run(ex, "info"))["state"] == "no socket"


def test_refused_on_own_socket_keeps_it(ex, closed_port):
    run(ex, "socket")
    r = run(ex, f"connect 127.0.0.1 {closed_port}")
    assert r.error.errname == "ECONNREFUSED"
    assert r.state == "tcp created, connect failed (ECONNREFUSED)"
    assert fields(run(ex, "info"))["state"] == "tcp created, connect failed (ECONNREFUSED)"


def test_timeout_is_timeout_error(ex, lab):
    server = lab("silent")
    lines(ex, "timeout 0.3", f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv")
    assert r.error.kind == "timeout" and r.error.exc == "TimeoutError"
    assert "timeout (TimeoutError, formerly socket.timeout)" in text_of(r)
    assert fields(run(ex, "info"))["state"] == "tcp connected"


def test_state_errors(ex, lab):
    r = run(ex, "recv")
    assert r.error.kind == "state" and "no socket" in text_of(r)
    run(ex, "socket")
    r = run(ex, "recv")  # a socket, but not connected: the OS says so
    assert r.error is not None and r.error.errname == "ENOTCONN"
    assert fields(run(ex, "info"))["state"] == "tcp created"
    run(ex, "close")
    r = run(ex, "send x")
    assert r.error.kind == "state" and "closed" in text_of(r)
    assert fields(run(ex, "info"))["state"] == "closed"
    r = run(ex, "close")
    assert r.error.kind == "state"


def test_service_error_state(ex):
    run(ex, "socket")
    r = run(ex, "connect 127.0.0.1 no-such-service-here")
    assert r.error.kind == "service"
    assert fields(run(ex, "info"))["state"] == "tcp created"


def test_no_traceback_anywhere(ex, closed_port):
    for line in ("connect 127.0.0.1 0", "timeout 0.3", f"sendto 127.0.0.1 {closed_port} x", "recvfrom",
                 "lookup 65535 udp", "source /", "recv all > /"):
        for step in ex.run_line(line):
            assert "Traceback" not in text_of(step.result)


def test_enotconn_after_both_sides_shut_down_is_a_normal_close_not_a_lost_connection(ex, lab):
    server = lab("echo")
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    assert run(ex, "shutdown 1").ok
    assert "end of stream" in text_of(run(ex, "recv"))
    r = run(ex, "shutdown 0")
    shown = text_of(r)
    if r.ok:  # some kernels still accept it; then there is nothing to explain
        return
    assert "the connection has already closed normally" in shown and "ENOTCONN" in shown
    assert "lost" not in shown
    assert ex.session.state() == "tcp connected, write side shut, peer closed"


def test_expect_eof_without_a_socket_is_a_state_error_not_an_early_end_of_stream(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "close")
    r = run(ex, "expect eof")
    assert r.error is not None and r.error.kind == "state", text_of(r)
    assert "came first" not in text_of(r)


def test_recv_after_our_own_shutdown_0_does_not_claim_the_peer_closed(ex, lab):
    """After shutdown(0) recv returns no data at once, whatever the peer does:
    that is not the peer's end of stream (the echo server is still there)."""
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "shutdown 0")
    for line in ("recv", "recv all", "recv line"):
        r = run(ex, line)
        assert r.ok, text_of(r)
        assert "peer closed" not in text_of(r) and "peer closed" not in r.state, (line, text_of(r))
        assert "read side" in text_of(r), (line, text_of(r))
    r = run(ex, "expect eof")
    assert r.error is not None and r.error.kind == "expect" and "read side is shut" in text_of(r), text_of(r)
    assert run(ex, "info").state == "tcp connected, read side shut"


def test_stable_masks_a_lab_server_port_the_same_way_in_every_message(ex, server_port):
    """A port given to `serve` is stable and shown; one the OS chose is masked: in
    `serving`, the listing and `serve stop` alike (`serve stop` used to decide by its
    own argument, the listing masked every port)."""
    shown = [text_of(run(ex, line), stable=True)
             for line in (f"serve echo {server_port}", "serve", "serve stop")]
    for text in shown:
        assert f"127.0.0.1:{server_port}" in text and "<port>" not in text, shown
    run(ex, "serve echo 0")
    (port,) = [server.port for server in ex.servers.values()]
    shown = [text_of(run(ex, line), stable=True) for line in ("serve", f"serve stop {port}")]
    for text in shown:
        assert "127.0.0.1:<port>" in text and str(port) not in text, shown
