"""Test helpers shared by every test file: bounded waits, held ports, one-shot servers.

One place for each: a wait polls with a deadline and says what it waited for when it
gives up (never a fixed sleep); a port a test needs refused is HELD for the test's
duration, so no other test (or process) can take it between "find a port" and "use it".
Loopback only, like every test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

WAIT = 30.0  # generous default bound for "it happened": a wait, never a timing assertion
POLL = 0.01  # seconds between looks
TCP_CLOSE = 7  # Linux tcp_states.h: the state once a peer's RST has been taken


def wait_until(predicate: Callable[[], object], timeout: float = WAIT, interval: float = POLL, *,
               what: str | Callable[[], str] = "") -> object:
    """Poll `predicate` until it returns something truthy, which is returned.

    At the deadline the test fails naming `what` (a string, or a callable evaluated then,
    to show the state that was never reached) and how long it waited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            pytest.fail(f"gave up after {timeout:g} s waiting for {described or getattr(predicate, '__name__', '?')}")
        time.sleep(interval)


@contextlib.contextmanager
def held_port(host: str = "127.0.0.1", reusable: bool = False) -> Iterator[int]:
    """A TCP port bound but not listening, held until the block ends.

    Linux answers a connect to it with an RST (ECONNREFUSED), and no other socket can
    bind it, so it stays refused. With `reusable`, the holder sets SO_REUSEADDR: then a
    server that sets it too (LabServer does, for TCP) may bind and listen there, while
    everyone else, and the kernel's choice of ports for bind(0) and connect(), keeps off it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if reusable:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        yield sock.getsockname()[1]


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of `sock` (Linux TCP_INFO); skips the test where there is none."""
    if not hasattr(socket, "TCP_INFO"):
        pytest.skip("needs TCP_INFO (Linux) to see when a peer's RST has arrived")
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def wait_for_reset(sock: socket.socket, timeout: float = WAIT) -> None:
    """Until the kernel has taken the peer's RST (state CLOSE), without consuming the error."""
    wait_until(lambda: tcp_state(sock) == TCP_CLOSE, timeout, what="the peer's RST to reach the socket")


class OneShotServer:
    """A TCP server that runs `handler(conn)` for each connection, in a thread."""

    def __init__(self, handler, host="127.0.0.1", backlog=16):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.conns = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for conn in self.conns:
            conn.close()
