"""`relay`: real clients through the relay to real servers on loopback, faithful ends (half-close,
reset, refusal), the display (escaped, hex, bulk summarised), and `--record` as both a client test
(`netrepl F.nrs` against the real server) and a mock (`serve replay F.nrs`)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading

import pytest

from conftest import run, run_cli, text_of
from helpers import wait_for_reset, wait_until
from netrepl.lab.relay import Relay
from netrepl.lab.relayrecord import RelayRecording, reply_check, send_lines
from netrepl.lab.replay import ReplayError, ReplayServer, load
from netrepl.render.relayview import RelayView
from realpeers import Foreground, Nginx, free_port, listening, needs_nginx

CURL = shutil.which("curl")


def _read_all(sock: socket.socket) -> bytes:
    out = bytearray()
    while chunk := sock.recv(65536):
        out += chunk
    return bytes(out)


@pytest.fixture
def relays():
    started = []

    def start(target_port: int, **kw) -> Relay:
        relay = Relay("127.0.0.1", target_port, **kw).start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


# ----- real clients, real servers --------------------------------------------------------------

@needs_nginx
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_through_the_relay_then_the_mock_then_the_recording_as_a_test(tmp_path, lab):
    body = os.urandom(1 << 20)
    site = tmp_path / "site"
    site.mkdir()
    (site / "big.bin").write_bytes(body)
    port = free_port()
    nginx = Nginx(tmp_path, f"server {{ listen 127.0.0.1:{port}; root {site}; }}", [port]).start()
    try:
        relay = Foreground("relay", "0", "127.0.0.1", str(port), "--record", "F.nrs", cwd=tmp_path)
        try:
            for n in (1, 2):  # two connections, each byte for byte
                got = subprocess.run([CURL, "-sS", "-o", f"out{n}", f"http://127.0.0.1:{relay.port}/big.bin"],
                                     capture_output=True, timeout=60, cwd=tmp_path)
                assert got.returncode == 0, got.stderr
                assert (tmp_path / f"out{n}").read_bytes() == body
        finally:
            status, out, err = relay.interrupt()
        assert status == 0, err
        assert "#1 > GET /big.bin HTTP/1.1\\r\\n" in out and "#2 < HTTP/1.1 200 OK\\r\\n" in out
        assert "summarised" in out and len(out) < 64 << 10  # 2 MiB passed; a few lines were shown
        assert "relay stopped: 2 connections" in err and "2 written to F.nrs" in err
        rec = tmp_path / "F.nrs"
        assert len(load(str(rec))) == 2
        text = rec.read_text()
        assert f"connect ${{host:-127.0.0.1}} ${{port:-{port}}}\n#> connect\nsend -n GET /big.bin HTTP/1.1\\r\\n\n" in text
        assert "expect HTTP/1.1 200 OK\\r\\n\n#< HTTP/1.1 200 OK\\r\\n\n" in text
        assert "expect Date" not in text and "expect ETag" not in text  # only what is stable is checked

        nginx.stop()  # with nginx gone, the mock on the relay's port serves the same bytes
        mock = Foreground("serve", "replay", "F.nrs", "--port", str(relay.port), cwd=tmp_path)
        try:
            for n in (3, 4):
                got = subprocess.run([CURL, "-sS", "-o", f"out{n}", f"http://127.0.0.1:{mock.port}/big.bin"],
                                     capture_output=True, timeout=60, cwd=tmp_path)
                assert got.returncode == 0, got.stderr
                assert (tmp_path / f"out{n}").read_bytes() == body
        finally:
            status, _, err = mock.interrupt()
        assert "mismatch" not in err

        nginx.start()  # with nginx back, the recording is a test that passes
        again = run_cli("-q", "F.nrs", cwd=tmp_path)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr
        # Against another server (-D port=...: a lab http server has no /big.bin), it fails: the checks check.
        other = run_cli("-q", "-D", f"port={lab('http').port}", "F.nrs", cwd=tmp_path)
        assert other.returncode == 1 and "expect HTTP/1.1 200 OK" in other.stderr, other.stderr
    finally:
        nginx.stop()


@pytest.mark.skipif(shutil.which("redis-cli") is None or shutil.which("redis-server") is None,
                    reason="redis-cli and redis-server are needed (apt-get install redis-server redis-tools)")
def test_redis_cli_ping_through_the_relay_command(ex, tmp_path):
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(listening(port, proc), what="redis-server to listen")
        result = run(ex, f"relay 0 127.0.0.1 {port} --record {tmp_path}/r.nrs")
        assert result.ok, text_of(result)
        lport = int(ex.variables["relay_port"])
        got = subprocess.run(["redis-cli", "-p", str(lport), "PING"], capture_output=True, text=True, timeout=30)
        assert got.stdout.strip() == "PONG"
        listing = _listing_until_closed(ex)  # the connection's end passed on (and written) before the stop
        assert "#1 > PING\\r\\n" in listing and "#1 < +PONG\\r\\n" in listing, listing
        stopped = text_of(run(ex, "relay stop"))
        assert "wrote 1 connection to" in stopped
        check = run_cli("-q", "-D", f"port={port}", f"{tmp_path}/r.nrs")
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _smtp_client(port: int) -> bytes:
    """A client speaking SMTP to the server (which speaks first); everything it got."""
    got = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for line in (None, b"EHLO client.test\r\n", b"MAIL FROM:<a@b.test>\r\n", b"QUIT\r\n"):
            if line is not None:
                sock.sendall(line)
            chunk = sock.recv(4096)
            while not chunk.endswith(b"\r\n") or chunk.split(b"\r\n")[-2][3:4] == b"-":
                more = sock.recv(4096)
                if not more:
                    break
                chunk += more
            got += chunk
        sock.shutdown(socket.SHUT_WR)
        got += _read_all(sock)
    return bytes(got)


def test_a_recorded_smtp_conversation_replays_both_ways(lab, relays, tmp_path):
    smtp = lab("smtp")
    rec = tmp_path / "smtp.nrs"
    relay = relays(smtp.port)
    relay.record(RelayRecording(str(rec), ("127.0.0.1", smtp.port), relay.where()))
    direct = _smtp_client(smtp.port)
    through = _smtp_client(relay.port)
    assert through == direct and direct.startswith(b"220 ")
    wait_until(lambda: relay.recording.written == 1, what="the connection's block")
    relay.stop()
    text = rec.read_text()
    assert text.index("expect 220 ") < text.index("send -n EHLO client.test\\r\\n")  # the server spoke first
    # Both ways: the file is a client test of the real server...
    ran = run_cli("-q", "-D", f"port={smtp.port}", str(rec))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # ... and a mock of it for the real client.
    with ReplayServer(str(rec), timeout=10) as mock:
        assert _smtp_client(mock.port) == direct
        wait_until(lambda: mock.played == 1, what="the mock to finish")
        assert mock.mismatches == 0, mock.last


# ----- faithful ends ---------------------------------------------------------------------------

def test_half_close_one_way_while_the_other_still_flows(relays, tcp_server):
    got_by_server = []

    def handler(conn):  # reads to the client's FIN, then still answers
        got_by_server.append(_read_all(conn))
        conn.sendall(b"after your FIN: " + str(len(got_by_server[0])).encode())
        conn.close()

    relay = relays(tcp_server(handler).port)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(b"x" * 100_000)
        sock.shutdown(socket.SHUT_WR)
        assert _read_all(sock) == b"after your FIN: 100000"
    assert got_by_server == [b"x" * 100_000]


def test_half_close_the_server_first_and_the_client_still_sends(relays, tcp_server):
    got_by_server = []

    def handler(conn):
        conn.sendall(b"bye")
        conn.shutdown(socket.SHUT_WR)  # the server is done talking, not listening
        got_by_server.append(_read_all(conn))
        conn.close()

    relay = relays(tcp_server(handler).port)
    events = []
    relay.listeners.append(events.append)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        assert _read_all(sock) == b"bye"  # the server's FIN arrived as a FIN
        sock.sendall(b"still here")
        sock.shutdown(socket.SHUT_WR)
        wait_until(lambda: got_by_server, what="the server to get the client's bytes")
    assert got_by_server == [b"still here"]
    kinds = [(e.kind, e.way) for e in events if e.kind in ("eof", "data")]
    assert kinds.index(("eof", "<")) < kinds.index(("data", ">"))


def test_a_server_reset_reaches_the_client_as_a_reset(relays, tcp_server):
    def handler(conn):
        conn.recv(100)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    relay = relays(tcp_server(handler).port)
    events = []
    relay.listeners.append(events.append)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(b"hello")
        wait_for_reset(sock)
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    wait_until(lambda: any(e.kind == "close" for e in events), what="the relay to end the connection")
    reset = next(e for e in events if e.kind == "reset")
    assert reset.way == "<" and "ECONNRESET" in reset.message
    lines = [line for e in events for line in RelayView(target="t").text_lines(e)]
    assert any("< reset by the server (Connection reset by peer (ECONNRESET)); passed on as a reset" in line
               for line in lines), lines


def test_a_client_reset_reaches_the_server_as_a_reset(relays, tcp_server):
    seen = []

    def handler(conn):
        conn.sendall(b"ready")
        try:
            seen.append(conn.recv(100))
            seen.append(conn.recv(100))
        except ConnectionResetError as exc:
            seen.append(exc)

    relay = relays(tcp_server(handler).port)
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    assert sock.recv(100) == b"ready"
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    wait_until(lambda: seen, what="the server to see the client go")
    assert isinstance(seen[0], ConnectionResetError), seen


def test_a_refused_target_closes_the_client_with_a_clear_line(relays, closed_port):
    relay = relays(closed_port)
    events = []
    relay.listeners.append(events.append)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        assert sock.recv(100) == b""  # a FIN: the client is closed
    wait_until(lambda: any(e.kind == "refused" for e in events), what="the refusal")
    lines = [line for e in events for line in RelayView(target=f"127.0.0.1:{closed_port}").text_lines(e)]
    assert any(f"target 127.0.0.1:{closed_port} failed: Connection refused (ECONNREFUSED); the client was closed"
               in line for line in lines), lines
    assert relay.failed == 1


def test_several_clients_at_once_and_the_cap(relays, lab):
    echo = lab("echo")
    relay = relays(echo.port, max_connections=2)
    a = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    b = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    for sock, word in ((a, b"one\n"), (b, b"two\n")):
        sock.sendall(word)
        assert sock.recv(100) == word
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as c:
        assert c.recv(100) == b""  # over the cap: closed at once
    a.close()
    b.close()
    assert relay.refused == 1


def test_the_relay_binds_loopback_unless_told(relays, lab):
    relay = relays(lab("echo").port)
    assert relay.host == "127.0.0.1" and relay._sock.getsockname()[0] == "127.0.0.1"


# ----- what is shown ---------------------------------------------------------------------------

def _listing_until_closed(ex) -> str:
    """What successive `relay` listings showed, until the connection's close line came."""
    seen = []

    def closed():
        seen.append(text_of(run(ex, "relay")))
        return "closed:" in seen[-1]

    wait_until(closed, what=lambda: f"the close line in {seen[-1:]}")
    return "".join(seen)

