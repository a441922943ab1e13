"""Resources and data: no file descriptor leaks, `recv all > FILE` keeps exactly the bytes
received (SHA-256 over hundreds of MiB), a failure midway keeps what came and says how much,
`record` files survive SIGKILL, and the history file is private.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import random
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from conftest import ROOT, run_cli
from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor
from helpers import wait_until
from test_faults import Live, failed_notes, rst_close

CYCLES = 1000
BIG = 300 << 20  # bytes of the integrity test
MIDWAY = (40 << 20) + 12345  # bytes sent before the RST


def open_fds() -> dict[int, str]:
    """This process's descriptors and what they point at."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the directory's own descriptor, closed by now
            pass
    return fds


def assert_no_new_fds(before: dict[int, str], what: str) -> None:
    after = open_fds()
    new = {fd: target for fd, target in after.items() if before.get(fd) != target}
    sockets = {fd: target for fd, target in new.items() if target.startswith("socket:")}
    assert not sockets, f"{what} left {len(sockets)} socket descriptors open: {sockets}"
    assert len(after) <= len(before), f"{what}: {len(before)} descriptors before, {len(after)} after: {new}"
    print(f"\n[resources] {what}: {len(before)} descriptors before, {len(after)} after")


def run_ok(ex: Executor, line: str):
    steps = list(ex.run_line(line))
    assert steps and steps[-1].result.ok, (line, steps and steps[-1].result)
    return steps[-1].result


@pytest.fixture
def echo_process():
    """A lab echo server in its own process, so its descriptors are not counted with ours."""
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "serve", "echo", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = proc.stderr.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    assert m, line
    yield int(m[1])
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# ----- file descriptors ---------------------------------------------------------------

def test_1000_connect_close_cycles_leave_no_descriptor(echo_process):
    ex = Executor(REGISTRY)
    run_ok(ex, f"connect 127.0.0.1 {echo_process}")  # warm up: imports, resolver files
    run_ok(ex, "close")
    before = open_fds()
    for i in range(CYCLES):
        run_ok(ex, f"connect 127.0.0.1 {echo_process}")
        if i % 100 == 0:  # now and then a real exchange
            run_ok(ex, f"send cycle {i}")
            run_ok(ex, f"expect cycle {i}\\r\\n")
        run_ok(ex, "close")
    assert ex.session.sock is None
    assert_no_new_fds(before, f"{CYCLES} connect/close cycles")
    ex.finish()


def test_1000_failed_connects_leave_no_descriptor():
    with socket.socket() as closed:  # bound, never listening: every connect is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        ex = Executor(REGISTRY)
        list(ex.run_line(f"connect 127.0.0.1 {port}"))
        before = open_fds()
        for _ in range(CYCLES):  # connect creates a socket for the attempt and must close it
            (step,) = ex.run_line(f"connect 127.0.0.1 {port}")
            assert step.result.error.errname == "ECONNREFUSED"
        assert ex.session.sock is None
        assert_no_new_fds(before, f"{CYCLES} refused connects")
        for _ in range(CYCLES):  # on a socket the user made: it stays open until `close`
            run_ok(ex, "socket")
            (step,) = ex.run_line(f"connect 127.0.0.1 {port}")
            assert step.result.error.errname == "ECONNREFUSED"
            assert step.result.state == "tcp created, connect failed (ECONNREFUSED)"
            run_ok(ex, "close")
        assert_no_new_fds(before, f"{CYCLES} socket/refused connect/close cycles")
        ex.finish()


def test_failed_lookups_and_udp_sockets_leave_no_descriptor():
    ex = Executor(REGISTRY)
    list(ex.run_line("connect no-such-host.invalid 80"))
    before = open_fds()
    for i in range(CYCLES):
        if i % 50 == 0:  # a resolver query each (allowed for .invalid, but not free)
            (step,) = ex.run_line("connect no-such-host.invalid 80")
            assert step.result.error.kind == "address"
        run_ok(ex, "socket inet udp")
        run_ok(ex, "sendto 127.0.0.1 9 x")  # a datagram to the discard port, on loopback
        run_ok(ex, "close")
    assert_no_new_fds(before, f"{CYCLES // 50} failed lookups and {CYCLES} UDP socket/sendto/close cycles")
    ex.finish()


# ----- data integrity ------------------------------------------------------------------------

def stream_chunks(seed: int, total: int):
    """A repeatable pseudo-random byte stream in chunks of varying size."""
    rng = random.Random(seed)
    left = total
    while left:
        n = min(left, rng.randrange(1, 2 << 20))
        yield rng.randbytes(n)
        left -= n


