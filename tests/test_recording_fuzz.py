"""Recordings as untrusted input (issue 20): the `#<` / `#>` peer-line format `record -p` writes,
generated and mangled by hypothesis, through every front end that reads one: `serve replay`
loading, the runner (`netrepl -k FILE.nrs`'s main(): `-k`, so every line runs), the pytest plugin, the
shell's lexer and validator, and `netrepl export`. 0 tracebacks and 0 hangs: each input is
bounded (lines up to just past replay's 4096-character limit, at most 24 lines) and each run is
timed against a generous bound. Derandomized, so every run tries the same inputs; the counts
per front end are printed (`pytest -s tests/test_recording_fuzz.py`).

The commands in the recordings only ever reach a loopback port that refuses (a bound socket
that never listens) or fail for want of a socket: nothing waits for a peer.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError

import netrepl.cli as cli
import netrepl.export as export
from netrepl.commands import REGISTRY
from netrepl.lab.replay import ReplayError, load
from netrepl.language.parser import Parser
from netrepl.shell.lexer import NrsLexer
from netrepl.shell.validator import LineValidator

pytest_plugins = ["pytester"]
PARSER = Parser(REGISTRY)
COUNTS: Counter = Counter()
BOUND = 10.0  # seconds any one input may take in any front end (a hang is far past it)
FUZZ = dict(derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def refusing_port():
    """A loopback port that refuses: bound, never listening (nothing else can take it meanwhile)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


# ----- what a recording holds -------------------------------------------------------------

# Peer-line bodies: what the recorder writes (escapes \r \n \t \0 \e \\ \xHH, `$` as \x24), what it
# never writes (bad escapes, a lone backslash, raw controls, bidi, NUL), directives right and wrong.
BODY_PIECES = st.sampled_from([
    "GET / HTTP/1.0", "\\r\\n", "\\n", "\\t", "\\0", "\\e", "\\\\", "\\x24", "\\x00", "\\xff", "\\xZZ", "\\x4",
    "\\q", "\\", "\\u202e", "$x", "${secret1}", "${", "}", "#", "#<", "#>", " ", "  ", "\t", "\x00", "\x1b[2J",
    "\x07", "\u202e", "\u200b", "\udcff", "é", "ok", "220 mail.test ESMTP", "+PONG", "a" * 200,
])
BODIES = st.one_of(
    st.lists(BODY_PIECES, max_size=12).map("".join),
    st.text(max_size=40),
    st.integers(4000, 4200).map(lambda n: "a" * n),  # around replay's 4096-character line limit
)
DIRECTIVES = st.sampled_from([
    "#> connect", "#< eof", "#< reset", "#> eof", "#> close", "#> reset", "#< connect", "#< close", "#<eof",
    "#<  eof", "#< eof ", "#< more 5 bytes sha256 " + "0" * 64, "#< more 70000 bytes sha256 " + "ab" * 32,
    "#< more 1099511627777 bytes sha256 " + "0" * 64, "#< more 5 bytes sha256 xyz", "#> more 3 bytes sha256 " + "f" * 64,
    "#< more -1 bytes", "#", "#<", "#>", "#<\t", "# a comment", "",
])
# Commands as `record -p` writes them around its peer lines (and some it never would).
COMMANDS = st.sampled_from([
    "set var host 127.0.0.1", "set var port $refusing", "connect $host $port", "connect ${host:-127.0.0.1} $port",
    "must-fail refused connect $host $port", "send GET / HTTP/1.0\\r\\n", "send -n hi", "recv 100", "recv line",
    "recv all", "recv all > /dev/null", "recv quiet 0.1", "recv exactly 3", "expect /ok/", "expect eof",
    "expect /(a|aa)+b/", "close", "info", "timeout 0.2", "print a #< not a peer line", "print $x",
    "tls localhost", "shutdown 1", "must-fail state recv 5", "set display hex", "serve replay SELF",
    "record stop", "help recv", "`unterminated", "send \"open", "connect", "set var x",
])
LINES = st.one_of(
    st.tuples(st.sampled_from(["#< ", "#> "]), BODIES).map("".join),
    DIRECTIVES,
    COMMANDS,
    st.text(max_size=30),
)
# Half the recordings hold only lines a script accepts (peer lines are comments to it), so the
# runner, the plugin and export get past the whole-script check and run or write them.
CLEAN_LINES = st.one_of(
    st.tuples(st.sampled_from(["#< ", "#> "]), BODIES).map("".join),
    DIRECTIVES,
    COMMANDS.filter(lambda line: line not in ("`unterminated", "send \"open", "connect", "set var x")),
)
RECORDINGS = st.tuples(
    st.one_of(st.lists(LINES, max_size=24), st.lists(CLEAN_LINES, max_size=24)),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),  # starts as `record -p` writes it: the variables and the connect first
    st.sampled_from([b""] * 15 + [b"\xff\xfe", b"\xc3", b"\xed\xa0\x80"]),  # invalid UTF-8 somewhere (1 in 6)
    st.integers(0, 30),
)


