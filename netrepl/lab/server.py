"""Lab server lifecycle and concurrency: bind, the accept (or receive) loop,
one thread per connection up to a cap, and a stop that closes with FIN.

What a kind *does* lives elsewhere (kinds.py names it, handlers.py and
http.py do it); this module only runs handlers, the way CPython's
socketserver keeps the server, its concurrency and the request handler apart.

One `LabServer` is one listening socket served by an accept-loop thread (or,
for UDP, a receive-loop thread) plus one daemon thread per accepted
connection. `stop()` closes the listener and every open connection with a
normal close (FIN), the way a classic lab server dies on Ctrl+C: a client
that then writes gets an RST back, and its later `shutdown(SHUT_WR)` fails
with ENOTCONN. Connections still queued in the backlog get a FIN too.

Hostile clients: at most `max_connections` (kinds.MAX_CONNECTIONS, 64)
connections are open at once; one over the cap is not given a thread: the
kind's `busy` hook (http: a 503) runs without blocking, then it is closed at
once, and the server goes on serving the others. Every connection starts
with an idle timeout (kinds.IDLE_TIMEOUT, 60 s per recv/send) so a mute or
non-reading client cannot hold its thread for ever; http adds an overall
deadline for the request head (http.py).

Extension seam (for TLS, Unix-socket and replay servers, as new modules):
  - `handler=`: any callable(conn, server) (UDP: (data, server) -> reply)
    instead of the kind's own, e.g. a replay server running a recorded script
    (the kind's `busy` hook is then not used: over the cap is a plain close);
  - `wrap=`: callable(conn) -> conn, run in the connection's thread before the
    handler (under the idle timeout), e.g. ssl_context.wrap_socket(conn,
    server_side=True) for a TLS kind; the wrapped socket replaces the raw one
    for stop();
  - `bind()`: makes the listening socket; a subclass overrides it (and
    `where()`) to bind an AF_UNIX path instead of a host and port.
"""

from __future__ import annotations

import errno as errno_mod
import importlib
import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from netrepl.core.wildcard import implicit_wildcard
from netrepl.lab import kinds

BACKLOG = 128
JOIN_TIMEOUT = 1.0
MAX_CONNECTIONS = kinds.MAX_CONNECTIONS
IDLE_TIMEOUT = kinds.IDLE_TIMEOUT


