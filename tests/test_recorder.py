"""`record FILE` / `record stop`: a session written down as a replayable .nrs script.

(tests/test_fastdata.py is about netrepl/fastdata.py, the dataclass stand-in.)
"""

from __future__ import annotations

import os
import stat
import time

import pytest

from conftest import run, run_cli, text_of


def body(path) -> list[str]:
    return path.read_text().splitlines()


def test_record_writes_commands_and_failures_as_must_fail(ex, lab, free_port, tmp_path):
    server = lab("echo")
    target = tmp_path / "session.nrs"
    r = run(ex, f"record {target}")
    assert r.ok and f"recording to {target}" in text_of(r)
    for line in (f"connect 127.0.0.1 {server.port}", "send hello", "recv", "lookup port80",
                 "set var who me", "print hi $who", "close", f"connect 127.0.0.1 {free_port}"):
        run(ex, line)
    r = run(ex, "record stop")
    assert r.ok and f"stopped recording: 8 lines in {target}" in text_of(r)
    assert body(target) == [
        f"connect 127.0.0.1 {server.port}",
        "send hello",
        "recv",
        "must-fail service lookup port80",
        "set var who me",
        "print hi $who",
        "close",
        f"must-fail ECONNREFUSED connect 127.0.0.1 {free_port}",
    ]
    assert ex.recorder is None


def test_syntax_errors_help_and_record_itself_are_not_recorded(ex, tmp_path):
    target = tmp_path / "s.nrs"
    run(ex, f"record {target}")
    for line in ("bogus command", "recv lots", "help", "help send", "print kept", "# a comment", ""):
        run(ex, line) if line.strip() and not line.startswith("#") else list(ex.run_line(line))
    run(ex, "record stop")
    assert body(target) == ["print kept"]


def test_record_e_adds_expect_lines(ex, lab, tmp_path):
    server = lab("echo")
    target = tmp_path / "e.nrs"
    r = run(ex, f"record -e {target}")
    assert r.ok and "with expect lines" in text_of(r)
    for line in (f"connect 127.0.0.1 {server.port}", "send hello \\x01$$ there", "recv",
                 "send -n /slash", "expect /slash", "close"):
        assert run(ex, line).ok, line
    run(ex, "record stop")
    lines = body(target)
    # The expect line comes BEFORE the recv (one read cursor: it consumes the first line on replay,
    # the recv then reads the rest, the "\n").
    assert lines[:2] == [f"connect 127.0.0.1 {server.port}", "send hello \\x01$$ there"]
    assert lines[2].startswith("expect ") and lines[3] == "recv"
    # The expect line matches exactly the bytes received (up to the newline), escaped for a script.
    expected = ex.parse(lines[2]).args["pattern"]
    assert expected.kind == "text" and expected.literal == b"hello \x01$ there\r"
    assert lines[4:] == ["send -n /slash", "expect /slash", "close"]  # no expect after an expect


def test_replay_reproduces_the_session(ex, lab, free_port, tmp_path):
    server = lab("echo")
    target = tmp_path / "replay.nrs"
    run(ex, f"record -e {target}")
    shown = []
    for line in (f"connect localhost {server.port}", "timeout 5", "send first line", "recv", "send -n a\\tb\\x1b",
                 "expect \\e", "send two\\nthree", "recv line", "recv", "lookup port80", "close",
                 f"connect 127.0.0.1 {free_port}"):
        result = run(ex, line)
        if result.data:
            shown.append(text_of(result).splitlines()[-1])
    run(ex, "record stop")
    assert shown == ["first line\\r", "a\tb\\x1b", "two", "three\\r"]
    recorded = body(target)
    assert recorded.count("recv line") == 1 and sum(1 for x in recorded if x.startswith("expect ")) == 4
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr
    for data in shown:
        assert data + "\n" in p.stdout
    assert "failed as expected (service)" in p.stdout
    assert "ECONNREFUSED" in p.stdout
    # Against a different peer the recorded expectations fail: the replay really checks.
    other = lab("daytime")
    target.write_text(target.read_text().replace(f"connect localhost {server.port}",
                                                 f"connect localhost {other.port}"))
    p = run_cli("-q", str(target))
    assert p.returncode == 1
    assert "expectation not met" in p.stdout


def test_recording_is_flushed_line_by_line(ex, lab, tmp_path):
    server = lab("echo")
    target = tmp_path / "live.nrs"
    run(ex, f"record {target}")
    assert target.read_text() == ""
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert body(target) == [f"connect 127.0.0.1 {server.port}"]  # on disk while still recording
    run(ex, "send x")
    assert body(target)[-1] == "send x"
    run(ex, "record stop")


def test_recording_file_is_private(ex, tmp_path):
    target = tmp_path / "private.nrs"
    old = os.umask(0)
    try:
        run(ex, f"record {target}")
    finally:
        os.umask(old)
    run(ex, "print x")
    run(ex, "record stop")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_record_appends_to_an_existing_file(ex, tmp_path):
    target = tmp_path / "more.nrs"
    target.write_text("print earlier\n")
    run(ex, f"record {target}")
    run(ex, "print later")
    run(ex, "record stop")
    assert body(target) == ["print earlier", "print later"]


