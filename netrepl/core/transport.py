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
    __slots__ = ("sock", "type", "family")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        # Read once: sock.type builds an enum each time, and state() runs for every command.
        self.type = sock.type
        self.family = sock.family

    def wrap(self, wrapper) -> None:
        """Put a layer in place: `wrapper(sock)` returns the new socket-like object
        (e.g. `lambda s: context.wrap_socket(s, server_hostname=h)`)."""
        self.sock = wrapper(self.sock)

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def recv_into(self, buffer, size: int = 0, flags: int = 0) -> int:
        return self.sock.recv_into(buffer, size, flags)

    def recvfrom_into(self, buffer, size: int = 0, flags: int = 0):
        return self.sock.recvfrom_into(buffer, size, flags)

    def send(self, data) -> int:
        return self.sock.send(data)

    def sendto(self, data, address) -> int:
        return self.sock.sendto(data, address)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()
