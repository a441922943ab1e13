"""Binary payloads: `send < PATH` (streamed, constant memory, checked by a peer's SHA-256),
`send -x HEX`, `sendto ... < PATH` as one datagram, and each file failure said clearly."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import termios
import threading
import time

import pytest

from conftest import ROOT, run, run_cli, text_of
from helpers import wait_until
from netrepl.core.payload import DATAGRAM_LIMIT
from netrepl.language.parser import ParseError, Parser
from netrepl.commands import REGISTRY
from netrepl.shell.lexer import line_tokens
from netrepl.shell.suggest import suggest
from pygments.token import Error


class HashingPeer:
    """Accepts one connection and hashes everything until end of stream."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.sha, self.count, self.done = hashlib.sha256(), 0, threading.Event()
        self.data = bytearray()
        self.keep = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:  # closed unused (a skipped test)
            return
        with conn:
            while chunk := conn.recv(1 << 20):
                self.sha.update(chunk)
                self.count += len(chunk)
                if self.keep and len(self.data) < 1 << 20:
                    self.data += chunk
        self.done.set()

    def close(self):
        self.sock.close()


@pytest.fixture
def peer():
    p = HashingPeer()
    yield p
    p.close()


def write_file(path, size: int) -> str:
    """`size` bytes of varied content; returns their SHA-256."""
    sha = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(0, size, len(block)):
            part = (i.to_bytes(8, "big") + block)[: min(len(block), size - i)]
            sha.update(part)
            f.write(part)
    return sha.hexdigest()


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def test_send_file_of_200_mib_arrives_whole_in_constant_memory(tmp_path, peer):
    size = 200 << 20
    path = tmp_path / "big.bin"
    digest = write_file(path, size)
    peer.keep = False
    child = subprocess.Popen([sys.executable, "-m", "netrepl", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # Piped input runs line by line: the child stays alive (so /proc has its VmHWM) until stdin closes.
        child.stdin.write(f"connect 127.0.0.1 {peer.port}\nsend < {path}\nclose\n")
        child.stdin.flush()
        assert peer.done.wait(120), f"the peer got {peer.count} of {size} bytes"
        peak = vm_hwm_kib(child.pid)
        out, err = child.communicate("", timeout=60)  # closes stdin: the run ends
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out + err
    assert peer.count == size and peer.sha.hexdigest() == digest
    assert f"sent {size} bytes from {path} in " in out
    assert peak < 64 * 1024, f"peak RSS {peak} KiB"


def test_send_from_a_fifo_goes_through_the_read_loop(tmp_path, peer, ex):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = os.urandom(3 << 20)

    def writer():
        with open(fifo, "wb") as f:
            f.write(data)

    threading.Thread(target=writer, daemon=True).start()
    run(ex, f"connect 127.0.0.1 {peer.port}")
    result = run(ex, f"send < {fifo}")
    assert result.ok, text_of(result)
    assert f"sent {len(data)} bytes from {fifo}" in text_of(result)
    run(ex, "close")
    assert peer.done.wait(30)
    assert peer.sha.hexdigest() == hashlib.sha256(data).hexdigest()


def test_hex_send_sends_exactly_those_bytes(peer):
    p = run_cli("-c", f"connect 127.0.0.1 {peer.port}; send -x 16 03 01 00; send -x ff00FF; send -x\t0a 0B")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("sent 3 bytes") == 1 and p.stdout.count("sent 2 bytes") == 1
    assert peer.done.wait(30)
    assert bytes(peer.data) == b"\x16\x03\x01\x00\xff\x00\xff\x0a\x0b"


@pytest.mark.parametrize("line,col,words", [
    ("send -x 16 0g", 13, "'g' is not a hex digit"),
    ("send -x 160", 11, "odd number of hex digits (3)"),
    ("send -x 1 6 0", 13, "odd number of hex digits (3)"),
    ("send -x", 8, "-x needs the bytes in hex"),
    ("sendto 127.0.0.1 9 -x zz", 23, "'z' is not a hex digit"),
    ("send < f.bin extra", 14, "nothing may follow `< PATH`"),
    ("send -x < f.bin", 9, "-x reads hex from the line"),
    ("send <", 7, "< needs a file name"),
])
def test_bad_payloads_are_parse_errors_with_their_column(line, col, words):
    with pytest.raises(ParseError) as caught:
        Parser(REGISTRY).parse(line, {})
    assert words in caught.value.message and caught.value.col == col, (caught.value.message, caught.value.col)
    p = run_cli("-c", line)
    assert p.returncode == 2 and f"-c:1:{col}:" in p.stderr, p.stderr


def test_a_lone_less_than_is_a_redirect_other_text_is_data():
    parse = Parser(REGISTRY).parse
    assert parse("send <b>hi</b>", {}).args == {"source": None, "text": b"<b>hi</b>"}
    assert parse("send \\x3c f", {}).args["text"] == b"< f"
    assert parse("send < 'my file.bin'", {}).args["source"] == "my file.bin"
    assert parse("send < $F # a comment", {"F": "x.bin"}).args == {"source": "x.bin", "text": b""}
    assert parse("send # is data", {}).args["text"] == b"# is data"


def test_lexer_marks_bad_hex_digits_and_completion_offers_paths_after_less_than():
    tokens = line_tokens("send -x 16 0g 01")
    assert [i for i, kind in enumerate(tokens.kinds) if kind in Error] == [12]
    assert suggest("send < ", REGISTRY).kind == "path"
    assert suggest("sendto localhost 9 < ", REGISTRY).kind == "path"
    assert "<" in suggest("send ", REGISTRY).words and "-x" in suggest("send ", REGISTRY).words


def test_file_problems_are_kind_file_with_the_count_sent(tmp_path, peer):
    fifo = tmp_path / "nowriter"
    os.mkfifo(fifo)
    started = time.monotonic()
    p = run_cli("-k", "-c", f"connect 127.0.0.1 {peer.port}; send < {tmp_path}/missing.bin; send < {tmp_path}; "
                f"timeout 0.5; send < {fifo}; send < /proc/self/mem; send after")
    assert time.monotonic() - started < 20
    assert p.returncode == 1
    out = p.stdout
    assert f"error: send <: file error (OSError) [ENOENT 2]: {tmp_path}/missing.bin: No such file or directory" in out
    assert f"[EISDIR 21]: {tmp_path}: is a directory, not a file to send" in out
    assert f"[ETIMEDOUT 110]: {fifo}: no data to read within 0.5 s (a FIFO with no writer?)" in out
    assert "[EIO 5]: /proc/self/mem: Input/output error" in out
    assert out.count("sent 0 bytes") == 4  # two as `sent 0 bytes`, two `... before the file error`
    assert "sent 7 bytes  [tcp connected]" in out  # the session goes on
    assert p.stderr.count("failed (file)") == 4


def test_a_file_without_read_permission_is_refused(tmp_path, ex, peer):
    if os.geteuid() == 0:
        pytest.skip("root reads any file: the directory, FIFO and /proc cases cover refusals")
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    path.chmod(0)
    run(ex, f"connect 127.0.0.1 {peer.port}")
    result = run(ex, f"send < {path}")
    assert result.error.kind == "file" and result.error.errname == "EACCES"


def test_a_peer_that_takes_nothing_ends_send_file_at_the_timeout(tmp_path, tcp_server):
    stop = threading.Event()
    server = tcp_server(lambda conn: stop.wait(30))
    path = tmp_path / "f.bin"
    write_file(path, 64 << 20)
    started = time.monotonic()
    p = run_cli("-c", f"timeout 0.5; connect 127.0.0.1 {server.port}; send < {path}")
    stop.set()
    assert time.monotonic() - started < 20
    assert p.returncode == 1
    assert "error: send: timeout" in p.stdout
    assert "the peer took no more data within 0.5 s; the connection is still open" in p.stdout
    sent = int(p.stdout.split("sent ")[1].split(" ")[0])
    assert 0 < sent < 64 << 20  # the count is what went out: the kernel's buffers took some


def test_ctrl_c_stops_a_stalled_send_file_and_says_the_count(tmp_path):
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    conns = []

    def hold():
        conn, _ = listener.accept()
        conns.append(conn)
        stop.wait(60)  # takes nothing: the send stalls once the buffers are full

    threading.Thread(target=hold, daemon=True).start()
    path = tmp_path / "f.bin"
    write_file(path, 64 << 20)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c",
                             f"timeout none; connect 127.0.0.1 {listener.getsockname()[1]}; send < {path}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        queued = lambda: conns and fcntl.ioctl(conns[0], termios.FIONREAD, b"\0\0\0\0") != b"\0\0\0\0"  # noqa: E731
        wait_until(queued, what="the first bytes of the file at the peer")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        listener.close()
        for conn in conns:
            conn.close()
    assert proc.returncode == 130, (out, err)
    text = out.decode()
    assert "error: send: interrupted (Ctrl-C)" in text
    assert f"of {path} before the error" in text and "Traceback" not in err.decode()


def test_sendto_a_file_is_one_datagram_and_bounded(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(10)
        port = rx.getsockname()[1]
        small, big = tmp_path / "small.bin", tmp_path / "big.bin"
        small.write_bytes(os.urandom(DATAGRAM_LIMIT))
        big.write_bytes(b"x" * (DATAGRAM_LIMIT + 1))
        p = run_cli("-k", "-c", f"sendto 127.0.0.1 {port} < {small}; sendto 127.0.0.1 {port} < {big}; "
                    f"sendto 127.0.0.1 {port} -x 00 01 02")
        assert rx.recv(70000) == small.read_bytes()
        assert rx.recv(70000) == b"\x00\x01\x02"
    assert p.returncode == 1
    assert f"sent {DATAGRAM_LIMIT} bytes to 127.0.0.1:{port}" in p.stdout
    assert f"{big} holds more than 65,507 bytes: one UDP datagram carries at most 65,507" in p.stdout


def test_send_file_on_a_connected_udp_socket_is_one_datagram(tmp_path, ex):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(10)
        path = tmp_path / "d.bin"
        path.write_bytes(b"datagram")
        run(ex, "socket inet udp")
        run(ex, f"connect 127.0.0.1 {rx.getsockname()[1]}")
        result = run(ex, f"send < {path}")
        assert f"sent 8 bytes from {path} as one datagram" in text_of(result)
        assert rx.recv(100) == b"datagram"


def test_send_file_records_and_replays_under_stable(tmp_path, lab):
    server = lab("discard")
    path = tmp_path / "p.bin"
    path.write_bytes(b"payload")
    script = tmp_path / "rec.nrs"
    lines = [f"record {script}", f"connect 127.0.0.1 {server.port}", f"send < {path}", "send -x 00ff", "record stop"]
    first = run_cli("--stable", "-c", "; ".join(lines), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    recorded = script.read_text()
    assert f"send < {path}\nsend -x 00ff\n" in recorded
    again = run_cli("--stable", str(script), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"sent 7 bytes from {path} in <time>" in again.stdout
