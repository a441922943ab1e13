"""Unix sockets: connect PATH|@NAME, socket unix, bind/listen with stale-socket rules, SO_PEERCRED,
datagrams and reply, lab servers on Unix sockets, and a real daemon (redis) where installed."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading

import pytest

from conftest import ROOT, run, run_cli, text_of
from helpers import wait_until
from netrepl.language.parser import ParseError

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX")


def ok(ex, line):
    result = run(ex, line)
    assert result.ok, text_of(result)
    return result


def unix_server(path, handler=None):
    """A Python Unix stream server at `path` (str or b'\\0name'), one connection at a time."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                try:
                    (handler or (lambda c: c.sendall(c.recv(100))))(conn)
                except OSError:  # the client went away first: normal here
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return Stopper(sock, thread)


class Stopper:
    """close(): wake the thread blocked in accept (shutdown), close, and wait for it: until then the
    kernel still holds the socket, and its name stays live."""

    def __init__(self, sock, thread):
        self.sock, self.thread = sock, thread

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_connect_path_talks_and_shows_the_peer_credentials(ex, tmp_path):
    path = str(tmp_path / "echo.sock")
    server = unix_server(path)
    try:
        result = ok(ex, f"connect {path}")
        shown = text_of(result)
        assert "created unix stream socket" in shown and f"connected to {path}" in shown
        # The server is this very process: SO_PEERCRED names it.
        assert f"pid {os.getpid()} uid {os.getuid()} gid {os.getgid()}" in shown
        assert ex.session.state() == "unix stream connected"
        ok(ex, "send -n ping")
        assert ok(ex, "recv").data == b"ping"
        info = text_of(ok(ex, "info"))
        assert f"peer          {path}" in info and "unix (AF_UNIX)" in info
        assert f"peer pid      {os.getpid()}" in info
        assert "<pid>" in text_of(run(ex, "info"), stable=True)
    finally:
        server.close()


def test_connect_takes_no_port_and_checks_the_path_length_before_any_syscall(ex):
    with pytest.raises(ParseError, match="unexpected argument '80'"):
        ex.parse("connect /tmp/x.sock 80")
    long = "/tmp/" + "x" * 104  # 109 bytes: one more than sun_path
    with pytest.raises(ParseError, match=r"at most 108 bytes \(sockaddr_un.sun_path is 108\); this one is 109"):
        ex.parse(f"connect {long}")
    with pytest.raises(ParseError, match="at most 107 bytes"):
        ex.parse("listen @" + "n" * 108)
    with pytest.raises(ParseError, match="only makes sense for listen or bind"):
        ex.parse("connect @")
    assert ex.session.sock is None


def test_missing_and_refused_socket_files(ex, tmp_path):
    result = run(ex, f"connect {tmp_path}/none.sock")
    assert result.error.errname == "ENOENT" and "no socket file at" in text_of(result)
    assert ex.session.sock is None  # the socket connect made was closed
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))  # bound, never listening, then closed: a stale file
    result = run(ex, f"connect {stale}")
    assert result.error.errname == "ECONNREFUSED" and "stale socket" in text_of(result)


def test_abstract_names(ex):
    name = f"netrepl-test-{os.getpid()}-{threading.get_ident()}"
    server = unix_server(b"\0" + name.encode())
    try:
        result = ok(ex, f"connect @{name}")
        assert f"connected to @{name}" in text_of(result)
        assert f"peer          @{name}" in text_of(ok(ex, "info"))
        ok(ex, "close")  # first: the server's thread echoes until our end closes
    finally:
        server.close()
    result = run(ex, f"connect @{name}")
    assert result.error.errname == "ECONNREFUSED" and "nothing listens on the abstract name" in text_of(result)


def test_listen_path_accepts_with_peer_credentials_and_removes_its_file(ex, tmp_path):
    path = tmp_path / "srv.sock"
    result = ok(ex, f"listen {path}")
    assert f"listening on {path} (unix stream" in text_of(result)
    assert ex.variables["listen_path"] == str(path) and stat.S_ISSOCK(os.lstat(path).st_mode)
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(path))
        shown = text_of(ok(ex, "accept"))
        assert f"accepted a connection from (unnamed) on {path}" in shown
        assert f"pid {os.getpid()} uid {os.getuid()} gid {os.getgid()}" in shown
        client.sendall(b"hello\n")
        assert ok(ex, "recv line").data == b"hello\n"
        ok(ex, "send -n back")
        assert client.recv(10) == b"back"
    ok(ex, "close")
    assert path.exists()  # the listener is still open
    stopped = text_of(ok(ex, "close listener"))
    assert f"removed the socket file {path}" in stopped
    assert not path.exists()


