"""`tls` and the recv family against hostile TLS peers (tests/hostile_tls.py makes them).

Certificates OpenSSL itself cannot decode as text, records that carry no
application data (KeyUpdates, a record trickled a byte at a time), names the
name check cannot run on: no traceback, no wait past the deadline, the
session state true, and no verification that passes when it should fail.
"""

from __future__ import annotations

import time

import pytest

from conftest import run, text_of
from hostile_tls import (DNS, IP, URI, OpensslServer, Pki, aia, localhost_san, release_later, san, server_context,
                         trickle_record)
from netrepl.render.escape import is_terminal_safe
from tlshelpers import TlsServer, echo_lines


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
def serve():
    servers = []

    def start(context, handler=echo_lines):
        server = TlsServer(context, handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def tls_session(ex, port, *, ca=None, host="localhost"):
    if ca is not None:
        assert run(ex, f"set tls ca {ca}").ok
    assert run(ex, f"connect {host} {port}").ok


BAD_UTF8 = b"bad\xff\xfe\xc0.test"


@pytest.mark.parametrize("flag", ["", "-k"])
@pytest.mark.parametrize("where", ["dns san", "aia uri"])
def test_a_certificate_with_invalid_utf8_is_shown_escaped_and_the_session_speaks_tls(ex, pki, serve, flag, where):
    extension = localhost_san((DNS, BAD_UTF8), (URI, b"http://x\xff.invalid/")) if where == "dns san" \
        else aia(b"http://ca\xff\xfe.invalid/issuer")
    server = serve(server_context(pki.issue(extension)))
    tls_session(ex, server.port, ca=pki.ca_file)
    result = run(ex, f"tls {flag}".strip())
    out = text_of(result)
    assert result.ok, out
    assert is_terminal_safe(out)
    if where == "dns san":
        assert "DNS:bad\\xff\\xfe\\xc0.test" in out and "URI:http://x\\xff.invalid/" in out
    assert "would pass" in out if flag else "ok (chain verified, name checked)" in out
    info = run(ex, "info")
    assert "tls 1.3" in info.state, info.state
    assert run(ex, "send hi").ok and run(ex, "recv line").data == b"echo: hi\r\n"
    again = run(ex, "tls -k")
    assert again.error.kind == "state" and "already speaks TLS" in text_of(again)


def test_a_refused_certificate_with_invalid_utf8_says_what_it_holds(ex, pki, serve):
    server = serve(server_context(pki.issue(san((DNS, BAD_UTF8), (IP, bytes([127, 0, 0, 1]))))))
    tls_session(ex, server.port, ca=pki.ca_file)
    result = run(ex, "tls")
    out = text_of(result)
    assert result.error.kind == "verify" and result.error.errname == "X509_V_ERR_HOSTNAME_MISMATCH", out
    assert "certificate 0: subject CN=localhost" in out and is_terminal_safe(out)
    assert result.state == "closed"


def test_any_failure_after_the_handshake_leaves_the_state_true(ex, pki, serve, monkeypatch):
    """Whatever goes wrong between the handshake and the report, the session does not keep a TLS socket
    it calls plain TCP (a second `tls -k` would handshake inside the TLS stream)."""
    from netrepl.core import tlsfacts

    server = serve(server_context(pki.issue()))
    tls_session(ex, server.port, ca=pki.ca_file)

    def broken(*args, **kw):
        raise RuntimeError("a fault after the handshake")

    monkeypatch.setattr(tlsfacts, "gather", broken)
    with pytest.raises(RuntimeError):
        run(ex, "tls")
    monkeypatch.undo()
    assert run(ex, "info").state == "closed"
    assert run(ex, "tls -k").error.kind == "state"


def test_a_certificate_read_from_der_matches_openssls_own_reading(pki):
    """The lenient DER reading (core/certder.py) gives what get_info gives where both can read it."""
    import ssl

    from netrepl.core import certder
    from netrepl.core.tlsfacts import Cert

    pem = pki.issue(localhost_san((DNS, "é.test".encode()), (URI, b"http://a.invalid/")), common_name="caf\u00e9")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca_file)
    info = ssl._ssl._test_decode_cert(pem)
    der = ssl.PEM_cert_to_DER_cert(open(pem).read().split("-----END PRIVATE KEY-----\n")[1].split("-----END")[0]
                                   + "-----END CERTIFICATE-----\n")
    mine = certder.fields(der)
    for key in ("subject", "issuer", "notBefore", "notAfter", "subjectAltName"):
        assert mine[key] == info[key], key
    assert Cert(der).sans == info["subjectAltName"]
    assert certder.fields(b"\x30\x82\xff") == {} and certder.fields(der[:200]) == {}


