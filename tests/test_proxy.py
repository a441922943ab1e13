"""`set proxy` through real proxies (OpenSSH's `ssh -D` for SOCKS5, tinyproxy for HTTP CONNECT) and the
lab's own, to real servers on loopback; `set proxy-protocol` read back by nginx's `proxy_protocol`."""

from __future__ import annotations

import socket

import pytest

from conftest import run, text_of
from netrepl.core.proxy import V2_SIGNATURE, proxy_header
from realpeers import Nginx, SshSocks, Tinyproxy, free_port, needs_nginx, needs_ssh, needs_tinyproxy

PAGE = "served through the proxy"


@pytest.fixture
def nginx(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE + "\n")
    port = free_port()
    server = Nginx(tmp_path, f"server {{ listen 127.0.0.1:{port}; root {site}; }}", [port]).start()
    server.port = port
    yield server
    server.stop()


def _get(ex, host: str, port: int) -> str:
    """connect, GET /, read to the end; the transcript."""
    out = []
    for line in (f"connect {host} {port}", "send GET / HTTP/1.0\\r\\nHost: localhost\\r\\n", "recv all", "close"):
        result = run(ex, line)
        out.append(text_of(result))
        assert result.ok, "".join(out)
    return "".join(out)


@needs_ssh
@needs_nginx
def test_connect_through_ssh_dash_d_reaches_nginx_by_name(ex, tmp_path, nginx):
    proxy = SshSocks(tmp_path)
    try:
        assert run(ex, f"set proxy socks5 127.0.0.1 {proxy.port}").ok
        shown = _get(ex, "localhost", nginx.port)  # the name goes to the proxy, which resolves it
        assert f"-> localhost:{nginx.port} (localhost) through the socks5 proxy 127.0.0.1:{proxy.port}" in shown
        assert "HTTP/1.1 200 OK" in shown and PAGE in shown
        # A refused target: ssh -D closes the SOCKS connection (it sends no reply code).
        refused = run(ex, f"connect 127.0.0.1 {free_port()}")
        assert refused.error.kind == "proxy" and "closed the connection" in refused.error.message
    finally:
        proxy.close()


@needs_tinyproxy
@needs_nginx
def test_connect_through_tinyproxy_reaches_nginx_and_a_refusal_shows_the_status_line(ex, tmp_path, nginx, lab):
    proxy = Tinyproxy(tmp_path, nginx.port)
    try:
        assert run(ex, f"set proxy http 127.0.0.1 {proxy.port}").ok
        shown = _get(ex, "127.0.0.1", nginx.port)
        assert "through the http proxy" in shown and PAGE in shown
        other = lab("echo").port  # not the ConnectPort: tinyproxy refuses
        refused = run(ex, f"connect 127.0.0.1 {other}")
        assert refused.error.kind == "proxy"
        assert f"refused CONNECT 127.0.0.1:{other}: HTTP/1.1 403" in refused.error.message
        assert run(ex, "must-fail proxy connect 127.0.0.1 " + str(other)).ok
    finally:
        proxy.close()


def test_a_refused_socks_request_shows_its_reply_code(ex, lab, closed_port):
    socks = lab("socks5")
    run(ex, f"set proxy socks5 127.0.0.1 {socks.port}")
    refused = run(ex, f"connect 127.0.0.1 {closed_port}")
    assert refused.error.kind == "proxy"
    assert "reply 5 (connection refused)" in refused.error.message
    assert "[no socket]" in text_of(refused)
    beyond = run(ex, "connect far.example.invalid 80")  # not loopback: the lab proxy's ruleset says no
    assert "reply 2 (connection not allowed by ruleset)" in beyond.error.message


def test_socks5_user_and_password(ex, lab):
    socks, echo = lab("socks5"), lab("echo")
    run(ex, f"set proxy socks5 127.0.0.1 {socks.port} lab wrong")
    bad = run(ex, f"connect 127.0.0.1 {echo.port}")
    assert bad.error.kind == "proxy" and "refused the user and password (status 1)" in bad.error.message
    run(ex, f"set proxy socks5 127.0.0.1 {socks.port} lab lab")
    assert run(ex, f"connect 127.0.0.1 {echo.port}").ok
    run(ex, "send hello")
    assert run(ex, "expect hello").ok


