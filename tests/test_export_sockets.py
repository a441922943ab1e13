"""`netrepl export` of the commands beyond the worksheet's: bytes in hex and from files,
reads by amount and by silence, resolve/reverse, setsockopt, the server side (listen,
accept, reply, lab clients), Unix sockets, TLS and STARTTLS.

Each scenario runs in netrepl and as the exported program against the same servers
(lab servers, or fixture servers on loopback): the same data and exit status
(tests/test_export.py's export_and_compare), plus what the generated code must say.
"""

from __future__ import annotations

import re
import threading

import pytest

from conftest import run_cli
from test_export import export_and_compare
from test_starttls import REFUSALS, script_server
from netrepl.core.starttls import SSL_REQUEST
from netrepl.export import export_file


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
    assert f"send_file(sock, {str(payload)!r}, timeout)" in source and "recv_exactly(" in source and "recv_quiet(" in source
    assert "sock.sendto(b'again\\r\\n', sender)" in source  # reply answers the last datagram's sender
    assert (tmp_path / "exact.out").read_bytes() == (tmp_path / "netrepl" / "exact.out").read_bytes() == \
        b"\x00\xff from a file\r\n"
    assert "quiet" in out and "again" in out


def test_recv_all_with_nothing_read_before_reads_the_whole_stream(tmp_path):
    # No expect or recv line before it: nothing is pending, and recv all still reads to end of stream.
    program, out, err, source = compare(tmp_path, "all", "serve http 0\nconnect localhost $lab_port\n"
                                                         "send GET /hello.txt HTTP/1.0\\r\\n\nrecv all\nclose\n")
    assert out.startswith("HTTP/1.0 200 OK") and out.endswith("hello from the netrepl lab server\n"), err


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


def netrepl_says(tmp_path, line) -> str:
    """The lines netrepl shows for one command after a connect (its state mark taken off)."""
    (tmp_path / "cli").mkdir(exist_ok=True)  # (not tmp_path: its netrepl/ directory would shadow the package)
    done = run_cli("-c", f"serve echo 0; connect localhost $lab_port; {line}; close", cwd=tmp_path / "cli")
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout.split(f"netrepl> {line}\n", 1)[1].split("netrepl> ", 1)[0]
    return re.sub(r"  \[[^]\n]*\]$", "", said.rstrip("\n"))


@pytest.mark.parametrize("option, value, constant", [
    ("nodelay", "off", "TCP_NODELAY"), ("keepalive", "on", "SO_KEEPALIVE"), ("reuseaddr", "on", "SO_REUSEADDR"),
    ("linger", "off", "SO_LINGER"), ("linger", "3", "SO_LINGER"), ("linger", "0", "SO_LINGER"),
    ("rcvbuf", "65536", "SO_RCVBUF"), ("sndbuf", "65536", "SO_SNDBUF"), ("rcvbuf", "1000", "SO_RCVBUF")])
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
        assert {"3": "struct.pack('ii', 1, 3)", "0": "struct.pack('ii', 1, 0)", "off": "struct.pack('ii', 0, 0)"}[value] \
            in source
    said = {"off": "off", "on": "on", "3": "on, 3 s", "0": "on, 0 s (close sends a reset)"}.get(value)
    assert f"{constant} set to " in err and (said is None or err.split("getsockopt says", 1)[1].split("\n")[0].strip()
                                             == said)
    assert netrepl_says(tmp_path, f"setsockopt {option} {value}") + "\n" in err  # netrepl's words, each line


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
    assert out == "hello from the netrepl lab client\\r\n"


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
    assert out == "over a path\\r\nhello from the netrepl lab client\\r\nbye\n"  # expect takes its whole line
    assert not (sock_dir / "l.sock").exists() and not (sock_dir / "d.sock").exists()  # removed on close


# ----- TLS ------------------------------------------------------------------------------------------

TLS_SETTINGS = """serve https 0
set tls ca $lab_ca
set tls alpn h2,http/1.1
set tls min 1.2
set tls max 1.3
set tls sni off
connect localhost $lab_port
tls localhost
send GET / HTTP/1.0\\r\\n
expect 200 OK
recv all > /dev/null
close
serve tls-wrong-host 0
connect localhost $lab_port
must-fail hostname-mismatch tls
set tls sni on
connect localhost $lab_port
must-fail X509_V_ERR_HOSTNAME_MISMATCH tls
serve tls-unknown-ca 0
connect localhost $lab_port
must-fail verify tls
serve tls-expired 0
connect localhost $lab_port
must-fail expired tls
serve smtp 0
connect localhost $lab_port
must-fail plaintext tls
print after
"""


def test_tls_settings_and_verify_failures_under_must_fail(tmp_path):
    program, out, err, source = compare(tmp_path, "tls", TLS_SETTINGS)
    assert "context.set_alpn_protocols(['h2', 'http/1.1'])" in source
    assert "context.minimum_version = ssl.TLSVersion.TLSv1_2" in source
    assert "context.maximum_version = ssl.TLSVersion.TLSv1_3" in source
    assert "sock = context.wrap_socket(sock)  # set tls sni off" in source and "check_name(sock, 'localhost')" in source
    assert "if exc.verify_code not in (62,):" in source and "if exc.verify_code not in (10,):" in source
    assert "except ssl.SSLCertVerificationError as exc:" in source
    assert "'--lab-tls-wrong-host-port'" in source  # a kind with a hyphen: a valid option and identifier
    assert "failed as expected (plaintext)" in err and out.endswith("after\n")  # (smtp's banner is no TLS)


def test_a_verify_failure_not_under_must_fail_exits_1(tmp_path):
    program, out, err, source = compare(tmp_path, "self", "serve tls-self-signed 0\nconnect localhost $lab_port\ntls\n"
                                                          "print never\n")
    assert out == "" and "SSLCertVerificationError" in err


