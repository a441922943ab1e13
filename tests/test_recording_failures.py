"""`record` when its file fails it: a full disk fails the run, a FIFO waits only as long as `timeout`.

A full disk is /dev/full (every write: ENOSPC), which Linux always has; elsewhere the
tests skip. The FIFO's other end is opened by release_later after 5 s, so the old code
(10 s, whatever the timeout) ends on its timing instead of hanging the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run, text_of
from hostile_tls import release_later
from termdrive import Term, style_of, styled_runs, unavailable

FULL = "/dev/full"


def _need_full_disk():
    if not os.path.exists(FULL):
        pytest.skip("no /dev/full on this system (a device whose every write is ENOSPC)")


def _netrepl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netrepl", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


# -- a full disk during `record` fails the run ------------------------------------------------

def test_a_full_disk_during_record_is_a_file_failure_and_recording_stops(ex):
    _need_full_disk()
    assert run(ex, f"record {FULL}").ok  # nothing to set up yet: no line written
    result = run(ex, "print hi")
    out = text_of(result)
    assert result.error is not None and result.error.kind == "file", out
    assert result.error.errname == "ENOSPC" and f"recording to {FULL} stopped" in out, out
    assert ex.recorder is None  # stopped: the next command is not a second failure
    assert run(ex, "print again").ok


def test_a_full_disk_during_record_names_the_command_failure_first(ex):
    """A command that failed on its own keeps its failure; the recording's is said beside it."""
    _need_full_disk()
    assert run(ex, f"record {FULL}").ok
    result = run(ex, "connect 127.0.0.1 1")  # nothing listens on port 1
    out = text_of(result)
    assert result.error is not None and result.error.errname == "ECONNREFUSED", out
    assert f"error: record: recording to {FULL} stopped" in out, out
    assert ex.recorder is None


def test_a_full_disk_during_record_fails_a_script(tmp_path):
    _need_full_disk()
    script = tmp_path / "rec.nrs"
    script.write_text(f"record {FULL}\nprint hi\nprint not reached\n")
    proc = _netrepl(str(script))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "[ENOSPC 28]" in proc.stdout and f"recording to {FULL} stopped" in proc.stdout, proc.stdout
    assert "not reached" not in proc.stdout  # the script stops there, as at any failure
    assert "rec.nrs:2: `print hi` failed (file)" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_full_disk_during_record_fails_dash_c():
    _need_full_disk()
    proc = _netrepl("-c", f"record {FULL}; print hi")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "file error" in proc.stdout and "[ENOSPC 28]" in proc.stdout, proc.stdout
    assert "failed (file)" in proc.stderr


def test_a_full_disk_when_record_starts_with_lines_to_write_fails_record_itself(ex):
    _need_full_disk()
    assert run(ex, "set var x 1").ok  # `record` writes it first
    result = run(ex, f"record {FULL}")
    assert result.error is not None and result.error.kind == "file" and result.error.errname == "ENOSPC"
    assert ex.recorder is None  # not recording (was: left set, each later command failing again)
    assert run(ex, "print after").ok


def test_the_shell_says_a_full_disk_during_record_as_an_error(tmp_path):
    _need_full_disk()
    why = unavailable()
    if why:
        pytest.skip(why)
    env = dict(os.environ, TERM="xterm-256color", NETREPL_HISTFILE=str(tmp_path / "history"))
    env.pop("PYTHONWARNINGS", None)
    term = Term([sys.executable, "-m", "netrepl"], env, ROOT)
    try:
        term.wait_prompt()
        term.run(f"record {FULL}")
        screen = term.run("print hi")
        line = next((ln for ln in screen.splitlines() if "stopped" in ln), "")
        assert line.startswith("error: record: file error") and "[ENOSPC 28]" in line, screen
        coloured = next(ln for ln in term.screen(escapes=True).splitlines() if "stopped" in ln)
        hi = next(ln for ln in term.screen(escapes=True).splitlines()
                  if "".join(text for _, text in styled_runs(ln)).strip() == "hi")
        assert style_of(coloured, "error") != style_of(hi, "hi"), styled_runs(coloured)  # as loud as any error
        assert term.running()  # the session goes on
        term.run("print still here")
    finally:
        term.close()


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs: a real full disk under a regular file (written, flushed and fsync'd)."""
    where = tmp_path / "small"
    where.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {p.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)  # -l: even if a descriptor is still open


def test_a_disk_that_fills_up_during_record_fails_the_command_that_could_not_be_recorded(ex, small_fs):
    path = small_fs / "rec.nrs"
    assert run(ex, f"record {path}").ok
    assert run(ex, "print first").ok  # recorded while there is room
    with open(small_fs / "filler", "wb", buffering=0) as filler:  # then the disk fills up
        with pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
    result = run(ex, "print " + "x" * 8000)  # more than the last page's room
    out = text_of(result)
    assert result.error is not None and result.error.kind == "file" and result.error.errname == "ENOSPC", out
    assert ex.recorder is None
    assert path.read_text().endswith("print first\n")  # what was recorded before is intact


# -- `record FIFO` waits as long as the session's timeout, not 10 s ----------------------------

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "a fifo"
    os.mkfifo(path)
    release_later(str(path))
    return str(path)


def test_record_to_a_fifo_waits_for_the_session_timeout_not_ten_seconds(ex, fifo):
    assert run(ex, "timeout 0.5").ok
    started = time.monotonic()
    result = run(ex, f"record '{fifo}'")
    took = time.monotonic() - started
    out = text_of(result)
    assert took < 3, f"waited {took:.1f} s for a reader under timeout 0.5"
    assert result.error is not None and result.error.kind == "file", out
    assert "no reader opened the FIFO within 0.5 s" in out, out
    assert ex.recorder is None


def test_record_to_a_fifo_with_a_reader_records(ex, tmp_path):
    path = tmp_path / "read fifo"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert run(ex, "timeout 0.5").ok
        assert run(ex, f"record '{path}'").ok
        assert run(ex, "print hi").ok
        time.sleep(0)  # the lines are flushed as they are written
        assert b"print hi\n" in os.read(reader, 65536)
    finally:
        run(ex, "record stop")
        os.close(reader)
