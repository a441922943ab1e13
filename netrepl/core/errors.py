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
    "eof": "end of stream came first",
}

# Short names accepted by `must-fail`, each matching a kind or errno names.
FAILURE_ALIASES: dict[str, frozenset[str]] = {
    "refused": frozenset({"ECONNREFUSED"}),
    "reset": frozenset({"ECONNRESET"}),
    "pipe": frozenset({"EPIPE"}),
    "notconn": frozenset({"ENOTCONN"}),
    "lost": frozenset({"ENOTCONN", "EPIPE", "ECONNRESET"}),
    "unreachable": frozenset({"EHOSTUNREACH", "ENETUNREACH"}),
    "inuse": frozenset({"EADDRINUSE"}),
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


def classify(exc: BaseException, op: str) -> ErrorInfo:
    """An exception from a socket operation -> ErrorInfo with its kind."""
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
    return upper in errno_mod.errorcode.values() or upper in _EAI_NAMES.values() or upper in _H_ERRNO_NAMES.values()