def test_a_stale_socket_file_is_replaced_a_live_one_refused_a_plain_file_refused(ex, tmp_path):
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))
    result = ok(ex, f"listen {stale}")
    assert f"removed a stale socket file at {stale} (nothing listened on it)" in text_of(result)
    ok(ex, "close listener")

    live = tmp_path / "live.sock"
    server = unix_server(str(live))
    try:
        result = run(ex, f"listen {live}")
        assert result.error.errname == "EADDRINUSE"
        assert "is a live socket: something listens there" in result.error.message
        assert live.exists() and ex.session.listener is None
        assert ok(ex, f"must-fail inuse listen {live}")
    finally:
        server.close()

    plain = tmp_path / "notes.txt"
    plain.write_text("keep me")
    result = run(ex, f"listen {plain}")
    assert result.error.errname == "EEXIST" and "is a regular file, not a socket: not replaced" in result.error.message
    assert plain.read_text() == "keep me"
    result = run(ex, f"listen {tmp_path}/no/such/dir.sock")
    assert result.error.errname == "ENOENT" and "its directory does not exist" in text_of(result)


def test_the_socket_file_is_left_alone_if_someone_replaced_it(ex, tmp_path):
    path = tmp_path / "mine.sock"
    ok(ex, f"listen {path}")
    os.unlink(path)
    path.write_text("someone else's")
    result = text_of(ok(ex, "close listener"))
    assert "is no longer our socket file: left in place" in result
    assert path.read_text() == "someone else's"


def test_listen_at_lets_the_kernel_pick_an_abstract_name(ex):
    result = ok(ex, "listen @")
    name = ex.session.listener.address
    assert name.abstract and name.ephemeral and len(name.name) == 5  # Linux autobind: 5 hex digits
    assert ex.variables["listen_path"] == "@" + name.name
    assert "listening on @<name>" in text_of(result, stable=True)
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(b"\0" + name.name.encode())
        ok(ex, "accept")


def test_peer_chosen_paths_are_escaped(ex, tmp_path):
    ok(ex, f"listen {tmp_path}/s.sock")
    evil = str(tmp_path / "\x1b[31mred\x07")
    with socket.socket(socket.AF_UNIX) as client:
        client.bind(evil)
        client.connect(str(tmp_path / "s.sock"))
        shown = text_of(ok(ex, "accept"))
        info = text_of(ok(ex, "info"))
    for text in (shown, info):
        assert "\x1b" not in text and "\x07" not in text
        assert "\\x1b[31mred\\x07" in text


