"""What an `expect` line says: a /regex/ ends at its closing `/` and a `# comment` may follow it
(issue 16 item 6). The parser, the lexer, the shell's validator and the whole-script check are
one parser, so they agree on every such line."""

from __future__ import annotations

import time

import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError
from pygments.token import Comment, Error, String

from conftest import run, run_cli, text_of
from netrepl.commands import REGISTRY
from netrepl.language import nrs
from netrepl.language.parser import ParseError, Parser
from netrepl.shell.lexer import NrsLexer
from netrepl.shell.validator import LineValidator

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


# ----- line-aware expect (issue 16 item 5) ---------------------------------------------------------

STARTTLS_BY_HAND = ("timeout 5; serve {kind} 0; set tls ca $lab_ca; connect localhost $lab_port; expect 220; "
                    "send EHLO me; expect /250 /; send STARTTLS; expect 220; tls")


def test_starttls_by_hand_runs_without_the_injection_warning():
    p = run_cli("-c", STARTTLS_BY_HAND.format(kind="smtp") + "; send QUIT; expect 221")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "220 2.0.0 Ready to start TLS\\r" in p.stdout  # expect 220 showed its whole line
    assert "warning" not in p.stdout + p.stderr and "discarded" not in p.stdout + p.stderr


def test_bytes_after_the_220_line_still_trip_the_injection_warning():
    p = run_cli("-c", STARTTLS_BY_HAND.format(kind="smtp-inject"))
    out = p.stdout + p.stderr
    assert "a STARTTLS injection?" in out and "250 injected before TLS" in out, out
    assert "220 2.0.0 Ready to start TLS\\r" in p.stdout


def ftp_like(conn):
    """An FTP-like login: each reply one line, each written whole; the 331 line split in two writes."""
    conn.sendall(b"220 (vsFTPd 3.0.5)\r\n")
    file = conn.makefile("rb")
    file.readline()
    conn.sendall(b"331 Please")
    time.sleep(0.02)  # the rest of the line comes a moment later, as from a slow peer
    conn.sendall(b" specify the password.\r\n")
    file.readline()
    conn.sendall(b"230 Login successful.\r\n")
    file.readline()
    conn.sendall(b"Password: ")  # a prompt: no newline follows
    file.readline()


def test_expect_331_then_expect_230_leaves_no_fragment(ex, tcp_server):
    server = tcp_server(ftp_like)
    run(ex, "timeout 10")
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert run(ex, "expect 220").data == b"220 (vsFTPd 3.0.5)\r\n"
    run(ex, "send USER anonymous")
    r = run(ex, "expect 331")  # matched in the first write: the rest of its line was waited for
    assert r.ok and r.data == b"331 Please specify the password.\r\n", text_of(r)
    run(ex, "send PASS secret")
    r = run(ex, "expect 230")
    assert r.ok and r.data == b"230 Login successful.\r\n", text_of(r)  # no ` Please specify` first
    run(ex, "send SITE PROMPT")
    began = time.monotonic()
    r = run(ex, "expect Password:")  # a prompt without a line end: through the match only
    assert r.ok and r.data == b"Password:", text_of(r)
    assert time.monotonic() - began < 5  # a short wait for the line end, not the 10 s timeout
    assert run(ex, "recv").data == b" "


def test_expect_through_the_line_end_in_a_script_transcript(tcp_server):
    server = tcp_server(ftp_like)
    p = run_cli("-c", f"timeout 5; connect 127.0.0.1 {server.port}; expect 220; send USER a; expect 331; "
                      "send PASS b; expect 230")
    assert p.returncode == 0, p.stdout + p.stderr
    shown = p.stdout.split("netrepl> expect 230\n", 1)[1]
    assert shown.splitlines()[1] == "230 Login successful.\\r", shown
    assert " Please specify the password." not in shown


def test_the_exported_program_consumes_whole_lines_as_netrepl_does(tcp_server, tmp_path):
    from test_export import export_and_compare

    server = tcp_server(ftp_like)
    script = tmp_path / "ftp.nrs"
    script.write_text(f"timeout 5\nconnect 127.0.0.1 {server.port}\nexpect -m 220\nrecv line\nsend USER a\n"
                      "expect 331\nsend PASS b\nexpect 230\nsend SITE PROMPT\nexpect Password:\nrecv\n")
    program, out, err = export_and_compare(script, {}, tmp_path)
    assert out.splitlines()[:4] == ["220", " (vsFTPd 3.0.5)\\r", "331 Please specify the password.\\r",
                                    "230 Login successful.\\r"], out  # -m: through the match only


def test_expect_m_consumes_through_the_match_only(ex, tcp_server):
    server = tcp_server(ftp_like)
    run(ex, "timeout 5")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "timeout 0.3")
    r = run(ex, "expect -m 220  # not a comment: TEXT")
    assert not r.ok  # the text is `220  # not a comment: TEXT`, as send's would be
    run(ex, "timeout 5")
    r = run(ex, "expect -m /22(?P<d>0)/  # the rest of the line stays")
    assert r.ok and r.data == b"220" and ex.variables["d"] == "0", text_of(r)
    assert run(ex, "recv line").data == b" (vsFTPd 3.0.5)\r\n"


def test_record_e_of_a_line_longer_than_an_expect_replays(ex, lab, tmp_path):
    """A line past EXPECT_MAX: its expect is a part of the line (-m), so the `recv line` written
    after it still reads the rest of that line on replay, not the next one."""
    server = lab("echo")
    target = tmp_path / "long.nrs"
    long = "x" * 300
    assert run(ex, f"record -e {target}").ok
    for line in (f"connect 127.0.0.1 {server.port}", "timeout 5", f"send {long}", "recv line", "send short",
                 "recv line", "close"):
        assert run(ex, line).ok, line
    run(ex, "record stop")
    lines = target.read_text().splitlines()
    assert lines[3] == "expect -m " + "x" * 120 and lines[4] == "recv line"
    assert lines[6] == "expect short\\r\\n"
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_line_end_that_never_comes_while_bytes_keep_coming_stops_at_the_match(ex, tcp_server):
    """A peer that keeps writing without a newline (a progress bar, a binary stream): expect
    waits its short while for the line end, then consumes through the match only; the bytes
    that came meanwhile stay for the next command, none lost."""
    sent = bytearray(b"start")

    def trickle(conn):
        conn.sendall(b"start")
        for n in range(40):  # 2 s of dots, no newline
            time.sleep(0.05)
            conn.sendall(b".")
            sent.extend(b".")
        conn.sendall(b"big" + b"x" * (200 << 10))  # then more than expect looks at past a match
        sent.extend(b"big" + b"x" * (200 << 10))
        conn.shutdown(1)
        conn.recv(1)

    server = tcp_server(trickle)
    run(ex, "timeout 10")
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "expect start")
    assert r.ok and r.data == b"start", text_of(r)
    r = run(ex, "expect big")
    assert r.ok and r.data.startswith(b".") and r.data.endswith(b"big"), text_of(r)
    rest = run(ex, "recv all")
    assert rest.ok
    assert b"start" + r.data + (rest.data or b"") == bytes(sent)
