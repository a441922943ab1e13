"""A quieter, truer display (issue 16, item 7): CRLF line ends shown unobtrusively in the
shell, a bare CR loud; hex offsets that restart at each datagram.

Transcripts (scripts, -c) keep every `\\r`: they have no colours, and must stay unambiguous.
Only the shell's styling of the same text changes.
"""

from __future__ import annotations

import random

from conftest import run, run_cli, text_of
from netrepl.render.escape import escape_bytes
from netrepl.render.text import (CRLF_STYLE, ESCAPE_STYLE, DataStream, _escape_ends, data_fragments, data_text, plain,
                                 render)
from netrepl.core.results import Result
from test_terminal import Peer, shell  # noqa: F401  (the fixture, by name)
from termdrive import styled_runs

REPLY = b"HTTP/1.1 200 OK\r\nX-Bare: one\rtwo\r\nLF only\n\\r literal\r\n"


def test_crlf_is_a_quiet_fragment_and_a_bare_cr_a_loud_one():
    fragments = data_fragments(data_text(REPLY))
    assert "".join(text for _, text in fragments) == data_text(REPLY)  # the text itself is unchanged
    quiet = [i for i, (style, _) in enumerate(fragments) if style == CRLF_STYLE]
    loud = [(style, text) for style, text in fragments if style == ESCAPE_STYLE]
    assert len(quiet) == 3 and all(fragments[i + 1][1].startswith("\n") for i in quiet)
    assert loud == [(ESCAPE_STYLE, "\\r"), (ESCAPE_STYLE, "\\\\")]  # the bare CR; the peer's own backslash
    assert ("class:data", "r literal") in fragments  # a backslash then `r` sent as text is not a CR


def test_render_keeps_the_transcript_text_and_styles_only_the_view():
    result = Result(data=REPLY)
    assert plain(render(result)) == data_text(REPLY)
    styles = {style for style, _ in render(result)}
    assert CRLF_STYLE in styles and ESCAPE_STYLE in styles
    assert {style for style, _ in render(result, "hex")} == {"class:data"}


def test_the_escaped_text_is_the_same_for_any_bytes():
    rng = random.Random(16)
    alphabet = b"\r\n\\rx\x1b\xff\xc3\xa9 a"
    for _ in range(300):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 60)))
        text = escape_bytes(data)
        assert "".join(t for _, t in data_fragments(text)) == text
        pieces, at = [], 0
        while at < len(data):
            step = rng.randrange(1, 8)
            pieces.append(data[at:at + step])
            at += step
        out: list[str] = []
        stream = DataStream(out.append)
        for piece in pieces:
            stream.feed(piece)
        fed = list(out)
        stream.close()
        joined = "".join(out)
        assert joined.rstrip("\n") == text.rstrip("\n") and joined.endswith("\n")
        # A CRLF cut between two reads reaches the front end whole (it can style it as one):
        # no write ends in the escape \r when the next one starts with its LF.
        assert not any(a.endswith("\\r") and _escape_ends(a) and b.startswith("\n") for a, b in zip(fed, fed[1:])), fed


def test_a_crlf_split_across_two_reads_is_written_together():
    out: list[str] = []
    stream = DataStream(out.append)
    stream.feed(b"250 OK\r")
    stream.feed(b"\n250 more\r\n")
    stream.close()
    assert out == ["250 OK", "\\r\n250 more\\r\n"]


def test_transcripts_keep_every_cr(tcp_server):
    def handler(conn):
        conn.sendall(REPLY)
        conn.close()

    server = tcp_server(handler)
    p = run_cli("-q", "-c", f"connect 127.0.0.1 {server.port}; recv all")
    assert p.returncode == 0, p.stderr
    assert "HTTP/1.1 200 OK\\r\nX-Bare: one\\rtwo\\r\nLF only\n\\\\r literal\\r\n" in p.stdout


def test_hex_offsets_restart_at_each_datagram(ex, lab):
    server = lab("echo", "udp")
    run(ex, "socket inet udp")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "set display hex")
    first_line = "a first datagram, longer than sixteen bytes"
    for command in ("recv", "recvfrom", "recv line"):
        run(ex, f"send -n {first_line}")
        r = run(ex, command)
        assert r.ok, text_of(r)
        shown = text_of(r, "hex")
        assert "\n00000000  61 20 66 69 72 73 74" in "\n" + shown, shown
        assert "\n00000010  " in shown  # the second line of the same datagram goes on from there


def test_in_the_shell_a_crlf_is_dim_and_a_bare_cr_stands_out(shell):  # noqa: F811
    p = Peer(first=b"250 ok\r\nbare\rcr\r\n")
    term = shell()
    term.run(f"connect 127.0.0.1 {p.port}")
    term.run("recv 100")  # one read, held for its result: shown through render()
    screen = term.screen(escapes=True)
    line = next(row for row in screen.split("\n") if "bare" in row and "cr" in row)
    escapes = [(pen, text) for pen, text in styled_runs(line) if "\\r" in text]
    assert len(escapes) == 2, styled_runs(line)
    (bare_pen, _), (crlf_pen, _) = escapes
    assert 1 in bare_pen[2]  # bold: the bare CR is loud
    assert crlf_pen[0] is not None and 1 not in crlf_pen[2]  # a grey foreground, not bold
    ok_line = next(row for row in screen.split("\n") if "250 ok" in row)
    ok_runs = [pen for pen, text in styled_runs(ok_line) if "\\r" in text]
    assert ok_runs == [crlf_pen]
