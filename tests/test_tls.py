"""`tls`: the handshake on the session socket against real TLS servers on loopback.

Python ssl servers (tests/tlshelpers.py) with trustme certificates: TLS 1.2 and 1.3,
ALPN, mutual TLS, every verify failure (and what `tls -k` says it would have been),
a plaintext peer, close_notify vs truncation, STARTTLS typed by hand, the injection
warning, hostile certificate fields and peer bytes.
"""

from __future__ import annotations

import random
import ssl

import pytest
import trustme

from conftest import run, text_of
from tlshelpers import Certs, TlsServer, echo_lines, send_then


@pytest.fixture
def certs(tmp_path):
    return Certs(tmp_path)


@pytest.fixture
def serve_tls():
    servers = []

    def start(context, handler=echo_lines):
        server = TlsServer(context, handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def trusting(ex, certs):
    assert run(ex, f"set tls ca {certs.ca_file}").ok


def connect(ex, port, host="localhost"):
    result = run(ex, f"connect {host} {port}")
    assert result.ok, text_of(result)


def fields(result) -> dict:
    return {label: text_of_part(value) for label, value in result.fields}


def text_of_part(value):
    from netrepl.render.text import part_text

    return part_text(value)


def test_implicit_tls_13_reports_the_handshake_and_carries_data(ex, certs, serve_tls):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port)
    result = run(ex, "tls")
    assert result.ok, text_of(result)
    f = fields(result)
    assert f["protocol"] == "TLSv1.3"
    assert f["sni"] == "localhost" and server.sni == ["localhost"]
    assert f["subject"].endswith("CN=localhost") and "DNS:localhost" in f["san"] and "IP:127.0.0.1" in f["san"]
    assert "trustme" in f["issuer"]
    assert f["verify"].startswith("ok") and f["hostname"].startswith("yes")
    assert len(f["sha256"]) == 95 and f["chain"] == "1 certificate sent by the peer"
    assert f["reuse"] == "new session"
    assert result.state == "tcp connected, tls 1.3"
    assert run(ex, "send hello").ok
    line = run(ex, "recv line")
    assert line.data == b"echo: hello\r\n"
    info = fields(run(ex, "info"))
    assert info["tls protocol"] == "TLSv1.3" and info["state"] == "tcp connected, tls 1.3"
    assert run(ex, "send bye").ok
    assert run(ex, "expect bye\\r\\n").ok
    end = run(ex, "recv")
    assert "with close_notify" in text_of(end)
    assert run(ex, "close").ok


def test_tls_12_and_alpn(ex, certs, serve_tls):
    server = serve_tls(certs.context(max_version=ssl.TLSVersion.TLSv1_2, alpn=["h2", "http/1.1"]))
    trusting(ex, certs)
    assert run(ex, "set tls alpn h2,http/1.1").ok
    connect(ex, server.port)
    result = run(ex, "tls")
    assert result.ok, text_of(result)
    f = fields(result)
    assert f["protocol"] == "TLSv1.2" and result.state.endswith("tls 1.2")
    assert f["alpn"] == "h2 (offered h2, http/1.1)"


def test_version_settings_and_a_protocol_version_alert(ex, certs, serve_tls):
    server = serve_tls(certs.context(max_version=ssl.TLSVersion.TLSv1_2))
    trusting(ex, certs)
    assert run(ex, "set tls min 1.3").ok
    connect(ex, server.port)
    result = run(ex, "must-fail protocol-version tls")
    assert result.ok, text_of(result)
    assert "TLS error (ssl.SSLError)" in text_of(result) and result.state == "closed"
    assert run(ex, "set tls min default").ok and run(ex, "set tls max 1.2").ok
    connect(ex, server.port)
    assert fields(run(ex, "tls"))["protocol"] == "TLSv1.2"