# -- Records that carry no application data never extend a read past its deadline --------------

READS = ["recv", "recv line", "expect /never/", "recv exactly 10", "recv all", "recv all > /dev/null"]


@pytest.mark.parametrize("command", READS + ["recv quiet 1"])
def test_a_record_trickled_a_byte_at_a_time_does_not_hold_a_read(ex, pki, serve, command):
    server = serve(server_context(pki.issue()), trickle_record(every=0.1, count=100))
    tls_session(ex, server.port, ca=pki.ca_file)
    assert run(ex, "tls").ok
    assert run(ex, "timeout 1").ok
    started = time.monotonic()
    result = run(ex, command)
    took = time.monotonic() - started
    out = text_of(result)
    assert took < 3.5, f"{command} waited {took:.1f} s under timeout 1 (the peer trickles for 10 s): {out}"
    if command == "recv quiet 1":
        assert result.ok and "quiet for 1 s" in out, out
    else:
        assert result.error is not None and result.error.kind in ("timeout", "expect"), out


@pytest.mark.parametrize("command", READS + ["recv quiet 1"])
def test_a_keyupdate_every_quarter_second_does_not_hold_a_read(ex, pki, command):
    server = OpensslServer(pki.issue())
    try:
        tls_session(ex, server.port, ca=pki.ca_file)
        assert run(ex, "tls").ok
        assert run(ex, "timeout 2").ok
        server.keyupdates(0.25)
        started = time.monotonic()
        result = run(ex, command)
        took = time.monotonic() - started
    finally:
        server.stop()
    out = text_of(result)
    assert server.sent >= 3, "openssl s_server sent too few KeyUpdates for the test to mean anything"
    assert took < 5, f"{command} waited {took:.1f} s under timeout 2 (the KeyUpdates go on for 10 s): {out}"
    if command == "recv quiet 1":
        assert result.ok and "quiet for 1 s (in all 1.0" in out, out
    else:
        assert result.error is not None and result.error.kind in ("timeout", "expect"), out


# -- A verifying `tls` never passes when its check cannot run --------------------------------------

@pytest.mark.parametrize("name", ["a..b", ".lead", "x" * 64 + ".test", "trail..", "a" * 300])
def test_sni_off_a_name_the_check_cannot_run_on_fails_the_verifying_tls(ex, pki, serve, name):
    server = serve(server_context(pki.issue()))
    tls_session(ex, server.port, ca=pki.ca_file)
    assert run(ex, "set tls sni off").ok
    result = run(ex, f"tls {name}")
    out = text_of(result)
    assert result.error is not None and result.error.kind == "usage", out
    assert "could not be checked" in out and result.state == "tcp connected"
    assert run(ex, "send hi").ok  # nothing was sent: the connection is plain TCP, as it was


def test_a_verification_replay_that_cannot_run_fails_the_verifying_tls(ex, pki, serve, monkeypatch):
    """SNI off, the chain and name are checked by a replay after the handshake: if it cannot run, the
    verifying `tls` is refused (`tls -k` says unknown) rather than passing unverified."""
    from netrepl.core import tlsfacts

    def cannot(*args):
        raise ValueError("the replay stopped before verification: SOMETHING")

    monkeypatch.setattr(tlsfacts, "replay_verify", cannot)
    server = serve(server_context(pki.issue()))
    tls_session(ex, server.port, ca=pki.ca_file)
    assert run(ex, "set tls sni off").ok
    result = run(ex, "tls")
    out = text_of(result)
    assert result.error.kind == "verify" and "could not be checked, so it is not trusted" in out, out
    assert result.state == "closed"
    tls_session(ex, server.port)
    insecure = run(ex, "tls -k")
    assert insecure.ok and "unknown (the replay stopped" in text_of(insecure)


# -- An encrypted client key is refused, never prompted for ------------------------------------------

