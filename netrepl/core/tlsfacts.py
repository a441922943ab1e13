"""What a TLS handshake established, in facts a person diagnosing TLS reads (and `info` shows).

`gather` reads them off the TlsSocket: version, cipher, ALPN, SNI, the peer's
certificate (subject, SANs, issuer, validity, SHA-256), chain length, the
verify result, hostname match, session reuse. All certificate text is the
peer's choice: it stays plain data here and the renderer escapes it.

What verification WOULD say (`tls -k`, or `set tls sni off`, where OpenSSL
never checked the name) on Python 3.11, which has no API to verify a chain
outside a handshake: `replay_verify` hands the chain the peer sent to a
fresh verifying client over memory BIOs, in a TLS 1.2 ServerHello and
Certificate message made here. OpenSSL verifies the chain (and the name)
as soon as it has parsed the Certificate message, before it needs anything
only the real server (its private key) could give: so it answers with the
same verify code and message as a verifying handshake against the same
server, and nothing leaves this process.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import time

from netrepl.core import certder
from netrepl.core.results import Elapsed, Part, Varies
from netrepl.core.sockstate import plural


def quote(data: bytes) -> str:
    from netrepl.core.expect import excerpt  # bounded and escaped, as expect quotes peer data

    return excerpt(data)


def as_ip(name: str):
    """The IP address `name` is to OpenSSL (a2i_IPADDRESS, which ssl uses to decide between SNI and an IP
    check): Python's strict reading, or four decimal parts with leading zeros (127.0.0.01), which
    OpenSSL reads as 127.0.0.1 while ipaddress refuses it. None: a host name."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    parts = name.split(".")
    if len(parts) == 4 and all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts):
        return ipaddress.IPv4Address(".".join(str(int(p)) for p in parts))
    return None


def is_ip(name: str) -> bool:
    return as_ip(name) is not None


def _short_key(key: str) -> str:
    return {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
            "localityName": "L", "stateOrProvinceName": "ST", "emailAddress": "email"}.get(key, key)


def _dn(rdns) -> str:
    return ", ".join(f"{_short_key(k)}={v}" for rdn in rdns or () for k, v in rdn) or "(empty)"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def cert_seconds(when: str) -> int:
    """OpenSSL's 'Jan  1 00:00:00 2125 GMT' -> seconds since the epoch, as ssl.cert_time_to_seconds
    says it. That one goes through time.strptime, whose first call imports _strptime, datetime,
    locale and calendar (~4.5 ms of CPU here, in every `tls` between the handshake and the first
    read); this is arithmetic. Raises ValueError."""
    if not isinstance(when, str):
        raise TypeError("no date")
    month, day, hms, year, zone = when.split()
    hour, minute, second = (int(x) for x in hms.split(":"))
    y, m, d = int(year), MONTHS.index(month.title()) + 1, int(day)
    if zone != "GMT" or len(year) != 4 or not (1 <= d <= 31 and hour < 24 and minute < 60 and second < 62):
        raise ValueError(f"not a certificate time: {when!r}")
    y -= m <= 2  # days from 1970-01-01 (the proleptic Gregorian calendar, H. Hinnant's days_from_civil)
    era, yoe = divmod(y, 400)
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hour * 3600 + minute * 60 + second


