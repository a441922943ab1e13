"""The worksheet scripts in scripts/ and the pytest plugin that runs .nrs files.

Every script runs through the CLI and must exit 0; two `--stable` runs must
give byte-identical transcripts. The scripts' lab servers listen on ports
the OS chooses (`serve KIND 0`, `$lab_port`), so parallel runs never collide.
No .nrs file lives under tests/: the plugin would collect it.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli

pytest_plugins = ["pytester"]

SCRIPTS = sorted((ROOT / "scripts").glob("*.nrs"))
WORKSHEET = {"connect.nrs", "connect2.nrs", "connect3.nrs", "socketerrors.nrs", "shutdown.nrs"}


def _port_is_free(port: int) -> bool:
    """Nothing listens there (TIME_WAIT leftovers are fine: lab servers set SO_REUSEADDR too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def script_vars():
    """-D values the scripts need. Their own lab servers listen on ports the OS chooses
    ($lab_port); socketerrors.nrs also connects by service name: use a service from the
    services database whose port is free here (http-alt/8080 by default).
    """
    defines = {}
    for name in ("http-alt", "webcache", "postgresql", "mysql", "svn", "git", "x11"):
        try:
            number = socket.getservbyname(name, "tcp")
        except OSError:
            continue
        if _port_is_free(number):
            defines.update(service=name, alt_port=str(number))
            return defines
    pytest.skip("no service port from the services database is free for socketerrors.nrs")


def _d(defines):
    return [arg for name, value in defines.items() for arg in ("-D", f"{name}={value}")]


def test_the_worksheet_scripts_exist():
    assert WORKSHEET <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_runs_with_exit_0_and_stable_transcripts(path, script_vars):
    first = run_cli("--stable", *_d(script_vars), str(path))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stderr == ""
    assert "Traceback" not in first.stdout
    second = run_cli("--stable", *_d(script_vars), str(path))
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.stdout == second.stdout  # byte-identical transcripts
    assert first.stdout.startswith("netrepl> ")


def test_shutdown_script_shows_the_lost_connection(script_vars):
    p = run_cli(*_d(script_vars), str(ROOT / "scripts" / "shutdown.nrs"))
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    order = [out.index("Sleeping..."), out.index("Continuing"), out.index("failed as expected (lost): shutdown(1)")]
    assert order == sorted(order)
    assert any(f"[{name} " in out for name in ("ENOTCONN", "EPIPE", "ECONNRESET"))
    assert "connection lost" in out


def test_socketerrors_script_shows_the_five_runs(script_vars):
    p = run_cli(*_d(script_vars), str(ROOT / "scripts" / "socketerrors.nrs"))
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "HTTP/1.0 200 OK" in out
    assert "failed as expected (address)" in out and "gaierror" in out
    assert "failed as expected (service)" in out and "port80" in out
    assert f"is port {script_vars['alt_port']}" in out
    assert "HTTP/1.0 404 Not Found" in out


def test_pytest_collects_and_passes_scripts(script_vars):
    """`pytest scripts/` through the installed plugin: one passing test per script."""
    defines = [arg for name, value in script_vars.items() for arg in ("--nrs-D", f"{name}={value}")]
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "scripts/", *defines],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"{len(SCRIPTS)} passed" in p.stdout


def test_plugin_import_stays_cheap():
    code = "import sys, netrepl.pytest_plugin; assert 'prompt_toolkit' not in sys.modules"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


# ----- the plugin's failure report (pytester) -----------------------------------------

def test_broken_expectation_fails_with_a_clear_report(pytester, tcp_server):
    def answer_then_close(conn):  # the peer answers then closes: the expectation fails at once, no timeout
        conn.recv(100)
        conn.sendall(b"hello \x1b[2J\r\n")
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(100):
            pass

    server = tcp_server(answer_then_close)
    pytester.makefile(".nrs", demo=f"print starting\nconnect 127.0.0.1 {server.port}\ntimeout 5\n"
                                   "send hello\nexpect goodbye\nprint NEVER-REACHED\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "demo.nrs:5: `expect goodbye` failed" in out  # FILE:LINE and the command
    assert "expected 'goodbye'" in out  # expected ...
    assert "unmatched data received: 'hello \\x1b[2J\\r\\n'" in out  # ... vs received, escaped
    assert "\x1b" not in out
    assert "transcript:" in out
    assert "end of stream came first" in out
    assert "netrepl> send hello" in out and "netrepl> print starting" in out
    transcript = out.split("transcript:")[1]
    assert "netrepl> expect goodbye" in transcript
    assert "NEVER-REACHED" not in transcript  # the script stopped at the failure


def test_passing_and_failing_scripts_are_separate_tests(pytester, closed_port):
    pytester.makefile(".nrs", good="print fine\nlookup http\n")
    pytester.makefile(".nrs", refused=f"connect 127.0.0.1 {closed_port}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "refused.nrs:1: `connect 127.0.0.1" in out
    assert "ECONNREFUSED" in out


def test_syntax_error_script_is_reported_as_rejected(pytester):
    pytester.makefile(".nrs", broken="print fine\nrecv lots\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "rejected before running" in out
    assert "broken.nrs:2:6" in out


def test_nrs_define_option(pytester):
    pytester.makefile(".nrs", uses_var="print $who\nlookup $svc\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--nrs-D", "who=me", "--nrs-D", "svc=http")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_ctrl_c_in_a_script_stops_the_pytest_session(tmp_path, tcp_server):
    """A command interrupted by Ctrl-C is exit 130, not a failed test: pytest stops as on any
    Ctrl-C (it used to report the script as failed and run on)."""
    import signal
    import threading

    accepted = threading.Event()

    def hold(conn):
        accepted.set()
        conn.recv(100)  # until the client goes

    server = tcp_server(hold)
    (tmp_path / "wait.nrs").write_text(f"timeout 30\nconnect 127.0.0.1 {server.port}\nrecv\n")
    (tmp_path / "later.nrs").write_text("print later\n")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "wait.nrs", "later.nrs"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert accepted.wait(60)  # the script is in connect or recv
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert "KeyboardInterrupt" in out and "failed" not in out and "passed" not in out
