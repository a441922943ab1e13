"""core/expect.py and core/buffer.py: one read cursor, a bounded window, deadlines that hold.

End to end through the CLI against real loopback peers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from conftest import ROOT, run, run_cli, text_of


def keep_alive_http(conn):
    """An HTTP/1.1 keep-alive peer: 200 for /x, 404 for anything else, many requests per connection."""
    pending = b""
    while True:
        while b"\r\n\r\n" not in pending:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
        head, _, pending = pending.partition(b"\r\n\r\n")
        path = head.split(b" ")[1]
        body = b"found\n" if path == b"/x" else b"no such page\n"
        status = b"200 OK" if path == b"/x" else b"404 Not Found"
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\nConnection: keep-alive\r\n\r\n" + body)


def test_expect_does_not_match_a_reply_recv_already_showed(tcp_server):
    """The false pass: the 2nd reply is a 404, and `expect 200 OK` must not match the 1st one."""
    server = tcp_server(keep_alive_http)
    p = run_cli("-c", f"timeout 2; connect 127.0.0.1 {server.port}; send GET /x HTTP/1.1\\r\\nHost: a\\r\\n; recv; "
                      "send GET /missing HTTP/1.1\\r\\nHost: a\\r\\n; expect 200 OK")
    assert "HTTP/1.1 200 OK" in p.stdout  # the recv showed the first reply
    assert p.returncode == 1, p.stdout + p.stderr
    assert "expected '200 OK' but nothing matched within 2 s" in p.stdout
    assert "404 Not Found" in p.stdout  # what it did get is quoted


def test_the_same_exchange_with_the_right_expectations_passes(tcp_server):
    server = tcp_server(keep_alive_http)
    p = run_cli("-c", f"timeout 2; connect 127.0.0.1 {server.port}; send GET /x HTTP/1.1\\r\\nHost: a\\r\\n; "
                      "expect 200 OK; send GET /missing HTTP/1.1\\r\\nHost: a\\r\\n; expect 404; must-fail expect expect 200")
    assert p.returncode == 0, p.stdout + p.stderr


def test_recv_returns_first_what_expect_read_past_its_match(ex, tcp_server):
    server = tcp_server(keep_alive_http)
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "send GET /x HTTP/1.1\\r\\nHost: a\\r\\n")
    r = run(ex, "expect HTTP/1.1")  # through the end of the status line: it came with the match
    assert r.ok and r.data == b"HTTP/1.1 200 OK\r\n", text_of(r)
    assert "read, not yet consumed" in text_of(run(ex, "info"))  # `info` says bytes are waiting
    r = run(ex, "recv")  # nothing lost: the rest of the reply, which expect had read already
    assert r.ok and r.data.startswith(b"Content-Length: 6\r\n") and r.data.endswith(b"found\n"), r.data
    assert r.data_offset == len(b"HTTP/1.1 200 OK\r\n")
    run(ex, "send GET /x HTTP/1.1\\r\\nHost: a\\r\\n")
    r = run(ex, "recv line")
    assert r.ok and r.data == b"HTTP/1.1 200 OK\r\n"
    r = run(ex, "recv line")  # read past by the first recv line: handed out now, once
    assert r.ok and r.data == b"Content-Length: 6\r\n"


def flooding(stop: threading.Event):
    """A peer that sends as fast as loopback takes it, for at most 20 s."""
    def handler(conn):
        block = b"x" * 65535 + b"\n"
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            conn.sendall(block)
    return handler


def peak_rss_kib(proc: subprocess.Popen) -> int:
    """VmHWM of a running child, polled until it exits (VmHWM only grows)."""
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.01)
    return peak


def test_expect_against_a_flood_is_bounded_in_memory_time_and_output(tcp_server):
    stop = threading.Event()
    server = tcp_server(flooding(stop))
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c",
                             f"timeout 3; connect 127.0.0.1 {server.port}; expect NEVER\\r\\n"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    try:
        peak = peak_rss_kib(proc)
        proc.wait(timeout=30)
    finally:
        stop.set()
        proc.kill()
    elapsed = time.monotonic() - started
    reader.join(10)
    stdout = out[0].decode("utf-8", "replace")
    print(f"peak RSS {peak} KiB, {elapsed:.2f} s, {len(out[0])} bytes printed")
    assert proc.returncode == 1, stdout[-2000:]
    assert peak < 64 * 1024, f"peak RSS {peak} KiB"
    assert elapsed < 10, elapsed  # the 3 s timeout, plus start-up on a loaded machine
    assert len(out[0]) < 16 * 1024, len(out[0])
    # The pattern as typed (one backslash each), then a bounded excerpt: start … gap … end.
    assert "expected 'NEVER\\r\\n' but nothing matched within 3 s; unmatched data received: 'xxx" in stdout
    assert "bytes not shown … 'xxx" in stdout
    assert "dropped unseen (expect keeps the last 1 MiB)" in stdout


def backtracking_peer(conn):
    conn.sendall(b"a" * 64)  # (a|aa)+b against this takes Python's `re` longer than the age of the universe
    while conn.recv(65536):
        pass


def test_a_backtracking_regex_ends_at_the_deadline(tcp_server):
    server = tcp_server(backtracking_peer)
    started = time.monotonic()
    p = run_cli("-c", f"timeout 2; connect 127.0.0.1 {server.port}; expect /(a|aa)+b/", timeout=30)
    elapsed = time.monotonic() - started
    assert p.returncode == 1, p.stdout + p.stderr
    assert "expected '/(a|aa)+b/' but nothing matched within 2 s" in p.stdout
    assert elapsed < 10, elapsed  # the regex timeout counts CPU time: allow for a loaded machine


def test_a_backtracking_regex_ends_at_the_wall_clock_deadline_when_starved_of_cpu(tcp_server):
    """The regex module's timeout counts CPU time: a process that gets a quarter of a CPU
    (a loaded CI machine; here SIGSTOP three quarters of the time) ran `timeout 1` for 4 s."""
    server = tcp_server(backtracking_peer)
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c",
                             f"timeout 1; connect 127.0.0.1 {server.port}; print searching; expect /(a|aa)+b/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                            text=True)
    try:
        while "searching" not in proc.stdout.readline():
            pass
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < 10:
            proc.send_signal(signal.SIGSTOP)
            time.sleep(0.03)  # the duty cycle of the starvation, not a wait for something
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        proc.send_signal(signal.SIGCONT)
        elapsed = time.monotonic() - started
        out = proc.communicate(timeout=10)[0]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1 and "nothing matched within 1 s" in out, out
    assert elapsed < 2.5, elapsed


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_a_backtracking_regex_stops_on_ctrl_c(tcp_server):
    server = tcp_server(backtracking_peer)
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c",
                             f"timeout none; connect 127.0.0.1 {server.port}; print searching; expect /(a|aa)+b/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                            text=True)
    try:
        while not (line := proc.stdout.readline()).startswith("netrepl> expect") and line:
            pass
        # In the search once the child burns CPU (it was idle, waiting, before the data came).
        started, deadline = cpu_seconds(proc.pid), time.monotonic() + 20
        while cpu_seconds(proc.pid) - started < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert "interrupted" in out + err, out + err
    assert "Traceback" not in out + err


def test_regex_is_not_imported_by_a_plain_run():
    p = subprocess.run([sys.executable, "-c", "import sys; from netrepl.cli import main; "
                        "sys.argv = ['netrepl', '-q', '-c', 'lookup http tcp']\n"
                        "try: main()\nexcept SystemExit: pass\nprint('regex' in sys.modules)"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.strip().endswith("False"), p.stdout + p.stderr
