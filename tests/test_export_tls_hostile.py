"""`netrepl export` against the hostile TLS peer kit (tests/hostile_tls.py; issue 20, export parity).

Each script runs in netrepl and as the exported program against the same hostile
loopback TLS server (test_export.py's harness): the same standard output, the same
exit status, no traceback, and what the program says on standard error terminal-safe.
The cases are issue 20's TLS ones: certificates whose text OpenSSL's decoding refuses
(invalid UTF-8 in a DNS SAN or an AIA URI) or that carry controls, bidi and thousands
of names; KeyUpdates and trickled records that must not hold a read past its deadline;
a name the check cannot run on with SNI off; an encrypted client key.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from hostile_tls import DNS, IP, URI, OpensslServer, Pki, aia, certificate_cases, localhost_san, peer_cases, san, \
    server_context, trickle_record
from test_export import check_code, export_and_compare, netrepl_run
from netrepl.export import export_file
from netrepl.render.escape import is_terminal_safe
from tlshelpers import Certs, TlsServer, echo_lines


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


def parity(tmp_path, text, variables, expected=None):
    """The script at tmp_path/hostile.nrs in netrepl and exported: the same stdout and status, no
    traceback (export_and_compare), and the program's notes terminal-safe."""
    path = tmp_path / "hostile.nrs"
    path.write_text(text)
    program, out, err = export_and_compare(path, variables, tmp_path)
    assert is_terminal_safe(err), err
    if expected is not None:
        assert out == expected, err
    return program, out, err


# ----- hostile certificates: each through `tls`, `tls -k` and `tls` with SNI off ----------------------

CASES = certificate_cases()
MODES = {"tls": "tls", "tls -k": "tls -k", "sni off": "set tls sni off\ntls"}
TALK = "send hi\nrecv line\nclose\nprint done\n"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("label, extensions, keywords, verdict", CASES, ids=[c[0] for c in CASES])
def test_hostile_certificates_export_parity(pki, serve, tmp_path, mode, label, extensions, keywords, verdict):
    """A certificate with invalid UTF-8 (getpeercert() raises UnicodeDecodeError on it), controls, bidi,
    3000 names or a long chain: the program verifies as netrepl does (a pass where it passes, a verify
    failure where it fails), with no traceback."""
    if extensions == "other-ca":
        (tmp_path / "other").mkdir()
        pem = Pki(tmp_path / "other").issue()
    else:
        pem = pki.issue(*extensions, **keywords)
    server = serve(server_context(pem))
    variables = {"ca": pki.ca_file, "port": str(server.port)}
    passes = mode == "tls -k" or verdict == "pass"
    program, out, err = parity(tmp_path, f"set tls ca $ca\nconnect localhost $port\n{MODES[mode]}\n{TALK}", variables,
                               "echo: hi\\r\ndone\n" if passes else "")
    if not passes:
        assert "SSLCertVerificationError" in err, err


@pytest.mark.parametrize("where", ["dns san", "aia uri"])
def test_must_fail_verify_catches_a_refused_certificate_with_invalid_utf8(pki, serve, tmp_path, where):
    """SNI off, the name checked after the handshake from the certificate's DER: a wrong name among
    undecodable ones is a verify failure (`must-fail verify` catches it), and the script goes on."""
    extension = san((DNS, b"bad\xff\xfe\xc0.test"), (IP, bytes([127, 0, 0, 9]))) if where == "dns san" \
        else san((DNS, b"other.test"))
    pem = pki.issue(extension)
    server = serve(server_context(pem))
    program, out, err = parity(tmp_path, "set tls ca $ca\nset tls sni off\nconnect localhost $port\n"
                                         "must-fail verify tls\nprint after\n",
                               {"ca": pki.ca_file, "port": str(server.port)}, "after\n")
    assert "failed as expected (verify)" in err, err


def test_sni_off_the_name_last_among_3000_undecodable_ones_is_found(pki, serve, tmp_path):
    names = [(DNS, b"n%d\xff.test" % i) for i in range(3000)]
    server = serve(server_context(pki.issue(san(*names, (DNS, b"localhost")))))
    parity(tmp_path, f"set tls ca $ca\nset tls sni off\nconnect localhost $port\ntls\n{TALK}",
           {"ca": pki.ca_file, "port": str(server.port)}, "echo: hi\\r\ndone\n")


