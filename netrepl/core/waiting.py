"""What waits unread on the session socket, looked at without consuming it.

The shell's toolbar and `info` ask `look(session)`: the bytes netrepl's own
buffer holds (read by `expect` or `recv line`, not yet shown), what the
kernel queues (FIONREAD), decrypted TLS bytes not yet read, and whether the
stream has ended or was reset, known the moment the kernel knows it. Nothing
is read from the stream: a later `recv` gets every byte. One exception, said
where it happens: a reset is reported by the kernel only once (a peek takes
the pending error), so `look` records it in the session as the loss it is,
and the `recv` after it says "lost earlier (ECONNRESET)".
"""

from __future__ import annotations

import errno
import select
import socket
import sys

from netrepl.core.sockstate import LOST, plural
from netrepl.base.fastdata import datatype

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_PEEK = socket.MSG_PEEK | _DONTWAIT
PUMP_LIMIT = 1 << 20  # TLS: decrypted ahead of `recv` at most this much (core/tlssock.py keeps it)
# tcp_info's first byte is the TCP state (include/net/tcp_states.h): in these the peer's FIN
# has arrived, so after what is queued the stream ends, even while bytes still wait before it.
_FIN_STATES = {6, 8, 9, 11}  # TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING


@datatype(frozen=True)
class Waiting:
    """What a read would get now. `kernel` is None when the kernel cannot say."""

    buffered: int = 0  # in netrepl's buffer, read earlier, not yet shown
    kernel: int | None = 0  # in the kernel's receive queue (TLS: still encrypted records)
    decrypted: int = 0  # TLS: plaintext decrypted, not yet read
    encrypted: bool = False  # the kernel bytes are TLS records, not what `recv` will show
    datagram: bool = False  # UDP/unix dgram: the kernel count is the next datagram's size
    end: str = ""  # "end of stream" or "reset (ECONNRESET)" once known
    clients: int = 0  # a listener: clients waiting for `accept` (at least one when readable)

    @property
    def ready(self) -> int:
        """Bytes a `recv` shows without the network: netrepl's buffer and decrypted TLS."""
        return self.buffered + self.decrypted

    @property
    def anything(self) -> bool:
        return bool(self.ready or self.kernel or self.end or self.clients)


def _queued(sock) -> int | None:
    """FIONREAD: bytes in the kernel's receive queue (a datagram socket: the next datagram's size)."""
    try:
        import fcntl
        from termios import FIONREAD
    except ImportError:  # pragma: no cover - no termios (Windows): the kernel count stays unknown
        return None
    try:
        buf = bytearray(4)
        fcntl.ioctl(sock.fileno(), FIONREAD, buf)
        return int.from_bytes(buf, sys.byteorder, signed=True)
    except (OSError, ValueError):  # closed, not a socket any more
        return None


def _readable(sock) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _fin_arrived(sock) -> bool:
    """Linux TCP: the peer's FIN is in (TCP_INFO state), whatever is still queued before it."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None or not sys.platform.startswith("linux"):
        return False
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, option, 8)[0] in _FIN_STATES
    except (OSError, IndexError):
        return False


def _lost_words(name: str) -> str:
    return f"reset ({name})" if name == "ECONNRESET" else f"lost ({name})"


def _peek_end(session, sock) -> str:
    """A readable stream with nothing queued: a peek says end of stream (b'') or the reset."""
    raw = socket.socket(fileno=sock.fileno())  # the same descriptor, no dup; detached below
    try:
        if raw.recv(1, _PEEK):
            return ""
        return "end of stream"
    except (BlockingIOError, InterruptedError):
        return ""
    except OSError as exc:
        if exc.errno in LOST:
            name = errno.errorcode.get(exc.errno, str(exc.errno))
            if not session.lost:
                session.lost = name  # the kernel said it once, to this peek: the session keeps it
            return _lost_words(name)
        return ""
    finally:
        raw.detach()


def look(session) -> Waiting:
    """What waits on the session socket (and its listener), never consuming a byte.
    An answer seen waiting tells the connection's timing when it had arrived at the latest."""
    waiting = _look(session)
    timing = session.transport.timing if session.transport is not None else None
    if timing is not None and (waiting.kernel or waiting.decrypted or waiting.end):
        timing.saw_answer()
    return waiting


