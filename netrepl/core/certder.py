"""A certificate's displayed fields read from its DER, for when OpenSSL's own decoding refuses them.

`_ssl.Certificate.get_info()` (and getpeercert()) decode every SAN, AIA and
CRL URI as strict UTF-8: one invalid byte in a peer's DNS name or URI raises
UnicodeDecodeError, and a certificate the peer chose must never be able to
stop `tls` from saying what it holds. `fields(der)` walks the DER here and
returns the same dict shape get_info gives (subject, issuer, notBefore,
notAfter, subjectAltName), with every string decoded leniently: bytes that
are not valid UTF-8 are kept as lone surrogates (surrogateescape), which the
renderer shows as \\xNN. Nothing here raises on what a peer sends: a part
that cannot be walked is left out, and the caller says what is missing.
"""

from __future__ import annotations

from netrepl.core.castore import tlv

# The attribute names get_info uses (OpenSSL's long names) for the OIDs certificates carry.
_NAMES = {
    "2.5.4.3": "commonName", "2.5.4.4": "surname", "2.5.4.5": "serialNumber", "2.5.4.6": "countryName",
    "2.5.4.7": "localityName", "2.5.4.8": "stateOrProvinceName", "2.5.4.9": "streetAddress",
    "2.5.4.10": "organizationName", "2.5.4.11": "organizationalUnitName", "2.5.4.12": "title",
    "2.5.4.42": "givenName", "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "domainComponent",
}
_SAN_OID = "2.5.29.17"
# String types and how OpenSSL reads them (T61String as Latin-1, as OpenSSL does).
_CODECS = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1", 0x1E: "utf-16-be",
           0x1C: "utf-32-be"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def text(raw: bytes, codec: str = "utf-8") -> str:
    """Bytes a peer chose -> str that never raises: what does not decode is kept for escaping."""
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")


def oid(raw: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets -> dotted text."""
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _children(der: bytes, start: int, end: int):
    at = start
    while at < end:
        tag, value_start, value_end = tlv(der, at)
        yield tag, value_start, value_end
        at = value_end


def _name(der: bytes, start: int, end: int) -> tuple:
    rdns = []
    for _, set_start, set_end in _children(der, start, end):
        rdn = []
        for _, attr_start, attr_end in _children(der, set_start, set_end):
            (_, oid_start, oid_end), (tag, value_start, value_end) = list(_children(der, attr_start, attr_end))[:2]
            dotted = oid(der[oid_start:oid_end])
            rdn.append((_NAMES.get(dotted, dotted), text(der[value_start:value_end], _CODECS.get(tag, "utf-8"))))
        rdns.append(tuple(rdn))
    return tuple(rdns)


def _time(der: bytes, tag: int, start: int, end: int) -> str:
    """UTCTime / GeneralizedTime -> OpenSSL's 'Jan  1 00:00:00 2125 GMT'."""
    raw = der[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280)
        year = int(raw[:2])
        raw = str(year + (1900 if year >= 50 else 2000)) + raw[2:]
    if not (len(raw) == 15 and raw.endswith("Z") and raw[:14].isdigit()):
        raise ValueError("not a certificate time")
    month = int(raw[4:6])
    return f"{_MONTHS[month - 1]} {int(raw[6:8]):2d} {raw[8:10]}:{raw[10:12]}:{raw[12:14]} {raw[:4]} GMT"


def _general_names(der: bytes, start: int, end: int) -> tuple:
    """GeneralNames -> get_info's (kind, value) pairs."""
    out = []
    for tag, value_start, value_end in _children(der, start, end):
        raw = der[value_start:value_end]
        kind = tag & 0x1F
        if kind == 2:
            out.append(("DNS", text(raw)))
        elif kind == 6:
            out.append(("URI", text(raw)))
        elif kind == 1:
            out.append(("email", text(raw)))
        elif kind == 7:
            out.append(("IP Address", _ip(raw)))
        elif kind == 4:
            inner = tlv(der, value_start)
            out.append(("DirName", _name(der, inner[1], inner[2])))
        else:
            out.append(("othername", "<unsupported>"))
    return tuple(out)


def _ip(raw: bytes) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return "<invalid>"


def fields(der: bytes) -> dict:
    """What get_info would say, read leniently; a part that cannot be read is left out."""
    info: dict = {}
    try:
        _, cert_start, _ = tlv(der, 0)
        _, tbs_start, tbs_end = tlv(der, cert_start)
        parts = list(_children(der, tbs_start, tbs_end))
        if parts and parts[0][0] == 0xA0:  # [0] version
            parts = parts[1:]
        # serial, signature algorithm, issuer, validity, subject, key, then [1] [2] [3] extensions
        _, issuer_start, issuer_end = parts[2]
        _, validity_start, validity_end = parts[3]
        _, subject_start, subject_end = parts[4]
        extensions = next(((s, e) for tag, s, e in parts[6:] if tag == 0xA3), None)
    except (ValueError, IndexError):
        return info
    for key, start, end in (("issuer", issuer_start, issuer_end), ("subject", subject_start, subject_end)):
        try:
            info[key] = _name(der, start, end)
        except (ValueError, IndexError):
            pass
    try:
        (t1, s1, e1), (t2, s2, e2) = list(_children(der, validity_start, validity_end))[:2]
        info["notBefore"], info["notAfter"] = _time(der, t1, s1, e1), _time(der, t2, s2, e2)
    except (ValueError, IndexError, UnicodeDecodeError):
        pass
    if extensions is None:
        return info
    try:
        _, seq_start, seq_end = tlv(der, extensions[0])
        for _, ext_start, ext_end in _children(der, seq_start, seq_end):
            parts = list(_children(der, ext_start, ext_end))
            if oid(der[parts[0][1]:parts[0][2]]) != _SAN_OID:
                continue
            _, octets_start, _ = parts[-1]  # the OCTET STRING, after an optional critical flag
            _, names_start, names_end = tlv(der, octets_start)
            info["subjectAltName"] = _general_names(der, names_start, names_end)
    except (ValueError, IndexError):
        pass
    return info
