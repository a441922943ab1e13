"""A hostile TLS peer kit: certificates and servers made at test time, on loopback only.

`Pki` is a CA (cryptography) that issues certificates no well-behaved CA would:
raw GeneralNames (a DNS SAN or an AIA URI with invalid UTF-8), control and
bidi characters in the subject, thousands of SANs, chains many intermediates
long. Raw DER is written here where cryptography refuses the value.

Servers:
  * `serve(context, handler)` (tlshelpers.TlsServer): Python ssl on 127.0.0.1.
  * `trickle_record(...)`: after the handshake, the start of an application
    record, one byte at a time: records arrive, application data never does.
  * `OpensslServer`: `openssl s_server` fed commands on stdin (`k` sends a TLS 1.3
    KeyUpdate), for what Python's ssl cannot send: a KeyUpdate every 0.5 s.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

DNS, URI, IP = 0x82, 0x86, 0x87  # GeneralName tags (context-specific, primitive)
CA_ISSUERS = bytes.fromhex("2b06010505073002")  # 1.3.6.1.5.5.7.48.2


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_len(len(body)) + body


def san(*names: tuple[int, bytes]) -> x509.UnrecognizedExtension:
    """A subjectAltName of raw GeneralNames: bytes cryptography would refuse go in as they are."""
    return x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                                      tlv(0x30, b"".join(tlv(tag, value) for tag, value in names)))


def aia(uri: bytes) -> x509.UnrecognizedExtension:
    """An authorityInfoAccess whose caIssuers URI is raw bytes."""
    access = tlv(0x30, tlv(0x06, CA_ISSUERS) + tlv(URI, uri))
    return x509.UnrecognizedExtension(ExtensionOID.AUTHORITY_INFORMATION_ACCESS, tlv(0x30, access))


def localhost_san(*more: tuple[int, bytes]) -> x509.UnrecognizedExtension:
    return san((DNS, b"localhost"), (IP, bytes([127, 0, 0, 1])), *more)


class Pki:
    """A CA in `directory` (ca.pem) that issues hostile certificates as PEM files (key + chain)."""

    def __init__(self, directory):
        self.dir = directory
        self.count = 0
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netrepl hostile test CA")])
        self.cert = self._sign(self.name, self.key.public_key(), self.name, self.key, ca=True)
        self.ca_file = str(directory / "hostile-ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))

    def _sign(self, subject, public_key, issuer, issuer_key, *, ca=False, extensions=()):
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def issue(self, *extensions, common_name: str = "localhost", intermediates: int = 0) -> str:
        """A leaf for localhost (unless a SAN extension is given) signed through `intermediates`
        CAs; returns the path of its PEM: key, leaf, intermediates."""
        if not any(getattr(e, "oid", None) == ExtensionOID.SUBJECT_ALTERNATIVE_NAME for e in extensions):
            extensions = (localhost_san(), *extensions)
        issuer, issuer_key, chain = self.name, self.key, []
        for depth in range(intermediates):
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"intermediate {depth}")])
            chain.insert(0, self._sign(name, key.public_key(), issuer, issuer_key, ca=True))
            issuer, issuer_key = name, key
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        leaf = self._sign(subject, key.public_key(), issuer, issuer_key, extensions=extensions)
        self.count += 1
        path = self.dir / f"hostile-{self.count}.pem"
        with open(path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
            for cert in [leaf, *chain]:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
        return str(path)


def server_context(pem: str, *, max_version=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def trickle_record(every: float = 0.2, count: int = 60):
    """A TlsServer handler: handshake, then a record header promising 16 KiB and its body one byte
    every `every` s: the client's TLS layer gets bytes and no application data, for count*every s."""
    def handler(server, conn):
        tls = server.wrap(conn)
        raw = socket.socket(fileno=os.dup(tls.fileno()))
        try:
            raw.sendall(b"\x17\x03\x03\x40\x00")
            for _ in range(count):
                time.sleep(every)
                raw.sendall(b"\x00")
        finally:
            raw.close()
    return handler


