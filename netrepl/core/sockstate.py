"""The session socket's flags and the state in words; how an OSError changes them.

Session (core/session.py) builds on this: every operation ends by reading
`state()`, so what is said after a failure is what is true. Nothing here
touches the network beyond reading addresses.
"""

from __future__ import annotations

import errno
import socket

from netrepl.core.errors import classify, failure
from netrepl.core.results import Endpoint, ErrorInfo, Result
from netrepl.core.transport import Transport

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
FAMILY_NAMES = {v: k for k, v in FAMILIES.items()}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
# AF_UNIX (core/unix.py): its types are called stream and dgram, not tcp and udp.
UNIX_TYPES = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}
UNIX_TYPE_NAMES = {v: k for k, v in UNIX_TYPES.items()}
if hasattr(socket, "AF_UNIX"):
    UNIX = FAMILIES["unix"] = socket.AF_UNIX
    FAMILY_NAMES[UNIX] = "unix"
else:  # pragma: no cover (Windows without AF_UNIX)
    UNIX = -1
SHUT_NAMES = {socket.SHUT_RD: "read side", socket.SHUT_WR: "write side", socket.SHUT_RDWR: "both sides"}
# Errors after which the connection is gone for good.
LOST = {errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED, errno.ETIMEDOUT}


def plural(n: int, word: str = "byte") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class SocketState:
    """The socket (through its Transport), its flags and counters, and the words for them."""

    def __init__(self) -> None:
        self.transport: Transport | None = None
        self.gone: str | None = None  # why there is no socket, when not `close`
        self.reset_flags()
        self.was_closed = False
        self.listener = None  # core/listener.py: a listening socket beside the session socket

    @property
    def sock(self) -> socket.socket | None:
        """The socket itself (tests and `info` read it); every read and write goes through `transport`."""
        return self.transport.sock if self.transport is not None else None

    def reset_flags(self) -> None:
        self.connected = False
        self.peer: Endpoint | None = None
        self.local: Endpoint | None = None
        self.wr_shut = False
        self.rd_shut = False
        self.peer_eof = False
        self.lost: str | None = None  # errno name once the connection is gone
        self.connect_failed: str | None = None
        self.peer_name: str | None = None  # the host as given to `connect` (TLS checks it)
        self.tls = None  # core/tlsfacts.TlsFacts once a TLS handshake succeeded
        self.last_sender = None  # who the last `recvfrom` datagram came from: what `reply` answers
        self.bound_file = None  # (UnixName, identity) of a socket file `bind` made: removed on close

    @property
    def proto(self) -> str | None:
        if self.transport is None:
            return None
        if self.transport.family == UNIX:
            return UNIX_TYPE_NAMES.get(self.transport.type)
        return TYPE_NAMES.get(self.transport.type)

    @property
    def stream(self) -> bool:
        return self.transport is not None and self.transport.type == socket.SOCK_STREAM

    @property
    def family(self) -> str | None:
        return FAMILY_NAMES.get(self.transport.family) if self.transport else None

    def state(self) -> str:
        """The state in words, e.g. 'tcp connected, write side shut' (', listening' with a listener)."""
        listening = ", listening" if self.listener is not None else ""
        if self.transport is None:
            return ("closed" if self.was_closed else "no socket") + listening
        proto = self.proto
        if self.transport.family == UNIX:
            proto = f"unix {proto}"
        words = []
        if self.lost:
            words.append(f"connection lost ({self.lost})")
        elif self.connected:
            words.append("connected" if self.stream else "default peer set")
        elif self.local is not None:
            words.append("bound")
        else:
            words.append("created")
        if self.connect_failed:
            words.append(f"connect failed ({self.connect_failed})")
        if self.wr_shut and self.rd_shut:
            words.append("both sides shut")
        elif self.wr_shut:
            words.append("write side shut")
        elif self.rd_shut:
            words.append("read side shut")
        if self.tls is not None:
            words.append(self.tls.state_word())
        if self.peer_eof:
            words.append("peer closed")
        return f"{proto} " + ", ".join(words) + listening

    def _result(self) -> Result:
        return Result(state=self.state())

    def _fail(self, err: ErrorInfo, result: Result | None = None) -> Result:
        result = result or Result()
        result.error = err
        result.state = self.state()
        return result

    def _no_socket(self, op: str) -> Result:
        hint = "it was closed" if self.was_closed else self.gone or "none was created"
        return self._fail(failure("state", op, f"no socket ({hint}); use `socket` or `connect HOST PORT` first"))

    def _os_error(self, exc: BaseException, op: str, result: Result | None = None) -> Result:
        err = classify(exc, op)
        stream = self.connected and self.stream
        if stream and err.errno == errno.ENOTCONN and self.wr_shut and self.peer_eof and not self.lost:
            # Both sides sent their FIN: the connection ended normally, nothing was lost.
            (result := result or Result()).say("the connection has already closed normally (both sides shut down)")
        elif err.errno == errno.EPIPE and self.wr_shut and not self.lost and op in ("send", "sendto"):
            # Our own shutdown(1) makes send() fail with EPIPE: nothing was lost.
            (result := result or Result()).say("the write side is shut (shutdown 1): send() is refused "
                                               "with EPIPE; the connection itself is not lost")
        elif stream and err.errno in LOST and not self.lost:
            self.lost = err.errname  # the first cause; later errors are its consequences
        elif stream and err.kind == "tls" and self.tls is not None and not self.lost:
            self.lost = f"TLS {err.errname or 'error'}"  # OpenSSL's errors after the handshake are fatal
            (result := result or Result()).say("the TLS connection is dead after this error (a fatal alert "
                                               "ends it): `close` it")
        return self._fail(err, result)

    def _refresh_addresses(self) -> None:
        try:
            self.local = Endpoint.of(self.transport.sock.getsockname(), ephemeral=True)
        except OSError:
            pass
        if self.local is not None and self.local.port == 0:
            self.local = None

    def _discard_socket(self) -> None:
        if self.transport is not None:
            self.close_quietly()
            self.was_closed = False
        self.transport = None
        self.reset_flags()

    def end_connection(self) -> tuple | None:
        """`connect` on a connected stream socket (its connection open, lost, or ended by the
        peer): close it, so the connect makes a new one. A TCP or Unix stream socket connects
        only once, and CPython's connect() with a timeout swallows EISCONN, so reusing it would
        seem to work. The words for it (a Line), or None when there is no connection to end."""
        if self.transport is None or not (self.connected and self.stream):
            return None
        peer = self.peer
        how = f", lost earlier ({self.lost})" if self.lost else ", which the peer had closed" if self.peer_eof else ""
        totals = f" (sent {plural(self.sent)}, received {plural(self.received)})"
        removed = self.close_quietly()
        self.was_closed = False
        self.gone = "the previous connection was closed by `connect`"
        line = ("closed the previous connection to ", peer, how + totals) if peer is not None else \
            ("closed the previous connection" + how + totals,)
        return line + ((f"; {removed}",) if removed else ())

    def stop_listening_quietly(self) -> None:
        """Close the listener, if any (its socket file is removed): the end of a session."""
        if self.listener is not None:
            listener, self.listener = self.listener, None
            listener.close()

    def close_quietly(self) -> str | None:
        """Close the session socket; a socket file it was bound to is removed (what was done, in words)."""
        removed = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
            if self.bound_file is not None:
                from netrepl.base.unixpaths import remove_file

                removed = remove_file(*self.bound_file)
            self.reset_flags()
            self.was_closed = True
        return removed
