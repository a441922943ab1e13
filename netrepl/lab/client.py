"""Lab clients: a background client that connects to netrepl's own `listen`, so a
script can show and test the server side offline (`client http $listen_port`,
then `accept`).

A client connects when started (a refusal is reported by the command), then,
in its own thread, sends its request and reads the reply until the server
closes, at most IDLE_TIMEOUT between reads and MAX_KEPT bytes kept (the rest
is counted); `client` lists what each got.
"""

from __future__ import annotations

import socket
import threading

from netrepl.lab.kinds import CLIENTS

IDLE_TIMEOUT = 30.0  # seconds the client waits for the server (netrepl's session) between reads
MAX_KEPT = 64 * 1024  # bytes of the reply kept for the listing; more is counted, not kept
JOIN_TIMEOUT = 1.0

class LabClient:
    def __init__(self, kind: str, family: int, address, shown):
        self.kind = kind
        self.request = CLIENTS[kind][1]
        self.family, self.address, self.shown = family, address, shown
        self.sent = self.received = 0
        self.kept = bytearray()
        self.outcome = "connecting"
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LabClient":
        """Connect now (OSError raises here), then talk in the background."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(IDLE_TIMEOUT)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.outcome = "connected"
        self._thread = threading.Thread(target=self._talk, name=f"netrepl-lab-client-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def _talk(self) -> None:
        sock = self._sock
        try:
            if self.request:
                sock.sendall(self.request)
                self.sent = len(self.request)
            self.outcome = "waiting for the reply"
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    self.outcome = "done: the server closed"
                    return
                self.received += len(chunk)
                room = MAX_KEPT - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
        except OSError as exc:
            self.outcome = f"ended: {exc.strerror or type(exc).__name__}"
        finally:
            sock.close()

    def stop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)

    def describe(self) -> tuple[str, str]:
        """(head, tail) around the target address."""
        return (f"{self.kind} client -> ", f" (sent {self.sent}, received {self.received} bytes; {self.outcome})")

    def first_line(self) -> bytes:
        return bytes(self.kept.split(b"\n", 1)[0][:200])
