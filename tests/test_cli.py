"""The command line as a user runs it: `python -m netrepl ...` in a subprocess.

Exit status 0 (every command succeeded), 1 (a command failed; FILE:LINE on
stderr), 2 (script rejected before anything ran, or a usage error), 130 (Ctrl-C):
netrepl/base/exitstatus.py. The hostile cases are in test_batch.py.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, run_cli
from netrepl import __version__

PROMPT_TOOLKIT_NOISE = ("Input is not a terminal", "Output is not a terminal", "prompt_toolkit", "Traceback")


def script(tmp_path, text, name="s.nrs"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def readline_within(stream, seconds: float) -> str:
    """One line from a child's pipe, or "" if none comes in `seconds` (never hangs the test)."""
    got = queue.Queue()
    threading.Thread(target=lambda: got.put(stream.readline()), daemon=True).start()
    try:
        return got.get(timeout=seconds)
    except queue.Empty:
        return ""


def clean_stderr(err: str) -> None:
    for noise in PROMPT_TOOLKIT_NOISE:
        assert noise not in err, err


# ----- exit 0 / 1 ---------------------------------------------------------------

def test_all_commands_succeed_exit_0(tmp_path, lab):
    server = lab("echo")
    path = script(tmp_path, "# a comment\n\nprint start\nlookup http tcp\nconnect localhost $port\n"
                            "send hello\nexpect hello\\r\\n\nclose\n")
    p = run_cli(path.name, "-D", f"port={server.port}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    out = p.stdout
    assert "netrepl> print start\nstart\n" in out
    assert "netrepl> connect localhost $port\n" in out  # echoed as written
    assert f"-> 127.0.0.1:{server.port} (localhost)" in out
    assert "matched 'hello" in out and "(7 bytes consumed)" in out
    assert "closed (sent 7 bytes, received 7 bytes)" in out


def test_first_failure_exits_1_with_file_line_and_stops(tmp_path, closed_port):
    path = script(tmp_path, f"print before\nprint more\nconnect 127.0.0.1 {closed_port}\nprint AFTER\n")
    p = run_cli(path.name, cwd=tmp_path)
    assert p.returncode == 1
    assert "s.nrs:3" in p.stderr and "connect" in p.stderr
    assert "before\n" in p.stdout
    assert "ECONNREFUSED" in p.stdout
    assert "AFTER" not in p.stdout  # nothing after the failure ran
    clean_stderr(p.stderr)


def test_keep_going_runs_on_and_still_exits_1(tmp_path, closed_port):
    path = script(tmp_path, f"connect 127.0.0.1 {closed_port}\nprint middle\nlookup port80\nprint AFTER\n")
    p = run_cli("--keep-going", path.name, cwd=tmp_path)
    assert p.returncode == 1
    assert "middle\n" in p.stdout and "AFTER\n" in p.stdout
    assert "s.nrs:1" in p.stderr and "s.nrs:3" in p.stderr
    p = run_cli("-k", path.name, cwd=tmp_path)
    assert p.returncode == 1 and "AFTER\n" in p.stdout


def test_failure_inside_sourced_file_names_that_file(tmp_path):
    script(tmp_path, "print inner\nlookup port80\nprint INNER-AFTER\n", name="part.nrs")
    path = script(tmp_path, "source part.nrs\nprint OUTER-AFTER\n", name="main.nrs")
    p = run_cli(path.name, cwd=tmp_path)
    assert p.returncode == 1
    assert "part.nrs:2" in p.stderr
    assert "inner\n" in p.stdout
    assert "INNER-AFTER" not in p.stdout and "OUTER-AFTER" not in p.stdout


def test_several_scripts_stop_at_first_failing_one(tmp_path):
    first = script(tmp_path, "lookup port80\n", name="first.nrs")
    second = script(tmp_path, "print SECOND\n", name="second.nrs")
    p = run_cli(first.name, second.name, cwd=tmp_path)
    assert p.returncode == 1 and "SECOND" not in p.stdout
    p = run_cli("-k", first.name, second.name, cwd=tmp_path)
    assert p.returncode == 1 and "SECOND\n" in p.stdout


def test_exit_command_ends_the_run_with_0(tmp_path):
    p = run_cli("-c", "print a; exit; print NEVER")
    assert p.returncode == 0
    assert "a\n" in p.stdout and "NEVER" not in p.stdout


@pytest.mark.parametrize("text", [b"print one\r\nprint two\r\n", b"\xef\xbb\xbfprint one\nprint two",
                                  b"\xef\xbb\xbfprint one\r\nprint two\r\n"], ids=["crlf", "bom", "bom-crlf"])
def test_windows_style_scripts_run(tmp_path, text):
    path = script(tmp_path, text)
    p = run_cli("-q", path.name, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "one\ntwo\n"


# ----- rejected before anything runs: exit 2 and FILE:LINE:COL ------------------------

SYNTAX_ERRORS = [
    pytest.param("bogus x", 1, "unknown command", id="unknown-command"),
    pytest.param("connect localhost", 18, "missing PORT", id="too-few-args"),
    pytest.param("shutdown 1 2", 12, "unexpected argument", id="too-many-args"),
    pytest.param("recv abc", 6, "N", id="wrong-type"),
    pytest.param("connect localhost 70000", 19, "out of range", id="port-range"),
    pytest.param("print $nope", 7, "undefined variable $nope", id="undefined-variable"),
    pytest.param("send ab\\q", 8, "unknown escape", id="bad-escape"),
    pytest.param(b"print caf\xe9", 10, "invalid UTF-8", id="invalid-utf8"),
]


@pytest.mark.parametrize("bad, col, words", SYNTAX_ERRORS)
def test_syntax_error_rejects_whole_script(tmp_path, bad, col, words):
    head = b"print BEFORE-MARK\nserve echo 0\n"
    body = bad if isinstance(bad, bytes) else bad.encode()
    path = script(tmp_path, head + body + b"\nprint AFTER-MARK\n")
    p = run_cli(path.name, cwd=tmp_path)
    assert p.returncode == 2
    assert p.stdout == ""  # not even the lines before the error ran
    assert f"s.nrs:3:{col}:" in p.stderr, p.stderr
    assert words in p.stderr
    assert "not run" in p.stderr
    clean_stderr(p.stderr)


def test_every_problem_is_reported(tmp_path):
    path = script(tmp_path, "bogus\nprint ok\nrecv abc\n")
    p = run_cli(path.name, cwd=tmp_path)
    assert p.returncode == 2
    assert "s.nrs:1:1:" in p.stderr and "s.nrs:3:6:" in p.stderr


def test_later_script_with_syntax_error_still_lets_none_run_after(tmp_path):
    good = script(tmp_path, "print GOOD\n", name="good.nrs")
    bad = script(tmp_path, "bogus\n", name="bad.nrs")
    p = run_cli(good.name, bad.name, cwd=tmp_path)
    assert p.returncode == 2
    assert "bad.nrs:1:1" in p.stderr


# ----- -c ----------------------------------------------------------------------------

def test_c_success_and_failure():
    p = run_cli("-c", "print a; print b")
    assert p.returncode == 0 and p.stdout == "netrepl> print a\na\nnetrepl> print b\nb\n"
    p = run_cli("-c", "print a; lookup port80; print AFTER")
    assert p.returncode == 1
    assert "-c:2" in p.stderr and "AFTER" not in p.stdout and "a\n" in p.stdout
    p = run_cli("-k", "-c", "print a; lookup port80; print AFTER")
    assert p.returncode == 1 and "AFTER\n" in p.stdout


def test_c_syntax_error_rejects_all():
    p = run_cli("-c", "print BEFORE; recv x y")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "-c:2:6:" in p.stderr
    p = run_cli("-c", "print BEFORE\nbogus")
    assert p.returncode == 2 and "-c:2:1:" in p.stderr and p.stdout == ""


# ----- piped standard input ------------------------------------------------------------

def test_piped_stdin_runs_like_a_script_without_prompt_toolkit(tmp_path):
    p = run_cli(input="print one\nlookup http\nprint two\n")
    assert p.returncode == 0, p.stderr
    assert "netrepl> print one\none\n" in p.stdout and "two\n" in p.stdout
    assert "port 80" in p.stdout
    assert p.stderr == ""
    p = run_cli(input="print one\nlookup port80\nprint AFTER\n")
    assert p.returncode == 1
    assert "<stdin>:2" in p.stderr and "AFTER" not in p.stdout
    clean_stderr(p.stderr)


def test_piped_stdin_syntax_error_exits_2_at_that_line():
    p = run_cli(input="print one\nprint $nope\nprint AFTER\n")
    assert p.returncode == 2
    assert "one\n" in p.stdout  # line by line: what came before already ran
    assert "AFTER" not in p.stdout
    assert "<stdin>:2:7:" in p.stderr
    clean_stderr(p.stderr)


def test_piped_stdin_is_answered_line_by_line(lab):
    """Each line runs as it arrives: a live conversation through a pipe works."""
    server = lab("echo")
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-q"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    try:
        proc.stdin.write(f"connect 127.0.0.1 {server.port}\n")
        proc.stdin.flush()
        assert "connected" in proc.stdout.readline() or "connected" in proc.stdout.readline()
        proc.stdin.write("send ping\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("sent 6 bytes")
        proc.stdin.write("recv\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("received")
        assert proc.stdout.readline() == "ping\\r\n"
        proc.stdin.close()
        assert proc.wait() == 0
        clean_stderr(proc.stderr.read())
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# ----- options ---------------------------------------------------------------------

def test_quiet_suppresses_the_echo():
    p = run_cli("-q", "-c", "print one; lookup http")
    assert p.returncode == 0
    assert "netrepl>" not in p.stdout
    assert p.stdout.startswith("one\n") and "port 80" in p.stdout
    p = run_cli("--quiet", input="print two\n")
    assert p.stdout == "two\n"


def test_version():
    p = run_cli("--version")
    assert p.returncode == 0
    assert p.stdout.strip() == f"netrepl {__version__}"


def test_help():
    p = run_cli("--help")
    assert p.returncode == 0
    for word in ("usage: netrepl", "-c", "-D", "--quiet", "--keep-going", "--stable", "--version", "serve"):
        assert word in p.stdout


@pytest.mark.parametrize("args", [
    ["--bogus"],
    ["-c", "print a", "x.nrs"],
    ["-D", "novalue", "-c", "print a"],
    ["-D", "1bad=x", "-c", "print a"],
    ["--delay", "-1", "-c", "print a"],
    ["--delay", "soon", "-c", "print a"],
    ["serve"],
    ["serve", "bogus"],
    ["serve", "echo", "--port", "many"],
    ["does-not-exist.nrs"],
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(args, tmp_path):
    p = run_cli(*args, cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip()
    assert "Traceback" not in p.stderr
    assert "netrepl>" not in p.stdout


def test_defines_and_set_var_and_defaults(tmp_path):
    p = run_cli("-q", "-D", "who=world", "-D", "empty=", "-c",
                "print hello $who; print ${other:-dflt}; set var other given; print ${other:-dflt} ${who}")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["hello world", "dflt", "$other = 'given'", "given world"]
    path = script(tmp_path, "print ${x:-script-default}\n")
    assert run_cli("-q", path.name, cwd=tmp_path).stdout == "script-default\n"
    assert run_cli("-q", "-D", "x=from-cli", path.name, cwd=tmp_path).stdout == "from-cli\n"


def test_set_var_defines_a_name_for_the_check(tmp_path):
    """`set var` earlier in the script makes $NAME known at check time."""
    path = script(tmp_path, "set var port 1\nprint port is $port\n")
    p = run_cli("-q", path.name, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.endswith("port is 1\n")


def test_stable_masks_ports_and_timings(tmp_path, lab):
    server = lab("http")
    path = script(tmp_path, "connect localhost $port\ninfo\nsend GET / HTTP/1.0\\r\\n\nrecv all > /dev/null\n"
                            "close\n")
    args = (path.name, "-D", f"port={server.port}")
    plain = run_cli(*args, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert re.search(r"127\.0\.0\.1:\d+ -> ", plain.stdout)
    assert re.search(r" in \d+(\.\d+)? (us|ms|s)", plain.stdout)
    first = run_cli("--stable", *args, cwd=tmp_path)
    second = run_cli("--stable", *args, cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    out = first.stdout
    assert f"127.0.0.1:<port> -> 127.0.0.1:{server.port} (localhost) in <time>" in out
    assert "local     127.0.0.1:<port>" in out
    assert "until end of stream, in <time>" in out
    assert not re.search(r"\d+(\.\d+)? (us|ms)\b", out)


def test_stable_masks_lab_server_ports_everywhere():
    """`serve 0` picks a new port each run: the listing must not leak it into a --stable transcript."""
    commands = "serve echo 0; serve daytime 0 udp; serve; serve stop; serve"
    first = run_cli("--stable", "-c", commands)
    second = run_cli("--stable", "-c", commands)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert "echo tcp 127.0.0.1:<port> (0 connections, 0 served)" in first.stdout
    assert "daytime udp 127.0.0.1:<port>" in first.stdout
    assert not re.search(r"127\.0\.0\.1:\d", first.stdout)


def test_display_hex_in_the_transcript(tmp_path, lab):
    server = lab("echo")
    p = run_cli("-q", "-D", f"port={server.port}", "-c",
                "set display hex; connect 127.0.0.1 $port; send -n hi\\x1b[31m\\x00; expect \\0; "
                "set display text; send -n hi\\x1b[31m; expect m")
    assert p.returncode == 0, p.stderr
    assert "00000000  68 69 1b 5b 33 31 6d 00" in p.stdout and "|hi.[31m.|" in p.stdout
    assert "hi\\x1b[31m\n" in p.stdout  # text display again, escaped
    assert "\x1b" not in p.stdout and "\x00" not in p.stdout


# ----- netrepl serve (foreground) --------------------------------------------------------

def test_serve_foreground_until_sigint(server_port):
    # SIGINT restored: a test run started in the background inherits it ignored, and then
    # Python installs no handler in the child (this test timed out so)
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "serve", "echo", "--port", str(server_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = readline_within(proc.stderr, 30)
        assert f"serving echo on tcp 127.0.0.1:{server_port}" in line
        with socket.create_connection(("127.0.0.1", server_port), timeout=10) as s:
            s.sendall(b"round trip")
            got = b""
            while len(got) < 10:
                chunk = s.recv(100)
                assert chunk
                got += chunk
            assert got == b"round trip"
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=30)
        rest = proc.stderr.read()
        assert status == 0, rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with pytest.raises(OSError):  # stopped: nothing listens there any more
        socket.create_connection(("127.0.0.1", server_port), timeout=5).close()


def test_serve_foreground_port_in_use(lab):
    server = lab("echo")
    p = run_cli("serve", "echo", "--port", str(server.port))
    assert p.returncode == 1
    assert "in use" in p.stderr and "Traceback" not in p.stderr


def test_non_interactive_run_does_not_import_prompt_toolkit(tmp_path):
    code = ("import sys\nfrom netrepl.cli import main\nrc = main(['-q', '-c', 'print x'])\n"
            "assert 'prompt_toolkit' not in sys.modules, 'prompt_toolkit imported'\nsys.exit(rc)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "x\n"


def test_step_with_commands_on_stdin_and_no_terminal_is_refused_not_fed_the_next_command():
    """--step used to read its Enter from standard input too: it swallowed every second
    command and still exited 0. Without a controlling terminal it is a usage error."""
    p = subprocess.run([sys.executable, "-m", "netrepl", "--step"], input="print a\nprint b\n",
                       capture_output=True, text=True, timeout=60, cwd=ROOT, start_new_session=True)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "--step" in p.stderr and "terminal" in p.stderr
