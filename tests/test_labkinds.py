"""The one table of lab kinds (netrepl/lab/kinds.py) and its readers: the CLI, the registry, the server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import socket

import pytest

from conftest import run_cli
from netrepl.cli import build_serve_parser
from netrepl.commands import REGISTRY
from netrepl.lab import kinds
from netrepl.lab.foreground import serve_forever
from netrepl.lab.server import LabServer, handler_for


LAB_KINDS = tuple(w for w in REGISTRY.get("serve").args[0].choices if w != "stop")  # the registry's serve KIND


def test_the_table_is_what_everyone_reads():
    assert kinds.kind_names() == LAB_KINDS == ("echo", "http", "discard", "daytime", "chargen", "close",
                                              "reset", "silent", "slow", "https", "tls-echo", "tls-expired",
                                              "tls-self-signed", "tls-wrong-host", "tls-unknown-ca", "smtp",
                                              "smtp-inject", "imap", "pop3", "ftp", "postgres", "socks5", "http-proxy",
                                                 "replay")
    assert kinds.udp_kinds() == ("echo", "discard", "daytime", "chargen")
    assert kinds.kind_help("silent") == "accepts and never answers"
    serve_kind = next(a for a in build_serve_parser()._actions if a.dest == "kind")
    assert tuple(serve_kind.choices) == LAB_KINDS


def test_check_kind():
    assert kinds.check_kind("echo", "udp") is None and kinds.check_kind("http", "tcp") is None
    assert kinds.check_kind("http", "udp") == ("http has no UDP variant (it is TCP-only); "
                                               "kinds that work over UDP: echo, discard, daytime, chargen")
    assert kinds.check_kind("gopher").startswith("unknown server kind 'gopher'; valid kinds: echo, http,")
    assert kinds.check_kind("echo", "sctp") == "unknown protocol 'sctp'; use tcp or udp"


def test_every_entry_resolves_to_its_handlers():
    for kind in kinds.TABLE:
        for proto in kind.transports:
            assert callable(handler_for(kind.name, proto)), (kind.name, proto)


def test_help_serve_lists_the_kinds_and_limits():
    p = run_cli("-c", "help serve")
    assert p.returncode == 0, p.stderr
    for kind in kinds.TABLE:
        assert f"{kind.name}: {kind.help}" in p.stdout
    assert f"{kinds.MAX_CONNECTIONS} connections at once per server" in p.stdout
    assert "http answers it 503" in p.stdout


def test_netrepl_serve_without_a_udp_variant_is_a_usage_error():
    p = run_cli("serve", "http", "--udp", "--port", "0")
    assert p.returncode == 2
    assert p.stderr.endswith("netrepl serve: error: http has no UDP variant (it is TCP-only); "
                             "kinds that work over UDP: echo, discard, daytime, chargen\n")
    assert "serving" not in p.stderr


def test_foreground_serve_refuses_a_kind_without_udp():
    out = io.StringIO()
    assert serve_forever("http", "127.0.0.1", 0, "udp", out=out) == 1
    assert out.getvalue() == ("netrepl serve: http has no UDP variant (it is TCP-only); "
                              "kinds that work over UDP: echo, discard, daytime, chargen\n")


def test_the_table_imports_nothing():
    # Every `netrepl -c` imports it (the registry needs the names): it must stay free.
    code = ("import sys, json; before = set(sys.modules); import netrepl.lab.kinds; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == ["netrepl", "netrepl.base", "netrepl.base.labkinds", "netrepl.lab", "netrepl.lab.kinds"]


# ----- the seam: handler=, wrap=, bind() -------------------------------------------

def test_a_handler_replaces_the_kinds_own(lab):
    server = lab("echo", handler=lambda conn, srv: conn.sendall(b"replayed\r\n"))
    with socket.create_connection(server.address, timeout=2) as sock:
        assert sock.recv(100) == b"replayed\r\n"
        assert sock.recv(100) == b""
    udp = lab("echo", "udp", handler=lambda data, srv: data.upper())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"ping", udp.address)
        assert sock.recv(100) == b"PING"


def test_wrap_runs_in_the_connection_thread_before_the_handler(lab):
    seen = []

    def wrap(conn):
        seen.append(conn.gettimeout())
        conn.sendall(b"hello from wrap\r\n")  # e.g. a TLS handshake would happen here
        return conn

    server = lab("echo", wrap=wrap, idle_timeout=5.0)
    with socket.create_connection(server.address, timeout=2) as sock:
        assert sock.recv(100) == b"hello from wrap\r\n"
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
    assert seen == [5.0]


class UnixLabServer(LabServer):
    """What a Unix-socket server module would do: bind a path instead of a host and port."""

    def __init__(self, kind, path, **kw):
        super().__init__(kind, **kw)
        self.path = path

    def bind(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        sock.listen(8)
        return sock

    def where(self):
        return self.path


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
@pytest.mark.parametrize("kind", ["echo", "slow"])
def test_a_subclass_can_bind_a_unix_socket(tmp_path, kind):
    path = str(tmp_path / "lab.sock")
    with UnixLabServer(kind, path, slow_interval=0.001) as server:
        assert server.describe() == f"{kind} tcp {path} (0 connections, 0 served)"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            if kind == "echo":
                sock.sendall(b"unix")
                assert sock.recv(4) == b"unix"
            else:
                data = b""
                while chunk := sock.recv(1000):
                    data += chunk
                assert data.startswith(b"netrepl slow server")
