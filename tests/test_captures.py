"""Captures (issue 17): a named group `(?P<NAME>...)` in an `expect` regex sets $NAME for the lines
after it, as its bytes in netrepl's escapes; the whole-script check knows the names a regex
defines; `export` writes the same logic."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from conftest import run, run_cli, text_of
from realpeers import NGINX, Nginx, free_port
from netrepl.export.prelude import HELPERS
from netrepl.language.escapes import encode_escapes
from test_export import export_and_compare

_NAMESPACE: dict = {"re": re}
exec(HELPERS["capture_text"][2], _NAMESPACE)  # the helper's source, as the exported program holds it
CAPTURE_TEXT = _NAMESPACE["capture_text"]


def netrepl_out(tmp_path) -> str:
    return run_cli("-q", str(tmp_path / "cap.nrs")).stdout


def test_a_named_group_sets_a_variable_as_escaped_bytes(ex, tcp_server):
    token = b"a$b\\c\x1b\xff \r"

    def peer(conn):
        conn.sendall(b"+OK token=" + token + b"\nlen=5 port=80\r\n")
        got = b""
        while len(got) < len(token) + 2:
            data = conn.recv(100)
            if not data:
                break
            got += data
        conn.sendall(b"ECHO " + got)
        conn.recv(10)

    server = tcp_server(peer)
    run(ex, "timeout 5")
    run(ex, f"connect 127.0.0.1 {server.port}")
    r = run(ex, "expect /token=(?P<token>[^\\n]*)\\n/")
    assert r.ok, text_of(r)
    assert ex.variables["token"] == "a\\x24b\\\\c\\x1b\\xff \\r"  # printable ASCII only: safe anywhere
    assert "captured $token = 'a\\x24b\\\\c\\x1b\\xff \\r'" in text_of(r)
    r = run(ex, "expect /len=(?P<len>\\d+) port=(?P<port>\\d+)(?P<none>x)?/")
    assert (ex.variables["len"], ex.variables["port"], ex.variables["none"]) == ("5", "80", "")
    assert run(ex, "send $token").ok  # the captured bytes exactly (and the line ending)
    r = run(ex, "recv exactly $len")  # a number where a number is expected
    assert r.ok and r.data == b"ECHO ", text_of(r)
    r = run(ex, "recv exactly 13")
    assert r.data == token + b"\r\n"
    r = run(ex, "print $token")
    assert text_of(r).strip("\n") == "a\\x24b\\\\c\\x1b\\xff \\r"
    assert run(ex, "timeout $len").ok and ex.session.timeout == 5
    assert run(ex, "must-fail expect expect /(?P<gone>nothing)/").ok
    assert "gone" not in ex.variables  # an expect that failed sets nothing


def test_captured_host_port_and_seconds_work_where_those_are_expected(ex, lab):
    """The issue's `connect $host $port` and `timeout $t`: a peer names where to go next."""
    echo, target = lab("echo"), lab("discard")
    run(ex, f"connect 127.0.0.1 {echo.port}")
    run(ex, f"send go to 127.0.0.1 {target.port} within 2.5")
    r = run(ex, "expect /go to (?P<h>[0-9.]+) (?P<p>\\d+) within (?P<t>[0-9.]+)/")
    assert r.ok and ex.variables["p"] == str(target.port), text_of(r)
    assert run(ex, "close").ok and run(ex, "timeout $t").ok and ex.session.timeout == 2.5
    r = run(ex, "connect $h $p")
    assert r.ok and ex.session.peer.port == target.port, text_of(r)


def test_the_check_knows_what_a_regex_defines(tmp_path):
    script = tmp_path / "c.nrs"
    script.write_text("timeout 1\nexpect /Length: (?P<len>\\d+)/  # sets $len\nrecv exactly $len\nprint $other\n")
    p = run_cli(str(script))
    assert p.returncode == 2 and "c.nrs:4:7: undefined variable $other" in p.stderr, p.stderr
    assert "c.nrs:3" not in p.stderr
    script.write_text("print $len\nexpect /Length: (?P<len>\\d+)/\n")  # used before any expect sets it
    p = run_cli(str(script))
    assert p.returncode == 2 and "c.nrs:1:7: undefined variable $len" in p.stderr, p.stderr
    (tmp_path / "lib.nrs").write_text("expect /(?P<code>\\d{3}) /\n")
    script.write_text("source lib.nrs\nprint $code\nprint $nope\n")  # a sourced expect's names count too
    p = run_cli(str(script))
    assert p.returncode == 2 and "c.nrs:3:7: undefined variable $nope" in p.stderr and "c.nrs:2" not in p.stderr


def test_captures_export_to_the_same_logic(tmp_path, lab):
    echo = lab("echo")
    script = tmp_path / "cap.nrs"
    script.write_text(f"timeout 5\nconnect 127.0.0.1 {echo.port}\nsend size=10 tok=a$$b\\x01\n"
                      "expect /size=(?P<size>\\d+) tok=(?P<tok>\\S+)/\nprint got $tok\nsend $tok$tok\n"
                      "recv exactly $size\n")
    program, out, err = export_and_compare(script, {}, tmp_path)
    assert "got a\\x24b\\x01\na$b\\x01a$b\\x01\\r\n" in out  # printed escaped; sent back exactly
    assert "received exactly 10 bytes" in netrepl_out(tmp_path)
    source = (tmp_path / "cap.py").read_text()
    assert "captured_tok = capture_text(captured['tok'])" in source


@pytest.fixture
def nginx(tmp_path):
    """nginx on a free loopback port serving tmp_path/site (tests/realpeers.py); stopped afterwards."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    site = tmp_path / "site"
    site.mkdir()
    port = free_port()
    server = Nginx(tmp_path, f"server {{ listen 127.0.0.1:{port}; root {site}; }}", [port]).start()
    try:
        yield site, port
    finally:
        server.stop()


def test_content_length_from_a_head_request_reads_a_get_body_byte_for_byte(nginx, tmp_path):
    site, port = nginx
    body = bytes(range(256)) * 300 + b"\r\n\x1b[2J end"  # every byte value, not a line of text
    (site / "blob.bin").write_bytes(body)
    out = tmp_path / "got.bin"
    script = tmp_path / "get.nrs"
    script.write_text(f"""timeout 5
connect 127.0.0.1 {port}
send HEAD /blob.bin HTTP/1.1\\r\\nHost: localhost\\r\\n
expect /Content-Length: (?P<len>\\d+)\\r\\n/  # the size nginx will send
expect \\r\\n\\r\\n
send GET /blob.bin HTTP/1.1\\r\\nHost: localhost\\r\\n
expect /\\r\\n\\r\\n/  # the end of the GET's headers
recv exactly $len > {out}
""")
    p = run_cli(str(script))
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"captured $len = '{len(body)}'" in p.stdout
    assert out.read_bytes() == body


@settings(max_examples=500, derandomize=True, deadline=None, database=None)
@given(st.binary(max_size=12) | st.lists(st.sampled_from([b" ", b"<", b"-", b"n", b"$", b"\\", b"\t", b"\r", b"\n",
                                                            b"\x00", b"\xff", b"a"]), max_size=8).map(b"".join))
def test_the_exported_capture_text_is_netrepls_escaping(data):
    """The program keeps a capture as netrepl does (language/escapes.py encode_escapes), byte for byte."""
    assert CAPTURE_TEXT(data) == encode_escapes(data)