def recording_bytes(drawn, path: str, port: int) -> bytes:
    lines, eol, framed, bad, at = drawn
    lines = [line.replace("SELF", f"'{path}'").replace("$refusing", str(port)) for line in lines]
    if framed:
        lines = ["set var host 127.0.0.1", f"set var port {port}", "timeout 0.2", "must-fail refused connect "
                 "$host $port", "#> connect"] + lines
    data = eol.join(lines).encode("utf-8", "surrogateescape") + (eol.encode() if lines else b"")
    return data[:at] + bad + data[at:] if bad else data


def _timed(front_end: str, call):
    started = time.monotonic()
    COUNTS[front_end] += 1
    try:
        return call()
    finally:
        took = time.monotonic() - started
        assert took < BOUND, f"{front_end}: one recording took {took:.1f} s"


def _write(tmp_path, drawn, port: int) -> str:
    path = str(tmp_path / "rec.nrs")
    with open(path, "wb") as f:
        f.write(recording_bytes(drawn, path, port))
    return path


# ----- each front end ----------------------------------------------------------------------------

def test_fuzz_recordings_through_serve_replay_loading(tmp_path, refusing_port):
    @settings(max_examples=400, **FUZZ)
    @given(RECORDINGS)
    def fuzz(drawn):
        path = _write(tmp_path, drawn, refusing_port)
        try:
            conversations = _timed("replay", lambda: load(path))
        except ReplayError as exc:
            assert str(exc).startswith(path) and "Traceback" not in str(exc)
            COUNTS["replay refused"] += 1
        else:
            assert conversations and all(isinstance(step.data, bytes) for steps in conversations for step in steps)
            COUNTS["replay loaded"] += 1

    COUNTS.clear()
    fuzz()
    print(f"\n[fuzz] recordings through serve replay loading: {COUNTS['replay']} (loaded {COUNTS['replay loaded']}, "
          f"refused {COUNTS['replay refused']}), 0 tracebacks, 0 hangs")
    assert COUNTS["replay"] >= 400 and COUNTS["replay loaded"] and COUNTS["replay refused"]


def test_fuzz_recordings_through_the_runner(tmp_path, refusing_port):
    """`netrepl -k FILE.nrs` (its main(), in-process): exit 0, 1 or 2, never a traceback."""
    @settings(max_examples=250, **FUZZ)
    @given(RECORDINGS)
    def fuzz(drawn):
        path = _write(tmp_path, drawn, refusing_port)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = _timed("runner", lambda: cli.main(["-k", path]))
        assert status in (0, 1, 2), (status, out.getvalue(), err.getvalue())
        assert "Traceback" not in out.getvalue() + err.getvalue() and "internal error" not in out.getvalue()
        COUNTS[f"runner exit {int(status)}"] += 1

    COUNTS.clear()
    fuzz()
    print(f"\n[fuzz] recordings through the runner: {COUNTS['runner']} (exit 0: {COUNTS['runner exit 0']}, "
          f"1: {COUNTS['runner exit 1']}, 2: {COUNTS['runner exit 2']}), 0 tracebacks, 0 hangs")
    assert COUNTS["runner"] >= 250 and COUNTS["runner exit 2"] and COUNTS["runner exit 1"] + COUNTS["runner exit 0"]


