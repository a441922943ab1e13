"""The peer transcript of a recording: what each command moved, as `#<` / `#>` comment lines.

While `record` runs, the session's connected TCP transport is replaced by a
TappedTransport (the same socket: transport.py is the seam every read and
write goes through), so every byte read from and written to the peer is
seen, whichever command moved it: `recv all` streamed to the shell or to a
file, `expect`, `recv line` reading ahead. After each command the recorder
writes what moved during it, right after the command's own line:

    #> connect        the session's socket is connected: a new conversation
    #> TEXT           bytes we sent
    #> eof            we shut our write side (shutdown 1 or 2)
    #> close          we closed the socket
    #< TEXT           bytes the peer sent
    #< eof            the peer's end of stream (a read returned no data)
    #< reset          the connection was reset (ECONNRESET, EPIPE, ENOTCONN)
    #< more N bytes sha256 HEX   N more bytes moved but are not kept (over the bound);
                      HEX is the SHA-256 of all the bytes of that step, kept ones first
    #@ tcp ROLE LHOST LPORT RHOST RPORT   before `#> connect`: the connection's addresses
                      (ROLE `client` after connect, `server` after accept), for `export --pcap`
    #@ udp> LHOST LPORT RHOST RPORT SIZE   a datagram we sent (`udp<`: one we received),
    #d TEXT           its bytes (at most SIZE: the rest was over the bound)

TEXT is language/escapes.py encode_escapes (printable ASCII as is, `\\r \\n
\\t`, `\\xNN` for the rest); a line breaks after each newline and after at
most LINE_BYTES bytes, and consecutive lines of one direction after one
command are one step. Text that would read as a directive starts with an
escape (`\\x65of`). Every line is a comment, so a replay against the real
server runs the same commands; `serve replay` (lab/replay.py) reads them.

Bounded: a step keeps at most STEP_KEEP bytes and a recording TOTAL_KEEP in
all (then only the count and the hash go on), so recording a huge transfer
holds at most STEP_KEEP bytes in memory and writes a loadable script.
Datagrams on an inet socket are tapped from the socket's creation (a `sendto`
that makes its socket is seen) and written as `#@ udp` + `#d` lines, which
`serve replay` (a TCP peer) ignores and `export --pcap` turns into UDP frames.
"""

from __future__ import annotations

import errno
import socket

from netrepl.core.transport import Transport
from netrepl.language.escapes import encode_escapes
from netrepl.base.patterns import lazy

LINE_BYTES = 64  # bytes of peer data on one `#<` / `#>` line at most
STEP_KEEP = 2 << 20  # bytes kept of one step (a `send` of the longest argument, 1 MiB, fits whole)
TOTAL_KEEP = 8 << 20  # bytes kept of one recording: ~32 MiB of text at worst, within a script's 64 MiB
_INET = (socket.AF_INET, socket.AF_INET6)
_RESET = {errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED}
DIRECTIVE = lazy(r"(?:eof|reset|connect|close|more (\d{1,20}) bytes sha256 ([0-9a-f]{64}))\Z")


class _Data:
    """One step of data in one direction: the bytes kept, the count, the hash once over the bound."""

    __slots__ = ("way", "kept", "size", "hash")

    def __init__(self, way: str):
        self.way, self.kept, self.size, self.hash = way, bytearray(), 0, None


