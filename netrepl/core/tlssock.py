"""The session socket after a TLS handshake: TLS records over the TCP socket, through memory BIOs.

`TlsSocket` drives an `ssl.SSLObject` over two `ssl.MemoryBIO`s itself
instead of handing the socket to `ssl.SSLSocket`, because a diagnosis needs
what SSLSocket hides: the bytes a plaintext peer answered the ClientHello
with, one deadline for the whole handshake, whether the stream ended with the
peer's close_notify or with a bare TCP close (a truncation), and a
`shutdown 1` that sends close_notify without dropping data that is still on
its way (SSL_shutdown discards application data once it waits for the peer's
close_notify; SSLSocket.shutdown() even forgets the TLS layer). It has the
socket methods the session's Transport calls; the rest (getsockname,
getpeername, fileno) go to the TCP socket.

ssl's exceptions become errors.TlsFailure (kind `tls` or `verify`) here.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time

from netrepl.core.errors import TLS_REASONS, VERIFY_CODES, TlsFailure

READ = 1 << 18  # bytes per recv from the TCP socket: large reads keep bulk transfers cheap
WRITE = 1 << 16  # plaintext bytes encrypted per send() call
SEEN = 512  # bytes of what the peer sent during the handshake kept to quote a plaintext answer


def _is_tls_record(data: bytes) -> bool:
    """Does `data` start like a TLS record (content type 20-24, version major 3)?"""
    return len(data) < 2 or (20 <= data[0] <= 24 and data[1] == 3)


def verify_failure(code: int | None, message: str) -> TlsFailure:
    return TlsFailure("verify", message, code, VERIFY_CODES.get(code), "SSLCertVerificationError")


def unchecked_failure(reason: str) -> TlsFailure:
    return TlsFailure("verify", f"the certificate could not be checked, so it is not trusted: {reason}", None,
                      None, "SSLCertVerificationError")


def alert_words(reason: str) -> str | None:
    """TLSV13_ALERT_CERTIFICATE_REQUIRED -> 'certificate required' (None: not an alert)."""
    if "_ALERT_" not in reason:
        return None
    return reason.split("_ALERT_", 1)[1].lower().replace("_", " ")


def reason_from_text(text: str) -> str | None:
    """OpenSSL 3 reasons Python 3.11 has no name for ("[SSL] tlsv1 alert no application protocol
    (_ssl.c:1006)", reason None) -> TLSV1_ALERT_NO_APPLICATION_PROTOCOL, from the text."""
    import re

    found = re.search(r"\[SSL(?:: [A-Z0-9_]+)?\] ((?:tlsv1|tlsv13|sslv3) alert [a-z0-9 ]+?) \(", text)
    return found.group(1).upper().replace(" ", "_") if found else None


def converted(exc: BaseException, seen: bytes = b"") -> BaseException:
    """An ssl exception -> TlsFailure with its kind; anything else as it is."""
    if isinstance(exc, TlsFailure) or not isinstance(exc, ssl.SSLError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return verify_failure(exc.verify_code, exc.verify_message or str(exc))
    reason = exc.reason or reason_from_text(str(exc)) or type(exc).__name__
    name = reason if reason in TLS_REASONS else None
    words = alert_words(reason)
    if seen and not _is_tls_record(seen):
        from netrepl.core.tlsfacts import quote

        message = f"the peer answered in plaintext, not TLS: {quote(seen)} (OpenSSL: {reason})"
    elif words:
        message = f"the peer refused the handshake with the TLS alert '{words}' ({reason})"
        if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
            message += ": it wants a client certificate (`set tls cert FILE [KEY]`)"
        elif reason == "TLSV1_ALERT_NO_APPLICATION_PROTOCOL":  # an ALPN mismatch
            message += ": it speaks none of the protocols offered with ALPN (`set tls alpn`)"
    elif reason == "UNEXPECTED_EOF_WHILE_READING" or isinstance(exc, ssl.SSLEOFError):
        message = "the peer closed the TCP connection in the middle of the TLS stream (no close_notify)"
    else:
        message = f"{reason}: {exc.strerror or exc}"
    return TlsFailure("tls", message, None, name, type(exc).__name__)


class TlsSocket:
    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO):
        self.sock = sock
        self.obj = obj
        self.incoming = incoming
        self.outgoing = outgoing
        self.raw = bytearray(READ)
        self.raw_view = memoryview(self.raw)
        self.plain = bytearray()  # decrypted before `shutdown 1`, not yet read
        self.ended: str | None = None  # "close_notify" or "truncated" once the stream ended
        self.wr_closed = False
        self.seen = bytearray()
        self.on_close = None
        self.read_record = getattr(obj, "_sslobj", obj).read  # (len, buffer): see recv_into

    def __getattr__(self, name):  # getsockname, getpeername, fileno, bind...: the TCP socket's
        return getattr(self.sock, name)

    @classmethod
    def start(cls, sock, context, server_name, session, timeout) -> "TlsSocket":
        """Wrap `sock` and handshake under ONE deadline (the session timeout). Raises TlsFailure,
        TimeoutError, OSError, KeyboardInterrupt; a verify failure carries the refused chain."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        # A ValueError here (a name IDNA refuses, "cannot start with a dot"): nothing was sent yet.
        obj = context.wrap_bio(incoming, outgoing, server_hostname=server_name, session=session)
        self = cls(sock, obj, incoming, outgoing)
        try:
            self.handshake(timeout, "the peer closed the connection without answering the ClientHello "
                                    "(is it TLS? a TLS 1.3-only or 1.2-only server?)")
            return self
        except TimeoutError:
            if self.seen and not _is_tls_record(self.seen):
                raise converted(ssl.SSLError(1, "no TLS answer"), bytes(self.seen)) from None
            raise TimeoutError(errno.ETIMEDOUT, f"no TLS handshake within {timeout:g} s"
                               + (" (the peer sent nothing)" if not self.seen else "")) from None
        except ssl.SSLError as exc:
            failure = converted(exc, bytes(self.seen))
            failure.chain = self.chain()
            raise failure from None
        finally:
            sock.settimeout(timeout)

    def handshake(self, timeout: float | None, closed_words: str) -> None:
        """Drive the handshake (either side) under ONE deadline: each wait for the peer gets what is
        left of `timeout`. Raises TimeoutError ("timed out"), ssl.SSLError, OSError, or TlsFailure
        with `closed_words` when the peer closes before sending a byte."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("timed out") from None
                    self.sock.settimeout(remaining)
                n = self.sock.recv_into(self.raw)
                if len(self.seen) < SEEN:
                    self.seen += self.raw_view[:min(n, SEEN - len(self.seen))]
                if n:
                    self.incoming.write(self.raw_view[:n])
                else:
                    self.incoming.write_eof()
                    if not self.seen:
                        raise TlsFailure("tls", closed_words, None, "UNEXPECTED_EOF_WHILE_READING",
                                         "SSLEOFError") from None

    def chain(self) -> list:
        """The certificates the peer sent (leaf first): _ssl.Certificate objects, or [] if unknown."""
        try:
            return list(self.obj._sslobj.get_unverified_chain() or [])  # public only from Python 3.13
        except (AttributeError, ValueError, ssl.SSLError):
            return []

    def _flush(self) -> None:
        while self.outgoing.pending:
            self.sock.sendall(self.outgoing.read())

    def _read(self, size: int, view) -> int:
        """One SSL_read into `view`; 0 at the end of the stream (self.ended says how)."""
        try:
            return self.obj.read(size, view)
        except ssl.SSLWantReadError:
            raise
        except ssl.SSLError as exc:
            return self._end(exc)

    def _end(self, exc: ssl.SSLError) -> int:
        """SSL_read raised: the end of the stream (0, self.ended says how), or a TLS error."""
        if isinstance(exc, ssl.SSLZeroReturnError):
            self.ended = "close_notify"
        elif isinstance(exc, ssl.SSLEOFError) or exc.reason == "UNEXPECTED_EOF_WHILE_READING":
            self.ended = "truncated"
        else:
            raise converted(exc) from None
        return 0

    def recv_into(self, buffer, size: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        size = min(size or len(view), len(view))
        got = 0
        if self.plain:
            got = min(size, len(self.plain))
            view[:got] = self.plain[:got]
            del self.plain[:got]
        # SSL_read gives at most one record (16 KiB): ~65,000 calls a GiB. SSLObject.read's body is
        # this one call, so it is made directly, without a Python frame per record (~8% of the CPU).
        read = self.read_record
        budget = deadline = None  # the caller's timeout is for this whole call (see _wait)
        try:
            while got < size and self.ended is None:
                try:
                    n = read(size - got, view[got:size])
                except ssl.SSLWantReadError:
                    if got:
                        break  # what is here now, as recv() gives it
                    self._flush()  # e.g. a TLS 1.3 key update answered
                    if deadline is None:
                        budget = self.sock.gettimeout()
                        deadline = float("inf") if not budget else time.monotonic() + budget
                    elif deadline != float("inf"):
                        self._wait(deadline)
                    n = self.sock.recv_into(self.raw)
                    if n:
                        self.incoming.write(self.raw_view[:n])
                    else:
                        self.incoming.write_eof()
                    continue
                except ssl.SSLError as exc:
                    n = self._end(exc)
                if n == 0:
                    if self.ended is None:  # read() returned 0 without raising: close_notify
                        self.ended = "close_notify"
                    break
                got += n
        finally:
            if budget:
                self.sock.settimeout(budget)
        if self.outgoing.pending:
            # A record read here made OpenSSL answer (a renegotiation's ClientHello, a KeyUpdate's reply)
            # and data came with it: send the answer now, or the peer waits for it until the next read.
            self._flush()
        return got

    def _wait(self, deadline: float) -> None:
        """Records that carry no application data (a KeyUpdate, a session ticket, an empty record)
        came in and the read goes on: only what is left of the caller's timeout, never a fresh one,
        or a peer sending one every half second would hold any read for ever."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(remaining)

    def recv(self, size: int) -> bytes:
        buffer = bytearray(size)
        n = self.recv_into(buffer, size)
        return bytes(buffer[:n])

    def send(self, data) -> int:
        if self.wr_closed:  # as TCP says it after shutdown(1)
            raise OSError(errno.EPIPE, "Broken pipe (close_notify was sent: shutdown 1)")
        chunk = memoryview(data)[:WRITE]
        try:
            n = self.obj.write(chunk)
        except ssl.SSLError as exc:
            raise converted(exc) from None
        self._flush()
        return n

    def recvfrom_into(self, buffer, size: int = 0, flags: int = 0):
        return self.recv_into(buffer, size), self.sock.getpeername()

    def sendto(self, data, address) -> int:
        raise OSError(errno.EISCONN, "Transport endpoint is already connected")

    def shutdown(self, how: int) -> None:
        if how in (socket.SHUT_WR, socket.SHUT_RDWR) and not self.wr_closed:
            self._drain()
            try:
                self.obj.unwrap()  # queues close_notify; waiting for the peer's one raises WantRead
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                raise converted(exc) from None
            self._flush()
            self.wr_closed = True
        self.sock.shutdown(how)

    def _drain(self) -> None:
        """Decrypt what is already here into self.plain: after close_notify is queued,
        SSL_shutdown would read (and drop) it."""
        view = memoryview(bytearray(1 << 14))
        while self.ended is None:
            try:
                n = self._read(len(view), view)
            except ssl.SSLWantReadError:
                return
            if not n:
                return
            self.plain += view[:n]

    def eof_words(self) -> str:
        if self.ended == "truncated":
            return ("without close_notify: the TCP connection just closed, so the data may be truncated "
                    "(a crash, or an attacker cutting it short)")
        return "with close_notify (a clean TLS close)"

    def settimeout(self, seconds) -> None:
        self.sock.settimeout(seconds)

    def close(self) -> None:
        if self.on_close is not None:
            try:
                self.on_close()
            except (ValueError, ssl.SSLError):
                pass
        if not self.wr_closed and self.ended != "truncated":
            try:  # a best-effort close_notify, without waiting: close must not block
                try:
                    self.obj.unwrap()
                except ssl.SSLError:
                    pass
                self.sock.setblocking(False)
                if self.outgoing.pending:
                    self.sock.send(self.outgoing.read())
            except OSError:
                pass
        self.sock.close()
