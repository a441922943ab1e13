"""`netrepl export` of the commands beyond the worksheet's: bytes in hex and from files,
reads by amount and by silence, resolve/reverse, setsockopt, the server side (listen,
accept, reply, lab clients), Unix sockets, TLS and STARTTLS.

Each scenario runs in netrepl and as the exported program against the same servers
(lab servers, or fixture servers on loopback): the same data and exit status
(tests/test_export.py's export_and_compare), plus what the generated code must say.
"""

from __future__ import annotations

import pytest

from conftest import run_cli
from test_export import export_and_compare


def compare(tmp_path, name, text, variables=None):
    path = tmp_path / f"{name}.nrs"
    path.write_text(text)
    program, out, err = export_and_compare(path, variables or {}, tmp_path)
    return program, out, err, (tmp_path / f"{name}.py").read_text()


# ----- bytes, amounts, files ---------------------------------------------------------------------

def test_hex_files_exact_and_quiet_reads(tmp_path):
    payload = tmp_path / "payload.bin"  # (netrepl runs in a directory of its own: the path in full)
    payload.write_bytes(b"\x00\xff from a file\r\n")
    program, out, err, source = compare(tmp_path, "bytes", f"""serve echo 0
connect localhost $lab_port
send -x 00 01 fe ff
recv exactly 4
send < {payload}
recv exactly 16 > exact.out
send -n quiet
recv quiet 0.3
close
serve echo 0 udp
sendto localhost $lab_port -x 68 69
recvfrom
sendto localhost $lab_port < {payload}
recv 100
reply -l again
recvfrom
close
""")
    assert "sock.sendall(b'\\x00\\x01\\xfe\\xff')" in source  # exactly those bytes: no line ending
    assert f"send_file(sock, {str(payload)!r})" in source and "recv_exactly(" in source and "recv_quiet(" in source
    assert "sock.sendto(b'again\\r\\n', sender)" in source  # reply answers the last datagram's sender
    assert (tmp_path / "exact.out").read_bytes() == (tmp_path / "netrepl" / "exact.out").read_bytes() == \
        b"\x00\xff from a file\r\n"
    assert "quiet" in out and "again" in out


def test_recv_exactly_at_end_of_stream_is_kind_eof(tmp_path):
    program, out, err, source = compare(tmp_path, "eof", """serve close 0
connect localhost $lab_port
must-fail eof recv exactly 100000
close
""")
    assert "except EndOfStream as exc:" in source and "failed as expected (eof)" in err


# ----- names and options ----------------------------------------------------------------------------

def test_resolve_reverse_and_their_failures(tmp_path):
    program, out, err, source = compare(tmp_path, "names", """resolve 127.0.0.1 80
resolve localhost http
must-fail address resolve nonexisting.invalid
must-fail other-address reverse 127.1.2.3
must-fail HOST_NOT_FOUND reverse 127.1.2.3
print done
""")
    assert "socket.herror" in source and "errno.HOST_NOT_FOUND" not in source  # h_errno, not an errno
    assert "if exc.errno != 1:  # HOST_NOT_FOUND" in source
    assert out == "done\n" and "getaddrinfo '127.0.0.1' port 80: 1 address(es)" in err


@pytest.mark.parametrize("option, value, constant", [
    ("nodelay", "off", "TCP_NODELAY"), ("keepalive", "on", "SO_KEEPALIVE"), ("reuseaddr", "on", "SO_REUSEADDR"),
    ("linger", "off", "SO_LINGER"), ("linger", "3", "SO_LINGER"), ("rcvbuf", "65536", "SO_RCVBUF"),
    ("sndbuf", "65536", "SO_SNDBUF")])
def test_setsockopt_sets_and_reads_back(tmp_path, option, value, constant):
    program, out, err, source = compare(tmp_path, "opt", f"""serve echo 0
connect localhost $lab_port
setsockopt {option} {value}
send hi
expect hi
close
""")
    assert f"socket.{constant}, " in source and f"option_value(sock, {option!r})" in source
    if option == "linger":
        assert ("struct.pack('ii', 1, 3)" if value == "3" else "struct.pack('ii', 0, 0)") in source
    said = {"off": "off", "on": "on", "3": "on, 3 s"}.get(value)
    assert f"{constant} set to " in err and (said is None or err.split("getsockopt says", 1)[1].split("\n")[0].strip()
                                             == said)


def test_timing_is_a_note_after_a_connect_and_refused_before_one(tmp_path):
    program, out, err, source = compare(tmp_path, "timing", "serve echo 0\nconnect localhost $lab_port\ntiming\nclose\n")
    assert "timing: not measured by this program" in err
    path = tmp_path / "early.nrs"
    path.write_text("print x\ntiming\n")
    done = run_cli("export", str(path))
    assert done.returncode == 2 and f"{path}:2: `timing` before any connect" in done.stderr


# ----- the server side ------------------------------------------------------------------------------

def test_listen_accept_and_each_lab_client(tmp_path):
    program, out, err, source = compare(tmp_path, "listen", """listen 127.0.0.1 0
client quiet $listen_port
accept
send -n to the quiet client
close
client line
accept
expect hello from the netrepl lab client\\r\\n
close
client
client stop
timeout 0.3
must-fail timeout accept
close listener
""")
    assert "listener = listen('127.0.0.1', 0)" in source and "listen_port = listener.getsockname()[1]" in source
    assert "lab_client(b'', listen_port, listener)" in source and "except TimeoutError" in source
    assert out == "hello from the netrepl lab client\r\n"


def test_unix_paths_listen_connect_datagrams_and_a_missing_path(tmp_path):
    sock_dir = tmp_path / "s"
    sock_dir.mkdir()
    program, out, err, source = compare(tmp_path, "unix", f"""serve echo {sock_dir}/echo.sock
connect {sock_dir}/echo.sock
send over a path
expect over a path\\r\\n
close
listen {sock_dir}/l.sock
client line {sock_dir}/l.sock
accept
expect hello from
close all
must-fail ENOENT connect {sock_dir}/missing.sock
must-fail refused connect @netrepl-export-test-nobody-{id(tmp_path)}
socket unix dgram
bind {sock_dir}/d.sock
close
print bye
""")
    assert f"connect_unix({str(sock_dir / 'echo.sock')!r}, timeout)" in source
    assert f"'\\x00netrepl-export-test-nobody-{id(tmp_path)}'" in source  # @NAME: the abstract namespace
    assert f"remove_socket_file({str(sock_dir / 'd.sock')!r})" in source
    assert out == "over a path\r\nhello from\nbye\n"
    assert not (sock_dir / "l.sock").exists() and not (sock_dir / "d.sock").exists()  # removed on close