class PeerLog:
    """What moved since the last flush, as steps; the tap adds, the recorder flushes."""

    def __init__(self) -> None:
        self.steps: list = []  # _Data or (way, directive) tuples, in order
        self.budget = TOTAL_KEEP
        self.transport: TappedTransport | DatagramTap | None = None
        self.session = None  # whose new sockets are tapped (Session.tap)
        self.rd_shut = self.wr_shut = self.eof_seen = self.reset_seen = False  # of the tapped connection

    # ----- the tap ----------------------------------------------------------------

    def attach(self, session) -> None:
        """Tap the session's transport when it is a TCP connection not tapped yet (after each command)."""
        session.tap = self.attach  # Session.adopt calls it: a datagram socket is tapped from its birth
        self.session = session
        transport = session.transport
        if transport is None or getattr(transport, "log", None) is self:
            return
        if not session.stream and transport.family in _INET and not isinstance(transport, TappedTransport):
            tap = DatagramTap(transport.sock, self)
            tap.timing = transport.timing
            self.transport = session.transport = tap
            return
        if not (session.connected and session.stream) or session.lost:
            return
        self.transport = session.transport = TappedTransport(transport.sock, self)
        self.rd_shut, self.wr_shut, self.eof_seen = session.rd_shut, session.wr_shut, session.peer_eof
        self.reset_seen = False
        where = _addresses(transport.sock)
        if where is not None:  # what `export --pcap` writes the frames with (replay ignores `#@` lines)
            listener = session.listener
            accepted = listener is not None and getattr(listener.address, "port", None) == where[1]
            self.directive("@", f"tcp {'server' if accepted else 'client'} " + " ".join(map(str, where)))
        self.directive(">", "connect")

    def detach(self) -> None:
        """Recording stopped: no tap on the transport, none on the sockets to come."""
        if self.session is not None and self.session.tap == self.attach:
            self.session.tap = None
        self.session = None
        self.detach_transport(self.transport)

    def detach_transport(self, transport) -> None:
        """The tapped socket closed: the next one is tapped when it comes."""
        if transport is not None and transport is self.transport:
            self.transport.log = None
            self.transport = None

    def data(self, way: str, data) -> None:
        if not data:
            return
        step = self.steps[-1] if self.steps else None
        if not isinstance(step, _Data) or step.way != way:
            step = _Data(way)
            self.steps.append(step)
        size = len(data)
        room = min(STEP_KEEP - len(step.kept), self.budget)
        if step.hash is None and size > room:  # over the bound: from here on only the count and the hash
            import hashlib  # only for a step over the bound: OpenSSL's import stays off `netrepl -c` start-up

            step.hash = hashlib.sha256(step.kept)
        if room > 0:
            keep = data[:room]
            step.kept += keep
            self.budget -= len(keep)
        if step.hash is not None:
            step.hash.update(data)
        step.size += size

    def datagram(self, way: str, sock, address, data) -> None:
        """One datagram we sent (`>`) or received (`<`), with the addresses it moved between."""
        where = _addresses(sock, address)
        if where is None:
            return
        keep = bytes(data[:max(0, min(len(data), self.budget))])
        self.budget -= len(keep)
        self.steps.append(("@", f"udp{way} " + " ".join(map(str, where)) + f" {len(data)}"))
        self.steps.append(("d", keep))

    def directive(self, way: str, word: str) -> None:
        self.steps.append((way, word))

    def failed(self, exc: OSError) -> None:
        if exc.errno not in _RESET or self.reset_seen:
            return
        if exc.errno == errno.ENOTCONN and self.wr_shut and self.eof_seen:
            return  # both sides sent their FIN: a normal end, not a reset
        self.reset_seen = True
        self.directive("<", "reset")

    # ----- the lines ----------------------------------------------------------------

    def lines(self, secrets=None) -> list[str]:
        """The lines for what moved since the last call (and forget it). `secrets` (`set redact
        on`: a core/redact.py Secrets): each secret the client sent written as ${secretN}."""
        out: list[str] = []
        for step in self.steps:
            if isinstance(step, tuple) and step[0] == "d":  # a datagram's bytes
                out += [f"#d {text}" for text in data_lines(step[1])]
                continue
            if isinstance(step, tuple):
                out.append(f"#{step[0]} {step[1]}")
                continue
            spans = secrets.spans(bytes(step.kept)) if secrets is not None and step.way == ">" else []
            if spans:
                from netrepl.core.redact import lines_of

                out += [f"#> \\x{ord(t[0]):02x}{t[1:]}" if DIRECTIVE.match(t) else f"#> {t}"
                        for t in lines_of(bytes(step.kept), spans, LINE_BYTES)]
            else:
                out += [f"#{step.way} {text}" for text in data_lines(bytes(step.kept))]
            if step.hash is not None:
                out.append(f"#{step.way} more {step.size - len(step.kept)} bytes sha256 {step.hash.hexdigest()}")
        self.steps.clear()
        return out