def test_mutual_tls(ex, certs, serve_tls):
    server = serve_tls(certs.context(client_ca=True))
    trusting(ex, certs)
    assert run(ex, f"set tls cert {certs.client_file}").ok
    connect(ex, server.port)
    assert run(ex, "tls").ok
    assert run(ex, "send hi").ok and run(ex, "recv line").data == b"echo: hi\r\n"
    subject = dict(x[0] for x in server.events[0][1]["subject"])
    assert subject["commonName"] == "netrepl test client"


def test_mutual_tls_without_a_certificate_13_and_12(ex, certs, serve_tls):
    server = serve_tls(certs.context(client_ca=True))
    trusting(ex, certs)
    connect(ex, server.port)
    # TLS 1.3: the client's handshake is done before the server checks; the alert comes next.
    assert run(ex, "tls").ok
    result = run(ex, "must-fail certificate-required recv")
    assert result.ok, text_of(result)
    assert "certificate required" in text_of(result) and "set tls cert" in text_of(result)
    run(ex, "close")
    assert run(ex, "set tls max 1.2").ok
    connect(ex, server.port)
    result = run(ex, "tls")
    assert result.error.kind == "tls" and result.error.errname == "SSLV3_ALERT_HANDSHAKE_FAILURE", text_of(result)
    assert "alert 'handshake failure'" in text_of(result)


FAULTS = [
    # (name, certificate, connect host, tls argument, verify code, must-fail name)
    ("self-signed", "self_signed", "localhost", "", 18, "self-signed"),
    ("unknown CA", "other_ca", "localhost", "", 20, "unknown-ca"),
    ("expired", "expired", "localhost", "", 10, "expired"),
    ("hostname mismatch", "wrong_name", "localhost", "", 62, "hostname-mismatch"),
    ("IP mismatch", "wrong_name", "127.0.0.1", "", 64, "ip-mismatch"),
    ("name given to tls", "good", "localhost", "other.test", 62, "hostname-mismatch"),
]


def _fault_context(certs, which):
    if which == "self_signed":
        return certs.context(self_signed=True)
    if which == "good":
        return certs.context()
    return certs.context(getattr(certs, which)())


@pytest.mark.parametrize("label, which, host, name, code, alias", FAULTS, ids=[f[0] for f in FAULTS])
def test_verify_failures_and_what_k_says(ex, certs, serve_tls, label, which, host, name, code, alias):
    server = serve_tls(_fault_context(certs, which), send_then(b"secret\n", clean=True))
    trusting(ex, certs)
    connect(ex, server.port, host)
    result = run(ex, f"tls {name}".strip())
    assert result.error is not None and result.error.kind == "verify", text_of(result)
    assert result.error.errno == code
    assert f"[{result.error.errname} {code}]" in text_of(result)
    assert "certificate 0: subject" in text_of(result)  # the refused certificate is shown
    assert result.state == "closed"
    connect(ex, server.port, host)
    assert run(ex, f"must-fail {alias} tls {name}".strip()).ok
    connect(ex, server.port, host)
    assert run(ex, f"must-fail verify tls {name}".strip()).ok
    # -k gets through, and says what verification (replayed here, offline) would have said: the same code.
    connect(ex, server.port, host)
    insecure = run(ex, f"tls -k {name}".strip())
    assert insecure.ok, text_of(insecure)
    assert f"would FAIL: verify code {code} (" in fields(insecure)["verify"]
    assert run(ex, "recv line").data == b"secret\n"


def test_k_on_a_good_certificate_would_pass(ex, certs, serve_tls):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port)
    assert fields(run(ex, "tls -k"))["verify"].startswith("would pass")


def test_ssl_cert_file_is_honoured_as_the_system_store(ex, certs, serve_tls, monkeypatch):
    server = serve_tls(certs.context())
    monkeypatch.setenv("SSL_CERT_FILE", certs.ca_file)  # what OpenSSL honours: so does `tls`
    connect(ex, server.port)
    assert run(ex, "tls").ok