def test_timing_and_info_name_the_proxy_hop(ex, lab):
    proxy, http = lab("http-proxy"), lab("http")
    run(ex, f"set proxy http 127.0.0.1 {proxy.port}")
    assert run(ex, f"connect localhost {http.port}").ok
    info = text_of(run(ex, "info"))
    assert f"through   http proxy 127.0.0.1:{proxy.port}" in info
    timing = text_of(run(ex, "timing"))
    assert "connect 127.0.0.1:" in timing and "the proxy" in timing
    assert f"proxy http to localhost:{http.port}" in timing


def test_a_server_that_speaks_first_keeps_its_banner_through_the_proxy(ex, lab):
    proxy, smtp = lab("http-proxy"), lab("smtp")
    run(ex, f"set proxy http 127.0.0.1 {proxy.port}")
    assert run(ex, f"connect 127.0.0.1 {smtp.port}").ok
    assert run(ex, "expect 220 ").ok  # the banner came right behind the proxy's 200: not swallowed


def test_tls_runs_end_to_end_through_the_tunnel(ex, lab):
    socks, https = lab("socks5"), lab("https")
    run(ex, "set tls ca " + __import__("netrepl.lab.kinds", fromlist=["LAB_CA"]).LAB_CA)
    run(ex, f"set proxy socks5 127.0.0.1 {socks.port}")
    assert run(ex, f"connect localhost {https.port}").ok
    shaken = run(ex, "tls localhost")
    assert shaken.ok, text_of(shaken)
    run(ex, "send GET / HTTP/1.0\\r\\n")
    assert run(ex, "expect HTTP/1.0 200").ok


def test_set_proxy_none_connects_directly_again(ex, lab):
    echo = lab("echo")
    run(ex, "set proxy socks5 127.0.0.1 1")
    assert not run(ex, f"connect 127.0.0.1 {echo.port}").ok
    run(ex, "set proxy none")
    assert "through" not in text_of(run(ex, f"connect 127.0.0.1 {echo.port}"))


def test_proxy_usage_errors(ex):
    for line, words in (("set proxy socks5", "needs HOST PORT"), ("set proxy http h 1 user", "USER PASS"),
                        ("set proxy none x", "nothing after it"), ("set proxy-protocol v1", "needs the source"),
                        ("set proxy-protocol v2 not-an-ip 1", "expected an IPv4 or IPv6 address")):
        assert words in text_of(run(ex, line)), line


# ----- the PROXY protocol ----------------------------------------------------------------------

def test_proxy_headers_are_byte_exact():
    assert proxy_header("v1", "203.0.113.7", 5555, "127.0.0.1", 80) == \
        b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
    assert proxy_header("v1", "2001:db8::1", 5555, "127.0.0.1", 80) == \
        b"PROXY TCP6 2001:db8::1 ::ffff:127.0.0.1 5555 80\r\n"
    v2 = proxy_header("v2", "203.0.113.7", 5555, "127.0.0.1", 80)
    assert v2 == V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([203, 0, 113, 7, 127, 0, 0, 1]) + b"\x15\xb3\x00\x50"
    assert V2_SIGNATURE == b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"  # the spec's 12 bytes
    assert proxy_header("v2", "::1", 1, "::1", 2)[12:16] == b"\x21\x21\x00\x24"


