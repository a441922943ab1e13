"""Failures by kind, as the worksheet teaches them, from exception types and errno.

Meaning is never read out of message text: the type and the errno decide.
"""

from __future__ import annotations

import errno as errno_mod
import socket

from netrepl.core.results import ErrorInfo

# kind -> how it is named to the user.
KINDS: dict[str, str] = {
    "address": "address-related error (socket.gaierror)",
    "other-address": "other address error (socket.herror)",
    "timeout": "timeout (TimeoutError, formerly socket.timeout)",
    "io": "connection/I-O error (OSError, formerly socket.error)",
    "service": "service lookup error (OSError from getservbyname/getservbyport)",
    "state": "not possible in this state",
    "syntax": "syntax error",
    "usage": "bad argument",
    "interrupted": "interrupted (Ctrl-C)",
    "expect": "expectation not met",
    "file": "file error (OSError)",
    "verify": "certificate verification failed (ssl.SSLCertVerificationError)",
    "tls": "TLS error (ssl.SSLError)",
    "starttls": "STARTTLS refused (the server's reply was not the go-ahead; no TLS was attempted)",
    "eof": "end of stream came first",
    "protocol": "protocol error (the peer broke the protocol's framing)",
    "proxy": "the proxy refused (a SOCKS reply code, an HTTP CONNECT status)",
}

# OpenSSL verify codes (X509_V_ERR_*) netrepl names: errname of a `verify` failure, so
# `must-fail X509_V_ERR_CERT_HAS_EXPIRED` replays what `record` wrote.
VERIFY_CODES: dict[int, str] = {
    2: "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT",
    7: "X509_V_ERR_CERT_SIGNATURE_FAILURE",
    9: "X509_V_ERR_CERT_NOT_YET_VALID",
    10: "X509_V_ERR_CERT_HAS_EXPIRED",
    18: "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT",
    19: "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN",
    20: "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    21: "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    23: "X509_V_ERR_CERT_REVOKED",
    24: "X509_V_ERR_INVALID_CA",
    26: "X509_V_ERR_INVALID_PURPOSE",
    62: "X509_V_ERR_HOSTNAME_MISMATCH",
    64: "X509_V_ERR_IP_ADDRESS_MISMATCH",
    68: "X509_V_ERR_CA_MD_TOO_WEAK",
}
# OpenSSL reasons (ssl.SSLError.reason) netrepl names: errname of a `tls` failure.
TLS_REASONS: frozenset[str] = frozenset({
    "WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
    "UNEXPECTED_EOF_WHILE_READING", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_PROTOCOL_VERSION",
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "TLSV1_ALERT_INTERNAL_ERROR", "TLSV1_ALERT_ACCESS_DENIED",
    "TLSV1_ALERT_DECRYPT_ERROR", "TLSV1_UNRECOGNIZED_NAME", "SSLV3_ALERT_UNEXPECTED_MESSAGE",
    "UNSAFE_LEGACY_RENEGOTIATION_DISABLED", "DH_KEY_TOO_SMALL", "NO_SHARED_CIPHER", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
    "CERTIFICATE_VERIFY_FAILED", "CA_MD_TOO_WEAK", "EE_KEY_TOO_SMALL", "KEY_VALUES_MISMATCH",
})

