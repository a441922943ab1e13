"""`recv http`: one HTTP/1.x response by RFC 9112 6.3, against real peers on loopback.

The situations come from the response tests of llhttp (Node.js's parser:
test/response/sample.md, connection.md, content-length.md, transfer-encoding.md,
invalid.md); the cases below are written here, not copied. Each is sent by a
loopback server as canned bytes, whole and split into many small writes, and
after each response a marker follows that the next command must still find:
`recv http` consumed nothing of what came after its response. Where netrepl
follows RFC 9112 rather than llhttp's defaults, the case says so (LF-only line
endings are accepted, as the RFC allows a recipient; a 101 has no body).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run, run_cli, text_of
from realpeers import NGINX, Nginx, free_port

NEXT = b"NEXT!"  # what follows a response on a kept-open connection: it must stay unread


def canned(data: bytes, piece: int | None = None, close: bool = False, requests: int = 1):
    """A peer that, once it has `requests` request heads, sends `data` (in `piece`-byte writes
    a moment apart, or whole), then closes or waits until the client goes."""
    def handler(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        got = b""
        while got.count(b"\r\n\r\n") < requests:
            chunk = conn.recv(4096)
            if not chunk:
                return
            got += chunk
        if piece is None:
            conn.sendall(data)
        else:
            for at in range(0, len(data), piece):
                conn.sendall(data[at:at + piece])
                time.sleep(0.002)
        if close:
            conn.close()
        else:
            conn.recv(1)
    return handler


def crlf(text: str) -> bytes:
    """A case written with \\n line ends, sent with CRLF (as llhttp's test files mean them)."""
    return text.replace("\n", "\r\n").encode("utf-8")


GET = "send GET / HTTP/1.1\\r\\nHost: localhost\\r\\n"
HEAD = "send HEAD / HTTP/1.1\\r\\nHost: localhost\\r\\n"

# (id, bytes of the response, request, status, body, words saying how it was framed, until close?)
CASES = [
    ("simple, tab before a value", crlf("HTTP/1.1 200 OK\nHeader1: Value1\nHeader2:\t Value2\nContent-Length: 0\n\n"),
     GET, 200, b"", "0 bytes of body by Content-Length", False),
    ("Content-Length with spaces around it, $ in a name", crlf(
        "HTTP/1.1 301 Moved Permanently\nLocation: http://www.example.invalid/\nX-$PrototypeBI-Version: 1.6.0.3\n"
        "Content-Length:  13  \n\n<HTML></HTML>"), GET, 301, b"<HTML></HTML>", "13 bytes of body by Content-Length",
     False),
    ("chunked, one chunk holding a LF", crlf("HTTP/1.1 301 MovedPermanently\nTransfer-Encoding: chunked\n\n1\n")
     + b"\n" + crlf("\n0\n\n"), GET, 301, b"\n", "by chunked transfer coding (1 chunk)", False),
    ("no headers and no body: until end of stream", crlf("HTTP/1.1 404 Not Found\n\n"),
     GET, 404, b"", "0 bytes of body until end of stream", True),
    ("no reason phrase", crlf("HTTP/1.1 301\nContent-Length: 0\n\n"), GET, 301, b"", "by Content-Length", False),
    ("empty reason phrase after the space", crlf("HTTP/1.1 200 \nContent-Length: 2\n\nok"),
     GET, 200, b"ok", "2 bytes of body by Content-Length", False),
    ("LF-only line ends (llhttp's lenient mode; RFC 9112 2.2 allows it)",
     b"HTTP/1.1 200 OK\nContent-Type: text/html; charset=utf-8\nConnection: close\n\nthese headers are from hn",
     GET, 200, b"these headers are from hn", "until end of stream", True),
    ("underscore, dot and $ in field names", crlf("HTTP/1.1 200 OK\nDCLK_imp: v7;x;114750856\n.et-Cookie: a=b\n"
                                                  "_eep-Alive: timeout=45\nContent-Length: 0\n\n"),
     GET, 200, b"", "by Content-Length", False),
    ("an empty field value is not merged with the next field", crlf(
        "HTTP/1.0 301 Moved Permanently\nPragma: \nLocation: http://www.example.invalid/\nContent-Length: 0\n\n"),
     GET, 301, b"", "by Content-Length", False),
    ("chunked with Connection: close, no chunk but the last", crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nConnection: close\n\n0\n\n"),
     GET, 200, b"", "0 bytes of body by chunked transfer coding (0 chunks)", False),
    ("non-ASCII in the reason phrase", crlf("HTTP/1.1 500 Oriëntatieprobleem\nContent-Length: 0\n\n"),
     GET, 500, b"", "by Content-Length", False),
    ("neither Content-Length nor Transfer-Encoding: until end of stream",
     crlf("HTTP/1.1 200 OK\nContent-Type: text/plain\n\n") + b"hello world", GET, 200, b"hello world",
     "11 bytes of body until end of stream", True),
    ("empty lines before the status line", b"\r\n" + crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
     GET, 200, b"", "by Content-Length", False),
    ("HTTP/1.0 keep-alive without a length reads until end of stream",
     crlf("HTTP/1.0 200 OK\nConnection: keep-alive\n\nHTTP/1.0 200 OK"), GET, 200, b"HTTP/1.0 200 OK",
     "until end of stream", True),
    ("HTTP/1.0 204: no body, the next response stays", crlf("HTTP/1.0 204 No content\nConnection: keep-alive\n\n"),
     GET, 204, b"", "no body (status 204 has no body)", False),
    ("HTTP/1.1 204 with a Content-Length: still no body", crlf("HTTP/1.1 204 No content\nContent-Length: 5\n\n"),
     GET, 204, b"", "no body (status 204 has no body)", False),
    ("304 Not Modified with a Content-Length: no body", crlf("HTTP/1.1 304 Not Modified\nContent-Length: 10\n\n"),
     GET, 304, b"", "no body (status 304 has no body)", False),
    ("101 with Upgrade and Content-Length: no body (RFC 9112 6.3 rule 1; llhttp reads 4 bytes)", crlf(
        "HTTP/1.1 101 Switching Protocols\nConnection: upgrade\nUpgrade: h2c\nContent-Length: 4\n\n"),
     GET, 101, b"", "101 Switching Protocols", False),
    ("200 with an Upgrade header and a Content-Length", crlf(
        "HTTP/1.1 200 OK\nConnection: upgrade\nUpgrade: h2c\nContent-Length: 4\n\nbody"),
     GET, 200, b"body", "4 bytes of body by Content-Length", False),
    ("200 with an Upgrade header, chunked", crlf(
        "HTTP/1.1 200 OK\nConnection: upgrade\nUpgrade: h2c\nTransfer-Encoding: chunked\n\n2\nbo\n2\ndy\n0\n\n"),
     GET, 200, b"body", "(2 chunks)", False),
    ("chunk extensions", crlf("HTTP/1.1 200 OK\nTransfer-encoding: chunked\n\n5;ilovew3;somuchlove=aretheseparametersfor"
                              "\nhello\n6;blahblah;blah\n world\n0\n\n"), GET, 200, b"hello world", "(2 chunks)", False),
    ("quoted chunk extensions with ; inside", crlf(
        'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5;ilovew3="I love; extensions";somuchlove="are";blah;foo=bar'
        "\nhello\n6;blahblah;blah\n world\n0\n\n"), GET, 200, b"hello world", "(2 chunks)", False),
    ("chunked before another coding: until end of stream (RFC 9112 6.3 rule 4)", crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked, deflate\n\nWorld"), GET, 200, b"World",
     "until end of stream (Transfer-Encoding does not end in chunked)", True),
    ("chunked, then identity in a second field: until end of stream", crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTransfer-Encoding: identity\n\nWorld"), GET, 200, b"World",
     "until end of stream", True),
    ("`chunkedchunked` is not chunked", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunkedchunked\n\n2\nOK\n0\n\n"),
     GET, 200, crlf("2\nOK\n0\n\n"), "until end of stream", True),
    ("obs-fold after chunked makes `chunked abc`: until end of stream", crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n  abc\n\n5\nWorld\n0\n\n"), GET, 200, crlf("5\nWorld\n0\n\n"),
     "until end of stream", True),
    ("Content-Length-X is not Content-Length", crlf(
        "HTTP/1.1 200 OK\nContent-Length-X: 0\nTransfer-Encoding: chunked\n\n2\nOK\n0\n\n"), GET, 200, b"OK",
     "(1 chunk)", False),
    ("tabs around the Content-Length", crlf("HTTP/1.1 200 OK\nContent-Length:\t4\t\n\nabcd"),
     GET, 200, b"abcd", "by Content-Length", False),
    ("the same Content-Length twice (a list and a repeat)", crlf(
        "HTTP/1.1 200 OK\nContent-Length: 3, 3\nContent-Length: 3\n\nabc"), GET, 200, b"abc", "by Content-Length",
     False),
    ("Proxy-Connection: close does not end the body", crlf(
        "HTTP/1.1 200 OK\nContent-Length: 11\nProxy-Connection: close\n\nhello world"), GET, 200, b"hello world",
     "by Content-Length", False),
    ("chunked with trailer fields", crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: Expires\n\n7\nMozilla\n9\nDeveloper\n0\n"
        "Expires: Wed, 21 Oct 2015 07:28:00 GMT\nX-Sum: 1\n\n"), GET, 200, b"MozillaDeveloper",
     "(2 chunks, 2 trailer fields)", False),
    ("a 100 Continue is shown, then the final response is read", crlf(
        "HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\nhi"), GET, 200, b"hi", "by Content-Length",
     False),
    ("obsolete line folding is joined with a space", crlf(
        "HTTP/1.1 200 OK\nX-Long: one\n two\nContent-Length: 1\n\nx"), GET, 200, b"x", "by Content-Length", False),
    ("a HEAD response's Content-Length is not read", crlf("HTTP/1.1 200 OK\nContent-Length: 123\n\n"),
     HEAD, 200, b"", "no body (a response to HEAD)", False),
    ("upper-case hex chunk sizes, leading zeros", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\n\n000A\n0123456789\n0\n\n"),
     GET, 200, b"0123456789", "(1 chunk)", False),
]