def test_record_twice_and_stop_without_recording_are_clear_errors(ex, tmp_path):
    r = run(ex, "record stop")
    assert r.error is not None and r.error.kind == "state"
    assert "not recording" in text_of(r)
    first, second = tmp_path / "a.nrs", tmp_path / "b.nrs"
    run(ex, f"record {first}")
    r = run(ex, f"record {second}")
    assert r.error is not None and r.error.kind == "state"
    assert f"already recording to {first}" in text_of(r) and "record stop" in text_of(r)
    assert not second.exists()
    run(ex, "print still to a")
    run(ex, "record stop")
    assert body(first) == ["print still to a"]


def test_record_to_unwritable_path(ex, tmp_path):
    r = run(ex, f"record {tmp_path}/no/such/dir/x.nrs")
    assert r.error is not None and r.error.kind == "file" and r.error.errname == "ENOENT"
    assert ex.recorder is None


def test_recording_ends_with_the_run(tmp_path):
    """A script that records and never stops still leaves a complete file."""
    target = tmp_path / "inner.nrs"
    p = run_cli("-q", "-c", f"record {target}; print one; lookup http")
    assert p.returncode == 0, p.stderr
    assert body(target) == ["print one", "lookup http"]
    assert run_cli("-q", str(target)).returncode == 0


def test_variables_and_settings_from_before_record_are_written(ex, tcp_server, tmp_path):
    """A replay must not be rejected ($NAME undefined) nor send other bytes (eol) than the session did."""
    got = []

    def keep(conn):
        while data := conn.recv(65536):
            got.append(data)

    server = tcp_server(keep)
    target = tmp_path / "setup.nrs"
    for line in (f"set var port {server.port}", "set var price 5$$", "set var pad  lead", "set eol lf",
                 "timeout 2.5", "set display hex", f"record {target}", "connect 127.0.0.1 $port",
                 "send $price$pad", "close", "record stop"):
        assert run(ex, line).ok, line
    assert body(target) == [f"set var port {server.port}", "set var price 5$$", "set var pad  lead",
                            "set eol lf", "timeout 2.5", "set display hex",
                            "connect 127.0.0.1 $port", "send $price$pad", "close"]
    session_bytes = b"5$ lead\n"
    assert wait_for_bytes(got, session_bytes) == session_bytes
    got.clear()
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr
    assert wait_for_bytes(got, session_bytes) == session_bytes  # the replay sent exactly what the session sent


def wait_for_bytes(chunks: list, want: bytes) -> bytes:
    """What a server thread has collected, once it equals `want` or after a generous bound."""
    deadline = time.monotonic() + 10
    while b"".join(chunks) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    return b"".join(chunks)


def test_defaults_write_no_setup_lines(ex, tmp_path):
    target = tmp_path / "plain.nrs"
    run(ex, f"record {target}")
    run(ex, "record stop")
    assert target.read_text() == ""


def test_recording_started_on_an_open_connection_replays(ex, lab, tmp_path):
    server = lab("echo")
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    target = tmp_path / "late.nrs"
    assert run(ex, f"record -e {target}").ok
    for line in ("send late start", "recv"):
        assert run(ex, line).ok, line
    assert run(ex, "record stop").ok
    lines = body(target)
    assert lines[0].startswith("# recording started with a socket open (tcp connected)")
    assert lines[1:4] == ["socket inet tcp", f"connect 127.0.0.1 {server.port}", "send late start"]
    assert lines[4].startswith("expect late") and lines[5] == "recv" and len(lines) == 6  # expect first
    replay = run_cli(str(target))
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_a_recorded_serve_0_replays_on_the_port_the_session_used(ex, tmp_path):
    import io

    from netrepl.runner import Options, Runner

    path = tmp_path / "rec.nrs"
    run(ex, f"record {path}")
    run(ex, "serve echo 0")
    (port,) = [server.port for server in ex.servers.values()]
    for line in (f"connect localhost {port}", "send hi", "expect hi", "close", "serve stop", "record stop"):
        assert run(ex, line).ok, line
    assert f"serve echo {port} tcp\n" in path.read_text()
    out, err = io.StringIO(), io.StringIO()
    assert Runner(Options(), out=out, err=err).run_files([str(path)]) == 0, out.getvalue() + err.getvalue()


def test_record_e_of_a_keep_alive_exchange_and_udp_replays(ex, lab, tmp_path):
    """One read cursor: each expect line comes before the command that read the data, and the
    recording replays (an expect written after its recv would wait for bytes already consumed)."""
    http, udp = lab("echo"), lab("echo", "udp")
    target = tmp_path / "both.nrs"
    assert run(ex, f"record -e {target}").ok
    for line in (f"connect 127.0.0.1 {http.port}", "timeout 5", "send -n whole", "recv", "send two\\nlines",
                 "recv line", "recv", "close", f"sendto 127.0.0.1 {udp.port} datagram", "recvfrom", "close"):
        assert run(ex, line).ok, line
    run(ex, "record stop")
    lines = body(target)
    assert lines[2:4] == ["send -n whole", "expect whole"]  # the expect consumed all the recv showed
    assert lines[4:8] == ["send two\\nlines", "expect two", "recv line", "expect lines\\r"]
    # The datagram's first line is all of it but its "\n": the recvfrom follows for that.
    assert lines[-4:] == [f"sendto 127.0.0.1 {udp.port} datagram", "expect datagram\\r", "recvfrom", "close"]
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr
