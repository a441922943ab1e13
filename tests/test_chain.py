"""The chain a TLS peer sent: listed after the handshake, `certs` in detail, `certs > FILE.pem` for openssl.

Against nginx on loopback serving a two-level chain (root -> intermediate -> leaf,
trustme certificates): the chain is listed, saved as PEM that `openssl verify`
accepts; the same nginx serving the leaf alone gets the missing-intermediate hint.
Key types and sizes are read from the DER (core/chain.py): checked on certificates
openssl makes; hostile certificate text is escaped.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess

import pytest
import trustme

from conftest import run, text_of
from helpers import wait_until
from netrepl.core import chain
from tlshelpers import Certs, TlsServer

OPENSSL = shutil.which("openssl")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_level(tmp_path):
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("localhost", "127.0.0.1")
    root.cert_pem.write_to_path(str(tmp_path / "root.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    (tmp_path / "full.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_chain_pems[0].bytes())
    return tmp_path


def _nginx(tmp_path, cert: str):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    port = _free_port()
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("chained\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; master_process off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{ worker_connections 16; }}
http {{ access_log off; server_tokens off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/p;
  fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {tmp_path / cert}; ssl_certificate_key {tmp_path}/key.pem;
            root {site}; }} }}
""")
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return proc.poll() is not None

    wait_until(up, what="nginx to listen")
    if proc.poll() is not None:
        pytest.skip(f"nginx did not start: {proc.stderr.read().decode(errors='replace')[-300:]}")
    return proc, port