def _look(session) -> Waiting:
    clients = 0
    if session.listener is not None and _readable(session.listener.sock):
        clients = 1
    transport = session.transport
    if transport is None:
        return Waiting(clients=clients)
    sock = transport.sock
    buffered = len(session.buffer)
    if not session.stream:
        kernel = _queued(sock) if _readable(sock) else 0
        return Waiting(buffered=buffered, kernel=kernel, datagram=True, clients=clients)
    tls = getattr(sock, "obj", None)  # core/tlssock.py TlsSocket: records over its TCP socket
    decrypted, encrypted, tls_end = 0, False, ""
    if tls is not None:
        encrypted = True
        if not (session.lost or session.rd_shut):
            _decrypt_arrived(session, sock)
        try:
            decrypted = len(sock.plain) + tls.pending()
        except (AttributeError, ValueError):
            decrypted = 0
        tcp = sock.sock
        held = sock.incoming.pending  # part of a record: not yet decryptable
        tls_end = "end of stream" if getattr(sock, "ended", None) else ""
    else:
        tcp, held = sock, 0
    if session.lost:
        return Waiting(buffered, 0, decrypted, encrypted, end=_lost_words(session.lost), clients=clients)
    if session.peer_eof or session.rd_shut or not session.connected:
        return Waiting(buffered, 0, decrypted, encrypted, clients=clients)
    kernel = _queued(tcp)
    end = tls_end
    if end:
        pass
    elif kernel == 0 and _readable(tcp):
        end = _peek_end(session, tcp)
    elif kernel and _fin_arrived(tcp):
        end = "end of stream"
    return Waiting(buffered, (kernel or 0) + held if kernel is not None else None, decrypted, encrypted,
                   end=end, clients=clients)


def _decrypt_arrived(session, sock) -> None:
    """TLS: the records the kernel holds are moved into the TLS layer and decrypted into its own
    buffer, which `recv` serves first: nothing a read returns changes, and what waits can be
    told from what is no data (TLS 1.3 session tickets, a key update), so the live watch never
    starts a `recv` that would block on them. Bounded: past PUMP_LIMIT bytes unread, the
    kernel keeps the rest (and the peer is slowed down by TCP as before)."""
    if getattr(sock, "ended", None) is not None:
        return
    # The same descriptor without the session's timeout (a socket with a timeout polls first,
    # up to that timeout, whatever the flags say): never a wait here. Detached below, not closed.
    tcp = socket.socket(fileno=sock.sock.fileno())
    try:
        while len(sock.plain) + sock.incoming.pending < PUMP_LIMIT:
            try:
                chunk = tcp.recv(1 << 16, _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in LOST and not session.lost:  # said once by the kernel: kept
                    session.lost = errno.errorcode.get(exc.errno, str(exc.errno))
                return
            if not chunk:
                sock.incoming.write_eof()
                break
            sock.incoming.write(chunk)
        _decrypt(sock)
    except Exception:  # a TLS error: the next `recv` meets it and reports it with its kind
        return
    finally:
        tcp.detach()


def _decrypt(sock) -> None:
    """Complete records -> sock.plain, as TlsSocket.recv_into reads them (a 0 is close_notify)."""
    import ssl  # (loaded already: the socket is a TLS one)

    view = memoryview(bytearray(1 << 14))
    while sock.ended is None and len(sock.plain) < PUMP_LIMIT:
        try:
            n = sock._read(len(view), view)
        except ssl.SSLWantReadError:
            return
        if not n:
            if sock.ended is None:
                sock.ended = "close_notify"
            return
        sock.plain += view[:n]


def listener_fields(session) -> list[tuple[str, object]]:
    """`info`'s row for a client at the listener not yet accepted (the kernel says readable,
    not how many: one or more)."""
    if session.listener is not None and _readable(session.listener.sock):
        return [("clients", "one or more waiting at the listener for `accept`")]
    return []


def info_fields(session) -> list[tuple[str, object]]:
    """`info`'s row for it: ('waiting', '63 bytes unread (...)') when anything waits."""
    w = look(session)
    if not (w.ready or w.kernel or w.end):
        return []
    parts = []
    if w.buffered:
        parts.append(f"{plural(w.buffered)} read, not yet consumed")
    if w.decrypted:
        parts.append(f"{plural(w.decrypted)} decrypted, not yet read")
    if w.kernel:
        kind = "of TLS records (encrypted)" if w.encrypted else ("in the next datagram" if w.datagram else "")
        parts.append(f"{plural(w.kernel)} {kind} in the kernel's queue".replace("  ", " "))
    if w.end:
        parts.append(("then " if parts else "") + w.end)
    return [("waiting", "; ".join(parts))]
