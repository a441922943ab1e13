"""listen/accept and reply: real clients (http.client, socket, curl) against netrepl's server side.

Loopback only. A client thread (or process) connects to the port `listen 0` chose.
"""

from __future__ import annotations

import http.client
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, has_ipv6_loopback, run, run_cli, text_of
from helpers import held_port, wait_until
from netrepl.base.exitstatus import ExitStatus


def ok(ex, line):
    result = run(ex, line)
    assert result.ok, text_of(result)
    return result


def listen_port(ex, line="listen 0") -> int:
    ok(ex, line)
    return int(ex.variables["listen_port"])


def in_thread(fn):
    out = {}

    def body():
        try:
            out["value"] = fn()
        except Exception as exc:  # the test reads it: a client failure must not vanish
            out["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, out


def test_http_client_against_listen_and_accept(ex):
    port = listen_port(ex)
    assert ex.session.listener.address.ephemeral

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/hello")
        response = conn.getresponse()
        return response.status, response.getheader("X-By"), response.read()

    thread, out = in_thread(client)
    accepted = ok(ex, "accept")
    assert "accepted a connection from 127.0.0.1:" in text_of(accepted)
    assert ex.session.state() == "tcp connected, listening"
    ok(ex, "expect GET /hello HTTP/1.1\\r\\n")
    ok(ex, "expect \\r\\n\\r\\n")
    ok(ex, "send -n HTTP/1.1 200 OK\\r\\nX-By: netrepl\\r\\nContent-Length: 5\\r\\n\\r\\nhello")
    thread.join(10)
    assert out == {"value": (200, "netrepl", b"hello")}
    ok(ex, "close")
    assert ex.session.state() == "closed, listening"  # the listener stays for the next accept


def test_the_listener_stays_for_the_next_accept_and_info_shows_both(ex):
    port = listen_port(ex)
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        ok(ex, "accept")
        must = run(ex, "accept")  # the session socket is still open: refused, nothing lost
        assert must.error.kind == "state" and "`close` it first" in must.error.message
        clients[0].sendall(b"first\n")
        assert ok(ex, "recv line").data == b"first\n"
        info = text_of(ok(ex, "info"))
        assert f"listener      127.0.0.1:{port}" in info or f"127.0.0.1:{port}" in info
        assert "1 connection accepted" in info
        assert f"127.0.0.1:{clients[0].getsockname()[1]}" in info  # the peer: the client
        ok(ex, "close")
        ok(ex, "accept")
        clients[1].sendall(b"second\n")
        assert ok(ex, "recv line").data == b"second\n"
        assert "2 connections accepted" in text_of(ok(ex, "info"))
        stopped = ok(ex, "close all")
        assert "stopped listening on 127.0.0.1:" in text_of(stopped)
        assert ex.session.listener is None and ex.session.state() == "closed"
    finally:
        for c in clients:
            c.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_the_accepted_socket_works_with_every_command(ex):
    port = listen_port(ex)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        ok(ex, "accept")
        ok(ex, "send hi")
        assert client.recv(10) == b"hi\r\n"
        ok(ex, "shutdown 1")
        assert client.recv(10) == b""  # our FIN
        client.sendall(b"tail")
        client.shutdown(socket.SHUT_WR)
        assert ok(ex, "recv all").data == b"tail"
        assert "peer closed" in ex.session.state()


def test_listen_on_ipv6_loopback(ex):
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) here")
    port = listen_port(ex, "listen ::1 0")
    assert f"[::1]:{port}" in text_of(run(ex, "info"))
    with socket.create_connection(("::1", port), timeout=10) as client:
        result = ok(ex, "accept")
        assert f"from [::1]:{client.getsockname()[1]}" in text_of(result)
        assert ex.session.family == "inet6"
    port2 = listen_port(ex, "listen ::1")  # one word that is not a number: the host, on a free port
    assert port2 and port2 != port


def test_listen_one_number_is_the_port_and_a_new_listen_replaces_the_old(ex):
    with held_port(reusable=True) as port:
        result = ok(ex, f"listen {port}")
        assert f"listening on 127.0.0.1:{port}" in text_of(result)
        assert not ex.session.listener.address.ephemeral
        again = ok(ex, "listen 0")
        assert f"stopped listening on 127.0.0.1:{port}" in text_of(again)
    assert ex.variables["listen_port"] == str(ex.session.listener.address.port)


