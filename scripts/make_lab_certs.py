"""Regenerate the lab's fixed TLS certificates in netrepl/lab/certs/ (a developer tool, not run by netrepl).

    .venv/bin/pip install cryptography && .venv/bin/python scripts/make_lab_certs.py

The lab ships these files instead of generating certificates at start-up: the
same fingerprints every run (so `--stable` transcripts and README examples do not
change), no `cryptography` import at run time, and a CA path (`$lab_ca`) that
stays the same between runs. They are LAB-ONLY: every key is public, in this
repository. The lab CA's own private key is thrown away once the leaves are
signed, and the CA is name-constrained to localhost, *.invalid, 127.0.0.0/8 and
::1, so even a CA file trusted by mistake cannot vouch for any real site.
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = Path(__file__).resolve().parent.parent / "netrepl" / "lab" / "certs"
WARNING = ("netrepl lab certificate material: LAB USE ONLY. This key is public (it ships with netrepl);\n"
           "never use it, or trust the lab CA, outside netrepl's own lab servers on loopback.\n")
LONG_AGO = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
FAR_AHEAD = datetime.datetime(2125, 1, 1, tzinfo=datetime.timezone.utc)
LOCAL_NAMES = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
               x509.IPAddress(ipaddress.ip_address("::1"))]


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "netrepl lab (lab use only)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def ca(common: str, key) -> x509.Certificate:
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("localhost"), x509.DNSName("invalid"),
                            x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
                            x509.IPAddress(ipaddress.ip_network("::1/128"))],
        excluded_subtrees=None)
    return (x509.CertificateBuilder().subject_name(name(common)).issuer_name(name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(LONG_AGO).not_valid_after(FAR_AHEAD)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(constraints, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def leaf(common: str, sans, key, issuer: x509.Certificate | None, issuer_key, start=LONG_AGO, end=FAR_AHEAD):
    builder = (x509.CertificateBuilder().subject_name(name(common))
               .issuer_name(issuer.subject if issuer else name(common))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    print(f"wrote {path.relative_to(OUT.parent.parent.parent)}")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())  # one key for every leaf: the certificates differ
    key_pem = WARNING.encode() + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption())
    write(OUT / "lab.key", key_pem)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    lab_ca = ca("netrepl lab CA", ca_key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = ca("netrepl lab other CA (not trusted)", other_key)
    header = b"netrepl lab certificates: LAB USE ONLY (see README.txt here).\n"
    write(OUT / "ca.pem", header + pem(lab_ca))
    write(OUT / "localhost.pem", header + pem(leaf("localhost", LOCAL_NAMES, key, lab_ca, ca_key), lab_ca))
    expired = leaf("localhost", LOCAL_NAMES, key, lab_ca, ca_key,
                   datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
                   datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc))
    write(OUT / "expired.pem", header + pem(expired, lab_ca))
    write(OUT / "self-signed.pem", header + pem(leaf("localhost", LOCAL_NAMES, key, None, key)))
    wrong = leaf("wrong-host.invalid", [x509.DNSName("wrong-host.invalid")], key, lab_ca, ca_key)
    write(OUT / "wrong-host.pem", header + pem(wrong, lab_ca))
    # The chain holds the untrusted root too: OpenSSL then says 19 (self-signed certificate in chain).
    write(OUT / "unknown-ca.pem", header + pem(leaf("localhost", LOCAL_NAMES, key, other_ca, other_key), other_ca))
    return 0  # ca_key and other_key are dropped here, never written


if __name__ == "__main__":
    sys.exit(main())
