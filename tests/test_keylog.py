"""`set tls keylog FILE` and SSLKEYLOGFILE: NSS key log lines for every handshake, client or server side.

The file is created 0600 and never written through a symlink (refused with a
sentence, at `set tls keylog` or, for SSLKEYLOGFILE, at the handshake). Where
capture rights exist (dumpcap on lo), tshark decrypts a capture of the same
handshake with the key log netrepl wrote; the test skips otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest

from conftest import run, run_cli, text_of

LINE_KINDS = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
              "SERVER_TRAFFIC_SECRET_0")


def _secrets(path) -> dict[str, set[str]]:
    """Label -> the client randoms logged under it."""
    out: dict[str, set[str]] = {}
    for line in open(path).read().splitlines():
        if line and not line.startswith("#"):
            label, random, _ = line.split(" ")
            out.setdefault(label, set()).add(random)
    return out


def test_a_client_handshake_appends_its_secrets_to_a_private_file(ex, lab, tmp_path):
    server = lab("https")
    log = tmp_path / "keys.log"
    said = run(ex, f"set tls keylog {log}")
    assert said.ok and f"every handshake appends its secrets to {log}" in text_of(said)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600 and log.stat().st_size == 0  # created at once, private
    for line in (f"set tls ca {server_ca()}", f"connect localhost {server.port}", "tls", "close",
                 f"connect localhost {server.port}", "tls", "close"):
        assert run(ex, line).ok, line
    secrets = _secrets(log)
    assert set(LINE_KINDS) <= set(secrets) and len(secrets["CLIENT_TRAFFIC_SECRET_0"]) == 2  # appended, both
    assert re.search(rf"keylog +{re.escape(str(log))}\n", text_of(run(ex, "set tls")))


def server_ca() -> str:
    from netrepl.lab.tlskinds import CA

    return str(CA)


def test_the_server_side_logs_its_handshakes_too(ex, tmp_path):
    log = tmp_path / "server.log"
    assert run(ex, f"set tls keylog {log}").ok
    assert run(ex, "listen 127.0.0.1 0").ok
    port = ex.session.listener.address.port
    ctx = ssl.create_default_context(cafile=server_ca())
    ctx.keylog_filename = str(tmp_path / "client.log")  # the client's own view, to compare
    box = {}

    def client():
        with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            box["got"] = tls.recv(10)
    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert run(ex, "accept").ok
        assert run(ex, "tls --server").ok
        assert run(ex, "send hi").ok
    finally:
        thread.join(20)
    assert box["got"] == b"hi\r\n"
    ours, theirs = _secrets(log), _secrets(tmp_path / "client.log")
    assert ours["SERVER_TRAFFIC_SECRET_0"] == theirs["SERVER_TRAFFIC_SECRET_0"]  # the same session, both sides
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def test_a_symlink_is_refused_and_nothing_is_written_where_it_points(ex, tmp_path):
    target = tmp_path / "victim"
    link = tmp_path / "keys.log"
    link.symlink_to(target)
    refused = run(ex, f"set tls keylog {link}")
    assert refused.error is not None and refused.error.kind == "file"
    assert "it is a symbolic link; a key log is never written through one" in text_of(refused)
    assert not target.exists()
    assert re.search(r"keylog +none\n", text_of(run(ex, "set tls keylog")))


def test_a_symlink_in_sslkeylogfile_stops_the_handshake_before_anything_is_sent(tmp_path, lab):
    server = lab("https")
    target = tmp_path / "victim"
    (tmp_path / "keys.log").symlink_to(target)
    done = run_cli("-c", f"set tls ca {server_ca()}; connect localhost {server.port}; must-fail file tls",
                   env={"SSLKEYLOGFILE": str(tmp_path / "keys.log")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SSLKEYLOGFILE" in done.stdout and "it is a symbolic link" in done.stdout
    assert not target.exists()


def test_sslkeylogfile_is_honoured_private_and_set_tls_keylog_none_turns_it_off(tmp_path, lab):
    server = lab("https")
    log = tmp_path / "env.log"
    env = {"SSLKEYLOGFILE": str(log)}
    script = f"set tls keylog; set tls ca {server_ca()}; connect localhost {server.port}; tls; close"
    done = run_cli("-c", script, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"keylog +{re.escape(str(log))} \(SSLKEYLOGFILE\)", done.stdout)
    assert "CLIENT_TRAFFIC_SECRET_0" in log.read_text() and stat.S_IMODE(os.stat(log).st_mode) == 0o600
    before = log.read_text()
    done = run_cli("-c", "set tls keylog none; " + script, env=env)
    assert done.returncode == 0 and f"(SSLKEYLOGFILE={log} is ignored)" in done.stdout
    assert log.read_text() == before


def test_an_existing_key_log_readable_by_others_is_warned_about(ex, tmp_path):
    log = tmp_path / "open.log"
    log.write_text("")
    os.chmod(log, 0o644)
    said = run(ex, f"set tls keylog {log}")
    assert said.ok and f"warning: {log} can be read by others" in text_of(said)


def test_a_key_log_in_a_missing_directory_is_a_sentence(ex, tmp_path):
    refused = run(ex, f"set tls keylog {tmp_path}/no/such/keys.log")
    assert refused.error.kind == "file" and "cannot open it to append: No such file or directory" in text_of(refused)


# ----- tshark decrypts a real capture with it ---------------------------------------------------


def _capture(path, port):
    """dumpcap on lo for PORT; None (the test skips) without capture rights."""
    dumpcap = shutil.which("dumpcap")
    if dumpcap is None or shutil.which("tshark") is None:
        return None
    proc = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f", f"tcp port {port}", "-a", "duration:60", "-w",
                             str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # dumpcap writes the file's header once it captures
        if proc.poll() is not None:
            return None
        if path.exists() and path.stat().st_size > 0:
            time.sleep(0.3)
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    return None


def test_tshark_decrypts_a_capture_of_the_handshake_with_the_key_log(ex, lab, tmp_path):
    server = lab("https")
    capture = tmp_path / "lo.pcapng"
    dumper = _capture(capture, server.port)
    if dumper is None:
        pytest.skip("no capture here: dumpcap/tshark missing or no rights to capture on lo")
    log = tmp_path / "keys.log"
    try:
        for line in (f"set tls keylog {log}", f"set tls ca {server_ca()}", f"connect localhost {server.port}",
                     "tls", "send GET /hello.txt HTTP/1.0\\r\\n", "recv all", "close"):
            assert run(ex, line).ok, line
        time.sleep(0.5)
    finally:
        dumper.terminate()
        dumper.wait(30)
        dumper.stderr.close()
    fields = ["-T", "fields", "-e", "http.request.method", "-e", "http.request.uri", "-e", "http.response.code"]
    plain = subprocess.run(["tshark", "-r", str(capture), "-Y", "http", *fields], capture_output=True, text=True,
                           timeout=60)
    assert plain.stdout.strip() == ""  # without the key log: TLS only
    done = subprocess.run(["tshark", "-r", str(capture), "-o", f"tls.keylog_file:{log}", "-d",
                           f"tcp.port=={server.port},tls", "-Y", "http", *fields], capture_output=True, text=True,
                          timeout=60)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert ["GET", "/hello.txt", ""] in rows and any(r[2] == "200" for r in rows), done.stdout + done.stderr


def test_tshark_decrypts_the_server_side_with_the_key_log_too(ex, tmp_path):
    assert run(ex, "listen 127.0.0.1 0").ok
    port = ex.session.listener.address.port
    capture = tmp_path / "server.pcapng"
    dumper = _capture(capture, port)
    if dumper is None:
        pytest.skip("no capture here: dumpcap/tshark missing or no rights to capture on lo")
    log = tmp_path / "server-keys.log"
    ctx = ssl.create_default_context(cafile=server_ca())
    box = {}

    def client():
        with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /from-the-client HTTP/1.0\r\n\r\n")
            box["got"] = tls.recv(100)
    thread = threading.Thread(target=client)
    try:
        assert run(ex, f"set tls keylog {log}").ok
        thread.start()
        for line in ("accept", "tls --server", "expect \\r\\n\\r\\n",
                     "send HTTP/1.0 404 Not Found\\r\\nContent-Length: 0\\r\\n", "close"):
            assert run(ex, line).ok, line
        thread.join(20)
        time.sleep(0.5)
    finally:
        dumper.terminate()
        dumper.wait(30)
        dumper.stderr.close()
    assert box["got"].startswith(b"HTTP/1.0 404")
    done = subprocess.run(["tshark", "-r", str(capture), "-o", f"tls.keylog_file:{log}", "-d", f"tcp.port=={port},tls",
                           "-Y", "http", "-T", "fields", "-e", "http.request.uri", "-e", "http.response.code"],
                          capture_output=True, text=True, timeout=60)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert ["/from-the-client", ""] in rows and ["", "404"] in rows, done.stdout + done.stderr