# ----- SNI off: a name the check cannot run on fails the verifying `tls` (kind usage) --------------------

@pytest.mark.parametrize("name", ["a..b", ".lead", "x" * 64 + ".test", "trail..", "a" * 300])
def test_sni_off_a_name_the_check_cannot_run_on_is_usage_and_the_connection_stays(pki, serve, tmp_path, name):
    """netrepl refuses it before the handshake (kind usage), the connection still plain TCP; the
    program did the handshake and called it a hostname mismatch (kind verify)."""
    server = serve(server_context(pki.issue()))
    text = (f"set tls ca $ca\nset tls sni off\nconnect localhost $port\nmust-fail usage tls {name}\n"
            f"tls localhost\n{TALK}")
    program, out, err = parity(tmp_path, text, {"ca": pki.ca_file, "port": str(server.port)}, "echo: hi\\r\ndone\n")
    assert "failed as expected (usage)" in err and "could not be checked" in err, err
    # and without must-fail, the run ends there: status 1 in both, nothing after it
    parity(tmp_path, f"set tls ca $ca\nset tls sni off\nconnect localhost $port\ntls {name}\nprint never\n",
           {"ca": pki.ca_file, "port": str(server.port)}, "")


def test_sni_off_tls_k_with_such_a_name_still_handshakes(pki, serve, tmp_path):
    """`tls -k` checks nothing, so there is nothing that cannot run: it handshakes, as netrepl's does."""
    server = serve(server_context(pki.issue()))
    parity(tmp_path, f"set tls ca $ca\nset tls sni off\nconnect localhost $port\ntls -k a..b\n{TALK}",
           {"ca": pki.ca_file, "port": str(server.port)}, "echo: hi\\r\ndone\n")


WILDCARDS = [
    # (the certificate's DNS name, the name checked, OpenSSL's verdict, which netrepl's replayed check gives)
    (b"*.localhost", "x.localhost", "refused"),  # a wildcard needs two dots after it: literal, so no match
    (b"*.a.test", "x.a.test", "passes"),  # matches
    (b"*.a.test", "x.y.a.test", "refused"),  # one label only
    (b"*.a.test", "a.test", "refused"),  # the wildcard is never empty
    (b"x*.a.test", "xy.a.test", "refused"),  # partial wildcards: Python turns them off
    (b"a.*.test", "a.b.test", "refused"),  # not the leftmost label
    (b"*.a_b.test", "x.a_b.test", "refused"),  # an invalid label after it: literal
    (b"LOCALHOST.", "localhost", "refused"),  # a trailing dot in the certificate: compared as it is
    (b"localhost\x00.evil.test", "localhost", "refused"),  # a NUL never matches
    (b"localhost", "localhost.", "refused"),  # the name's trailing dot
    (b"localhost", "LocalHost", "passes"),
    (b"*.a.test", "*.a.test", "passes"),  # the wildcard may match a literal *
    (b"*.a.test", "-.a.test", "passes"),
    (b"local\xffhost", "localhost", "refused"),
    (b"xn--caf-dma.test", "caf\u00e9.test", "passes"),  # the name as IDNA, as the handshake would send it
    (b"other.test", "127.0.0.01", "passes"),  # an address with leading zeros: OpenSSL's 127.0.0.1, checked as an IP
    (b"other.test", "::1", "refused"),  # an address the certificate does not hold
    (b"*.a-.test", "x.a-.test", "refused"),  # a label after it ends with a hyphen: literal
    (b"*.a.test.", "x.a.test.", "refused"),  # a trailing dot after it: literal
    (b"*.a.test", "x_y.a.test", "refused"),  # the label it stands for: letters, digits, hyphens only
    (b"*.A.TEST", "x.a.test", "passes"),
]


@pytest.mark.parametrize("pattern, name, verdict", WILDCARDS, ids=[f"{p!r}-{n}" for p, n, _ in WILDCARDS])
def test_sni_off_the_name_is_checked_as_openssl_checks_it(pki, serve, tmp_path, pattern, name, verdict):
    """The program's check after the handshake (no SNI sent, so OpenSSL checked no name) passes exactly
    where netrepl's (OpenSSL's X509_check_host, replayed) passes."""
    server = serve(server_context(pki.issue(san((DNS, pattern), (IP, bytes([127, 0, 0, 1]))))))
    program, out, err = parity(tmp_path, f"set tls ca $ca\nset tls sni off\nconnect 127.0.0.1 $port\n"
                                         f"must-fail verify tls {name}\nprint refused\n",
                               {"ca": pki.ca_file, "port": str(server.port)})
    assert out == ("refused\n" if verdict == "refused" else ""), err


