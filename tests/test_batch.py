"""The batch front end under hostile conditions, run as a user would (`python -m netrepl`):
exit statuses CI can trust (netrepl/base/exitstatus.py), no traceback whatever the standard streams
are, Ctrl-C, bounded whole-script checks, several inputs, --step keys, untrusted text."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import termios
import time

import pytest

from conftest import ROOT, run_cli
from netrepl.base.exitstatus import ExitStatus


def script(tmp_path, text, name="s.nrs"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def netrepl(*args, **kw):
    """Popen kwargs aside, like run_cli; bytes out, so nothing is decoded for us."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("cwd", ROOT)
    return subprocess.run([sys.executable, "-m", "netrepl", *args], env=env, timeout=60, **kw)


def no_traceback(*texts):
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        assert "Traceback" not in (text or ""), text


# ----- the statuses ---------------------------------------------------------------------

def test_exit_status_values_and_help_lists_them():
    assert [int(s) for s in ExitStatus] == [0, 1, 2, 130]
    p = run_cli("--help")
    assert p.returncode == ExitStatus.OK
    flat = " ".join(p.stdout.split())
    for words in ("0 every command succeeded", "1 a command failed", "2 input rejected", "130 interrupted"):
        assert words in flat


def test_readme_has_the_exit_status_table():
    readme = (ROOT / "README.md").read_text()
    for status in ExitStatus:
        assert f"| {int(status)} " in readme, status


# ----- standard output and error that cannot be written --------------------------------

def test_closed_stdout_is_exit_1_with_a_note_not_a_traceback():
    p = netrepl("-c", "print hi", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                preexec_fn=lambda: os.close(1))
    assert p.returncode == ExitStatus.FAILED
    assert b"netrepl: cannot write standard output: Bad file descriptor" in p.stderr
    no_traceback(p.stderr)


def test_full_stdout_is_exit_1_with_a_note_not_a_traceback():
    with open("/dev/full", "w") as full:
        p = netrepl("-c", "print hi; print more", stdout=full, stderr=subprocess.PIPE)
    assert p.returncode == ExitStatus.FAILED
    assert b"netrepl: cannot write standard output: No space left on device" in p.stderr
    assert p.stderr.count(b"netrepl:") == 1  # one note, no "Exception ignored" at exit
    no_traceback(p.stderr)


def test_full_stdout_with_nothing_written_until_the_end_still_says_so(tmp_path):
    """-q and a command that prints: the write fails at the end-of-run flush, not at exit."""
    with open("/dev/full", "w") as full:
        p = netrepl("-q", "-c", "print hi", stdout=full, stderr=subprocess.PIPE)
    assert p.returncode == ExitStatus.FAILED
    assert b"No space left on device" in p.stderr
    no_traceback(p.stderr)


