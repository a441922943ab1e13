"""Zero-copy bulk receive (issue 20): `recv all > PATH` and `recv exactly N > PATH` splice
socket -> pipe -> file on Linux, and every count stays exact.

Real sockets on loopback. To see that splice was used (and not the recv_into path, which
gives the same bytes), os.splice is wrapped by a counter that calls the real one.
"""

from __future__ import annotations

import os
import socket

import pytest

from conftest import run, text_of
from helpers import wait_until
from netrepl.core import sink as sink_module
from netrepl.core.sink import FileSink, Splicer

pytestmark = pytest.mark.skipif(not sink_module.SPLICE, reason="os.splice is Linux-only (recv_into is used elsewhere)")

DATA = os.urandom(3 << 20) + b"\r\n\x1b[2J the end"


@pytest.fixture
def splices(monkeypatch):
    """How many times os.splice ran (the real one runs each time)."""
    calls = []
    real = os.splice

    def counted(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "splice", counted)
    return calls


def _sender(tcp_server, payload: bytes):
    def handler(conn):
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)

    return tcp_server(handler)


def test_recv_all_into_a_file_is_spliced_and_exact(ex, tcp_server, tmp_path, splices):
    server = _sender(tcp_server, DATA)
    out = tmp_path / "out.bin"
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, f"recv all > {out}")
    assert r.ok, text_of(r)
    assert f"received {len(DATA)} bytes in total into {out} until end of stream" in text_of(r)
    assert out.read_bytes() == DATA
    assert splices, "recv all > FILE did not splice"
    assert ex.session.received == len(DATA)


def test_recv_exactly_splices_what_an_expect_left_and_then_exactly_n(ex, tcp_server, tmp_path, splices):
    payload = b"HEADER\r\n" + DATA
    server = _sender(tcp_server, payload)
    first, rest = tmp_path / "first.bin", tmp_path / "rest.bin"
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert run(ex, "expect HEADER\\r\\n").ok  # it may read past its match: those bytes come first
    n = len(DATA) - 1000
    r = run(ex, f"recv exactly {n} > {first}")
    assert r.ok, text_of(r)
    assert f"received exactly {n} bytes into {first}" in text_of(r)
    r = run(ex, f"recv all > {rest}")
    assert r.ok and "received 1000 bytes in total" in text_of(r), text_of(r)
    assert first.read_bytes() + rest.read_bytes() == DATA
    assert splices
    assert ex.session.received == len(payload) and ex.session.buffer.offset == len(payload)


def test_recv_all_spliced_into_dev_null_counts_every_byte(ex, tcp_server, splices):
    server = _sender(tcp_server, DATA)
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv all > /dev/null")
    assert r.ok and f"received {len(DATA)} bytes in total into /dev/null" in text_of(r), text_of(r)
    assert splices


def test_a_file_that_fails_midway_says_how_many_bytes_came_and_how_many_are_in_it(ex, tcp_server):
    """/dev/full takes no byte (ENOSPC): whether the kernel refuses the splice (then plain writes)
    or the write, every byte taken off the socket is counted as received, none as written."""
    server = _sender(tcp_server, DATA)
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "recv all > /dev/full")
    assert r.error is not None and r.error.kind == "file" and r.error.errname == "ENOSPC", text_of(r)
    said = text_of(r)
    received = ex.session.received
    assert received > 0 and f"received {received} bytes; 0 bytes of them are in /dev/full" in said


def test_progress_is_reported_from_the_spliced_path(ex, tcp_server, tmp_path, monkeypatch, splices):
    import netrepl.core.receive as receive

    big = DATA * 8
    server = _sender(tcp_server, big)
    seen = []
    ex.progress = lambda total, seconds: seen.append(total)
    monkeypatch.setattr(receive, "PROGRESS_EVERY", 0.0)  # every chunk reports
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, f"recv all > {tmp_path / 'big.bin'}")
    assert r.ok, text_of(r)
    assert splices
    assert seen and seen == sorted(seen) and seen[-1] == len(big)
    assert (tmp_path / "big.bin").stat().st_size == len(big)


def test_no_splice_for_datagrams_tls_or_a_terminal(ex, tcp_server, tmp_path):
    """Splicer.of says where the bytes must come through recv_into. (A TLS socket's bytes are
    records to decrypt: tests/test_tls.py's `recv all > FILE` cases would fail if they were spliced.)"""
    server = _sender(tcp_server, b"x")
    out = FileSink(str(tmp_path / "o"), 5)
    try:
        assert Splicer.of(ex.session, out) is None  # no socket
        run(ex, "socket inet udp")
        assert Splicer.of(ex.session, out) is None  # datagrams
        run(ex, "close")
        run(ex, f"connect 127.0.0.1 {server.port}")
        splicer = Splicer.of(ex.session, out)
        assert splicer is not None
        splicer.close()
        out.spliceable = False  # a sink that cannot take spliced bytes (RawOut on a terminal)
        assert Splicer.of(ex.session, out) is None
    finally:
        out.close()


def test_send_from_a_regular_file_goes_by_sendfile_and_counts_every_byte(ex, tcp_server, tmp_path, monkeypatch):
    calls = []
    real = os.sendfile

    def counted(*args):
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(os, "sendfile", counted)
    got = bytearray()

    def handler(conn):
        while chunk := conn.recv(1 << 20):
            got.extend(chunk)

    server = tcp_server(handler)
    path = tmp_path / "payload.bin"
    path.write_bytes(DATA)
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, f"send < {path}")
    assert r.ok and f"sent {len(DATA)} bytes from {path}" in text_of(r), text_of(r)
    assert calls, "send < FILE did not use sendfile"
    run(ex, "shutdown 1")
    wait_until(lambda: len(got) == len(DATA), what="the server to receive the whole file")
    assert bytes(got) == DATA
    assert ex.session.sent == len(DATA)


def test_record_p_still_sees_every_byte_a_zero_copy_path_would_move(ex, lab, tmp_path, splices):
    """`record -p` taps the transport: with it on, `send < FILE` and `recv all > FILE` take the copying
    path so the recording holds the bytes (a spliced transfer would bypass the tap)."""
    server = lab("echo")
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"from a file\n")
    out = tmp_path / "out.txt"
    rec = tmp_path / "rec.nrs"
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert run(ex, f"record -p {rec}").ok
    assert run(ex, f"send < {payload}").ok
    run(ex, "shutdown 1")
    r = run(ex, f"recv all > {out}")
    assert r.ok, text_of(r)
    run(ex, "record stop")
    assert out.read_bytes() == b"from a file\n"  # echoed as sent
    text = rec.read_text()
    assert text.count("from a file\\n") == 2 and "#> from a file" in text and "#< from a file" in text, text
    assert not splices