# ----- records that carry no application data: one deadline per read -------------------------------------

READS = ["recv", "recv line", "expect /never/", "recv exactly 10", "recv all", "recv quiet 1"]


def _timed_parity(tmp_path, text, variables, start_server, env=None):
    """Like parity(), each side against a fresh server from start_server(), each side timed; env: the
    program's environment, which it then reads (no -I). The program's time includes Python's start-up,
    so its bounds leave room for a loaded machine; each hostile peer goes on for 10 s."""
    path = tmp_path / "hostile.nrs"
    path.write_text(text)
    (tmp_path / "netrepl").mkdir(exist_ok=True)
    server = start_server()
    started = time.monotonic()
    try:
        expected, status = netrepl_run(path, dict(variables, port=str(server.port)), tmp_path / "netrepl")
    finally:
        server.stop()
    took_netrepl = time.monotonic() - started
    program = export_file(str(path), dict(variables, port="0"))
    target = tmp_path / "hostile.py"
    target.write_text(program.text_of())
    check_code(target)
    server = start_server()
    started = time.monotonic()
    try:
        isolated = ["-I"] if env is None else []
        proc = subprocess.run([sys.executable, *isolated, "-X", "utf8", str(target), "--port", str(server.port)],
                              capture_output=True, timeout=60, env=env)
    finally:
        server.stop()
    took_program = time.monotonic() - started
    out, err = proc.stdout.decode(), proc.stderr.decode("utf-8", "backslashreplace")
    assert (out, proc.returncode) == (expected, status), err
    assert "Traceback" not in err and is_terminal_safe(err), err
    return out, err, took_netrepl, took_program


@pytest.mark.parametrize("command", READS)
def test_a_keyupdate_flood_does_not_hold_the_programs_read(pki, tmp_path, command):
    """openssl s_server sends a TLS 1.3 KeyUpdate every 0.25 s for 10 s: each read of the program ends
    at its one deadline (timeout 2), as netrepl's does, with the same output and status."""
    pem = pki.issue()
    servers = []

    def start():
        server = OpensslServer(pem)
        servers.append(server)
        return _Stopping(server, lambda: server.keyupdates(0.25))

    out, err, took_netrepl, took_program = _timed_parity(
        tmp_path, f"set tls ca $ca\nconnect localhost $port\ntls\ntimeout 2\n{command}\nprint after\n",
        {"ca": pki.ca_file}, start)
    assert all(server.sent >= 3 for server in servers), "too few KeyUpdates for the test to mean anything"
    assert took_netrepl < 6 and took_program < 6, (took_netrepl, took_program, err)
    if command == "recv quiet 1":
        assert out == "after\n" and "quiet for 1.0 s (in all 1.0" in err, err
    else:
        assert out == "" and ("timed out" in err.lower() or "expected" in err), err


@pytest.mark.parametrize("command", READS)
def test_a_record_trickled_a_byte_at_a_time_does_not_hold_the_programs_read(pki, tmp_path, command):
    context = server_context(pki.issue())

    def start():
        server = TlsServer(context, trickle_record(every=0.1, count=100))
        return _Stopping(server, None, server.close)

    out, err, took_netrepl, took_program = _timed_parity(
        tmp_path, f"set tls ca $ca\nconnect localhost $port\ntls\ntimeout 1\n{command}\nprint after\n",
        {"ca": pki.ca_file}, start)
    assert took_netrepl < 4 and took_program < 6, (took_netrepl, took_program, err)


class _Stopping:
    """A server with .port and .stop(); `then` runs once the side's connection may start (KeyUpdates)."""

    def __init__(self, server, then, stop=None):
        self.server, self.port = server, server.port
        self._stop = stop or server.stop
        if then is not None:
            then()

    def stop(self):
        self._stop()


# ----- an encrypted client key: refused (kind file), never prompted for ------------------------------------

