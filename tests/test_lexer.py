"""The Pygments lexer: built from the registry, no Error token on valid input,
Error tokens on what the parser rejects, and registered so pygmentize knows .nrs."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, String

from conftest import ROOT
from netrepl.commands import REGISTRY
from netrepl.shell.lexer import NrsLexer
from netrepl.language.parser import Parser
from test_parser import example, specs

SCRIPTS = sorted((ROOT / "scripts").glob("*.nrs"))
PARSER = Parser(REGISTRY)

# Hand-written forms beyond the registry examples: quotes, variables, flags, redirects, nesting.
FORMS = """\
# a comment
   # an indented comment

socket
socket inet6 udp
socket udp
lookup http
lookup 80 udp
connect localhost 80
connect ${host:-localhost} $port
connect "local host" '8080'
bind 127.0.0.1 0
info
shutdown rdwr
shutdown 1
close
timeout none
timeout 2.5
send
send -n
send GET / HTTP/1.0\\r\\n
send -n \\x41\\e\\0\\t\\\\ and $var ${var} ${var:-d} $$
send  leading blanks are data
sendto -n localhost 7 hi $X
sendto localhost echo
recv
recv 10
recv all
recv line
recv all > /dev/null
recv all >/dev/null
recv all > "$dir/out file.bin"
recvfrom 100
expect HTTP/1.0 200 OK\\r\\n
expect /HTTP\\/1\\.[01] 200/
expect eof
must-fail refused connect localhost 1
must-fail ECONNREFUSED connect localhost 1
must-fail any must-fail lost shutdown wr
must-fail usage send \\x41
sleep 0.5
print hello, world
set eol lf
set  display  hex
set var NAME some value
serve
serve echo 0 udp
serve stop
source other.nrs
record -e session.nrs
record stop
help
help recv
exit
quit
"""


def tokens(text: str):
    return [(t, v) for t, v in NrsLexer().get_tokens(text) if v]


def errors(text: str):
    return [(t, v) for t, v in tokens(text) if t in Error]


def registry_examples() -> str:
    lines = []
    for spec in specs():
        for optional in (True, False):
            lines.append(example(spec, optional)[0])
        for flag in spec.flags:
            line = example(spec, flags={flag})[0]
            lines.append(spec.name + " " + flag + line[len(spec.name):])
    return "\n".join(lines) + "\n"


def test_the_forms_are_valid_commands():
    """The sample really is valid input (so 'no Error token' means something)."""
    variables = {"host": "h", "port": "1", "var": "v", "X": "x", "dir": "/tmp"}
    for line in FORMS.splitlines() + registry_examples().splitlines():
        PARSER.parse(line, variables)


def test_every_command_form_lexes_without_error():
    assert errors(FORMS) == []
    assert errors(registry_examples()) == []
    for line in FORMS.splitlines():  # the shell lexes one line at a time
        assert errors(line) == [], line


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_shipped_scripts_lex_without_error(path):
    assert errors(path.read_text()) == []


def test_the_lexer_returns_to_the_start_of_a_line_after_every_form():
    """A command on the line after any form still lexes as a command (no state leaks across lines)."""
    for line in FORMS.splitlines() + registry_examples().splitlines():
        toks = tokens(line + "\nconnect localhost 80\n")
        keywords = [v for t, v in toks if t is Keyword]
        assert keywords[-1] == "connect", (line, toks)


@pytest.mark.parametrize("name", REGISTRY.all_names())
def test_every_command_name_is_a_keyword_at_line_start(name):
    cmd = REGISTRY.get(name)
    heads = [f"{name} {sub}" for sub in cmd.subcommands] or [name]
    for head in heads:
        for line in (head, "  " + head, head + " x", "\t" + head + "\n"):
            first = next((t, v) for t, v in tokens(line) if v.strip())
            assert first[0] is Keyword, (line, first)
            assert first[1].split() == head.split()


def test_keywords_are_the_registry_choices_in_argument_position():
    for spec in specs():
        for i, arg in enumerate(spec.args):
            if arg.rest or arg.type.name in ("failure", "redirect") or not arg.choices:
                continue
            before = [spec.name] + [example_word(a) for a in spec.args[:i]]
            for choice in arg.choices:
                line = " ".join(before + [choice])
                last = [(t, v) for t, v in tokens(line) if v.strip()][-1]
                assert last == (Keyword.Constant, choice), (line, last)


def example_word(arg):
    # A valid word of each type: the lexer marks what the parser would reject.
    valid = {"port": "80", "host": "localhost", "int": "1", "float": "1"}
    return arg.choices[0] if arg.choices and arg.type.name == "choice" else valid.get(arg.type.name, "x")


def test_failure_kinds_and_the_nested_command():
    toks = [(t, v) for t, v in tokens("must-fail ECONNREFUSED connect localhost 1") if v.strip()]
    assert toks[:3] == [(Keyword, "must-fail"), (Name.Exception, "ECONNREFUSED"), (Keyword, "connect")]


def test_send_text_escapes_and_variables():
    toks = tokens("send -n a\\r\\x41 $v")
    assert (String.Escape, "\\r") in toks and (String.Escape, "\\x41") in toks
    assert (Name.Variable, "$v") in toks
    assert (Comment.Single, "# c") in tokens("# c")


@pytest.mark.parametrize("line, bad", [
    ("conect localhost 80", "conect"),
    ("nosuch", "nosuch"),
    ("  bogus x", "bogus"),
    ("set", "set"),
])
def test_unknown_commands_are_error_tokens(line, bad):
    errs = errors(line)
    assert errs and errs[0][1] == bad


@pytest.mark.parametrize("line, bad", [
    ("send \\q", "\\q"),
    ("send ok \\xZZ", "\\x"),
    ("send -n tail\\", "\\"),
    ("sendto localhost 7 \\q", "\\q"),
    ("expect HTTP\\q", "\\q"),
])
def test_malformed_escapes_are_error_tokens(line, bad):
    assert (Error, bad) in errors(line)


def test_an_error_line_does_not_spoil_the_next():
    toks = tokens("conect x\nsend \\q\nconnect localhost 80\n")
    assert [v for t, v in toks if t in Error] == ["conect", "\\q"]
    assert (Keyword, "connect") in toks


# ----- registration -------------------------------------------------------------

def test_lexer_attributes():
    assert "nrs" in NrsLexer.aliases
    assert "*.nrs" in NrsLexer.filenames


def test_entry_point_names_the_lexer():
    found = [ep for ep in importlib.metadata.entry_points(group="pygments.lexers") if ep.value == "netrepl.shell.lexer:NrsLexer"]
    assert found, "netrepl's lexer is not registered under pygments.lexers"
    assert found[0].load() is NrsLexer


def test_pygments_finds_the_lexer_by_name_and_file_name():
    assert type(get_lexer_by_name("nrs")) is NrsLexer
    assert find_lexer_class_for_filename("x.nrs") is NrsLexer
    assert type(get_lexer_for_filename("scripts/connect.nrs")) is NrsLexer


def pygmentize() -> list[str]:
    """The venv's own pygmentize, never one found on PATH: a machine with its own
    Pygments (a system Python, Debian's python3-pygments) has one that has
    never heard of .nrs, and on such a machine this test must still pass."""
    exe = Path(sys.executable).parent / "pygmentize"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pygments"]


@pytest.mark.parametrize("args", [["-l", "nrs"], []], ids=["by-name", "by-filename"])
def test_pygmentize_highlights_a_script(args):
    path = ROOT / "scripts" / "connect.nrs"
    done = subprocess.run([*pygmentize(), *args, "-f", "terminal", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" in done.stdout  # ANSI colour
    assert "connect" in done.stdout and done.stderr == ""


def test_pygmentize_default_output_and_raw_tokens():
    path = ROOT / "scripts" / "connect.nrs"
    done = subprocess.run([*pygmentize(), str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "\x1b[" in done.stdout
    raw = subprocess.run([*pygmentize(), "-l", "nrs", "-f", "raw", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert raw.returncode == 0
    assert "Token.Keyword\t'connect'" in raw.stdout
    assert "Token.Error" not in raw.stdout