@pytest.mark.parametrize("trusted, words", [(True, "would pass"), (False, "would FAIL: verify code 20 (")])
def test_k_says_what_the_system_store_would_have_said(ex, certs, serve_tls, tmp_path, monkeypatch, trusted, words):
    """`tls -k` loads no trust store for its handshake; its "would have said" reads the system store
    (SSL_CERT_FILE here: other CAs, with the test CA or without) cut down to the chain (core/castore.py),
    and says what a verifying `tls` then does."""
    server = serve_tls(certs.context())
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"".join(trustme.CA().cert_pem.bytes() for _ in range(5))
                       + (certs.ca.cert_pem.bytes() if trusted else b""))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))  # the machine's own CAs out of it
    connect(ex, server.port)
    insecure = run(ex, "tls -k")
    assert insecure.ok and fields(insecure)["verify"].startswith(words), text_of(insecure)
    assert ex.session.tls_settings.context(False, False).cert_store_stats()["x509"] == 0
    assert run(ex, "close").ok
    connect(ex, server.port)
    verified = run(ex, "tls")
    assert verified.ok if trusted else verified.error.errno == 20, text_of(verified)


def test_sni_off_sends_none_but_still_checks_the_name(ex, certs, serve_tls):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    assert run(ex, "set tls sni off").ok
    connect(ex, server.port)
    result = run(ex, "tls")
    assert result.ok, text_of(result)
    assert server.sni == [None] and fields(result)["sni"].startswith("not sent")
    connect_again = run(ex, "close")
    assert connect_again.ok
    connect(ex, server.port)
    refused = run(ex, "tls other.test")
    assert refused.error.kind == "verify" and refused.error.errno == 62, text_of(refused)


