"""The non-interactive paths stay light: `netrepl -c`, scripts and piped input
import neither prompt_toolkit nor Pygments nor anything else they do not need.

Start-up time is what a scripted tool is judged by (scripts/bench.py measures
it against a bare `python -c`); these tests guard the import graph behind it
without timing anything. Each case runs in a fresh interpreter and compares
sys.modules before and after main(), so whatever the interpreter's own site
hooks import does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from netrepl.cli import build_parser, simple_args

# Never on a non-interactive path: the shell's stack, the lab servers and
# their handlers (only `serve` needs them; the table of kinds, lab/kinds.py,
# is imported and imports nothing), what those pull in (threading, mimetypes,
# urllib), and stdlib modules that cost milliseconds to import:
# dataclasses pulls in inspect, ast, dis and tokenize (~5 ms) and then execs
# methods for every class, which is why the core uses netrepl.base.fastdata; difflib
# only words a "did you mean" hint; argparse (with gettext and locale) is
# left for the options simple_args does not handle. typing (~2 ms, more with a
# typing.Union of a forward reference, which compiles it) is for annotations
# only: collections.abc or a `TYPE_CHECKING = False` block instead; contextlib
# (~0.4 ms) is not needed either (an editable install's finder imports it in
# site, before the baseline: then it cannot show up here, a normal one can).
HEAVY = (
    "prompt_toolkit", "pygments", "wcwidth",
    "netrepl.shell", "netrepl.shell.lexer",
    "netrepl.lab.server", "netrepl.lab.handlers", "netrepl.lab.http",
    "threading", "mimetypes", "urllib",
    "asyncio", "ssl", "http", "email", "dataclasses", "inspect", "difflib",
    "argparse", "typing", "contextlib",
)

PROBE = textwrap.dedent("""
    import json, sys
    before = set(sys.modules)
    argv = json.loads(sys.argv[1])
    from netrepl.cli import main
    status = main(argv)
    sys.stdout.flush()
    added = sorted(set(sys.modules) - before)
    sys.stderr.write("\\nMODULES " + json.dumps({"status": status, "added": added}) + "\\n")
""")


def imported_by(argv: list[str], tmp_path, stdin: str = "") -> tuple[int, list[str], str]:
    """Run main(argv) in a fresh interpreter: its status, the modules it added, its output."""
    # `json` is imported by the probe itself before the baseline, so it never counts.
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    marker = proc.stderr.rfind("\nMODULES ")
    assert marker >= 0, f"the probe did not finish: {proc.stderr[-2000:]}"
    report = json.loads(proc.stderr[marker + len("\nMODULES "):])
    return report["status"], report["added"], proc.stdout


def heavy_in(added: list[str]) -> list[str]:
    return [m for m in added if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("commands", [
    "lookup http tcp",
    "help; help recv; print hello",
    "set var X 1; print $X; set display hex; set eol lf",
])
def test_dash_c_imports_nothing_heavy(commands, tmp_path):
    status, added, out = imported_by(["-c", commands], tmp_path)
    assert status == 0, out
    assert "netrepl.runner" in added  # the probe really ran the non-interactive path
    assert heavy_in(added) == []


def echo(conn):
    while data := conn.recv(4096):
        conn.sendall(data)


def test_dash_c_with_socket_io_imports_nothing_heavy(tmp_path, tcp_server, closed_port):
    # A real exchange renders peer bytes (escape tables) and an error: still light.
    port = tcp_server(echo).port
    status, added, out = imported_by(
        ["-c", f"connect 127.0.0.1 {port}; send hi\\x1b; recv; close; "
               f"must-fail refused connect 127.0.0.1 {closed_port}"], tmp_path)
    assert status == 0, out
    assert "hi\\x1b\\r" in out
    assert heavy_in(added) == []


def test_script_file_imports_nothing_heavy(tmp_path):
    script = tmp_path / "s.nrs"
    script.write_text("# a comment\nlookup 80\nprint done\n")
    status, added, out = imported_by([str(script)], tmp_path)
    assert status == 0, out
    assert "done" in out
    assert heavy_in(added) == []


def test_piped_input_imports_nothing_heavy(tmp_path):
    status, added, out = imported_by([], tmp_path, stdin="lookup 80\nprint piped\n")
    assert status == 0, out
    assert "piped" in out
    assert "netrepl.runner" in added
    assert heavy_in(added) == []


def test_a_parse_error_may_import_difflib_but_not_the_shell(tmp_path):
    # The "did you mean" hint may cost an import, but only when there is an error.
    status, added, out = imported_by(["-c", "conect 127.0.0.1 80"], tmp_path)
    assert status == 2
    assert [m for m in heavy_in(added) if m != "difflib"] == []


def test_the_probe_sees_heavy_imports(tmp_path):
    # The check itself can fail: `serve` does need the lab servers.
    status, added, out = imported_by(["-c", "serve echo 0; serve stop"], tmp_path)
    assert status == 0, out
    assert {"netrepl.lab.server", "netrepl.lab.handlers"} <= set(heavy_in(added))


@pytest.mark.parametrize("argv", [
    [], ["-c", "lookup 80"], ["-q", "-c", "help"], ["-c", "", "-k"], ["a.nrs", "b.nrs"],
    ["--stable", "--step", "a.nrs"], ["-c", "x", "a.nrs"], ["-k", "--quiet", "-c", "x; y", "--stable"],
    ["-q", "-q", "s.nrs"], ["--raw", "-q", "-c", "recv all"], ["--raw", "a.nrs"],
])
def test_simple_args_agree_with_argparse(argv):
    # The argparse-free path must mean exactly what argparse would.
    assert vars(simple_args(argv)) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["-c"], ["-c", "-q"], ["a.nrs", "-q"], ["-qk"], ["--help"], ["--version"], ["-D", "X=1", "-c", "x"],
    ["--delay", "1", "a.nrs"], ["-"], ["--", "a.nrs"], ["-c", "x", "-c", "y"], [""], ["--qui"], ["-cx"],
    ["--bogus"],
])
def test_anything_else_is_left_to_argparse(argv):
    assert simple_args(argv) is None


# What a start loads beyond the language and the session: the command areas (netrepl/commands/)
# that the registry reached, and what only their commands use. `lookup` is in the first area.
BY_COMMAND = ("netrepl.commands.listening", "netrepl.commands.tlscmds", "netrepl.commands.starttls",
              "netrepl.commands.labs", "netrepl.commands.helptext", "netrepl.commands.exporting",
              "netrepl.core.recorder", "netrepl.core.peerlog", "netrepl.core.listener", "netrepl.core.payload",
              "netrepl.core.starttls", "netrepl.core.tls", "netrepl.core.sockopts", "netrepl.lab.kinds",
              "netrepl.base.labkinds")


def test_a_lookup_loads_only_the_first_command_area(tmp_path):
    status, added, out = imported_by(["-c", "lookup http tcp"], tmp_path)
    assert status == 0 and "is port 80" in out, out
    assert "netrepl.commands.sockets" in added
    assert [m for m in added if m in BY_COMMAND] == []


def test_help_loads_every_area_and_lists_every_command(tmp_path):
    from netrepl.commands import REGISTRY

    status, added, out = imported_by(["-q", "-c", "help"], tmp_path)
    assert status == 0, out
    assert {"netrepl.commands.helptext", "netrepl.commands.starttls", "netrepl.commands.exporting"} <= set(added)
    listed = [line.split()[0] for line in out.splitlines() if line[:1].isalpha()]
    assert listed == REGISTRY.names() and len(listed) > 30
