"""`relay [LHOST] LPORT HOST PORT`: stand between real clients and a real server.

Each accepted client (the lab server's cap and accept loop: lab/server.py) gets
its own connection to HOST PORT and two copy loops, one per direction, each in
constant memory (one 64 KiB buffer, or with `quiet` a kernel pipe: os.splice).
The ends stay faithful:

  - a FIN one way is passed on as shutdown(SHUT_WR) while the other way keeps
    flowing (a half-closed connection stays half-closed);
  - a reset one way is passed on as a reset (SO_LINGER 0, then close);
  - a refused or unreachable target closes the client (FIN) and says why.

Nothing here prints or records: each thing that happens is a RelayEvent given
to every listener (`on_event`), from the connection's threads. The front ends
render them (render/relayview.py); a recording (lab/relayrecord.py) writes them.
A listener must not block: it runs on the copy path.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
import threading
import time
from typing import Callable

from netrepl.lab.server import LabServer

CHUNK = 65536  # bytes one recv takes: the copy's whole buffer
CONNECT_TIMEOUT = 10.0  # seconds a connection to the target may take before the client is closed
PIPE_SIZE = 1 << 20  # the splice pipe's capacity (quiet mode)


class RelayEvent:
    """One thing that happened on a relayed connection.

    kind: open (a client came: `peer`), connected (the target took it), refused (the target
    could not be reached: `errno`, `message`), data (`way`, `data`, `total` bytes that way so
    far), eof (`way`'s sender closed its side), reset (`way`'s sender reset), close (the
    connection is over: `sent`, `received`, `seconds`), stopped (the relay stopped).
    way: `>` client to server, `<` server to client. at: seconds since the relay started.
    """

    __slots__ = ("kind", "conn", "at", "way", "data", "total", "peer", "errno", "message", "sent", "received",
                 "seconds")

    def __init__(self, kind: str, conn: int, at: float, way: str = "", data: bytes = b"", total: int = 0,
                 peer: tuple | None = None, errno: int | None = None, message: str = "",
                 sent: int = 0, received: int = 0, seconds: float = 0.0):
        self.kind, self.conn, self.at, self.way, self.data, self.total = kind, conn, at, way, data, total
        self.peer, self.errno, self.message = peer, errno, message
        self.sent, self.received, self.seconds = sent, received, seconds

    def __repr__(self) -> str:
        return f"RelayEvent({self.kind}, #{self.conn}, {self.way}{len(self.data)}, {self.message!r})"


def _abort(sock: socket.socket) -> None:
    """Make the coming close() an RST: linger on, with a zero timeout."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:  # already reset or closed: nothing left to pass on
        pass


