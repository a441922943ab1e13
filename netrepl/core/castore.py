"""The system trust store, cut down to what one chain can reach: for the "would have said" check.

`tls -k` (and `set tls sni off`) reports what verification would have said by
replaying the peer's chain to a verifying context (core/tlsfacts.py). Loading
the whole system bundle into that context (SSL_CERT_FILE, or OpenSSL's default
file: ~150 certificates) costs OpenSSL 3 about 0.3 ms a certificate, 25-55 ms
per `tls -k`, paid between the handshake and the first read of the data.

A verifier reaches the certificates of its store only by name: it looks up
the issuer of each certificate in the chain (and its subject, to see whether
that certificate is itself trusted), then the issuer of each one it found. So
a store holding every bundle certificate whose subject is reachable that way
gives the same verdict as the whole bundle. Names are compared here by a key
coarser than OpenSSL's (X509_NAME_cmp on canonical names: ASCII case and
spaces folded, string types converted to UTF-8): a few more certificates may
be kept, never one fewer. The directory (SSL_CERT_DIR or OpenSSL's default)
is looked up lazily by OpenSSL itself, by name hash, and is left to it.

`bundle_subset` returns None whenever the bundle holds anything this module
does not read as plain certificates (trusted-certificate or CRL blocks, PEM
headers, a DER it cannot walk): the caller then loads the whole store.

Known difference: a certificate that is well-formed DER up to its subject but
that OpenSSL cannot decode (an algorithm it does not know, a broken key) makes
OpenSSL refuse the whole bundle, so every verifying `tls` then fails (code 20);
the cut leaves such a certificate out unless the chain reaches it, and says what
the rest of the store would give. Only a damaged system bundle is like that.
"""

from __future__ import annotations

import base64
import binascii
import os

BEGIN, END = b"-----BEGIN ", b"-----END "
# String types OpenSSL canonicalises when it compares names (ASN1_MASK_CANON), with their codecs.
_TEXT = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1",
         0x1E: "utf-16-be", 0x1C: "utf-32-be"}

_bundles: dict = {}  # (path, mtime, size) -> [(subject key, issuer key, der)] or None: parsed once a process


def tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """The DER element at `at`: (tag, where its value starts, where it ends). Raises ValueError."""
    tag, length = der[at], der[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("DER length")
        length = int.from_bytes(der[at:at + count], "big")
        at += count
    if at + length > len(der):
        raise ValueError("DER overrun")
    return tag, at, at + length


def _value_key(tag: int, raw: bytes):
    codec = _TEXT.get(tag)
    if codec is not None:
        try:
            return "".join(raw.decode(codec).lower().split())  # case and every space folded
        except UnicodeDecodeError:
            pass
    return (tag, raw)


_keys: dict[bytes, frozenset] = {}  # a Name's DER -> its key (a root's subject is its issuer)


def name_key(der: bytes, start: int, end: int) -> frozenset:
    """A Name (SEQUENCE OF SET OF {OID, value}) -> the set of (OID, folded value): equal for any two
    names OpenSSL calls equal (RDN grouping and order, case, spaces and string types are dropped)."""
    raw = der[start:end]
    if (known := _keys.get(raw)) is not None:
        return known
    pairs = set()
    at = start
    while at < end:
        _, set_start, set_end = tlv(der, at)
        inner = set_start
        while inner < set_end:
            _, attr_start, attr_end = tlv(der, inner)
            _, oid_start, oid_end = tlv(der, attr_start)
            tag, value_start, value_end = tlv(der, oid_end)
            key = _value_key(tag, der[value_start:value_end])
            if key != "":
                pairs.add((der[oid_start:oid_end], key))
            inner = attr_end
        at = set_end
    return _keys.setdefault(raw, frozenset(pairs))


def names(der: bytes) -> tuple[frozenset, frozenset]:
    """A certificate's (subject key, issuer key). Raises ValueError/IndexError on what it cannot walk."""
    _, cert_start, _ = tlv(der, 0)
    _, at, _ = tlv(der, cert_start)  # TBSCertificate
    tag, _, end = tlv(der, at)
    if tag == 0xA0:  # [0] version
        at = end
        tag, _, end = tlv(der, at)
    at = end  # serial number
    at = tlv(der, at)[2]  # signature algorithm
    _, issuer_start, issuer_end = tlv(der, at)
    at = tlv(der, issuer_end)[2]  # validity
    _, subject_start, subject_end = tlv(der, at)
    return name_key(der, subject_start, subject_end), name_key(der, issuer_start, issuer_end)


def _parse_bundle(data: bytes) -> list | None:
    entries = []
    at = 0
    while (begin := data.find(BEGIN, at)) >= 0:
        label_end = data.find(b"-----", begin + len(BEGIN))
        if label_end < 0 or data[begin + len(BEGIN):label_end] != b"CERTIFICATE":
            return None  # TRUSTED CERTIFICATE (trust settings), X509 CRL, a key...: OpenSSL reads those
        body_start = label_end + 5
        stop = data.find(END + b"CERTIFICATE-----", body_start)
        body = data[body_start:stop]
        if stop < 0 or b":" in body:  # unterminated, or PEM headers
            return None
        try:
            der = base64.b64decode(body)
            subject, issuer = names(der)
        except (binascii.Error, ValueError, IndexError):
            return None
        entries.append((subject, issuer, der))
        at = stop + len(END)
    return entries


def _bundle(path: str) -> list | None:
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in _bundles:
            with open(path, "rb") as f:
                _bundles[key] = _parse_bundle(f.read())
    except OSError:
        return None
    return _bundles[key]


def bundle_subset(cafile: str | None, chain: list[bytes]) -> bytes | None:
    """The DER certificates of `cafile` a verifier of `chain` could reach by name, concatenated
    (b"" when none or no file); None when the file cannot be read so: load it whole then."""
    if cafile is None:
        return b""
    entries = _bundle(cafile)
    if entries is None:
        return None
    wanted: set = set()
    try:
        for der in chain:
            wanted.update(names(der))
    except (ValueError, IndexError):
        return None
    kept: list[bytes] = []
    left = entries
    while True:  # add the issuers of what was added, until nothing new is reachable
        found = [entry for entry in left if entry[0] in wanted]
        if not found:
            return b"".join(kept)
        left = [entry for entry in left if entry[0] not in wanted]
        for _, issuer, der in found:
            kept.append(der)
            wanted.add(issuer)
