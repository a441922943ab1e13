"""Built-in lab servers: small real TCP/UDP servers to practise against.

One `LabServer` is one listening socket served by an accept-loop thread (or,
for UDP, a receive-loop thread) plus one daemon thread per accepted
connection. `stop()` closes the listener and every open connection with a
normal close (FIN), the way a classic lab server dies on Ctrl+C: a client
that then writes gets an RST back, and its later `shutdown(SHUT_WR)` fails
with ENOTCONN.

The http kind speaks HTTP/1.0 (GET and HEAD, `Connection: close`, no Date
header so transcripts are byte-identical run to run). A request line with no
version (`GET /`, HTTP/0.9) is answered the 0.9 way: the body only, no
status line or headers.
"""

from __future__ import annotations

import errno as errno_mod
import mimetypes
import os
import re
import select
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote

KINDS: dict[str, str] = {
    "echo": "sends back everything it receives",
    "http": "a minimal HTTP/1.0 server for a tiny built-in site (or a directory)",
    "discard": "reads and drops everything (RFC 863)",
    "daytime": "sends the time as one line, then closes (RFC 867)",
    "chargen": "sends a rotating pattern of printable characters until stopped (RFC 864)",
    "close": "accepts, then closes at once (the client sees EOF)",
    "reset": "accepts, then aborts with an RST (the client sees ECONNRESET)",
    "silent": "accepts and never answers",
    "slow": "sends a short text one byte at a time, then closes",
}
UDP_KINDS: frozenset[str] = frozenset({"echo", "discard", "daytime", "chargen"})

SITE = Path(__file__).resolve().parent / "site"
BACKLOG = 128
HTTP_TIMEOUT = 10.0  # seconds to wait for a request head, so a mute client can't hold a thread forever
HTTP_MAX_HEAD = 64 * 1024
LINGER_TIMEOUT = 2.0  # seconds to drain what the client still sends after our answer (see _finish)
JOIN_TIMEOUT = 1.0
RESET_DELAY = 0.1  # seconds the reset kind waits before its RST (see _tcp_reset)

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
# RFC 864: the 95 printable ASCII characters; line n is 72 of them starting at
# offset n. One full rotation (95 lines) is built once and sent over and over.
_RING = bytes(range(32, 127))
_CHARGEN_CYCLE = b"".join((_RING * 2)[n:n + 72] + b"\r\n" for n in range(len(_RING)))
_CHARGEN_UDP_LINES = 6  # 6 * 74 = 444 bytes: within RFC 864's 512 for a datagram
_SLOW_TEXT = b"netrepl slow server: one byte at a time...\r\n" * 3
_HTTP_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                 408: "Request Timeout", 431: "Request Header Fields Too Large"}