# Short names accepted by `must-fail`, each matching a kind or errno names.
FAILURE_ALIASES: dict[str, frozenset[str]] = {
    "refused": frozenset({"ECONNREFUSED"}),
    "reset": frozenset({"ECONNRESET"}),
    "pipe": frozenset({"EPIPE"}),
    "notconn": frozenset({"ENOTCONN"}),
    "lost": frozenset({"ENOTCONN", "EPIPE", "ECONNRESET"}),
    "unreachable": frozenset({"EHOSTUNREACH", "ENETUNREACH"}),
    "inuse": frozenset({"EADDRINUSE"}),
    # TLS: verify reasons and alerts by name.
    "self-signed": frozenset({"X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"}),
    "unknown-ca": frozenset({"X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
                             "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT", "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE"}),
    "expired": frozenset({"X509_V_ERR_CERT_HAS_EXPIRED"}),
    "not-yet-valid": frozenset({"X509_V_ERR_CERT_NOT_YET_VALID"}),
    "hostname-mismatch": frozenset({"X509_V_ERR_HOSTNAME_MISMATCH"}),
    "ip-mismatch": frozenset({"X509_V_ERR_IP_ADDRESS_MISMATCH"}),
    "certificate-required": frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED"}),
    "handshake-failure": frozenset({"SSLV3_ALERT_HANDSHAKE_FAILURE"}),
    "protocol-version": frozenset({"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"}),
    # What OpenSSL says when the peer's first bytes are no TLS record (netrepl says "plaintext").
    "plaintext": frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}),
}
FAILURE_NAMES: tuple[str, ...] = tuple(KINDS) + tuple(FAILURE_ALIASES) + ("any",)

_EAI_NAMES = {
    getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_") and isinstance(getattr(socket, n), int)
}


# socket.herror carries h_errno (netdb.h), not an errno.
_H_ERRNO_NAMES = {1: "HOST_NOT_FOUND", 2: "TRY_AGAIN", 3: "NO_RECOVERY", 4: "NO_DATA"}


def errname(code: int | None, kind: str = "io") -> str | None:
    if code is None:
        return None
    if kind == "address":
        return _EAI_NAMES.get(code)
    if kind == "other-address":
        return _H_ERRNO_NAMES.get(code)
    return errno_mod.errorcode.get(code)


class TlsFailure(OSError):
    """A TLS failure, kind `tls` or `verify`: core/tlssock.py raises it in place of ssl's
    exceptions, so this module (on every start-up path) never imports ssl."""

    def __init__(self, kind: str, message: str, code: int | None = None, name: str | None = None,
                 exc: str = "SSLError"):
        super().__init__(message)
        self.kind, self.message, self.code, self.name, self.exc = kind, message, code, name, exc


def classify(exc: BaseException, op: str) -> ErrorInfo:
    """An exception from a socket operation -> ErrorInfo with its kind."""
    if isinstance(exc, TlsFailure):
        return ErrorInfo(exc.kind, op, exc.message, exc.code, exc.name, exc.exc)
    if isinstance(exc, KeyboardInterrupt):
        return ErrorInfo("interrupted", op, "stopped before it completed", exc="KeyboardInterrupt")
    if isinstance(exc, socket.gaierror):
        kind = "address"
    elif isinstance(exc, socket.herror):
        kind = "other-address"
    elif isinstance(exc, TimeoutError):
        kind = "timeout"
    elif isinstance(exc, OSError):
        kind = "io"
    else:
        kind = "io"
    code = getattr(exc, "errno", None)
    message = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if kind == "timeout" and code is None:
        message = "timed out"
    return ErrorInfo(kind, op, message, code, errname(code, kind), type(exc).__name__)


def failure(kind: str, op: str, message: str, code: int | None = None) -> ErrorInfo:
    """A failure netrepl itself detects (wrong state, bad argument...)."""
    return ErrorInfo(kind, op, message, code, errname(code), None)


def matches(err: ErrorInfo, wanted: str) -> bool:
    """Does `err` match a `must-fail` name (a kind, an alias or an errno name)?"""
    wanted = wanted.lower()
    if wanted == "any" or err.kind == wanted:
        return True
    names = FAILURE_ALIASES.get(wanted)
    if names is not None:
        return err.errname in names
    return err.errname is not None and err.errname.lower() == wanted


def errname_known(name: str) -> bool:
    """Is `name` an errno or EAI_* name (for `must-fail ECONNREFUSED`)?"""
    upper = name.upper()
    return (upper in errno_mod.errorcode.values() or upper in _EAI_NAMES.values()
            or upper in _H_ERRNO_NAMES.values() or upper in _VERIFY_NAMES or upper in TLS_REASONS)


_VERIFY_NAMES = frozenset(VERIFY_CODES.values())
