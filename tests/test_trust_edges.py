"""Smaller trust edges of issue 20: a cast title from a hostile file name, `0` and `*` as addresses."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from conftest import run, text_of
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
