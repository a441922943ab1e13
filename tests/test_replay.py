"""Peer replay: `record -p` keeps the peer's bytes as #< / #> lines, `serve replay` plays that peer.

Recorded against real servers on loopback (the lab http server always; nginx and
redis-server where installed), then replayed with that server gone: the same
transcript under --stable. Mismatches are reported with step, line and byte.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, run, run_cli, text_of
from helpers import held_port, wait_until
from netrepl.core import peerlog
from netrepl.lab.kinds import LAB_CA
from netrepl.lab.replay import ReplayError, ReplayServer, load
from test_scripts import script_vars  # noqa: F401 (a fixture: a free service port for socketerrors.nrs)

SMTP_BANNER = b"220 mail.test ESMTP ready\r\n"


def _record(tmp_path, port: int, commands: list[str]):
    """Run COMMANDS (PORT: the real server's port) under `record -p rec.nrs`; the run and the file."""
    script = "; ".join(["record -p rec.nrs"] + [c.replace("PORT", str(port)) for c in commands])
    first = run_cli("--stable", "-c", script, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    return first, tmp_path / "rec.nrs"


def _replay(tmp_path, port: int, rec, expect_rc: int = 0, edit=lambda text: text):
    """The recording's own lines against `serve replay rec.nrs 0` ($lab_port for the real port)."""
    body = re.sub(rf"^((?:must-fail \S+ )?connect \S+) {port}$", r"\1 $lab_port", _typed(rec.read_text()), flags=re.M)
    (tmp_path / "again.nrs").write_text("serve replay rec.nrs 0\n" + edit(body))
    second = run_cli("--stable", "again.nrs", cwd=tmp_path)
    assert second.returncode == expect_rc, second.stdout + second.stderr
    return second


def _typed(text: str) -> str:
    """A recording's `connect ${host:-H} ${port:-P}` lines as they were typed, `connect H P`."""
    return re.sub(r"^((?:must-fail \S+ )?connect) \$\{host\d*:-(\S+)\} \$\{port\d*:-(\d+)\}$", r"\1 \2 \3",
                  text, flags=re.M)


def _from_connect(transcript: str, *ports: int) -> str:
    """The transcript from the first connect on, the real server's port(s) as the replay shows its own."""
    text = transcript[transcript.index("netrepl> connect"):]
    text = text.replace("$lab_port", "PORT")
    for port in ports:
        text = text.replace(f" {port}\n", " PORT\n").replace(f":{port} ", ":<port> ")
    return text


def _same_run(tmp_path, server_port: int, commands: list[str], stop) -> str:
    first, rec = _record(tmp_path, server_port, commands)
    stop()  # the real server is gone: the replay alone answers
    second = _replay(tmp_path, server_port, rec)
    assert _from_connect(second.stdout) == _from_connect(first.stdout, server_port)
    assert "mismatch" not in second.stdout
    return rec.read_text()


HTTP_GET = ["connect 127.0.0.1 PORT", "send GET / HTTP/1.0\\r\\n", "recv all", "close"]


def test_a_lab_http_recording_replays_offline_byte_for_byte(tmp_path, lab):
    server = lab("http")
    text = _same_run(tmp_path, server.port, HTTP_GET, server.stop)
    assert "#> connect\nsend GET / HTTP/1.0\\r\\n\n#> GET / HTTP/1.0\\r\\n\n#> \\r\\n\nrecv all\n" \
           "#< HTTP/1.0 200 OK\\r\\n\n#< Server: netrepl-lab\\r\\n\n" in text
    assert text.endswith("#< </html>\\n\n#< eof\nclose\n#> close\n")
    # The peer lines are comments: the recording still runs against a real server as it is.
    again = lab("http")
    (tmp_path / "live.nrs").write_text(text)
    assert run_cli("-q", "-D", f"port={again.port}", "live.nrs", cwd=tmp_path).returncode == 0  # pointed there


def _free_port() -> int:
    with held_port() as port:
        return port


@pytest.mark.skipif(shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"),
                    reason="nginx is not installed (apt-get install nginx-light)")
def test_an_nginx_recording_replays_with_nginx_gone(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>served by nginx on loopback</p>\n")
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; master_process off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{ worker_connections 16; }}
http {{ access_log off; server_tokens off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/p;
  fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
  server {{ listen 127.0.0.1:{port}; root {site}; }} }}
""")
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return proc.poll() is not None

    def stop():
        proc.terminate()
        proc.wait(timeout=30)

    try:
        wait_until(listening, what="nginx to listen")
        if proc.poll() is not None:
            pytest.skip(f"nginx did not start: {proc.stderr.read().decode(errors='replace')[-300:]}")
        text = _same_run(tmp_path, port, HTTP_GET, stop)
    finally:
        if proc.poll() is None:
            stop()
        proc.stderr.close()
    assert "#< HTTP/1.1 200 OK\\r\\n" in text and "#< Server: nginx\\r\\n" in text
    assert "#< <p>served by nginx on loopback</p>\\n\n#< eof\n" in text


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_recording_replays_with_redis_gone(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop():
        proc.terminate()
        proc.wait(timeout=30)

    try:
        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return proc.poll() is not None
        wait_until(up, what="redis-server to listen")
        if proc.poll() is not None:
            pytest.skip("redis-server did not start")
        text = _same_run(tmp_path, port, ["connect 127.0.0.1 PORT", "send PING", "expect +PONG\\r\\n",
                                          "send SET greeting hello", "recv line", "send GET greeting",
                                          "recv line", "recv line", "send QUIT", "recv all"], stop)
    finally:
        if proc.poll() is None:
            stop()
    assert "#< +PONG\\r\\n" in text and "#< $5\\r\\n" not in text  # `$` is written \x24: no expansion
    assert "#< \\x245\\r\\n" in text and "#< hello\\r\\n" in text


def test_a_changed_request_is_reported_with_step_line_and_byte(tmp_path, lab, ex):
    server = lab("http")
    _, rec = _record(tmp_path, server.port, HTTP_GET)
    server.stop()
    lines = rec.read_text().splitlines()
    step_line = lines.index("#> GET / HTTP/1.0\\r\\n") + 1
    for line in (f"serve replay {rec} 0", "connect 127.0.0.1 $lab_port"):
        assert run(ex, line).ok
    sent = run(ex, "send GET /x HTTP/1.0\\r\\n")
    result = run(ex, "recv all")  # the replay server closes after the mismatch: the client sees EOF
    # The report comes with the first command that saw the connection end (the server closes
    # after reporting), not with the send, whichever ended first: a --stable transcript is stable.
    assert "mismatch" not in text_of(sent)
    shown = text_of(result)
    assert "received 0 bytes in total until end of stream" in shown
    report = (f"replay {rec}: mismatch at step 1 (line {step_line}), byte 5: "
              "expected 'GET / HTTP/1.0\\r\\n\\r\\n' got 'GET /x HTTP/1.0\\r\\n\\r\\n'")
    assert report in shown
    assert report in text_of(run(ex, "serve"))  # and the listing keeps it
    assert report not in text_of(run(ex, "print once"))  # the news is told once


@pytest.mark.parametrize("recorded, words", [
    ("#> GET / HTTP/1.0\\r\\n\\r\\n\n#< HTTP/1.0 200 OK\\r\\n\n",
     "(the client began a TLS handshake; the recording is plaintext and `serve replay` speaks no TLS)"),
    ("#> \\x16\\x03\\x01\\x00\\x05\\x01\\x00\\x00\\x01\\x03\n#< \\x16\\x03\\x03\\x00\\x01\\x02\n",  # a relay's TLS
     "(a TLS handshake: the client's random bytes differ on every connection, so a recorded handshake "
     "cannot be played to another one)"),
], ids=["plaintext recording", "recorded handshake"])
def test_a_client_hello_against_a_replay_is_named_as_such(tmp_path, ex, recorded, words):
    """The issue's confusing case: a replay that got '\\x16\\x03\\x01...' says it was a TLS handshake."""
    rec = tmp_path / "rec.nrs"
    rec.write_text("connect localhost 80\n#> connect\n" + recorded)
    for line in (f"serve replay {rec} 0", "connect 127.0.0.1 $lab_port", "must-fail any tls -k localhost"):
        assert run(ex, line).ok, line
    listing = text_of(run(ex, "serve"))
    assert "mismatch at step 1 (line 3), byte " in listing and "got '\\x16\\x03" in listing
    assert words in listing, listing


def test_a_later_mismatch_that_looks_like_a_client_hello_gets_no_tls_words(tmp_path, ex):
    rec = tmp_path / "rec.nrs"
    rec.write_text("connect localhost 80\n#> connect\n#> hi\n#< ho\n#> bye\n")
    for line in (f"serve replay {rec} 0", "connect 127.0.0.1 $lab_port", "send -n hi", "recv exactly 2",
                 "send -x 16 03 01 00 05 01 00 00 01 03"):
        assert run(ex, line).ok, line
    run(ex, "recv all")
    listing = text_of(run(ex, "serve"))
    assert "mismatch at step 3 (line 5), byte 0" in listing and "TLS" not in listing, listing


def _smtp(conn):
    """A small server that speaks first: a banner, then one answer per line."""
    conn.sendall(SMTP_BANNER)
    f = conn.makefile("rb")
    for line in f:
        if line.startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            break
        conn.sendall(b"250 hello " + line.split()[-1] + b"\r\n")
    conn.close()


def test_a_server_that_speaks_first_is_replayed_banner_first(tmp_path, tcp_server):
    server = tcp_server(_smtp)
    text = _same_run(tmp_path, server.port, ["connect 127.0.0.1 PORT", "recv line", "send HELO client.test",
                                             "recv line", "send QUIT", "recv all"], server.close)
    assert "recv line\n#< 220 mail.test ESMTP ready\\r\\n\nsend HELO" in text
    with ReplayServer(str(tmp_path / "rec.nrs")) as replay:  # nothing sent: the banner comes anyway
        with socket.create_connection(replay.address, timeout=10) as s:
            got = b""
            while not got.endswith(b"\r\n"):
                got += s.recv(100)
            assert got == SMTP_BANNER


def _exchange(port: int, parts: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for part in parts:
            s.sendall(part)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def test_the_client_stream_is_matched_however_it_is_split_or_merged(tmp_path, lab):
    server = lab("http")
    _, rec = _record(tmp_path, server.port, ["connect 127.0.0.1 PORT", "send -n GET /hello.txt",
                                             "send -n \\x20HTTP/1.0", "send", "send", "recv all"])
    server.stop()
    # One step per send as recorded; the replay matches the stream, not the steps' boundaries.
    assert [step.way + step.kind for step in load(str(rec))[0]] == [">data"] * 4 + ["<data", "<eof"]
    with ReplayServer(str(rec)) as replay:
        whole = _exchange(replay.port, [b"GET /hello.txt HTTP/1.0\r\n\r\n"])  # merged into one send
        bytewise = _exchange(replay.port, [bytes([b]) for b in b"GET /hello.txt HTTP/1.0\r\n\r\n"])
        assert whole == bytewise and whole.startswith(b"HTTP/1.0 200 OK\r\n")
        assert replay.news() == [] and replay.mismatches == 0
        assert wait_until(lambda: replay.played == 2, what="both replays to end")


def test_end_of_stream_and_reset_are_reproduced(tmp_path, lab):
    closing, resetting = lab("close"), lab("reset")
    first, rec = _record(tmp_path, closing.port, ["connect 127.0.0.1 PORT", "recv", "close",
                                                  f"connect 127.0.0.1 {resetting.port}", "must-fail reset recv"])
    closing.stop()
    resetting.stop()
    text = rec.read_text()
    assert "recv\n#< eof\nclose\n#> close\n" in text and text.endswith("must-fail reset recv\n#< reset\n")
    body = re.sub(r"^connect 127.0.0.1 \d+$", "connect 127.0.0.1 $lab_port", _typed(text), flags=re.M)
    (tmp_path / "again.nrs").write_text("serve replay rec.nrs 0\n" + body)
    second = run_cli("--stable", "again.nrs", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "end of stream: the peer closed its side (recv returned no data)" in second.stdout
    assert "failed as expected (reset)" in second.stdout and "ECONNRESET" in second.stdout
    assert _from_connect(second.stdout) == _from_connect(first.stdout, closing.port, resetting.port)


def _big(conn):
    conn.recv(100)
    block = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(5):
        conn.sendall(block)
    conn.close()


def test_a_huge_transfer_is_recorded_bounded_and_replayed_by_count(tmp_path, tcp_server):
    server = tcp_server(_big)
    text = _same_run(tmp_path, server.port, ["connect 127.0.0.1 PORT", "send go", "recv all > /dev/null"],
                     server.close)
    more = re.findall(r"^#< more (\d+) bytes sha256 ([0-9a-f]{64})$", text, re.M)
    assert more and int(more[0][0]) == (5 << 20) - peerlog.STEP_KEEP
    import hashlib
    assert more[0][1] == hashlib.sha256((bytes(range(256)) * 4096) * 5).hexdigest()
    assert len(text) < 5 * peerlog.STEP_KEEP  # the kept part escaped, not the 5 MiB


@pytest.mark.parametrize("content, message", [
    ("#> connect\n#< " + "a" * 10000 + "\n", "line longer than 4096 characters"),
    ("#> connect\n#< bad \\q escape\n", "rec.nrs:2:8: unknown escape \\q"),
    ("#> connect\n#< \\x4\n", "malformed escape"),
    ("connect localhost 80\nsend hi\n", "no recorded peer in it"),
    ("#< HTTP/1.0 200 OK\n", "a peer line before the first `#> connect`"),
    ("#> connect\n#> reset\n", "is not a peer line"),
    (f"#> connect\n#< more {1 << 50} bytes sha256 {'0' * 64}\n", "is over the limit"),
])
def test_a_hostile_recording_is_refused_cleanly(tmp_path, content, message):
    (tmp_path / "rec.nrs").write_text(content)
    with pytest.raises(ReplayError, match=re.escape(message)):
        load(str(tmp_path / "rec.nrs"))
    p = run_cli("-c", "serve replay rec.nrs 0", cwd=tmp_path)
    assert p.returncode == 1 and message in p.stdout + p.stderr and "Traceback" not in p.stderr
    p = run_cli("serve", "replay", "rec.nrs", cwd=tmp_path)
    assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr


def test_serve_replay_usage():
    p = run_cli("-c", "serve replay")
    assert p.returncode == 1 and "`serve replay` needs the recording" in p.stdout + p.stderr
    p = run_cli("-c", "serve echo rec.nrs 0")
    assert p.returncode == 1 and "only `serve replay` takes a FILE.nrs" in p.stdout
    p = run_cli("-c", "serve replay /nonexistent/rec.nrs 0")
    assert p.returncode == 1 and "No such file or directory" in p.stdout + p.stderr
    assert run_cli("-c", "serve replay rec.nrs 0 udp").returncode == 2
    assert run_cli("-c", "serve echo 0").returncode == 0  # other kinds take no FILE: PORT is next
    assert "replay needs the recording" in run_cli("serve", "replay").stderr


def test_serve_replay_in_the_foreground_reports_a_mismatch_on_stderr(tmp_path, lab, server_port):
    server = lab("http")
    _, rec = _record(tmp_path, server.port, HTTP_GET)
    server.stop()
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "serve", "replay", str(rec), "--port",
                             str(server_port), "--timeout", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert f"serving replay on tcp 127.0.0.1:{server_port}" in proc.stderr.readline()
        assert _exchange(server_port, [b"GET / HTTP/1.0\r\n\r\n"]).startswith(b"HTTP/1.0 200 OK")
        assert _exchange(server_port, [b"POST / HTTP/1.0\r\n\r\n"]) == b""
        line = proc.stderr.readline()
        assert line.startswith(f"replay {rec}: mismatch at step 1 (line 5), byte 0: expected 'GET /")
        assert "got 'POST / HTTP/1.0\\r\\n\\r\\n'" in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_a_mute_client_is_reported_at_the_timeout(tmp_path, lab):
    server = lab("http")
    _, rec = _record(tmp_path, server.port, HTTP_GET)
    server.stop()
    seen = threading.Event()
    with ReplayServer(str(rec), timeout=0.2, on_report=lambda text: seen.set()) as replay:
        with socket.create_connection(replay.address, timeout=10) as s:
            s.sendall(b"GE")
            assert s.recv(100) == b""  # closed after the report
        assert seen.wait(10)
        assert "byte 2: nothing more within 0.2 s: expected ...'T / HTTP/1.0\\r\\n\\r\\n' got 'GE'" in replay.last


@pytest.mark.parametrize("name, played", [("connect3", 1), ("socketerrors", 2)])
def test_the_worksheet_scripts_run_offline_against_their_recorded_peers(name, played, script_vars):  # noqa: F811
    """`-D port=...` points a worksheet script at the replayed peer, as `-D host=www.google.com` at a real one."""
    with ReplayServer(str(ROOT / "scripts" / "peers" / f"{name}.nrs")) as replay:
        p = run_cli("--stable", "-D", f"port={replay.port}", *_defines(script_vars), f"scripts/{name}.nrs")
        assert p.returncode == 0, p.stdout + p.stderr
        assert wait_until(lambda: replay.played == played, what=lambda: replay.describe())
        assert replay.mismatches == 0, replay.last
    if name == "socketerrors":
        assert "HTTP/1.0 200 OK" in p.stdout and "HTTP/1.0 404 Not Found" in p.stdout
    # And each peer file is itself a script that passes against the lab server it was recorded from.
    assert run_cli("-q", f"scripts/peers/{name}.nrs").returncode == 0


def _defines(values):
    return [arg for name, value in values.items() for arg in ("-D", f"{name}={value}")]


def test_peer_lines_are_bounded_escaped_and_never_read_as_directives():
    assert peerlog.data_lines(b"eof") == ["\\x65of"] and peerlog.data_lines(b"reset") == ["\\x72eset"]
    assert peerlog.data_lines(b"a\nb$ \x00\xff") == ["a\\n", "b\\x24 \\x00\\xff"]
    long = peerlog.data_lines(b"x" * 200)
    assert long == ["x" * peerlog.LINE_BYTES] * 3 + ["x" * 8]
    assert all(len(line) <= 4 * peerlog.LINE_BYTES for line in peerlog.data_lines(bytes(range(256)) * 4))


def test_a_recording_started_after_serve_replay_starts_it_again(tmp_path, lab, ex):
    server = lab("http")
    _, rec = _record(tmp_path, server.port, HTTP_GET)
    assert run(ex, f"serve replay {rec} 0").ok
    assert run(ex, f"record {tmp_path / 'later.nrs'}").ok
    run(ex, "record stop")
    assert (tmp_path / "later.nrs").read_text().splitlines()[0] == f"serve replay {rec} 0"


def test_the_fast_decoder_of_peer_lines_is_decode_escapes():
    from netrepl.lab.replay import _decode
    from netrepl.language.escapes import decode_escapes, encode_escapes

    for text in ("a\\0123", "\\\\0", "\\e[0m", "x\\x41\\r\\n\\t", "\\\\e", "caf\u00e9", "\\\\\\x24"):
        assert _decode(text, 1) == decode_escapes(text), text
    for size in range(0, 600, 7):
        data = os.urandom(size)
        assert _decode(encode_escapes(data), 1) == data


def test_a_client_that_stays_after_the_last_step_is_no_mismatch_but_extra_bytes_are(tmp_path, lab):
    server = lab("http")
    _, rec = _record(tmp_path, server.port, ["connect 127.0.0.1 PORT", "send GET / HTTP/1.0\\r\\n", "recv all"])
    server.stop()
    with ReplayServer(str(rec), timeout=0.2) as replay:
        with socket.create_connection(replay.address, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass  # the reply, then the recorded end of stream; we stay open past the timeout
            assert wait_until(lambda: replay.played == 1, what=lambda: replay.describe())
        assert replay.mismatches == 0, replay.last
        with socket.create_connection(replay.address, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\nand more")
            while s.recv(65536):
                pass
        assert wait_until(lambda: replay.mismatches == 1, what=lambda: replay.describe())
        assert "mismatch after the last step, byte 0: expected the end of the recording: its end of stream " \
               "got 'and more' (8 bytes more than recorded)" in replay.last


def test_a_pathological_peer_line_loads_in_linear_time(tmp_path):
    """The fast path's validating regex once split runs of plain characters every possible way
    (exponential): a 27-character line with a bad escape at its end took 7 s, 60 never ended.
    Bounded by work, not time: 200 such lines of 4000 characters each load (and are refused at
    the bad escape) well within a generous subprocess timeout that the old pattern could not meet."""
    lines = ["#> connect"] + ["#< " + "ab" * 2000 + "\\q" if i == 199 else "#< " + "a" * 60 for i in range(200)]
    rec = tmp_path / "rec.nrs"
    rec.write_text("\n".join(lines) + "\n")
    (tmp_path / "ok.nrs").write_text("#> connect\n" + ("#< " + "a" * 4000 + "\n") * 200)
    code = ("import sys\nfrom netrepl.lab.replay import ReplayError, load\n"
            "print(len(load(sys.argv[2])[0]))\n"
            "try:\n    load(sys.argv[1])\nexcept ReplayError as exc:\n    print(exc)\n")
    p = subprocess.run([sys.executable, "-c", code, str(rec), str(tmp_path / "ok.nrs")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "1"  # 200 lines of one direction: one step
    assert f"rec.nrs:201:{3 + 4000 + 1}: unknown escape \\q" in p.stdout


def test_the_validating_pattern_has_no_nested_repetition():
    from netrepl.lab.replay import _VALID

    assert "+|" not in _VALID.pattern and "]+" not in _VALID.pattern
    for good in ("", "abc", "\\x41\\r\\n", "a\\eb\\0c\\\\", "tail\\t"):
        assert _VALID.fullmatch(good), good
    for bad in ("a\\", "\\xZZ", "\\q", "a" * 5000 + "\\"):
        assert not _VALID.fullmatch(bad), bad


def test_a_tls_recording_is_refused_when_it_loads_naming_the_line(tmp_path, lab):
    """A `record -p` of a `tls` session holds the decrypted bytes: played in plaintext, the client's
    handshake could only fail mid-way. So the file is refused at load, with FILE:LINE and why."""
    server = lab("https")
    first = run_cli("-c", f"set tls ca {LAB_CA}; record -p rec.nrs; connect localhost {server.port}; "
                          "tls localhost; send GET / HTTP/1.0\\r\\n; recv all; close", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    text = (tmp_path / "rec.nrs").read_text()
    line = text.splitlines().index("tls localhost") + 1
    with pytest.raises(ReplayError, match=rf"rec.nrs:{line}: `tls localhost` turns conversation 1 into TLS"):
        load(str(tmp_path / "rec.nrs"))
    p = run_cli("-c", "serve replay rec.nrs 0", cwd=tmp_path)
    assert p.returncode == 1 and f"rec.nrs:{line}: `tls localhost` turns conversation 1 into TLS" in p.stdout
    assert "cannot answer the client's handshake" in p.stdout and "Traceback" not in p.stderr
    p = run_cli("serve", "replay", "rec.nrs", cwd=tmp_path)
    assert p.returncode == 1 and "turns conversation 1 into TLS" in p.stderr


def test_a_recording_started_on_a_tls_socket_is_refused_at_load(tmp_path, lab):
    """`record -p` begun after `tls` writes the `tls` line, then the connection's `#> connect`:
    the conversation is TLS all the same, and was accepted (its client's handshake then failed)."""
    server = lab("https")
    first = run_cli("-c", f"set tls ca {LAB_CA}; connect localhost {server.port}; tls localhost; record -p rec.nrs; "
                          "send GET / HTTP/1.0\\r\\n; recv all", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = (tmp_path / "rec.nrs").read_text().splitlines()
    at = lines.index("tls localhost")
    # The shape that slipped through (`#@ tcp`, the addresses export --pcap reads, stands between).
    assert lines[at + 1].startswith("#@ tcp client ") and lines[at + 2] == "#> connect"
    with pytest.raises(ReplayError, match=rf"rec.nrs:{at + 1}: `tls localhost` turns conversation 1 into TLS"):
        load(str(tmp_path / "rec.nrs"))
    p = run_cli("-c", "serve replay rec.nrs 0", cwd=tmp_path)
    assert p.returncode == 1 and "turns conversation 1 into TLS" in p.stdout and "Traceback" not in p.stderr


def test_a_tls_that_failed_before_a_plaintext_connection_is_not_an_upgrade_of_it(tmp_path):
    (tmp_path / "rec.nrs").write_text("must-fail state tls localhost\nconnect localhost 80\n#> connect\n"
                                      "send hi\n#> hi\\r\\n\n#< ho\\r\\n\n")
    assert len(load(str(tmp_path / "rec.nrs"))) == 1


@pytest.mark.parametrize("line", ["starttls smtp", "must-fail verify tls wrong.invalid", "  tls -k localhost"])
def test_any_tls_upgrade_in_a_conversation_is_refused(tmp_path, line):
    (tmp_path / "rec.nrs").write_text(f"connect localhost 25\n#> connect\n#< 220 hi\\r\\n\n{line}\n#> x\n")
    with pytest.raises(ReplayError, match=r"rec.nrs:4: .* into TLS"):
        load(str(tmp_path / "rec.nrs"))


def test_set_tls_and_a_tls_word_in_data_are_not_an_upgrade(tmp_path):
    (tmp_path / "rec.nrs").write_text("set tls verify off\nconnect localhost 80\n#> connect\nsend tls\n#> tls\\r\\n\n"
                                      "#< tls please\\r\\n\n")
    assert len(load(str(tmp_path / "rec.nrs"))) == 1