class OpensslServer:
    """`openssl s_server` on 127.0.0.1 (TLS 1.3); `keyupdates(every)` types `k` into it until stop()."""

    def __init__(self, pem: str, *extra: str, version: str = "-tls1_3"):
        program = shutil.which("openssl")
        if program is None:
            pytest.skip("openssl is not installed (the KeyUpdate flood needs openssl s_server)")
        self.proc = subprocess.Popen([program, "s_server", "-accept", "127.0.0.1:0", "-cert", pem, "-naccept", "1",
                                      version, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.port = None
        self.sent = 0
        self._stop = threading.Event()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith(b"ACCEPT "):
                self.port = int(line.rsplit(b":", 1)[1])
                break
        if self.port is None:
            self.stop()
            pytest.fail("openssl s_server did not start")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for _ in iter(self.proc.stdout.readline, b""):
            pass

    def keyupdates(self, every: float = 0.5, count: int = 40):
        """`k` every `every` s, `count` times at most (so a client that waits through them all still ends)."""
        def feed():
            for _ in range(count):
                if self._stop.wait(every):
                    return
                try:
                    self.proc.stdin.write(b"k\n")
                    self.proc.stdin.flush()
                except (OSError, ValueError):
                    return
                self.sent += 1
        threading.Thread(target=feed, daemon=True).start()

    def type(self, line: bytes) -> None:
        """A line on s_server's stdin: a command (`r`: renegotiate) or data for the client."""
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def stop(self):
        self._stop.set()
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


# Certificates a hostile peer may present: (label, extensions, issue() keywords, verdict of a verifying
# `tls localhost`). "fail" cases must never pass verification, however their text is read.
def certificate_cases():
    ip = (IP, bytes([127, 0, 0, 1]))
    return [
        ("invalid utf-8 dns san", (localhost_san((DNS, b"bad\xff\xfe.test")),), {}, "pass"),
        ("invalid utf-8 uri san", (localhost_san((URI, b"http://\xc0\xaf.invalid/")),), {}, "pass"),
        ("invalid utf-8 email san", (localhost_san((0x81, b"a\xff@x.invalid")),), {}, "pass"),
        ("invalid utf-8 aia uri", (aia(b"http://ca\xff\xfe.invalid/ca.der"),), {}, "pass"),
        ("escape and bidi in dns san", (localhost_san((DNS, "\x1b]0;t\x07\u202eexe.test".encode())),), {}, "pass"),
        ("control chars in subject", (), {"common_name": "evil\x1b[2J\r\n\u202e\u200b\x00cn"}, "pass"),
        ("3000 dns sans", (localhost_san(*[(DNS, f"n{i}.test".encode()) for i in range(3000)]),), {}, "pass"),
        ("chain of 8 intermediates", (), {"intermediates": 8}, "pass"),
        ("only an invalid utf-8 name", (san((DNS, b"local\xffhost"), ip),), {}, "fail"),
        ("nul-prefixed name", (san((DNS, b"localhost\x00.evil.test"), ip),), {}, "fail"),
        ("a bare * name", (san((DNS, b"*"), ip),), {}, "fail"),
        ("a *.localhost wildcard only", (san((DNS, b"*.localhost"), ip),), {}, "fail"),
        ("empty san", (san(ip),), {}, "fail"),
        ("unknown ca", "other-ca", {}, "fail"),
    ]


def after_handshake(raw_bytes: bytes, *, then_close: bool = False, hold: float = 10):
    """A TlsServer handler: handshake, then `raw_bytes` straight onto TCP (forged records), then a bare
    close or a `hold`-second stall."""
    def handler(server, conn):
        tls = server.wrap(conn)
        raw = socket.socket(fileno=os.dup(tls.fileno()))
        try:
            raw.sendall(raw_bytes)
            if not then_close:
                time.sleep(hold)
        finally:
            raw.close()
            if then_close:
                tls.close()  # (conn was detached into tls: closing it would leave the connection open)
    return handler


def handshake_trickle(every: float = 0.1, count: int = 100):
    """A TlsServer handler that answers the ClientHello with a handshake record one byte at a time."""
    def handler(server, conn):
        conn.recv(4096)
        conn.sendall(b"\x16\x03\x03\x40\x00")
        for _ in range(count):
            time.sleep(every)
            conn.sendall(b"\x02")
    return handler


def ticket_flood(count: int = 2000):
    """A TlsServer handler (TLS 1.3) whose context sends `count` session tickets after the handshake."""
    def handler(server, conn):
        server.context.num_tickets = count
        tls = server.wrap(conn)
        time.sleep(10)
        tls.close()
    return handler


# Peer behaviours against the recv family: (label, handler, what the read must end as).
def peer_cases():
    return [
        ("record trickled", trickle_record(every=0.1, count=100), "timeout"),
        ("bad record mac", after_handshake(b"\x17\x03\x03\x00\x20" + bytes(range(32))), "tls"),
        ("oversized record", after_handshake(b"\x17\x03\x03\xff\xff" + bytes(64)), "tls"),
        ("not a record", after_handshake(b"HTTP/1.1 200 OK\r\n\r\n\x1b[2J"), "tls"),
        ("close mid-record", after_handshake(b"\x17\x03\x03\x40\x00abc", then_close=True), "eof"),
        ("2000 session tickets", ticket_flood(2000), "timeout"),
    ]


def release_later(path: str, after: float = 5.0) -> None:
    """Open the FIFO's both ends once, `after` s from now: code that blocks in open() (as before these
    fixes) then gets through and the test fails on its timing instead of hanging the run."""
    def release():
        time.sleep(after)
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
            try:
                os.close(os.open(path, flags))
            except OSError:
                pass

    threading.Thread(target=release, daemon=True).start()
