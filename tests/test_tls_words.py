"""Issue 19's wording cases, each a test: what netrepl says instead of OpenSSL's raw words.

- `set tls cert client.pem` with the key in another file: a sentence at once, and `tls` refuses
  with it (kind file) instead of "PEM lib";
- an ALPN mismatch (openssl s_server -alpn): the alert named in a sentence;
- `starttls imap` against a server that speaks SSH: kind starttls naming the reply;
- a fatal alert after the handshake (TLS 1.3, certificate required): the state says the
  connection is dead;
- s_client's controls: `set tls ciphers`, TLS 1.1 refused naming the security level, and
  agreed once `@SECLEVEL=0` allows it.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import run, text_of
from tlshelpers import Certs, TlsServer

OPENSSL = shutil.which("openssl")


@pytest.fixture
def certs(tmp_path):
    return Certs(tmp_path)


def _split_client(certs, tmp_path):
    """The client certificate and its key in two files, as servers' admins hand them out."""
    cert, key = tmp_path / "client-cert.pem", tmp_path / "client-key.pem"
    cert.write_bytes(certs.client.cert_chain_pems[0].bytes())
    key.write_bytes(certs.client.private_key_pem.bytes())
    return cert, key


def test_a_certificate_without_its_key_is_said_at_once_and_tls_refuses_it_in_words(ex, certs, tmp_path, lab):
    cert, key = _split_client(certs, tmp_path)
    said = run(ex, f"set tls cert {cert}")
    assert said.ok and f"warning: {cert} holds a certificate but no private key: `set tls key KEYFILE`" in text_of(said)
    server = lab("https")
    assert run(ex, f"connect localhost {server.port}").ok
    refused = run(ex, "tls -k")
    assert refused.error.kind == "file"
    shown = text_of(refused)
    assert "the TLS settings cannot be used:" in shown and "holds a certificate but no private key" in shown
    assert "_ssl.c" not in shown and "[SSL]" not in shown
    assert ex.session.transport is not None and "tls" not in ex.session.state()  # nothing was sent: still plain TCP
    assert run(ex, f"set tls key {key}").ok
    assert run(ex, "close").ok