class Cert:
    """One certificate's facts from _ssl.Certificate (get_info: OpenSSL's own parse)."""

    def __init__(self, cert):
        der = cert.public_bytes(ssl._ssl.ENCODING_DER) if not isinstance(cert, bytes) else cert
        try:
            info = cert.get_info() if hasattr(cert, "get_info") else certder.fields(der)
        except (UnicodeDecodeError, ValueError, ssl.SSLError):
            # OpenSSL's strict decoding refused a field the peer chose (invalid UTF-8 in a DNS SAN or
            # an AIA URI): read the same fields from the DER, undecodable bytes kept for escaping.
            info = certder.fields(der)
        self.der = der
        self.subject = _dn(info.get("subject"))
        self.issuer = _dn(info.get("issuer"))
        self.sans = tuple(info.get("subjectAltName", ()))
        self.not_before = info.get("notBefore")
        self.not_after = info.get("notAfter")
        self.sha256 = hashlib.sha256(der).hexdigest().upper()

    def days_left(self) -> int | None:
        try:
            return int((cert_seconds(self.not_after) - time.time()) // 86400)
        except (TypeError, ValueError, OverflowError):
            return None

    def left(self) -> Varies:
        """Days left: a Varies, so --stable transcripts stay the same from one day to the next."""
        left = self.days_left()
        if left is None:
            return Varies("(no dates)", "(no dates)")
        if left < 0:
            return Varies(f"EXPIRED {-left} days ago", "EXPIRED <days> ago")
        return Varies(f"{left}", "<days>")

    def validity(self) -> list[Part]:
        return [f"{self.not_before} to {self.not_after} (days left: ", self.left(), ")"]


def name_matches(name: str | None, sans) -> str:
    """Does `name` match a SAN, by RFC 6125 as OpenSSL checks it (no CN fallback: Python never uses it)?"""
    if not name:
        return "not checked (no name)"
    wanted = as_ip(name)
    if wanted is not None:
        for kind, value in sans:
            if kind == "IP Address" and _ip(value) == wanted:
                return f"yes ({name} is IP:{value})"
        return f"NO: {name} is not among the certificate's IP addresses"
    host = name.lower().rstrip(".")
    for kind, value in sans:
        if kind != "DNS":
            continue
        pattern = value.lower().rstrip(".")
        if pattern == host:
            return f"yes ({name} is DNS:{value})"
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:] and host.split(".", 1)[0]:
            return f"yes ({name} matches DNS:{value})"
    return f"NO: {name} is not among the certificate's DNS names"


