"""`recv all` on screen streams: data is shown as it arrives, in constant memory."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading

from netrepl.render.escape import escape_bytes, hexdump
from netrepl.render.text import DataStream
from netrepl.runner import Options, Runner


def test_data_stream_equals_one_shot_rendering_for_any_chunking():
    data = "naïve\r\n日本語\x1b[2J".encode() + bytes(range(256)) * 3
    for display, whole in (("text", escape_bytes(data)), ("hex", hexdump(data, 5))):
        for size in (1, 2, 3, 7, 16, 1000):
            out = []
            stream = DataStream(out.append, display, 5)
            for i in range(0, len(data), size):
                stream.feed(data[i:i + size])
            stream.close()
            expected = whole if whole.endswith("\n") else whole + "\n"
            assert "".join(out) == expected, (display, size)


def _producer(payload: bytes):
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.sendall(payload)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_recv_all_shows_data_before_its_total_and_keeps_none_of_it():
    payload = b"first line\r\n\x1b]0;title\x07" + b"x" * 5000 + b"\nlast"
    port = _producer(payload)
    out, err = io.StringIO(), io.StringIO()
    status = Runner(Options(quiet=True), out=out, err=err).run_text(f"connect 127.0.0.1 {port}; recv all")
    assert status == 0, err.getvalue()
    text = out.getvalue()
    shown = escape_bytes(payload) + "\n"
    at = text.index(shown)
    assert text[at + len(shown):].startswith(f"received {len(payload)} bytes in total until end of stream")


def test_recv_all_to_the_screen_runs_in_constant_memory():
    """128 MiB shown on (a redirected) screen: peak RSS stays well below the data size
    (keeping it all for one rendering at the end took about 7 times the data size)."""
    size = 128 << 20
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        chunk = bytes(range(256)) * 4096  # 1 MiB of every byte value
        with conn:
            for _ in range(size // len(chunk)):
                conn.sendall(chunk)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    # VmHWM, not ru_maxrss: the latter survives fork+exec and so counts this (large) pytest process.
    code = ("import re, sys; from netrepl.cli import main; status = main(sys.argv[1:]); "
            "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr); "
            "sys.exit(status)")
    with open(os.devnull, "w") as devnull:
        done = subprocess.run([sys.executable, "-c", code, "-q", "-c", f"timeout 60; connect 127.0.0.1 {port}; recv all"],
                              stdout=devnull, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr  # (a loaded machine: the producer shares this process)
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    assert peak_kib < 96 * 1024, f"peak RSS {peak_kib} KiB for {size >> 20} MiB shown"
