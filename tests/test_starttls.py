"""`starttls PROTO`: each protocol's upgrade against a real server on loopback (the lab kinds, and
fixture servers that refuse, stall, close or send hostile bytes), then the same handshake as `tls`."""

from __future__ import annotations

import socket
import time

import pytest

from conftest import run, run_cli, text_of
from netrepl.lab.kinds import LAB_CA

# The rest of the conversation over TLS after the upgrade, and what it must answer.
AFTER = {
    "smtp": ("send EHLO lab.invalid", "expect /250 HELP\\r\\n/", "send QUIT", "expect 221"),
    "imap": ("send a003 CAPABILITY", "expect AUTH=PLAIN", "send a004 LOGOUT", "expect a004 OK"),
    "pop3": ("send CAPA", "expect USER", "send QUIT", "expect +OK bye"),
    "ftp": ("send PBSZ 0", "expect 200 PBSZ=0", "send QUIT", "expect 221 Goodbye"),
    "postgres": ("send -n \\x00\\x00\\x00\\x09\\x00\\x03\\x00\\x00\\x00", "expect C28000"),
}
FIRST_SENT = {"smtp": "> EHLO [127.0.0.1]", "imap": "> a001 CAPABILITY", "pop3": "> CAPA", "ftp": "> AUTH TLS",
              "postgres": "> SSLRequest (8 bytes: 00 00 00 08 04 d2 16 2f)"}


def connected(ex, lab, kind_or_port, timeout=None):
    port = lab(kind_or_port).port if isinstance(kind_or_port, str) else kind_or_port
    run(ex, f"set tls ca {LAB_CA}")
    if timeout is not None:
        run(ex, f"timeout {timeout}")
    assert run(ex, f"connect 127.0.0.1 {port}").ok
    return port


@pytest.mark.parametrize("proto", ["smtp", "imap", "pop3", "ftp", "postgres"])
def test_each_protocol_upgrades_the_same_connection_and_the_dialogue_goes_on_over_tls(ex, lab, proto):
    connected(ex, lab, proto)
    result = run(ex, f"starttls {proto} localhost")
    shown = text_of(result)
    assert result.ok, shown
    assert FIRST_SENT[proto] in shown and "< " in shown
    assert "verify" in shown and "ok" in shown
    assert result.state.startswith("tcp connected, tls 1.")
    for line in AFTER[proto]:
        step = run(ex, line)
        assert step.ok, (line, text_of(step))


def test_smtp_shows_every_line_in_order(ex, lab):
    connected(ex, lab, "smtp")
    lines = text_of(run(ex, "starttls smtp localhost")).splitlines()
    exchange = [line for line in lines if line[:2] in ("> ", "< ")]
    assert exchange == ["< 220 localhost ESMTP netrepl lab (lab use only)", "> EHLO [127.0.0.1]",
                        "< 250-localhost greets [127.0.0.1]", "< 250-8BITMIME", "< 250-STARTTLS", "< 250 HELP",
                        "> STARTTLS", "< 220 2.0.0 Ready to start TLS"]
    assert ex.session.sent == len(b"EHLO [127.0.0.1]\r\nSTARTTLS\r\n")


def test_the_name_is_checked_and_minus_k_gets_through(ex, lab):
    port = connected(ex, lab, "smtp")
    result = run(ex, "starttls smtp wrong-host.invalid")
    assert result.error.kind == "verify" and result.error.errname == "X509_V_ERR_HOSTNAME_MISMATCH"
    assert "> STARTTLS" in text_of(result)  # the dialogue is shown before the failure
    run(ex, "close")
    run(ex, f"connect 127.0.0.1 {port}")
    result = run(ex, "starttls -k smtp wrong-host.invalid")
    assert result.ok, text_of(result)


def test_an_injection_behind_the_220_is_warned_about_and_kept_out_of_tls(ex, lab):
    connected(ex, lab, "smtp-inject")
    result = run(ex, "starttls smtp localhost")
    shown = text_of(result)
    assert result.ok, shown
    assert "warning: 54 bytes received in plaintext before the handshake" in shown
    assert "250 injected before TLS" in shown
    assert run(ex, "send NOOP").ok
    got = run(ex, "recv line")
    assert got.data == b"250 2.0.0 OK\r\n"  # the TLS stream, not the injected line


# ----- refusals: fixture servers that say no ------------------------------------------