class LabServerError(Exception):
    """The server could not start (a bind error); `errno` is the OS error code or None."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


def daytime() -> str:
    """The RFC 867 line, in UTC, without locale-dependent names."""
    t = time.gmtime()
    return (f"{_DAYS[t.tm_wday]}, {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d}, {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}-UTC\r\n")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_error(exc: OSError, host: str, port: int) -> LabServerError:
    name = errno_mod.errorcode.get(exc.errno or 0, "")
    tag = f" ({name})" if name else ""
    if exc.errno == errno_mod.EADDRINUSE:
        text = f"port {port} on {host} is already in use{tag}"
    elif exc.errno == errno_mod.EACCES:
        text = f"permission denied for port {port} on {host}{tag}"
    elif exc.errno == errno_mod.EADDRNOTAVAIL:
        text = f"address {host} is not an address of this machine{tag}"
    else:
        text = f"cannot listen on {_hostport(host, port)}: {exc.strerror or exc}{tag}"
    return LabServerError(text, exc.errno)


class LabServer:
    def __init__(self, kind: str, host: str = "127.0.0.1", port: int = 0, proto: str = "tcp",
                 root: str | None = None, slow_interval: float = 0.05):
        kind, proto = kind.lower(), proto.lower()
        if kind not in KINDS:
            raise ValueError(f"unknown server kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        if proto not in ("tcp", "udp"):
            raise ValueError(f"unknown protocol {proto!r}; use tcp or udp")
        if proto == "udp" and kind not in UDP_KINDS:
            udp = ", ".join(k for k in KINDS if k in UDP_KINDS)
            raise ValueError(f"{kind} is TCP-only; kinds that work over UDP: {udp}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0-65535")
        self.root = Path(root) if root is not None else SITE
        if kind == "http" and not self.root.is_dir():
            raise ValueError(f"http root {str(self.root)!r} is not a directory")
        self.kind, self.host, self.port, self.proto = kind, host, port, proto
        self.ephemeral = port == 0  # the OS picks the port (start() sets self.port)
        self.slow_interval = max(0.0, slow_interval)
        self._sock: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # self-pipe to interrupt select()
        self._loop: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._served = 0

    # ----- life cycle -------------------------------------------------------

    def start(self) -> "LabServer":
        """Bind and listen now (errors raise LabServerError here), then serve in the background."""
        if self._sock is not None or self._stopping.is_set():
            raise RuntimeError("a LabServer can only be started once")
        socktype = socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
        try:
            family, _, _, _, addr = socket.getaddrinfo(self.host, self.port, socket.AF_UNSPEC, socktype,
                                                       0, socket.AI_PASSIVE)[0]
        except socket.gaierror as exc:
            raise LabServerError(f"cannot resolve host {self.host!r}: {exc.strerror}") from exc
        sock = socket.socket(family, socktype)
        try:
            # TCP only: lets a server restart on its port while old connections sit in
            # TIME_WAIT. On UDP (Linux) it would let two servers share a port silently,
            # and on Windows it allows port stealing.
            if self.proto == "tcp" and os.name != "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            if self.proto == "tcp":
                sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise _bind_error(exc, self.host, self.port) from exc
        sock.setblocking(False)  # select() says readable, but accept() must not block if the client vanished
        self._sock, self.port = sock, sock.getsockname()[1]
        self._wake = socket.socketpair()
        loop = self._accept_loop if self.proto == "tcp" else self._udp_loop
        self._loop = threading.Thread(target=loop, name=f"netrepl-lab-{self.kind}-{self.port}", daemon=True)
        self._loop.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection (FIN); join the threads. Idempotent."""
        with self._lock:
            if self._stopping.is_set() or self._sock is None:
                self._stopping.set()
                return
            self._stopping.set()
            # Under the lock, so a handler can't close (and the OS reuse) the fd meanwhile.
            # shutdown() also wakes a handler blocked in recv()/sendall().
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            threads = list(self._threads)
        try:
            self._wake[1].send(b"x")
        except OSError:
            pass
        deadline = time.monotonic() + JOIN_TIMEOUT
        self._loop.join(JOIN_TIMEOUT)
        if self.proto == "tcp":
            self._close_queued()
        self._sock.close()
        for sock in self._wake:
            sock.close()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _close_queued(self) -> None:
        """Close connections still waiting in the backlog with a FIN too.

        Closing the listener would answer them with an RST; a client that
        connected just before `serve stop` must see the same lost connection
        as one that was accepted (so replayed scripts behave the same every run).
        """
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # BlockingIOError: the backlog is empty
                return
            conn.close()

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ----- state ------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def connections(self) -> int:
        """Accepted connections still open (always 0 for UDP)."""
        with self._lock:
            return len(self._conns)

    @property
    def served(self) -> int:
        """Connections accepted so far (for UDP: datagrams received)."""
        return self._served

    @property
    def running(self) -> bool:
        return self._sock is not None and not self._stopping.is_set()

    def describe(self) -> str:
        where = f"{self.kind} {self.proto} {_hostport(self.host, self.port)}"
        if not self.running:
            return f"{where} (stopped, {self._served} served)"
        if self.proto == "udp":
            return f"{where} ({self._served} served)"
        n = self.connections
        return f"{where} ({n} connection{'' if n == 1 else 's'}, {self._served} served)"

    def __repr__(self) -> str:
        return f"<LabServer {self.describe()}>"

    # ----- loops ------------------------------------------------------------

    def _wait_readable(self) -> bool:
        """Block until the socket is readable; False once stop() has been called."""
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._sock, self._wake[0]], [], [])
            except (OSError, ValueError):  # closed under us
                return False
            if self._sock in ready and not self._stopping.is_set():
                return True
        return False

    def _accept_loop(self) -> None:
        handler = getattr(self, "_tcp_" + self.kind)
        while self._wait_readable():
            try:
                conn, _ = self._sock.accept()
            except BlockingIOError:
                continue
            except OSError:  # e.g. EMFILE or ECONNABORTED: don't spin on it
                self._stopping.wait(0.05)
                continue
            conn.setblocking(True)
            with self._lock:
                if self._stopping.is_set():
                    conn.close()
                    return
                self._conns.add(conn)
                self._served += 1
                thread = threading.Thread(target=self._serve_conn, args=(conn, handler),
                                          name=f"netrepl-lab-{self.kind}-conn", daemon=True)
                self._threads.add(thread)
                thread.start()

    def _serve_conn(self, conn: socket.socket, handler) -> None:
        try:
            handler(conn)
        except OSError:  # resets, broken pipes, timeouts, shutdown by stop(): all normal here
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
                conn.close()

    def _udp_loop(self) -> None:
        while self._wait_readable():
            try:
                data, peer = self._sock.recvfrom(65535)
            except BlockingIOError:
                continue
            except OSError:  # e.g. an ICMP error reported on the socket
                continue
            self._served += 1
            if self.kind == "echo":
                reply = data
            elif self.kind == "daytime":
                reply = daytime().encode("ascii")
            elif self.kind == "chargen":
                reply = _CHARGEN_CYCLE[:74 * _CHARGEN_UDP_LINES]
            else:  # discard
                continue
            try:
                self._sock.sendto(reply, peer)
            except OSError:
                pass

    # ----- TCP kinds (each runs in its connection's thread) -----------------

    def _finish(self, conn: socket.socket) -> None:
        """Close after answering, but read what the client still sends first.

        Closing with unread data makes the kernel send an RST, which can make the
        client lose our answer; so send FIN and drain (briefly) until its EOF.
        """
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(LINGER_TIMEOUT)
        while conn.recv(4096):
            pass

    def _tcp_echo(self, conn: socket.socket) -> None:
        while data := conn.recv(65536):
            conn.sendall(data)

    def _tcp_discard(self, conn: socket.socket) -> None:
        while conn.recv(65536):
            pass

    _tcp_silent = _tcp_discard  # same over TCP: never a byte back, open until EOF or stop()

    def _tcp_daytime(self, conn: socket.socket) -> None:
        conn.sendall(daytime().encode("ascii"))
        self._finish(conn)

    def _tcp_chargen(self, conn: socket.socket) -> None:
        while not self._stopping.is_set():
            conn.sendall(_CHARGEN_CYCLE)

    def _tcp_close(self, conn: socket.socket) -> None:
        pass  # _serve_conn closes it

    def _tcp_reset(self, conn: socket.socket) -> None:
        # First let the client's connect() return (or the client speak): an RST that
        # arrives before connect() has seen the handshake makes connect itself fail.
        select.select([conn], [], [], RESET_DELAY)
        # Linger on with a zero timeout: close() then aborts with an RST instead of a FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _tcp_slow(self, conn: socket.socket) -> None:
        # Without TCP_NODELAY, Nagle would gather the bytes into fewer segments.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(_SLOW_TEXT)):
            if i and self._stopping.wait(self.slow_interval):
                return
            conn.sendall(_SLOW_TEXT[i:i + 1])
        self._finish(conn)

    def _tcp_http(self, conn: socket.socket) -> None:
        conn.settimeout(HTTP_TIMEOUT)
        try:
            head = _read_head(conn)
        except TimeoutError:
            head = 408
        if head == b"":
            return  # connected and closed without a request
        conn.sendall(self._http_response(head))
        self._finish(conn)

    # ----- HTTP ---------------------------------------------------------------

    def _http_response(self, head: bytes | int) -> bytes:
        """The whole response to a request head (or to an error status from reading it)."""
        method, bare = "GET", False
        if isinstance(head, int):
            status, path = head, None
        else:
            words = head.decode("latin-1").split("\n", 1)[0].split()
            if len(words) == 2:  # HTTP/0.9: `GET /`
                (method, target), bare = words, True
            elif len(words) == 3 and re.fullmatch(r"HTTP/\d\.\d", words[2]):
                method, target, _ = words
            else:
                method, target = "GET", ""
            status, path = self._http_lookup(method, target)
        headers = ""
        if status == 200:
            body = path.read_bytes()
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        else:
            text = f"{status} {_HTTP_REASONS[status]}"
            body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>\n".encode()
            ctype = "text/html"
            if status == 405:
                headers = "Allow: GET, HEAD\r\n"
        if method == "HEAD":
            body_out = b""
        else:
            body_out = body
        if bare:
            return body_out
        return (f"HTTP/1.0 {status} {_HTTP_REASONS[status]}\r\nServer: netrepl-lab\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{headers}"
                "Connection: close\r\n\r\n").encode("latin-1") + body_out

    def _http_lookup(self, method: str, target: str) -> tuple[int, Path | None]:
        """(status, file) for a request; never a file outside the root."""
        if not target.startswith("/"):
            return 400, None
        if method not in ("GET", "HEAD"):
            return 405, None
        path = unquote(target.split("?", 1)[0].split("#", 1)[0])  # decode %2e%2e before checking
        if "\0" in path or "\\" in path:
            return 400, None
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            return 400, None
        try:
            root = self.root.resolve()
            file = root.joinpath(*parts)
            if file.is_dir():
                file = file / "index.html"
            file = file.resolve()  # follows symlinks, so one pointing out of the root is caught too
            if file.is_relative_to(root) and file.is_file():
                return 200, file
        except (OSError, ValueError):  # e.g. a name too long
            pass
        return 404, None


