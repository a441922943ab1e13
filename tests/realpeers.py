"""Real servers and relays for the relay and proxy tests, on loopback only.

nginx is started with a configuration of the test's own (daemon off, no master,
temp paths in tmp_path) and `server` blocks given by the test; the foreground
relay is `python -m netrepl relay` (the venv's own), whose port is read from
the line it writes first.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from helpers import held_port, wait_until

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")


def free_port() -> int:
    with held_port() as port:
        return port


def listening(port: int, proc: subprocess.Popen | None = None, host: str = "127.0.0.1"):
    def check():
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return proc is not None and proc.poll() is not None
    return check


class Nginx:
    """nginx on 127.0.0.1 with the test's `server { ... }` blocks; start() again after stop() on the same ports."""

    def __init__(self, tmp_path, servers: str, ports: list[int]):
        self.dir = tmp_path / "nginx"
        self.dir.mkdir(exist_ok=True)
        d = self.dir
        self.conf = d / "nginx.conf"
        self.conf.write_text(
            f"daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n"
            "events { worker_connections 64; }\n"
            f"http {{ access_log off; server_tokens off; client_body_temp_path {d}/body; proxy_temp_path {d}/p;\n"
            f"  fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n"
            f"  {servers} }}\n")
        self.ports = ports
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for port in self.ports:
            wait_until(listening(port, self.proc), what=f"nginx to listen on {port}")
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace")[-300:]
            self.proc.stderr.close()
            pytest.skip(f"nginx did not start: {err}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.proc is not None:
            self.proc.stderr.close()
        self.proc = None


class Foreground:
    """`netrepl relay ARGS` (or `netrepl serve ...`) in a process of its own; its port from its first line."""

    def __init__(self, *args: str, cwd=ROOT):
        env = dict(os.environ)
        env.pop("PYTHONWARNINGS", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "netrepl", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
        first = self.proc.stderr.readline()  # `relaying 127.0.0.1:PORT -> ...` / `serving replay on tcp H:P`
        if not first:
            self.proc.wait(timeout=30)
            pytest.fail(f"netrepl {' '.join(args)} did not start: {self.proc.stdout.read()}")
        self.first = first
        word = next(w for w in first.split() if w.startswith("127.0.0.1:"))
        self.port = int(word.rstrip(",").rsplit(":", 1)[1])

    def interrupt(self, timeout: float = 30) -> tuple[int, str, str]:
        """Ctrl-C (SIGINT); the exit status and what it wrote."""
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, self.first + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)
