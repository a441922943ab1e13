"""Recordings that can be pointed elsewhere (issue 17): `record` writes each peer it connected to
as variables with the recorded values as defaults (`connect ${host:-127.0.0.1} ${port:-6379}`;
later peers host2/port2, ...), so `-D port=N` replays it against a `serve replay` on port N."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

from conftest import run, run_cli
from helpers import held_port, wait_until


def _listening(port: int, proc: subprocess.Popen) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return proc.poll() is not None


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_recording_replays_offline_against_serve_replay_on_another_port(tmp_path):
    with held_port() as port:
        pass
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port, redis), what="redis-server to listen")
        if redis.poll() is not None:
            pytest.skip("redis-server did not start")
        first = run_cli("-c", f"record -p -e rec.nrs; timeout 5; connect 127.0.0.1 {port}; send PING; recv; "
                              "send SET greeting hello; recv; send GET greeting; recv; send QUIT; recv all",
                        cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
    finally:
        redis.terminate()
        redis.wait(timeout=30)
    text = (tmp_path / "rec.nrs").read_text()
    assert f"connect ${{host:-127.0.0.1}} ${{port:-{port}}}\n" in text
    assert "expect +PONG\\r\\n\n" in text  # a whole-line expect
    assert text.endswith("send QUIT\n#> QUIT\\r\\n\nexpect +OK\\r\\n\nexpect eof\n#< +OK\\r\\n\n#< eof\n")
    with held_port(reusable=True) as other:
        pass
    replay = subprocess.Popen([sys.executable, "-m", "netrepl", "serve", "replay", "rec.nrs", "--port", str(other)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: _listening(other, replay), what="serve replay to listen")
        assert replay.poll() is None, replay.stdout.read()
        again = run_cli("-D", f"port={other}", "rec.nrs", cwd=tmp_path)  # redis is gone: the replay answers
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"127.0.0.1:{other} (127.0.0.1)" in again.stdout and "+PONG" in again.stdout
        assert "hello\\r" in again.stdout and "+OK\\r" in again.stdout
    finally:
        replay.terminate()
        replay.wait(timeout=30)
        replay.stdout.close()
    assert run_cli("rec.nrs", cwd=tmp_path).returncode == 1  # by default: the recorded port, nobody there


def test_each_peer_gets_its_own_variables_and_a_peer_met_again_the_same(ex, lab, tmp_path):
    one, two = lab("echo"), lab("echo")
    target = tmp_path / "peers.nrs"
    assert run(ex, f"record {target}").ok
    for line in (f"connect localhost {one.port}", "close", f"connect 127.0.0.1:{two.port}", "close",
                 f"connect localhost {one.port}  # again", "close", f"set var p {two.port}", "connect 127.0.0.1 $p", "close",
                 "record stop"):
        run(ex, line)
    lines = target.read_text().splitlines()
    assert lines[:6] == [f"connect ${{host:-localhost}} ${{port:-{one.port}}}", "close",
                         f"connect ${{host2:-127.0.0.1}} ${{port2:-{two.port}}}", "close",
                         f"connect ${{host:-localhost}} ${{port:-{one.port}}}", "close"]
    assert lines[-2:] == ["connect 127.0.0.1 $p", "close"]  # typed with variables: as typed
    three = lab("echo")
    p = run_cli("-q", "-D", f"port={three.port}", "-D", f"port2={three.port}", str(target))
    assert p.returncode == 0, p.stdout + p.stderr


def test_peer_variables_never_take_a_name_the_recording_uses(ex, lab, tmp_path):
    one, two = lab("echo"), lab("echo")
    target = tmp_path / "taken.nrs"
    ex.variables["port"] = "not a port"  # set before the recording: written as `set var port ...`
    assert run(ex, f"record {target}").ok
    for line in ("set var host2 elsewhere", f"connect 127.0.0.1 {one.port}", "close",
                 f"connect 127.0.0.1 {two.port}", "close", "record stop"):
        run(ex, line)
    lines = target.read_text().splitlines()
    assert f"connect ${{host3:-127.0.0.1}} ${{port3:-{one.port}}}" in lines  # host/port, host2 are taken
    assert f"connect ${{host4:-127.0.0.1}} ${{port4:-{two.port}}}" in lines
    assert run_cli("-q", str(target)).returncode == 0
