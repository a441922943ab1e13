"""`netrepl export`: the program shows what netrepl shows and sends what netrepl sends.

A hostile peer's bytes (escape sequences, OSC 52, bidi overrides, C1 controls, invalid
UTF-8) reach the program's standard output exactly as netrepl's text view escapes them,
never raw; its escaping code is netrepl's own, written in at export. `send $D` decodes the
escapes of the expanded text as netrepl does, with netrepl's decode_escapes, and a bad
escape in an option's value stops the program before any step, with netrepl's status.
"""

from __future__ import annotations

import re
import time

from conftest import run_cli
from test_export import check_code, export_and_compare, netrepl_run, run_program
from test_export_sockets import Recorder
from netrepl.language.escapes import EscapeError, decode_escapes
from netrepl.base import escape

EMOJI = "\U0001F600".encode()  # four bytes: sent as two and two
HOSTILE = (b"\x1b[2J\x1b]52;c;cHduZWQ=\x07 \xe2\x80\xae evil \x9b31m \xc2\x9b \xff\xfe "
           b"back\\slash \\x1b\tend\r\n")
# HOSTILE as netrepl shows it (render/escape.py), written out: ESC, BEL, the invalid bytes 0x9b 0xff
# 0xfe as \xNN, U+202E and the C1 U+009B as \uXXXX, the backslashes doubled, the tab kept.
HOSTILE_SHOWN = ("\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07 \\u202e evil \\x9b31m \\u009b \\xff\\xfe "
                 "back\\\\slash \\\\x1b\tend\\r\n")
VALUE = "v: \x1b[2J \u202e \u009b back\\slash \\x1b\tend"  # $V: printed by the script
VALUE_SHOWN = "v: \\x1b[2J \\u202e \\u009b back\\\\slash \\\\x1b\\tend\n"  # one line, as netrepl's messages
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # what must never reach a terminal
# What netrepl -q writes besides the data and the print lines: its own words for each step.
MESSAGE = re.compile(r"(created inet tcp socket|connected .*|received .*|sent .*|closed .*)(  \[.*\])?")


def hostile_peer(conn):
    conn.sendall(HOSTILE)
    conn.recv(100)  # `send more`: then a stream whose emoji is split between two sends
    conn.sendall(b"emoji: " + EMOJI[:2])
    time.sleep(0.3)
    conn.sendall(EMOJI[2:] + b"!\n" + HOSTILE)
    conn.close()


def test_a_hostile_peers_bytes_are_shown_as_netrepl_shows_them(tmp_path, tcp_server):
    port = tcp_server(hostile_peer).port
    path = tmp_path / "hostile.nrs"
    path.write_text(f"connect 127.0.0.1 {port}\nrecv 4096\nsend more\nrecv all\nclose\nprint $V\n")
    # In-process netrepl (the exact bytes each step received, through render/text.py) and the program.
    program, out, err = export_and_compare(path, {"V": VALUE}, tmp_path)
    assert out == HOSTILE_SHOWN + "emoji: \U0001F600!\n" + HOSTILE_SHOWN + VALUE_SHOWN, err
    assert RAW.search(out) is None and RAW.search(err) is None
    # And `netrepl -q`, the same script: its standard output is the program's plus netrepl's words.
    q = run_cli("-q", "-D", f"V={VALUE}", str(path))
    assert q.returncode == 0, q.stderr
    kept = [line for line in q.stdout.splitlines(keepends=True) if not MESSAGE.fullmatch(line.rstrip("\n"))]
    assert "".join(kept) == out
    assert len(q.stdout.splitlines()) - len(kept) == 6  # socket, connect, two receives, send, close


def test_print_of_an_option_is_escaped_when_the_program_runs(tmp_path):
    path = tmp_path / "print.nrs"
    path.write_text("print [$V]\n")
    from netrepl.export import export_file

    program = export_file(str(path), {"V": "plain"})
    target = tmp_path / "print.py"
    target.write_text(program.text_of())
    check_code(target)
    for value in ("plain", VALUE, "\u2066hidden\u2069 \U000e0041"):  # bidi isolates, a tag character
        out, err, status = run_program(program, target, ["--V", value])
        expected, _ = netrepl_run(path, {"V": value}, tmp_path)
        assert (out, status) == (expected, 0), err
        assert RAW.search(out) is None and "\U000e0041" not in out


def _namespace(source: str) -> dict:
    namespace: dict = {}
    exec(compile("import codecs, re\n" + source, "<program>", "exec"), namespace)
    return namespace


def test_the_programs_escaping_is_netrepls_own_generated_from_its_table():
    from netrepl.export.viewprelude import escape_source

    program = _namespace(escape_source())
    assert program["_UNSAFE_RANGES"] == escape._UNSAFE_RANGES  # the table, written out at export
    for name in ("_UNSAFE", "_ASTRAL_UNSAFE", "_BYTES_NEED_WORK", "_TEXT_NEEDS_WORK", "_ASCII_UNSAFE"):
        assert program[name].pattern == getattr(escape, name).pattern, name  # built from it as netrepl builds them
    everything = "".join(map(chr, range(0x110000)))
    assert program["escape_text"](everything) == escape.escape_text(everything)
    assert program["safe"](everything) == escape.safe(everything)
    samples = [bytes(range(256)), everything.encode("utf-8", "surrogatepass"), HOSTILE, b"a\\b", b"plain\n",
               "\u202e\u0085\U000e0001".encode(), b"\xf0\x9f\x98", b"\xed\xa0\x80"]
    for data in samples:
        assert program["escape_bytes"](data) == escape.escape_bytes(data)
        head = data[:4096]
        for cut in (1, 2, 3, 7):  # streamed: every split of a character stays whole
            ours, theirs = program["TextEscaper"](), escape.TextEscaper()
            pieces = [head[i:i + cut] for i in range(0, len(head), cut)]
            assert "".join(map(ours.feed, pieces)) + ours.flush() == \
                "".join(map(theirs.feed, pieces)) + theirs.flush() == escape.escape_bytes(head)


