"""What waits unread, looked at without consuming it (core/waiting.py), and the pieces of the
live console that need no terminal: `info`'s row, the toolbar fitting its width, the check
refusing `interact` in a script, the timing leaving typing pauses out (issue 16).

Real sockets on loopback throughout; a reset is a real RST (SO_LINGER 0).
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor
from netrepl.core.timing import IDLE_GAP, Timing
from netrepl.core.waiting import look
from netrepl.render.text import plain, render

WAIT = 10.0


def settle(check, what: str):
    """Poll until `check()` is true (the kernel's queue fills asynchronously): a deadline, no fixed sleep."""
    deadline = time.monotonic() + WAIT
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT:g} s for {what}")
        time.sleep(0.01)
    return value


@pytest.fixture
def pair():
    """(executor connected to a loopback server, the server's end of the connection)."""
    server = socket.create_server(("127.0.0.1", 0))
    ex = Executor(REGISTRY)
    steps = list(ex.run_line(f"connect 127.0.0.1 {server.getsockname()[1]}"))
    assert steps[-1].result.ok
    conn, _ = server.accept()
    yield ex, conn
    conn.close()
    server.close()
    ex.finish()


def run(ex, line: str) -> str:
    return "".join(plain(render(step.result)) for step in ex.run_line(line))


def test_the_kernel_queue_is_counted_and_nothing_is_consumed(pair):
    ex, conn = pair
    conn.sendall(b"x" * 63)
    waiting = settle(lambda: look(ex.session).kernel == 63 and look(ex.session), "63 bytes queued")
    assert waiting.buffered == 0 and not waiting.end
    assert look(ex.session).kernel == 63  # looking again: still all there
    assert "received 63 bytes" in run(ex, "recv 100")


def test_what_expect_read_past_its_match_counts_with_the_kernel_queue(pair):
    ex, conn = pair
    conn.sendall(b"one two three")
    settle(lambda: look(ex.session).kernel == 13, "13 bytes queued")
    run(ex, "expect two")
    conn.sendall(b"!!")
    waiting = settle(lambda: look(ex.session).kernel == 2 and look(ex.session), "2 more bytes")
    assert waiting.buffered == len(" three") and waiting.ready == 6


def test_an_end_of_stream_is_known_before_any_read_and_after_the_data_before_it(pair):
    ex, conn = pair
    conn.sendall(b"last words")
    conn.shutdown(socket.SHUT_WR)
    waiting = settle(lambda: look(ex.session).end and look(ex.session), "the end of stream")
    assert waiting.end == "end of stream" and waiting.kernel == 10
    run(ex, "recv 100")
    assert settle(lambda: look(ex.session).end, "the end of stream") == "end of stream"
    assert "end of stream" in run(ex, "recv")  # the peek left it for the read to report
    assert ex.session.peer_eof


def test_a_reset_is_known_at_once_and_the_session_says_so(pair):
    ex, conn = pair
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    waiting = settle(lambda: look(ex.session).end and look(ex.session), "the reset")
    assert waiting.end == "reset (ECONNRESET)"
    assert ex.session.lost == "ECONNRESET"  # the kernel says it once: the session keeps it
    assert "connection lost (ECONNRESET)" in ex.session.state()
    assert "lost earlier (ECONNRESET)" in run(ex, "recv")


def test_info_reports_what_waits(pair):
    ex, conn = pair
    assert "waiting" not in run(ex, "info")
    conn.sendall(b"12345")
    conn.close()
    settle(lambda: look(ex.session).end, "the end of stream")
    shown = run(ex, "info")
    assert "waiting   5 bytes in the kernel's queue; then end of stream" in shown
    assert "received  0 bytes" in shown


def test_a_datagram_waiting_is_counted():
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    ex = Executor(REGISTRY)
    try:
        run(ex, "socket inet udp")
        run(ex, "bind 127.0.0.1 0")
        peer.sendto(b"dgram!", ex.session.sock.getsockname())
        waiting = settle(lambda: look(ex.session).kernel and look(ex.session), "the datagram")
        assert waiting.datagram and waiting.kernel == 6
    finally:
        peer.close()
        ex.finish()


def test_a_client_waiting_at_the_listener_is_seen():
    ex = Executor(REGISTRY)
    try:
        shown = run(ex, "listen 127.0.0.1 0")
        port = ex.session.listener.sock.getsockname()[1]
        assert "listening" in shown and look(ex.session).clients == 0
        with socket.create_connection(("127.0.0.1", port)):
            settle(lambda: look(ex.session).clients, "the client")
    finally:
        ex.finish()