def test_port_in_use_is_said_with_eaddrinuse(ex):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        result = run(ex, f"listen {port}")
        assert ok(ex, f"must-fail inuse listen 127.0.0.1 {port}")
    assert result.error.errname == "EADDRINUSE" and result.error.kind == "io"
    assert f"127.0.0.1:{port} is already in use" in text_of(result)
    assert ex.session.listener is None


def test_listen_bad_inputs_are_clear(ex):
    from netrepl.language.parser import ParseError

    with pytest.raises(ParseError, match="out of range"):
        ex.parse("listen 70000")
    result = run(ex, "listen nonexisting.invalid 0")
    assert result.error.kind == "address"
    result = run(ex, "listen 192.0.2.1 0")  # TEST-NET-1: never an address of this machine
    assert result.error.errname == "EADDRNOTAVAIL" and "not an address of this machine" in text_of(result)


def test_accept_without_a_listener_and_its_timeout(ex):
    result = run(ex, "accept")
    assert result.error.kind == "state" and "no listener" in result.error.message
    ok(ex, "listen 0")
    ok(ex, "timeout 0.2")
    started = time.monotonic()
    result = run(ex, "accept")
    assert result.error.kind == "timeout"
    assert time.monotonic() - started < 5
    assert "no client connected within 0.2 s; still listening on 127.0.0.1:" in text_of(result)
    assert ex.session.listener is not None and ex.session.state() == "no socket, listening"


ACCEPT4 = {"x86_64": 288, "aarch64": 242}  # syscall numbers, for /proc/PID/syscall


def in_accept(pid: int, streak=[0]) -> bool:
    """The process sleeps in accept4 (or, where its number is unknown, sleeps: 5 looks in a row)."""
    number = ACCEPT4.get(platform.machine())
    try:
        first = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        first = ""
    if number is not None and first.isdigit():
        return int(first) == number
    try:
        sleeping = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"
    except OSError:
        sleeping = False
    streak[0] = streak[0] + 1 if sleeping else 0
    return streak[0] >= 5


def test_ctrl_c_during_accept_ends_the_run_with_130_and_no_traceback():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c", "listen 0; timeout none; accept; print AFTER"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"netrepl> accept\n" not in seen:
            assert time.monotonic() < deadline, seen
            line = proc.stdout.readline()
            assert line, seen
            seen += line
        wait_until(lambda: in_accept(proc.pid), what="netrepl to block in accept")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitStatus.INTERRUPTED, (out, err)
    assert b"AFTER" not in out and b"Traceback" not in out + err
    assert b"interrupted" in out + err and b"still listening on 127.0.0.1:" in out


