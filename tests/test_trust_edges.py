"""Smaller trust edges of issue 20: a cast title from a hostile file name, `0` and `*` as addresses."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from conftest import run, text_of
from hostile_tls import release_later
from netrepl.render.cast import CastWriter
from netrepl.render.escape import is_terminal_safe


def test_the_cast_title_is_escaped():
    stream = io.StringIO()
    CastWriter(stream, title="demo\x1b]0;pwned\x07\x1b[2J\u202eexe.nrs\xff")
    title = json.loads(stream.getvalue().splitlines()[0])["title"]
    assert is_terminal_safe(title) and "demo\\x1b]0;pwned\\x07" in title and "\\u202e" in title


def test_a_script_with_an_escape_in_its_file_name_casts_an_escaped_title(tmp_path):
    script = tmp_path / "evil\x1b[2J.nrs"
    script.write_text("print hi\n")
    cast = tmp_path / "out.cast"
    proc = subprocess.run([sys.executable, "-m", "netrepl", "--cast", str(cast), str(script)], capture_output=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    title = json.loads(cast.read_text().splitlines()[0])["title"]
    assert "\x1b" not in title and "\\x1b[2J" in title


# -- `0` and `*` never mean every interface unless written 0.0.0.0 or :: ---------------------------

IMPLICIT = ["0 8080", "0:8080", "* 0", "'*' 0", "0.0 0", "0x0 0", "000 0"]


@pytest.mark.parametrize("words", IMPLICIT)
def test_listen_refuses_an_implicit_every_interface(ex, words):
    result = run(ex, f"listen {words}")
    out = text_of(result)
    assert result.error is not None and result.error.kind == "usage", out
    assert "would mean every interface" in out and "write 0.0.0.0" in out
    assert ex.session.listener is None


@pytest.mark.parametrize("words", ["0 0", "'*' 0", "0.0 0"])
def test_bind_refuses_an_implicit_every_interface(ex, words):
    assert run(ex, "socket inet tcp").ok
    result = run(ex, f"bind {words}")
    assert result.error is not None and result.error.kind == "usage", text_of(result)
    assert result.state == "tcp created"


def test_listen_0_alone_is_still_a_free_port_on_loopback(ex):
    result = run(ex, "listen 0")
    out = text_of(result)
    assert result.ok and "listening on 127.0.0.1:" in out and "not on loopback" not in out


def test_a_lab_server_refuses_an_implicit_every_interface():
    from netrepl.lab.server import LabServer, LabServerError

    with pytest.raises(LabServerError, match="would mean every interface"):
        LabServer("echo", "0", 0).start()
    proc = subprocess.run([sys.executable, "-m", "netrepl", "serve", "echo", "--host", "*", "--port", "0"],
                          capture_output=True, timeout=30)
    assert proc.returncode == 1 and b"would mean every interface" in proc.stderr


def test_what_is_not_loopback_is_said():
    from netrepl.core.wildcard import exposed, implicit_wildcard

    assert exposed("0.0.0.0") and exposed("::") and "192.0.2.1" in exposed("192.0.2.1")
    assert exposed("127.0.0.1") is None and exposed("::1") is None and exposed("127.1.2.3") is None
    for explicit in ("0.0.0.0", "::", "127.0.0.1", "localhost", "::1", "0::0", None):
        assert implicit_wildcard(explicit) is None, explicit
    for implicit in ("0", "*", "0.0", "0x0", "000", "0.0.0", " "):
        assert implicit_wildcard(implicit), implicit


# -- Paths that may be FIFOs: record, --cast, export -o, serve replay end at a deadline ----------------

@pytest.fixture
def fifo(tmp_path, monkeypatch):
    import os

    from netrepl.core import pathopen

    monkeypatch.setattr(pathopen, "WAIT", 0.5)
    path = tmp_path / "a fifo"
    os.mkfifo(path)
    release_later(str(path))
    return str(path)


def _within(seconds, call):
    import time

    started = time.monotonic()
    outcome = call()
    took = time.monotonic() - started
    assert took < seconds, f"waited {took:.1f} s on a FIFO with nothing at the other end"
    return outcome


def test_record_to_a_fifo_without_a_reader_ends_at_the_deadline(ex, fifo):
    assert run(ex, "timeout 0.5").ok  # record waits as long as the session's timeout
    result = _within(3, lambda: run(ex, f"record '{fifo}'"))
    out = text_of(result)
    assert result.error is not None and "no reader opened the FIFO within 0.5 s" in out, out


def test_cast_to_a_fifo_without_a_reader_ends_at_the_deadline(fifo, tmp_path, capsys):
    from netrepl.cli import main

    script = tmp_path / "s.nrs"
    script.write_text("print hi\n")
    status = _within(3, lambda: main(["--cast", fifo, str(script)]))
    assert status != 0 and "no reader opened the FIFO" in capsys.readouterr().err


def test_export_to_a_fifo_without_a_reader_ends_at_the_deadline(fifo):
    from netrepl.export import write_program

    with pytest.raises(OSError, match="no reader opened the FIFO"):
        _within(3, lambda: write_program(fifo, "print()\n"))


def test_serve_replay_of_a_fifo_without_a_writer_ends_at_the_deadline(fifo):
    from netrepl.lab.replay import load

    with pytest.raises(OSError, match="no writer opened the FIFO"):
        _within(3, lambda: load(fifo))


def test_a_fifo_with_its_other_end_open_still_works(tmp_path):
    import os
    import threading

    from netrepl.core.pathopen import open_within

    path = tmp_path / "f"
    os.mkfifo(path)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(path, "rb").read()))
    reader.start()
    fd = open_within(str(path), os.O_WRONLY, 5)
    os.write(fd, b"through the FIFO")
    os.close(fd)
    reader.join(5)
    assert got == [b"through the FIFO"]