@pytest.mark.parametrize("proto", ["smtp", "imap", "pop3", "ftp", "postgres"])
def test_starttls_of_each_lab_protocol(tmp_path, proto):
    program, out, err, source = compare(tmp_path, proto, f"""serve {proto} 0
set tls ca $lab_ca
connect localhost $lab_port
starttls {proto}
close
print upgraded
""")
    assert out == "upgraded\n" and "TLSv1" in err


def test_starttls_behind_an_injection_discards_the_plaintext(tmp_path):
    program, out, err, source = compare(tmp_path, "inject", """serve echo 0
serve smtp-inject 0
set tls ca $lab_ca
connect localhost $lab_port
starttls smtp
send QUIT
expect 221
close
""")
    assert "discarded" in err and out == "221 2.0.0 Bye\\r\n"  # expect takes its whole line
    assert "'--lab-smtp-inject-port', dest='lab_smtp_inject_port'" in source  # a hyphen: still an identifier


class Recorder:
    """What each connection to a fixture server sent: the bytes netrepl and the program put on the wire."""

    def __init__(self, tcp_server, handle):
        self.sent: list[bytearray] = []
        self.lock = threading.Lock()

        def recording(conn):
            with self.lock:
                self.sent.append(bytearray())
                mine = self.sent[-1]
            original = conn.recv

            class Conn:
                def __getattr__(self, name):
                    return getattr(conn, name)

                def recv(self, size):
                    data = original(size)
                    mine.extend(data)
                    return data
            handle(Conn())
        self.port = tcp_server(recording).port


@pytest.mark.parametrize("proto, greeting, answers, said", REFUSALS, ids=lambda v: v if isinstance(v, str) else None)
def test_a_refused_starttls_sends_the_same_bytes_and_fails_the_same(tmp_path, tcp_server, proto, greeting, answers,
                                                                     said):
    servers = []

    def recording_server(handle):  # test_starttls's script_server, its connections recorded
        servers.append(Recorder(tcp_server, handle))
        return servers[-1]
    if proto == "postgres":
        recording_server(lambda conn: (conn.recv(8), conn.sendall(b"N"), conn.close()))
    else:
        script_server(recording_server, greeting, answers)
    recorder = servers[0]
    program, out, err, source = compare(tmp_path, "refused", f"""connect 127.0.0.1 {recorder.port}
must-fail starttls starttls {proto}
print refused as expected
""")
    assert out == "refused as expected\n" and "StartTlsRefused" in err
    assert len(recorder.sent) == 2 and recorder.sent[0] == recorder.sent[1]  # byte for byte on the wire
    if proto == "postgres":
        assert bytes(recorder.sent[1]) == SSL_REQUEST
    # Not under must-fail: the refusal ends the program with status 1, as netrepl's run.
    program, out, err, source = compare(tmp_path, "refused2", f"connect 127.0.0.1 {recorder.port}\n"
                                                              f"starttls {proto}\nprint never\n")
    assert out == "" and "error: StartTlsRefused" in err


def test_export_of_a_tls_session_in_the_shell(tmp_path):
    target = tmp_path / "s.py"
    done = run_cli("-c", f"serve https 0; set tls ca $lab_ca; connect localhost $lab_port; tls; close; export {target}",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    source = target.read_text()
    assert "context = tls_context(" in source and "sock = context.wrap_socket(sock, server_hostname='localhost')" \
        in source


def test_tls_shutdown_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "sh.nrs"
    path.write_text("serve tls-echo 0\nset tls ca $lab_ca\nconnect localhost $lab_port\ntls\nshutdown 1\n")
    with pytest.raises(Exception) as caught:
        export_file(str(path))
    assert "close_notify" in str(caught.value) and f"{path}:5" in str(caught.value)


def test_serve_replay_names_its_recording_and_plays_it(tmp_path):
    from conftest import ROOT

    recording = ROOT / "scripts" / "peers" / "connect3.nrs"
    program, out, err, source = compare(tmp_path, "replay", f"""serve replay {recording} 0
socket inet tcp
connect localhost $lab_port
info
close
print replayed
""")
    assert f"netrepl serve replay {recording} --port PORT and give --lab-port PORT" in source
    assert out == "replayed\n"


# ----- connect again --------------------------------------------------------------------------

def test_connect_again_closes_the_connection_in_the_program_too(tmp_path):
    """Issue 16: `connect` on a connection closes it and connects anew; the exported program does
    the same (it used to be refused: a TCP socket connects once). A Unix one and back, too."""
    sock = tmp_path / "echo.sock"
    program, out, err, source = compare(tmp_path, "again", f"""serve echo 0
serve echo {sock}
connect localhost $lab_port
send first
recv line
connect localhost $lab_port
send second
recv line
connect {sock}
send third
recv line
connect localhost $lab_port
send fourth
recv line
close
""")
    assert out == "first\\r\nsecond\\r\nthird\\r\nfourth\\r\n"
    assert source.count("# connect again: netrepl closes the connection there was") == 3
    # To HOST PORT the new name is resolved first (one that does not resolve keeps the connection).
    assert source.count("sock = end_connection(sock, 'localhost', args.lab_port)  # connect again") == 2


def test_recv_to_dash_is_standard_output_in_the_program_too(tmp_path):
    program, out, err, source = compare(tmp_path, "dash", """serve echo 0
connect localhost $lab_port
send hello, world
shutdown 1
recv exactly 3 > -
recv all > -
""")
    assert out == "hel\nlo, world\\r\n"
    assert "'-'" not in source  # no file named -
    assert not (tmp_path / "-").exists()