def plaintext_http(server, conn):
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\x1b[2JServer: evil\r\n\r\n")
    conn.close()


def test_a_plaintext_peer_is_said_as_such(ex, serve_tls):
    server = serve_tls(None, plaintext_http)
    connect(ex, server.port)
    result = run(ex, "tls")
    out = text_of(result)
    assert result.error.kind == "tls" and "the peer answered in plaintext" in out, out
    assert "HTTP/1.0 400 Bad Request\\r\\n\\x1b[2J" in out and "\x1b" not in out
    connect(ex, server.port)
    assert run(ex, "must-fail plaintext tls").ok


def test_a_silent_peer_times_out_within_the_timeout(ex, serve_tls):
    server = serve_tls(None, lambda server, conn: conn.recv(4096) and conn.recv(1))
    connect(ex, server.port)
    assert run(ex, "timeout 0.3").ok
    result = run(ex, "tls")
    assert result.error.kind == "timeout" and "no TLS handshake within 0.3 s" in text_of(result)
    assert result.state == "closed"


def test_a_peer_that_closes_at_once(ex, serve_tls):
    server = serve_tls(None, lambda server, conn: conn.close())
    connect(ex, server.port)
    result = run(ex, "tls")
    assert result.error is not None and result.error.kind in ("tls", "io"), text_of(result)
    assert result.state == "closed"


@pytest.mark.parametrize("clean, words", [(True, "with close_notify"), (False, "without close_notify")])
def test_close_notify_or_truncation(ex, certs, serve_tls, clean, words):
    server = serve_tls(certs.context(), send_then(b"x" * 100000, clean))
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    result = run(ex, "recv all")
    assert result.ok and len(result.data) == 100000
    assert words in text_of(result)
    assert "peer closed" in result.state


def test_recv_all_to_a_file_over_tls(ex, certs, serve_tls, tmp_path):
    payload = bytes(range(256)) * 40000  # ~10 MiB
    server = serve_tls(certs.context(), send_then(payload, True))
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    out = tmp_path / "out.bin"
    result = run(ex, f"recv all > {out}")
    assert result.ok, text_of(result)
    assert out.read_bytes() == payload


def test_a_large_irregular_stream_over_tls_arrives_byte_exact(ex, certs, serve_tls, tmp_path):
    """Records cut anywhere: sends of odd sizes (1 byte to past a 16 KiB record and a 256 KiB TCP
    read), a `recv` that stops inside a record, then `recv all > FILE` for the ~24 MiB left."""
    import hashlib
    import random

    rng = random.Random(7)
    payload = rng.randbytes(24 << 20)
    sizes = []
    while sum(sizes) < len(payload):
        sizes.append(rng.choice((1, 7, 16383, 16384, 16385, 65537, (1 << 18) + 3, 1 << 20)))

    def handler(server, conn):
        tls = server.wrap(conn)
        at = 0
        for size in sizes:
            tls.sendall(payload[at:at + size])
            at += size
        tls.unwrap()

    server = serve_tls(certs.context(), handler)
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    head = run(ex, "recv 5")
    assert head.data == payload[:len(head.data)] and head.data
    out = tmp_path / "big.bin"
    result = run(ex, f"recv all > {out}")
    assert result.ok and "with close_notify" in text_of(result), text_of(result)
    assert hashlib.sha256(head.data + out.read_bytes()).digest() == hashlib.sha256(payload).digest()


def half_close(server, conn):
    tls = server.wrap(conn)
    got = b""
    while chunk := tls.recv(4096):  # b"" once netrepl's close_notify came
        got += chunk
    tls.sendall(b"after your close_notify: " + got)
    tls.unwrap()


def test_shutdown_1_sends_close_notify_and_the_reply_still_arrives(ex, certs, serve_tls):
    server = serve_tls(certs.context(), half_close)
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    assert run(ex, "send -n request").ok
    assert run(ex, "shutdown 1").ok
    result = run(ex, "recv all")
    assert result.data == b"after your close_notify: request", text_of(result)
    assert "with close_notify" in text_of(result)
    assert run(ex, "must-fail pipe send more").ok


def starttls_server(extra: bytes = b""):
    def handler(server, conn):
        conn.sendall(b"220 ready\r\n")
        assert conn.recv(100) == b"STARTTLS\r\n"
        conn.sendall(b"220 go ahead\r\n" + extra)
        tls = server.wrap(conn)
        line = tls.recv(100)
        tls.sendall(b"250 over TLS: " + line)
    return handler


def test_starttls_typed_by_hand(ex, certs, serve_tls):
    server = serve_tls(certs.context(), starttls_server())
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "expect 220 ready").ok
    assert run(ex, "send STARTTLS").ok
    assert run(ex, "expect 220 go ahead\\r\\n").ok
    result = run(ex, "tls")
    assert result.ok and "warning" not in text_of(result), text_of(result)
    assert run(ex, "send EHLO x").ok
    assert run(ex, "recv line").data == b"250 over TLS: EHLO x\r\n"


def test_plaintext_left_unread_is_an_injection_warning_and_not_tls_data(ex, certs, serve_tls):
    server = serve_tls(certs.context(), starttls_server(b"250 injected\r\n"))
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "send STARTTLS").ok
    assert run(ex, "expect 220 go ahead\\r\\n").ok  # the injected line came in the same segment
    result = run(ex, "tls")
    out = text_of(result)
    assert result.ok, out
    assert "warning: 14 bytes received in plaintext" in out and "250 injected" in out
    assert run(ex, "send EHLO x").ok
    assert run(ex, "recv line").data == b"250 over TLS: EHLO x\r\n"


def test_hostile_certificate_fields_and_bytes_are_escaped(ex, certs, serve_tls):
    server = serve_tls(certs.context(certs.hostile()), send_then(b"\x1b]0;title\x07\x1b[2J\r\n", True))
    trusting(ex, certs)
    connect(ex, server.port)
    result = run(ex, "tls")
    out = text_of(result)
    assert result.ok, out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\r" not in out
    assert "evil\\x1b[2J" in out
    data = text_of(run(ex, "recv all"))
    assert "\x1b" not in data and "\\x1b]0;title" in data