@pytest.mark.parametrize("separate", [False, True])
def test_an_encrypted_client_key_is_refused_by_the_program_without_a_prompt(serve, tmp_path, separate):
    """The program's load_cert_chain had no password callback: OpenSSL prompted "Enter PEM pass phrase"
    (on the terminal, or on stdin without one) and waited. Now it fails at once with kind file, as netrepl."""
    from cryptography.hazmat.primitives import serialization

    certs = Certs(tmp_path)
    server = serve(certs.context(client_ca=True))
    private = serialization.load_pem_private_key(certs.client.private_key_pem.bytes(), None)
    encrypted = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"secret"))
    chain = b"".join(blob.bytes() for blob in certs.client.cert_chain_pems)
    cert_file, key_file = tmp_path / "client cert.pem", tmp_path / "client key.pem"
    if separate:
        cert_file.write_bytes(chain)
        key_file.write_bytes(encrypted)
        settings = "set tls cert $cert\nset tls key $key\n"
    else:
        cert_file.write_bytes(encrypted + chain)
        settings = "set tls cert $cert\n"
    variables = {"ca": certs.ca_file, "port": str(server.port), "cert": str(cert_file), "key": str(key_file)}
    path = tmp_path / "key.nrs"
    path.write_text(f"set tls ca $ca\n{settings}connect localhost $port\nmust-fail file tls\nprint refused\n"
                    "tls\nprint never\n")
    (tmp_path / "netrepl").mkdir()
    expected, status = netrepl_run(path, variables, tmp_path / "netrepl")
    assert (expected, status) == ("refused\n", 1)
    program = export_file(str(path), variables)
    target = tmp_path / "key.py"
    target.write_text(program.text_of())
    check_code(target)
    # A passphrase on stdin: a program that prompts reads it and goes on; start_new_session: no terminal.
    proc = subprocess.run([sys.executable, "-I", "-X", "utf8", str(target)], input=b"secret\n", capture_output=True,
                          timeout=30, start_new_session=True)
    out, err = proc.stdout.decode(), proc.stderr.decode("utf-8", "backslashreplace")
    assert (out, proc.returncode) == (expected, status), err
    assert "pass phrase" not in err.lower() and "Traceback" not in err, err
    assert "failed as expected (file)" in err and "is encrypted" in err, err


# ----- peers that forge records, close mid-record or flood tickets: each read ends as netrepl's ----------

PEERS = peer_cases()


@pytest.mark.parametrize("command", READS)
@pytest.mark.parametrize("label, handler, ending", PEERS, ids=[p[0] for p in PEERS])
def test_hostile_peers_against_the_programs_reads(pki, tmp_path, command, label, handler, ending):
    """A bad record MAC, an oversized record, plaintext where a record should be, a close in the middle of
    a record, 2000 session tickets: the program's read ends as netrepl's (same output, same status), by the
    deadline, no traceback."""
    context = server_context(pki.issue())

    def start():
        server = TlsServer(context, handler)
        return _Stopping(server, None, server.close)

    out, err, took_netrepl, took_program = _timed_parity(
        tmp_path, f"set tls ca $ca\nconnect localhost $port\ntls\ntimeout 1\n{command}\nprint after\n",
        {"ca": pki.ca_file}, start)
    assert took_netrepl < 4 and took_program < 6, (took_netrepl, took_program, err)


# ----- TLS files that would block: a FIFO as a CA, certificate or key file, SSLKEYLOGFILE -----------------

@pytest.fixture
def fifo(tmp_path):
    """A FIFO, both its ends opened every 5 s until the test ends: a side that blocks in open() (as the
    program did) gets through, and the test fails on its timing instead of hanging."""
    import os
    import threading

    path = tmp_path / "a fifo"
    os.mkfifo(path)
    done = threading.Event()

    def release():
        while not done.wait(5):
            for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
                try:
                    os.close(os.open(path, flags))
                except OSError:
                    pass

    threading.Thread(target=release, daemon=True).start()
    yield str(path)
    done.set()


FIFO_SETTINGS = {"ca": "set tls ca $fifo\n", "cert": "set tls cert $fifo\n",
                 "key": "set tls cert $cert\nset tls key $fifo\n"}