def _ip(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _len(n: int, size: int) -> bytes:
    return n.to_bytes(size, "big")


def _handshake_msg(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _len(len(body), 3) + body


def _suite(client_hello: bytes) -> bytes:
    """A TLS 1.2 cipher suite the ClientHello offered (verification comes before the suite matters)."""
    at = 5 + 4 + 2 + 32
    at += 1 + client_hello[at]
    count = int.from_bytes(client_hello[at:at + 2], "big")
    suites = client_hello[at + 2:at + 2 + count]
    for i in range(0, len(suites), 2):
        if suites[i] != 0x13 and suites[i:i + 2] != b"\x00\xff":  # not a TLS 1.3 suite, not the SCSV
            return suites[i:i + 2]
    return b"\xc0\x2f"


def replay_verify(ders: list[bytes], name: str | None, context) -> tuple[int, str] | None:
    """Verify a chain as a handshake with `context` would: None if it passes, else (code, message).
    Raises ValueError when the replay could not reach the verification (it then says nothing)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    suite = _suite(outgoing.read())
    renegotiation_info = b"\xff\x01\x00\x01\x00"  # OpenSSL refuses a server without it (RFC 5746)
    hello = b"\x03\x03" + bytes(32) + b"\x00" + suite + b"\x00" + _len(len(renegotiation_info), 2) + renegotiation_info
    certs = b"".join(_len(len(der), 3) + der for der in ders)
    flight = _handshake_msg(2, hello) + _handshake_msg(11, _len(len(certs), 3) + certs)
    for at in range(0, len(flight), 16384):  # records of at most 2^14 bytes
        piece = flight[at:at + 16384]
        incoming.write(b"\x16\x03\x03" + _len(len(piece), 2) + piece)
    try:
        obj.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message
    except ssl.SSLWantReadError:
        return None  # verified: now it waits for the ServerKeyExchange
    except ssl.SSLError as exc:
        if exc.reason == "WRONG_CERTIFICATE_TYPE":  # checked after verification: the chain passed
            return None
        raise ValueError(f"the replay stopped before verification: {exc.reason or exc}") from None
    raise ValueError("the replay handshake completed, which it cannot")


class TlsFacts:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    @property
    def short(self) -> str:
        return self.version.replace("TLSv", "")

    def state_word(self) -> str:
        return f"tls {self.short}"

    def refresh(self) -> None:
        """After a renegotiation (TLS 1.2: the server may start one at any time, with another certificate,
        cipher or session), gather the facts again, so `info` says what holds now, not what held at first."""
        again = getattr(self, "again", None)
        if again is None:
            return
        now = fingerprint(again[0].obj)
        self.renegotiating = now is None  # OpenSSL says "handshake not done yet" while one is under way
        if now is None or now == self.seen:
            return
        fresh = gather(*again)
        fresh.insecure, fresh.renegotiated = self.insecure, self.renegotiated + 1
        self.__dict__.update(fresh.__dict__)

    def fields(self) -> list[tuple[str, Part]]:
        self.refresh()
        leaf = self.certs[0] if self.certs else None
        rows: list[tuple[str, Part]] = [
            ("protocol", self.version),
            ("cipher", f"{self.cipher} ({self.bits} bits)"),
            ("alpn", self.alpn_words),
            ("sni", self.sni or "not sent" + (" (an IP address is never sent as SNI)" if self.name and is_ip(self.name)
                                               else " (set tls sni off)" if self.name else "")),
        ]
        if leaf is None:
            rows.append(("certificate", "none received"))
        else:
            rows += [
                ("subject", leaf.subject),
                ("san", ", ".join(f"{'IP' if k == 'IP Address' else k}:{v}" for k, v in leaf.sans) or "none"),
                ("issuer", leaf.issuer),
                ("valid", f"{leaf.not_before} to {leaf.not_after}"),
                ("days left", leaf.left()),
                ("sha256", ":".join(leaf.sha256[i:i + 2] for i in range(0, len(leaf.sha256), 2))),
            ]
        rows += [
            ("chain", f"{plural(len(self.certs), 'certificate')} sent by the peer"),
            ("verify", self.verify_words),
            ("hostname", self.hostname),
            ("reuse", "resumed an earlier session" if self.reused else "new session"),
            *([("renegotiated", "after the first handshake: the facts above are the latest handshake's")]
              if self.renegotiated and not self.renegotiating else []),
            *([("renegotiation", "under way (the peer asked for one): the facts above are the last finished "
                                 "handshake's")] if getattr(self, "renegotiating", False) else []),
            ("time", self.elapsed),
        ]
        return rows


def fingerprint(obj):
    """What a renegotiation changes, or None: tls-unique (RFC 5929: the first Finished message of the latest
    handshake, new in each one, resumed or not; None in TLS 1.3, which has no renegotiation) and what
    the report shows (version, cipher, the peer's certificate, resumption)."""
    try:
        return (obj.get_channel_binding("tls-unique"), obj.version(), obj.cipher(), obj.getpeercert(True),
                obj.session_reused)
    except (ValueError, ssl.SSLError, AttributeError):
        return None


def gather(sock, name, sni, insecure: bool, name_checked: bool, settings, elapsed: Elapsed) -> TlsFacts:
    """The facts of a finished handshake. insecure: nothing was verified (`tls -k`); name_checked:
    OpenSSL checked the name in the handshake (not with `set tls sni off`). What was not checked
    is checked by replay_verify."""
    obj = sock.obj
    certs = [Cert(c) for c in sock.chain()]
    if not certs and obj.getpeercert(True):
        certs = [Cert(obj.getpeercert(True))]
    cipher = obj.cipher() or ("?", "?", 0)
    offered = ", ".join(settings.alpn)
    chosen = obj.selected_alpn_protocol()
    alpn = (f"{chosen} (offered {offered})" if chosen else f"none chosen by the server (offered {offered})") \
        if settings.alpn else "none offered (set tls alpn h2,http/1.1)"
    code, message, unchecked = None, None, None
    if not insecure and name_checked:
        verify = "ok (chain verified, name checked)"
    else:
        try:
            ders = [c.der for c in certs]
            outcome = replay_verify(ders, name, settings.replay_context(ders))
        except (ValueError, OSError, ssl.SSLError) as exc:
            outcome, verify = None, f"unknown ({exc})"
            if not insecure:
                unchecked, verify = str(exc), f"NOT verified: the check could not run ({exc})"
        else:
            if outcome is not None:
                code, message = outcome
            if insecure:
                verify = ("would pass: verification skipped (tls -k), the chain and name check out" if outcome is None
                          else f"would FAIL: verify code {code} ({message}); skipped (tls -k)")
            else:
                verify = "ok (chain verified; the name checked apart: SNI off)" if outcome is None else \
                    f"FAILED: verify code {code} ({message})"
    return TlsFacts(version=obj.version() or "?", cipher=cipher[0], bits=cipher[2], alpn_words=alpn, sni=sni,
                    name=name, certs=certs, verify_words=verify, verify_code=code, verify_message=message,
                    unchecked=unchecked,
                    hostname=name_matches(name, certs[0].sans if certs else ()), reused=obj.session_reused,
                    elapsed=elapsed, renegotiated=0, seen=fingerprint(obj),
                    again=(sock, name, sni, insecure, name_checked, settings, elapsed))


def refused_lines(chain) -> list:
    """What the refused certificate says, for a verify failure."""
    lines = []
    for depth, cert in enumerate(chain[:4]):
        facts = Cert(cert)
        lines.append((f"certificate {depth}: subject {facts.subject}; issuer {facts.issuer}; valid ",
                      *facts.validity()))
    return lines
