"""`resolve` / `reverse` (getaddrinfo in connect's order, gethostbyaddr's herror) and
`setsockopt` (read back from the kernel; SO_LINGER 0 makes `close` a reset a real peer sees).
Only localhost, loopback addresses and .invalid names are looked up."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from conftest import run, run_cli, text_of

NO_NAME = "127.1.2.3"  # on loopback, with no PTR record and no /etc/hosts line on a usual machine


def herror_offline() -> bool:
    try:
        socket.gethostbyaddr(NO_NAME)
    except socket.herror:
        return True
    except OSError:
        return False
    return False


def test_resolve_lists_what_getaddrinfo_returns_in_order(ex):
    result = run(ex, "resolve localhost 80")
    assert result.ok
    expected = socket.getaddrinfo("localhost", 80, socket.AF_UNSPEC, socket.SOCK_STREAM)
    text = text_of(result, stable=True)
    assert f"getaddrinfo localhost:80 (AF_UNSPEC, tcp): {len(expected)} address" in text
    assert "in <time>" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("  ") and line.split()[0].isdigit()]
    shown = [row[3].rsplit(":", 1)[0].strip("[]") for row in rows]
    assert shown == [address[0] for *_, address in expected]


def test_resolve_takes_a_service_name_and_follows_the_socket_family(ex):
    assert "127.0.0.1:80" in text_of(run(ex, "resolve 127.0.0.1 http"))
    run(ex, "socket inet6")
    result = run(ex, "resolve 127.0.0.1 80")
    assert result.error.kind == "address" and "AF_INET6" in result.error.message


def test_resolve_a_name_that_does_not_exist_is_an_address_error():
    p = run_cli("-c", "resolve nonexisting.invalid; must-fail address resolve nonexisting.invalid")
    assert p.returncode == 1
    assert "error: resolve: address-related error (socket.gaierror) [EAI_NONAME -2]" in p.stdout
    p = run_cli("-c", "must-fail address resolve nonexisting.invalid")
    assert p.returncode == 0, p.stdout + p.stderr


def test_reverse_names_localhost(ex):
    result = run(ex, "reverse 127.0.0.1")
    assert result.ok, text_of(result)
    assert "gethostbyaddr('127.0.0.1'): " in text_of(result)


def test_reverse_of_an_address_with_no_name_is_herror_assertable_with_must_fail():
    if not herror_offline():
        pytest.skip(f"this machine's resolver names {NO_NAME} (or fails otherwise): no herror to see")
    p = run_cli("-c", f"reverse {NO_NAME}")
    assert p.returncode == 1
    assert (f"error: reverse: other address error (socket.herror) [HOST_NOT_FOUND 1]: Unknown host "
            f"(gethostbyaddr '{NO_NAME}')") in p.stdout
    for kind in ("other-address", "HOST_NOT_FOUND"):
        ok = run_cli("-c", f"must-fail {kind} reverse {NO_NAME}")
        assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = run_cli("-c", f"must-fail address reverse {NO_NAME}")
    assert wrong.returncode == 1 and "got other-address" in wrong.stdout


def test_stable_masks_a_lab_port_asked_for(lab):
    p = run_cli("--stable", "-c", "serve echo 0; resolve localhost $lab_port")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "getaddrinfo localhost:<port> (AF_UNSPEC, tcp)" in p.stdout and "127.0.0.1:<port>" in p.stdout


def test_stable_masks_the_lookup_time():
    first = run_cli("--stable", "-c", "resolve localhost 80; reverse 127.0.0.1")
    second = run_cli("--stable", "-c", "resolve localhost 80; reverse 127.0.0.1")
    assert first.returncode == 0 and first.stdout == second.stdout
    assert first.stdout.count("in <time>") == 2


# ----- socket options -----------------------------------------------------------------------

def test_options_are_set_and_read_back_from_the_kernel(ex):
    run(ex, "socket")
    sock = ex.session.sock
    assert run(ex, "setsockopt nodelay on").ok
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert run(ex, "setsockopt keepalive on").ok and sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    assert run(ex, "setsockopt reuseaddr on").ok and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    result = run(ex, "setsockopt rcvbuf 65536")
    actual = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert f"SO_RCVBUF set to 65536 bytes; getsockopt says {actual} bytes" in text_of(result)
    if actual != 65536:
        assert "Linux doubles the size" in text_of(result)
    assert run(ex, "setsockopt nodelay off").ok
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    info = text_of(run(ex, "info"))
    assert "  options   TCP_NODELAY   off" in info and f"SO_RCVBUF     {actual} bytes" in info
    assert "SO_KEEPALIVE  on" in info


def test_info_shows_options_with_o_or_once_one_is_set(ex):
    run(ex, "socket inet udp")
    assert "options" not in text_of(run(ex, "info"))
    udp = text_of(run(ex, "info -o"))
    assert "SO_RCVBUF" in udp and "TCP_NODELAY" not in udp  # no TCP option on a UDP socket
    result = run(ex, "setsockopt nodelay on")
    assert result.error.kind == "io" and result.error.errname == "ENOPROTOOPT"


def test_setsockopt_needs_a_socket_and_a_valid_value():
    p = run_cli("-c", "setsockopt nodelay on")
    assert p.returncode == 1 and "no socket" in p.stdout
    for line, words in (("setsockopt nodelay maybe", "expected on|off"), ("setsockopt linger -1", "below the minimum"),
                        ("setsockopt bogus 1", "unknown setting 'bogus'")):
        p = run_cli("-c", line)
        assert p.returncode == 2 and words in p.stderr, p.stderr


def test_linger_zero_makes_close_a_reset_the_peer_sees(ex):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        run(ex, "socket")
        result = run(ex, "setsockopt linger 0")
        assert "SO_LINGER set to on, 0 s" in text_of(result) and "`close` now sends a reset" in text_of(result)
        assert struct.unpack("ii", ex.session.sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (1, 0)
        run(ex, f"connect 127.0.0.1 {port}")
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            assert run(ex, "close").ok
            seen = []

            def read():
                try:
                    seen.append(conn.recv(10))
                except OSError as exc:
                    seen.append(exc)

            reader = threading.Thread(target=read)
            reader.start()
            reader.join(15)
            assert seen and isinstance(seen[0], ConnectionResetError), seen


def test_linger_off_closes_with_a_fin(ex):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        run(ex, "socket")
        run(ex, "setsockopt linger 0")
        run(ex, "setsockopt linger off")
        run(ex, f"connect 127.0.0.1 {listener.getsockname()[1]}")
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            run(ex, "close")
            assert conn.recv(10) == b""  # end of stream, no reset


def test_setsockopt_records_and_replays(tmp_path):
    script = tmp_path / "rec.nrs"
    p = run_cli("-c", f"socket; record {script}; setsockopt nodelay on; setsockopt linger 0; info -o; record stop",
                cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    text = script.read_text()
    assert "setsockopt nodelay on\nsetsockopt linger 0\ninfo -o\n" in text
    again = run_cli(str(script), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


def test_record_writes_a_lab_port_resolved_as_its_variable(tmp_path):
    script = tmp_path / "rec.nrs"
    p = run_cli("-c", f"serve echo 0; record {script}; resolve localhost $lab_port; record stop", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert script.read_text() == "serve echo 0 tcp\nresolve localhost $lab_port\n"
    again = run_cli(str(script), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