@pytest.mark.parametrize("setting", FIFO_SETTINGS)
def test_a_fifo_as_a_tls_file_fails_the_programs_tls_at_once(pki, tmp_path, fifo, setting):
    """OpenSSL opens a TLS file blocking: the program waited on the FIFO past `timeout 1` (for ever,
    deaf to Ctrl-C). Now, as netrepl, it is kind file before anything is opened."""
    context = server_context(pki.issue())

    def start():
        server = TlsServer(context, echo_lines)
        return _Stopping(server, None, server.close)

    out, err, took_netrepl, took_program = _timed_parity(
        tmp_path, f"set tls ca $ca\n{FIFO_SETTINGS[setting]}timeout 1\nconnect localhost $port\nmust-fail file tls\n"
                  "print after\n", {"ca": pki.ca_file, "fifo": fifo, "cert": pki.issue()}, start)
    assert out == "after\n" and "a FIFO, which could block past the timeout" in err, err
    assert took_netrepl < 2.5 and took_program < 4, (took_netrepl, took_program, err)


def test_sslkeylogfile_naming_a_fifo_nobody_reads_fails_the_programs_tls_at_once(pki, tmp_path, fifo, monkeypatch):
    """create_default_context opens SSLKEYLOGFILE for appending, blocking: a FIFO nobody reads held the
    program there. As netrepl's `tls -k`, it is kind file at once (the program run without -I, so it reads
    it). (netrepl's verifying `tls`, and `tls -k` after `set tls ca`, still wait there: core/tls.py.)"""
    import os

    context = server_context(pki.issue())

    def start():
        server = TlsServer(context, echo_lines)
        return _Stopping(server, None, server.close)

    monkeypatch.setenv("SSLKEYLOGFILE", fifo)
    out, err, took_netrepl, took_program = _timed_parity(
        tmp_path, "timeout 1\nconnect localhost $port\nmust-fail file tls -k\nprint after\n",
        {}, start, env=dict(os.environ, SSLKEYLOGFILE=fifo))
    assert out == "after\n" and "a FIFO nobody reads" in err, err
    assert took_netrepl < 2.5 and took_program < 4, (took_netrepl, took_program, err)


def test_a_handshake_trickled_a_byte_at_a_time_ends_the_programs_tls_at_the_timeout(pki, tmp_path):
    """The ServerHello's record one byte every 0.1 s for 10 s: the program's handshake ends at `timeout 1`
    as netrepl's does (a timeout, no socket left), not when the server stops."""
    from hostile_tls import handshake_trickle

    def start():
        server = TlsServer(None, handshake_trickle(every=0.1, count=100))
        return _Stopping(server, None, server.close)

    out, err, took_netrepl, took_program = _timed_parity(
        tmp_path, "set tls ca $ca\ntimeout 1\nconnect localhost $port\nmust-fail timeout tls\nprint after\n"
                  "must-fail state send hi\nprint done\n", {"ca": pki.ca_file}, start)
    assert out == "after\ndone\n", err
    assert took_netrepl < 4 and took_program < 6, (took_netrepl, took_program, err)


# ----- STARTTLS: the same handshake after the dialogue, the server's replies quoted escaped ----------------

def smtp_then(refusal: bytes | None = None):
    """A TlsServer handler: an SMTP server offering STARTTLS, then TLS with echo_lines (or `refusal`)."""
    def handler(server, conn):
        conn.sendall(b"220 mx.test ESMTP\r\n")
        with conn.makefile("rb", buffering=0) as reader:  # (unbuffered: no byte of the TLS stream read here)
            for line in reader:
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-mx.test\r\n250 STARTTLS\r\n")
                elif line.upper().startswith(b"STARTTLS"):
                    if refusal is None:
                        conn.sendall(b"220 go ahead\r\n")
                        break
                    conn.sendall(refusal)
            else:
                return
        echo_lines(server, conn)
    return handler


@pytest.mark.parametrize("sni", ["on", "off"])
def test_starttls_to_a_certificate_with_invalid_utf8_behaves_as_netrepl(pki, serve, tmp_path, sni):
    pem = pki.issue(localhost_san((DNS, b"bad\xff\xfe.test"), (URI, b"http://x\xff.invalid/")),
                    aia(b"http://ca\xff\xfe.invalid/ca.der"))
    server = serve(server_context(pem), smtp_then())
    parity(tmp_path, f"set tls ca $ca\nset tls sni {sni}\nconnect localhost $port\nstarttls smtp\n{TALK}",
           {"ca": pki.ca_file, "port": str(server.port)}, "echo: hi\\r\ndone\n")