def test_tls_in_the_wrong_state(ex, certs, serve_tls):
    assert run(ex, "tls").error.kind == "state"
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    again = run(ex, "tls")
    assert again.error.kind == "state" and "already speaks TLS" in text_of(again)
    run(ex, "close")
    assert run(ex, "socket inet udp").ok and run(ex, "must-fail state tls").ok


def test_a_missing_ca_file_is_a_file_error(ex, certs, serve_tls, tmp_path):
    server = serve_tls(certs.context())
    assert run(ex, f"set tls ca {tmp_path}/missing.pem").ok
    connect(ex, server.port)
    result = run(ex, "tls")
    assert result.error.kind == "file" and "No such file" in text_of(result)
    assert result.state == "tcp connected"  # nothing was sent: the connection is as it was


def test_a_second_handshake_resumes_the_session(ex, certs, serve_tls):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    for expected in ("new session", "resumed an earlier session"):
        connect(ex, server.port)
        result = run(ex, "tls")
        assert fields(result)["reuse"] == expected, text_of(result)
        assert run(ex, "send hi").ok and run(ex, "recv line").ok  # the TLS 1.3 ticket comes with data
        assert run(ex, "close").ok


def test_bad_tls_settings_are_refused_when_parsed(ex):
    for line in ("set tls min 0.9", "set tls sni maybe", "set tls alpn a,,b", "set tls ca x y"):
        result = run(ex, line)
        assert result.error is not None and result.error.kind == "syntax", line


def test_a_recording_of_a_tls_session_replays(certs, serve_tls, tmp_path):
    from conftest import run_cli

    server = serve_tls(certs.context())
    bad = serve_tls(certs.context(certs.wrong_name()))
    script = tmp_path / "rec.nrs"
    lines = [f"set tls ca {certs.ca_file}", "set tls alpn http/1.1", "set tls min 1.2",
             f"connect localhost {server.port}", f"record {script}", "tls", "send hi", "recv line", "close",
             f"connect localhost {bad.port}", "tls", "record stop"]
    done = run_cli("-k", "-c", "; ".join(lines))
    text = script.read_text()
    assert "set tls ca" in text and "set tls alpn http/1.1" in text and "set tls min 1.2" in text, text
    assert "\ntls\n" in text and "must-fail X509_V_ERR_HOSTNAME_MISMATCH tls" in text, text
    again = run_cli(str(script))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "echo: hi" in again.stdout, done.stdout


def test_recording_started_on_a_tls_connection_writes_the_handshake(ex, certs, serve_tls, tmp_path):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls -k localhost").ok
    script = tmp_path / "late.nrs"
    assert run(ex, f"record {script}").ok
    run(ex, "record stop")
    text = script.read_text()
    assert f"set tls ca {certs.ca_file}\n" in text and "tls -k localhost\n" in text, text


def test_stable_masks_the_handshake_time_and_days_left(certs, serve_tls):
    from conftest import run_cli

    server = serve_tls(certs.context())
    line = f"set tls ca {certs.ca_file}; connect localhost {server.port}; tls; info"
    runs = [run_cli("--stable", "-c", line) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stdout + runs[0].stderr
    out = runs[0].stdout
    assert "days left  <days>" in out and "time       <time>" in out and "done in <time>" in out, out
    assert runs[0].stdout.replace(str(server.port), "P") == runs[1].stdout.replace(str(server.port), "P")


def test_tls_settings_do_not_import_ssl(tmp_path):
    from test_imports import heavy_in, imported_by

    status, added, out = imported_by(["-c", "set tls alpn h2; set tls min 1.3; set tls; help tls"], tmp_path)
    assert status == 0, out
    assert "ssl" not in added and heavy_in(added) == []


def test_the_shell_toolbar_shows_the_tls_version(ex, certs, serve_tls):
    from netrepl.shell import toolbar_text

    server = serve_tls(certs.context(max_version=ssl.TLSVersion.TLSv1_2))
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    bar = "".join(text for _, text in toolbar_text(ex))
    assert "tcp connected, tls 1.2" in bar


def test_help_tls_explains_verification_and_k():
    from conftest import run_cli

    done = run_cli("-c", "help tls; help set tls")
    assert done.returncode == 0
    assert "usage: tls [-k] [--server] [NAME]" in done.stdout and "SSL_CERT_FILE" in done.stdout
    assert "usage: set tls [ca|alpn|cert|key|min|max|sni|" in done.stdout


def test_tls_over_ipv4_address_checks_the_ip_san_and_sends_no_sni(ex, certs, serve_tls):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port, "127.0.0.1")
    result = run(ex, "tls")
    assert result.ok, text_of(result)
    f = fields(result)
    assert f["sni"].startswith("not sent (an IP address") and server.sni == [None]
    assert f["hostname"] == "yes (127.0.0.1 is IP:127.0.0.1)"