@needs_nginx
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("source", ["203.0.113.7", "2001:db8::7"])
def test_nginx_reports_the_address_given_to_set_proxy_protocol(ex, tmp_path, version, source):
    port = free_port()
    server = Nginx(tmp_path, f"server {{ listen 127.0.0.1:{port} proxy_protocol; "
                             "return 200 \"$proxy_protocol_addr:$proxy_protocol_port\"; }", [port])
    # (nginx's own check of the port above connects without a header: it just logs a broken header)
    server.start()
    try:
        assert run(ex, f"set proxy-protocol {version} {source} 4242").ok
        connected = run(ex, f"connect 127.0.0.1 {port}")
        assert connected.ok and f"sent PROXY protocol {version} header" in text_of(connected)
        run(ex, "send GET / HTTP/1.0\\r\\n")
        got = run(ex, "recv all")
        assert got.data.endswith(f"\r\n\r\n{source}:4242".encode()), got.data
        run(ex, "close")
        run(ex, "set proxy-protocol off")
        assert "PROXY" not in text_of(run(ex, f"connect 127.0.0.1 {port}"))
    finally:
        server.stop()


def test_the_header_goes_first_through_a_proxy_too(ex, lab, tcp_server):
    got = []

    def handler(conn):
        conn.settimeout(10)
        got.append(conn.recv(200))

    target = tcp_server(handler)
    socks = lab("socks5")
    run(ex, f"set proxy socks5 127.0.0.1 {socks.port}")
    run(ex, "set proxy-protocol v1 192.0.2.1 1000")
    assert run(ex, f"connect localhost {target.port}").ok  # a name: the header names its address
    run(ex, "send -n x")
    from helpers import wait_until

    wait_until(lambda: got, what="the server to read")
    assert got[0].startswith(f"PROXY TCP4 192.0.2.1 127.0.0.1 1000 {target.port}\r\n".encode())


def test_lab_proxies_refuse_what_is_not_loopback_without_a_lookup(lab):
    proxy = lab("http-proxy")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 403 Forbidden")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 405")


def test_a_udp_socket_sets_its_peer_directly_with_a_proxy_set(ex):
    run(ex, "set proxy socks5 127.0.0.1 1")
    run(ex, "set proxy-protocol v1 192.0.2.1 1000")
    run(ex, "socket inet udp")
    result = run(ex, "connect 127.0.0.1 9")
    assert result.ok and "through" not in text_of(result) and "PROXY" not in text_of(result)


def test_lab_proxies_are_bounded_against_hostile_clients(lab):
    proxy = lab("http-proxy")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n" + b"X: " + b"a" * 9000)
        assert sock.recv(100).startswith(b"HTTP/1.1 431")  # a head over 8 KiB: answered, never buffered on
    socks = lab("socks5")
    with socket.create_connection(("127.0.0.1", socks.port), timeout=10) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")  # BIND: not offered
        assert sock.recv(10)[:2] == b"\x05\x07"
    with socket.create_connection(("127.0.0.1", socks.port), timeout=10) as sock:
        sock.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")  # SOCKS4: its own "rejected", then a FIN
        assert sock.recv(10) == b"\x00\x5b" + bytes(6)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(10) == b""


def test_a_lab_proxy_cuts_off_a_request_dripping_past_its_deadline(monkeypatch, lab):
    from netrepl.lab import proxykinds

    monkeypatch.setattr(proxykinds, "HEAD_TIMEOUT", 0.5)
    proxy = lab("http-proxy")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        for byte in b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            if byte == ord(" "):
                __import__("time").sleep(0.2)
        sock.settimeout(10)
        try:
            assert sock.recv(100) == b""  # closed at the deadline, the head never complete
        except ConnectionResetError:
            pass  # (closed with the rest unread: an RST is a close too)


def test_connect_again_through_a_proxy_makes_a_new_tunnel(ex, lab):
    # The second CONNECT went down the first tunnel, to the first server, which closed on it.
    proxy, first, second = lab("http-proxy"), lab("echo"), lab("http")
    run(ex, f"set proxy http 127.0.0.1 {proxy.port}")
    assert run(ex, f"connect 127.0.0.1 {first.port}").ok
    run(ex, "send hi")
    assert run(ex, "expect hi").ok
    again = run(ex, f"connect 127.0.0.1 {second.port}")
    assert again.ok, text_of(again)
    assert f"closed the previous connection to 127.0.0.1:{first.port}" in text_of(again)
    run(ex, "send HEAD / HTTP/1.0\\r\\n")
    assert run(ex, "expect HTTP/1.0 200 OK").ok
