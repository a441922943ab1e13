"""`--cast FILE`: an asciicast v2 recording of a script run that asciinema reads back as the transcript;
byte-identical across --stable runs (and equal to a committed golden file); real time otherwise."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from netrepl.render.cast import CastWriter

GOLDEN = ROOT / "tests" / "golden" / "connect3.cast"
SCRIPTS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "scripts").glob("*.nrs"))


def cast_run(tmp_path: Path, *args, name="out.cast"):
    path = tmp_path / name
    proc = run_cli("--cast", str(path), *args)
    return proc, path


def events(path: Path) -> tuple[dict, list]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def asciinema(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "asciinema", *args], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # bytes: text mode would turn \r\n into \n
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def test_stable_casts_are_byte_identical_and_match_the_golden_file(tmp_path):
    first, a = cast_run(tmp_path, "--stable", "scripts/connect3.nrs", name="a.cast")
    second, b = cast_run(tmp_path, "--stable", "scripts/connect3.nrs", name="b.cast")
    assert first.returncode == second.returncode == 0, first.stderr
    assert a.read_bytes() == b.read_bytes()
    # Regenerate after a deliberate change: netrepl --stable --cast tests/golden/connect3.cast scripts/connect3.nrs
    assert a.read_bytes() == GOLDEN.read_bytes()


def test_the_header_and_events(tmp_path):
    proc, path = cast_run(tmp_path, "--stable", "-c", "print Step one; lookup http tcp; print Step two")
    assert proc.returncode == 0, proc.stderr
    header, evs = events(path)
    assert header["version"] == 2 and header["width"] == 80 and header["height"] == 24
    assert "timestamp" not in header  # it would differ between runs
    assert header["title"] == "netrepl -c"
    times = [e[0] for e in evs]
    assert times == sorted(times) and times[0] > 0
    assert [e[2] for e in evs if e[1] == "m"] == ["Step one", "Step two"]
    typed = [e[2] for e in evs if e[1] == "o"]
    assert typed[:4] == ["netrepl> ", "p", "r", "i"]  # the prompt, then the command a key at a time
    steps = {round(b[0] - a[0], 6) for a, b in zip(evs[1:6], evs[2:7])}
    assert steps == {0.04}  # a steady pace on the virtual clock
    assert "service 'http'/tcp is port 80  [no socket]\r\n" in typed


def test_asciinema_cat_gives_the_transcript(tmp_path):
    proc, path = cast_run(tmp_path, "--stable", "scripts/connect3.nrs")
    assert proc.returncode == 0
    shown = asciinema("cat", str(path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.replace("\r\n", "\n") == proc.stdout
    assert "\n" not in shown.stdout.replace("\r\n", "")  # every line end is a terminal's \r\n


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_worksheet_script_casts_and_plays(tmp_path, script):
    proc, path = cast_run(tmp_path, "--stable", script)
    shown = asciinema("cat", str(path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.replace("\r\n", "\n") == proc.stdout
    played = asciinema("play", "-s", "100", "-i", "0.01", str(path))
    assert played.returncode == 0, played.stderr
    assert played.stdout.replace("\r\n", "\n") == proc.stdout


def test_without_stable_outputs_come_at_real_time(tmp_path):
    proc, path = cast_run(tmp_path, "-c", "print before; sleep 0.3; print after")
    assert proc.returncode == 0, proc.stderr
    header, evs = events(path)
    assert isinstance(header["timestamp"], int)
    outputs = {e[2]: e[0] for e in evs if e[1] == "o" and e[2].endswith("\r\n") and len(e[2]) > 2}
    slept = outputs["slept 0.3 s  [no socket]\r\n"]
    typed_sleep = [e[0] for e in evs if e[1] == "o" and e[2] == "s"]
    assert slept - max(t for t in typed_sleep if t < slept) >= 0.3  # the sleep itself, after the typing


def test_peer_bytes_in_a_cast_are_escaped(tmp_path, tcp_server):
    def hostile(conn):
        conn.sendall(b"\x1b[2J\x1b]0;owned\x07ok\n")
        conn.close()

    port = tcp_server(hostile).port
    proc, path = cast_run(tmp_path, "--stable", "-c", f"connect 127.0.0.1 {port}; recv all")
    assert proc.returncode == 0, proc.stderr
    _, evs = events(path)
    text = "".join(e[2] for e in evs if e[1] == "o")
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J\\x1b]0;owned\\x07ok" in text


def test_a_timing_waterfall_casts_as_ascii(tmp_path):
    proc, path = cast_run(tmp_path, "--stable", "-c", "serve echo 0; connect localhost $lab_port; timing")
    assert proc.returncode == 0, proc.stderr
    _, evs = events(path)
    text = "".join(e[2] for e in evs if e[1] == "o")
    assert "connect 127.0.0.1:<port>" in text and "<bar>" in text and text.isascii()


def test_a_cast_that_cannot_be_opened_is_rejected_before_anything_runs(tmp_path):
    proc = run_cli("--cast", str(tmp_path / "no" / "such" / "dir.cast"), "-c", "print ran")
    assert proc.returncode == 2
    assert "cannot write the cast" in proc.stderr and "No such file or directory" in proc.stderr
    assert "ran" not in proc.stdout


def test_a_cast_that_cannot_be_written_stops_the_run_with_1():
    proc = run_cli("--cast", "/dev/full", "-c", "print one; print two; print three")
    assert proc.returncode == 1
    assert "cannot write the cast /dev/full: No space left on device; the run stopped there" in proc.stderr
    assert "three" not in proc.stdout


def test_cast_needs_a_script_run():
    proc = run_cli("--cast", "x.cast", input="print hi\n")
    assert proc.returncode == 2 and "--cast records a script run" in proc.stderr


def test_a_failing_script_still_casts_its_failure(tmp_path, closed_port):
    proc, path = cast_run(tmp_path, "--stable", "-c", f"connect 127.0.0.1 {closed_port}; print never")
    assert proc.returncode == 1
    text = "".join(e[2] for e in events(path)[1] if e[1] == "o")
    assert "ECONNREFUSED" in text and "never" not in text.split("connect 127.0.0.1")[-1].split("\r\n", 1)[1]


def test_a_long_command_is_typed_in_chunks():
    out = io.StringIO()
    cast = CastWriter(out, stable=True)
    cast.command("x" * 1000)
    keys = out.getvalue().splitlines()[2:-1]  # header and prompt; Enter
    assert 1 < len(keys) <= 80
    assert "".join(json.loads(k)[2] for k in keys) == "x" * 1000