@pytest.mark.parametrize("separate", [False, True])
def test_an_encrypted_client_key_is_said_to_be_encrypted_and_never_prompted_for(pki, serve, tmp_path, separate):
    """In a subprocess with a terminal-less stdin: OpenSSL's own prompt would print "Enter PEM pass
    phrase" and wait; netrepl refuses at once with a file error."""
    import subprocess
    import sys

    from cryptography.hazmat.primitives import serialization

    from tlshelpers import Certs

    certs = Certs(tmp_path)
    server = serve(certs.context(client_ca=True))
    key = certs.client.private_key_pem.bytes()
    private = serialization.load_pem_private_key(key, None)
    encrypted = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"secret"))
    cert_file, key_file = tmp_path / "client cert.pem", tmp_path / "client key.pem"
    chain = b"".join(blob.bytes() for blob in certs.client.cert_chain_pems)
    if separate:
        cert_file.write_bytes(chain)
        key_file.write_bytes(encrypted)
        settings = f"set tls cert '{cert_file}'; set tls key '{key_file}'"
    else:
        cert_file.write_bytes(encrypted + chain)
        settings = f"set tls cert '{cert_file}'"
    proc = subprocess.run([sys.executable, "-m", "netrepl", "-c",
                           f"set tls ca {certs.ca_file}; {settings}; timeout 2; connect localhost {server.port}; tls"],
                          capture_output=True, timeout=30, input=b"secret\n")
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 1, out
    assert "pass phrase" not in out.lower() and "Traceback" not in out
    assert "is encrypted: netrepl never asks for a passphrase" in out and "file" in out


# -- TLS files: a FIFO never holds `tls`; paths recorded so they replay ----------------------------

@pytest.mark.parametrize("setting", ["ca", "cert", "key"])
def test_a_fifo_as_a_tls_file_is_refused_within_the_timeout(ex, pki, serve, tmp_path, setting):
    import os

    server = serve(server_context(pki.issue()))
    fifo = tmp_path / "a fifo"
    os.mkfifo(fifo)
    release_later(str(fifo))
    if setting == "key":
        assert run(ex, f"set tls cert {pki.issue()}").ok
    assert run(ex, f"set tls {setting} '{fifo}'").ok
    assert run(ex, "timeout 1").ok and run(ex, f"connect localhost {server.port}").ok
    started = time.monotonic()
    result = run(ex, "tls")
    took = time.monotonic() - started
    out = text_of(result)
    assert took < 2, f"tls waited {took:.1f} s on a FIFO under timeout 1"
    assert result.error.kind == "file" and "a FIFO" in out, out
    assert result.state == "tcp connected"


def test_tls_file_paths_are_recorded_as_words_that_read_back(ex):
    from netrepl.core.tls import TlsSettings

    paths = ["/tmp/with space/ca.pem", "/tmp/#hash.pem", "/tmp/$HOME.pem", "/tmp/it's.pem", "/tmp/\"q\".pem",
             "/tmp/plain.pem"]
    for path in paths:
        settings = TlsSettings()
        settings.ca = settings.cert = settings.key = path
        for line in settings.lines():
            assert run(ex, line).ok, line
        mine = ex.session.tls_settings
        assert (mine.ca, mine.cert, mine.key) == (path, path, path), settings.lines()


def test_an_ip_written_with_leading_zeros_is_checked_as_the_ip_openssl_checks(ex, pki, serve):
    """OpenSSL reads 127.0.0.01 as the IP 127.0.0.1 (no SNI, the IP SAN checked): the report says the same,
    not "verify ok (name checked)" beside "hostname NO"."""
    server = serve(server_context(pki.issue()))
    tls_session(ex, server.port, ca=pki.ca_file, host="127.0.0.01")
    result = run(ex, "tls")
    out = text_of(result)
    assert result.ok, out
    assert "hostname   yes (127.0.0.01 is IP:127.0.0.1)" in out and "NO" not in out
    assert server.sni == [None] and "an IP address is never sent as SNI" in out


def test_a_starttls_refusal_quotes_the_reply_escaped_once(ex, serve):
    def smtp(server, conn):
        conn.sendall(b"220 mx\r\n")
        reader = conn.makefile("rb")
        for line in reader:
            if line.startswith(b"EHLO"):
                conn.sendall(b"250-mx\r\n250 STARTTLS\r\n")
            elif line.startswith(b"STARTTLS"):
                conn.sendall(b"454 \x1b[2J no\\way \xff\r\n")
                break

    server = serve(None, smtp)
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    result = run(ex, "starttls smtp")
    out = text_of(result)
    assert result.error.kind == "starttls", out  # the dialogue refused: no TLS was attempted
    assert "'454 \\x1b[2J no\\\\way \\xff'" in out and "\\\\x1b" not in out, out