def test_unix_datagrams_bind_recvfrom_reply_and_the_file_is_removed(ex, tmp_path):
    ok(ex, "socket unix dgram")
    assert ex.session.state() == "unix dgram created"
    path = tmp_path / "dg.sock"
    ok(ex, f"bind {path}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.bind(str(tmp_path / "client.sock"))
        client.settimeout(10)
        client.sendto(b"question", str(path))
        got = ok(ex, "recvfrom")
        assert got.data == b"question" and f"from {tmp_path}/client.sock" in text_of(got)
        ok(ex, "reply answer")
        assert client.recv(100) == b"answer"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unnamed:
        unnamed.sendto(b"anon", str(path))
        ok(ex, "recvfrom")
        result = run(ex, "reply x")
        assert result.error.kind == "state" and "unnamed" in result.error.message
    closed = text_of(ok(ex, "close"))
    assert f"removed the socket file {path}" in closed and not path.exists()


def test_socket_unix_types_and_mismatched_addresses(ex, tmp_path):
    ok(ex, "socket unix")
    assert ex.session.proto == "stream"
    result = run(ex, "connect localhost 80")
    assert result.error.kind == "state" and "unix socket" in result.error.message
    result = run(ex, "bind 127.0.0.1 0")
    assert result.error.kind == "state"
    ok(ex, "close")
    ok(ex, "socket unix tcp")  # tcp and stream are one type
    assert ex.session.proto == "stream"
    ok(ex, "close")
    ok(ex, "socket inet dgram")
    assert ex.session.proto == "udp"
    result = run(ex, f"connect {tmp_path}/x.sock")
    assert result.error.kind == "state" and "needs a unix socket" in result.error.message


def test_permission_denied_on_a_socket_path_for_a_non_root_client():
    """Root bypasses file permissions: a forked child drops to `nobody` (setuid) and runs
    netrepl's executor there, on the modules already loaded (nobody may not read the venv)."""
    if os.getuid() != 0:
        pytest.skip("needs root to run the client as another user (setuid)")
    from netrepl.commands import REGISTRY
    from netrepl.core.executor import Executor

    base = tempfile.mkdtemp(prefix="netrepl-perm-", dir="/tmp")
    try:
        os.chmod(base, 0o755)  # the directory may be traversed: the socket file's own mode decides
        path = os.path.join(base, "root-only.sock")
        server = unix_server(path)
        os.chmod(path, 0o600)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.close(read)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                child = Executor(REGISTRY)
                (step,) = child.run_line(f"connect {path}")
                os.write(write, text_of(step.result).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            shown = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        server.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert "[EACCES 13]" in shown and "permission denied: connecting to" in shown, shown


def test_lab_server_on_a_unix_path(ex, tmp_path):
    path = tmp_path / "lab.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # a stale file the server replaces
    result = ok(ex, f"serve echo {path}")
    assert f"serving echo on unix {path}" in text_of(result) and "removed a stale socket file" in text_of(result)
    assert ex.variables["lab_path"] == str(path) == ex.variables["lab_echo_path"]
    ok(ex, "connect $lab_path")
    ok(ex, "send over unix")
    ok(ex, "expect over unix\\r\\n")
    listing = text_of(ok(ex, "serve"))
    assert f"echo unix {path} (1 connection" in listing
    ok(ex, "close")
    result = run(ex, f"serve http {path}")  # live now: refused
    assert result.error.errname == "EADDRINUSE"
    stopped = ok(ex, f"serve stop {path}")
    assert f"stopped echo unix server on {path}" in text_of(stopped)
    wait_until(lambda: not path.exists(), what="the lab server's socket file to be removed")
    with pytest.raises(ParseError, match="stream server: no udp"):
        ex.parse(f"serve echo {path} udp")


def test_lab_http_on_an_abstract_name_the_kernel_picks(ex):
    ok(ex, "serve http @")
    assert ex.variables["lab_path"].startswith("@")
    ok(ex, "connect $lab_path")
    ok(ex, "send GET / HTTP/1.0\\r\\n")
    ok(ex, "expect HTTP/1.0 200 OK")
    assert "http unix @<name> (" in text_of(ok(ex, "serve"), stable=True)
    assert "peer          @<name>" in text_of(ok(ex, "info"), stable=True)


def test_unix_script_is_stable():
    first = run_cli("--stable", str(ROOT / "scripts" / "unix.nrs"))
    second = run_cli("--stable", str(ROOT / "scripts" / "unix.nrs"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == second.stdout and "@<name>" in first.stdout and "<pid>" in first.stdout


def test_redis_over_its_unix_socket(ex, tmp_path):
    redis = shutil.which("redis-server")
    if redis is None:
        pytest.skip("redis-server is not installed")
    path = tmp_path / "redis.sock"
    proc = subprocess.Popen([redis, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def accepting():
            if proc.poll() is not None:
                return True
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(path))
                except OSError:  # not there yet, or bound but not yet listening
                    return False
            return True

        wait_until(accepting, what="redis to listen on its socket")
        if proc.poll() is not None:
            pytest.skip(f"redis-server exited with {proc.returncode}")
        result = ok(ex, f"connect {path}")
        assert f"pid {proc.pid}" in text_of(result)  # SO_PEERCRED: the daemon itself
        ok(ex, "send PING")
        ok(ex, "expect +PONG\\r\\n")
        ok(ex, "send SET netrepl unix")
        ok(ex, "expect +OK")
        ok(ex, "send GET netrepl")
        ok(ex, "expect $4\\r\\nunix\\r\\n")
    finally:
        proc.terminate()
        proc.wait(30)


def test_completion_offers_files_for_a_unix_path_and_the_toolbar_shows_the_listener(ex, tmp_path):
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from netrepl.commands import REGISTRY
    from netrepl.shell.completer import NetreplCompleter
    from netrepl.shell import toolbar_text

    (tmp_path / "redis.sock").touch()
    text = f"connect {tmp_path}/re"
    got = [c.text for c in NetreplCompleter(REGISTRY).get_completions(Document(text, len(text)), CompleteEvent())]
    assert "dis.sock" in got
    ok(ex, f"listen {tmp_path}/tb.sock")
    bar = "".join(part for _, part in toolbar_text(ex))
    assert f"listening on {tmp_path}/tb.sock" in bar and "no socket, listening" in bar
