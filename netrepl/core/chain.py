"""The certificate chain a TLS peer sent: per certificate its names, validity, key and fingerprints; PEM.

Where it comes from: Python 3.11 has no public API for the peer's chain, so
TlsSocket.chain() (core/tlssock.py) calls the private
`_sslobj.get_unverified_chain()` (public from 3.13), which gives _ssl.Certificate
objects: their get_info() is OpenSSL's own parse (subject, issuer, validity,
SANs: tlsfacts.Cert reads it). The public key's type and size and the
signature algorithm are not in get_info(), and `cryptography` is not a
dependency: they are read here from the DER (castore's tlv, certder's oid) for
the few fields needed (RFC 5280 TBSCertificate, RFC 3279/5480/8410 key algorithms).
Anything it cannot read is said as unknown, never an exception.

All certificate text is the peer's choice: it stays data here; the renderer escapes it.
"""

from __future__ import annotations

from netrepl.core.castore import tlv
from netrepl.core.certder import oid as _oid
from netrepl.core.sockstate import plural

# OIDs (dotted) -> names
_KEY_ALGORITHMS = {"1.2.840.113549.1.1.1": "RSA", "1.2.840.10045.2.1": "EC", "1.3.101.112": "Ed25519",
                   "1.3.101.113": "Ed448", "1.2.840.10040.4.1": "DSA", "1.2.840.113549.1.1.10": "RSA-PSS"}
_CURVES = {"1.2.840.10045.3.1.7": ("P-256", 256), "1.3.132.0.34": ("P-384", 384), "1.3.132.0.35": ("P-521", 521),
           "1.3.132.0.10": ("secp256k1", 256)}
_SIGNATURES = {"1.2.840.113549.1.1.11": "sha256WithRSAEncryption", "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
               "1.2.840.113549.1.1.13": "sha512WithRSAEncryption", "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
               "1.2.840.113549.1.1.10": "RSASSA-PSS", "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
               "1.2.840.10045.4.3.3": "ecdsa-with-SHA384", "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
               "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448"}


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, contents start, contents end) of each element in data[start:end]
    (the element's start too: a Name is compared as its whole DER)."""
    out, at = [], start
    while at < end:
        tag, lo, hi = tlv(data, at)
        out.append((tag, at, lo, hi))
        at = hi
    return out


class Parsed:
    """What the DER says that get_info() does not: key, signature algorithm, raw names (self-issued?)."""

    __slots__ = ("key", "signature", "issuer_der", "subject_der")

    def __init__(self, der: bytes):
        self.key, self.signature, self.issuer_der, self.subject_der = "unknown key", "unknown", None, None
        try:
            self._parse(der)
        except (IndexError, ValueError):
            pass

    def _parse(self, der: bytes) -> None:
        _, lo, hi = tlv(der, 0)  # Certificate
        cert = _children(der, lo, hi)
        tbs = _children(der, cert[0][2], cert[0][3])
        if tbs and tbs[0][0] == 0xA0:  # [0] version
            tbs = tbs[1:]
        # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
        issuer, subject, spki = tbs[2], tbs[4], tbs[5]
        self.issuer_der, self.subject_der = der[issuer[1]:issuer[3]], der[subject[1]:subject[3]]
        sig = _children(der, cert[1][2], cert[1][3])
        oid = _oid(der[sig[0][2]:sig[0][3]])
        self.signature = _SIGNATURES.get(oid, oid)
        self.key = _key(der, spki)


def _key(der: bytes, spki) -> str:
    algorithm, bits = _children(der, spki[2], spki[3])
    parts = _children(der, algorithm[2], algorithm[3])
    oid = _oid(der[parts[0][2]:parts[0][3]])
    name = _KEY_ALGORITHMS.get(oid, oid)
    key = der[bits[2] + 1:bits[3]]  # BIT STRING: its first byte counts unused bits
    if name in ("RSA", "RSA-PSS"):
        _, lo, hi = tlv(key, 0)
        modulus = _children(key, lo, hi)[0]
        n = int.from_bytes(key[modulus[2]:modulus[3]], "big")
        return f"{name} {n.bit_length()} bits"
    if name == "EC" and len(parts) > 1 and parts[1][0] == 0x06:
        curve_oid = _oid(der[parts[1][2]:parts[1][3]])
        curve, size = _CURVES.get(curve_oid, (curve_oid, None))
        return f"EC {curve}" + (f" ({size} bits)" if size else "")
    if name == "Ed25519":
        return "Ed25519 (256 bits)"
    if name == "Ed448":
        return "Ed448 (456 bits)"
    return name


def _colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2))


class ChainCert:
    """One certificate of a chain: tlsfacts.Cert (OpenSSL's parse) plus what Parsed reads."""

    def __init__(self, cert):
        from netrepl.core.tlsfacts import Cert

        self.facts = Cert(cert)
        self.der = self.facts.der
        parsed = Parsed(self.der)
        self.key, self.signature = parsed.key, parsed.signature
        self.self_issued = parsed.subject_der is not None and parsed.subject_der == parsed.issuer_der

    def summary(self, depth: int) -> tuple:
        f = self.facts
        return (f"  {depth}: {f.subject}; issuer {f.issuer}; {self.key}; valid ", *f.validity())

    def details(self, depth: int, total: int) -> list[tuple]:
        f = self.facts
        role = "leaf" if depth == 0 else "root: self-issued" if self.self_issued else "intermediate"
        sans = ", ".join(f"{'IP' if k == 'IP Address' else k}:{v}" for k, v in f.sans) or "none"
        rows = [
            (f"certificate {depth} of {total} ({role})",),
            ("  subject   ", f.subject),
            ("  issuer    ", f.issuer),
            ("  san       ", sans),
            ("  valid     ", *f.validity()),
            ("  key       ", self.key),
            ("  signature ", self.signature),
        ]
        import hashlib  # (`certs` only)

        rows += [("  sha256    ", _colons(f.sha256)), ("  sha1      ", _colons(hashlib.sha1(self.der).hexdigest().upper()))]
        return rows

    def pem(self) -> str:
        import base64

        body = base64.encodebytes(self.der).decode("ascii").replace("\n", "")
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def of(raw_chain) -> list[ChainCert]:
    out = []
    for cert in raw_chain or ():
        try:
            out.append(ChainCert(cert))
        except (ValueError, TypeError):
            continue
    return out


def summary_lines(certs: list[ChainCert], who: str = "the peer") -> list[tuple]:
    """The chain in one line per certificate (after a successful handshake)."""
    if not certs:
        return []
    return [(f"chain sent by {who} ({plural(len(certs), 'certificate')}; `certs` shows them in detail, "
             "`certs > FILE.pem` saves them):",)] + [c.summary(i) for i, c in enumerate(certs)]


# X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, _UNABLE_TO_GET_ISSUER_CERT, _UNABLE_TO_VERIFY_LEAF_SIGNATURE
_NO_ISSUER = (20, 2, 21)


def hints(raw_chain, code: int | None) -> list[tuple]:
    """A verify failure that a missing intermediate explains: one certificate, not self-issued, no issuer found."""
    if code not in _NO_ISSUER:
        return []
    certs = of(raw_chain)
    if len(certs) != 1 or certs[0].self_issued:
        return []
    return [("hint: the server sent only its own certificate, and its issuer (", certs[0].facts.issuer,
             ") is not a trusted root: the server probably left out its intermediate certificate "
             "(its certificate file should hold the leaf and then the intermediates, a `fullchain`)",)]