# -- The matrix: every hostile certificate through every way of running `tls` -------------------------

from hostile_tls import certificate_cases  # noqa: E402

CASES = certificate_cases()
MODES = ["tls", "tls -k", "sni off"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("label, extensions, keywords, verdict", CASES, ids=[c[0] for c in CASES])
def test_hostile_certificates(ex, pki, serve, tmp_path, mode, label, extensions, keywords, verdict):
    """No traceback (run() would raise), terminal-safe text, the state true, and no verification pass
    that should fail, for each certificate and each of `tls`, `tls -k`, and `tls` with SNI off."""
    if extensions == "other-ca":
        pem = Pki(tmp_path / "other").issue() if (tmp_path / "other").mkdir() is None else None
    else:
        pem = pki.issue(*extensions, **keywords)
    server = serve(server_context(pem))
    tls_session(ex, server.port, ca=pki.ca_file)
    if mode == "sni off":
        assert run(ex, "set tls sni off").ok
    started = time.monotonic()
    result = run(ex, "tls -k" if mode == "tls -k" else "tls")
    assert time.monotonic() - started < 8, "the handshake and its report took past the 10 s timeout's reach"
    out = text_of(result)
    assert is_terminal_safe(out), out
    state = run(ex, "info").state
    if mode == "tls -k":
        assert result.ok, out
        assert ("would pass" in out) == (verdict == "pass"), out
    elif verdict == "pass":
        assert result.ok, out
    else:
        assert result.error is not None and result.error.kind == "verify", out
    assert state == ("closed" if result.error else "tcp connected, tls 1.3"), state
    if result.ok:
        assert run(ex, "send hi").ok and run(ex, "recv line").data == b"echo: hi\r\n"


from hostile_tls import handshake_trickle, peer_cases  # noqa: E402

PEERS = peer_cases()


@pytest.mark.parametrize("command", READS + ["recv quiet 1"])
@pytest.mark.parametrize("label, handler, ending", PEERS, ids=[p[0] for p in PEERS])
def test_hostile_peers_against_the_recv_family(ex, pki, serve, command, label, handler, ending):
    """Every read ends by its deadline with a named failure (or, for recv quiet, a true quiet), no traceback."""
    server = serve(server_context(pki.issue()), handler)
    tls_session(ex, server.port, ca=pki.ca_file)
    assert run(ex, "tls").ok
    assert run(ex, "timeout 1").ok
    started = time.monotonic()
    result = run(ex, command)
    took = time.monotonic() - started
    out = text_of(result)
    assert is_terminal_safe(out), out
    assert took < 3.5, f"{command} took {took:.1f} s under timeout 1 (the peer goes on for 10 s): {out}"
    if result.ok:  # only what a quiet or ended stream truly is
        assert ending == "eof" or (command == "recv quiet 1" and ending == "timeout"), out
        if ending == "eof" and command != "recv quiet 1":  # (recv quiet says "end of stream" only)
            assert "without close_notify" in out, out
    else:
        assert result.error.kind in ("timeout", "expect", "tls", "eof", "io"), out
    if ending == "tls":  # OpenSSL's errors after the handshake are fatal: the state says the connection is lost
        assert result.error.kind == "tls" and "connection lost (TLS " in result.state, result.state
    else:
        assert "tls 1.3" in result.state, result.state


def test_a_handshake_trickled_a_byte_at_a_time_ends_at_the_timeout(ex, serve):
    server = serve(None, handshake_trickle(every=0.1, count=100))
    assert run(ex, f"connect localhost {server.port}").ok and run(ex, "timeout 1").ok
    started = time.monotonic()
    result = run(ex, "tls -k")
    assert time.monotonic() - started < 3.5 and result.error.kind in ("timeout", "tls"), text_of(result)
    assert result.state == "closed"


def test_info_after_a_renegotiation_says_the_latest_handshakes_facts(ex, pki):
    server = OpensslServer(pki.issue(), "-no_cache", version="-tls1_2")
    try:
        tls_session(ex, server.port, ca=pki.ca_file)
        first = run(ex, "tls")
        assert first.ok, text_of(first)
        assert "renegotiated" not in text_of(run(ex, "info"))
        server.type(b"r\n")  # HelloRequest: the client answers with a new handshake on its next read
        time.sleep(0.3)
        server.type(b"after\n")
        assert run(ex, "timeout 5").ok
        assert run(ex, "recv line").data == b"after\n"  # read with the HelloRequest: netrepl answers it
        during = text_of(run(ex, "info"))
        server.type(b"second\n")
        assert run(ex, "recv line").data == b"second\n"  # read after the server's Finished: done
        info = text_of(run(ex, "info"))
    finally:
        server.stop()
    # Whether the first read also finished it depends on how the records arrived: either is said truly.
    assert "renegotiation  under way" in during or "renegotiated  after the first handshake" in during, during
    assert "renegotiated  after the first handshake" in info and "under way" not in info, info


# -- The lenient DER reading never raises, whatever the bytes ---------------------------------------

def test_certificate_der_of_any_shape_is_read_without_raising(tmp_path):
    """Mutated, truncated and random DER through certder.fields and tlsfacts.Cert (what refused_lines and
    gather call): a dict and a Cert every time, every string terminal-safe once escaped."""
    import ssl

    from hypothesis import HealthCheck, given, settings, strategies as st

    from netrepl.core import certder
    from netrepl.core.tlsfacts import Cert
    from netrepl.render.escape import escape_text

    pem = Pki(tmp_path).issue(localhost_san((DNS, BAD_UTF8), (URI, b"http://\xff/")), aia(b"http://\xfe/"))
    text = open(pem).read()
    der = ssl.PEM_cert_to_DER_cert(text[text.index("-----BEGIN CERTIFICATE"):])
    seen = []

    @settings(max_examples=400, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(0, len(der) - 1), st.integers(0, 255)).map(
            lambda p: der[:p[0]] + bytes([p[1]]) + der[p[0] + 1:]),
        st.integers(0, len(der)).map(lambda n: der[:n]),
    ))
    def check(blob):
        seen.append(blob)
        info = certder.fields(blob)
        assert isinstance(info, dict)
        cert = Cert(blob)
        for value in (cert.subject, cert.issuer, *(v for _, v in cert.sans if isinstance(v, str))):
            assert is_terminal_safe(escape_text(value))

    check()
    assert len(seen) >= 400
    assert certder.fields(der)["subjectAltName"][2] == ("DNS", BAD_UTF8.decode("utf-8", "surrogateescape"))


