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
        if self.proc is not None:
            end(self.proc)
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


SSHD = "/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else shutil.which("sshd")
TINYPROXY = shutil.which("tinyproxy") or next((p for p in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy")
                                               if os.path.exists(p)), None)


def _privsep_ready() -> bool:
    """sshd run as root wants its privilege separation directory (the package makes it at boot)."""
    return os.geteuid() != 0 or os.path.isdir("/run/sshd")


needs_ssh = pytest.mark.skipif(SSHD is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None
                               or not _privsep_ready(),
                               reason="OpenSSH (sshd, ssh, ssh-keygen; /run/sshd as root) is needed for ssh -D")
needs_tinyproxy = pytest.mark.skipif(TINYPROXY is None, reason="tinyproxy is not installed (apt-get install tinyproxy)")


def end(proc: subprocess.Popen) -> None:
    """Stop a peer the test started: SIGTERM, then SIGKILL if it has not gone within 5 s (ssh sat
    out a SIGTERM while a forwarded channel was still closing, once, in a fresh-clone CI run after
    its test had passed); its stderr pipe closed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    proc.stderr.close()


class SshSocks:
    """A real SOCKS5 proxy: `ssh -N -D` to an sshd of our own on loopback, with throwaway host and
    user keys (UsePAM no), so nothing of the machine's own ssh set-up is used or changed."""

    def __init__(self, tmp_path):
        import getpass

        d = tmp_path / "ssh"
        d.mkdir()
        for key in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True,
                           timeout=60)
        (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
        os.chmod(d / "authorized_keys", 0o600)
        self.ssh_port, self.port = free_port(), free_port()
        (d / "sshd_config").write_text(
            f"Port {self.ssh_port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            "AllowTcpForwarding yes\nLogLevel ERROR\n")
        self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.ssh = None
        wait_until(listening(self.ssh_port, self.sshd), what="sshd to listen")
        if self.sshd.poll() is not None:
            err = self.sshd.stderr.read().decode(errors="replace")[-300:]
            self.close()
            pytest.skip(f"sshd did not start: {err}")
        self.ssh = subprocess.Popen(
            ["ssh", "-N", "-D", f"127.0.0.1:{self.port}", "-p", str(self.ssh_port), "-i", str(d / "user_key"),
             "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
             f"{getpass.getuser()}@127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(listening(self.port, self.ssh), what="ssh -D to listen")
        if self.ssh.poll() is not None:
            err = self.ssh.stderr.read().decode(errors="replace")[-300:]
            self.close()
            pytest.skip(f"ssh -D did not start: {err}")

    def close(self) -> None:
        for proc in (self.ssh, self.sshd):
            if proc is not None:
                end(proc)


class Tinyproxy:
    """A real HTTP CONNECT proxy on loopback that allows CONNECT to `connect_port` only."""

    def __init__(self, tmp_path, connect_port: int):
        d = tmp_path / "tinyproxy"
        d.mkdir()
        self.port = free_port()
        conf = d / "tinyproxy.conf"
        conf.write_text(f"Port {self.port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 16\nAllow 127.0.0.1\n"
                        f"ConnectPort {connect_port}\nPidFile \"{d}/tp.pid\"\nLogFile \"{d}/tp.log\"\n"
                        "LogLevel Error\n")
        self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_until(listening(self.port, self.proc), what="tinyproxy to listen")
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace")[-300:]
            self.close()
            pytest.skip(f"tinyproxy did not start: {err}")

    def close(self) -> None:
        end(self.proc)