class LabServerError(Exception):
    """The server could not start (a bind error); `errno` is the OS error code or None."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


def resolve(ref: str) -> Callable:
    """The function a kinds.py "module:function" reference names."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def handler_for(kind: str, proto: str) -> Callable:
    return resolve(kinds.handler_ref(kind, proto))


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
                 root: str | None = None, slow_interval: float = 0.05, *,
                 handler: Callable | None = None, wrap: Callable | None = None,
                 max_connections: int = MAX_CONNECTIONS, idle_timeout: float | None = IDLE_TIMEOUT):
        kind, proto = kind.lower(), proto.lower()
        problem = kinds.check_kind(kind, proto)
        if problem:
            raise ValueError(problem)
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0-65535")
        if root is not None and not Path(root).is_dir():
            raise ValueError(f"http root {str(root)!r} is not a directory")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.kind, self.host, self.port, self.proto = kind, host, port, proto
        self.root = Path(root) if root is not None else None  # None: the kind's own default (http: the site)
        self.ephemeral = port == 0  # the OS picks the port (start() sets self.port)
        self.slow_interval = max(0.0, slow_interval)
        self.handler = handler or handler_for(kind, proto)
        busy = kinds.BY_NAME[kind].busy
        self.busy: Callable | None = resolve(busy) if busy and handler is None else None
        wrap_ref = kinds.BY_NAME[kind].wrap  # a TLS kind's own (tlskinds.wrapper) unless one is given
        self.wrap = wrap if wrap is not None or wrap_ref is None else resolve(wrap_ref)(self)
        self.max_connections, self.idle_timeout = max_connections, idle_timeout
        self.stopping = threading.Event()  # handlers poll it (chargen, slow)
        self._sock: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # self-pipe to interrupt select()
        self._loop: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._current: dict[threading.Thread, socket.socket] = {}  # a connection's socket since swap()
        self._threads: set[threading.Thread] = set()
        self._served = 0
        self.refused = 0  # connections closed at once because the cap was reached
        self.peak_connections = 0

    # ----- life cycle -------------------------------------------------------

    def bind(self) -> socket.socket:
        """The bound (and, for TCP, listening) socket; sets self.port. Raises LabServerError."""
        socktype = socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
        refused = implicit_wildcard(self.host)
        if refused:
            raise LabServerError(f"host {refused}")
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
        self.port = sock.getsockname()[1]
        return sock

    def start(self) -> "LabServer":
        """Bind and listen now (errors raise LabServerError here), then serve in the background."""
        if self._sock is not None or self.stopping.is_set():
            raise RuntimeError("a LabServer can only be started once")
        sock = self.bind()
        sock.setblocking(False)  # select() says readable, but accept() must not block if the client vanished
        self._sock = sock
        self._wake = socket.socketpair()
        loop = self._accept_loop if self.proto == "tcp" else self._udp_loop
        self._loop = threading.Thread(target=loop, name=f"netrepl-lab-{self.kind}-{self.port}", daemon=True)
        self._loop.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection (FIN); join the threads. Idempotent."""
        with self._lock:
            if self.stopping.is_set() or self._sock is None:
                self.stopping.set()
                return
            self.stopping.set()
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
        """Connections accepted so far, refused ones included (for UDP: datagrams received)."""
        return self._served

    @property
    def running(self) -> bool:
        return self._sock is not None and not self.stopping.is_set()

    def where(self) -> str:
        return _hostport(self.host, self.port)

    def news(self) -> list[str]:
        """Messages for the user since the last call, shown with the next command (replay: mismatches)."""
        return []

    def describe(self) -> str:
        where = f"{self.kind} {self.proto} {self.where()}"
        refused = f", {self.refused} refused over the cap of {self.max_connections}" if self.refused else ""
        if not self.running:
            return f"{where} (stopped, {self._served} served{refused})"
        if self.proto == "udp":
            return f"{where} ({self._served} served)"
        n = self.connections
        return f"{where} ({n} connection{'' if n == 1 else 's'}, {self._served} served{refused})"

    def __repr__(self) -> str:
        return f"<LabServer {self.describe()}>"

    # ----- loops ------------------------------------------------------------

    def _wait_readable(self) -> bool:
        """Block until the socket is readable; False once stop() has been called."""
        while not self.stopping.is_set():
            try:
                ready, _, _ = select.select([self._sock, self._wake[0]], [], [])
            except (OSError, ValueError):  # closed under us
                return False
            if self._sock in ready and not self.stopping.is_set():
                return True
        return False

    def _accept_loop(self) -> None:
        while self._wait_readable():
            try:
                conn, _ = self._sock.accept()
            except BlockingIOError:
                continue
            except OSError:  # e.g. EMFILE or ECONNABORTED: don't spin on it
                self.stopping.wait(0.05)
                continue
            conn.setblocking(True)
            with self._lock:
                if self.stopping.is_set():
                    conn.close()
                    return
                self._served += 1
                over = len(self._conns) >= self.max_connections
                if over:
                    self.refused += 1
                else:
                    self._conns.add(conn)
                    self.peak_connections = max(self.peak_connections, len(self._conns))
                    thread = threading.Thread(target=self._serve_conn, args=(conn,),
                                              name=f"netrepl-lab-{self.kind}-conn", daemon=True)
                    self._threads.add(thread)
                    thread.start()
            if over:
                self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        """Over the cap: no thread; the kind's busy hook (must not block), then close."""
        try:
            if self.busy is not None:
                self.busy(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _serve_conn(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(self.idle_timeout)
            if self.wrap is not None and not self.swap(conn, self.wrap(conn)):
                return
            self.handler(self._current.get(threading.current_thread(), conn), self)
        except OSError:  # resets, broken pipes, timeouts, shutdown by stop(): all normal here
            pass
        finally:
            with self._lock:
                conn = self._current.pop(threading.current_thread(), conn)  # the TLS layer, if any
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
                conn.close()

    def swap(self, old: socket.socket, new: socket.socket) -> bool:
        """A connection's socket is now `new` (the wrap= layer, or TLS after a STARTTLS): stop() must
        shut down what the handler really uses. False if the server is stopping (the handler returns)."""
        with self._lock:
            self._conns.discard(old)
            self._conns.add(new)
            self._current[threading.current_thread()] = new  # closed at the end instead of `old`
            return not self.stopping.is_set()

    def _udp_loop(self) -> None:
        while self._wait_readable():
            try:
                data, peer = self._sock.recvfrom(65535)
            except BlockingIOError:
                continue
            except OSError:  # e.g. an ICMP error reported on the socket
                continue
            self._served += 1
            reply = self.handler(data, self)
            if reply is None:
                continue
            try:
                self._sock.sendto(reply, peer)
            except OSError:
                pass
