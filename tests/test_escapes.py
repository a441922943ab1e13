"""Tests for netrepl.language.escapes: script text <-> bytes, both directions, through the real parser.

(tests/test_escape.py is about netrepl/render/escape.py, the terminal direction.)
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings, strategies as st

from conftest import run, run_cli
from netrepl.commands import REGISTRY
from netrepl.language.escapes import EscapeError, decode_escapes, encode_escapes, expect_text
from netrepl.language.parser import ParseError, Parser

PARSER = Parser(REGISTRY)
# What the parser refuses in a line (parser._CONTROL_RE), and what a recorded line should not hold.
LINE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Pieces that meet the parser's special cases: flags, `$` expansion, blanks, regexes, `eof`, escapes.
TRICKY = [b"-n", b"-", b"n", b" ", b"\t", b"$", b"$$", b"{", b"}", b"x", b":-", b"/", b"eof", b"\\", b"\\x",
          b"\\n", b"41", b"#", b'"', b"'", b"\r\n", b"\x00", b"\x1b", b"\x7f", b"\x85", b"\xc2\x85", b"\xff",
          "é".encode(), "\u202e".encode(), "\u2800".encode()]
DATA = st.one_of(st.binary(max_size=200), st.lists(st.sampled_from(TRICKY), max_size=12).map(b"".join))
# Some variables defined, so that an unescaped `$name` would expand to something else.
VARIABLES = {"x": "EXPANDED", "n": "N", "HOST": "h"}


def send_text(line: str, variables=VARIABLES) -> bytes:
    parsed = PARSER.parse(line, variables)
    return parsed.args["text"]


def assert_script_tail(text: str) -> None:
    """Safe as the rest of one script line."""
    assert re.fullmatch(r"[\x20-\x7e]*", text), text  # printable ASCII: nothing invisible in a .nrs file
    assert not LINE_CONTROL.search(text)
    assert "$" not in text  # so `$` expansion leaves it alone
    assert text == text.strip(" \t")  # nothing for the line's stripping to lose


@settings(max_examples=600, deadline=None)
@given(DATA)
@example(b"-n")
@example(b" -n x")
@example(b"$x${n}$$")
@example(b"a ")
@example(b"\\x41")
@example(b"<")
@example(b"< x")
def test_property_encode_decode_round_trip_through_the_parser(data):
    text = encode_escapes(data)
    assert_script_tail(text)
    assert decode_escapes(text) == data
    # The real parser: `$` expansion first, then escape decoding, flags taken off the front.
    assert send_text("send -n " + text) == data
    assert PARSER.parse("send -n " + text, VARIABLES).flags == {"-n"}
    assert send_text("send " + text) == data
    assert PARSER.parse("must-fail any send -n " + text, VARIABLES).nested.args["text"] == data


@settings(max_examples=600, deadline=None)
@given(DATA.filter(lambda b: b != b""))
@example(b"eof")
@example(b"/x/")
@example(b"/")
@example(b" eof")
@example(b"-n")
@example(b"eof  # a comment?")
@example(b"eof\t#")
def test_property_expect_text_matches_the_bytes_literally(data):
    text = expect_text(data)
    assert_script_tail(text)
    pattern = PARSER.parse("expect " + text, VARIABLES).args["pattern"]
    assert (pattern.kind, pattern.literal) == ("text", data)
    nested = PARSER.parse("must-fail expect expect " + text, VARIABLES).nested
    assert nested.args["pattern"].literal == data


@pytest.mark.parametrize("data,text", [
    (b"hello \x01$ there\r", "hello \\x01\\x24 there\\r"),
    (b"a\\b\tc\n", "a\\\\b\\tc\\n"),
    (b" lead", "\\x20lead"), (b"trail ", "trail\\x20"), (b" ", "\\x20"), (b"  ", "\\x20\\x20"),
    (b"-n", "\\x2dn"), (b"-x y", "\\x2dx y"), (b"--n", "--n"), (b"-1", "-1"), (b"-nx", "-nx"),
    ("é\u2800".encode(), "\\xc3\\xa9\\xe2\\xa0\\x80"), (b"\x1b[0m", "\\x1b[0m"), (b"", ""),
])
def test_encode_escapes(data, text):
    assert encode_escapes(data) == text


@pytest.mark.parametrize("data,text", [
    (b"/regex/", "\\x2fregex/"), (b"/", "\\x2f"), (b"eof", "\\x65of"), (b"eofx", "eofx"),
    (b" eof", "\\x20eof"), (b"HTTP/1.1 200 OK\r", "HTTP/1.1 200 OK\\r"),
    (b"eof # x", "\\x65of # x"),  # else eof and a trailing comment
])
def test_expect_text_is_neither_a_regex_nor_eof(data, text):
    assert expect_text(data) == text


def test_decode_errors_carry_the_column_and_the_parser_keeps_reporting_them():
    with pytest.raises(EscapeError) as info:
        decode_escapes("ab\\q", 10)
    assert (info.value.col, info.value.message) == (12, "unknown escape \\q (known: \\r \\n \\t \\0 \\e \\\\ \\xNN)")
    assert isinstance(info.value, ValueError)
    with pytest.raises(ParseError) as info:
        PARSER.parse("send ok \\x4", {})
    assert info.value.col == 9 and "\\x takes two hex digits" in info.value.message


def test_record_e_writes_expect_lines_that_replay(ex, lab, tmp_path):
    # End to end: awkward bytes echoed back, written by `record -e`, replayed by the CLI.
    server = lab("echo")
    target = tmp_path / "e.nrs"
    assert run(ex, f"record -e {target}").ok
    sent = ["send -n \\x20-n $$x \\\\ eof\\x20", "send -n eof", "send -n /x/", "send -n \\x2dn"]
    for line in [f"connect 127.0.0.1 {server.port}", "timeout 5"] + [x for s in sent for x in (s, "recv 64")]:
        assert run(ex, line).ok, line
    run(ex, "record stop")
    lines = target.read_text().splitlines()
    expects = [line for line in lines if line.startswith("expect ")]
    # Parts of a line (no newline came): -m, so the replay consumes them and no more.
    assert expects == ["expect -m \\x20-n \\x24x \\\\ eof\\x20", "expect -m \\x65of", "expect -m \\x2fx/",
                       "expect -m \\x2dn"]
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr
