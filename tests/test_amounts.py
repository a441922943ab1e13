"""Reading by amount and by silence: `recv exactly N` (one deadline, end of stream with the
count) and `recv quiet SECONDS` (a keep-alive HTTP reply), against real peers on loopback."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import run, run_cli, text_of
from netrepl.commands import MAX_RECV

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"


def drip(pieces, pause=0.05, then_close=True):
    """A handler sending each piece after a pause; it closes at the end, or waits (keep-alive)."""
    def handler(conn):
        for piece in pieces:
            time.sleep(pause)
            conn.sendall(piece)
        if then_close:
            conn.close()
        else:
            conn.recv(1)  # until the client goes
    return handler


def keep_alive(conn):
    """HTTP/1.1 with keep-alive: each request head gets REPLY; the connection stays open."""
    data = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
        while b"\r\n\r\n" in data:
            _, data = data.split(b"\r\n\r\n", 1)
            conn.sendall(REPLY[:20])  # in two parts, a little apart: quiet must not end between them
            time.sleep(0.05)
            conn.sendall(REPLY[20:])


def test_exactly_gathers_several_recv_calls(ex, tcp_server):
    server = tcp_server(drip([b"x" * 20] * 5))
    run(ex, f"connect 127.0.0.1 {server.port}")
    result = run(ex, "recv exactly 30")
    assert result.ok and result.data == b"x" * 30
    assert "received exactly 30 bytes in " in text_of(result)
    rest = run(ex, "recv exactly 70")
    assert rest.ok and len(rest.data) == 70


def test_exactly_stops_at_end_of_stream_with_the_count(tcp_server):
    server = tcp_server(drip([b"a" * 60, b"b" * 40]))
    p = run_cli("-c", f"connect 127.0.0.1 {server.port}; recv exactly 500")
    assert p.returncode == 1
    assert "error: recv exactly: end of stream came first: end of stream after 100 of 500 bytes" in p.stdout
    assert "[tcp connected, peer closed]" in p.stdout
    short = tcp_server(drip([b"z" * 10]))
    ok = run_cli("-c", f"connect 127.0.0.1 {short.port}; must-fail eof recv exactly 11")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_exactly_has_one_deadline_for_the_whole_read(tcp_server):
    server = tcp_server(drip([b"."] * 200, pause=0.1, then_close=False))
    started = time.monotonic()
    p = run_cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; recv exactly 1000")
    elapsed = time.monotonic() - started
    assert p.returncode == 1
    assert "error: recv exactly: timeout" in p.stdout
    assert "bytes before the error" in p.stdout and "of 1000 bytes before the error" in p.stdout
    assert "the 1 s timeout is for the whole read; the connection is still open" in p.stdout
    assert elapsed < 8, elapsed  # 1 s and start-up, not 1 s per byte


def test_exactly_takes_what_expect_read_past_its_match_first(ex, tcp_server):
    server = tcp_server(drip([b"HEAD\r\n0123456789"], then_close=False))
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert run(ex, "expect HEAD\\r\\n").ok
    result = run(ex, "recv exactly 4")
    assert result.data == b"0123"
    assert run(ex, "recv exactly 6").data == b"456789"


def test_exactly_beyond_the_recv_maximum_needs_a_file(tcp_server, tmp_path):
    p = run_cli("-c", f"recv exactly {MAX_RECV + 1}")
    assert p.returncode == 2 and "`recv exactly N > PATH` streams more" in p.stderr
    server = tcp_server(drip([b"y" * 1000]))
    out = tmp_path / "out.bin"
    p = run_cli("-c", f"connect 127.0.0.1 {server.port}; recv exactly 600 > {out}")
    assert p.returncode == 0, p.stdout + p.stderr
    assert out.read_bytes() == b"y" * 600
    assert f"received exactly 600 bytes into {out} in " in p.stdout


def test_recv_all_on_keep_alive_times_out_but_quiet_ends_cleanly(tcp_server):
    server = tcp_server(keep_alive)
    get = "send GET / HTTP/1.1\\r\\nHost: x\\r\\n"
    p = run_cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; {get}; recv all")
    assert p.returncode == 1 and "error: recv all: timeout" in p.stdout
    p = run_cli("--stable", "-c", f"connect 127.0.0.1 {server.port}; {get}; recv quiet 0.3; {get}; recv quiet 0.3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("hello") == 2  # the second request on the same connection
    assert p.stdout.count(f"received {len(REPLY)} bytes, then the peer was quiet for 0.3 s (in all <time>)  "
                          "[tcp connected]") == 2


def test_quiet_says_end_of_stream_distinctly(ex, tcp_server):
    server = tcp_server(drip([b"bye"]))
    run(ex, f"connect 127.0.0.1 {server.port}")
    result = run(ex, "recv quiet 5")
    assert result.ok and result.data == b"bye"
    assert "received 3 bytes until end of stream, before any 5 s pause" in text_of(result)
    assert "peer closed" in result.state


def test_quiet_from_a_silent_peer_returns_nothing_after_the_pause(ex, tcp_server):
    server = tcp_server(drip([], then_close=False))
    run(ex, f"connect 127.0.0.1 {server.port}")
    started = time.monotonic()
    result = run(ex, "recv quiet 0.2")
    assert result.ok and result.data is None
    assert "received 0 bytes, then the peer was quiet for 0.2 s" in text_of(result)
    assert time.monotonic() - started < 5


def test_exactly_and_quiet_refuse_udp(ex):
    run(ex, "socket inet udp")
    for line in ("recv exactly 5", "recv quiet 1"):
        result = run(ex, line)
        assert result.error.kind == "state" and "on UDP each recv is one datagram" in result.error.message


def test_the_amount_has_a_place_only_after_exactly_or_quiet():
    assert "unexpected argument '5'" in run_cli("-c", "recv all 5").stderr
    assert "AMOUNT: 0 is below the minimum 1" in run_cli("-c", "recv exactly 0").stderr
    assert "AMOUNT: expected a number of seconds" in run_cli("-c", "recv quiet soon").stderr


@pytest.mark.parametrize("line", ["recv exactly 5", "recv quiet 0.5"])
def test_record_e_replays_amount_reads(tmp_path, lab, line):
    server = lab("echo")
    script = tmp_path / "rec.nrs"
    p = run_cli("-c", f"record -e {script}; connect 127.0.0.1 {server.port}; send -n ab\\ncdefgh; "
                f"{line}; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    text = script.read_text()
    if "exactly" in line:  # its bytes are in the result (quiet's are shown as they arrive)
        assert "expect ab\\n\nrecv exactly 2\n" in text  # the rest of the count after the expect's whole line
    again = run_cli(str(script), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


def test_quiet_reads_are_interrupted_by_nothing_but_the_peer_pausing(ex, tcp_server):
    """A peer that keeps talking in 50 ms steps outlasts a 0.3 s quiet read until it stops."""
    stop = threading.Event()

    def chatty(conn):
        for _ in range(10):
            conn.sendall(b"tick\n")
            time.sleep(0.05)
        stop.wait(10)

    server = tcp_server(chatty)
    run(ex, f"connect 127.0.0.1 {server.port}")
    result = run(ex, "recv quiet 0.3")
    stop.set()
    assert result.ok and result.data == b"tick\n" * 10


def test_closed_socket_is_said_before_anything(ex):
    result = run(ex, "recv exactly 3")
    assert result.error.kind == "state" and "no socket" in result.error.message