def script_server(tcp_server, greeting: bytes, answers: dict[bytes, bytes]):
    """A plaintext server: `greeting`, then for each line the answer its first word maps to."""
    def handle(conn):
        conn.settimeout(10)
        if greeting:
            conn.sendall(greeting)
        buf = b""
        while chunk := conn.recv(4096):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.split()
                key = words[1] if words and words[0].lower().startswith(b"a0") and len(words) > 1 else \
                    words[0] if words else b""
                conn.sendall(answers.get(key.upper(), b""))
    return tcp_server(handle).port


REFUSALS = [
    ("smtp", b"220 mx ESMTP\r\n", {b"EHLO": b"250-mx\r\n250 SIZE 10\r\n", b"STARTTLS": b"454 4.7.0 TLS not available\r\n"},
     "454 4.7.0 TLS not available"),
    ("smtp", b"554 5.3.2 no service\r\n", {}, "the greeting: the server answered '554 5.3.2 no service', not 220"),
    ("imap", b"* OK hi\r\n", {b"CAPABILITY": b"* CAPABILITY IMAP4rev1\r\na001 OK done\r\n",
                              b"STARTTLS": b"a002 NO not now\r\n"}, "the server refused STARTTLS: 'a002 NO not now'"),
    ("imap", b"* BYE go away\r\n", {}, "the greeting is not `* OK`: '* BYE go away'"),
    ("pop3", b"+OK hi\r\n", {b"CAPA": b"-ERR no capa\r\n", b"STLS": b"-ERR nope\r\n"}, "the server refused STLS: '-ERR nope'"),
    ("ftp", b"220-welcome\r\n220 ftp\r\n", {b"AUTH": b"534 policy says no\r\n"},
     "the server refused AUTH TLS: the server answered '534 policy says no', not 234"),
    ("postgres", b"", {}, "closed the connection instead of answering the SSLRequest"),
]


@pytest.mark.parametrize("proto, greeting, answers, said", REFUSALS)
def test_a_refusal_is_a_tls_failure_quoting_the_server(ex, tcp_server, proto, greeting, answers, said):
    port = script_server(tcp_server, greeting, answers)
    if proto == "postgres":
        port = tcp_server(lambda conn: (conn.recv(8), conn.close())).port
    run(ex, f"connect 127.0.0.1 {port}")
    result = run(ex, f"starttls {proto}")
    assert result.error is not None and result.error.kind == "starttls", text_of(result)
    assert said in result.error.message
    assert result.error.op == f"starttls {proto}"
    assert "tls" not in result.state  # still plaintext, or closed by the peer: never claims TLS


def test_smtp_without_starttls_in_ehlo_says_so_and_asks_anyway(ex, tcp_server):
    port = script_server(tcp_server, b"220 mx\r\n", {b"EHLO": b"250 mx\r\n", b"STARTTLS": b"502 5.5.1 unknown\r\n"})
    run(ex, f"connect 127.0.0.1 {port}")
    result = run(ex, "starttls smtp")
    assert "(the EHLO reply does not offer STARTTLS; asking anyway)" in text_of(result)
    assert result.error.kind == "starttls" and "502 5.5.1 unknown" in result.error.message


@pytest.mark.parametrize("answer, said", [(b"N", "it answered 'N'"), (b"E", "error message ('E'"),
                                          (b"H", "not 'S' or 'N': is it PostgreSQL?")])
def test_postgres_answers_other_than_s(ex, tcp_server, answer, said):
    def handle(conn):
        assert conn.recv(8) == bytes.fromhex("0000000804d2162f")
        conn.sendall(answer)
        conn.recv(10)
    port = tcp_server(handle).port
    run(ex, f"connect 127.0.0.1 {port}")
    result = run(ex, "starttls postgres")
    assert result.error.kind == "starttls" and said in result.error.message
    assert result.state == "tcp connected"


