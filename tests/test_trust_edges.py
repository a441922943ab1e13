"""Smaller trust edges of issue 20: a cast title from a hostile file name, `0` and `*` as addresses."""

from __future__ import annotations

import io
import json
import socket
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