def _stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    proc.stderr.close()


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_nginx_two_level_chain_is_listed_and_saved_as_pem_that_openssl_verifies(ex, two_level):
    proc, port = _nginx(two_level, "full.pem")
    try:
        for line in (f"set tls ca {two_level / 'root.pem'}", f"connect 127.0.0.1 {port}"):
            assert run(ex, line).ok
        shaken = run(ex, "tls localhost")
        assert shaken.ok, text_of(shaken)
        detail = run(ex, "certs")
        saved = run(ex, f"certs > {two_level / 'chain.pem'}")
    finally:
        _stop(proc)
    shown = text_of(shaken)
    assert "chain sent by the server (2 certificates; `certs` shows them in detail" in shown
    first, second = re.findall(r"\n  (\d): (.*)", shown)
    assert first[1].startswith("O=trustme") and "issuer O=trustme" in first[1]
    assert re.search(r"; (EC P-256 \(256 bits\)|RSA \d+ bits); valid ", first[1]), first[1]
    leaf_issuer = first[1].split("; issuer ", 1)[1].split(";", 1)[0]
    assert second[1].startswith(leaf_issuer + "; issuer ")  # the intermediate that issued the leaf
    text = text_of(detail)
    assert "certificate 0 of 2 (leaf)" in text and "certificate 1 of 2 (intermediate)" in text
    assert "san       DNS:localhost, IP:127.0.0.1" in text
    assert re.search(r"sha256    ([0-9A-F]{2}:){31}[0-9A-F]{2}\n", text)
    assert re.search(r"sha1      ([0-9A-F]{2}:){19}[0-9A-F]{2}", text)
    assert "wrote 2 certificates sent by the server to" in text_of(saved)
    pem = (two_level / "chain.pem").read_text()
    assert pem.count("-----BEGIN CERTIFICATE-----") == 2
    # The leaf verifies up to the root with the intermediate from the saved file; each parses.
    done = subprocess.run([OPENSSL, "verify", "-CAfile", str(two_level / "root.pem"), "-untrusted",
                           str(two_level / "chain.pem"), str(two_level / "chain.pem")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stdout + done.stderr
    # The saved certificates are the ones nginx has (the same DER, leaf then intermediate).
    served = subprocess.run([OPENSSL, "crl2pkcs7", "-nocrl", "-certfile", str(two_level / "full.pem")],
                            capture_output=True, text=True)
    saved7 = subprocess.run([OPENSSL, "crl2pkcs7", "-nocrl", "-certfile", str(two_level / "chain.pem")],
                            capture_output=True, text=True)
    assert served.stdout == saved7.stdout


def test_a_server_that_leaves_out_its_intermediate_gets_the_hint(ex, two_level):
    proc, port = _nginx(two_level, "leaf.pem")
    try:
        for line in (f"set tls ca {two_level / 'root.pem'}", f"connect 127.0.0.1 {port}"):
            assert run(ex, line).ok
        failed = run(ex, "tls localhost")
    finally:
        _stop(proc)
    assert failed.error is not None and failed.error.kind == "verify" and failed.error.errno == 20
    shown = text_of(failed)
    assert "hint: the server sent only its own certificate, and its issuer (O=trustme" in shown
    assert "the server probably left out its intermediate certificate" in shown


def test_no_hint_for_a_self_signed_certificate_or_another_failure(ex, tmp_path):
    certs = Certs(tmp_path)
    server = TlsServer(certs.context(self_signed=True), lambda srv, conn: srv.wrap(conn).recv(1))
    try:
        assert run(ex, f"connect 127.0.0.1 {server.port}").ok
        failed = run(ex, "tls localhost")
    finally:
        server.close()
    assert failed.error.kind == "verify" and "hint:" not in text_of(failed)
    expired = TlsServer(certs.context(certs.expired()), lambda srv, conn: srv.wrap(conn).recv(1))
    try:
        assert run(ex, f"set tls ca {certs.ca_file}").ok
        assert run(ex, f"connect 127.0.0.1 {expired.port}").ok
        failed = run(ex, "tls localhost")
    finally:
        expired.close()
    assert failed.error.errno == 10 and "hint:" not in text_of(failed)


def test_certs_shows_hostile_certificate_text_escaped(ex, tmp_path):
    certs = Certs(tmp_path)

    def hold(srv, conn):
        srv.wrap(conn).recv(1)
    server = TlsServer(certs.context(certs.hostile()), hold)
    try:
        for line in (f"set tls ca {certs.ca_file}", f"connect 127.0.0.1 {server.port}"):
            assert run(ex, line).ok
        shaken = run(ex, "tls localhost")
        detail = run(ex, "certs")
    finally:
        server.close()
    for result in (shaken, detail):
        text = text_of(result)
        assert "\x1b" not in text and "\u202e" not in text and "\r\nInjected" not in text
    assert "CN=evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in text_of(detail)


def test_certs_without_tls_is_refused(ex, lab):
    server = lab("echo")
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    refused = run(ex, "certs")
    assert refused.error.kind == "state" and "no TLS on this connection: `tls` (or `starttls`) first" in text_of(refused)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize("args,expected", [
    (["-newkey", "rsa:2048"], "RSA 2048 bits"),
    (["-newkey", "rsa:3072"], "RSA 3072 bits"),
    (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "EC P-384 (384 bits)"),
    (["-newkey", "ed25519"], "Ed25519 (256 bits)"),
])
def test_key_types_and_sizes_are_read_from_the_der(tmp_path, args, expected):
    done = subprocess.run([OPENSSL, "req", "-x509", *args, "-nodes", "-keyout", str(tmp_path / "k.pem"), "-out",
                           str(tmp_path / "c.der"), "-outform", "DER", "-days", "2", "-subj", "/CN=key test"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    parsed = chain.Parsed((tmp_path / "c.der").read_bytes())
    assert parsed.key == expected
    assert parsed.subject_der == parsed.issuer_der  # self-signed: self-issued
    assert parsed.signature in ("sha256WithRSAEncryption", "ecdsa-with-SHA256", "ecdsa-with-SHA384", "Ed25519")


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x02\x01\x00", bytes(300)])
def test_garbage_der_is_unknown_not_an_exception(der):
    parsed = chain.Parsed(der)
    assert parsed.key == "unknown key" and parsed.signature == "unknown"
