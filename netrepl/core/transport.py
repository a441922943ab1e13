"""The one object every session read and write goes through: the transport seam.

Session, its receive buffer and `expect` never call the socket directly for
data: they call `recv_into`, `recvfrom_into`, `send`, `sendto`, `shutdown`,
`close` here. A TLS layer later replaces `self.sock` with the
`ssl.SSLSocket` that `ssl.SSLContext.wrap_socket(transport.sock, ...)`
returns (after STARTTLS, say) — `wrap` below — and nothing above changes:
the SSLSocket has the same recv_into/send/settimeout. A Unix or listening
socket is another `Transport` made from another socket.
"""

from __future__ import annotations

import socket


class Transport:
    __slots__ = ("sock", "type", "family", "timing")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        # Read once: sock.type builds an enum each time, and state() runs for every command.
        self.type = sock.type
        self.family = sock.family
        # The connection's core/timing.py Timing, once connected: a send starts the clock
        # that the next read returning stops ("first byte"). One test per call when unset.
        self.timing = None

    def wrap(self, wrapper) -> None:
        """Put a layer in place: `wrapper(sock)` returns the new socket-like object
        (e.g. `lambda s: context.wrap_socket(s, server_hostname=h)`)."""
        self.sock = wrapper(self.sock)

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def _first_read(self) -> bool:
        """Is this the first read after a send (its first byte to be timed)?"""
        if self.timing is not None and self.timing.waiting is not None:
            self.timing.reading(self.sock)
            return True
        return False

    def recv(self, size: int) -> bytes:
        timed = self._first_read()
        data = self.sock.recv(size)
        if timed:
            self.timing.received(len(data))
        return data

    def recv_into(self, buffer, size: int = 0, flags: int = 0) -> int:
        timed = self._first_read()
        n = self.sock.recv_into(buffer, size, flags)
        if timed:
            self.timing.received(n)
        return n

    def recvfrom_into(self, buffer, size: int = 0, flags: int = 0):
        timed = self._first_read()
        got = self.sock.recvfrom_into(buffer, size, flags)
        if timed:
            self.timing.received(got[0] or 1)  # an empty datagram is an answer, not an end
        return got

    def send(self, data) -> int:
        if self.timing is not None:
            self.timing.sent()
        return self.sock.send(data)

    def sendto(self, data, address) -> int:
        if self.timing is not None:
            self.timing.sent()
        return self.sock.sendto(data, address)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()
