"""The shared test helpers do what the tests rely on (tests/helpers.py)."""

from __future__ import annotations

import errno
import socket

import pytest

from helpers import held_port, wait_until
from netrepl.lab.server import LabServer


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_closed_port_refuses_and_nobody_can_take_it(closed_port):
    assert refused(closed_port)
    for reuse in (False, True):
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse))
            with pytest.raises(OSError) as info:
                other.bind(("127.0.0.1", closed_port))
            assert info.value.errno == errno.EADDRINUSE
    assert refused(closed_port)


def test_server_port_is_refused_until_a_lab_server_listens_and_after_it_stops(server_port):
    assert refused(server_port)
    with socket.socket() as plain, pytest.raises(OSError):  # without SO_REUSEADDR: in use
        plain.bind(("127.0.0.1", server_port))
    server = LabServer("echo", "127.0.0.1", server_port).start()
    try:
        with socket.create_connection(("127.0.0.1", server_port), timeout=5) as sock:
            sock.sendall(b"ping")
            assert sock.recv(4) == b"ping"
    finally:
        server.stop()
    assert refused(server_port)


def test_held_port_is_released_after_the_block():
    with held_port() as port:
        assert refused(port)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # free again


def test_wait_until_returns_the_first_truthy_value():
    calls = []
    assert wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "done"), 5, 0.001) == "done"
    assert len(calls) == 3


def test_wait_until_fails_at_its_deadline_naming_what_it_waited_for():
    with pytest.raises(pytest.fail.Exception, match=r"gave up after 0.05 s waiting for the moon \(3\)"):
        wait_until(lambda: False, 0.05, what=lambda: "the moon (3)")