def test_a_starttls_refusal_with_controls_is_quoted_escaped_once(pki, serve, tmp_path):
    server = serve(server_context(pki.issue()), smtp_then(b"454 \x1b[2J no\\way \xff" + "\u202e".encode() + b"\r\n"))
    program, out, err = parity(tmp_path, "set tls ca $ca\nconnect localhost $port\nmust-fail starttls starttls smtp\n"
                                         "print refused\n", {"ca": pki.ca_file, "port": str(server.port)}, "refused\n")
    assert "\\x1b[2J" in err and "\x1b" not in err and "\u202e" not in err, err


@pytest.mark.parametrize("sni", ["on", "off"])
@pytest.mark.parametrize("host", ["127.0.0.01", "127.0.0.1"])
def test_an_address_with_leading_zeros_is_checked_as_the_address_openssl_reads(pki, serve, tmp_path, sni, host):
    """`connect 127.0.0.01` then `tls`: OpenSSL reads the name as 127.0.0.1 (ipaddress refuses it), and the
    certificate holds IP:127.0.0.1 only, so the verifying handshake passes in netrepl and the program alike."""
    server = serve(server_context(pki.issue(san((DNS, b"other.test"), (IP, bytes([127, 0, 0, 1]))))))
    parity(tmp_path, f"set tls ca $ca\nset tls sni {sni}\nconnect {host} $port\ntls\n{TALK}",
           {"ca": pki.ca_file, "port": str(server.port)}, "echo: hi\\r\ndone\n")


@pytest.mark.parametrize("label, extensions, keywords, verdict", CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_certs_lists_a_hostile_chain_in_the_program_as_netrepl_does(pki, serve, tmp_path, label, extensions, keywords,
                                                                   verdict):
    """`certs` listed the chain with get_info(), which raises UnicodeDecodeError on a SAN or AIA URI that
    is not UTF-8: the program ended there. Now its names come from the DER, escaped."""
    server = serve(server_context(pki.issue(*extensions, **keywords)))
    program, out, err = parity(tmp_path, f"set tls ca $ca\nconnect localhost $port\ntls\ncerts\n{TALK}",
                               {"ca": pki.ca_file, "port": str(server.port)}, "echo: hi\\r\ndone\n")
    assert "certificate 0: subject (((" in err and "Traceback" not in err, err
    if label == "control chars in subject":
        assert "evil\\x1b[2J" in err, err


def test_tls_server_in_the_program_takes_a_client_certificate_with_invalid_utf8(pki, tmp_path):
    """`tls --server` with `set tls client-cert require` said the client's certificate with getpeercert(),
    whose decoded dict raises UnicodeDecodeError (a ValueError) on a SAN that is not UTF-8: the program
    ended there with status 2, its "bad option value". Now the names come from the DER, escaped."""
    import socket
    import ssl
    import threading

    from netrepl.lab.tlskinds import CA

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "srv.nrs").write_text(f"set tls client-cert require\nset tls ca {pki.ca_file}\n"
                                      f"listen 127.0.0.1 {port}\naccept\ntls --server\nrecv line\nclose\n")
    program = export_file(str(tmp_path / "srv.nrs"))
    target = tmp_path / "srv.py"
    target.write_text(program.text_of())
    check_code(target)
    client_pem = pki.issue(localhost_san((DNS, b"bad\xff\xfe.test")), common_name="client\x1b[2J\u202e")
    proc = subprocess.Popen([sys.executable, "-I", "-X", "utf8", str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    ctx = ssl.create_default_context(cafile=str(CA))
    ctx.load_cert_chain(client_pem)
    try:
        for _ in range(200):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=20)
                break
            except ConnectionRefusedError:
                threading.Event().wait(0.05)
        with raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"hello\n")
            tls.recv(100)
    finally:
        out, err = proc.communicate(timeout=30)
    err = err.decode("utf-8", "backslashreplace")
    assert proc.returncode == 0 and out == b"hello\n", err
    assert "Traceback" not in err and is_terminal_safe(err), err
    assert "client certificate {'issuer'" in err and "client\\x1b[2J\\u202e" in err, err