def test_chunks_are_shown_escaped_with_connection_and_direction(ex, tcp_server):
    def handler(conn):
        conn.recv(100)
        conn.sendall(b"\x1b[31mred\xff\xe2\x80\xaeevil\r\n")
        conn.close()

    port = tcp_server(handler).port
    assert run(ex, f"relay 0 127.0.0.1 {port}").ok
    lport = int(ex.variables["relay_port"])
    with socket.create_connection(("127.0.0.1", lport), timeout=10) as sock:
        sock.sendall(b"hi\x00\r\n")
        _read_all(sock)
    listing = _listing_until_closed(ex)
    assert "\x1b" not in listing and "\u202e" not in listing
    assert "#1 > hi\\x00\\r\\n" in listing
    assert "#1 < \\x1b[31mred\\xff\\u202eevil\\r\\n" in listing, listing


def test_the_hex_display_dumps_the_chunk(ex, tcp_server):
    def handler(conn):
        conn.sendall(b"\x00\x01ABC")
        conn.close()

    port = tcp_server(handler).port
    run(ex, "set display hex")
    assert run(ex, f"relay 0 127.0.0.1 {port}").ok
    with socket.create_connection(("127.0.0.1", int(ex.variables["relay_port"])), timeout=10) as sock:
        _read_all(sock)
    listing = _listing_until_closed(ex)
    assert "#1 < 5 bytes" in listing and "00 01 41 42 43" in listing, listing