def _read_head(conn: socket.socket) -> bytes | int:
    """Read a request head: up to a blank line, or just the request line if that
    is not `METHOD TARGET VERSION` (HTTP/0.9, or garbage to answer with 400 now).
    EOF ends the head early; returns 431 if it grows past HTTP_MAX_HEAD."""
    buf = b""
    while True:
        buf = buf.lstrip(b"\r\n")  # RFC 9112: ignore empty lines before the request line
        line_end = buf.find(b"\n")
        if line_end >= 0 and len(buf[:line_end].split()) != 3:
            return buf[:line_end + 1]
        ends = [i for i in (buf.find(b"\n\n"), buf.find(b"\n\r\n")) if i >= 0]
        if ends:
            return buf[:min(ends) + 1]
        if len(buf) > HTTP_MAX_HEAD:
            return 431
        chunk = conn.recv(4096)
        if not chunk:
            return buf
        buf += chunk


def serve_forever(kind: str, host: str, port: int, proto: str = "tcp", root: str | None = None,
                  out: TextIO | None = None) -> int:
    """`netrepl serve KIND`: serve in the foreground until Ctrl+C. Returns the exit status.

    `out` defaults to sys.stderr (looked up at call time, so redirection works).
    """
    out = out if out is not None else sys.stderr
    try:
        server = LabServer(kind, host, port, proto, root).start()
    except (LabServerError, ValueError) as exc:
        print(f"netrepl serve: {exc}", file=out, flush=True)
        return 1
    try:  # the announcement too: Ctrl+C right after it must not end in a traceback
        print(f"serving {server.kind} on {server.proto} {_hostport(server.host, server.port)} (Ctrl+C to stop)",
              file=out, flush=True)
        while True:
            time.sleep(1)  # unlike a bare Event.wait(), sleep is interruptible by Ctrl+C everywhere
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