def outq(conn: socket.socket) -> int:
    """Bytes sent but not yet acknowledged by the peer."""
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def rx_queue(local_port: int, remote_port: int) -> int | None:
    """Bytes received but not yet read by the application, for a loopback TCP socket."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if (int(parts[1].split(":")[1], 16), int(parts[2].split(":")[1], 16)) == (local_port, remote_port):
                return int(parts[4].split(":")[1], 16)
    return None


class StreamPeer:
    """Sends `total` bytes of the seeded stream and hashes them; then closes (FIN) or, with
    reset=True, waits until the client has read every byte and resets (RST)."""

    def __init__(self, tcp_server, total: int, seed: int, reset: bool = False):
        self.total, self.seed, self.reset = total, seed, reset
        self.sha = hashlib.sha256()
        self.sent = 0
        self.done = threading.Event()
        self.server = tcp_server(self.handle)
        self.port = self.server.port

    def handle(self, conn):
        try:
            for chunk in stream_chunks(self.seed, self.total):
                conn.sendall(chunk)
                self.sha.update(chunk)
                self.sent += len(chunk)
            if self.reset:
                client = conn.getpeername()[1]
                wait_until(lambda: outq(conn) == 0 and rx_queue(client, self.port) == 0, 120,
                           what="the client to read every byte before the RST")
                rst_close(conn)
            else:
                conn.close()
        finally:
            self.done.set()


def file_sha256(path) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
            size += len(block)
    return size, sha.hexdigest()


def test_recv_all_into_a_file_keeps_exactly_the_bytes_sent_300_mib(tmp_path, tcp_server):
    peer = StreamPeer(tcp_server, BIG, seed=20240601)
    out = tmp_path / "stream.bin"
    started = time.monotonic()
    p = run_cli("-c", f"connect 127.0.0.1 {peer.port}; recv all > {out}; info", timeout=600)
    elapsed = time.monotonic() - started
    assert (p.returncode, p.stderr) == (0, ""), p.stdout
    assert peer.done.wait(60) and peer.sent == BIG
    assert f"received {BIG} bytes in total into {out} until end of stream" in p.stdout
    assert f"  received  {BIG} bytes" in p.stdout
    size, digest = file_sha256(out)
    print(f"\n[resources] {BIG >> 20} MiB through recv all > FILE in {elapsed:.1f} s (whole CLI run); "
          f"sha256 {digest[:16]}...")
    assert (size, digest) == (BIG, peer.sha.hexdigest())


def test_a_reset_midway_keeps_the_bytes_received_so_far_and_says_how_many(tmp_path, tcp_server):
    peer = StreamPeer(tcp_server, MIDWAY, seed=7, reset=True)
    out = tmp_path / "partial.bin"
    p = run_cli("-k", "-c", f"connect 127.0.0.1 {peer.port}; recv all > {out}; info", timeout=600)
    assert peer.done.wait(60) and peer.sent == MIDWAY
    assert f"received {MIDWAY} bytes before the error (written to {out})\n" in p.stdout
    assert "error: recv all: connection/I-O error (OSError, formerly socket.error) [ECONNRESET" in p.stdout
    assert f"  received  {MIDWAY} bytes" in p.stdout
    assert "  state     tcp connection lost (ECONNRESET)" in p.stdout
    assert p.returncode == 1 and [kind for _, kind in failed_notes(p.stderr)] == ["io"]
    assert file_sha256(out) == (MIDWAY, peer.sha.hexdigest())


def test_recv_all_kept_in_memory_equals_the_file_and_the_stream(tmp_path, tcp_server):
    # The same bytes whether shown (hex view, every byte) or written: no view drops or reorders data.
    from netrepl.render.escape import hexdump

    n = 3 << 20
    peers = [StreamPeer(tcp_server, n, seed=99) for _ in range(2)]
    out = tmp_path / "small.bin"
    p = run_cli("-c", f"set display hex; connect 127.0.0.1 {peers[0].port}; recv all; close; "
                      f"connect 127.0.0.1 {peers[1].port}; recv all > {out}", timeout=300)
    assert p.returncode == 0, p.stderr
    data = b"".join(stream_chunks(99, n))
    assert hexdump(data) in p.stdout
    assert out.read_bytes() == data


# ----- record files and history ------------------------------------------------------------

def test_record_file_survives_sigkill(tmp_path, lab):
    echo = lab("echo")
    path = tmp_path / "session.nrs"
    nr = Live()
    commands = ["set var greeting hello", "print $greeting", "socket", "info", "close", "recv",
                f"connect 127.0.0.1 {echo.port}", "send $greeting", "expect hello\\r\\n", "timeout 2.5"]
    assert "recording to" in nr.run(f"record {path}")
    for command in commands:
        nr.run(command)
    os.kill(nr.proc.pid, signal.SIGKILL)  # no chance to flush or close anything
    assert nr.proc.wait(30) == -signal.SIGKILL
    recorded = [line for line in path.read_text().splitlines()
                if line and not line.startswith("#") and not line.startswith("print -- done")]  # Live's markers
    # Every command is there, in order (a failed one as `must-fail KIND ...`, which replays as a pass).
    tail = recorded[-len(commands):]
    for command, line in zip(commands, tail):
        written = command.replace(f"127.0.0.1 {echo.port}", f"${{host:-127.0.0.1}} ${{port:-{echo.port}}}")
        assert line == written or re.fullmatch(rf"must-fail \S+ {re.escape(command)}", line), (command, line)
    assert tail[5] == "must-fail state recv"
    # And the recording replays.
    replay = run_cli(str(path))
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_history_file_is_created_0600_and_holds_each_line_at_once(tmp_path, monkeypatch):
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from netrepl.shell import Shell

    history = tmp_path / "state" / "netrepl" / "history"
    monkeypatch.setenv("NETREPL_HISTFILE", str(history))
    old = os.umask(0)  # the mode comes from netrepl, not from a kind umask
    try:
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            shell = Shell(Executor(REGISTRY), input=pipe, output=DummyOutput(), out=io.StringIO())
            assert stat.S_IMODE(history.stat().st_mode) == 0o600
            assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
            for line in ("print one", "socket", "info"):
                pipe.send_text(line + "\r")
                assert shell.one()
                assert line in history.read_text()  # on disk before the next prompt: a kill loses nothing
            shell.ex.finish()
    finally:
        os.umask(old)
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def test_an_existing_history_file_readable_by_others_is_tightened(tmp_path, monkeypatch):
    from netrepl.paths import ensure_private_file, history_path

    history = tmp_path / "history"
    history.write_text("\n# old\n+print old\n")
    history.chmod(0o644)
    monkeypatch.setenv("NETREPL_HISTFILE", str(history))
    ensure_private_file(history_path())
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "+print old" in history.read_text()