def test_a_bulk_transfer_is_summarised_not_flooded(relays, tcp_server):
    def handler(conn):
        conn.sendall(b"line of text\n" * 400_000)
        conn.close()

    relay = relays(tcp_server(handler).port)
    view = RelayView(target="t")
    lines = []
    relay.listeners.append(lambda ev: lines.extend(view.text_lines(ev)))
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        assert len(_read_all(sock)) == 13 * 400_000
    wait_until(lambda: any("closed:" in line for line in lines), what="the close")
    assert len(lines) < 400, len(lines)
    assert any("more follows: summarised" in line for line in lines)
    assert any("not shown (5200000 bytes < in all)" in line for line in lines), lines[-5:]


# ----- the recording's parts -------------------------------------------------------------------

def test_reply_checks_keep_to_what_is_stable():
    assert reply_check(b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\n") == "HTTP/1.1 200 OK\\r\\n"
    assert reply_check(b"220 mx.test ESMTP Exim 4.96 Mon, 07 Dec 2026 10:00:00 +0000\r\n") == "220\\x20"
    assert reply_check(b"+PONG\r\n") == "+PONG\\r\\n"
    assert reply_check(b"\x16\x03\x03\x00\x2a\x02binary") is None
    assert reply_check(b"/etc/passwd\n") == "\\x2fetc/passwd\\n"  # not read as a /regex/


def test_send_lines_send_exactly_the_bytes():
    from netrepl.language.escapes import decode_escapes

    data = b"A $HOME line\r\n" + bytes(range(256)) + b" trailing "
    lines = send_lines(data)
    assert all(line.startswith("send -n ") for line in lines)
    assert b"".join(decode_escapes(line[len("send -n "):]) for line in lines) == data
    assert all("$" not in line for line in lines)


def test_relay_usage_errors_say_what_is_expected(ex):
    for line, words in (("relay 8080", "expected [LHOST] LPORT HOST PORT"),
                        ("relay 0 localhost 80 out.nrs", "--record FILE.nrs"),
                        ("relay 0 localhost 80 --record", "--record needs the FILE.nrs"),
                        ("relay -q 0 localhost 80 --record x.nrs", "cannot --record")):
        assert words in text_of(run(ex, line)), line
    assert "no relay running" in text_of(run(ex, "relay stop"))


def test_the_foreground_relay_rejects_bad_words_escaped():
    got = run_cli("relay", "1", "2", "\x1b[31m")
    assert got.returncode == 2 and "\x1b" not in got.stderr and "\\x1b[31m" in got.stderr


def test_a_script_run_with_stable_gives_the_same_transcript_twice(tmp_path):
    (tmp_path / "r.nrs").write_text("serve echo\nrelay 0 127.0.0.1 $lab_echo_port\nconnect localhost $relay_port\n"
                                    "send hello\nexpect hello\nclose\nsleep 1\nrelay\nrelay stop\n")  # (the end passes on meanwhile)
    runs = [run_cli("--stable", "r.nrs", cwd=tmp_path) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stdout + runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert "  +?.??? #1 > hello\\r\\n\n  +?.??? #1 < hello\\r\\n\n" in runs[0].stdout


def test_serve_stop_leaves_relays_to_relay_stop(ex, lab):
    echo = lab("echo")
    run(ex, f"relay 0 127.0.0.1 {echo.port}")
    assert "no lab server running" in text_of(run(ex, "serve"))
    assert not run(ex, "serve stop").ok
    assert "running" in text_of(run(ex, "relay"))
    assert "stopped relay" in text_of(run(ex, "relay stop"))


def test_a_recording_that_cannot_be_written_stops_and_the_relay_goes_on(relays, lab, tmp_path):
    echo = lab("echo")
    relay = relays(echo.port)
    recording = RelayRecording(str(tmp_path / "r.nrs"), ("127.0.0.1", echo.port), relay.where())
    recording.file.close()
    recording.file = open("/dev/full", "w")  # noqa: SIM115 (the recording closes it): every flush fails, ENOSPC
    relay.record(recording)
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
            sock.sendall(b"still relayed\n")
            assert sock.recv(100) == b"still relayed\n"
    wait_until(lambda: recording.failed, what="the recording to fail")
    assert "No space left on device" in recording.failed
    relay.stop()


def test_a_recording_file_that_cannot_be_made_is_a_clear_failure(ex, lab):
    result = run(ex, f"relay 0 127.0.0.1 {lab('echo').port} --record /nonexistent-dir/r.nrs")
    assert result.error.kind == "file" and "No such file or directory" in result.error.message
    assert "no relay running" in text_of(run(ex, "relay"))


def test_relay_watch_shows_chunks_as_they_pass_until_its_seconds(ex, lab):
    shown = []
    ex.data_writer = shown.append  # what the shell and the runner write to the terminal
    echo = lab("echo")
    run(ex, f"relay 0 127.0.0.1 {echo.port}")

    def client():
        with socket.create_connection(("127.0.0.1", int(ex.variables["relay_port"])), timeout=10) as sock:
            sock.sendall(b"live\x1b]0;x\x07\n")
            sock.recv(100)

    thread = threading.Thread(target=client)
    thread.start()
    result = run(ex, "relay watch 1")
    thread.join()
    assert result.ok and "watched for 1 s (the relays go on)" in text_of(result)
    text = "".join(shown)
    assert "#1 > live\\x1b]0;x\\x07\\n" in text and "\x1b" not in text, text
    run(ex, "relay stop")
    assert "no relay running" in text_of(run(ex, "relay watch 1"))


# ----- --redact ----------------------------------------------------------------------------------

def test_secrets_are_found_where_protocols_carry_them():
    from netrepl.lab.relayrecord import find_secrets

    def secrets(data: bytes) -> list[bytes]:
        return [data[a:b] for a, b, _ in find_secrets(data)]

    http = b"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwdw==\r\nCookie: sid=42; theme=dark\r\n\r\n"
    assert secrets(http) == [b"Basic dXNlcjpwdw==", b"sid=42; theme=dark"]
    assert secrets(b"Proxy-Authorization: Basic eDp5\r\n") == [b"Basic eDp5"]
    assert secrets(b"AUTH PLAIN AGFsaWNlAHB3\r\n") == [b"AGFsaWNlAHB3"]
    assert secrets(b"a001 LOGIN alice hunter2\r\n") == [b"hunter2"]
    assert secrets(b"USER alice\r\nPASS hunter2\r\n") == [b"hunter2"]
    assert secrets(b"*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n") == [b"hunter2"]
    assert secrets(b"*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$7\r\nhunter2\r\n") == [b"hunter2"]
    assert secrets(b"AUTH hunter2\r\n") == [b"hunter2"]
    assert secrets(b"GET /login?pass=x HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_a_redacted_recording_keeps_no_secret_yet_tests_and_mocks(relays, lab, tmp_path):
    http = lab("http")
    rec = tmp_path / "r.nrs"
    relay = relays(http.port)
    relay.record(RelayRecording(str(rec), ("127.0.0.1", http.port), relay.where(), redact=True))
    request = b"GET / HTTP/1.0\r\nAuthorization: Basic c2VjcmV0OnB3\r\nCookie: sid=c00k1e\r\n\r\n"
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(request)
        direct = _read_all(sock)
    wait_until(lambda: relay.recording.written == 1, what="the block")
    relay.stop()
    text = rec.read_text()
    assert "c2VjcmV0OnB3" not in text and "c00k1e" not in text
    assert "send -n Authorization:\\x20${secret1}\\r\\n" in text and "#> Cookie:\\x20${secret2}\\r\\n" in text
    assert "# redacted above: $secret1 (HTTP Authorization), $secret2 (HTTP Cookie)" in text
    values = ["-D", "secret1=Basic c2VjcmV0OnB3", "-D", "secret2=sid=c00k1e"]
    missing = run_cli("-q", "-D", f"port={http.port}", str(rec))
    assert missing.returncode == 2 and "undefined variable $secret1" in missing.stderr
    ran = run_cli("-q", "-D", f"port={http.port}", *values, str(rec))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with pytest.raises(ReplayError, match=r"\$secret1 was redacted: give its value with -D secret1=VALUE"):
        ReplayServer(str(rec))
    with ReplayServer(str(rec), timeout=10, variables={"secret1": "Basic c2VjcmV0OnB3", "secret2": "sid=c00k1e"}) as mock:
        with socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock:
            sock.sendall(request)
            assert _read_all(sock) == direct
        wait_until(lambda: mock.played == 1, what="the mock to finish")
        assert mock.mismatches == 0, mock.last


@pytest.mark.skipif(shutil.which("redis-cli") is None or shutil.which("redis-server") is None,
                    reason="redis-cli and redis-server are needed (apt-get install redis-server redis-tools)")
def test_redis_auth_through_netrepl_relay_redact(tmp_path):
    port = free_port()
    password = "s3cr$t pw"
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path), "--requirepass", password],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(listening(port, proc), what="redis-server to listen")
        relay = Foreground("relay", "0", "127.0.0.1", str(port), "--record", "F.nrs", "--redact", cwd=tmp_path)
        try:
            got = subprocess.run(["redis-cli", "-p", str(relay.port), "-a", password, "--no-auth-warning", "PING"],
                                 capture_output=True, text=True, timeout=30)
            assert got.stdout.strip() == "PONG"
        finally:
            status, _, err = relay.interrupt()
        assert status == 0, err
        text = (tmp_path / "F.nrs").read_text()
        assert "s3cr" not in text and "$secret1 (redis AUTH)" in text
        ran = run_cli("-q", "-D", f"secret1={password}", "F.nrs", cwd=tmp_path)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        mock = Foreground("serve", "replay", "F.nrs", "-D", f"secret1={password}", cwd=tmp_path)
        try:
            got = subprocess.run(["redis-cli", "-p", str(mock.port), "-a", password, "--no-auth-warning", "PING"],
                                 capture_output=True, text=True, timeout=30)
            assert got.stdout.strip() == "PONG"
        finally:
            _, _, err = mock.interrupt()
        assert "mismatch" not in err
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_stop_ends_open_connections_and_writes_what_passed(relays, tcp_server, tmp_path):
    server_saw = []

    def handler(conn):  # says hello, then waits for ever (until the relay's stop closes its side)
        conn.sendall(b"220 hello\r\n")
        server_saw.append(_read_all(conn))

    relay = relays(tcp_server(handler).port)
    rec = tmp_path / "open.nrs"
    relay.record(RelayRecording(str(rec), relay.target, relay.where()))
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    assert sock.recv(100) == b"220 hello\r\n"
    sock.sendall(b"HELO x\r\n")
    wait_until(lambda: relay.sent == 8, what="the client's bytes to pass")
    relay.stop()
    assert sock.recv(100) == b""  # a FIN, not a reset
    sock.close()
    wait_until(lambda: server_saw, what="the server to see the end")
    assert server_saw == [b"HELO x\r\n"]
    text = rec.read_text()
    assert "expect 220 hello\\r\\n\n#< 220 hello\\r\\n\nsend -n HELO x\\r\\n\n#> HELO x\\r\\n\nclose\n" in text
    assert len(load(str(rec))) == 1


@pytest.mark.parametrize("quiet", [False, True], ids=["shown", "spliced"])
def test_bytes_arrive_exactly_both_ways_shown_or_spliced(relays, tcp_server, quiet):
    payload = os.urandom(3 << 20)

    def handler(conn):  # echoes to the client's FIN, then closes
        while chunk := conn.recv(65536):
            conn.sendall(chunk)
        conn.close()

    relay = relays(tcp_server(handler).port, quiet=quiet)
    got = bytearray()
    with socket.create_connection(("127.0.0.1", relay.port), timeout=30) as sock:
        def reader():
            while chunk := sock.recv(65536):
                got.extend(chunk)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        thread.join(60)
    assert bytes(got) == payload
    wait_until(lambda: relay.sent == relay.received == len(payload), what="the counts")


def test_a_relay_on_ipv6_loopback(relays, lab):
    from conftest import has_ipv6_loopback

    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    relay = relays(lab("echo").port, host="::1")
    with socket.create_connection(("::1", relay.port), timeout=10) as sock:
        sock.sendall(b"six\n")
        assert sock.recv(10) == b"six\n"
    assert relay.where() == f"[::1]:{relay.port}"


def test_a_record_started_beside_a_relay_replays_with_its_own(tmp_path):
    made = run_cli("-q", "-c", "serve http; serve echo; relay 0 127.0.0.1 $lab_echo_port; record r.nrs; "
                   "connect localhost $relay_port; send hi; expect hi; close; record stop", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    text = (tmp_path / "r.nrs").read_text()
    assert "relay 127.0.0.1 0 127.0.0.1 $lab_port\n" in text  # the replay's own echo (the last served)
    assert "set var relay_port" not in text  # `relay` sets it again, to the port the replay's relay gets
    again = run_cli("-q", "r.nrs", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