# The child's own peak: VmHWM of its address space (ru_maxrss would count the pytest
# process it was forked from, which Linux carries across exec).
MEASURE = ("import sys\nfrom netrepl.cli import main\nstatus = main(sys.argv[1:])\nsys.stdout.flush()\n"
           "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
           "sys.stderr.write('MAXRSS ' + peak.split()[1] + '\\n')\nsys.exit(status)\n")


def send_blocks(count: int, block: bytes = b"\xa5" * (1 << 20)):
    def handler(server, conn):
        tls = server.wrap(conn)
        for _ in range(count):
            tls.sendall(block)
        tls.unwrap()
    return handler


def test_recv_all_over_tls_runs_in_constant_memory(certs, serve_tls):
    import subprocess
    import sys

    big = 256 << 20
    server = serve_tls(certs.context(), send_blocks(256))
    line = f"set tls ca {certs.ca_file}; connect localhost {server.port}; tls; recv all > /dev/null"
    done = subprocess.run([sys.executable, "-c", MEASURE, "-q", "-c", line], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"received {big} bytes in total into /dev/null until end of stream, with close_notify" in done.stdout
    peak_kib = int(done.stderr.rsplit("MAXRSS ", 1)[1])
    assert peak_kib < 64 << 10, f"peak RSS {peak_kib} KiB for {big >> 20} MiB over TLS"


@pytest.mark.parametrize("name", [".starts.with.dot", "a" * 300, "bad..name"])
def test_a_name_tls_cannot_use_is_refused_before_anything_is_sent(ex, certs, serve_tls, name):
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port)
    result = run(ex, f"tls {name}")
    assert result.error is not None, text_of(result)
    if result.error.kind == "usage":
        assert "cannot be a TLS server name" in text_of(result) and result.state == "tcp connected"
        assert run(ex, "tls").ok  # nothing was sent: the connection still takes a handshake
    else:  # OpenSSL took the name: the certificate does not match it
        assert result.error.kind == "verify" and result.error.errno == 62, text_of(result)


