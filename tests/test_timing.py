"""Per-operation timing: the phases each command records (core/timing.py), the
`timing` command end to end, and a two-address name whose IPv6 address refuses
before IPv4 connects (both attempts shown)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT, has_ipv6_loopback, run, run_cli, text_of
from netrepl.core.timing import TCP_INFO_SIZE, Timing, kernel_rtt, rate_words


def names(phases):
    return [p.name for p in phases]


def test_connect_send_and_recv_all_record_their_phases(ex, lab):
    server = lab("http")
    connected = run(ex, f"connect 127.0.0.1 {server.port}")
    assert connected.ok
    assert names(connected.phases) == ["resolve", "connect"]
    assert connected.phases[1].target.port == server.port and connected.phases[1].outcome == ""
    assert run(ex, "send GET / HTTP/1.0\\r\\n").phases == []  # a send starts the clock, times nothing yet
    got = run(ex, "recv all")
    assert names(got.phases) == ["first byte", "transfer"]
    first, transfer = got.phases
    assert 0 < first.elapsed.seconds < 10 and transfer.detail.startswith(f"{len(got.data)} bytes")
    timing = ex.session.timing
    assert names(timing.phases) == ["resolve", "connect", "first byte", "transfer"]
    starts = [p.start for p in timing.phases]
    assert starts == sorted(starts[:3]) + starts[3:]  # resolve, connect, send: in order on one axis
    assert timing.total >= first.start + first.elapsed.seconds


def test_each_send_then_read_is_a_first_byte(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    for _ in range(2):
        run(ex, "send hi")
        assert names(run(ex, "recv line").phases) == ["first byte"]
    assert names(ex.session.timing.phases).count("first byte") == 2


def test_expect_times_the_first_byte_too(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "send hello")
    assert names(run(ex, "expect hello").phases) == ["first byte"]


def test_a_refused_attempt_is_a_phase(ex, closed_port):
    result = run(ex, f"connect 127.0.0.1 {closed_port}")
    assert result.error.errname == "ECONNREFUSED"
    assert [(p.name, p.outcome) for p in result.phases] == [("resolve", ""), ("connect", "refused")]
    shown = text_of(run(ex, "timing"), stable=True)
    assert "connect 127.0.0.1:" in shown and f"{closed_port} refused" in shown


def test_a_failed_lookup_is_timed(ex):
    result = run(ex, "connect nonexisting.invalid 80")
    assert result.error.kind == "address"
    assert [(p.name, p.outcome) for p in result.phases] == [("resolve", "failed")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is read on Linux only")
def test_kernel_rtt_from_tcp_info(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "send ping")
    run(ex, "recv line")
    rtt = kernel_rtt(ex.session.sock)
    assert rtt is not None and 0 < rtt.seconds < 1  # loopback: microseconds
    assert "kernel RTT estimate (TCP_INFO): " in text_of(run(ex, "timing"))
    assert TCP_INFO_SIZE >= 104


def test_kernel_rtt_is_none_for_udp_and_closed_sockets():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert kernel_rtt(udp) is None
    s = socket.socket()
    s.close()
    assert kernel_rtt(s) is None


def test_timing_before_any_connect_is_a_state_error(ex):
    result = run(ex, "timing")
    assert result.error.kind == "state" and "connect HOST PORT" in result.error.message


def test_timing_end_to_end_masks_under_stable():
    proc = run_cli("--stable", "-c", "serve http 0; connect localhost $lab_port; send GET / HTTP/1.0\\r\\n; "
                                     "recv all > /dev/null; timing")
    assert proc.returncode == 0, proc.stderr
    chart = proc.stdout.split("netrepl> timing\n", 1)[1]
    assert chart.startswith("timing of the connection to localhost (1 connect attempt): <time> in all")
    assert "  connect 127.0.0.1:<port>" in chart and "transfer 420 bytes at <rate>" in chart
    assert not any(ch.isdigit() for line in chart.splitlines()[1:] for ch in line.replace("127.0.0.1", "")
                   .replace("420", "").replace("TCP_INFO", ""))
    assert "<bar>" in chart


def test_rate_words():
    assert rate_words(2_000_000, 1.0) == " at 2.0 MB/s"
    assert rate_words(10, 0) == ""
    timing = Timing("h")
    timing.transfer(5000, 0.001, timing.began)
    assert timing.phases[0].detail == "5000 bytes at 5.0 MB/s"


# -- two addresses: [::1] refuses, 127.0.0.1 answers ----------------------------------

def _both_addresses() -> bool:
    try:
        found = {info[4][0] for info in socket.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM)}
    except OSError:
        return False
    return {"::1", "127.0.0.1"} <= found


def _unshare_hosts() -> str | None:
    """Why a private /etc/hosts (a mount namespace, as root) cannot be had here; None if it can."""
    if not shutil.which("unshare") or not shutil.which("mount"):
        return "no unshare/mount"
    if os.geteuid() != 0:
        return "not root (a private /etc/hosts needs a mount namespace)"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /etc/hosts /etc/hosts"],
                           capture_output=True, text=True, timeout=30)
    return None if probe.returncode == 0 else f"unshare -m fails: {probe.stderr.strip()[:200]}"


def run_with_dual_localhost(*args):
    """netrepl ARGS where `localhost` resolves to ::1 then 127.0.0.1: as it is, or in a
    mount namespace with its own /etc/hosts saying so. Skips with the reason otherwise."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    if _both_addresses():
        return run_cli(*args)
    why = _unshare_hosts()
    if why:
        pytest.skip(f"localhost has one address here and {why}")
    with tempfile.NamedTemporaryFile("w", suffix=".hosts", delete=False) as hosts:
        hosts.write("::1 localhost\n127.0.0.1 localhost\n")
    try:
        line = "mount --bind \"$0\" /etc/hosts && exec \"$@\""
        env = dict(os.environ)
        env.pop("PYTHONWARNINGS", None)
        return subprocess.run(["unshare", "-m", "sh", "-c", line, hosts.name, sys.executable, "-m", "netrepl",
                               *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL)
    finally:
        os.unlink(hosts.name)


def test_timing_shows_both_attempts_of_a_two_address_name():
    proc = run_with_dual_localhost("--stable", "-c", "serve echo 0; connect localhost $lab_port; timing")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "trying the next address" in out  # [::1] refused: nothing listens there, the lab is IPv4
    chart = out.split("netrepl> timing\n", 1)[1].splitlines()
    assert chart[0].startswith("timing of the connection to localhost (2 connect attempts): <time> in all")
    rows = [row.split("<time>")[0].strip() for row in chart[1:] if "<bar>" in row]
    assert rows == ["resolve localhost", "connect [::1]:<port> refused", "connect 127.0.0.1:<port>"]


def test_two_address_fallback_figures_are_real():
    proc = run_with_dual_localhost("-c", "serve echo 0; connect localhost $lab_port; timing")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    chart = proc.stdout.split("netrepl> timing\n", 1)[1]
    refused = next(line for line in chart.splitlines() if "refused" in line)
    assert refused.lstrip().startswith("connect [::1]:") and " ms  |" in refused and "#" in refused


def _shape(text: str) -> list[str]:
    """A transcript with what varies taken out: ports, figures, rates, bars, column padding."""
    text = re.sub(r"(127\.0\.0\.1|\[::1\]):\d+", r"\1:P", text)
    text = re.sub(r"\d+(?:\.\d+)? (?:us|ms|s|kB/s|MB/s|GB/s|B/s)\b", "T", text)
    text = re.sub(r"\|[# ]+\|", "|bar|", text)
    text = text.replace(" (at most: already there when read)", "")  # a race between the answer and the read
    return [" ".join(line.split()) for line in text.splitlines()]


def test_the_readme_waterfall_is_what_netrepl_prints():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Timing", 1)[1].split("```\n", 2)[1]
    command, shown = block.split("\n", 1)
    assert command.startswith("$ netrepl -c '") and command.endswith("'")
    proc = run_with_dual_localhost("-c", command[len("$ netrepl -c '"):-1].replace("\\\\", "\\"))
    assert proc.returncode == 0, proc.stderr
    assert _shape(proc.stdout) == _shape(shown)


def test_record_writes_timing_lines_that_replay(tmp_path):
    path = tmp_path / "r.nrs"
    proc = run_cli("-q", "-k", "-c", f"record {path}; timing; serve echo 0; connect localhost $lab_port; timing; "
                                     "record stop")
    assert proc.returncode == 1  # the first `timing` had nothing to show
    assert path.read_text() == "must-fail state timing\nserve echo 0\nconnect localhost $lab_port\ntiming\n"
    assert run_cli("-q", str(path)).returncode == 0


def test_a_long_conversation_keeps_a_bounded_number_of_phases(ex, lab):
    from netrepl.core.timing import MAX_PHASES

    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    for _ in range(MAX_PHASES + 10):
        run(ex, "send x")
        run(ex, "recv line")
    timing = ex.session.timing
    assert len(timing.phases) == MAX_PHASES and timing.dropped == 12  # resolve and connect came first
    assert f"... and {timing.dropped} later phase(s), not kept" in text_of(run(ex, "timing"))


def test_first_byte_says_when_the_answer_was_already_there(ex, lab, tcp_server):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "send hi")
    from helpers import wait_until

    wait_until(lambda: ex.session.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))  # the echo is back
    phase = run(ex, "recv line").phases[0]
    assert phase.name == "first byte" and phase.detail == "(at most: already there when read)"


def test_first_byte_waited_for_is_the_real_figure(ex, tcp_server):
    import threading

    go = threading.Event()

    def late(conn):
        conn.recv(100)
        go.wait(10)  # answers only when the client is already blocked in recv
        conn.sendall(b"late\n")

    port = tcp_server(late).port
    run(ex, f"connect 127.0.0.1 {port}")
    run(ex, "send hi")
    timer = threading.Timer(0.2, go.set)
    timer.start()
    phase = run(ex, "recv line").phases[0]
    timer.join()
    assert phase.name == "first byte" and phase.detail == "" and phase.elapsed.seconds >= 0.2

