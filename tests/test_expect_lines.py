"""What an `expect` line says: a /regex/ ends at its closing `/` and a `# comment` may follow it
(issue 16 item 6). The parser, the lexer, the shell's validator and the whole-script check are
one parser, so they agree on every such line."""

from __future__ import annotations

import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError
from pygments.token import Comment, Error, String

from conftest import run_cli
from netrepl.commands import REGISTRY
from netrepl.language import nrs
from netrepl.language.parser import ParseError, Parser
from netrepl.lexer import NrsLexer
from netrepl.validator import LineValidator

PARSER = Parser(REGISTRY)

# line -> (kind, what expect waits for: the regex's source or the literal bytes)
GOOD = {
    "expect /PONG/  # wait for the pong": ("regex", b"PONG"),
    "expect /HTTP\\/1.1 (\\d+)/  # status": ("regex", b"HTTP\\/1.1 (\\d+)"),
    "expect /HTTP\\/1.1 (\\d+)/": ("regex", b"HTTP\\/1.1 (\\d+)"),
    "expect /a/b/": ("regex", b"a/b"),  # the last `/` closes when nothing but a comment could follow
    "expect /a/ # c/d": ("regex", b"a"),  # the first `/` that a comment follows closes
    "expect /a\\\\/ # one backslash, then the end": ("regex", b"a\\\\"),
    "expect /x/\t# a tab before the comment": ("regex", b"x"),
    "expect //  # empty: matches at once": ("regex", b""),
    "expect eof  # the peer closes": ("eof", None),
    "expect PONG  # a # after TEXT is text, as in send": ("text", b"PONG  # a # after TEXT is text, as in send"),
    "expect /usr/bin is here": ("text", b"/usr/bin is here"),
    "expect /a/b": ("text", b"/a/b"),
    "must-fail expect expect /x/  # nested": ("regex", b"x"),
}

BAD = {  # line -> column of the error
    "expect /HTTP\\/1.1 (\\d+/  # status": 19,  # the `(` that is not closed
    "expect /a\\/  # the slash is escaped: TEXT with a bad escape": 10,
}


def expectation(parsed):
    return parsed.args["pattern"] if parsed.nested is None else parsed.nested.args["pattern"]


@pytest.mark.parametrize("line", GOOD)
def test_the_parser_reads_the_pattern_without_its_comment(line):
    want = expectation(PARSER.parse(line, {}))
    kind, value = GOOD[line]
    assert want.kind == kind
    if kind == "regex":
        assert want.pattern.pattern == value
    elif kind == "text":
        assert want.literal == value


@pytest.mark.parametrize("line", GOOD)
def test_the_lexer_validator_and_check_accept_the_same_lines(line, tmp_path):
    tokens = [(t, v) for t, v in NrsLexer().get_tokens(line) if v.strip()]
    assert not [v for t, v in tokens if t in Error], tokens
    if "#" in line and GOOD[line][0] != "text":
        assert tokens[-1][0] in Comment and tokens[-1][1].startswith("#")
        assert not any(t in String and "#" in v for t, v in tokens)  # the comment is not pattern
    LineValidator(PARSER, {}).validate(Document(line))
    script = nrs.check([line], "s.nrs", PARSER, {})
    assert not script.problems and len(script.commands) == 1


@pytest.mark.parametrize("line", BAD)
def test_the_lexer_validator_and_check_reject_the_same_lines_at_one_column(line):
    with pytest.raises(ParseError) as info:
        PARSER.parse(line, {})
    col = info.value.col
    assert col == BAD[line], info.value.message
    with pytest.raises(ValidationError) as marked:
        LineValidator(PARSER, {}).validate(Document(line))
    assert marked.value.cursor_position == col - 1
    (problem,) = nrs.check([line], "s.nrs", PARSER, {}).problems
    assert (problem.line, problem.col) == (1, col)
    errors = []
    at = 0
    for t, v in NrsLexer().get_tokens(line):
        if t in Error:
            errors.append(at)
        at += len(v)
    assert col - 1 in errors


def test_a_commented_regex_matches_against_a_real_peer(tcp_server):
    def peer(conn):
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n+PONG\r\n")
        conn.recv(10)

    server = tcp_server(peer)
    p = run_cli("-c", f"timeout 2; connect 127.0.0.1 {server.port}\n"
                      "expect /HTTP\\/1.1 (\\d+)/  # status\n"
                      "expect /PONG/  # wait for the pong\n"
                      "expect eof  # not yet: must fail\n")
    assert "matched '/HTTP\\/1.1 (\\d+)/'" in p.stdout, p.stdout + p.stderr
    assert "matched '/PONG/'" in p.stdout
    assert "wait for the pong" not in p.stdout.split("matched '/PONG/'")[1]  # not in the pattern
    assert "expected 'eof' but nothing matched" in p.stdout and p.returncode == 1


def test_a_script_file_with_commented_regexes_checks_clean(tmp_path):
    script = tmp_path / "c.nrs"
    script.write_text("expect /PONG/  # wait for the pong\nexpect /HTTP\\/1.1 (\\d+)/  # status\n"
                      "expect /a(/  # broken\n")
    p = run_cli(str(script))
    assert p.returncode == 2
    assert "c.nrs:3:10: bad regular expression" in p.stderr, p.stderr
    assert "c.nrs:1:" not in p.stderr and "c.nrs:2:" not in p.stderr