def test_fuzz_recordings_through_the_lexer_and_validator(tmp_path, refusing_port):
    """The shell's colouring and its Enter check, on each line and on the whole text: never raise."""
    validator = LineValidator(PARSER, {"x": "1", "host": "127.0.0.1", "port": str(refusing_port)})

    @settings(max_examples=400, **FUZZ)
    @given(RECORDINGS)
    def fuzz(drawn):
        text = recording_bytes(drawn, str(tmp_path / "rec.nrs"), refusing_port).decode("utf-8", "surrogateescape")

        def each():
            coloured = "".join(t for _, t in NrsLexer().get_tokens(text))  # (pygments reads \r\n as \n)
            assert coloured.strip("\n") == text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
            for line in text.splitlines():
                list(NrsLexer().get_tokens(line))
                try:
                    validator.validate(Document(line))
                    COUNTS["lines accepted"] += 1
                except ValidationError:
                    COUNTS["lines refused"] += 1

        _timed("lexer+validator", each)

    COUNTS.clear()
    fuzz()
    print(f"\n[fuzz] recordings through the shell's lexer and validator: {COUNTS['lexer+validator']} recordings, "
          f"{COUNTS['lines accepted'] + COUNTS['lines refused']} lines (accepted {COUNTS['lines accepted']}, "
          f"refused {COUNTS['lines refused']}), 0 exceptions, 0 hangs")
    assert COUNTS["lexer+validator"] >= 400 and COUNTS["lines accepted"] and COUNTS["lines refused"]


def test_fuzz_recordings_through_export(tmp_path, refusing_port):
    """`netrepl export FILE.nrs -o OUT.py`: exit 0 with a program Python compiles, or 2 with problems."""
    out_py = str(tmp_path / "out.py")

    @settings(max_examples=300, **FUZZ)
    @given(RECORDINGS)
    def fuzz(drawn):
        path = _write(tmp_path, drawn, refusing_port)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = _timed("export", lambda: export.main([path, "-o", out_py]))
        assert status in (0, 2) and "Traceback" not in err.getvalue(), (status, err.getvalue())
        if status == 0:
            with open(out_py, encoding="utf-8") as f:
                compile(f.read(), out_py, "exec")  # a program that does not even compile would be a crash later
            os.remove(out_py)
        COUNTS[f"export exit {status}"] += 1

    COUNTS.clear()
    fuzz()
    print(f"\n[fuzz] recordings through export: {COUNTS['export']} (exported {COUNTS['export exit 0']}, refused "
          f"{COUNTS['export exit 2']}), 0 tracebacks, 0 hangs")
    assert COUNTS["export"] >= 300 and COUNTS["export exit 0"] and COUNTS["export exit 2"]


def test_fuzz_recordings_through_the_pytest_plugin(pytester, refusing_port):
    """Generated recordings as `*.nrs` files of one pytest run: each is a test that passes or fails
    with the plugin's report; none is an internal error or a Python traceback."""
    files: dict[str, bytes] = {}

    @settings(max_examples=200, **FUZZ)
    @given(RECORDINGS)
    def collect(drawn):
        name = f"rec{len(files):03d}.nrs"
        files[name] = recording_bytes(drawn, str(pytester.path / name), refusing_port)

    collect()
    for name, data in files.items():
        (pytester.path / name).write_bytes(data)
    started = time.monotonic()
    result = pytester.runpytest("-p", "no:cacheprovider", "-q", "--tb=short")
    took = time.monotonic() - started
    out = result.stdout.str()
    outcomes = result.parseoutcomes()
    passed, failed = outcomes.get("passed", 0), outcomes.get("failed", 0)
    print(f"\n[fuzz] recordings through the pytest plugin: {len(files)} files (passed {passed}, failed {failed}) "
          f"in {took:.1f} s, 0 internal errors, 0 tracebacks")
    assert "INTERNALERROR" not in out and "Traceback" not in out and "errors" not in outcomes, out[-3000:]
    assert passed + failed == len(files) >= 200 and passed and failed
    assert took < BOUND * len(files)