def test_ctrl_c_during_the_handshake_is_interrupted_and_closes(serve_tls):
    import os
    import signal
    import subprocess
    import sys
    import threading

    from conftest import ROOT
    from helpers import wait_until

    hello = threading.Event()

    def silent(server, conn):  # takes the ClientHello, answers nothing
        conn.recv(4096)
        hello.set()
        conn.recv(1)

    server = serve_tls(None, silent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c", f"timeout none; connect localhost {server.port}; "
                             "tls; print AFTER"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(hello.is_set, what="the ClientHello to reach the server")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert b"interrupted" in out + err and b"[closed]" in out + err and b"AFTER" not in out
    assert b"Traceback" not in err


@pytest.mark.parametrize("key_type", ["ECDSA", "RSA"])
def test_k_replays_the_whole_chain_with_an_intermediate_and_either_key_type(ex, certs, serve_tls, key_type):
    import trustme

    kind = getattr(trustme.KeyType, key_type)
    intermediate = certs.ca.create_child_ca(key_type=kind)
    leaf = intermediate.issue_cert("localhost", key_type=kind)  # its chain: leaf, intermediate
    server = serve_tls(certs.context(leaf))
    trusting(ex, certs)
    connect(ex, server.port)
    verified = run(ex, "tls")
    assert verified.ok and fields(verified)["chain"] == "2 certificates sent by the peer", text_of(verified)
    run(ex, "close")
    connect(ex, server.port)
    assert fields(run(ex, "tls -k"))["verify"].startswith("would pass")  # needs the intermediate replayed too
    run(ex, "close")
    connect(ex, server.port)
    assert "verify code 62 " in fields(run(ex, "tls -k other.test"))["verify"]
    run(ex, "close")
    assert run(ex, "set tls ca system").ok  # the system store does not know the test CA
    connect(ex, server.port)
    refused = run(ex, "tls")
    assert refused.error.kind == "verify", text_of(refused)
    connect(ex, server.port)
    assert f"verify code {refused.error.errno} " in fields(run(ex, "tls -k"))["verify"]


def test_timing_shows_the_tls_handshake(ex, certs, serve_tls):
    """The handshake is a phase of the connection's `timing` waterfall (core/tls.py adds it)."""
    server = serve_tls(certs.context())
    trusting(ex, certs)
    connect(ex, server.port)
    assert run(ex, "tls").ok
    shown = text_of(run(ex, "timing"))
    assert "tls handshake" in shown and "connect 127.0.0.1" in shown


def test_certificate_dates_are_read_as_ssl_reads_them():
    from netrepl.core.tlsfacts import MONTHS, cert_seconds

    for when in ("Jan  1 00:00:00 2125 GMT", "Feb 29 23:59:59 2024 GMT", "Dec 31 12:00:00 1999 GMT",
                 "jun 15 08:30:05 2030 GMT", "Jan  1 00:00:00 1950 GMT", "Mar  1 00:00:00 2100 GMT"):
        assert cert_seconds(when) == ssl.cert_time_to_seconds(when)
    rng = random.Random(9)  # and what ssl says of any such text, good or not (day 0 or 32, hour 24...)
    for _ in range(2000):
        when = (f"{rng.choice(MONTHS)} {rng.randint(0, 32):2d} {rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:"
                f"{rng.randint(0, 62):02d} {rng.randint(1, 9999)} GMT")
        try:
            expected = ssl.cert_time_to_seconds(when)
        except ValueError:
            expected = ValueError
        try:
            got = cert_seconds(when)
        except ValueError:
            got = ValueError
        assert got == expected, when
    for bad in ("", "Foo  1 00:00:00 2125 GMT", "Jan  1 00:00:00 2125 UTC", "Jan 32 00:00:00 2125 GMT"):
        with pytest.raises(ValueError):
            ssl.cert_time_to_seconds(bad)
        with pytest.raises(ValueError):
            cert_seconds(bad)


def test_tls_over_a_unix_socket_asks_for_the_server_name(ex, tmp_path):
    # A Unix socket has no host name to send and check: `tls` says so (it crashed), `tls NAME` works.
    path = tmp_path / "tls.sock"
    assert run(ex, f"serve tls-echo {path}").ok
    from netrepl.lab.kinds import LAB_CA

    assert run(ex, f"set tls ca {LAB_CA}").ok
    assert run(ex, f"connect {path}").ok
    for line in ("tls", "tls -k"):
        refused = run(ex, line)
        assert refused.error.kind == "usage" and "`tls NAME`" in text_of(refused), text_of(refused)
        assert refused.state == "unix stream connected"  # nothing was sent: the connection is as it was
    shaken = run(ex, "tls localhost")
    assert shaken.ok, text_of(shaken)
    assert run(ex, "send over unix").ok and run(ex, "expect over unix").ok