def test_a_reader_that_goes_away_is_exit_1_silently():
    """`netrepl ... | head`: a broken pipe is the reader's choice, no note and no
    "Exception ignored" from the interpreter's own flush at exit."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    read, write = os.pipe()
    os.close(read)  # nobody will read
    try:
        p = subprocess.run([sys.executable, "-m", "netrepl", "-c", "print a; print b"], stdout=write,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT, env=env, timeout=60)
    finally:
        os.close(write)
    assert p.returncode == ExitStatus.FAILED
    assert p.stderr == b""


@pytest.mark.parametrize("how", ["closed", "full"])
def test_unwritable_stderr_drops_the_notes_and_keep_going_runs_on(how):
    kw = {"preexec_fn": lambda: os.close(2)} if how == "closed" else {}
    with open("/dev/full", "w") as full:
        p = netrepl("-k", "-c", "lookup port80; print after; lookup port81; print last", stdout=subprocess.PIPE,
                    stderr=full if how == "full" else subprocess.DEVNULL, **kw)
    assert p.returncode == ExitStatus.FAILED
    assert b"after\n" in p.stdout and b"last\n" in p.stdout
    no_traceback(p.stdout)


def test_unwritable_stderr_with_a_rejected_script_is_still_exit_2():
    with open("/dev/full", "w") as full:
        p = netrepl("-c", "bogus", stdout=subprocess.PIPE, stderr=full)
    assert p.returncode == ExitStatus.REJECTED and p.stdout == b""


# ----- Ctrl-C ----------------------------------------------------------------------------

@pytest.mark.parametrize("keep_going", [False, True])
def test_ctrl_c_during_a_command_ends_the_run_with_130(keep_going):
    """A command stopped by Ctrl-C used to be a failed command: exit 1, and -k ran on."""
    args = ["-k"] if keep_going else []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", *args, "-c", "print start; sleep 5; print AFTER"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"netrepl> sleep 5\n" not in seen:  # echoed just before it runs
            assert time.monotonic() < deadline, seen
            line = proc.stdout.readline()
            assert line, seen
            seen += line
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 4  # stopped, not slept out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitStatus.INTERRUPTED, (out, err)
    assert b"AFTER" not in out
    assert b"interrupted" in err
    no_traceback(out, err)


# ----- `source` of a bad file: -c and piped input agree ---------------------------------

def test_source_of_a_bad_file_is_rejected_with_2_from_c_and_from_stdin(tmp_path):
    script(tmp_path, "print inner\nbogus\n", name="bad.nrs")
    p = run_cli("-c", "print BEFORE; source bad.nrs; print AFTER", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED and p.stdout == ""
    assert "bad.nrs:2:1:" in p.stderr
    p = run_cli(input="print before\nsource bad.nrs\nprint AFTER\n", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED, p.stderr  # was 1: found only when it ran
    assert "before\n" in p.stdout  # line by line: what came before ran
    assert "inner" not in p.stdout and "AFTER" not in p.stdout
    assert "bad.nrs:2:1:" in p.stderr
    assert p.stderr.splitlines()[-1].startswith("<stdin>:2:1:")  # and where it was sourced
    no_traceback(p.stderr)


def test_source_of_a_missing_file_from_stdin_is_rejected_with_2(tmp_path):
    p = run_cli(input="source nowhere.nrs\nprint AFTER\n", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED
    assert "cannot read" in p.stderr and "AFTER" not in p.stdout


# ----- several inputs ----------------------------------------------------------------------

def test_several_files_are_all_checked_before_the_first_runs(tmp_path):
    script(tmp_path, "print GOOD\n", name="good.nrs")
    script(tmp_path, "bogus\n", name="bad.nrs")
    p = run_cli("good.nrs", "bad.nrs", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED
    assert "GOOD" not in p.stdout  # it ran before bad.nrs was read
    assert "bad.nrs:1:1:" in p.stderr
    p = run_cli("good.nrs", "missing.nrs", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED and "GOOD" not in p.stdout
    assert "cannot read missing.nrs" in p.stderr


def test_several_c_run_in_order_as_one_script():
    p = run_cli("-c", "print one", "-q", "-c", "print two; print three", "-c", "print four")
    assert p.returncode == ExitStatus.OK, p.stderr
    assert p.stdout == "one\ntwo\nthree\nfour\n"  # only the last ran
    p = run_cli("-c", "print ONE", "-c", "bogus")
    assert p.returncode == ExitStatus.REJECTED and p.stdout == ""  # checked whole
    assert "-c:2:1:" in p.stderr
    p = run_cli("-c", "set var x hi", "-c", "print $x")
    assert p.returncode == ExitStatus.OK and "hi\n" in p.stdout


def test_dash_reads_the_script_from_standard_input(tmp_path):
    script(tmp_path, "print FILE\n", name="f.nrs")
    p = run_cli("-q", "-", "f.nrs", input="print STDIN\n", cwd=tmp_path)
    assert p.returncode == ExitStatus.OK, p.stderr
    assert p.stdout == "STDIN\nFILE\n"
    p = run_cli("-q", "f.nrs", "-", input="print STDIN\nbogus\n", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED and p.stdout == ""  # `-` is checked whole, like a file
    assert "<stdin>:2:1:" in p.stderr


def test_dash_c_and_files_together_is_a_usage_error(tmp_path):
    script(tmp_path, "print FILE\n", name="f.nrs")
    p = run_cli("-c", "print C", "f.nrs", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED and p.stdout == ""
    assert "not both" in p.stderr


# ----- bounds ------------------------------------------------------------------------------

def test_a_script_that_sources_itself_is_rejected_quickly(tmp_path):
    """Ten lines that each `source` their own file: 10**8 lines to check at depth 8.
    It was still being checked after 60 s at 2 GB."""
    script(tmp_path, "source loop.nrs\n" * 10, name="loop.nrs")
    started = time.monotonic()
    p = run_cli("loop.nrs", cwd=tmp_path, timeout=30)
    assert time.monotonic() - started < 20
    assert p.returncode == ExitStatus.REJECTED and p.stdout == ""
    assert "lines of sourced files to check" in p.stderr
    assert "loop.nrs:" in p.stderr
    no_traceback(p.stderr)


def test_a_doubling_variable_is_rejected_not_a_memory_error(tmp_path):
    lines = ["set var a " + "x" * 100]
    for name, prev in zip("bcdefgh", "abcdefg"):
        lines.append(f"set var {name} " + f"${prev}" * 40)
    lines.append("print $h")
    script(tmp_path, "\n".join(lines) + "\n")
    p = run_cli("s.nrs", cwd=tmp_path, timeout=30)
    assert p.returncode == ExitStatus.REJECTED
    assert "s.nrs:4:" in p.stderr and "expands to more than 1 MiB" in p.stderr  # d: 100*40**3 = 6.4 MB
    no_traceback(p.stderr)


@pytest.mark.parametrize("line", ["print $b$b$b", 'lookup "$b$b$b"', 'lookup "$b""$b""$b"', "lookup $b$b$b"])
def test_an_expansion_is_bounded_whatever_the_quoting(tmp_path, line):
    """A rest-of-line argument, one quoted part, several parts of one token: each way
    a token is put together is bounded, each value is 480 kB, three are too much."""
    script(tmp_path, f"set var a {'y' * 60_000}\nset var b {'$a' * 8}\n{line}\n")
    p = run_cli("s.nrs", cwd=tmp_path)
    assert p.returncode == ExitStatus.REJECTED
    assert "s.nrs:3:" in p.stderr and "expands to more than 1 MiB" in p.stderr, p.stderr
    two = line.replace("$b", "", 1).replace('""', "")  # 960 kB: under the bound
    script(tmp_path, f"set var a {'y' * 60_000}\nset var b {'$a' * 8}\n{two}\n")
    p = run_cli("s.nrs", cwd=tmp_path)
    assert "expands to" not in p.stderr


def test_an_endless_file_is_refused_after_its_size_limit():
    started = time.monotonic()
    p = run_cli("/dev/zero", timeout=30)
    assert time.monotonic() - started < 20
    assert p.returncode == ExitStatus.REJECTED
    assert "/dev/zero:1:1: script larger than 64 MiB" in p.stderr


def test_a_huge_line_on_stdin_is_not_read_whole():
    p = run_cli(input="print one\nprint " + "x" * 3_000_000)
    assert p.returncode == ExitStatus.REJECTED
    assert "one\n" in p.stdout
    assert "<stdin>:2:" in p.stderr and "not read further" in p.stderr


# ----- --step keys -------------------------------------------------------------------------

def step_run(keys: bytes, *args):
    """netrepl --step on a pseudo-terminal that is its controlling terminal (/dev/tty),
    with `keys` typed ahead."""
    master, slave = os.openpty()

    def own_terminal():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    try:
        os.write(master, keys)
        return netrepl("--step", *args, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=own_terminal, pass_fds=(slave,))
    finally:
        os.close(master)
        os.close(slave)


def test_step_enter_runs_s_skips_q_quits():
    p = step_run(b"\nx\ns\n\nq\n", "-q", "-c", "print one; print TWO; print three; print FOUR; print FIVE")
    assert p.returncode == ExitStatus.OK, p.stderr
    assert p.stdout == b"one\nthree\n"
    assert b"[Enter: run, s: skip, q: quit] print one" in p.stderr
    assert p.stderr.count(b"[Enter: run") == 5  # TWO asked twice (x is no key), FOUR quits, FIVE never asked
    assert b"print FIVE" not in p.stderr


def test_step_quit_after_a_failure_with_keep_going_is_1():
    p = step_run(b"\nq\n", "-k", "-q", "-c", "lookup port80; print NEVER")
    assert p.returncode == ExitStatus.FAILED and b"NEVER" not in p.stdout


# ----- untrusted text ------------------------------------------------------------------------

def test_escape_sequences_in_names_never_reach_the_terminal_raw(tmp_path):
    name = "\x1b]0;owned\x07\x1b[31m.nrs"
    script(tmp_path, "bogus\n", name=name)
    p = netrepl(name, cwd=tmp_path, capture_output=True)
    assert p.returncode == ExitStatus.REJECTED
    assert b"not run" in p.stderr
    assert b"\x1b" not in p.stderr + p.stdout and b"\x07" not in p.stderr
    p = netrepl("--\x1b[31mbogus", capture_output=True)
    assert p.returncode == ExitStatus.REJECTED
    assert b"unrecognized arguments" in p.stderr and b"\x1b" not in p.stderr + p.stdout
    p = netrepl("-c", "print \x1b[2J", "-c", "lookup \x1b[2J", capture_output=True)
    assert p.returncode == ExitStatus.REJECTED and b"control character" in p.stderr
    assert b"\x1b" not in p.stderr + p.stdout


def test_undecodable_bytes_in_defines_c_and_stdin_are_never_a_traceback():
    p = netrepl(b"-D", b"x=\xff\xfe", b"-c", b"print $x", capture_output=True)
    assert p.returncode == ExitStatus.OK, p.stderr
    assert p.stdout.endswith(b"\\xff\\xfe\n")
    p = netrepl(b"-c", b"print caf\xe9", capture_output=True)
    assert p.returncode == ExitStatus.OK and p.stdout.endswith(b"caf\\xe9\n")
    p = netrepl(b"-c", b"print ok; lookup \xff", capture_output=True)
    assert p.returncode == ExitStatus.REJECTED and b"\xff" not in p.stderr
    no_traceback(p.stderr)
    p = netrepl(input=b"print \xff\nbogus\xc3\n", capture_output=True, stdin=None)
    assert p.returncode == ExitStatus.REJECTED and b"\\xff\n" in p.stdout
    no_traceback(p.stderr)
    p = netrepl(b"-D", b"\xff=1", b"-c", b"print x", capture_output=True)
    assert p.returncode == ExitStatus.REJECTED and b"\xff" not in p.stderr
    no_traceback(p.stderr)


def test_step_with_the_script_on_stdin_and_no_terminal_is_refused():
    """`--step -`: standard input is the script, so Enter cannot come from it either."""
    p = netrepl("--step", "-", input=b"print a\nprint b\n", stdin=None, capture_output=True,
                start_new_session=True)
    assert p.returncode == ExitStatus.REJECTED and p.stdout == b""
    assert b"--step" in p.stderr and b"terminal" in p.stderr



def test_a_script_of_too_many_lines_is_refused_before_it_is_parsed(tmp_path):
    """A million parsed commands hold ~740 MB until they run; 64 MiB of them would be 8 million."""
    script(tmp_path, "# many\n" + "\n" * 1_000_000)
    started = time.monotonic()
    p = run_cli("s.nrs", cwd=tmp_path)
    assert time.monotonic() - started < 20
    assert p.returncode == ExitStatus.REJECTED
    assert "s.nrs:1000001:1: script longer than 1,000,000 lines" in p.stderr
    script(tmp_path, "print fine\n" + "\n" * 999_998)  # 999,999 lines: runs
    p = run_cli("-q", "s.nrs", cwd=tmp_path)
    assert p.returncode == ExitStatus.OK and p.stdout == "fine\n"


@pytest.mark.parametrize("line", ["must-fail any exit", "must-fail refused quit", "must-fail any must-fail any exit"])
def test_exit_inside_must_fail_is_rejected_not_a_false_pass(line):
    """`exit` cannot fail: inside must-fail it stopped the run with status 0, the expectation
    unmet and the commands after it never run."""
    p = run_cli("-c", f"{line}; print after")
    assert p.returncode == ExitStatus.REJECTED, p.stdout + p.stderr
    assert "cannot be used inside must-fail" in p.stderr and "after" not in p.stdout



def test_ctrl_c_during_start_up_is_130_not_a_traceback():
    """A Ctrl-C while the CLI's modules are still being imported (the first ~30 ms) ends the run
    with 130 and one line, not a traceback. The child raises it in the import of netrepl.cli, as a
    SIGINT landing there would (the real signal is test_ctrl_c_during_a_command_ends_the_run_with_130)."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def interrupted(name, *a, **k):\n"
            "    if name == 'netrepl.cli':\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = interrupted\n"
            "import netrepl.entry\n"
            "raise SystemExit(netrepl.entry.main())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "\nnetrepl: interrupted\n"
