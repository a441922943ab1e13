"""Regression tests for what a fresh review of the product found."""

from __future__ import annotations

from conftest import run, text_of


def test_expect_eof_without_a_socket_is_a_state_error_not_an_early_end_of_stream(ex, lab):
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "close")
    r = run(ex, "expect eof")
    assert r.error is not None and r.error.kind == "state", text_of(r)
    assert "came first" not in text_of(r)


def test_recv_after_our_own_shutdown_0_does_not_claim_the_peer_closed(ex, lab):
    """After shutdown(0) recv returns no data at once, whatever the peer does:
    that is not the peer's end of stream (the echo server is still there)."""
    server = lab("echo")
    run(ex, f"connect 127.0.0.1 {server.port}")
    run(ex, "shutdown 0")
    for line in ("recv", "recv all", "recv line"):
        r = run(ex, line)
        assert r.ok, text_of(r)
        assert "peer closed" not in text_of(r) and "peer closed" not in r.state, (line, text_of(r))
        assert "read side" in text_of(r), (line, text_of(r))
    r = run(ex, "expect eof")
    assert r.error is not None and r.error.kind == "expect" and "read side is shut" in text_of(r), text_of(r)
    assert run(ex, "info").state == "tcp connected, read side shut"


def test_source_in_the_shell_echoes_each_command_before_its_output(tmp_path):
    from test_shell import Drive

    script = tmp_path / "s.nrs"
    script.write_text("# comment\nprint one\nset var X 42\nprint two $X\n")
    d = Drive()
    try:
        assert d(f"source {script}\r\x04") == 0
    finally:
        d.ex.finish()
    assert "netrepl> print one\none\nnetrepl> set var X 42\n" in d.text, d.text
    assert "netrepl> print two $X\ntwo 42\n" in d.text, d.text


def test_stable_masks_a_lab_server_port_the_same_way_in_every_message(ex, free_port):
    """A port given to `serve` is stable and shown; one the OS chose is masked: in
    `serving`, the listing and `serve stop` alike (`serve stop` used to decide by its
    own argument, the listing masked every port)."""
    shown = [text_of(run(ex, line), stable=True)
             for line in (f"serve echo {free_port}", "serve", "serve stop")]
    for text in shown:
        assert f"127.0.0.1:{free_port}" in text and "<port>" not in text, shown
    run(ex, "serve echo 0")
    (port,) = [server.port for server in ex.servers.values()]
    shown = [text_of(run(ex, line), stable=True) for line in ("serve", f"serve stop {port}")]
    for text in shown:
        assert "127.0.0.1:<port>" in text and str(port) not in text, shown


def test_a_recorded_serve_0_replays_on_the_port_the_session_used(ex, tmp_path):
    import io

    from netrepl.script import Options, Runner

    path = tmp_path / "rec.nrs"
    run(ex, f"record {path}")
    run(ex, "serve echo 0")
    (port,) = [server.port for server in ex.servers.values()]
    for line in (f"connect localhost {port}", "send hi", "expect hi", "close", "serve stop", "record stop"):
        assert run(ex, line).ok, line
    assert f"serve echo {port} tcp\n" in path.read_text()
    out, err = io.StringIO(), io.StringIO()
    assert Runner(Options(), out=out, err=err).run_files([str(path)]) == 0, out.getvalue() + err.getvalue()


def test_step_with_commands_on_stdin_and_no_terminal_is_refused_not_fed_the_next_command():
    """--step used to read its Enter from standard input too: it swallowed every second
    command and still exited 0. Without a controlling terminal it is a usage error."""
    import subprocess
    import sys

    from conftest import ROOT

    p = subprocess.run([sys.executable, "-m", "netrepl", "--step"], input="print a\nprint b\n",
                       capture_output=True, text=True, timeout=60, cwd=ROOT, start_new_session=True)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "--step" in p.stderr and "terminal" in p.stderr