def test_hostile_bytes_in_a_refusal_are_escaped(ex, tcp_server):
    port = script_server(tcp_server, b"220 mx\r\n", {b"EHLO": b"250 mx\r\n",
                                                     b"STARTTLS": b"454 \x1b[2J\x1b]0;pwned\x07 \xff\xfe\r\n"})
    run(ex, f"connect 127.0.0.1 {port}")
    result = run(ex, "starttls smtp")
    shown = text_of(result)
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[2J" in shown and "\\xff\\xfe" in shown


def test_an_endless_reply_is_cut_off(ex, tcp_server):
    def handle(conn):
        conn.sendall(b"220 mx\r\n")
        conn.recv(100)
        for _ in range(300):
            conn.sendall(b"250-more\r\n")
        conn.recv(100)
    run(ex, f"connect 127.0.0.1 {tcp_server(handle).port}")
    result = run(ex, "starttls smtp")
    assert result.error.kind == "starttls" and "more than 200 lines and no end" in result.error.message


def test_a_silent_server_times_out_within_the_session_timeout_and_stays_connected(ex, lab):
    connected(ex, lab, "silent", timeout=0.3)
    started = time.monotonic()
    result = run(ex, "starttls smtp")
    assert time.monotonic() - started < 5
    assert result.error.kind == "timeout" and "no complete answer within 0.3 s" in result.error.message
    assert result.state == "tcp connected"
    assert ex.session.timeout == 0.3


def test_a_dribbling_server_gets_one_timeout_per_reply_not_per_line(ex, tcp_server):
    def dribble(conn):
        conn.sendall(b"220-a\r\n")
        for _ in range(50):  # a continuation line every 0.1 s: each within the timeout, never the end
            try:
                conn.settimeout(0.1)
                if conn.recv(1) == b"":
                    return
            except socket.timeout:
                conn.sendall(b"220-more\r\n")
    run(ex, "timeout 0.5")
    run(ex, f"connect 127.0.0.1 {tcp_server(dribble).port}")
    started = time.monotonic()
    result = run(ex, "starttls smtp")
    assert result.error.kind == "timeout"
    assert time.monotonic() - started < 3


def test_a_server_that_closes_is_a_clear_failure(ex, lab):
    connected(ex, lab, "close")
    result = run(ex, "starttls imap")
    assert result.error.kind == "starttls" and "closed the connection" in result.error.message
    assert "peer closed" in result.state


def test_wrong_states(ex, lab):
    result = run(ex, "starttls smtp")
    assert result.error.kind == "state" and "no socket" in result.error.message
    run(ex, "socket inet udp")
    result = run(ex, "starttls smtp")
    assert result.error.kind == "state" and "connected TCP socket" in result.error.message
    run(ex, "close")
    connected(ex, lab, "smtp")
    assert run(ex, "starttls smtp localhost").ok
    result = run(ex, "starttls smtp")
    assert result.error.kind == "state" and "already speaks TLS" in result.error.message


def test_must_fail_tls_and_record_replay(tmp_path, tcp_server):
    port = script_server(tcp_server, b"220 mx\r\n", {b"EHLO": b"250 mx\r\n", b"STARTTLS": b"454 no\r\n"})
    rec = tmp_path / "rec.nrs"
    p = run_cli("-c", f"record {rec}; serve smtp 0; set tls ca $lab_ca; connect localhost $lab_port; "
                      f"starttls smtp; send QUIT; expect 221; close; connect 127.0.0.1 {port}; starttls smtp")
    assert p.returncode == 1 and "454 no" in p.stdout
    text = rec.read_text()
    assert "\nstarttls smtp\n" in text and "\nmust-fail starttls starttls smtp\n" in text
    replay = run_cli("-q", str(rec))
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_help_starttls():
    p = run_cli("-c", "help starttls")
    assert p.returncode == 0
    assert "usage: starttls" in p.stdout and "postgres" in p.stdout and "SSLRequest" in p.stdout


def test_a_line_longer_than_netrepl_reads_is_refused_not_held(ex, tcp_server):
    def handle(conn):
        conn.sendall(b"2" * (1 << 17))  # 128 KiB and no newline
        conn.recv(10)
    run(ex, f"connect 127.0.0.1 {tcp_server(handle).port}")
    result = run(ex, "starttls ftp")
    assert result.error.kind == "starttls" and "a line longer than netrepl reads" in result.error.message
    assert len(result.error.message) < 1000  # quoted, bounded


def test_serve_of_a_tls_kind_sets_lab_ca_and_scripts_are_checked_with_it(tmp_path):
    p = run_cli("-c", "serve tls-echo 0; print $lab_ca")
    assert p.returncode == 0 and LAB_CA in p.stdout
    assert "the lab CA is $lab_ca (trust it: set tls ca $lab_ca)" in p.stdout
    p = run_cli("-c", "serve echo 0; print $lab_ca")  # only TLS kinds set it: checked before anything runs
    assert p.returncode == 2 and "lab_ca" in p.stderr + p.stdout
    inner = tmp_path / "inner.nrs"
    inner.write_text("serve https 0\n")
    outer = tmp_path / "outer.nrs"
    outer.write_text(f"source {inner}\nset tls ca $lab_ca\nconnect localhost $lab_port\ntls\n")
    p = run_cli("-q", str(outer))
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_command_offers_exactly_the_protocols_the_core_can_upgrade():
    from netrepl.commands.starttls import PROTOCOLS
    from netrepl.core.starttls import STEPS

    assert set(PROTOCOLS) == set(STEPS)