def test_a_key_of_another_certificate_is_named_as_a_mismatch(ex, certs, tmp_path):
    cert, _ = _split_client(certs, tmp_path)
    other = tmp_path / "other-key.pem"
    other.write_bytes(certs.good.private_key_pem.bytes())
    assert run(ex, f"set tls cert {cert}").ok
    said = run(ex, f"set tls key {other}")
    assert f"the private key in {other} does not belong to the certificate in {cert} (KEY_VALUES_MISMATCH)" \
        in text_of(said)
    assert "`tls` will refuse it until that is fixed" in text_of(said)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_an_alpn_mismatch_names_the_alert_in_a_sentence(ex, certs, tmp_path):
    leaf = tmp_path / "leaf.pem"
    certs.good.private_key_and_cert_chain_pem.write_to_path(str(leaf))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # No -naccept: the probe below is a connection too, and s_server goes on after it.
    server = subprocess.Popen([OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(leaf), "-alpn", "h2",
                               "-quiet"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        for line in (f"set tls ca {certs.ca_file}", "set tls alpn http/1.1", f"connect 127.0.0.1 {port}"):
            assert run(ex, line).ok, line
        failed = run(ex, "tls localhost")
    finally:
        server.kill()
        server.wait(10)
    assert failed.error.kind == "tls" and failed.error.errname == "TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
    shown = text_of(failed)
    assert "the peer refused the handshake with the TLS alert 'no application protocol'" in shown
    assert "it speaks none of the protocols offered with ALPN (`set tls alpn`)" in shown
    assert "_ssl.c" not in shown


def test_starttls_against_a_server_that_speaks_ssh_is_kind_starttls_naming_the_reply(ex, tcp_server):
    def ssh(conn):
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        conn.recv(100)
    server = tcp_server(ssh)
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    failed = run(ex, "starttls imap")
    assert failed.error.kind == "starttls"
    shown = text_of(failed)
    assert "STARTTLS refused (the server's reply was not the go-ahead; no TLS was attempted)" in shown
    assert "the greeting is not `* OK`: 'SSH-2.0-OpenSSH_9.2p1 Debian-2'" in shown
    assert "TLS error" not in shown and "ssl.SSLError" not in shown


def test_after_a_fatal_alert_the_state_says_the_connection_is_dead(ex, certs, tmp_path):
    def want_client_cert(server, conn):
        try:
            server.wrap(conn).recv(10)
        except (OSError, ssl.SSLError):
            pass
    server = TlsServer(certs.context(client_ca=True), want_client_cert)
    try:
        for line in (f"set tls ca {certs.ca_file}", f"connect 127.0.0.1 {server.port}"):
            assert run(ex, line).ok
        shaken = run(ex, "tls localhost")  # TLS 1.3: the client's side is done before the server checks
        assert shaken.ok and "tls 1.3" in shaken.state
        failed = run(ex, "recv")  # the server's alert is the first thing read
    finally:
        server.close()
    assert failed.error.kind == "tls" and failed.error.errname == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert "it wants a client certificate" in text_of(failed)
    assert "the TLS connection is dead after this error (a fatal alert ends it): `close` it" in text_of(failed)
    assert failed.state.startswith("tcp connection lost (TLS TLSV13_ALERT_CERTIFICATE_REQUIRED)")
    assert "connected" not in failed.state.replace("connection lost", "")


# ----- controls -------------------------------------------------------------------------


def test_a_cipher_string_that_selects_nothing_is_refused(ex):
    refused = run(ex, "set tls ciphers NOTHING-AT-ALL")
    assert refused.error.kind == "usage"
    assert "the cipher string 'NOTHING-AT-ALL' selects no cipher this OpenSSL" in text_of(refused)
    assert "ciphers  default (OpenSSL's)" in text_of(run(ex, "set tls ciphers"))


def test_set_tls_ciphers_chooses_the_tls_1_2_suite(ex, lab):
    server = lab("https")
    for line in ("set tls max 1.2", "set tls ciphers ECDHE-ECDSA-AES128-GCM-SHA256", f"connect localhost {server.port}"):
        assert run(ex, line).ok, line
    shaken = run(ex, "tls -k")
    assert shaken.ok, text_of(shaken)
    assert "cipher     ECDHE-ECDSA-AES128-GCM-SHA256 (128 bits)" in text_of(shaken)
    assert "protocol   TLSv1.2" in text_of(shaken)


def test_tls_1_1_is_refused_naming_the_security_level_until_seclevel_0_allows_it(ex, certs):
    refused = run(ex, "set tls min 1.1")
    level = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).security_level
    if level < 1:
        pytest.skip("this OpenSSL's security level is 0: nothing to refuse")
    assert refused.error.kind == "usage"
    assert f"TLS 1.1 refused: OpenSSL's security level is {level} here" in text_of(refused)
    assert "`set tls ciphers DEFAULT:@SECLEVEL=0` first lowers the level" in text_of(refused)
    for line in ("set tls ciphers DEFAULT:@SECLEVEL=0", "set tls min 1.1", "set tls max 1.1"):
        assert run(ex, line).ok, line
    context = certs.context()
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    box = {}

    def old_server(server, conn):
        try:
            tls = server.wrap(conn)
            box["version"] = tls.version()
            tls.recv(10)
        except (OSError, ssl.SSLError) as exc:
            box["error"] = exc
    server = TlsServer(context, old_server)
    try:
        assert run(ex, f"set tls ca {certs.ca_file}").ok
        assert run(ex, f"connect 127.0.0.1 {server.port}").ok
        shaken = run(ex, "tls localhost")
    finally:
        server.close()
    if not shaken.ok and "UNSUPPORTED_PROTOCOL" in text_of(shaken) + str(box.get("error")):
        pytest.skip("this OpenSSL was built without TLS 1.1")
    assert shaken.ok, text_of(shaken)
    assert "protocol   TLSv1.1" in text_of(shaken)
    # Raising the level again says the setting can no longer be agreed.
    said = run(ex, "set tls ciphers default")
    assert "warning: `set tls min/max 1.1` can no longer be agreed" in text_of(said)


def test_version_words_are_checked_by_the_parser():
    from conftest import run_cli

    done = run_cli("-c", "set tls min 0.9")
    assert done.returncode == 2 and "expected one of 1.0, 1.1, 1.2, 1.3, default, got '0.9'" in done.stderr


def test_the_settings_replay_from_a_recording(tmp_path):
    from conftest import run_cli

    done = run_cli("-c", "set tls ciphers DEFAULT:@SECLEVEL=0; set tls min 1.1; set tls client-cert request; "
                   f"set tls keylog {tmp_path}/k.log; record rec.nrs; print x; record stop", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / "rec.nrs").read_text()
    for line in ("set tls min 1.1", "set tls ciphers DEFAULT:@SECLEVEL=0", "set tls client-cert request",
                 f"set tls keylog {tmp_path}/k.log"):
        assert line + "\n" in text
    assert text.index("set tls ciphers") < text.index("set tls min")  # the level is lowered first



def test_a_mistyped_server_flag_is_not_taken_for_a_server_name(ex):
    refused = run(ex, "tls --serve")
    assert refused.error.kind == "usage"
    assert "unknown flag '--serve' (did you mean --server?): tls takes -k and --server" in text_of(refused)
