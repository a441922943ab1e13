"""Regex patterns as untrusted input (issue 20 item 3): a regex nested 400 deep is a syntax error
at its column in every front end (-c, a script, export, pygmentize -l nrs, the pytest plugin),
and the shell's lexer and validator never raise. Hypothesis then throws generated regexes at the
runner, the lexer, the validator and the whole-script check: 0 tracebacks."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError
from pygments.token import Error

from conftest import run_cli
from netrepl.commands import REGISTRY
from netrepl.language import nrs
from netrepl.language.parser import ParseError, Parser
from netrepl.language.texttypes import MAX_REGEX_NESTING
from netrepl.shell.lexer import NrsLexer
from netrepl.runner import Options, Runner
from netrepl.shell.validator import LineValidator

pytest_plugins = ["pytester"]
PARSER = Parser(REGISTRY)
DEEP = "expect /" + "(" * 400 + "a" + ")" * 400 + "/  # 400 deep"
DEEP_COL = len("expect /") + MAX_REGEX_NESTING + 1  # the first `(` too deep
COUNTS: Counter = Counter()


def error_columns(line: str) -> list[int]:
    cols, at = [], 1
    for token, text in NrsLexer().get_tokens(line):
        if token in Error:
            cols.append(at)
        at += len(text)
    return cols


def test_a_regex_nested_400_deep_is_an_error_at_its_column_for_the_parser_lexer_and_validator():
    with pytest.raises(ParseError) as info:
        PARSER.parse(DEEP, {})
    assert info.value.col == DEEP_COL and "nested more than 64 deep" in info.value.message
    assert DEEP_COL in error_columns(DEEP)  # the shell's lexer: an Error token there, no exception
    with pytest.raises(ValidationError) as marked:
        LineValidator(PARSER, {}).validate(Document(DEEP))
    assert marked.value.cursor_position == DEEP_COL - 1
    (problem,) = nrs.check([DEEP], "deep.nrs", PARSER, {}).problems
    assert (problem.line, problem.col) == (1, DEEP_COL)
    inside = "expect /" + "(" * MAX_REGEX_NESTING + "a" + ")" * MAX_REGEX_NESTING + "/"  # at the bound: fine
    assert PARSER.parse(inside, {}).args["pattern"].kind == "regex"
    classes = "expect /[(]" + "\\(" * 500 + "[^]((((]/"  # escaped and in a class: not groups
    assert PARSER.parse(classes, {}).args["pattern"].kind == "regex"


def test_a_deep_regex_exits_2_with_file_line_col_in_every_front_end(tmp_path, pytester):
    script = tmp_path / "deep.nrs"
    script.write_text("print before\n" + DEEP + "\n")
    where = f"deep.nrs:2:{DEEP_COL}: bad regular expression: groups nested more than 64 deep"
    for args in ((str(script),), ("export", str(script), "-o", str(tmp_path / "deep.py"))):
        p = run_cli(*args)
        assert p.returncode == 2 and where in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = run_cli("-c", DEEP)
    assert p.returncode == 2 and f"-c:1:{DEEP_COL}:" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "pygments", "-l", "nrs", "-f", "raw", str(script)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Token.Error" in p.stdout and "Traceback" not in p.stderr
    pytester.makefile(".nrs", deep="print before\n" + DEEP + "\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "rejected before running" in out and f"deep.nrs:2:{DEEP_COL}" in out and "RecursionError" not in out


# ----- hypothesis: generated regexes through every front end ---------------------------------

FUZZ = settings(max_examples=1000, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PIECES = st.sampled_from(["(", ")", "(?P<n>", "(?P<n2>", "(?:", "(?=", "(?!", "(?<=", "[", "]", "[^", "\\", "\\/",
                          "/", "*", "+", "?", "{2,3}", "{99999999999}", "|", "a", ".", "^", "$", "\\d", "\\x", "#",
                          " # c", "  ", "$x", "${x:-/}", "\\1", "(?i)", "\x00", "\u202e", "\udcff", "é", "'", '"'])
REGEXES = st.one_of(
    st.lists(PIECES, max_size=40).map("".join),
    st.integers(0, 2000).map(lambda n: "(" * n + "a" + ")" * n),
    st.integers(0, 3000).map(lambda n: "(?:" * n),
    st.text(max_size=60),
)


def _line(body: str, tail: str) -> str:
    return "expect /" + body + "/" + tail


@FUZZ
@given(REGEXES, st.sampled_from(["", "  # comment", " x", "/", "\t#"]))
def _front_ends(body, tail):
    line = _line(body, tail)
    COUNTS["lines"] += 1
    try:
        PARSER.parse(line, {"x": "1"})
        COUNTS["accepted"] += 1
    except ParseError as exc:
        assert 1 <= exc.col <= len(line) + 1 and exc.message
        COUNTS["rejected"] += 1
    list(NrsLexer().get_tokens(line))  # never raises
    try:
        LineValidator(PARSER, {"x": "1"}).validate(Document(line))
    except ValidationError:
        pass
    script = nrs.check([line, "print $n"], "f.nrs", PARSER, {"x": "1"})
    for problem in script.problems:
        assert problem.line in (1, 2) and problem.col >= 1


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(REGEXES)
def _runner(body):
    """The runner as a script runs: no socket, so a regex that parses fails with a clear kind."""
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(Options(quiet=True), out, err)
    status = runner.run_text(_line(body, "  # c") + "\nprint done\n", "-c")
    COUNTS["runner"] += 1
    assert status in (1, 2), (status, out.getvalue(), err.getvalue())
    assert "Traceback" not in out.getvalue() + err.getvalue()


def test_fuzz_regexes_through_the_parser_lexer_validator_and_check():
    COUNTS.clear()
    _front_ends()
    print(f"\n[fuzz] regexes through the parser, lexer, validator and check: {COUNTS['lines']} "
          f"(accepted {COUNTS['accepted']}, rejected {COUNTS['rejected']}), 0 exceptions")
    assert COUNTS["lines"] >= 1000 and COUNTS["accepted"] and COUNTS["rejected"]


def test_fuzz_regexes_through_the_runner():
    COUNTS.clear()
    _runner()
    print(f"\n[fuzz] regexes through the runner: {COUNTS['runner']} scripts, 0 tracebacks")
    assert COUNTS["runner"] >= 150