def target_failure(exc: OSError) -> str:
    """Why the target could not be reached, in a line: the errno named."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the target: {exc.strerror}"
    if isinstance(exc, TimeoutError) and exc.errno is None:
        return f"the target did not answer within {CONNECT_TIMEOUT:g} s (ETIMEDOUT)"
    name = errno_mod.errorcode.get(exc.errno or 0)
    return f"{exc.strerror or exc}" + (f" ({name})" if name else "")


class Relay(LabServer):
    """A listener on LHOST LPORT whose every client is relayed to HOST PORT."""

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0, *,
                 quiet: bool = False, on_event: Callable[[RelayEvent], object] | None = None,
                 max_connections: int | None = None):
        if not 1 <= target_port <= 65535:
            raise ValueError(f"target port {target_port} is out of range 1-65535")
        # The lab server's bind, cap, accept loop and stop; "echo" only passes its kind check:
        # the handler is ours, and echo brings no busy hook or TLS wrap with a handler given.
        extra = {} if max_connections is None else {"max_connections": max_connections}
        super().__init__("echo", host, port, "tcp", handler=self._relay, idle_timeout=None, **extra)
        self.kind = "relay"
        self.target = (target_host, target_port)
        self.quiet = quiet
        self.listeners: list[Callable[[RelayEvent], object]] = [on_event] if on_event else []
        self.started = time.monotonic()
        self.numbered = 0  # connections numbered so far (#1, #2, ...)
        self.sent = self.received = 0  # bytes client->server and server->client, all connections
        self.failed = 0  # clients whose target could not be reached
        self._upstreams: set[socket.socket] = set()
        self.recording = None  # a RelayRecording (lab/relayrecord.py), closed by stop()
        self.halting = False  # stop() has begun
        self.trouble: str | None = None  # why a listener was dropped, for the listing
        self._count = threading.Lock()

    # ----- what the front ends see ---------------------------------------------------------

    def record(self, recording) -> None:
        """Write what passes to `recording` (a listener with close()), finished when the relay stops."""
        self.recording = recording
        self.listeners.append(recording)

    def emit(self, kind: str, conn: int, **fields) -> None:
        event = RelayEvent(kind, conn, time.monotonic() - self.started, **fields)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as exc:  # a broken listener (a full disk) must not break the copy: it goes
                self.listeners.remove(listener)
                self.trouble = f"stopped telling {getattr(listener, '__name__', type(listener).__name__)}: " \
                               f"{getattr(exc, 'strerror', None) or exc}"

    def where_to(self) -> str:
        host, port = self.target
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def status(self) -> str:
        state = "running" if self.running else "stopped"
        n = self.connections
        return (f"{state}, {n} connection{'' if n == 1 else 's'}, {self.numbered} relayed, {self.sent} bytes >, "
                f"{self.received} bytes <" + (f", {self.failed} target failures" if self.failed else "")
                + (f", {self.refused} refused over the cap of {self.max_connections}" if self.refused else "")
                + (f"; {self.trouble}" if self.trouble else ""))

    def describe(self) -> str:
        return f"relay {self.where()} -> {self.where_to()} ({self.status()})"

    def serve_line(self, port: int) -> str:
        """What `record` writes for a relay started before it."""
        host, tport = self.target
        return f"relay {self.host} {port} {host} {tport}"

    def stop(self) -> None:
        with self._lock:  # with the handlers' check: no target connection is made past this snapshot
            self.halting = True  # first: the ends the stop closes are not a peer's FIN or reset to pass on
            ups = list(self._upstreams)
        for up in ups:  # wakes the copy loops reading from the target (the client side: LabServer.stop)
            _shutdown(up, socket.SHUT_RDWR)
        was_running = self.running
        super().stop()
        if was_running:
            self.emit("stopped", 0)
        if self.recording is not None:  # after the connections ended: each one's block is written
            self.recording.close()

    # ----- one connection ------------------------------------------------------------------

    def _relay(self, client: socket.socket, server) -> None:
        with self._count:
            self.numbered += 1
            n = self.numbered
        try:
            peer = client.getpeername()
        except OSError:
            peer = None
        self.emit("open", n, peer=peer)
        begun = time.monotonic()
        try:
            up = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            with self._count:
                self.failed += 1
            self.emit("refused", n, errno=exc.errno, message=target_failure(exc))
            return  # LabServer closes the client (FIN)
        up.settimeout(None)  # the relay's waits end when either side does, or at stop()
        client.settimeout(None)
        with self._lock:
            if self.halting:
                up.close()
                return
            self._upstreams.add(up)
        self.emit("connected", n, peer=up.getsockname())
        state = _Connection(n)
        back = threading.Thread(target=self._copy, args=(up, client, "<", state),
                                name=f"netrepl-relay-{n}-back", daemon=True)
        back.start()
        self._copy(client, up, ">", state)
        back.join()
        with self._lock:
            self._upstreams.discard(up)
        up.close()  # with SO_LINGER 0 set when the client reset: an RST
        self.emit("close", n, sent=state.totals[">"], received=state.totals["<"],
                  seconds=time.monotonic() - begun, message="reset" if state.aborted else "")

    def _copy(self, src: socket.socket, dst: socket.socket, way: str, state: "_Connection") -> None:
        """src -> dst until src ends (FIN: passed on as SHUT_WR) or either resets (passed on as RST)."""
        try:
            if self.quiet and hasattr(os, "splice"):
                self._splice(src, dst, way, state)
            else:
                self._pump(src, dst, way, state)
        except OSError as exc:
            if self.halting or state.aborted:
                return
            # Who failed: a read error is src's reset; a write error is dst's.
            failed_src = getattr(exc, "relay_read", True)
            bad, other = (src, dst) if failed_src else (dst, src)
            state.aborted = True
            self.emit("reset", state.n, way=way if failed_src else _other(way),
                      message=target_failure(exc), errno=exc.errno)
            _abort(other)  # its close (the client: LabServer's, the target: ours) sends the RST
            _shutdown(bad, socket.SHUT_RDWR)
            _shutdown(other, socket.SHUT_RD)  # wakes the other loop, reading from it (no bytes go out)
            return
        if state.aborted or self.halting:
            return
        self.emit("eof", state.n, way=way, total=state.totals[way])
        _shutdown(dst, socket.SHUT_WR)

    def _pump(self, src: socket.socket, dst: socket.socket, way: str, state: "_Connection") -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            try:
                n = src.recv_into(buffer)
            except OSError as exc:
                exc.relay_read = True
                raise
            if n == 0:
                return
            if state.aborted:
                return
            chunk = bytes(view[:n])
            self._moved(way, n, state)
            if self.listeners:  # before the bytes go on: a reply to them cannot be told first
                self.emit("data", state.n, way=way, data=chunk, total=state.totals[way])
            try:
                dst.sendall(chunk)
            except OSError as exc:
                exc.relay_read = False
                raise

    def _splice(self, src: socket.socket, dst: socket.socket, way: str, state: "_Connection") -> None:
        """As _pump, in the kernel: socket -> pipe -> socket, no byte copied into Python."""
        rd, wr = os.pipe()
        try:
            try:
                import fcntl

                fcntl.fcntl(wr, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
            except OSError:  # a lower /proc/sys/fs/pipe-max-size: the default pipe works too
                pass
            src_fd, dst_fd = src.fileno(), dst.fileno()
            while True:
                try:
                    n = os.splice(src_fd, wr, PIPE_SIZE, flags=getattr(os, "SPLICE_F_MOVE", 1))
                except OSError as exc:
                    exc.relay_read = True
                    raise
                if n == 0 or state.aborted:
                    return
                left = n
                while left:
                    try:
                        left -= os.splice(rd, dst_fd, left, flags=getattr(os, "SPLICE_F_MOVE", 1))
                    except OSError as exc:
                        exc.relay_read = False
                        raise
                self._moved(way, n, state)
        finally:
            os.close(rd)
            os.close(wr)

    def _moved(self, way: str, n: int, state: "_Connection") -> None:
        state.totals[way] += n
        if way == ">":
            self.sent += n
        else:
            self.received += n


def _other(way: str) -> str:
    return "<" if way == ">" else ">"


class _Connection:
    """What both copy loops of one connection share."""

    __slots__ = ("n", "aborted", "totals")

    def __init__(self, n: int):
        self.n = n
        self.aborted = False  # a reset was passed on: the other loop ends without a FIN of its own
        self.totals = {">": 0, "<": 0}
