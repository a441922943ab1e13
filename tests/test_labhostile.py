"""Lab servers against hostile clients: slowloris, floods past the cap, mute and non-reading peers.

Loopback only; every wait polls against a deadline.
"""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from netrepl.lab import handlers as labhandlers
from netrepl.lab import http as labhttp
from netrepl.lab.kinds import MAX_CONNECTIONS
from netrepl.lab.server import LabServer


@pytest.fixture
def serve():
    servers = []

    def start(kind, **kw):
        servers.append(LabServer(kind, **kw).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def wait_for(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def connect(server, timeout=2.0):
    return socket.create_connection(server.address, timeout=timeout)


def recv_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_until_closed(sock, timeout):
    """All a peer sends until it closes (EOF or RST); None if it is still open at the deadline."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return data


def slowloris(server, clients: int, drip: float, limit: float):
    """`clients` connections each sending a request head one byte every `drip` seconds.

    Returns (peak extra threads, {client: seconds until the server closed it}, {client: bytes it sent back}).
    """
    before = threading.active_count()
    start = time.monotonic()
    socks = []
    for _ in range(clients):
        sock = connect(server)
        sock.sendall(b"GET / HTTP/1.0\r\n")  # and never the blank line
        sock.setblocking(False)
        socks.append(sock)
    closed, replies = {}, {i: b"" for i in range(clients)}
    peak, next_drip = 0, time.monotonic() + drip
    try:
        while len(closed) < clients and time.monotonic() - start < limit:
            peak = max(peak, threading.active_count() - before)
            open_socks = [s for i, s in enumerate(socks) if i not in closed]
            ready, _, _ = select.select(open_socks, [], [], 0.05)
            for sock in ready:
                i = socks.index(sock)
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                replies[i] += chunk
                if not chunk:
                    closed[i] = time.monotonic() - start
            if time.monotonic() >= next_drip:
                next_drip += drip
                for i, sock in enumerate(socks):
                    if i not in closed:
                        try:
                            sock.send(b"X")
                        except OSError:
                            pass
    finally:
        for sock in socks:
            sock.close()
    return peak, closed, replies


def test_slowloris_is_capped_and_cut_off_at_the_head_deadline(serve):
    """The issue: 200 slowloris clients held 200 threads for 28 s, past the 10 s limit."""
    server = serve("http")
    started = time.monotonic()
    peak, closed, replies = slowloris(server, 200, drip=1.0, limit=labhttp.HEAD_TIMEOUT + 8)
    print(f"slowloris x200: peak extra threads {peak}, refused {server.refused}, "
          f"last closed after {max(closed.values()):.2f} s, served {server.served}")
    assert len(closed) == 200  # every one was closed by the server
    assert peak <= MAX_CONNECTIONS + 3  # the connection threads, plus the accept loop, plus slack
    assert server.peak_connections == MAX_CONNECTIONS
    assert server.refused == 200 - MAX_CONNECTIONS
    over = [i for i, data in replies.items() if data.startswith(b"HTTP/1.0 503 ")]
    timed_out = [i for i, data in replies.items() if data.startswith(b"HTTP/1.0 408 ")]
    assert (len(over), len(timed_out)) == (200 - MAX_CONNECTIONS, MAX_CONNECTIONS)
    assert max(closed[i] for i in over) < 3.0  # closed at once, not held
    # The dripping did not extend the deadline: answered at 10 s (from accept), not later.
    assert labhttp.HEAD_TIMEOUT - 0.5 < min(closed[i] for i in timed_out)
    assert max(closed[i] for i in timed_out) < labhttp.HEAD_TIMEOUT + 3.0
    assert wait_for(lambda: server.connections == 0, 5.0)
    # And it goes on serving.
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.0 200 OK\r\n")
    assert time.monotonic() - started < labhttp.HEAD_TIMEOUT + 8


def test_a_dripping_client_gets_408_at_the_overall_deadline(serve, monkeypatch):
    # Per-recv timeouts would never fire for a byte every 0.1 s; the deadline is for the whole head.
    monkeypatch.setattr(labhttp, "HEAD_TIMEOUT", 0.6)
    server = serve("http")
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.0\r\n")
        sock.settimeout(0.1)
        data = b""
        while time.monotonic() - started < 3.0:
            try:
                chunk = sock.recv(1000)
            except TimeoutError:
                sock.sendall(b"X")
                continue
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.0 408 Request Timeout\r\n")
    assert 0.5 < elapsed < 1.5


@pytest.mark.parametrize("kind", ["silent", "echo", "discard", "slow"])
def test_over_the_cap_is_closed_at_once_and_the_server_goes_on(serve, kind):
    server = serve(kind, max_connections=2, slow_interval=30)
    held = [connect(server), connect(server)]
    assert wait_for(lambda: server.connections == 2)
    with connect(server) as over:
        started = time.monotonic()
        assert read_until_closed(over, 2.0) == b""  # EOF, nothing else
        assert time.monotonic() - started < 1.0
    assert server.refused == 1 and server.connections == 2
    assert server.describe().endswith("(2 connections, 3 served, 1 refused over the cap of 2)")
    held.pop().close()
    assert wait_for(lambda: server.connections == 1)
    with connect(server, timeout=0.3) as again:  # a place is free again: served as usual
        if kind == "echo":
            again.sendall(b"hi")
            assert again.recv(2) == b"hi"
        elif kind == "slow":
            assert again.recv(1) == b"n"
        else:
            again.sendall(b"hi")
            with pytest.raises(TimeoutError):
                again.recv(1)
        assert server.connections == 2 and server.refused == 1
    for sock in held:
        sock.close()


def test_http_over_the_cap_gets_503_and_the_held_one_is_still_answered(serve):
    server = serve("http", max_connections=1)
    with connect(server) as held:
        held.sendall(b"GET / HTTP/1.0\r\n")
        assert wait_for(lambda: server.connections == 1)
        with connect(server) as over:
            reply = read_until_closed(over, 2.0)
        assert reply.startswith(b"HTTP/1.0 503 Service Unavailable\r\n") and b"Retry-After: 1\r\n" in reply
        held.sendall(b"\r\n")
        assert recv_all(held).startswith(b"HTTP/1.0 200 OK\r\n")
    assert wait_for(lambda: server.connections == 0)
    with connect(server) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.0 200 OK\r\n")


def test_a_request_sent_at_once_still_gets_its_503():
    # A real client sends its request straight after connecting; closing over unread bytes
    # would answer with an RST. busy() as the accept loop runs it, with the request surely queued.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=2) as client:
            client.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            conn, _ = listener.accept()
            with conn:
                labhttp.busy(conn)
            # A clean FIN after the 503, not an RST (recv_all would raise ConnectionResetError).
            assert recv_all(client).startswith(b"HTTP/1.0 503 Service Unavailable\r\n")


@pytest.mark.parametrize("kind", ["silent", "echo", "discard"])
def test_a_mute_client_is_closed_at_the_idle_timeout(serve, kind):
    server = serve(kind, idle_timeout=0.4)
    with connect(server) as sock:
        started = time.monotonic()
        assert read_until_closed(sock, 3.0) == b""
        assert 0.3 < time.monotonic() - started < 2.0
    assert wait_for(lambda: server.connections == 0)


def test_the_default_idle_timeout_outlasts_a_client_timeout(serve):
    # silent must stay silent (and open) long enough for a client's `timeout` to fire.
    server = serve("silent")
    assert server.idle_timeout == 60.0
    with connect(server, timeout=0.5) as sock:
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert server.connections == 1


def test_a_client_that_never_reads_chargen_is_dropped(serve):
    server = serve("chargen", idle_timeout=0.3)
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert sock.recv(10)
        # Stop reading: the server's sendall stalls on full buffers, then times out.
        assert wait_for(lambda: server.connections == 0, 5.0)


def test_draining_after_the_answer_has_an_overall_deadline(serve, monkeypatch):
    # After daytime's answer the server drains until EOF; a client dripping bytes must not keep it.
    monkeypatch.setattr(labhandlers, "LINGER_TIMEOUT", 0.5)
    server = serve("daytime")
    with connect(server) as sock:
        assert sock.recv(100).endswith(b"-UTC\r\n")
        started = time.monotonic()
        while server.connections and time.monotonic() - started < 3.0:
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.05)  # the drip itself, not a wait for the server
        assert server.connections == 0
        assert time.monotonic() - started < 1.5
