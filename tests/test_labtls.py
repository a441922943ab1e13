"""The TLS lab kinds over real loopback, seen by Python's own ssl client (not netrepl's):
https, tls-echo, the certificate faults, and the STARTTLS servers (smtp, imap, pop3, ftp, postgres)."""

from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import ssl
import struct

import pytest

from conftest import ROOT, run_cli
from helpers import wait_until
from netrepl.lab import kinds
from netrepl.lab.tlskinds import CA, CERTS

LAB_CA = ssl.create_default_context(cafile=str(CA))


def insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def tls_get(server, ctx=LAB_CA, name="localhost") -> tuple[ssl.SSLSocket, bytes]:
    raw = socket.create_connection(server.address, timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname=name)
    tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
    return tls, read_all(tls)


def test_the_lab_ca_is_in_the_package_and_kinds_know_it():
    assert kinds.LAB_CA == str(CA) and CA.is_file()
    assert kinds.TLS_KINDS == {"https", "tls-echo", "tls-expired", "tls-self-signed", "tls-wrong-host",
                               "tls-unknown-ca", "smtp", "smtp-inject", "imap", "pop3", "ftp", "postgres"}
    for pem in CERTS.glob("*.pem"):  # lab-only, and each file says so
        assert "LAB USE ONLY" in pem.read_text().split("-----BEGIN", 1)[0], pem
    assert "LAB USE ONLY" in (CERTS / "lab.key").read_text()
    assert not list(CERTS.glob("ca*.key")), "the lab CA's own key is never shipped"


def test_https_verifies_against_the_lab_ca_and_serves_the_site_with_close_notify(lab):
    server = lab("https")
    tls, data = tls_get(server)
    with tls:
        assert data.startswith(b"HTTP/1.0 200 OK\r\n") and b"<html" in data
        assert tls.version() in ("TLSv1.3", "TLSv1.2")
        # recv returned b"" with ragged EOFs NOT suppressed: the server sent close_notify
    raw = socket.create_connection(server.address, timeout=10)
    strict = LAB_CA.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    with strict:
        strict.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
        assert read_all(strict).startswith(b"HTTP/1.0 200 OK")


def test_https_speaks_tls_1_2_too_and_agrees_to_http_1_1_with_alpn(lab):
    server = lab("https")
    ctx = ssl.create_default_context(cafile=str(CA))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    tls, data = tls_get(server, ctx)
    with tls:
        assert tls.version() == "TLSv1.2" and tls.selected_alpn_protocol() == "http/1.1"
        assert data.startswith(b"HTTP/1.0 200 OK")


def test_the_certificate_has_a_fixed_fingerprint(lab):
    """Shipped, not generated: the same certificate (so the same SHA-256) every run."""
    server = lab("https")
    tls, _ = tls_get(server)
    with tls:
        der = tls.getpeercert(binary_form=True)
    pem = (CERTS / "localhost.pem").read_text()
    first = pem[pem.index("-----BEGIN"):pem.index("-----END CERTIFICATE-----") + 25]
    assert hashlib.sha256(der).digest() == hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).digest()


@pytest.mark.parametrize("kind, code", [("tls-expired", 10), ("tls-self-signed", 18),
                                        ("tls-wrong-host", 62), ("tls-unknown-ca", 19)])
def test_each_certificate_fault_fails_verification_with_its_code(lab, kind, code):
    server = lab(kind)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        tls_get(server)
    assert info.value.verify_code == code
    # Unverified, the same server serves the site: practice for `tls -k`.
    tls, data = tls_get(server, insecure())
    with tls:
        assert data.startswith(b"HTTP/1.0 200 OK")
    wait_until(lambda: server.connections == 0, what="the fault server to close its connections")


def test_tls_echo_echoes_over_tls(lab):
    server = lab("tls-echo")
    with LAB_CA.wrap_socket(socket.create_connection(server.address, timeout=10),
                            server_hostname="localhost") as tls:
        sent = b"hello\x00\xff over tls\n"
        tls.sendall(sent)
        got = b""
        while len(got) < len(sent) and (chunk := tls.recv(100)):
            got += chunk
        assert got == sent


