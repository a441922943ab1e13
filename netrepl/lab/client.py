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

from netrepl.lab.kinds import CLIENTS, TLS_CLIENTS

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
        self.kind_words = None  # over TLS: the version and cipher agreed
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
            if self.kind in TLS_CLIENTS:
                sock = self._sock = self._tls(sock)
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
            verify = getattr(exc, "verify_message", None)  # a TLS client kind refusing the certificate
            words = f"certificate verify failed: {verify}" if verify else getattr(exc, "reason", None) or exc.strerror
            self.outcome = f"ended: {words or type(exc).__name__}"
        finally:
            sock.close()

    def _tls(self, sock: socket.socket):
        """The client side of TLS, as a careful client does it: the lab CA trusted, the name checked."""
        import ssl

        from netrepl.lab.tlskinds import CA

        self.outcome = "in the TLS handshake (`tls --server` answers it)"
        tls = ssl.create_default_context(cafile=str(CA)).wrap_socket(sock, server_hostname="localhost")
        self.outcome = f"TLS {tls.version().replace('TLSv', '')} verified"
        self.kind_words = f"TLS {tls.version().replace('TLSv', '')}, {tls.cipher()[0]}"
        return tls

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
        tls = f"{self.kind_words}; " if self.kind_words else ""
        return (f"{self.kind} client -> ", f" ({tls}sent {self.sent}, received {self.received} bytes; {self.outcome})")

    def first_line(self) -> bytes:
        return bytes(self.kept.split(b"\n", 1)[0][:200])