def test_the_programs_decode_escapes_is_netrepls():
    from netrepl.export.escapeprelude import decode_source

    program = _namespace(decode_source())
    for text_ in ["plain", "x\\ty", "\\r\\n\\t\\0\\e\\\\\\x41\\xff", "caf\u00e9 \udcff", "a\\", "\\q", "\\x4",
                  "\\xg1", "ok\\x41 then \\u202e", "\\", "\\\\\\"]:
        try:
            expected = decode_escapes(text_)
        except EscapeError as exc:
            expected = (exc.message, exc.col)
        try:
            got = program["decode_escapes"](text_)
        except ValueError as exc:
            got = (exc.message, exc.col)
        assert got == expected, text_


def _drain(conn):
    while conn.recv(65536):
        pass


def test_an_options_escapes_are_decoded_after_expansion_as_netrepl_does(tmp_path, tcp_server):
    recorder = Recorder(tcp_server, _drain)
    path = tmp_path / "decode.nrs"
    path.write_text(f"connect 127.0.0.1 {recorder.port}\nsend $D\nsend -n pre$D\\x$H\nclose\n")
    values = {"D": "x\\ty\\x41\\\\z\\e", "H": "42"}
    wanted = b"x\tyA\\z\x1b\r\n" + b"prex\tyA\\z\x1bB"
    program, out, err = export_and_compare(path, values, tmp_path)  # netrepl's run, then the program's
    assert [bytes(sent) for sent in recorder.sent] == [wanted, wanted], err
    # Values given when the program runs: decoded when it runs, as netrepl decodes -D values.
    target = tmp_path / "decode.py"
    given = {"D": "a\\nb\\x00", "H": "0a"}
    netrepl_run(path, given, tmp_path)
    out, err, status = run_program(program, target, ["--D", given["D"], "--H", given["H"]])
    assert status == 0 and bytes(recorder.sent[2]) == bytes(recorder.sent[3]) == b"a\nb\x00\r\nprea\nb\x00\n", err


def test_a_bad_escape_in_an_option_stops_the_program_before_any_step_as_netrepl(tmp_path, tcp_server):
    recorder = Recorder(tcp_server, _drain)
    path = tmp_path / "bad.nrs"
    path.write_text(f"connect 127.0.0.1 {recorder.port}\nsend first\nsend $D\nclose\n")
    program, out, err = export_and_compare(path, {"D": "ok"}, tmp_path)
    for bad in ("bad\\q", "trailing\\", "\\x4"):
        q = run_cli("-q", "-D", f"D={bad}", str(path))
        out, err, status = run_program(program, tmp_path / "bad.py", ["--D", bad])
        assert status == q.returncode == 2, (err, q.stderr)
        assert f"{path}:3" in err and "escape" in err and "Traceback" not in err
    assert len(recorder.sent) == 2  # the two good runs: a bad value connects nowhere, in netrepl as in the program


EXPECT_D = """serve echo 0
connect localhost $lab_port
timeout 5
send -n abc/x/
shutdown 1
expect $D
print matched
recv all
"""


def test_an_options_value_decides_the_kind_of_an_expect_when_the_program_runs(tmp_path):
    path = tmp_path / "expectd.nrs"
    path.write_text(EXPECT_D)
    program, out, err = export_and_compare(path, {"D": "b"}, tmp_path)  # exported with a TEXT
    target = tmp_path / "expectd.py"
    # eof, /REGEX/ (`/./` as text would never match), text with an escape, text with slashes inside
    for value in ("eof", "/./", "/c.x/", "\\x2fx", "c/x"):
        expected, status = netrepl_run(path, {"D": value}, tmp_path)
        got, err, code = run_program(program, target, ["--D", value])
        assert (got, code) == (expected, status) == (got, 0), (value, err)
    assert run_program(program, target, ["--D", "/./"])[0] == "a\nmatched\nbc/x/\n"
    # A bad regex or escape in the value: netrepl checks the script first and runs no step (status 2).
    for bad in ("/a(/", "x\\q"):
        q = run_cli("-q", "-D", f"D={bad}", str(path))
        got, err, code = run_program(program, target, ["--D", bad])
        assert code == q.returncode == 2 and got == "", (err, q.stderr)
        assert f"{path}:6" in err and "Traceback" not in err
        assert ("bad regular expression: missing ), unterminated subpattern" in err) == bad.startswith("/")


def test_the_programs_expectation_decides_as_netrepls_parse_expectation():
    from netrepl.export.escapeprelude import decode_source
    from netrepl.export.prelude import HELPERS
    from netrepl.language.texttypes import parse_expectation

    program = _namespace(decode_source() + "\n\n" + HELPERS["expectation"][2])
    for text_ in ["eof", "eof ", "/x/", "/", "//", "/a(/", "/[/", "a/x/", "/x/b", "\\x2fx/", "x\\q", "/\\d+ ok/", "plain"]:
        try:
            want = parse_expectation(text_)
            expected = None if want.kind == "eof" else want.literal if want.kind == "text" else want.pattern.pattern
        except EscapeError as exc:
            expected = (exc.message, exc.col)
        try:
            got = program["expectation"](text_)
            got = got.pattern if hasattr(got, "pattern") else got
        except ValueError as exc:
            got = (exc.message, exc.col)
        assert got == expected, text_