def test_a_plaintext_client_of_the_https_server_is_closed_and_the_server_goes_on(lab):
    server = lab("https")
    with socket.create_connection(server.address, timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            answer = read_all(raw)  # a TLS alert, then the close
        except ConnectionResetError:  # or an RST: the request was left unread
            answer = b""
        assert b"HTTP/1.0 200" not in answer
    tls, data = tls_get(server)
    tls.close()
    assert data.startswith(b"HTTP/1.0 200 OK")


def test_stop_drops_a_tls_connection_in_its_handshake_and_after_it(lab):
    server = lab("tls-echo")
    mute = socket.create_connection(server.address, timeout=10)  # never says ClientHello
    tls = LAB_CA.wrap_socket(socket.create_connection(server.address, timeout=10), server_hostname="localhost")
    wait_until(lambda: server.connections == 2, what="both connections accepted")
    server.stop()
    assert server.connections == 0
    assert mute.recv(10) == b""
    mute.close()
    with _either():
        tls.recv(10)
    tls.close()


class _either:
    """recv after stop(): EOF (b"") or an error, both an end."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is None or issubclass(kind, OSError)


# ----- STARTTLS servers, by hand with Python's ssl ------------------------------------

def lines_until(f, last) -> list[bytes]:
    out = []
    while True:
        line = f.readline()
        assert line, f"EOF after {out}"
        out.append(line)
        if last(line):
            return out


def upgrade(raw: socket.socket) -> ssl.SSLSocket:
    return LAB_CA.wrap_socket(raw, server_hostname="localhost")


def test_smtp_offers_starttls_upgrades_and_stops_offering_it(lab):
    server = lab("smtp")
    raw = socket.create_connection(server.address, timeout=10)
    f = raw.makefile("rb", buffering=0)
    assert f.readline().startswith(b"220 localhost ESMTP")
    raw.sendall(b"MAIL FROM:<a@lab.invalid>\r\n")
    assert f.readline().startswith(b"530 ")  # nothing before TLS
    raw.sendall(b"EHLO me\r\n")
    assert b"250-STARTTLS\r\n" in lines_until(f, lambda line: line[3:4] == b" ")
    raw.sendall(b"STARTTLS\r\n")
    assert f.readline() == b"220 2.0.0 Ready to start TLS\r\n"
    with upgrade(raw) as tls:
        tls.sendall(b"EHLO me\r\nSTARTTLS\r\nMAIL FROM:<a@lab.invalid>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
        data = read_all(tls)
    assert b"STARTTLS" not in data.split(b"503")[0]
    assert b"503 5.5.1 TLS already active" in data and b"250 2.1.0 OK" in data
    assert b"354 " in data and data.endswith(b"221 2.0.0 Bye\r\n")


def test_smtp_drops_plaintext_pipelined_behind_starttls(lab):
    """RFC 3207 section 4 (CVE-2011-0411): a command sent in plaintext after STARTTLS is never run."""
    server = lab("smtp")
    raw = socket.create_connection(server.address, timeout=10)
    f = raw.makefile("rb", buffering=0)
    f.readline()
    raw.sendall(b"STARTTLS\r\nQUIT\r\n")
    assert f.readline().startswith(b"220 2.0.0")
    with upgrade(raw) as tls:  # the QUIT was dropped: the session is still open over TLS
        tls.sendall(b"NOOP\r\nQUIT\r\n")
        assert read_all(tls) == b"250 2.0.0 OK\r\n221 2.0.0 Bye\r\n"


def test_smtp_inject_sends_plaintext_right_behind_its_220(lab):
    server = lab("smtp-inject")
    raw = socket.create_connection(server.address, timeout=10)
    f = raw.makefile("rb", buffering=0)
    f.readline()
    raw.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"220 ")
    assert f.readline().startswith(b"250 injected")
    upgrade(raw).close()


def test_smtp_line_too_long_is_refused_and_closed(lab):
    server = lab("smtp")
    with socket.create_connection(server.address, timeout=10) as raw:
        raw.sendall(b"X" * 10000)
        data = read_all(raw)
    assert data.endswith(b"500 line too long\r\n")


def test_imap_capability_starttls_logout(lab):
    server = lab("imap")
    raw = socket.create_connection(server.address, timeout=10)
    f = raw.makefile("rb", buffering=0)
    assert b"STARTTLS" in f.readline()
    raw.sendall(b"a1 LOGIN u p\r\na2 STARTTLS\r\n")
    assert f.readline().startswith(b"a1 NO [PRIVACYREQUIRED]")
    assert f.readline() == b"a2 OK Begin TLS negotiation now\r\n"
    with upgrade(raw) as tls:
        tls.sendall(b"a3 CAPABILITY\r\na4 STARTTLS\r\na5 LOGOUT\r\n")
        data = read_all(tls)
    assert b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" in data and b"a4 BAD TLS already active" in data
    assert data.endswith(b"a5 OK LOGOUT completed\r\n")


def test_pop3_capa_stls_quit(lab):
    server = lab("pop3")
    raw = socket.create_connection(server.address, timeout=10)
    f = raw.makefile("rb", buffering=0)
    assert f.readline().startswith(b"+OK")
    raw.sendall(b"CAPA\r\n")
    assert b"STLS\r\n" in lines_until(f, lambda line: line == b".\r\n")
    raw.sendall(b"STLS\r\n")
    assert f.readline().startswith(b"+OK")
    with upgrade(raw) as tls:
        tls.sendall(b"CAPA\r\nQUIT\r\n")
        data = read_all(tls)
    assert b"STLS" not in data and data.endswith(b"+OK bye\r\n")


def test_ftp_auth_tls(lab):
    server = lab("ftp")
    raw = socket.create_connection(server.address, timeout=10)
    f = raw.makefile("rb", buffering=0)
    assert f.readline().startswith(b"220 ")
    raw.sendall(b"AUTH KERBEROS\r\nAUTH TLS\r\n")
    assert f.readline().startswith(b"504 ")
    assert f.readline() == b"234 AUTH TLS successful\r\n"
    with upgrade(raw) as tls:
        tls.sendall(b"PBSZ 0\r\nPROT P\r\nUSER x\r\nQUIT\r\n")
        assert read_all(tls) == b"200 PBSZ=0\r\n200 PROT now Private\r\n530 the lab has no accounts\r\n221 Goodbye\r\n"


def test_postgres_answers_sslrequest_with_s_then_tls_then_refuses_the_login(lab):
    server = lab("postgres")
    raw = socket.create_connection(server.address, timeout=10)
    raw.sendall(struct.pack("!II", 8, 80877103))
    assert raw.recv(1) == b"S"
    with upgrade(raw) as tls:
        body = struct.pack("!I", 196608) + b"user\0me\0\0"
        tls.sendall(struct.pack("!I", 4 + len(body)) + body)
        data = read_all(tls)
    assert data[:1] == b"E" and b"C28000\0" in data and b"no databases" in data


def test_postgres_without_ssl_is_told_ssl_is_required(lab):
    server = lab("postgres")
    with socket.create_connection(server.address, timeout=10) as raw:
        body = struct.pack("!I", 196608) + b"user\0me\0\0"
        raw.sendall(struct.pack("!I", 4 + len(body)) + body)
        assert b"requires SSL" in read_all(raw)


def test_netrepl_serve_https_runs_in_the_foreground_and_says_where_the_ca_is():
    p = run_cli("serve", "--ca-path")
    assert p.returncode == 0 and p.stdout == kinds.LAB_CA + "\n"
    p = run_cli("serve")
    assert p.returncode == 2 and "a server KIND is needed (or --ca-path)" in p.stderr


def test_netrepl_serve_https_in_the_foreground_serves_until_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "serve", "https", "--port", "0"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        said = b""
        while b"lab CA: " not in said:
            assert select.select([proc.stderr], [], [], 30)[0], f"no announcement: {said!r}"
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"netrepl serve ended: {said!r}"
            said += chunk
        port = int(re.search(rb"serving https on tcp 127\.0\.0\.1:(\d+)", said).group(1))
        assert f"lab CA: {kinds.LAB_CA}".encode() in said
        with LAB_CA.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert read_all(tls).startswith(b"HTTP/1.0 200 OK")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_stop_during_a_lab_handshake_is_a_quiet_end_not_a_threads_traceback():
    """stop() closes a connection's TLS socket from its own thread; a handshake running in the
    connection's thread then meets an SSLSocket with no SSL object (ssl.py's _sslobj is None),
    an AttributeError that reached the terminal as 'Exception in thread netrepl-lab-...'.
    That state is made here directly: the race itself is a matter of microseconds."""
    from netrepl.lab import tlskinds

    a, b = socket.socketpair()
    with a, b:
        tls = tlskinds.wrap(a, "tls-echo")
        tls._sslobj = None  # what close() from stop()'s thread leaves behind mid-handshake
        with pytest.raises(ConnectionAbortedError, match="stopped during the TLS handshake"):
            tlskinds.handshake(tls, 1)
