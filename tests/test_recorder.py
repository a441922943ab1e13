"""`record FILE` / `record stop`: a session written down as a replayable .nrs script.

(tests/test_fastdata.py is about netrepl/base/fastdata.py, the dataclass stand-in.)
"""

from __future__ import annotations

import os
import socket
import stat


from conftest import run, run_cli, text_of
from helpers import wait_until


def body(path) -> list[str]:
    return path.read_text().splitlines()


def test_record_writes_commands_and_failures_as_must_fail(ex, lab, closed_port, tmp_path):
    server = lab("echo")
    target = tmp_path / "session.nrs"
    r = run(ex, f"record {target}")
    assert r.ok and f"recording to {target}" in text_of(r)
    for line in (f"connect 127.0.0.1 {server.port}", "send hello", "recv", "lookup port80",
                 "set var who me", "print hi $who", "close", f"connect 127.0.0.1 {closed_port}"):
        run(ex, line)
    r = run(ex, "record stop")
    assert r.ok and f"stopped recording: 8 lines in {target}" in text_of(r)
    assert body(target) == [
        f"connect ${{host:-127.0.0.1}} ${{port:-{server.port}}}",  # a peer: variables, recorded defaults
        "send hello",
        "recv",
        "must-fail service lookup port80",
        "set var who me",
        "print hi $who",
        "close",
        f"must-fail ECONNREFUSED connect ${{host2:-127.0.0.1}} ${{port2:-{closed_port}}}",  # the 2nd peer
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
    # The expect line comes BEFORE the recv (one read cursor: it consumes the line on replay); it
    # is the whole line, so the recv that showed only that line is not written again.
    assert lines[:2] == [f"connect ${{host:-127.0.0.1}} ${{port:-{server.port}}}", "send hello \\x01$$ there"]
    assert lines[2].startswith("expect ")
    # The expect line matches exactly the bytes received (through the newline), escaped for a script.
    expected = ex.parse(lines[2]).args["pattern"]
    assert expected.kind == "text" and expected.literal == b"hello \x01$ there\r\n"
    assert lines[3:] == ["send -n /slash", "expect /slash", "close"]  # no expect after an expect


def test_replay_reproduces_the_session(ex, lab, closed_port, tmp_path):
    server = lab("echo")
    target = tmp_path / "replay.nrs"
    run(ex, f"record -e {target}")
    shown = []
    for line in (f"connect localhost {server.port}", "timeout 5", "send first line", "recv", "send -n a\\tb\\x1b",
                 "expect \\e", "send two\\nthree", "recv line", "recv", "lookup port80", "close",
                 f"connect 127.0.0.1 {closed_port}"):
        result = run(ex, line)
        if result.data:
            shown.append(text_of(result).splitlines()[-1])
    run(ex, "record stop")
    assert shown == ["first line\\r", "a\tb\\x1b", "two", "three\\r"]
    recorded = body(target)
    # Each read showed one whole line: an expect of it stands in for the read.
    assert recorded.count("recv line") == 0 and sum(1 for x in recorded if x.startswith("expect ")) == 4
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr
    for data in shown:
        assert data + "\n" in p.stdout
    assert "failed as expected (service)" in p.stdout
    assert "ECONNREFUSED" in p.stdout
    # Against a different peer the recorded expectations fail: the replay really checks.
    other = lab("daytime")
    p = run_cli("-q", "-D", f"port={other.port}", str(target))  # pointed elsewhere: no editing
    assert p.returncode == 1
    assert "expectation not met" in p.stdout


def test_recording_is_flushed_line_by_line(ex, lab, tmp_path):
    server = lab("echo")
    target = tmp_path / "live.nrs"
    run(ex, f"record {target}")
    assert target.read_text() == ""
    run(ex, f"connect 127.0.0.1 {server.port}")
    assert body(target) == [f"connect ${{host:-127.0.0.1}} ${{port:-{server.port}}}"]  # on disk while still recording
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
    """What a server thread has collected, once it equals `want` (else fail, showing what came)."""
    wait_until(lambda: b"".join(chunks) == want, what=lambda: f"{want!r}; the server has {b''.join(chunks)!r}")
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
    assert lines[1:4] == ["socket inet tcp", f"connect ${{host:-127.0.0.1}} ${{port:-{server.port}}}", "send late start"]
    assert lines[4] == "expect late start\\r\\n" and len(lines) == 5  # expect first: the whole line
    replay = run_cli(str(target))
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_a_recorded_serve_0_replays_on_a_port_of_its_own(ex, tmp_path):
    """`serve echo 0` stays port 0 and the port it got is written as $lab_port: the replay
    gets its own server and connection, even while the session's server still holds its port
    (it used to write the literal port, which collides with any other run)."""
    import io

    from netrepl.runner import Options, Runner

    path = tmp_path / "rec.nrs"
    run(ex, f"record {path}")
    run(ex, "serve echo 0")
    (port,) = [server.port for server in ex.servers.values()]
    for line in (f"connect localhost {port}", "send hi", "expect hi", "close", f"serve stop {port}",
                 "serve echo 0", "record stop"):
        assert run(ex, line).ok, line
    assert body(path) == ["serve echo 0", "connect localhost $lab_port", "send hi", "expect hi", "close",
                          "serve stop $lab_port", "serve echo 0"]
    out, err = io.StringIO(), io.StringIO()
    assert Runner(Options(), out=out, err=err).run_files([str(path)]) == 0, out.getvalue() + err.getvalue()
    (still,) = ex.servers.values()  # the session's second server is still up on its port: no clash
    assert run(ex, f"connect localhost {still.port}").ok


# ----- nothing recorded is lost: text that is not UTF-8 ----------------------------------

def collecting_server(tcp_server):
    got = []

    def keep(conn):
        while data := conn.recv(65536):
            got.append(data)

    return tcp_server(keep), got


def run_bytes(*args, stdin: bytes = b"", cwd=None):
    """netrepl with raw bytes on standard input (run_cli's text mode could not send invalid UTF-8)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "netrepl", *args], input=stdin, capture_output=True,
                          timeout=60, cwd=cwd)


def test_a_variable_holding_a_byte_that_is_not_utf8_is_recorded_and_replays_the_same_bytes(tcp_server, tmp_path):
    """`-D x=$'\\xff'` then `record` crashed with a traceback and wrote nothing."""
    server, got = collecting_server(tcp_server)
    target = tmp_path / "bytes.nrs"
    p = run_cli("-D", "x=\udcff\x01 ", "-c", f"record {target}; connect 127.0.0.1 {server.port}; send a$x; close")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    assert body(target) == ["set var -x x \\xff\\x01\\x20", f"connect ${{host:-127.0.0.1}} ${{port:-{server.port}}}",
                            "send a$x", "close"]
    wire = b"a\xff\x01 \r\n"
    assert wait_for_bytes(got, wire) == wire
    got.clear()
    replay = run_cli("-q", str(target))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert wait_for_bytes(got, wire) == wire  # the replay sent exactly the session's bytes


def test_invalid_utf8_on_standard_input_no_longer_ends_the_recording(tcp_server, tmp_path):
    """Each line with a byte that is not UTF-8 used to stop the recording ('surrogates not allowed')."""
    server, got = collecting_server(tcp_server)
    target = tmp_path / "stdin.nrs"
    script = (f"record {target}\nset var z \udcfe\nconnect 127.0.0.1 {server.port}\nsend \udcfe$z\\xfe\n"
              "print \udcfe ok\nsend -n end\nclose\n").encode("utf-8", "surrogateescape")
    p = run_bytes(stdin=script)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, out + p.stderr.decode()
    assert "stopped" not in out
    assert body(target) == ["set var -x z \\xfe", f"connect ${{host:-127.0.0.1}} ${{port:-{server.port}}}", "send \\xfe$z\\xfe",
                            "print \\xfe ok", "send -n end", "close"]
    wire = b"\xfe\xfe\xfe\r\nend"
    assert wait_for_bytes(got, wire) == wire
    got.clear()
    replay = run_cli(str(target))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert wait_for_bytes(got, wire) == wire
    assert "\\xfe ok\n" in replay.stdout and "\\xfe ok\n" in out  # print shows the same on replay


def test_a_line_that_cannot_be_replayed_is_a_comment_and_the_user_is_told_once(tmp_path):
    target = tmp_path / "comment.nrs"
    # print would show `a\\b\xfe` (the backslash escaped beside the byte) but `print a\b\xfe` shows
    # `a\b\xfe`: no line replays it, so it becomes a comment.
    line = "print a\\b\udcfe\n"
    p = run_bytes(stdin=f"record {target}\n{line}print fine\n{line}".encode("utf-8", "surrogateescape"))
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert out.count("was written as a # comment") == 1
    lines = body(target)
    assert lines[1] == "print fine" and len(lines) == 3
    for line in (lines[0], lines[2]):
        assert line.startswith("# not written: ") and line.endswith("print a\\\\b\\xfe")
    assert run_cli(str(target)).returncode == 0  # the comments keep the rest replayable


def test_record_in_a_session_with_an_undecodable_variable_starts(ex, tmp_path):
    """The shell said `internal error` here (write_setup raised UnicodeEncodeError)."""
    ex.variables["x"] = "\udcff"
    ex.variables["tab"] = "a\tb"
    target = tmp_path / "setup.nrs"
    r = run(ex, f"record {target}")
    assert r.ok, text_of(r)
    assert run(ex, "record stop").ok
    assert body(target) == ["set var -x x \\xff", "set var -x tab a\\x09b"]
    p = run_cli("-q", "-c", f"source {target}; print [$x] [$tab]")
    assert p.returncode == 0, p.stderr
    assert "[\\xff] [a\\tb]" in p.stdout


def test_an_undecodable_variable_holding_a_dollar_is_recorded_too(ex, tmp_path):
    """`$` is written `$$`: the self-check compared the value with the line's text before
    `$$` became `$`, and wrote `# $x not written` instead."""
    ex.variables["x"] = "a\udcffb$c\\"
    target = tmp_path / "dollar.nrs"
    assert run(ex, f"record {target}").ok and run(ex, "record stop").ok
    assert body(target) == ["set var -x x a\\xffb$$c\\\\"]
    p = run_cli("-q", "-c", f"source {target}; print [$x]")
    assert p.returncode == 0, p.stderr
    assert "[a\\xffb$c\\\\]" in p.stdout


def test_set_var_x_decodes_escapes_and_a_bad_one_is_a_script_error(tmp_path):
    p = run_cli("-q", "-c", "set var -x v a\\x41\\\\$$; print [$v]")
    assert p.returncode == 0, p.stderr
    assert "[aA\\$]" in p.stdout
    bad = tmp_path / "bad.nrs"
    bad.write_text("print first\nset var -x v \\q\n")
    p = run_cli(str(bad))
    assert p.returncode == 2
    assert f"{bad}:2:" in p.stderr and "unknown escape \\q" in p.stderr
    assert "first" not in p.stdout  # checked before anything ran


# ----- lab servers: a recording reaches servers it starts itself ---------------------------

def test_a_recording_started_after_serve_writes_the_server_first(ex, tmp_path):
    """The replay of a recording started after `serve` was refused (ECONNREFUSED): no server."""
    assert run(ex, "serve echo 0").ok
    assert run(ex, "serve daytime 0").ok
    echo = next(s for s in ex.servers.values() if s.kind == "echo")
    assert run(ex, f"connect localhost {echo.port}").ok
    target = tmp_path / "after.nrs"
    assert run(ex, f"record {target}").ok
    for line in ("send hi", "expect hi", "close", "connect localhost $lab_daytime_port", "recv all", "close",
                 f"connect localhost {echo.port}", "close", "record stop"):
        assert run(ex, line).ok, line
    lines = body(target)
    assert lines[:2] == ["serve echo 0 tcp", "serve daytime 0 tcp"]
    assert not any(line.startswith("set var lab_") for line in lines)  # the serve lines set them
    assert "connect 127.0.0.1 $lab_echo_port" in lines  # the open socket: to the replay's own echo server
    assert lines[-2:] == ["connect localhost $lab_echo_port", "close"]
    replay = run_cli("-q", str(target))  # while the session's servers still hold their ports
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_the_shell_records_with_an_undecodable_variable(tmp_path):
    """The shell said `internal error: UnicodeEncodeError` at `record` and left the line out."""
    from netrepl.commands import REGISTRY
    from netrepl.core.executor import Executor
    from test_shell import Drive

    target = tmp_path / "shell.nrs"
    d = Drive(executor=Executor(REGISTRY, variables={"x": "\udcff"}))
    try:
        assert d(f"record {target}\rprint [$x]\rrecord stop\r\x04") == 0
    finally:
        d.ex.finish()
    assert "internal error" not in d.text
    assert "stopped recording: 2 lines" in d.text
    assert body(target) == ["set var -x x \\xff", "print [$x]"]


def test_literal_lab_ports_in_sendto_and_must_fail_lines_become_variables(ex, tmp_path):
    target = tmp_path / "udp.nrs"
    assert run(ex, f"record {target}").ok
    assert run(ex, "serve echo 0 udp").ok
    (udp,) = [server.port for server in ex.servers.values()]
    for line in (f"sendto -n 127.0.0.1 {udp} {udp}", "recvfrom", "close", f"serve stop {udp}",
                 f"must-fail refused connect 127.0.0.1 {udp}", "record stop"):
        run(ex, line)
    assert body(target) == ["serve echo 0 udp", f"sendto -n 127.0.0.1 $lab_port {udp}", "recvfrom", "close",
                            "serve stop $lab_port", "must-fail refused connect 127.0.0.1 $lab_port"]
    # (the data that looks like the port stays data)


def test_invalid_utf8_in_c_text_is_recorded_escaped(tcp_server, tmp_path):
    server, got = collecting_server(tcp_server)
    target = tmp_path / "c.nrs"
    p = run_cli("-c", f"record {target}; connect 127.0.0.1 {server.port}; send -n \udc80ok\udcff; close")
    assert p.returncode == 0, p.stdout + p.stderr
    assert body(target)[1] == "send -n \\x80ok\\xff"
    assert wait_for_bytes(got, b"\x80ok\xff") == b"\x80ok\xff"
    got.clear()
    assert run_cli(str(target)).returncode == 0
    assert wait_for_bytes(got, b"\x80ok\xff") == b"\x80ok\xff"


def test_record_e_of_a_keep_alive_exchange_and_udp_replays(ex, lab, tmp_path):
    """One read cursor: each expect line comes before the command that read the data, and the
    recording replays (an expect written after its recv would wait for bytes already consumed)."""
    http, udp = lab("echo"), lab("echo", "udp")
    target = tmp_path / "both.nrs"
    assert run(ex, f"record -e {target}").ok
    for line in (f"connect 127.0.0.1 {http.port}", "timeout 5", "send -n whole", "recv", "send two\\nlines",
                 "recv line", "recv", "close", f"sendto -l 127.0.0.1 {udp.port} datagram", "recvfrom", "close"):
        assert run(ex, line).ok, line
    run(ex, "record stop")
    lines = body(target)
    assert lines[2:4] == ["send -n whole", "expect -m whole"]  # the expect consumed all the recv showed
    assert lines[4:7] == ["send two\\nlines", "expect two\\n", "expect lines\\r\\n"]  # whole lines
    # The datagram is one whole line: the expect of it stands in for the recvfrom.
    assert lines[-3:] == [f"sendto -l 127.0.0.1 {udp.port} datagram", "expect datagram\\r\\n", "close"]
    p = run_cli("-q", str(target))
    assert p.returncode == 0, p.stdout + p.stderr


def test_literal_lab_ports_after_flags_and_in_host_port_words_become_variables(ex, tmp_path):
    """The PORT word is found whatever flags stand before it, and in `connect HOST:PORT`; a
    literal port left in the recording would reach no server on replay."""
    target = tmp_path / "flags.nrs"
    assert run(ex, f"record {target}").ok
    assert run(ex, "serve echo 0 udp").ok
    (udp,) = [server.port for server in ex.servers.values()]
    for line in (f"sendto -l 127.0.0.1 {udp} a", "recvfrom", f"sendto 127.0.0.1 {udp} -n b", "recvfrom", "close",
                 "serve stop", "serve echo 0"):
        assert run(ex, line).ok, line
    (tcp,) = [server.port for server in ex.servers.values()]
    for line in (f"connect 127.0.0.1:{tcp}", "close", f"must-fail refused connect [::1]:{tcp}", "record stop"):
        assert run(ex, line).ok, line
    assert body(target) == ["serve echo 0 udp", "sendto -l 127.0.0.1 $lab_port a", "recvfrom",
                            "sendto 127.0.0.1 $lab_port -n b", "recvfrom", "close", "serve stop", "serve echo 0",
                            "connect 127.0.0.1:$lab_port", "close", "must-fail refused connect [::1]:$lab_port"]
    assert run_cli("-q", str(target)).returncode == 0


def test_record_e_checks_what_recv_all_and_recv_exactly_got(ex, tcp_server, tmp_path):
    """Issue 17: `recv all` (an IMAP LOGOUT reply) and `recv exactly` are checked, not only their
    first line: small data by its bytes, large data by its count, and `recv all` by end of stream."""
    big = b"".join(b"line %05d\r\n" % i for i in range(1000))

    connections = []

    def peer(conn):  # each connection: a reply, then the peer closes
        conn.recv(100)
        connections.append(conn)
        if len(connections) == 1:
            conn.sendall(b"* BYE logging out\r\na001 OK LOGOUT completed\r\n" + b"0123456789" + big)
        else:
            conn.sendall(b"* BYE\r\n")  # the second connection's recv all: one line
        conn.shutdown(socket.SHUT_WR)

    server = tcp_server(peer)
    target = tmp_path / "all.nrs"
    assert run(ex, f"record -e {target}").ok
    for line in (f"connect 127.0.0.1 {server.port}", "timeout 5", "send a001 LOGOUT",
                 "recv exactly 45", "recv exactly 10", "recv all"):
        assert run(ex, line).ok, line
    run(ex, "record stop")
    lines = body(target)
    assert lines[3:] == ["expect * BYE logging out\\r\\n", "recv exactly 26",  # the rest of the count
                         "expect -m 0123456789",  # a part of a line: -m; all it got, so no recv exactly
                         "expect line 00000\\r\\n", f"recv exactly {len(big) - 12} > /dev/null", "expect eof"]
    small = tmp_path / "small.nrs"
    assert run(ex, "close").ok
    assert run(ex, f"connect 127.0.0.1 {server.port}").ok
    assert run(ex, f"record -e {small}").ok
    for line in ("send x", "recv all"):
        assert run(ex, line).ok, line
    run(ex, "record stop")
    assert body(small)[-3:] == ["send x", "expect * BYE\\r\\n", "expect eof"]
