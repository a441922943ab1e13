"""Shared fixtures: real servers on loopback, held ports, an executor, and a CLI runner.

Everything talks to 127.0.0.1 / ::1 only. History goes to a temp dir. The helpers
the fixtures use (waits, held ports, OneShotServer) live in tests/helpers.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import OneShotServer, held_port
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
def closed_port():
    """A loopback TCP port that refuses connections, held (bound, not listening) for the test."""
    with held_port() as port:
        yield port


@pytest.fixture
def server_port():
    """A loopback TCP port for a lab server (SO_REUSEADDR) to listen on; refused before and after."""
    with held_port(reusable=True) as port:
        yield port


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
