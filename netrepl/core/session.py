"""The session: one socket's operations, each returning a Result. Never prints.

Each public method is one socket operation (or a lookup) and reports what
happened and the state after it. Ctrl-C (KeyboardInterrupt) during a
blocking call is caught so the state stays accurate. The pieces live beside
it: sockstate.py (flags, state in words), transport.py (the seam every read
and write goes through), buffer.py (the one read cursor), connect.py
(resolve and connect), receive.py (recv*), expect.py, sink.py (recv all > PATH).
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable

from netrepl.core import connect as _connect
from netrepl.core import unix
from netrepl.core.amounts import Amounts
from netrepl.core.buffer import RecvBuffer
from netrepl.core.errors import classify, failure
from netrepl.core.expect import Expecting
from netrepl.core.receive import LINE_LIMIT, RECV_ALL_CHUNK, Receiving  # noqa: F401 (re-exported)
from netrepl.core.results import Endpoint, Result
from netrepl.core.sockstate import FAMILIES, SHUT_NAMES, TYPES, UNIX, UNIX_TYPES, SocketState, plural
from netrepl.core.transport import Transport

DEFAULT_TIMEOUT = 10.0


class Session(SocketState, Receiving, Amounts, Expecting):
    # A recording's tap (core/peerlog.py PeerLog.attach): called with the session for each new
    # socket, so a datagram socket that `sendto` makes is tapped before its first datagram.
    tap = None

    def __init__(self, timeout: float | None = DEFAULT_TIMEOUT):
        super().__init__()
        self.timeout = timeout
        self.eol = b"\r\n"
        self.display = "text"
        self.live = False  # `set live on`: the shell receives and shows what arrives while its prompt waits
        self.sent = 0
        self.received = 0
        self.buffer = RecvBuffer()  # the one read cursor: read, not yet consumed
        self.captures: dict[str, bytes] = {}  # the last expect's named groups (core/expect.py)
        self._tls_settings = None  # `set tls ...` (the property below)
        # Set by a front end (Executor.progress): `recv all` reports (bytes, seconds) at most ~10x/s.
        self.progress: Callable[[int, float], object] | None = None
        self.timing = None  # the last `connect`'s core/timing.py Timing (the `timing` command)
        # `recv http` (core/httpframe.py): the request lines sent and not yet answered, (method, the
        # stream offset consumed when it was sent), and the offset where its last response ended.
        self.http_requests: list[tuple[str, int]] = []
        self.http_end = 0
        self.proxy = None  # `set proxy`: a core/proxy.py Proxy that `connect` goes through
        self.proxy_protocol = None  # `set proxy-protocol`: the PROXY header sent after each connect
        self.via = None  # the proxy this socket's connection goes through, for `info`
        self.redact = False  # `set redact on`: record, --cast and export write secrets as variables

    @property
    def tls_settings(self):
        """`set tls ...`: core/tls.py TlsSettings, made (and TLS's module imported) when TLS is first used."""
        if self._tls_settings is None:
            from netrepl.core.tls import TlsSettings

            self._tls_settings = TlsSettings()
        return self._tls_settings

    # ----- creating and addressing ---------------------------------------------

    def create(self, family: str = "inet", kind: str = "tcp") -> Result:
        if self.transport is not None:
            return self._fail(failure("state", "socket",
                                      f"a socket is already open ({self.state()}); `close` it first"))
        try:
            self.adopt(socket.socket(FAMILIES[family], UNIX_TYPES[kind] if family == "unix" else TYPES[kind]))
        except OSError as exc:
            return self._fail(classify(exc, "socket"))
        return self._result().say(f"created {family} {kind} socket")

    def adopt(self, sock: socket.socket) -> None:
        """A new session socket: the timeout set, flags, counters and buffer fresh."""
        sock.settimeout(self.timeout)
        self.transport = Transport(sock)
        self.reset_flags()
        self.was_closed = False
        self.gone = None
        self.sent = self.received = 0
        self.buffer.clear()
        self.http_requests.clear()
        self.http_end = 0
        self.via = None
        if self.tap is not None:
            self.tap(self)

    def lookup(self, what: str | int, proto: str = "tcp") -> Result:
        try:
            if isinstance(what, int):
                name = socket.getservbyport(what, proto)
                return self._result().say(f"port {what}/{proto} is service {name!r}")
            port = socket.getservbyname(what, proto)
            return self._result().say(f"service {what!r}/{proto} is port {port}")
        except (OSError, OverflowError) as exc:
            shown = f"port {what}" if isinstance(what, int) else f"service {what!r}"
            return self._fail(failure("service", "lookup", f"couldn't find {shown} for {proto}: {exc}"))

    def connect(self, host: str, port: int | str) -> Result:
        return _connect.connect(self, host, port)

    def bind(self, host: str, port: int | str) -> Result:
        return _connect.bind(self, host, port)

    def close(self) -> Result:
        if self.transport is None:
            return self._no_socket("close")
        removed = self.close_quietly()
        result = self._result().say(f"closed (sent {plural(self.sent)}, received {plural(self.received)})")
        if removed:
            result.say(removed)
        return result

    def shutdown(self, how: int) -> Result:
        if self.transport is None:
            return self._no_socket("shutdown")
        try:
            self.transport.shutdown(how)
        except OSError as exc:
            result = self._os_error(exc, f"shutdown({how})")
            if self.lost:
                result.say("the connection was lost: data sent earlier may never have reached the peer")
            return result
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.wr_shut = True
        if how in (socket.SHUT_RD, socket.SHUT_RDWR):
            self.rd_shut = True
        return self._result().say(f"shut down the {SHUT_NAMES[how]} (shutdown({how}))")

    def set_timeout(self, seconds: float | None) -> Result:
        self.timeout = seconds
        if self.transport is not None:
            self.transport.settimeout(seconds)
        shown = "none (block until done; Ctrl-C interrupts)" if seconds is None else f"{seconds:g} s"
        return self._result().say(f"timeout set to {shown}")

    # ----- sending -------------------------------------------------------------

    def send(self, data: bytes) -> Result:
        if self.transport is None:
            return self._no_socket("send")
        done = 0
        view = memoryview(data)
        try:
            while done < len(data):  # sendall, counting what went out
                done += self.transport.send(view[done:])
        except (OSError, KeyboardInterrupt) as exc:
            self.sent += done
            result = Result().say(f"sent {done} of {plural(len(data))} before the error") if done else None
            result = self._os_error(exc, "send", result)
            if not self.connected and self.stream and result.error.kind == "io":
                result.say("the socket was never connected (`connect HOST PORT` first); "
                           "an unconnected TCP socket's send() fails this way")
            return result
        self.sent += done
        if b" HTTP/1." in data:  # a request line: `recv http` must know a HEAD's response has no body
            from netrepl.core.httpframe import note_sent

            note_sent(self, data)
        return self._result().say(f"sent {plural(done)}")

    def sendto(self, host: str, port: int | str, data: bytes) -> Result:
        result = self._result()
        if self.transport is None:
            created = self.create("inet6" if ":" in host else "inet", "udp")
            if not created.ok:
                return created
            result.lines += created.lines
        number, bad = _connect.service_port(self, port, "sendto")
        if bad:
            bad.lines[:0] = result.lines  # the socket made above stays: say so
            return bad
        try:
            address = _connect.resolve(self, host, number, self.transport.type)[0][4]
            count = self.transport.sendto(data, address)
        except (OSError, KeyboardInterrupt) as exc:
            return self._os_error(exc, "sendto", result)
        self.sent += count
        self._refresh_addresses()
        result.say(f"sent {plural(count)} to ", Endpoint.of(address), " from ", self.local or "?")
        result.state = self.state()
        return result

    # ----- info -----------------------------------------------------------------

    def info(self, options: bool = False) -> Result:
        result = self._result()
        if self.transport is None:
            result.fields = [("state", self.state()), ("timeout", self._timeout_words()),
                             ("sent", plural(self.sent)), ("received", plural(self.received))]
            result.fields += self._listener_fields()
            return result
        # What waits unread (netrepl's buffer, the kernel's queue, an end of stream), peeked, not
        # read; first, as a peek that meets a reset records it and the state must say so.
        from netrepl.core.waiting import info_fields  # (off the start-up path: only `info` and the shell)

        waiting = info_fields(self)
        result.state = self.state()
        sock = self.transport.sock
        local: object = self.local or "(not bound)"
        peer: object = self.peer or "(not connected)"
        if self.transport.family == UNIX:
            local, peer = unix.info_names(self)
        else:
            local, peer = self._inet_names(sock, local, peer)
        result.fields = [
            ("family", f"{self.family} ({socket.AddressFamily(self.transport.family).name})"),
            ("type", f"{self.proto} ({socket.SocketKind(self.transport.type).name})"),
            ("state", self.state()),
            ("local", local),
            ("peer", peer),
            *([("through", self.via)] if self.via else []),
            ("timeout", self._timeout_words()),
            ("sent", plural(self.sent)),
            ("received", plural(self.received)),
        ]
        if self.transport.family == UNIX:
            result.fields += unix.cred_fields(self)
        result.fields += waiting
        if self.tls is not None:  # the handshake's facts, as `tls` reported them
            result.fields += [("tls " + label if label != "time" else "tls handshake", value)
                              for label, value in self.tls.fields()]
        result.fields += self._listener_fields()
        from netrepl.core import sockopts  # its table of options: for `info` and `setsockopt` only

        if options or sockopts.was_set(self):  # getsockopt of each option `setsockopt` sets
            result.fields += sockopts.rows(sock)
        return result

    def _listener_fields(self) -> list:
        if self.listener is None:
            return []
        # Imported only with a listener open: listen/accept are off the start-up path of
        # most scripts (docs/bench.md).
        from netrepl.core.listener import info_fields
        from netrepl.core.waiting import listener_fields

        return info_fields(self) + listener_fields(self)

    def _inet_names(self, sock, local, peer):
        try:
            name = Endpoint.of(sock.getsockname(), ephemeral=self.local is None or self.local.ephemeral)
            local = name if name and name.port else f"not bound ({name.host if name else '?'} port 0)"
        except OSError as exc:
            local = f"getsockname failed: {exc.strerror}"
        try:
            peer = Endpoint.of(sock.getpeername(), ephemeral=bool(self.peer and self.peer.ephemeral)) or peer
        except OSError as exc:
            peer = f"none (getpeername: [{errno.errorcode.get(exc.errno, exc.errno)}] {exc.strerror})"
        return local, peer

    def _timeout_words(self) -> str:
        return "none (blocking)" if self.timeout is None else f"{self.timeout:g} s"

    def sleep(self, seconds: float) -> Result:
        started = time.monotonic()
        try:
            time.sleep(seconds)
        except KeyboardInterrupt as exc:
            result = Result().say(f"slept {time.monotonic() - started:.1f} of {seconds:g} s")
            return self._fail(classify(exc, "sleep"), result)
        return self._result().say(f"slept {seconds:g} s")
