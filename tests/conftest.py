"""Shared fixtures: real servers on loopback, an executor, and a CLI runner.

Everything talks to 127.0.0.1 / ::1 only. History goes to a temp dir.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor
from netrepl.lab.server import LabServer
from netrepl.render.text import plain, render

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch):
    """No test touches the real history file."""
    monkeypatch.setenv("NETREPL_HISTFILE", str(tmp_path / "history"))


@pytest.fixture
def lab():
    """Start lab servers by kind on free loopback ports; all stopped afterwards."""
    started = []

    def start(kind, proto="tcp", host="127.0.0.1", **kw):
        server = LabServer(kind, host, 0, proto, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def ex():
    executor = Executor(REGISTRY)
    yield executor
    executor.finish()


def run(ex: Executor, line: str):
    """Run one line; return its last Result (and fail loudly on none)."""
    steps = list(ex.run_line(line))
    assert steps, f"no step for {line!r}"
    return steps[-1].result


def text_of(result, display="text", stable=False) -> str:
    return plain(render(result, display, stable))


@pytest.fixture
def free_port():
    """A loopback TCP port with nothing listening (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@pytest.fixture
def tcp_server():
    servers = []

    def start(handler, **kw):
        server = OneShotServer(handler, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def run_cli(*args, input=None, timeout=60, env=None, cwd=ROOT):
    """Run `python -m netrepl ARGS` as a user would; returns CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("PYTHONWARNINGS", None)
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "netrepl", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd, **stdin)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