def data_lines(data: bytes) -> list[str]:
    """Bytes -> the texts of their lines: a break after each newline and every LINE_BYTES bytes."""
    texts = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start, start + LINE_BYTES)
        end = start + LINE_BYTES if end < 0 else end + 1
        text = encode_escapes(data[start:end])
        if DIRECTIVE.match(text):  # data that reads as a directive: its first letter escaped
            text = f"\\x{ord(text[0]):02x}{text[1:]}"
        texts.append(text)
        start = end
    return texts


class TappedTransport(Transport):
    """The session's transport, telling `log` what each read and write moved (None: recording stopped)."""

    __slots__ = ("log",)

    def __init__(self, sock: socket.socket, log: PeerLog | None):
        super().__init__(sock)
        self.log = log

    def recv(self, size: int) -> bytes:
        try:
            data = self.sock.recv(size)
        except OSError as exc:
            self._failed(exc)
            raise
        self._got(data)
        return data

    def recv_into(self, buffer, size: int = 0, flags: int = 0) -> int:
        try:
            n = self.sock.recv_into(buffer, size, flags)
        except OSError as exc:
            self._failed(exc)
            raise
        self._got(memoryview(buffer)[:n])
        return n

    def send(self, data) -> int:
        try:
            n = self.sock.send(data)
        except OSError as exc:
            self._failed(exc)
            raise
        if self.log is not None:
            self.log.data(">", memoryview(data)[:n])
        return n

    def shutdown(self, how: int) -> None:
        try:
            self.sock.shutdown(how)
        except OSError as exc:
            self._failed(exc)
            raise
        log = self.log
        if log is not None:
            if how in (socket.SHUT_RD, socket.SHUT_RDWR):
                log.rd_shut = True
            if how in (socket.SHUT_WR, socket.SHUT_RDWR) and not log.wr_shut:
                log.wr_shut = True
                log.directive(">", "eof")

    def close(self) -> None:
        self.sock.close()
        if self.log is not None:
            self.log.directive(">", "close")
            self.log.detach_transport(self)

    def _got(self, data) -> None:
        log = self.log
        if log is None:
            return
        if data:
            log.data("<", data)
        elif not log.rd_shut and not log.eof_seen:  # no data on a stream: the peer's FIN (once)
            log.eof_seen = True
            log.directive("<", "eof")

    def _failed(self, exc: OSError) -> None:
        if self.log is not None:
            self.log.failed(exc)


def _addresses(sock, peer=None) -> tuple | None:
    """(local host, local port, peer host, peer port) of an inet socket; None when unknown."""
    try:
        local = sock.getsockname()
        peer = peer if peer is not None else sock.getpeername()
    except OSError:
        return None
    if not (isinstance(local, tuple) and isinstance(peer, tuple)):
        return None
    return local[0], local[1], peer[0], peer[1]


class DatagramTap(Transport):
    """A datagram socket's transport, telling `log` each datagram with its addresses."""

    __slots__ = ("log",)

    def __init__(self, sock: socket.socket, log: PeerLog | None):
        super().__init__(sock)
        self.log = log

    def recvfrom_into(self, buffer, size: int = 0, flags: int = 0):
        n, address = super().recvfrom_into(buffer, size, flags)
        if self.log is not None:
            self.log.datagram("<", self.sock, address, memoryview(buffer)[:min(n, size or len(buffer))])
        return n, address

    def recv_into(self, buffer, size: int = 0, flags: int = 0) -> int:
        n = super().recv_into(buffer, size, flags)
        if self.log is not None:
            self.log.datagram("<", self.sock, None, memoryview(buffer)[:min(n, size or len(buffer))])
        return n

    def send(self, data) -> int:
        n = super().send(data)
        if self.log is not None:
            self.log.datagram(">", self.sock, None, memoryview(data)[:n])
        return n

    def sendto(self, data, address) -> int:
        n = super().sendto(data, address)
        if self.log is not None:
            self.log.datagram(">", self.sock, address, memoryview(data)[:n])
        return n

    def close(self) -> None:
        self.sock.close()
        if self.log is not None:
            self.log.detach_transport(self)
