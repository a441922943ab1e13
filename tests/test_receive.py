"""core/receive.py: recv line's one deadline, UDP datagrams whole or truncation said,
EPIPE after our own shutdown(1), and `recv all` progress reports.
"""

from __future__ import annotations

import io
import socket
import time

import pytest

from conftest import run, run_cli, text_of


def dripping(conn):
    """A byte every 0.5 s, never a newline, for at most 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conn.sendall(b"x")
        time.sleep(0.5)


def test_recv_line_has_one_deadline_not_one_per_byte(tcp_server):
    server = tcp_server(dripping)
    started = time.monotonic()
    p = run_cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; recv line")
    elapsed = time.monotonic() - started
    assert p.returncode == 1, p.stdout + p.stderr
    assert "of an unfinished line before the error" in p.stdout
    assert "timeout" in p.stdout
    assert elapsed < 5, elapsed  # 1 s, plus start-up; it was 8 s and more (the timeout per byte)


@pytest.fixture
def udp_peer():
    peers = []

    def start():
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.close()


def test_recv_line_on_udp_reads_one_whole_datagram(ex, udp_peer):
    peer = udp_peer()
    run(ex, "socket inet udp")
    run(ex, "bind 127.0.0.1 0")
    run(ex, "timeout 5")
    address = ex.session.sock.getsockname()
    peer.sendto(b"one\ntwo\n", address)
    peer.sendto(b"three\n", address)
    r = run(ex, "recv line")
    assert r.ok and r.data == b"one\ntwo\n", text_of(r)
    assert "received 8 bytes" in text_of(r) and "one datagram" in text_of(r)
    r = run(ex, "recv line")
    assert r.ok and r.data == b"three\n", text_of(r)


@pytest.mark.parametrize("command", ["recv", "recvfrom"])
def test_a_truncated_datagram_says_so(ex, udp_peer, command):
    peer = udp_peer()
    run(ex, "socket inet udp")
    run(ex, "bind 127.0.0.1 0")
    run(ex, "timeout 5")
    peer.sendto(b"d" * 65507, ex.session.sock.getsockname())
    r = run(ex, command)
    text = text_of(r)
    assert r.ok and r.data == b"d" * 2048, text
    assert "received 2048 bytes" in text
    assert "datagram of 65507 bytes truncated to 2048" in text and "63459 bytes are lost" in text


def test_a_datagram_that_fits_says_nothing_of_truncation(ex, udp_peer):
    peer = udp_peer()
    run(ex, "socket inet udp")
    run(ex, "bind 127.0.0.1 0")
    peer.sendto(b"small", ex.session.sock.getsockname())
    r = run(ex, "recvfrom 5")
    assert r.ok and r.data == b"small" and "truncated" not in text_of(r)


def test_send_after_our_own_shutdown_wr_is_not_a_lost_connection(lab):
    server = lab("echo")
    p = run_cli("-c", f"connect 127.0.0.1 {server.port}; shutdown wr; send after; info")
    assert p.returncode == 1
    assert "the write side is shut (shutdown 1)" in p.stdout, p.stdout
    assert "[EPIPE 32]" in p.stdout
    assert "connection lost" not in p.stdout, p.stdout
    assert "[tcp connected, write side shut]" in p.stdout


def steady_stream(seconds: float):
    """Sends 64 KiB blocks for `seconds`, then closes."""
    def handler(conn):
        block = b"y" * 65536
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            conn.sendall(block)
            time.sleep(0.002)
        conn.close()
    return handler


def test_recv_all_reports_progress_at_most_ten_times_a_second(ex, tcp_server):
    server = tcp_server(steady_stream(1.0))
    reports = []
    ex.progress = lambda total, seconds: reports.append((time.monotonic(), total, seconds))
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv all > /dev/null")
    assert r.ok, text_of(r)
    assert len(reports) >= 3, reports
    gaps = [b[0] - a[0] for a, b in zip(reports, reports[1:])]
    assert min(gaps) >= 0.09, gaps
    totals = [t for _, t, _ in reports]
    assert totals == sorted(totals) and totals[-1] <= ex.session.received


def test_a_script_prints_one_summary_line_and_no_progress(tcp_server):
    server = tcp_server(steady_stream(0.6))
    p = run_cli("-c", f"connect 127.0.0.1 {server.port}; recv all > /dev/null")
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stdout and " at " not in p.stdout.replace(" at 127.0.0.1", "")
    assert p.stdout.count("in total into /dev/null until end of stream") == 1


def test_the_shell_shows_a_status_line_and_clears_it(tcp_server):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.output import DummyOutput

    from netrepl.shell import Shell

    server = tcp_server(steady_stream(0.6))
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(f"connect 127.0.0.1 {server.port}\nrecv all > /dev/null\n")
        pipe.close()
        Shell(history=InMemoryHistory(), input=pipe, output=DummyOutput(), out=out).run()
    text = out.getvalue()
    status = text.index("\rreceived ")
    assert " MiB at " in text[status:] or " KiB at " in text[status:], text[-500:]
    cleared = text.index("\r\x1b[K", status)  # cleared before the result line
    assert text.index("in total into /dev/null", status) > cleared