@pytest.mark.parametrize("piece", [None, 7], ids=["whole", "7-byte writes"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_response_case(ex, tcp_server, case, piece):
    _, data, request, status, body, words, until_close = case
    server = tcp_server(canned(data if until_close else data + NEXT, piece, close=until_close))
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    assert run(ex, request).ok
    result = run(ex, "recv http")
    shown = text_of(result)
    assert result.ok, shown
    assert (result.data or b"") == body
    assert ex.variables["http_status"] == str(status)
    if words:
        assert words in shown
    if until_close:
        assert "[tcp connected, peer closed]" in shown
    else:  # nothing of what followed was consumed
        rest = run(ex, "recv exactly 5")
        assert rest.ok and rest.data == NEXT, text_of(rest)


def test_interim_and_final_heads_are_both_shown(ex, tcp_server):
    server = tcp_server(canned(crlf("HTTP/1.1 100 Continue\nX-A: 1\n\nHTTP/1.1 201 Created\nContent-Length: 0\n\n")))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    shown = text_of(run(ex, "recv http"))
    assert shown.index("HTTP/1.1 100 Continue") < shown.index("interim response 100") < shown.index("HTTP/1.1 201")
    assert "response 201: 0 bytes of body by Content-Length" in shown


def test_two_head_responses_in_a_row_have_no_body(ex, tcp_server):
    """llhttp's "Content-Length reset when no body is received": two HEADs, two bodiless responses."""
    data = crlf("HTTP/1.1 200 OK\nContent-Length: 123\n\nHTTP/1.1 200 OK\nContent-Length: 456\n\n") + NEXT
    server = tcp_server(canned(data, requests=2))
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert run(ex, HEAD + "\\r\\n" + HEAD[5:]).ok  # two pipelined HEAD requests in one send
    for length in (123, 456):
        result = run(ex, "recv http")
        assert result.ok and result.data is None
        assert f"Content-Length: {length}" in text_of(result) and "a response to HEAD" in text_of(result)
    assert run(ex, "recv exactly 5").data == NEXT


def test_a_get_after_a_head_reads_its_body(ex, tcp_server):
    data = crlf("HTTP/1.1 200 OK\nContent-Length: 3\n\nHTTP/1.1 200 OK\nContent-Length: 3\n\nabc")
    server = tcp_server(canned(data, requests=2))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, HEAD)
    run(ex, GET)
    assert run(ex, "recv http").data is None
    assert run(ex, "recv http").data == b"abc"


# (id, bytes, words of the failure) -- each is kind `protocol`, and a bad head consumes nothing.
MALFORMED = [
    ("HTTPER/ is not HTTP/", b"HTTPER/1.1 200 OK\r\n\r\n", "bad status line 'HTTPE"),  # said at once
    ("RTSP/1.1 is not HTTP", b"RTSP/1.1 200 OK\r\n\r\n", "bad status line 'RTSP/"),
    ("HTP/1.1: incomplete protocol", b"HTP/1.1 200 OK\r\n\r\n", "bad status line"),
    ("extra digit in the major version", b"HTTP/01.1 200 OK\r\n\r\n", "bad status line"),
    ("two-digit major version", b"HTTP/11.1 200 OK\r\n\r\n", "bad status line"),
    ("extra digit in the minor version", b"HTTP/1.01 200 OK\r\n\r\n", "bad status line"),
    ("tab after the version", b"HTTP/1.1\t200 OK\r\n\r\n", "bad status line"),
    ("CR before the response and tab after the version", b"\rHTTP/1.1\t200 OK\r\n\r\n", "bad status line"),
    ("two spaces between version and status", b"HTTP/1.1  200 OK\r\n\r\n", "bad status line"),
    ("one-digit status code", b"HTTP/1.1 2 OK\r\n\r\n", "bad status line"),
    ("HTTP/5.6", b"HTTP/5.6 200 OK\r\n\r\n", "HTTP/5.6 is not HTTP/1.x"),
    ("HTTP/0.9 (llhttp accepts it)", b"HTTP/0.9 200 OK\r\n\r\n", "HTTP/0.9 is not HTTP/1.x"),
    ("header fields separated by a bare CR", b"HTTP/1.1 200 OK\r\nFoo: 1\rBar: 2\r\n\r\n", "bare CR or a NUL"),
    ("white space after the status line", b"HTTP/1.1 200 OK\r\n Host: foo\r\n\r\n", "begins with white space"),
    ("a space inside a field name", b"HTTP/1.1 200 OK\r\nen-US Content-Type: text/xml\r\n\r\n", "not a field name"),
    ("white space before the colon", b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
     "white space before the colon"),
    ("a field line without a colon", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line without a colon"),
    ("empty Transfer-Encoding with a Content-Length", b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n"
     b"Content-Length: 5\r\n\r\nhello", "both Content-Length and Transfer-Encoding"),
    ("Content-Length and chunked", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"),
    ("two different Content-Lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     "different Content-Lengths: 5, 6"),
    ("a Content-Length list that differs", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
     "different Content-Lengths: 5, 6"),
    ("a negative Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length '-1'"),
    ("a Content-Length with letters", b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
     "bad Content-Length '12abc'"),
    ("chunked applied twice", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
     "applies chunked twice"),
]

BAD_BODY = [
    ("white space after the chunk size", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n25  \nThis is the data "
                                              "in the first chunk\n\n0\n\n"), "bad chunk size line '25  '"),
    ("an extension without a semicolon", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2 erfrferferf\naa\n0\n\n"),
     "bad chunk size line '2 erfrferferf'"),
    ("a semicolon with no extension", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2;\naa\n0\n\n"),
     "bad chunk size line '2;'"),
    ("an unbalanced quote in an extension", crlf('HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5;a="abc";b="def; ghi'
                                                 "\nhello\n0\n\n"), "bad chunk size line"),
    ("a chunk size that is not hex", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nzz\nhello\n0\n\n"),
     "bad chunk size 'zz' after 0 bytes of body"),
    ("a chunk size too large for any body", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
                                                 "FFFFFFFFFFFFFFFFFFFF\nx\n"), "is beyond any real body"),
    ("chunk data not followed by CRLF", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabcdef\n0\n\n"),
     "chunk 1 (3 bytes) is not followed by CRLF but by 'def"),
    ("a bad size in the second chunk", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n-1\n\n"),
     "bad chunk size '-1' after 3 bytes of body"),
]


@pytest.mark.parametrize("piece", [None, 5], ids=["whole", "5-byte writes"])
@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_heads_fail_as_protocol_and_consume_nothing(ex, tcp_server, case, piece):
    _, data, words = case
    server = tcp_server(canned(data, piece, close=True))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and result.error.kind == "protocol", text_of(result)
    assert words in result.error.message
    assert "error: recv http: protocol error" in text_of(result)
    assert "http_status" not in ex.variables  # no response was read
    rest = run(ex, "recv all")  # what was received stays: the whole response is still there
    assert rest.ok and rest.data == data


@pytest.mark.parametrize("case", BAD_BODY, ids=[c[0] for c in BAD_BODY])
def test_malformed_chunked_bodies_fail_as_protocol(ex, tcp_server, case):
    _, data, words = case
    server = tcp_server(canned(data, 4, close=False))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and result.error.kind == "protocol", text_of(result)
    assert words in result.error.message
    assert "the head and" in text_of(result) and "were consumed before the error" in text_of(result)
    assert ex.variables["http_status"] == "200"  # the head was read: its status is known


def test_headers_over_64_kib_fail_without_waiting(ex, tcp_server):
    data = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * (70 << 10) + b"\r\n\r\n"
    server = tcp_server(canned(data))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and result.error.kind == "protocol"
    assert "status line and headers longer than 64 KiB" in result.error.message


def test_a_trailer_section_over_64_kib_fails(ex, tcp_server):
    data = crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n0\n") + b"X: " + b"b" * (70 << 10) + b"\r\n\r\n"
    server = tcp_server(canned(data))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and result.error.kind == "protocol"
    assert "longer than 64 KiB" in result.error.message


@pytest.mark.parametrize("data, words", [
    (b"", "end of stream before any response"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "end of stream in the head"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "end of stream after 3 of 10 bytes of body"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "end of stream after 2 of 5 bytes of body"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n", "end of stream in a chunk-size line"),
], ids=["nothing", "in the head", "in a Content-Length body", "in a chunk", "before the last chunk"])
def test_end_of_stream_too_early_is_kind_eof(ex, tcp_server, data, words):
    server = tcp_server(canned(data, close=True))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and result.error.kind == "eof", text_of(result)
    assert words in result.error.message
    assert "peer closed" in text_of(result)


def test_one_timeout_for_the_whole_response(tcp_server):
    """A peer that drips a byte every 0.2 s would hold a per-read timeout for ever."""
    def drip(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(300):
            time.sleep(0.2)
            conn.sendall(b"x")

    server = tcp_server(drip)
    p = run_cli("-c", f"timeout 1; connect 127.0.0.1 {server.port}; {GET}; recv http", timeout=30)
    assert p.returncode == 1
    assert "error: recv http: timeout" in p.stdout
    assert "no complete response within 1 s (one timeout for the whole response)" in p.stdout
    assert "the head and" in p.stdout and "bytes of body were consumed before the error" in p.stdout


def test_a_stalled_head_times_out_and_keeps_what_came(ex, tcp_server):
    server = tcp_server(canned(b"HTTP/1.1 200 OK\r\nX: 1\r\n"))
    run(ex, "timeout 0.5")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and result.error.kind == "timeout"
    assert "nothing consumed: what was received (23 bytes) stays for the next command" in text_of(result)


def test_hostile_bytes_in_the_head_are_shown_escaped(ex, tcp_server):
    data = b"HTTP/1.1 200 \x1b[31mRED\r\nX-Evil: \x1b]0;title\x07 \xff\xfe\r\nContent-Length: 0\r\n\r\n"
    server = tcp_server(canned(data))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert result.ok
    shown = text_of(result)
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[31mRED" in shown and "\\x07" in shown and "\\xff\\xfe" in shown


def test_body_to_a_file_in_constant_memory_and_the_next_response_stays(ex, tcp_server, tmp_path):
    body = os.urandom(3 << 20)
    chunks = b"".join(b"%x;n=1\r\n" % len(body[at:at + 70000]) + body[at:at + 70000] + b"\r\n"
                      for at in range(0, len(body), 70000))
    data = crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n") + chunks + b"0\r\nX-Done: yes\r\n\r\n" + NEXT
    server = tcp_server(canned(data))
    out = tmp_path / "body.bin"
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, f"recv http > {out}")
    assert result.ok, text_of(result)
    assert result.data is None  # the body went to the file, not into the Result
    assert out.read_bytes() == body
    shown = text_of(result)
    assert f"{len(body)} bytes of body by chunked transfer coding" in shown and f"into {out}" in shown
    assert "trailer X-Done: yes" in shown
    assert run(ex, "recv exactly 5").data == NEXT


def test_a_body_over_64_mib_in_memory_is_refused_before_it_is_read(ex, tcp_server):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"
    server = tcp_server(canned(data))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert not result.ok and "`recv http > PATH` streams any amount" in result.error.message


def test_udp_and_no_socket_are_refused(ex):
    assert run(ex, "recv http").error.kind == "state"
    run(ex, "socket udp")
    result = run(ex, "recv http")
    assert result.error.kind == "state" and "byte stream" in result.error.message


def test_recv_http_takes_only_a_status_100_to_599(ex):
    for bad, words in (("5", "below the minimum 100"), ("600", "above the maximum 599"), ("ok", "expected AMOUNT")):
        result = run(ex, f"recv http {bad}")
        assert result.error.kind == "syntax" and words in result.error.message, result.error.message


def test_recv_http_status_passes_and_fails_against_a_loopback_peer(ex, tcp_server):
    """`recv http STATUS` checks the final status (after a 1xx): another one is kind expect,
    saying both; the whole response was read either way, so the next one reads cleanly."""
    first = crlf("HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    second = crlf("HTTP/1.1 404 Not Found\nContent-Length: 4\n\nnope")
    third = crlf("HTTP/1.1 204 No Content\n\n")
    server = tcp_server(canned(first + second + third + NEXT, requests=3))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "send " + (GET[5:] + "\\r\\n") * 2 + GET[5:])
    good = run(ex, "recv http 200")
    assert good.ok and good.data == b"ok", text_of(good)
    bad = run(ex, "recv http 200")
    assert bad.error.kind == "expect" and "expected status 200, got 404" in bad.error.message, text_of(bad)
    assert bad.data == b"nope" and ex.variables["http_status"] == "404"
    assert "[tcp connected]" in text_of(bad)  # the connection is still open
    assert run(ex, "must-fail expect recv http 200").ok  # a 204: `must-fail expect` names the check
    assert run(ex, "recv exactly 5").data == NEXT  # nothing after the responses was consumed


def test_recv_http_status_fails_a_script_with_file_and_line(tmp_path, lab):
    server = lab("http")
    script = tmp_path / "s.nrs"
    script.write_text(f"connect localhost {server.port}\nsend GET /missing HTTP/1.0\\r\\n\nrecv http 200\n")
    p = run_cli(str(script))
    assert p.returncode == 1 and f"{script}:3:" in p.stderr and "expected status 200, got 404" in p.stdout, \
        p.stdout + p.stderr


def test_http_status_is_known_to_the_script_check(tcp_server, tmp_path):
    server = tcp_server(canned(crlf("HTTP/1.1 418 I'm a teapot\nContent-Length: 0\n\n")))
    script = tmp_path / "s.nrs"
    script.write_text(f"connect 127.0.0.1 {server.port}\n{GET}\nrecv http\nprint status=$http_status\n")
    p = run_cli(str(script))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "status=418" in p.stdout
    early = tmp_path / "early.nrs"
    early.write_text("print $http_status\nrecv http\n")
    p = run_cli(str(early))
    assert p.returncode == 2 and f"{early}:1:" in p.stderr + p.stdout
    # A sourced script's `recv http` sets it for the lines after the `source` (was: undefined).
    (tmp_path / "lib.nrs").write_text(f"{GET}\nrecv http\n")
    script.write_text(f"connect 127.0.0.1 {server.port}\nsource lib.nrs\nprint status=$http_status\n")
    p = run_cli(str(script), cwd=tmp_path)
    assert p.returncode == 0 and "status=418" in p.stdout, p.stdout + p.stderr


def test_over_tls_with_the_lab_https_server(ex):
    steps = [
        "serve https 0", "set tls ca $lab_ca", "connect localhost $lab_port", "tls localhost",
        "send GET / HTTP/1.0\\r\\nHost: localhost\\r\\n", "recv http",
    ]
    for line in steps[:-1]:
        assert run(ex, line).ok, (line, text_of(run(ex, "info")))
    result = run(ex, steps[-1])
    assert result.ok, text_of(result)
    assert ex.variables["http_status"] == "200"
    assert result.data and b"<" in result.data
    assert "by Content-Length" in text_of(result) or "until end of stream" in text_of(result)


# ----- nginx: keep-alive, two responses on one connection --------------------------------------

@pytest.fixture
def nginx(tmp_path):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>one</p>\n")
    (site / "big.bin").write_bytes(bytes(range(256)) * 4096)
    (site / "t.txt").write_text("a line of text, gzipped on the fly (so sent chunked)\n" * 200)
    port = free_port()
    server = Nginx(tmp_path, "keepalive_requests 100; gzip on; gzip_min_length 1; gzip_types text/plain;\n"
                   f"  server {{ listen 127.0.0.1:{port}; root {site}; location = /t.txt {{ add_trailer X-Checksum abc123; }} }}",
                   [port]).start()
    try:
        yield port, site
    finally:
        server.stop()


def test_nginx_keep_alive_200_then_404_on_one_connection(ex, nginx):
    port, site = nginx
    run(ex, f"connect 127.0.0.1 {port}")
    assert run(ex, GET).ok
    first = run(ex, "recv http")
    assert first.ok and first.data == b"<p>one</p>\n", text_of(first)
    assert ex.variables["http_status"] == "200" and "by Content-Length" in text_of(first)
    assert not len(ex.session.buffer)  # nothing of the next response was read ahead
    assert run(ex, "send GET /missing HTTP/1.1\\r\\nHost: localhost\\r\\n").ok
    second = run(ex, "recv http")
    assert second.ok and ex.variables["http_status"] == "404", text_of(second)
    assert b"404 Not Found" in second.data
    assert "[tcp connected]" in text_of(second)  # kept alive: the connection is still open
    # HEAD on the same connection: nginx sends a Content-Length and no body.
    run(ex, "send HEAD /big.bin HTTP/1.1\\r\\nHost: localhost\\r\\n")
    head = run(ex, "recv http")
    assert head.ok and head.data is None and "Content-Length: 1048576" in text_of(head)
    run(ex, "send GET /big.bin HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n")
    big = run(ex, "recv http")
    assert big.ok and big.data == (site / "big.bin").read_bytes()


def test_nginx_pipelined_requests_read_one_response_each(ex, nginx):
    port, _ = nginx
    run(ex, f"connect 127.0.0.1 {port}")
    run(ex, "send GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\nGET /nope HTTP/1.1\\r\\nHost: a\\r\\n")
    assert run(ex, "recv http").data == b"<p>one</p>\n"
    assert ex.variables["http_status"] == "200"
    assert run(ex, "recv http").ok and ex.variables["http_status"] == "404"


def test_nginx_chunked_with_a_trailer_then_a_content_length_response(ex, nginx, tmp_path):
    """nginx gzips on the fly (so chunked) and adds a trailer; then a 404 with a Content-Length."""
    import gzip

    port, site = nginx
    run(ex, f"connect 127.0.0.1 {port}")
    run(ex, "send GET /t.txt HTTP/1.1\\r\\nHost: localhost\\r\\nAccept-Encoding: gzip\\r\\n")
    first = run(ex, f"recv http > {tmp_path / 'body.gz'}")
    shown = text_of(first)
    assert first.ok and "Transfer-Encoding: chunked" in shown, shown
    assert "by chunked transfer coding" in shown and "trailer X-Checksum: abc123" in shown
    assert gzip.decompress((tmp_path / "body.gz").read_bytes()) == (site / "t.txt").read_bytes()
    assert not len(ex.session.buffer)  # nothing of the next response read ahead
    run(ex, "send GET /missing HTTP/1.1\\r\\nHost: localhost\\r\\n")
    second = run(ex, "recv http")
    assert second.ok and ex.variables["http_status"] == "404" and "by Content-Length" in text_of(second)
    assert b"404 Not Found" in second.data


def test_chunked_with_a_trailer_then_a_content_length_response(ex, tcp_server):
    """The issue's case: a chunked response with a trailer followed by a Content-Length one,
    on one connection, each read whole and nothing of the next consumed."""
    first = crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: X-Checksum\n\n4\nWiki\n5;x=y\npedia\n0\n"
                 "X-Checksum: abc\n\n")
    second = crlf("HTTP/1.1 404 Not Found\nContent-Length: 9\n\nnot found")
    server = tcp_server(canned(first + second + NEXT, piece=3, requests=2))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET + "\\r\\n" + GET[5:])
    a = run(ex, "recv http")
    assert a.ok and a.data == b"Wikipedia" and "trailer X-Checksum: abc" in text_of(a)
    assert bytes(ex.session.buffer.pending) == second[:len(ex.session.buffer)]  # only the next's bytes wait
    b = run(ex, "recv http")
    assert b.ok and b.data == b"not found" and ex.variables["http_status"] == "404"
    assert run(ex, "recv exactly 5").data == NEXT


# ----- export: the program frames each response as netrepl does ---------------------------------

def _export_compare(tmp_path, text, variables=None):
    from test_export import export_and_compare

    path = tmp_path / "http.nrs"
    path.write_text(text)
    program, out, err = export_and_compare(path, variables or {}, tmp_path)
    return out, err, (tmp_path / "http.py").read_text()


def test_export_reads_the_lab_http_responses_as_netrepl_does(tmp_path):
    out, err, source = _export_compare(tmp_path, """serve http 0
connect localhost $lab_port
send HEAD /hello.txt HTTP/1.0\\r\\n
recv http
print head $http_status
close
connect localhost $lab_port
send GET /hello.txt HTTP/1.0\\r\\n
recv http > body.out
print get $http_status
close
connect localhost $lab_port
send GET /missing HTTP/1.0\\r\\n
recv http
print missing $http_status
""")
    assert out.startswith("head 200\nget 200\n") and "missing 404\n" in out and "Not Found" in out
    assert (tmp_path / "body.out").read_bytes() == b"hello from the netrepl lab server\n"
    assert "recv_http(sock, pending, 'HEAD', timeout)" in source
    assert "def framing(" in source and "def chunk_size(" in source  # netrepl's own rules, written out


def test_export_keep_alive_chunked_trailer_then_length_and_protocol_failures(tmp_path, tcp_server):
    first = crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4;a=b\nWiki\n5\npedia\n0\nX-T: 1\n\n")
    second = crlf("HTTP/1.1 404 Not Found\nContent-Length: 9\n\nnot found")
    bad = crlf("HTTP/1.1 200 OK\nContent-Length: 1\nContent-Length: 2\n\nab")
    server = tcp_server(canned(first + second + bad + NEXT, piece=11, requests=3))
    out, err, _ = _export_compare(tmp_path, f"""connect 127.0.0.1 ${{port:-{server.port}}}
send GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\nGET /x HTTP/1.1\\r\\nHost: a\\r\\n\\r\\nGET /y HTTP/1.1\\r\\nHost: a\\r\\n
recv http
print first $http_status
recv http
print second $http_status
must-fail protocol recv http
recv http
""", {"port": str(server.port)})
    assert out == "Wikipedia\nfirst 200\nnot found\nsecond 404\n"


def test_export_checks_the_status_as_netrepl_does(tmp_path):
    """`recv http STATUS` exported: the same check, the same exit status (a pass, then a fail)."""
    script = """serve http 0
connect localhost $lab_port
send GET /hello.txt HTTP/1.0\\r\\n
recv http 200
print got $http_status
close
connect localhost $lab_port
send GET /missing HTTP/1.0\\r\\n
recv http 200
print not reached
"""
    out, err, source = _export_compare(tmp_path, script)
    assert "got 200" in out and "not reached" not in out
    assert "recv http: expected status 200, got 404" in err and "if status != 200:" in source
    # A status typed as a variable is the program's option, as it is netrepl's -D.
    script = script.replace("/missing HTTP/1.0\\r\\n\nrecv http 200", "/missing HTTP/1.0\\r\\n\nrecv http ${want:-404}")
    for values in ({}, {"want": "200"}):
        out, err, source = _export_compare(tmp_path, script, values)
        assert ("not reached" in out) == (not values) and "if status != args.want:" in source
    (tmp_path / "m.nrs").write_text("serve http 0\nconnect localhost $lab_port\nsend GET / HTTP/1.0\\r\\n\n"
                                    "must-fail expect recv http 404\n")
    p = run_cli("export", str(tmp_path / "m.nrs"))
    assert p.returncode == 2 and "m.nrs:4" in p.stderr and "inside must-fail is not exported" in p.stderr


def test_export_of_recv_http_after_a_request_in_a_variable_is_refused(tmp_path):
    (tmp_path / "v.nrs").write_text("serve http 0\nconnect localhost $lab_port\nset var req HEAD / HTTP/1.0\n"
                                    "send $req\\r\\n\nrecv http\n")
    p = run_cli("export", str(tmp_path / "v.nrs"))
    assert p.returncode == 2 and "v.nrs:5" in p.stderr and "whether it sent a HEAD" in p.stderr
    assert "Traceback" not in p.stderr


def test_ctrl_c_stops_a_recv_http_with_no_timeout(tcp_server):
    import signal
    import sys

    from conftest import ROOT

    server = tcp_server(canned(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"))
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c",
                             f"timeout none; connect 127.0.0.1 {server.port}; {GET}; print reading; recv http"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                            text=True)
    try:
        while not (line := proc.stdout.readline()).startswith("netrepl> recv http") and line:
            pass
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "error: recv http: interrupted (Ctrl-C)" in out, out + err
    assert "the head and 4 bytes of body were consumed before the error" in out
    assert proc.returncode == 130 and "Traceback" not in err


def test_a_flood_of_interim_responses_is_shown_bounded(ex, tcp_server):
    data = b"HTTP/1.1 100 Continue\r\n\r\n" * 500 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + NEXT
    server = tcp_server(canned(data))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert result.ok and result.data == b"ok"
    shown = text_of(result)
    assert shown.count("HTTP/1.1 100 Continue") == 16 and "(484 more interim 1xx responses not shown)" in shown
    assert run(ex, "recv exactly 5").data == NEXT


def test_record_e_writes_recv_http_without_an_expect_in_front(tmp_path, lab):
    """An expect of the body's first line written before `recv http` would consume the head it reads."""
    server = lab("http")
    p = run_cli("-q", "-c", f"record -e rec.nrs; connect localhost {server.port}; send GET /hello.txt HTTP/1.0\\r\\n; "
                            "recv http; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    text = (tmp_path / "rec.nrs").read_text()
    assert "send GET /hello.txt HTTP/1.0\\r\\n\nrecv http 200\n" in text and "expect" not in text
    again = run_cli("-q", str(tmp_path / "rec.nrs"), cwd=tmp_path)
    assert again.returncode == 0 and "hello from the netrepl lab server" in again.stdout


def test_record_e_checks_the_status_recv_http_got_and_a_changed_one_fails(tmp_path, lab):
    """`record -e` of a lab http fetch writes `recv http 200`, and `recv http 404` (and `> PATH`
    kept) for a missing page: the recording replays, and fails where the server's answer changed."""
    p = run_cli("-q", "-c", "serve http 0; record -e rec.nrs; connect localhost $lab_port; "
                            "send GET /hello.txt HTTP/1.0\\r\\n; recv http > body.out; close; "
                            "connect localhost $lab_port; send GET /gone HTTP/1.0\\r\\n; recv http; record stop",
                cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    rec = tmp_path / "rec.nrs"
    text = rec.read_text()
    assert "recv http 200 > body.out\n" in text and text.endswith("recv http 404\n"), text
    again = run_cli("-q", str(rec), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "body.out").read_bytes() == b"hello from the netrepl lab server\n"
    rec.write_text(text.replace("/gone", "/hello.txt"))  # the server now answers 200 where it said 404
    changed = run_cli(str(rec), cwd=tmp_path)
    assert changed.returncode == 1 and "expected status 404, got 200" in changed.stdout + changed.stderr
    assert f"{rec}:" in changed.stderr


def test_a_bad_final_head_after_an_interim_one_says_what_was_consumed(ex, tcp_server):
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    server = tcp_server(canned(b"HTTP/1.1 100 Continue\r\n\r\n" + bad))
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, GET)
    result = run(ex, "recv http")
    assert result.error.kind == "protocol"
    assert f"the 1 interim response before it was consumed; what was received ({len(bad)} bytes) stays" \
        in text_of(result)
    assert run(ex, f"recv exactly {len(bad)}").data == bad


def test_a_head_answered_by_another_command_does_not_leave_the_next_get_bodiless(ex, tcp_server):
    """HEAD read by `recv quiet`, then a GET read by `recv http`: the HEAD was answered already."""
    def two(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" + NEXT)
        conn.recv(1)

    server = tcp_server(two)
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, HEAD)
    assert run(ex, "recv quiet 0.3").data.startswith(b"HTTP/1.1 200 OK")
    run(ex, GET)
    result = run(ex, "recv http")
    assert result.ok and result.data == b"abc", text_of(result)
    assert run(ex, "recv exactly 5").data == NEXT


def test_export_of_a_head_read_by_recv_quiet_then_a_get_by_recv_http(tmp_path):
    out, _, source = _export_compare(tmp_path, """serve http 0
connect localhost $lab_port
send HEAD /hello.txt HTTP/1.0\\r\\n
recv quiet 0.3
close
connect localhost $lab_port
send GET /hello.txt HTTP/1.0\\r\\n
recv http
""")
    assert out.endswith("hello from the netrepl lab server\n") and "'GET'" in source


def test_export_frames_every_collected_case_as_netrepl_does(tmp_path, tcp_server):
    """Each case of CASES (and a few malformed ones, under must-fail) through one script: netrepl's
    output and the exported program's, byte for byte (the request path picks the case)."""
    malformed = [c for c in MALFORMED if c[0] in ("HTTP/5.6", "two different Content-Lengths",
                                                  "Content-Length and chunked", "a negative Content-Length")]

    def pick(conn):
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = conn.recv(4096)
            if not chunk:
                return
            got += chunk
        number = int(got.split(b" ", 2)[1].lstrip(b"/"))
        if number < len(CASES):
            data, until_close = CASES[number][1], CASES[number][6]
        else:
            data, until_close = malformed[number - len(CASES)][1], True
        conn.sendall(data if until_close else data + NEXT)
        if until_close:
            conn.close()
        else:
            conn.recv(1)

    server = tcp_server(pick)
    lines = []
    for number, (_, _, request, _, _, _, until_close) in enumerate(CASES):
        method = request.split()[1]
        lines += [f"connect 127.0.0.1 ${{port:-{server.port}}}", f"send {method} /{number} HTTP/1.1\\r\\nHost: a\\r\\n",
                  "recv http", f"print {number} $http_status"]
        lines += [] if until_close else ["recv exactly 5"]
        lines += ["close"]
    for number in range(len(CASES), len(CASES) + len(malformed)):
        lines += [f"connect 127.0.0.1 ${{port:-{server.port}}}", f"send GET /{number} HTTP/1.1\\r\\nHost: a\\r\\n",
                  "must-fail protocol recv http", f"print {number} refused", "close"]
    out, _, _ = _export_compare(tmp_path, "\n".join(lines) + "\n", {"port": str(server.port)})
    for number, case in enumerate(CASES):
        assert f"{number} {case[3]}\n" in out
    assert f"{len(CASES) + len(malformed) - 1} refused\n" in out


# ----- hostile responses: generated, through a real socket pair ------------------------------------

_PIECES = [b"HTTP/1.1 ", b"HTTP/1.0 ", b"200", b"100", b"204", b"304", b"101", b" OK", b"\r\n", b"\n", b"\r",
           b"Content-Length:", b"Transfer-Encoding:", b" chunked", b" 5", b" 0", b" -1", b", ", b"\x00", b"\xff",
           b" ", b"\t", b"X: y", b"0", b"5", b"a", b"ff", b";x=\"y\"", b";", b"hello", b"\x1b[2J", b":"]


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_PIECES) | st.binary(max_size=8), max_size=40), st.booleans())
def test_any_bytes_end_in_a_response_or_a_named_failure(pieces, head_request):
    """Whatever a peer sends then closes: a result or a failure of kind protocol, eof or usage;
    never another exception, never a wait past the end of stream; what is shown is escaped."""
    from netrepl.core.httpframe import read_response
    from netrepl.core.session import Session

    data = b"".join(pieces)
    ours, peer = socket.socketpair()
    session = Session(timeout=5)
    try:
        session.adopt(ours)
        session.connected = True
        if head_request:
            session.http_requests.append(("HEAD", 0))
        peer.sendall(data)
        peer.close()
        result, status = read_response(session)
    finally:
        session.close_quietly()
    assert result.ok or result.error.kind in ("protocol", "eof", "usage"), (data, result.error)
    assert status is None or 100 <= status <= 999
    shown = text_of(result)
    assert "\x1b" not in shown and "\x00" not in shown
    if result.ok:
        assert session.buffer.offset + len(session.buffer) == len(data)  # every byte accounted for
