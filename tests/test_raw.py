"""`--raw`: standard output carries the peer's bytes exactly, everything else goes to standard error.

Real sockets on loopback and a real netrepl process each time: the point is what
lands on file descriptor 1 (a pipe, a pty) and what on fd 2.
"""

from __future__ import annotations

import hashlib
import os
import pty
import re
import select
import socket
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, run_cli
from helpers import wait_until

PAYLOAD = b"HTTP/1.0 200 OK\r\nX: \x1b[31mred\x1b[0m\r\n\r\nbody \xff\xfe bare\r only\n\x00 end"


def _netrepl(*args: str) -> list[str]:
    return [sys.executable, "-m", "netrepl", *args]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def _sender(tcp_server, payload: bytes = PAYLOAD):
    def handler(conn):
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)

    return tcp_server(handler)


def test_raw_recv_all_gives_the_peers_bytes_and_nothing_else(tcp_server):
    server = _sender(tcp_server)
    proc = subprocess.run(_netrepl("--raw", "-c", f"connect 127.0.0.1 {server.port}; recv all"),
                          capture_output=True, timeout=60, env=_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == PAYLOAD
    err = proc.stderr.decode()
    assert f"netrepl> connect 127.0.0.1 {server.port}" in err  # the echo and the status lines: stderr
    assert f"received {len(PAYLOAD)} bytes in total until end of stream" in err


def test_every_receive_writes_its_bytes_to_stdout_in_order(tcp_server):
    """recv N, recv line, expect, recv exactly, and the `> -` redirects: each one's bytes, once, in order."""
    server = _sender(tcp_server)
    commands = (f"connect 127.0.0.1 {server.port}; expect OK; recv line; recv 4; recv exactly 5; "
                "recv exactly 3 > -; recv all > -")
    proc = subprocess.run(_netrepl("--raw", "-q", "-c", commands), capture_output=True, timeout=60, env=_env(),
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == PAYLOAD
    assert b"received" not in proc.stdout and b"netrepl>" not in proc.stderr  # -q: no echo at all
    assert not (ROOT / "-").exists()


def test_raw_keeps_exit_statuses_and_says_failures_on_stderr(tcp_server):
    server = _sender(tcp_server)
    proc = subprocess.run(_netrepl("--raw", "-c", f"connect 127.0.0.1 {server.port}; recv 5; timeout 0.5; "
                                                  "expect NEVER"),
                          capture_output=True, timeout=60, env=_env(), cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stdout == PAYLOAD[:5]
    assert b"expectation not met" in proc.stderr and b"`expect NEVER` failed" in proc.stderr
    rejected = subprocess.run(_netrepl("--raw", "-c", "recv nonsense"), capture_output=True, timeout=60,
                              env=_env(), cwd=ROOT)
    assert rejected.returncode == 2 and rejected.stdout == b""


def test_raw_from_a_script_and_from_standard_input(tcp_server, tmp_path):
    server = _sender(tcp_server)
    script = tmp_path / "get.nrs"
    script.write_text(f"connect 127.0.0.1 {server.port}\nrecv all\n")
    from_file = subprocess.run(_netrepl("--raw", str(script)), capture_output=True, timeout=60, env=_env())
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == PAYLOAD
    piped = subprocess.run(_netrepl("--raw"), input=script.read_bytes(), capture_output=True, timeout=60,
                           env=_env())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == PAYLOAD


def test_quiet_raw_pipes_an_http_reply_as_in_the_issue(tmp_path):
    """Issue 16's case: `-q -c 'connect; send GET; recv all' | sha256sum` hashed the transcript.
    A real HTTP server (python -m http.server) serves a file holding every byte value."""
    body = bytes(range(256)) * 64 + b"\r\n\x1b]0;title\x07"
    (tmp_path / "f.bin").write_bytes(body)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, what="python -m http.server to listen")
        proc = subprocess.run(_netrepl("--raw", "-q", "-c", f"connect 127.0.0.1 {port}; "
                                                            r"send GET /f.bin HTTP/1.0\r\n\r\n; recv all"),
                              capture_output=True, timeout=60, env=_env())
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr
    head, sep, got = proc.stdout.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()
    assert b"sent " in proc.stderr and b"sent " not in proc.stdout


# netrepl's own peak RSS, said on stderr as it exits. (wait4's ru_maxrss cannot be used: on Linux
# it counts the forked test process's memory before exec, ~100 MiB under pytest.)
PEAK = ("import atexit, sys\n"
        "def peak():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            sys.stderr.write('\\nPEAK-KIB ' + line.split()[1] + '\\n')\n"
        "atexit.register(peak)\n"
        "from netrepl.cli import main\n"
        "sys.exit(main())\n")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak RSS (VmHWM) from /proc")
@pytest.mark.parametrize("splice", ["splice", "recv_into"])
def test_100_mib_exactly_in_constant_memory(tcp_server, splice):
    """sha256 equal over 100 MiB, and the netrepl process's peak RSS under 64 MiB: `recv all`
    streams into standard output, it does not keep the data. Both ways the bytes can go:
    spliced (Linux) and through recv_into (NETREPL_NO_ZEROCOPY=1, as on other systems)."""
    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB that is not all one byte
    blocks = 100
    sent = hashlib.sha256()

    def handler(conn):
        for number in range(blocks):
            chunk = number.to_bytes(4, "big") + block[4:]
            sent.update(chunk)
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)

    server = tcp_server(handler)
    env = _env()
    if splice == "recv_into":
        env["NETREPL_NO_ZEROCOPY"] = "1"
    proc = subprocess.Popen([sys.executable, "-c", PEAK, "--raw", "-c", f"connect 127.0.0.1 {server.port}; recv all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    got = hashlib.sha256()
    total = 0
    errors: list[bytes] = []
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    drain.start()
    while chunk := proc.stdout.read(1 << 20):
        got.update(chunk)
        total += len(chunk)
    proc.wait(timeout=60)
    drain.join(30)
    assert proc.returncode == 0, errors
    assert total == blocks << 20
    assert got.hexdigest() == sent.hexdigest()
    peak = re.findall(rb"\nPEAK-KIB (\d+)\n", errors[0])
    assert peak, errors
    assert int(peak[-1]) < 64 * 1024, f"peak RSS {int(peak[-1])} KiB"


def test_a_reader_that_goes_away_ends_the_run_with_1_and_no_traceback(tcp_server):
    server = _sender(tcp_server, b"x" * (8 << 20))
    proc = subprocess.Popen(_netrepl("--raw", "-c", f"connect 127.0.0.1 {server.port}; recv all"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    assert proc.stdout.read(10) == b"x" * 10
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert b"Traceback" not in err


def _on_a_terminal(*args: str) -> tuple[bytes, bytes, int]:
    """Run netrepl with standard output on a pty (standard error a pipe): (tty output, stderr, status)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(_netrepl(*args), stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=_env(), cwd=ROOT)
    os.close(slave)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "netrepl wrote nothing to its terminal for 60 s"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    _, err = proc.communicate(timeout=60)
    return bytes(seen), err, proc.returncode


def test_on_a_terminal_control_characters_stay_escaped_and_stderr_says_so_once(tcp_server):
    server = _sender(tcp_server)
    seen, err, status = _on_a_terminal("--raw", "-q", "-c", f"connect 127.0.0.1 {server.port}; recv 10; recv all")
    assert status == 0, err
    assert b"\x1b" not in seen and b"\x00" not in seen
    assert b"\\x1b[31mred" in seen and b"\\xff\\xfe" in seen
    assert err.count(b"standard output is a terminal") == 1


def test_raw_is_refused_for_the_interactive_shell():
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(_netrepl("--raw"), stdin=slave, capture_output=True, timeout=60, env=_env())
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 2
    assert b"--raw is for scripts, -c and piped input" in proc.stderr


def test_recv_all_to_dash_without_raw_shows_the_data_escaped_and_makes_no_file(tcp_server, tmp_path):
    server = _sender(tcp_server)
    proc = run_cli("-q", "-c", f"connect 127.0.0.1 {server.port}; recv exactly 3 > -; recv all > -", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "P/1.0 200 OK\\r\n" in proc.stdout and "\\x1b[31mred" in proc.stdout
    assert "\x1b" not in proc.stdout
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("redirect", ["recv all > -", "recv exactly 10 > -"])
def test_the_check_accepts_dash_as_standard_output(redirect):
    proc = run_cli("-c", f"{redirect}")
    assert proc.returncode == 1  # it ran (no socket), it was not rejected
    assert "no socket" in proc.stdout + proc.stderr
