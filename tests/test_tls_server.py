"""`tls --server`: netrepl as the TLS server on an accepted connection, against real clients.

openssl s_client verifies the lab certificate against `netrepl serve --ca-path` and
carries data both ways; curl fetches a page over HTTPS from it; a client certificate
asked for is shown (escaped); ALPN selects from `set tls alpn`; failures are sentences.
Every client is a real program on loopback (skipped where missing) or Python's ssl.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import run, run_cli, text_of
from tlshelpers import Certs

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


@pytest.fixture(scope="module")
def lab_ca() -> str:
    done = run_cli("serve", "--ca-path")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _listen(ex) -> int:
    assert run(ex, "listen 127.0.0.1 0").ok
    return ex.session.listener.address.port


def _s_client(port: int, ca: str, *extra: str, data: bytes = b"ping from s_client\n") -> subprocess.Popen:
    proc = subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca,
                             "-verify_return_error", "-servername", "localhost", "-ign_eof", *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(data)
    proc.stdin.close()  # -ign_eof: it still reads what the server sends until the server closes
    proc.stdin = None
    return proc


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    out, err = proc.communicate(timeout=30)
    return out.decode(errors="replace"), err.decode(errors="replace")


@needs_openssl
def test_s_client_verifies_the_lab_certificate_and_data_goes_both_ways(ex, lab_ca):
    port = _listen(ex)
    client = _s_client(port, lab_ca)
    try:
        assert run(ex, "accept").ok
        shaken = run(ex, "tls --server localhost")
        assert shaken.ok, text_of(shaken)
        got = run(ex, "recv line")
        assert got.data == b"ping from s_client\n"
        assert run(ex, "send pong from netrepl").ok
        assert run(ex, "close").ok
    finally:
        out, err = _finish(client)
    assert "pong from netrepl\r\n" in out
    assert "Verify return code: 0 (ok)" in out and "depth=1 O = netrepl lab (lab use only), CN = netrepl lab CA" in err
    shown = text_of(shaken)
    assert "TLS 1.3 handshake as the server done in" in shown
    assert "sni              localhost (as expected)" in shown
    assert "our certificate  localhost.pem (the lab certificate: trust $lab_ca)" in shown
    assert "client cert      none (not asked for: `set tls client-cert request` asks)" in shown
    assert "tls 1.3 (server side)" in shaken.state


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_fetches_a_page_over_https_from_it(ex, lab_ca):
    port = _listen(ex)
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("curl", subprocess.run(
        [CURL, "-sS", "--cacert", lab_ca, "--resolve", f"localhost:{port}:127.0.0.1", "--max-time", "20",
         "--http1.1", f"https://localhost:{port}/hello"], capture_output=True, timeout=30)))
    thread.start()
    try:
        assert run(ex, "set tls alpn http/1.1").ok
        assert run(ex, "accept").ok
        shaken = run(ex, "tls --server")
        assert shaken.ok, text_of(shaken)
        head = run(ex, "expect \\r\\n\\r\\n")
        assert head.ok, text_of(head)
        assert run(ex, "send HTTP/1.1 200 OK\\r\\nContent-Length: 13\\r\\nConnection: close\\r\\n\\r\\nhello, curl").ok
        assert run(ex, "close").ok
    finally:
        thread.join(30)
    done = box["curl"]
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello, curl\r\n"
    assert "alpn             http/1.1 (selected from what the client offered)" in text_of(shaken)
    assert "sni              localhost\n" in text_of(shaken) + "\n"


def _python_client(port: int, ctx: ssl.SSLContext, box: dict, data: bytes = b"hi\n") -> threading.Thread:
    def go():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(data)
                box["got"] = tls.recv(100)
        except (OSError, ssl.SSLError) as exc:
            box["error"] = exc
    thread = threading.Thread(target=go)
    thread.start()
    return thread


def test_a_client_certificate_asked_for_is_shown_escaped_and_verified(ex, tmp_path, lab_ca):
    certs = Certs(tmp_path)
    hostile = certs.ca.issue_cert("client.test", common_name="evil\x1b[2J\u202eclient")
    hostile_file = tmp_path / "hostile.pem"
    hostile.private_key_and_cert_chain_pem.write_to_path(str(hostile_file))
    ctx = ssl.create_default_context(cafile=lab_ca)
    ctx.load_cert_chain(str(hostile_file))
    for line in (f"set tls ca {certs.ca_file}", "set tls client-cert request"):
        assert run(ex, line).ok
    port = _listen(ex)
    box: dict = {}
    thread = _python_client(port, ctx, box)
    try:
        assert run(ex, "accept").ok
        shaken = run(ex, "tls --server")
        assert shaken.ok, text_of(shaken)
        assert run(ex, "recv line").data == b"hi\n"
        assert run(ex, "send ok").ok
    finally:
        thread.join(30)
    assert box.get("got") == b"ok\r\n", box
    shown = text_of(shaken)
    assert "client cert      O=trustme" in shown and ", CN=evil\\x1b[2J\\u202eclient\n" in shown  # escaped: no terminal control reaches the screen
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "client issuer    O=trustme" in shown
    assert "client chain     1 certificate sent by the client" in shown
    assert f"client verify    ok (against {certs.ca_file})" in shown
    assert "client sha256    " in shown


def test_a_required_client_certificate_that_is_not_sent_is_a_sentence(ex, tmp_path, lab_ca):
    certs = Certs(tmp_path)
    for line in (f"set tls ca {certs.ca_file}", "set tls client-cert require"):
        assert run(ex, line).ok
    port = _listen(ex)
    box: dict = {}
    thread = _python_client(port, ssl.create_default_context(cafile=lab_ca), box)
    try:
        assert run(ex, "accept").ok
        failed = run(ex, "tls --server")
    finally:
        thread.join(30)
    assert failed.error is not None and failed.error.kind == "tls"
    shown = text_of(failed)
    assert "the client sent no certificate and `set tls client-cert require` wants one " \
           "(PEER_DID_NOT_RETURN_A_CERTIFICATE)" in shown
    assert "closed it" in shown and ex.session.transport is None
    assert "certificate required" in str(box.get("error", "")).replace("_", " ").lower()


def test_a_client_certificate_from_another_ca_is_refused_naming_the_verify_failure(ex, tmp_path, lab_ca):
    certs = Certs(tmp_path)
    (tmp_path / "other").mkdir()
    other = Certs(tmp_path / "other")
    ctx = ssl.create_default_context(cafile=lab_ca)
    ctx.load_cert_chain(other.client_file)
    for line in (f"set tls ca {certs.ca_file}", "set tls client-cert require"):
        assert run(ex, line).ok
    port = _listen(ex)
    box: dict = {}
    thread = _python_client(port, ctx, box)
    try:
        assert run(ex, "accept").ok
        failed = run(ex, "tls --server")
    finally:
        thread.join(30)
    assert failed.error is not None and failed.error.kind == "verify"
    assert "the client's certificate did not verify: unable to get local issuer certificate (code 20)" \
        in text_of(failed)


def test_alpn_selects_from_what_the_client_offers_in_our_order(ex, lab_ca):
    assert run(ex, "set tls alpn h2,http/1.1").ok
    port = _listen(ex)
    ctx = ssl.create_default_context(cafile=lab_ca)
    ctx.set_alpn_protocols(["http/1.1", "h2"])
    box: dict = {}
    thread = _python_client(port, ctx, box)
    try:
        assert run(ex, "accept").ok
        shaken = run(ex, "tls --server")
        assert run(ex, "send x").ok
    finally:
        thread.join(30)
    assert "alpn             h2 (selected from what the client offered)" in text_of(shaken)


def test_refusals_say_why_before_anything_is_sent(ex, tmp_path):
    no_socket = run(ex, "tls --server")
    assert no_socket.error.kind == "state" and "no socket" in text_of(no_socket)
    assert run(ex, "socket inet tcp").ok
    unconnected = run(ex, "tls --server")
    assert "the socket is not connected: `listen` and `accept` (or `connect`) first" in text_of(unconnected)
    assert run(ex, "close").ok
    port = _listen(ex)
    with socket.create_connection(("127.0.0.1", port)):
        assert run(ex, "accept").ok
        both = run(ex, "tls -k --server")
        assert both.error.kind == "usage" and "-k is the client's" in text_of(both)
        (tmp_path / "nokey.pem").write_text(open(Certs(tmp_path).ca_file).read())
        assert run(ex, f"set tls cert {tmp_path / 'nokey.pem'}").ok
        bad = run(ex, "tls --server")
        assert bad.error.kind == "file" and "holds a certificate but no private key" in text_of(bad)
        assert ex.session.transport is not None and "tls" not in ex.session.state()  # nothing was sent


def test_a_client_that_sends_plaintext_is_told_apart(ex):
    port = _listen(ex)
    with socket.create_connection(("127.0.0.1", port)) as client:
        assert run(ex, "accept").ok
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        failed = run(ex, "tls --server")
    assert failed.error.kind == "tls"
    assert "the client sent plaintext, not a TLS ClientHello: 'GET / HTTP/1.0" in text_of(failed)


def test_export_writes_tls_server_as_a_program_that_serves_the_same(tmp_path, lab_ca):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "srv.nrs").write_text(f"set tls alpn h2\nlisten 127.0.0.1 {port}\naccept\ntls --server\n"
                                      "recv line\nsend from the program\nclose\n")
    done = run_cli("export", "srv.nrs", "-o", "srv.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import sys
    program = subprocess.Popen([sys.executable, "srv.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    ctx = ssl.create_default_context(cafile=lab_ca)
    ctx.set_alpn_protocols(["h2"])
    try:
        for _ in range(200):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=20)
                break
            except ConnectionRefusedError:
                threading.Event().wait(0.05)
        with raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            tls.sendall(b"hello\n")
            assert tls.recv(100) == b"from the program\r\n"
    finally:
        out, err = program.communicate(timeout=30)
    assert program.returncode == 0, err
    assert "handshake as the server: TLS_" in out + err


def _wait_client_done(ex, timeout: float = 10) -> str:
    import time

    deadline = time.monotonic() + timeout
    while True:
        listing = text_of(run(ex, "client"))
        if "done:" in listing or "ended:" in listing or time.monotonic() > deadline:
            return listing


def test_the_lab_https_client_verifies_tls_server_without_external_tools(ex):
    assert run(ex, "listen 127.0.0.1 0").ok
    assert run(ex, "client https").ok
    assert run(ex, "accept").ok
    shaken = run(ex, "tls --server localhost")
    assert shaken.ok and "sni              localhost (as expected)" in text_of(shaken)
    request = run(ex, "recv line")
    assert request.data == b"GET / HTTP/1.0\r\n"
    assert run(ex, "expect \\r\\n\\r\\n").ok
    assert run(ex, "send HTTP/1.0 200 OK\\r\\n\\r\\nfrom tls --server").ok
    assert run(ex, "close").ok
    listing = _wait_client_done(ex)
    assert "https client -> 127.0.0.1:" in listing and "(TLS 1.3, TLS_" in listing
    assert "done: the server closed" in listing and "first line received: HTTP/1.0 200 OK\\r" in listing


def test_the_lab_tls_client_refuses_a_certificate_it_cannot_verify(ex, tmp_path):
    certs = Certs(tmp_path)
    leaf = tmp_path / "other.pem"
    certs.good.private_key_and_cert_chain_pem.write_to_path(str(leaf))
    for line in (f"set tls cert {leaf}", "listen 127.0.0.1 0", "client tls-line", "accept"):
        assert run(ex, line).ok, line
    failed = run(ex, "tls --server")
    assert failed.error is not None and failed.error.kind == "tls"
    assert "the TLS alert 'unknown ca' (TLSV1_ALERT_UNKNOWN_CA)" in text_of(failed)
    assert "the client does not trust our certificate" in text_of(failed)
    assert "protocol " not in text_of(failed)  # no report of a handshake that did not happen
    listing = _wait_client_done(ex)
    assert "ended: certificate verify failed: unable to get local issuer certificate" in listing