def test_sslkeylogfile_naming_a_fifo_nobody_reads_is_refused_within_the_timeout(ex, pki, serve, tmp_path,
                                                                                monkeypatch):
    import os

    fifo = tmp_path / "keylog fifo"
    os.mkfifo(fifo)
    release_later(str(fifo))
    monkeypatch.setenv("SSLKEYLOGFILE", str(fifo))
    server = serve(server_context(pki.issue()))
    tls_session(ex, server.port)
    started = time.monotonic()
    result = run(ex, "tls -k")
    assert time.monotonic() - started < 3, "tls waited on the key log FIFO"
    assert result.error.kind == "file" and "a FIFO nobody reads" in text_of(result), text_of(result)


def test_in_the_shell_an_undecodable_certificate_is_shown_escaped_and_info_says_tls(pki, serve, tmp_path):
    """The real terminal (tmux): the shell said "internal error" and `info` said plain tcp over a TLS socket."""
    import os
    import sys

    from conftest import ROOT
    from termdrive import Term, unavailable

    why = unavailable()
    if why:
        pytest.skip(why)
    server = serve(server_context(pki.issue(localhost_san((DNS, BAD_UTF8)))))
    env = dict(os.environ, TERM="xterm-256color", NETREPL_HISTFILE=str(tmp_path / "history"))
    term = Term([sys.executable, "-m", "netrepl"], env, ROOT)
    try:
        term.wait_prompt()
        term.run(f"set tls ca {pki.ca_file}")
        term.run(f"connect localhost {server.port}")
        shown = term.run("tls -k")
        assert "internal error" not in shown and "DNS:bad\\xff\\xfe\\xc0.test" in shown, shown
        shown = term.run("info")
        assert "state          tcp connected, tls 1.3" in shown, shown
        shown = term.run("tls -k")
        assert "already speaks TLS" in shown and "plaintext" not in shown, shown
    finally:
        term.close()
