"""core/sink.py: `recv all > PATH` on a full disk, into /dev/full, into a FIFO nobody reads."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import pytest

from conftest import run_cli

SIZE = 2_392_064  # more than the 1 MiB file system below holds


def sending(size: int):
    def handler(conn):
        conn.sendall(b"z" * size)
        conn.close()
    return handler


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs: a real full disk."""
    where = tmp_path / "small"
    where.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {p.stderr.strip()}")
    yield where
    subprocess.run(["umount", str(where)], capture_output=True)


def test_a_full_disk_is_a_file_error_that_says_what_is_truly_in_the_file(tcp_server, small_fs):
    server = tcp_server(sending(SIZE))
    out = small_fs / "out.bin"
    p = run_cli("-c", f"timeout 5; connect 127.0.0.1 {server.port}; recv all > {out}")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "recv all >: file error (OSError) [ENOSPC 28]" in p.stdout, p.stdout
    m = re.search(r"received (\d+) bytes; (\d+) bytes of them are in ", p.stdout)
    assert m, p.stdout
    assert int(m.group(2)) == out.stat().st_size > 0  # what it says is what is there
    assert int(m.group(1)) >= int(m.group(2))
    assert "connection lost" not in p.stdout and "[tcp connected]" in p.stdout


def test_dev_full(tcp_server):
    server = tcp_server(sending(100_000))
    p = run_cli("-c", f"timeout 5; connect 127.0.0.1 {server.port}; recv all > /dev/full")
    assert p.returncode == 1
    assert "[ENOSPC 28]" in p.stdout and "0 bytes of them are in /dev/full" in p.stdout, p.stdout


def test_a_fifo_with_no_reader_waits_at_most_the_timeout(tcp_server, tmp_path):
    server = tcp_server(sending(10))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    p = run_cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; recv all > {fifo}", timeout=30)
    elapsed = time.monotonic() - started
    assert p.returncode == 1, p.stdout + p.stderr
    assert "no reader opened the FIFO within 1 s" in p.stdout and "[ENXIO 6]" in p.stdout, p.stdout
    assert elapsed < 6, elapsed


def test_a_fifo_with_a_reader_gets_every_byte(tcp_server, tmp_path):
    server = tcp_server(sending(300_000))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []

    def read():
        with open(fifo, "rb") as f:  # opens once the writer tries; netrepl polls for it
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    p = run_cli("-c", f"timeout 5; connect 127.0.0.1 {server.port}; recv all > {fifo}", timeout=30)
    reader.join(10)
    assert p.returncode == 0, p.stdout + p.stderr
    assert got == [b"z" * 300_000]


def test_a_fifo_whose_reader_stops_reading_times_out(tcp_server, tmp_path):
    server = tcp_server(sending(4 << 20))  # more than a pipe buffer holds
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    try:
        started = time.monotonic()
        p = run_cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; recv all > {fifo}", timeout=30)
        elapsed = time.monotonic() - started
    finally:
        os.close(fd)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "its reader took no data within 1 s" in p.stdout, p.stdout
    assert elapsed < 6, elapsed
