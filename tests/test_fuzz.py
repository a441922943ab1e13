"""Bad input, property-based: any line, any script bytes -> a result or a clear error, never a crash.

Hypothesis runs a fixed number of derandomized examples per property so CI
is deterministic; each property prints how many cases ran (pytest -s or -rP
shows them). Generated commands never reach the network beyond loopback:
every parsed command goes through `neutralize` (executor properties) or
`unsafe` (script properties, which reject the case) before it can run --
hosts become 127.0.0.1, ports become SINK (a loopback port bound by this
module and never listening, so connects are refused at once), file paths
stay in a temp dir, waits are capped at a few milliseconds, and any command
this module does not know is parsed but not run.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from conftest import ROOT
from netrepl.commands import REGISTRY
from netrepl.core.errors import FAILURE_NAMES, KINDS
from netrepl.render.escape import is_terminal_safe
from netrepl.core.executor import Executor
from netrepl.language.parser import MAX_LINE, ParseError, Parsed, Parser
from netrepl.render.text import plain, render
from netrepl.core.results import Result
from netrepl.language.nrs import check, load, split_commands
from netrepl.runner import Options, Runner
from netrepl.core.session import Session

EXAMPLES = 400
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
COUNTS: Counter = Counter()
FAST = 0.005  # seconds: every timeout and sleep a generated command may set


def report(name: str, keys: list[str]) -> None:
    print(f"\n[fuzz] {name}: " + ", ".join(f"{k}={COUNTS[k]}" for k in keys))


# ----- the loopback sink and the temp dir every generated command is confined to ---------

def _sink() -> tuple[int, socket.socket, socket.socket]:
    """A port with a TCP socket bound but not listening (connect -> ECONNREFUSED) and a UDP
    socket bound to the same number (datagrams land here and are dropped)."""
    for _ in range(50):
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
        except OSError:
            tcp.close()
            udp.close()
            continue
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        return port, tcp, udp
    raise RuntimeError("no free loopback port for the sink")


SINK = 0  # set, with the temp dir and its files, by the `sandbox` fixture
TMP = OUT = REC = INNER = ""


@pytest.fixture(scope="module", autouse=True)
def sandbox():
    global SINK, TMP, OUT, REC, INNER
    SINK, tcp, udp = _sink()
    TMP = tempfile.mkdtemp(prefix="netrepl-fuzz-")
    OUT, REC, INNER = (os.path.join(TMP, name) for name in ("out.bin", "rec.nrs", "inner.nrs"))
    with open(INNER, "w") as f:  # sources itself: the nesting limit, every time
        f.write(f"print inner\nset var inner yes\nsource {INNER}\n")
    yield
    tcp.close()
    udp.close()
    shutil.rmtree(TMP, ignore_errors=True)


RUNS_AS_IS = {"socket", "lookup", "info", "shutdown", "close", "send", "recvfrom", "expect", "print",
              "set eol", "set display", "set var", "help", "exit"}


def neutralize(parsed: Parsed) -> bool | None:
    """Make a parsed command safe to run, in place: True if changed, False if not, None: do not run."""
    name, a = parsed.command.name, parsed.args
    changed = False

    def put(key, value):
        nonlocal changed
        if a.get(key) != value:
            a[key] = value
            changed = True

    if name in RUNS_AS_IS:
        return False
    if name in ("connect", "sendto", "bind"):
        put("host", "127.0.0.1")
        port = a["port"]
        if isinstance(port, str):  # a service name: keep it only when it names nothing
            try:
                socket.getservbyname(port)
                put("port", SINK)
            except OSError:
                pass
        elif not (name == "bind" and port == 0):
            put("port", SINK)
        return changed
    if name == "recv":
        if a["path"] is not None:
            put("path", OUT)
        return changed
    if name == "serve":
        if a["kind"] not in (None, "stop"):
            put("port", 0)
        return changed
    if name == "source":
        put("path", INNER)
        return changed
    if name == "record":
        if a["path"] != "stop":
            put("path", REC)
        return changed
    if name in ("sleep", "timeout"):
        if a["seconds"] is None or a["seconds"] > FAST:
            put("seconds", FAST)
        return changed
    if name == "must-fail":
        return neutralize(a["command"])
    return None


def unsafe(parsed: Parsed) -> str | None:
    """Why a parsed command must not run as is (scripts cannot be rewritten: the case is rejected)."""
    copy = Parsed(parsed.command, dict(parsed.args), parsed.flags, parsed.text,
                  None if parsed.nested is None else Parsed(parsed.nested.command, dict(parsed.nested.args)))
    if copy.nested is not None:
        copy.args["command"] = copy.nested
        if copy.nested.command.name == "must-fail":
            return "nested must-fail"
    verdict = neutralize(copy)
    if verdict is None:
        return f"{parsed.command.name} is not run by the fuzzer"
    return f"{parsed.text!r} would leave the sandbox" if verdict else None


# ----- strategies ---------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # surrogates and every control character included
NASTY = st.sampled_from(list("\x00\x01\x07\x08\t\x0b\x0c\r\x1b\x7f\x80\x9b\x9d\u202e\u200b\ufeff\udcff\ud800"))
NAMES = REGISTRY.all_names() + ["set eol", "set display", "set var", "set bogus", "must-fail refused",
                                "must-fail any", "must-fail timeout", "must-fail ECONNREFUSED", "must-fail bogus",
                                "must-fail expect must-fail io", "  recv", "\tinfo", "#", "recv all >"]
SPECIAL = ["all", "line", "none", "eof", "-n", "-e", ">", ">/dev/null", "> out", "stop", "0", "1", "65535", "65536",
           "-1", "2048", "67108864", "67108865", "0.0001", "1e308", "nan", "-inf", "\\xZZ", "\\x4", "\\q", "\\",
           "\\x41\\r\\n", "\\e[2J", "\\0", '"', '"a b"', "'c d'", "'open", '"open', '""', "$x", "${x}", "${x:-d}",
           "${", "$$", "${undefined}", "$1", "${x:-}", "/re(/", "/o+k/", "/", "127.0.0.1", "::1", "localhost",
           "x.invalid", "http", "echo", "udp", "tcp", "inet6", "no-such-service", "#", "\t", "rd", "wr", "rdwr"]
SPECIAL += list(FAILURE_NAMES)
TOKEN = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(-2 ** 70, 2 ** 70).map(str),
    st.floats().map(repr),
    st.text(ANY_CHAR, max_size=10),
    NASTY,
)
SEP = st.sampled_from([" ", "  ", "\t", " \t"])


@st.composite
def command_lines(draw) -> str:
    """Lines shaped like commands, so most get past the first word and exercise the arguments."""
    words = [draw(st.sampled_from(NAMES))] + draw(st.lists(TOKEN, max_size=5))
    line = "".join(w + draw(SEP) for w in words[:-1]) + words[-1]
    return line + draw(st.sampled_from(["", " ", "\t", "\r"]))


# ----- the parser -----------------------------------------------------------------------

def test_parser_any_line_gives_a_command_or_a_parse_error_with_a_position():
    parser = Parser(REGISTRY)

    @FUZZ
    @given(ANY_LINE, VARIABLES)
    def prop(line, variables):
        COUNTS["parse"] += 1
        try:
            parsed = parser.parse(line, variables)
        except ParseError as exc:
            COUNTS["parse error"] += 1
            assert isinstance(exc.message, str) and exc.message
            assert isinstance(exc.col, int) and 1 <= exc.col <= len(line) + 1, (exc.col, len(line))
            return
        if parsed is None:
            COUNTS["blank or comment"] += 1
            return
        COUNTS["parsed"] += 1
        assert parsed.command in list(REGISTRY) or parsed.command.name.startswith("set ")
        assert len(line) <= MAX_LINE

    prop()
    report("parser", ["parse", "parsed", "parse error", "blank or comment"])
    assert COUNTS["parse"] >= EXAMPLES and COUNTS["parsed"] > 50 and COUNTS["parse error"] > 50


# ----- the executor -----------------------------------------------------------------------

def check_step(step, line: str) -> None:
    result = step.result
    assert isinstance(result, Result)
    for display in ("text", "hex"):
        for stable in (False, True):
            shown = plain(render(result, display, stable))
            assert is_terminal_safe(shown), shown
    if result.error is not None:
        assert result.error.kind in KINDS
        assert result.error.message
        COUNTS[f"error:{result.error.kind}"] += 1
        if result.error.kind == "syntax":
            COUNTS["ran:parse error"] += 1
            if len(line) < 400:
                assert result.lines and result.lines[-1][0].rstrip().endswith("^")
    else:
        COUNTS["ok"] += 1


def run_fuzzed_line(ex: Executor, line: str) -> bool:
    """Run one line as the shell would (rewritten if it must be); False after `exit`."""
    try:
        parsed = ex.parse(line)
    except ParseError:
        parsed = None
    if parsed is None:
        steps = list(ex.run_line(line))
    else:
        changed = neutralize(parsed)
        if changed is None:
            COUNTS["parse only"] += 1
            return True
        COUNTS["rewritten" if changed else "run as typed"] += 1
        COUNTS[f"cmd:{parsed.command.name}"] += 1
        steps = list(ex.run_parsed(parsed)) if changed else list(ex.run_line(line))
    for step in steps:
        check_step(step, line)
        if step.result.exit:
            return False
    return True


def test_executor_any_lines_give_results_never_exceptions():
    @FUZZ
    @given(st.lists(st.one_of(ANY_LINE, COMMANDS, COMMANDS), min_size=1, max_size=5), VARIABLES)
    def prop(lines, variables):
        COUNTS["sequences"] += 1
        ex = Executor(REGISTRY, session=Session(timeout=FAST), variables=dict(variables), cwd=TMP)
        try:
            for line in lines:
                COUNTS["lines"] += 1
                if not run_fuzzed_line(ex, line):
                    break
        finally:
            ex.finish()
        assert ex.session.sock is None and not ex.servers

    prop()
    kinds = sorted(k for k in COUNTS if k.startswith(("error:", "cmd:")))
    report("executor", ["sequences", "lines", "ok", "ran:parse error", "run as typed", "rewritten", "parse only"]
           + kinds)
    assert COUNTS["sequences"] >= EXAMPLES
    assert COUNTS["run as typed"] + COUNTS["rewritten"] > 200  # the commands did run, not just fail to parse
    assert COUNTS["cmd:connect"] and COUNTS["error:io"] and COUNTS["ran:parse error"]


# ----- scripts: any bytes in a .nrs file, -c text, piped input -----------------------------

SAFE_TEMPLATES = [
    "connect 127.0.0.1 {sink}", "socket {fam} {typ}", "send {text}", "send -n {text}", "recv {n}", "recv all",
    "recv line", "expect {text}", "expect eof", "timeout 0.005", "set display {disp}", "set eol {eol}",
    "set var x {text}", "print {text}", "print $x ${{y:-dflt}}", "info", "close", "shutdown {how}",
    "sendto 127.0.0.1 {sink} {text}", "recvfrom", "serve echo 0", "serve {kind} 0 udp", "serve", "serve stop",
    "recv all > {out}", "record {rec}", "record stop", "must-fail {fail} recv", "must-fail refused connect 127.0.0.1 {sink}",
    "must-fail {fail} {text}", "sleep 0", "help {text}", "lookup {text}", "lookup {n} udp", "exit", "# {text}", "",
    "source {inner}", "{text}",
]
PRINTABLE = st.characters(categories=["L", "N", "P", "S", "Zs"])
TEXT = st.text(st.one_of(PRINTABLE, PRINTABLE, PRINTABLE, ANY_CHAR).filter(lambda c: c not in "\n{}"), max_size=20)


# Only for the parser and executor properties, where `neutralize` rewrites them before they run.
OUTSIDE_TEMPLATES = ["connect {host} {port}", "sendto {host} {port} {text}", "bind {host} {port}", "serve {kind} {port}",
                     "source {text}", "record {text}", "recv all > {text}", "sleep {secs}", "timeout {secs}",
                     "must-fail {fail} connect {host} {port}", "must-fail {fail} sleep {secs}"]


@st.composite
def template_text(draw, templates=tuple(SAFE_TEMPLATES)) -> str:
    template = draw(st.sampled_from(templates))
    line = template.format(
        sink=SINK, out=OUT, rec=REC, inner=INNER, text=draw(TEXT),
        fam=draw(st.sampled_from(["inet", "inet6", "x"])), typ=draw(st.sampled_from(["tcp", "udp", ""])),
        n=draw(st.sampled_from(["1", "2048", "0", "-5", "67108865", "all", "line", "9" * 30])),
        disp=draw(st.sampled_from(["text", "hex", "rainbow"])), eol=draw(st.sampled_from(["crlf", "lf", "none", "cr"])),
        how=draw(st.sampled_from(["0", "1", "2", "wr", "3"])), kind=draw(st.sampled_from(["echo", "chargen", "http"])),
        fail=draw(st.sampled_from(list(FAILURE_NAMES) + ["ECONNREFUSED", "EBOGUS"])),
        host=draw(st.sampled_from(["example.com", "192.0.2.1", "8.8.8.8", "localhost", "::1", "x.invalid", "[::1]",
                                   "127.0.0.1", "${host:-example.org}"])),
        port=draw(st.sampled_from(["80", "0", "http", "no-such-service", "65535", "${port:-443}", str(SINK)])),
        secs=draw(st.sampled_from(["0", "0.001", "1", "86400", "none", "3.5"])))
    return line


def template_lines() -> st.SearchStrategy[bytes]:
    return template_text().map(lambda line: line.encode("utf-8", "surrogatepass"))


@st.composite
def corrupted(draw) -> bytes:
    line = draw(template_text()).encode("utf-8", "surrogatepass")
    at = draw(st.integers(0, len(line)))
    return line[:at] + draw(st.binary(min_size=1, max_size=4)) + line[at:]


LONG = st.builds(lambda unit, n: unit * n, st.text(ANY_CHAR, min_size=1, max_size=6), st.integers(1, 15000))
ANY_LINE = st.one_of(st.text(ANY_CHAR, max_size=80), st.text(st.sampled_from(' \t"\'$\\{}:-#>/ax0'), max_size=30),
                     LONG, command_lines(), command_lines(), template_text(),
                     template_text(tuple(SAFE_TEMPLATES + OUTSIDE_TEMPLATES * 3)))
COMMANDS = template_text(tuple(SAFE_TEMPLATES + OUTSIDE_TEMPLATES))
VARIABLES = st.dictionaries(st.sampled_from(["x", "y", "host", "port", "HOME"]), st.text(ANY_CHAR, max_size=12),
                            max_size=3)



SCRIPT_LINE = st.one_of(
    template_lines(), template_lines(), template_lines(), corrupted(),
    st.binary(max_size=60),
    st.integers(1, 12).map(lambda n: b"\x00" * n),
    st.integers(MAX_LINE - 8, MAX_LINE + 8).map(lambda n: b"print " + b"a" * (n - 6)),
    st.sampled_from([b"\xef\xbb\xbfprint bom", b"print crlf\r", b"\r", b"print a\rb", b"\xc3\x28", b"\xed\xa0\x80",
                     b"\xf4\x90\x80\x80", b"print \xff", b"\x1b[2J", b"send \\xZZ", b'connect "127.0.0.1 1',
                     b"recv 99999999999999999999", b"print ${", b"print $undefined"]),
)
SCRIPT = st.builds(lambda lines, end: b"\n".join(lines) + end, st.lists(SCRIPT_LINE, max_size=8),
                   st.sampled_from([b"", b"\n", b"\r\n", b"\n\n"]))


def screen(lines: list[str], source: str, variables: dict) -> None:
    """Reject (assume) a generated script that would do anything outside the sandbox."""
    script = check(lines, source, Parser(REGISTRY), variables, TMP)
    for _, parsed in script.commands:
        reason = unsafe(parsed)
        if reason:
            COUNTS["rejected"] += 1
        assume(reason is None)


def check_run(status: int, out: str, err: str, source: str, label: str) -> None:
    assert status in (0, 1, 2)
    COUNTS[f"{label} exit {status}"] += 1
    assert is_terminal_safe(out) and is_terminal_safe(err)
    assert "Traceback" not in out + err
    if status == 2:  # rejected before anything ran, and said where
        assert out == ""
        assert f"{source}:" in err and "problem(s)" in err or "netrepl: cannot read" in err, err
    if status == 1:
        assert "failed (" in err, err


def test_any_bytes_in_a_nrs_file_run_or_are_rejected_with_a_position():
    path = os.path.join(TMP, "fuzz.nrs")
    parser = Parser(REGISTRY)

    @FUZZ
    @given(SCRIPT, st.booleans(), st.booleans())
    def prop(content, keep_going, quiet):
        COUNTS["files"] += 1
        with open(path, "wb") as f:
            f.write(b"timeout 0.005\n" + content)
        script = load(path, parser, {})
        for _, parsed in script.commands:
            reason = unsafe(parsed)
            if reason:
                COUNTS["file rejected"] += 1
            assume(reason is None)
        out, err = io.StringIO(), io.StringIO()
        status = Runner(Options(keep_going=keep_going, quiet=quiet), out=out, err=err).run_files([path])
        check_run(status, out.getvalue(), err.getvalue(), path, "file")
        if script.problems:
            assert status == 2
            first = script.problems[0]
            assert 1 <= first.col and f"{first.source}:{first.line}:{first.col}: " in err.getvalue()

    prop()
    report("nrs files", ["files", "file rejected", "file exit 0", "file exit 1", "file exit 2"])
    assert COUNTS["files"] >= EXAMPLES
    assert COUNTS["file exit 0"] and COUNTS["file exit 1"] and COUNTS["file exit 2"]


def test_any_text_through_dash_c_and_piped_input():
    @FUZZ
    @given(SCRIPT, st.booleans())
    def prop(content, keep_going):
        text = "timeout 0.005\n" + content.decode("utf-8", "surrogateescape")
        lines = split_commands(text)
        stream_lines = [line.rstrip("\r\n") for line in io.StringIO(text)]
        screen(lines, "-c", {})
        screen(stream_lines, "<stdin>", {})
        COUNTS["texts"] += 1
        out, err = io.StringIO(), io.StringIO()
        check_run(Runner(Options(keep_going=keep_going), out=out, err=err).run_text(text),
                  out.getvalue(), err.getvalue(), "-c", "-c")
        out, err = io.StringIO(), io.StringIO()
        status = Runner(Options(keep_going=keep_going), out=out, err=err).run_stream(io.StringIO(text))
        assert status in (0, 1, 2)
        COUNTS[f"stdin exit {status}"] += 1
        assert is_terminal_safe(out.getvalue()) and is_terminal_safe(err.getvalue())
        if status == 2:  # piped input stops at the first line that does not parse, and says where
            assert err.getvalue().splitlines()[-1].startswith("<stdin>:")

    prop()
    report("-c and stdin", ["texts", "rejected", "-c exit 0", "-c exit 1", "-c exit 2", "stdin exit 0",
                            "stdin exit 1", "stdin exit 2"])
    assert COUNTS["texts"] >= EXAMPLES // 2


# ----- the real CLI on a few nasty files ----------------------------------------------------

NASTY_FILES = {
    "invalid-utf8": b"print ok\nprint \xff\xfe\n",
    "nul-bytes": b"print a\x00b\n\x00\x00\x00\n",
    "long-line": b"print " + b"x" * (4 << 20) + b"\n",
    "no-newline-at-end": b"print last",
    "crlf": b"print one\r\nprint two\r\n",
    "bom": b"\xef\xbb\xbfprint bom\n",
    "lone-cr": b"print a\rprint b\n",
    "empty": b"",
    "only-comments": b"# one\n   # two\n\n",
    "surrogate-utf8": b"print \xed\xa0\x80\n",
    "escape-sequences": b"print \x1b]0;title\x07\n\x9b2J\n",
    "binary": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("name", sorted(NASTY_FILES))
def test_the_cli_on_nasty_script_files(tmp_path, name):
    path = tmp_path / f"{name}.nrs"
    path.write_bytes(NASTY_FILES[name])
    p = subprocess.run([sys.executable, "-m", "netrepl", str(path)], capture_output=True, timeout=120, cwd=ROOT,
                       stdin=subprocess.DEVNULL)
    out, err = (s.decode("utf-8", "surrogateescape") for s in (p.stdout, p.stderr))
    assert p.returncode in (0, 2), err
    assert is_terminal_safe(out) and is_terminal_safe(err)
    assert "Traceback" not in out + err
    if p.returncode == 2:
        assert out == ""
        assert err.startswith(f"{path}:") and err.endswith("problem(s)\n")
    expected = {"invalid-utf8": 2, "nul-bytes": 2, "long-line": 2, "no-newline-at-end": 0, "crlf": 0, "bom": 0,
                "lone-cr": 2, "empty": 0, "only-comments": 0, "surrogate-utf8": 2, "escape-sequences": 2, "binary": 2}
    assert p.returncode == expected[name]


def test_piped_input_with_invalid_utf8_under_a_strict_locale_is_no_crash():
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    p = subprocess.run([sys.executable, "-m", "netrepl"], input=b"print a\xffb\nprint next\n", capture_output=True,
                       timeout=60, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stderr
    assert b"Traceback" not in p.stderr
    assert p.stdout == b"netrepl> print a\\xffb\na\\xffb\nnetrepl> print next\nnext\n"


# ----- limits, with clear errors ------------------------------------------------------------

LIMITS = [
    ("recv 0", 6, "N: 0 is below the minimum 1"),
    ("recv -1", 6, "N: -1 is below the minimum 1"),
    ("recv 99999999999999999999", 6, "N: 99999999999999999999 is above the maximum 67108864"),
    ("recv 67108865", 6, "N: 67108865 is above the maximum 67108864"),
    ("recvfrom 0", 10, "N: 0 is below the minimum 1"),
    ("recv 1e9", 6, "N: expected N|all|line|exactly|quiet|http, got '1e9'"),
    ("connect 127.0.0.1 65536", 19, "PORT: port 65536 is out of range 0-65535"),
    ("connect 127.0.0.1 -1", 19, "PORT: port -1 is out of range 0-65535"),
    ("connect 127.0.0.1 99999999999999999999999", 19, "PORT: port 99999999999999999999999 is out of range 0-65535"),
    ("sendto 127.0.0.1 70000 x", 18, "PORT: port 70000 is out of range 0-65535"),
    ("bind 127.0.0.1 70000", 16, "PORT: port 70000 is out of range 0-65535"),
    ("serve echo 65536", 12, "PORT: 65536 is above the maximum 65535"),
    ("send \\xZZ", 6, "malformed escape \\xZZ: \\x takes two hex digits"),
    ("send ab\\x4", 8, "malformed escape \\x4: \\x takes two hex digits"),
    ("send \\q", 6, "unknown escape \\q (known: \\r \\n \\t \\0 \\e \\\\ \\xNN)"),
    ("send abc\\", 9, "a trailing backslash escapes nothing (write \\\\ for a backslash)"),
    ("expect x\\xZZ", 9, "malformed escape \\xZZ: \\x takes two hex digits"),
    ("expect /a(/", 10, "bad regular expression: missing ), unterminated subpattern"),
    ('connect "127.0.0.1 80', 9, 'unterminated " quote'),
    ("connect '127.0.0.1 80", 9, "unterminated ' quote"),
    ("print ${", 7, "unterminated or malformed ${...}"),
    ("timeout 0", 9, "SECONDS: 0 is below the minimum 0.001"),
    ("timeout nan", 9, "SECONDS: expected a finite number, got 'nan'"),
    ("sleep 1e10", 7, "SECONDS: 1e10 is above the maximum 86400"),
]


@pytest.mark.parametrize("line,col,message", LIMITS)
def test_limits_give_clear_errors_with_a_position(line, col, message):
    with pytest.raises(ParseError) as caught:
        Parser(REGISTRY).parse(line, {})
    assert (caught.value.col, caught.value.message) == (col, message)
    ex = Executor(REGISTRY)
    (step,) = ex.run_line(line)
    assert step.result.error.kind == "syntax" and step.result.error.message == message
    assert step.result.lines[-1] == ("  " + " " * (col - 1) + "^",)  # points at the problem


def test_limits_through_the_cli_exit_2_and_run_nothing():
    p = subprocess.run([sys.executable, "-m", "netrepl", "-c", "; ".join(line for line, _, _ in LIMITS)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and p.stdout == ""
    problems = p.stderr.splitlines()
    assert problems[-1] == f"netrepl: -c: not run, {len(LIMITS)} problem(s)"
    for number, (problem, (_, col, message)) in enumerate(zip(problems, LIMITS), 1):
        assert problem == f"-c:{number}:{col}: {message}"


def test_a_line_too_long():
    line = "print " + "a" * MAX_LINE
    with pytest.raises(ParseError) as caught:
        Parser(REGISTRY).parse(line, {})
    assert caught.value.message == f"line too long ({len(line)} characters, at most {MAX_LINE})"