def test_tls_session_tickets_are_not_data_and_what_waits_is_the_plaintext(tmp_path):
    """TLS 1.3: the server's session tickets arrive after the handshake and are no data (a live
    `recv` on them would wait for nothing); what the server then sends counts as its plaintext
    bytes, a `recv` still gets all of them, and close_notify is an end of stream."""
    pytest.importorskip("trustme")
    import threading

    from tlshelpers import Certs, TlsServer

    certs = Certs(tmp_path)
    go, done = threading.Event(), threading.Event()

    def handler(server, conn):
        tls = server.wrap(conn)
        go.wait(WAIT)
        tls.sendall(b"hello over tls\r\n")
        done.wait(WAIT)
        tls.unwrap()
    server = TlsServer(certs.context(), handler)
    ex = Executor(REGISTRY)
    try:
        assert "error" not in run(ex, f"set tls ca {certs.ca_file}")
        run(ex, f"connect localhost {server.port}")
        assert "TLS 1.3 handshake" in run(ex, "tls")
        settle(lambda: not _readable_raw(ex), "the session tickets to be taken in")
        waiting = look(ex.session)
        assert waiting.encrypted and waiting.ready == 0 and not waiting.end  # tickets: nothing to read
        go.set()
        waiting = settle(lambda: look(ex.session).ready and look(ex.session), "the data")
        assert waiting.decrypted == 16
        from netrepl.shell.toolbar import waiting_words

        assert waiting_words(waiting) == "16 B waiting"
        assert ex.session.received == 0  # looking read nothing for the session
        done.set()
        settle(lambda: look(ex.session).end, "close_notify")
        assert "received 16 bytes" in run(ex, "recv 100")
        assert "end of stream" in run(ex, "recv")
    finally:
        go.set()
        done.set()
        ex.finish()
        server.close()


def _readable_raw(ex) -> bool:
    import select

    look(ex.session)
    return bool(select.select([ex.session.transport.sock.sock], [], [], 0.05)[0])


def test_the_toolbar_drops_the_least_important_fields_first_and_keeps_the_state(pair, tmp_path):
    from netrepl.shell.toolbar import toolbar_text

    ex, conn = pair
    run(ex, "listen 127.0.0.1 0")
    run(ex, f"record {tmp_path / 'x.nrs'}")
    conn.sendall(b"hi")
    settle(lambda: look(ex.session).kernel, "the data")
    whole = "".join(text for _, text in toolbar_text(ex))
    assert "recording to" in whole and "listening on" in whole and "2 B waiting" in whole
    for width in (200, 120, 80, 60, 30, 5):
        parts = [text for _, text in toolbar_text(ex, width)]
        assert "tcp connected" in parts[0]
        assert sum(map(len, parts)) <= width or len(parts) == 1
        assert all(text in whole for text in parts)  # whole fields only, never a cut one
    narrow = "".join(text for _, text in toolbar_text(ex, 60))
    assert "2 B waiting" in narrow and "recording to" not in narrow


def test_a_script_that_interacts_is_refused_whole_with_exit_2(tmp_path):
    script = tmp_path / "talk.nrs"
    script.write_text("print before\ninteract\n")
    done = subprocess.run([sys.executable, "-m", "netrepl", str(script)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert "talk.nrs:2:1: `interact` hands the session to a person at the shell's prompt" in done.stderr
    assert "before" not in done.stdout  # nothing ran


def test_interact_on_piped_input_says_it_needs_the_shell():
    ex = Executor(REGISTRY)
    shown = run(ex, "interact")
    assert "error: interact" in shown and "no socket" in shown
    ex.finish()


def test_time_between_commands_is_left_out_of_the_axis_and_counted_as_idle():
    t = Timing("x")
    first = time.perf_counter()
    t.add("connect", 0.001, start=first)
    t.add("first byte", 0.002, start=first + 0.001 + 5.0)  # five seconds of typing before the send
    assert t.idle == pytest.approx(5.0, abs=0.01)
    assert t.total == pytest.approx(0.003, abs=0.005)
    t.add("more", 0.001, start=first + 5.003 + IDLE_GAP / 10)  # a short gap is the connection's own
    assert t.idle == pytest.approx(5.0, abs=0.01)


def test_an_answer_seen_waiting_bounds_its_first_byte_then(pair):
    ex, conn = pair
    run(ex, "send ping")
    conn.sendall(b"pong\r\n")
    settle(lambda: look(ex.session).kernel, "the answer")  # the toolbar's look, at the prompt
    time.sleep(0.3)  # the person types `recv` meanwhile
    run(ex, "recv")
    phase = [p for p in ex.session.timing.phases if p.name == "first byte"][-1]
    assert phase.detail == "(at most: seen waiting at the prompt)"
    assert phase.elapsed.seconds < 0.25