def test_ctrl_c_in_process_keeps_the_listener(ex):
    ok(ex, "listen 0")
    ok(ex, "timeout none")
    timer = threading.Timer(0.3, lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        result = run(ex, "accept")
    finally:
        timer.cancel()
    assert result.error.kind == "interrupted"
    assert ex.session.listener is not None
    port = int(ex.variables["listen_port"])
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        ok(ex, "timeout 5")
        ok(ex, "accept")


def test_curl_against_listen_and_accept(ex):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    port = listen_port(ex)
    proc = subprocess.Popen([curl, "-s", "-S", "--max-time", "20", f"http://127.0.0.1:{port}/from-curl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ok(ex, "accept")
        got = ok(ex, "expect \\r\\n\\r\\n")
        assert b"GET /from-curl HTTP/1.1\r\n" in got.data and b"User-Agent: curl/" in got.data
        ok(ex, "send -n HTTP/1.1 200 OK\\r\\nContent-Length: 11\\r\\nConnection: close\\r\\n\\r\\nhello curl\\n")
        ok(ex, "close")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == b"hello curl\n"


def test_lab_client_and_stable_transcripts_are_identical():
    script = ROOT / "scripts" / "server.nrs"
    first = run_cli("--stable", str(script))
    second = run_cli("--stable", str(script))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == second.stdout
    assert "<port>" in first.stdout and "accepted a connection from 127.0.0.1:<port>" in first.stdout


def test_reply_answers_the_sender_of_the_last_datagram(ex):
    ok(ex, "socket udp")
    ok(ex, "bind 127.0.0.1 0")
    port = ex.session.sock.getsockname()[1]
    result = run(ex, "reply early")
    assert result.error.kind == "state" and "recvfrom` first" in result.error.message
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(10)
        client.sendto(b"ping", ("127.0.0.1", port))
        got = ok(ex, "recvfrom")
        assert got.data == b"ping" and f"from 127.0.0.1:{client.getsockname()[1]}" in text_of(got)
        sent = ok(ex, "reply pong\\x00")
        assert "sent 5 bytes to 127.0.0.1:" in text_of(sent)
        assert client.recvfrom(100) == (b"pong\x00", ("127.0.0.1", port))  # no line ending by default
        ok(ex, "reply -l pong")
        assert client.recv(100) == b"pong\r\n"


def test_reply_on_a_stream_is_a_state_error(ex):
    port = listen_port(ex)
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        ok(ex, "accept")
        result = run(ex, "reply x")
        assert result.error.kind == "state" and "use `send`" in result.error.message
    ok(ex, "close")
    assert run(ex, "reply x").error.kind == "state"  # no socket


def test_script_listen_port_variable_is_known_when_checked():
    p = run_cli("-c", "listen 0; client line $listen_port; accept; expect hello; close; close listener")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "stopped listening" in p.stdout


def test_record_writes_listen_accept_and_chosen_ports_and_names_that_replay(ex, tmp_path):
    target = tmp_path / "server.nrs"
    ok(ex, "serve echo @")
    ok(ex, "listen 0")
    ok(ex, f"record {target}")  # started with a lab server and a listener: both written first
    port, path = ex.variables["listen_port"], ex.variables["lab_path"]
    ok(ex, f"client line {port}")
    ok(ex, "accept")
    ok(ex, "expect hello")
    ok(ex, "close")
    ok(ex, f"connect {path}")
    ok(ex, "close")
    assert run(ex, "reply x").error.kind == "state"
    ok(ex, "record stop")
    lines = target.read_text().splitlines()
    assert lines == ["serve echo @", "listen 127.0.0.1 0", "client line $listen_port", "accept", "expect hello",
                     "close", "connect $lab_path", "close", "must-fail state reply x"]
    replay = run_cli(str(target))
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_lab_clients_list_stop_and_their_errors(ex):
    result = run(ex, "client http")
    assert result.error.kind == "state" and "no listener to connect to" in result.error.message
    with held_port() as refused:
        result = run(ex, f"client line {refused}")
        assert result.error.errname == "ECONNREFUSED"
    ok(ex, "listen 0")
    ok(ex, "client line")
    ok(ex, "accept")
    ok(ex, "expect hello from the netrepl lab client\\r\\n")
    ok(ex, "send -n reply\\r\\n")
    ok(ex, "close")
    client = ex.clients[0]
    wait_until(lambda: client.outcome.startswith("done"), what="the lab client to see our close")
    listing = text_of(ok(ex, "client"))
    assert "line client -> 127.0.0.1:" in listing and "received 7 bytes; done: the server closed" in listing
    assert "first line received: reply\\r" in listing
    assert "stopped 1 lab client(s)" in text_of(ok(ex, "client stop"))
    assert run(ex, "client stop").error.kind == "state"


def test_lab_client_reaches_an_ipv6_listener(ex):
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) here")
    ok(ex, "listen ::1 0")
    assert "connected to [::1]:" in text_of(ok(ex, "client quiet"))
    assert "from [::1]:" in text_of(ok(ex, "accept"))


def test_the_end_of_a_session_closes_the_listener_and_removes_its_file(tmp_path):
    path = tmp_path / "end.sock"
    p = run_cli("-c", f"listen {path}; print $listen_path")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"\n{path}\n" in p.stdout
    assert not path.exists()


def test_socat_and_nc_as_real_unix_clients(ex, tmp_path):
    tools = [t for t in ("socat", "nc") if shutil.which(t)]
    if not tools:
        pytest.skip("neither socat nor nc is installed")
    path = tmp_path / "real.sock"
    ok(ex, f"listen {path}")
    for tool in tools:
        argv = [tool, "-", f"UNIX-CONNECT:{path}"] if tool == "socat" else [tool, "-U", str(path)]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(f"hello from {tool}\n".encode())
            proc.stdin.flush()
            shown = text_of(ok(ex, "accept"))
            assert f"pid {proc.pid}" in shown  # SO_PEERCRED: the tool itself
            ok(ex, f"expect hello from {tool}\\n")
            ok(ex, "send -n answer\\n")
            ok(ex, "close")
            out, _ = proc.communicate(timeout=30)  # our close ends its output; its stdin closes then
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert out == b"answer\n", tool
