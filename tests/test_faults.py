"""The fault matrix, end to end: the CLI as a user runs it against misbehaving loopback peers.

Each row runs a script (a tmp .nrs with --keep-going, or a live pipe when
the peer must act between two commands), then checks what netrepl said, the
error kind in words, the exit status and the state `info` shows afterwards.
docs/faults.md is the table these tests back.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, run_cli
from helpers import wait_until
from netrepl.core.errors import KINDS
from netrepl.render.escape import escape_bytes

BIG = 200 << 20  # bytes a peer pours into `recv all`
BLOCK = bytes(range(256)) * 4096  # 1 MiB holding every byte value


# ----- helpers -------------------------------------------------------------------

def run_nrs(tmp_path, lines, *args, name="fault.nrs"):
    """Write `lines` to a .nrs file and run it with --keep-going; CompletedProcess."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return run_cli("-k", *args, str(path))


def blocks(stdout: str) -> list[tuple[str, str]]:
    """The transcript, one (command as echoed, what it printed) per command."""
    out = []
    for chunk in stdout.split("netrepl> ")[1:]:
        command, _, body = chunk.partition("\n")
        out.append((command, body))
    return out


def field(body: str, label: str) -> str:
    """A row of `info` output."""
    m = re.search(rf"^  {label} +(.*)$", body, re.M)
    assert m, f"no {label!r} field in:\n{body}"
    return m.group(1)


def err_line(op: str, kind: str, message: str, state: str, code: int | None = None, name: str | None = None) -> str:
    """The error line netrepl prints: op, error kind in words, [ERRNAME N], message, [state]."""
    if code is not None:
        name = name or errno.errorcode[code]
        tag = f" [{name} {code}]"
    else:
        tag = ""
    return f"error: {op}: {KINDS[kind]}{tag}: {message}  [{state}]\n"


def failed_notes(stderr: str) -> list[tuple[int, str]]:
    """(line, kind) of each `FILE:LINE: `cmd` failed (kind)` note on stderr."""
    return [(int(m[1]), m[2]) for m in re.finditer(r"^netrepl: \S+?:(\d+): `.*` failed \((\S+)\)$", stderr, re.M)]


def no_traceback(p) -> None:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr


def tcp_entry(local_port: int, remote_port: int) -> str | None:
    """The state (hex, as in /proc/net/tcp) of the loopback TCP socket local_port -> remote_port, or None."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == remote_port:
                return parts[3]
    return None


def rst_close(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends an RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class Live:
    """`netrepl -k` reading commands from a pipe, one at a time, so the peer can act in between."""

    def __init__(self, *args: str):
        env = dict(os.environ)
        env.pop("PYTHONWARNINGS", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-k", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        self.cond = threading.Condition()
        self.count = 0
        self.pumps = [threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
                      for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for pump in self.pumps:
            pump.start()

    def _pump(self, stream, sink) -> None:
        for line in stream:
            with self.cond:
                sink.append(line)
                self.cond.notify_all()

    def run(self, command: str, seconds: float = 60.0) -> str:
        """Run one command; what it printed (its echo line included)."""
        self.count += 1
        marker = f"-- done {self.count} --\n"
        with self.cond:
            start = len(self.out)
        self.proc.stdin.write(f"{command}\nprint {marker}")
        self.proc.stdin.flush()
        with self.cond:
            if not self.cond.wait_for(lambda: marker in self.out[start:], seconds):
                pytest.fail(f"netrepl did not finish `{command}`; output so far: {''.join(self.out[start:])}")
            end = self.out.index(marker, start)
            return "".join(self.out[start:end - 1])  # without the echoed `print` line

    def close(self, seconds: float = 60.0) -> tuple[int, str]:
        self.proc.stdin.close()
        code = self.proc.wait(seconds)
        for pump in self.pumps:  # they end at end of file: every line is in
            pump.join(seconds)
        return code, "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def live():
    started = []

    def start(*args):
        session = Live(*args)
        started.append(session)
        return session

    yield start
    for session in started:
        session.kill()


@pytest.fixture
def closed_port():
    """A loopback TCP port bound but not listening (held, so nobody else listens there): connect -> RST."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def full_backlog():
    """A listener whose accept queue is full, so connect() to it times out.

    What works on Linux loopback: listen(0) queues one connection; with
    net.ipv4.tcp_abort_on_overflow=0 (the default) a SYN that finds the accept
    queue full is dropped, not answered (syncookies do not apply to a full
    accept queue), so the client's SYN is retransmitted until its timeout.
    One filler fills the queue; a second one sits in SYN_SENT.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(2):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(address)
        fillers.append(c)
    with socket.socket() as probe:  # the premise, checked: a plain connect does time out
        probe.settimeout(0.3)
        try:
            probe.connect(address)
            pytest.fail("this kernel completed a handshake on a full accept queue (tcp_abort_on_overflow?)")
        except TimeoutError:
            pass
    yield address[1]
    for c in fillers:
        c.close()
    listener.close()


# ----- connect ---------------------------------------------------------------------

def test_connect_refused(tmp_path, closed_port):
    p = run_nrs(tmp_path, [f"connect 127.0.0.1 {closed_port}", "info",
                           "socket", f"connect 127.0.0.1 {closed_port}", "info", "close",
                           f"must-fail refused connect 127.0.0.1 {closed_port}"])
    no_traceback(p)
    b = blocks(p.stdout)
    refused = os.strerror(errno.ECONNREFUSED)
    assert b[0][1] == ("created inet tcp socket\n"
                       f"connect to 127.0.0.1:{closed_port} failed; closed the socket created for it\n"
                       + err_line("connect", "io", refused, "no socket", errno.ECONNREFUSED))
    assert field(b[1][1], "state") == "no socket"
    assert b[3][1] == err_line("connect", "io", refused, "tcp created, connect failed (ECONNREFUSED)",
                               errno.ECONNREFUSED)
    assert field(b[4][1], "state") == "tcp created, connect failed (ECONNREFUSED)"
    assert "failed as expected (refused): connect: " in b[6][1]
    assert p.returncode == 1
    assert failed_notes(p.stderr) == [(1, "io"), (4, "io")]


def test_dns_failure(tmp_path):
    p = run_nrs(tmp_path, ["connect no-such-host.invalid 80", "info", "must-fail address connect no-such-host.invalid 80"])
    no_traceback(p)
    b = blocks(p.stdout)
    # EAI_NONAME where a resolver answers, EAI_AGAIN (or EAI_NODATA) where none is configured.
    assert re.fullmatch(r"error: connect: address-related error \(socket\.gaierror\) \[EAI_(NONAME|AGAIN|NODATA) -?\d+\]: "
                        r"[^\n]+  \[no socket\]\n", b[0][1]), b[0][1]
    assert "(getaddrinfo 'no-such-host.invalid')  [no socket]" in b[0][1]  # names what was looked up
    assert field(b[1][1], "state") == "no socket"
    assert "failed as expected (address)" in b[2][1]
    assert p.returncode == 1
    assert failed_notes(p.stderr) == [(1, "address")]


def test_unknown_service_name(tmp_path):
    p = run_nrs(tmp_path, ["connect 127.0.0.1 no-such-service", "info"])
    b = blocks(p.stdout)
    assert b[0][1].startswith("error: connect: service lookup error (OSError from getservbyname/getservbyport): "
                              "couldn't find your port: no service 'no-such-service' for tcp")
    assert b[0][1].endswith("  [no socket]\n")
    assert field(b[1][1], "state") == "no socket"
    assert (p.returncode, failed_notes(p.stderr)) == (1, [(1, "service")])


def test_connect_timeout_on_a_full_backlog(tmp_path, full_backlog):
    port = full_backlog
    p = run_nrs(tmp_path, ["timeout 0.5", f"connect 127.0.0.1 {port}", "info",
                           "socket", f"connect 127.0.0.1 {port}", "info", "close",
                           f"must-fail timeout connect 127.0.0.1 {port}"])
    no_traceback(p)
    b = blocks(p.stdout)
    assert b[1][1] == ("created inet tcp socket\n"
                       f"connect to 127.0.0.1:{port} failed; closed the socket created for it\n"
                       + err_line("connect", "timeout", "timed out", "no socket"))
    assert field(b[2][1], "state") == "no socket"
    assert b[4][1] == ("the kernel keeps trying to connect this socket in the background (a second connect says "
                       "EALREADY); `close` it to give up\n"
                       + err_line("connect", "timeout", "timed out", "tcp created, connect failed (timeout)"))
    assert field(b[5][1], "state") == "tcp created, connect failed (timeout)"
    assert "failed as expected (timeout)" in b[7][1]
    assert p.returncode == 1
    assert failed_notes(p.stderr) == [(2, "timeout"), (5, "timeout")]


# ----- receiving: timeout, EOF, RST -------------------------------------------------------

def test_recv_timeout_leaves_the_connection_open(tmp_path, lab):
    server = lab("silent")
    p = run_nrs(tmp_path, ["timeout 0.5", f"connect 127.0.0.1 {server.port}", "recv", "info",
                           "send still here", "must-fail timeout recv"])
    no_traceback(p)
    b = blocks(p.stdout)
    assert b[2][1] == ("no data within 0.5 s; the connection is still open\n"
                       + err_line("recv", "timeout", "timed out", "tcp connected"))
    assert field(b[3][1], "state") == "tcp connected"
    assert field(b[3][1], "peer") == f"127.0.0.1:{server.port}"
    assert b[4][1] == "sent 12 bytes  [tcp connected]\n"
    assert "failed as expected (timeout)" in b[5][1]
    assert (p.returncode, failed_notes(p.stderr)) == (1, [(3, "timeout")])


def read_then(how: str):
    """A peer that reads our 3-byte request ("x\\r\\n"), then closes (FIN), resets (RST) or stays silent.

    Acting only after the request arrived keeps the RST away from connect():
    a peer that resets straight after accept() races the client's connect(),
    which then reports ECONNRESET itself (see test_lab_reset_server_reports_econnreset_from_connect_or_recv).
    """
    def handler(conn):
        got = b""
        while len(got) < 3 and (data := conn.recv(3 - len(got))):
            got += data
        if how == "close":
            conn.close()
        elif how == "reset":
            rst_close(conn)
        else:
            conn.recv(1)  # silent: wait for the client to go away
    return handler


EOF_RST_TIMEOUT = {
    # peer: (what recv prints, state afterwards, exit status, failure notes)
    "close": ("end of stream: the peer closed its side (recv returned no data)  [tcp connected, peer closed]\n",
              "tcp connected, peer closed", 0, []),
    "reset": (err_line("recv", "io", os.strerror(errno.ECONNRESET), "tcp connection lost (ECONNRESET)",
                       errno.ECONNRESET),
              "tcp connection lost (ECONNRESET)", 1, [(4, "io")]),
    "silent": ("no data within 1 s; the connection is still open\n"
               + err_line("recv", "timeout", "timed out", "tcp connected"),
               "tcp connected", 1, [(4, "timeout")]),
}


def test_eof_reset_and_timeout_are_each_reported_differently(tmp_path, tcp_server):
    seen = {}
    for how, (said, state, status, notes) in EOF_RST_TIMEOUT.items():
        server = tcp_server(read_then(how))
        p = run_nrs(tmp_path, ["timeout 1", f"connect 127.0.0.1 {server.port}", "send x", "recv", "info"],
                    name=f"{how}.nrs")
        no_traceback(p)
        b = blocks(p.stdout)
        assert b[2][1] == "sent 3 bytes  [tcp connected]\n", how
        assert b[3][1] == said, how
        assert field(b[4][1], "state") == state, how
        assert (p.returncode, failed_notes(p.stderr)) == (status, notes), how
        seen[how] = (b[3][1], state)
    messages = {said for said, _ in seen.values()}
    states = {state for _, state in seen.values()}
    assert len(messages) == len(states) == 3


def test_recv_after_a_reset_does_not_claim_the_peer_closed(tmp_path, tcp_server):
    server = tcp_server(read_then("reset"))
    p = run_nrs(tmp_path, [f"connect 127.0.0.1 {server.port}", "send x", "recv", "recv", "info"])
    b = blocks(p.stdout)
    assert "[ECONNRESET" in b[2][1]
    assert b[3][1] == ("no data: the connection was lost earlier (ECONNRESET); recv returned no data  "
                       "[tcp connection lost (ECONNRESET)]\n")
    assert field(b[4][1], "state") == "tcp connection lost (ECONNRESET)"


def test_lab_reset_server_reports_econnreset_from_connect_or_recv(tmp_path, lab):
    # `serve reset` aborts right after accept(): with a timeout set, connect() polls for the
    # handshake and may find the RST already there. Either way the user sees ECONNRESET, once.
    server = lab("reset")
    for attempt in range(5):
        p = run_nrs(tmp_path, [f"connect 127.0.0.1 {server.port}", "recv", "info"], name=f"reset{attempt}.nrs")
        no_traceback(p)
        b = blocks(p.stdout)
        if "connected 127.0.0.1:" in b[0][1]:
            assert b[1][1] == EOF_RST_TIMEOUT["reset"][0]
            assert failed_notes(p.stderr) == [(2, "io")]
        else:
            assert b[0][1].endswith(err_line("connect", "io", os.strerror(errno.ECONNRESET), "no socket",
                                             errno.ECONNRESET))
            assert "the peer accepted the connection, then reset it before connect() returned" in b[0][1]
            assert failed_notes(p.stderr) == [(1, "io"), (2, "state")]
        assert p.returncode == 1


# ----- half-close, peer gone, reset --------------------------------------------------------

def test_peer_half_closes_and_keeps_reading(tmp_path, tcp_server):
    got = bytearray()
    done = threading.Event()

    def half_close(conn):
        conn.sendall(b"bye\n")
        conn.shutdown(socket.SHUT_WR)  # no more from the peer, but it still reads
        while data := conn.recv(65536):
            got.extend(data)
        done.set()

    server = tcp_server(half_close)
    p = run_nrs(tmp_path, [f"connect 127.0.0.1 {server.port}", "recv", "recv", "send hello", "send world",
                           "info", "shutdown 1"])
    no_traceback(p)
    b = blocks(p.stdout)
    assert b[1][1] == "received 4 bytes  [tcp connected]\nbye\n"
    assert b[2][1] == "end of stream: the peer closed its side (recv returned no data)  [tcp connected, peer closed]\n"
    assert b[3][1] == "sent 7 bytes  [tcp connected, peer closed]\n"  # the end of stream ends only one direction
    assert b[4][1] == "sent 7 bytes  [tcp connected, peer closed]\n"
    assert field(b[5][1], "state") == "tcp connected, peer closed"
    assert field(b[5][1], "sent") == "14 bytes"
    assert b[6][1] == "shut down the write side (shutdown(1))  [tcp connected, write side shut, peer closed]\n"
    assert (p.returncode, p.stderr) == (0, "")
    assert done.wait(30), "the peer never saw our FIN"
    assert bytes(got) == b"hello\r\nworld\r\n"


def test_peer_dies_between_connect_and_send_the_worksheet_shutdown_case(server_port):
    # scripts/shutdown.nrs as the worksheet runs it: the server dies (FIN) after connect;
    # send() does not notice, shutdown(1) does.
    p = run_cli("-k", "-D", f"lab_port={server_port}", "-D", f"port={server_port}", "-D", "host=127.0.0.1",
                "-D", "pause=0.2", "-c", "source scripts/shutdown.nrs; info; send more; shutdown 1")
    no_traceback(p)
    b = dict(blocks(p.stdout))
    assert b["send GET /index.html HTTP/1.0\\r\\n"] == "sent 28 bytes  [tcp connected]\n"
    notconn = os.strerror(errno.ENOTCONN)
    assert b["must-fail lost shutdown 1"] == (
        "the connection was lost: data sent earlier may never have reached the peer\n"
        f"failed as expected (lost): shutdown(1): {KINDS['io']} [ENOTCONN {errno.ENOTCONN}]: {notconn}  "
        "[tcp connection lost (ENOTCONN)]\n")
    assert field(b["info"], "state") == "tcp connection lost (ENOTCONN)"
    assert field(b["info"], "sent") == "28 bytes"
    assert field(b["info"], "peer").startswith("none (getpeername: [ENOTCONN]")
    # The state keeps the first cause: later errors are its consequences.
    assert b["send more"] == err_line("send", "io", os.strerror(errno.EPIPE), "tcp connection lost (ENOTCONN)",
                                      errno.EPIPE)
    assert b["shutdown 1"].endswith(err_line("shutdown(1)", "io", notconn, "tcp connection lost (ENOTCONN)",
                                             errno.ENOTCONN))
    assert p.returncode == 1
    assert [kind for _, kind in failed_notes(p.stderr)] == ["io", "io"]
    # The script alone passes: every failure in it is asserted with must-fail.
    alone = run_cli("-D", f"lab_port={server_port}", "-D", f"port={server_port}", "-D", "host=127.0.0.1",
                    "-D", "pause=0.2", "scripts/shutdown.nrs")
    assert (alone.returncode, alone.stderr) == (0, ""), alone.stdout


def test_send_to_a_reset_connection(live, tcp_server):
    client_port = []
    connected, reset = threading.Event(), threading.Event()

    def abort(conn):
        client_port.append(conn.getpeername()[1])
        connected.wait(60)  # reset only once connect() has returned (no race with it)
        rst_close(conn)
        reset.set()

    server = tcp_server(abort)
    nr = live()
    assert "connected" in nr.run(f"connect 127.0.0.1 {server.port}")
    connected.set()
    assert reset.wait(30)
    # The RST has arrived once the kernel dropped our side of the connection.
    wait_until(lambda: tcp_entry(client_port[0], server.port) is None, what="the RST to reach the client")
    first = nr.run("send first")
    assert first == "netrepl> send first\n" + err_line("send", "io", os.strerror(errno.ECONNRESET),
                                                       "tcp connection lost (ECONNRESET)", errno.ECONNRESET)
    again = nr.run("send again")
    assert again == "netrepl> send again\n" + err_line("send", "io", os.strerror(errno.EPIPE),
                                                       "tcp connection lost (ECONNRESET)", errno.EPIPE)
    info = nr.run("info")
    assert field(info, "state") == "tcp connection lost (ECONNRESET)"
    assert field(info, "sent") == "0 bytes"
    assert "failed as expected (lost)" in nr.run("must-fail lost send x")
    code, err = nr.close()
    assert code == 1
    assert [kind for _, kind in failed_notes(err)] == ["io", "io"]


# ----- UDP -----------------------------------------------------------------------------

def test_udp_icmp_port_unreachable_is_reported_on_the_next_recv(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a UDP port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run_nrs(tmp_path, ["socket inet udp", "timeout 5", f"connect 127.0.0.1 {port}", "send probe", "recv",
                           "info", "timeout 0.5", "recv"])
    no_traceback(p)
    b = blocks(p.stdout)
    assert b[3][1] == "sent 7 bytes  [udp default peer set]\n"  # the datagram went out fine
    assert b[4][1] == err_line("recv", "io", os.strerror(errno.ECONNREFUSED), "udp default peer set",
                               errno.ECONNREFUSED)
    assert field(b[5][1], "state") == "udp default peer set"
    assert field(b[5][1], "peer") == f"127.0.0.1:{port}"
    # The ICMP error is reported once; the recv after it just waits.
    assert b[7][1] == "no data within 0.5 s; the socket is still open\n" + err_line(
        "recv", "timeout", "timed out", "udp default peer set")
    assert (p.returncode, failed_notes(p.stderr)) == (1, [(5, "io"), (8, "timeout")])


def test_udp_unconnected_socket_gets_no_icmp_error(tmp_path):
    # Linux reports ICMP errors only to connected UDP sockets: sendto + recvfrom just times out.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run_nrs(tmp_path, ["timeout 0.5", f"sendto -l 127.0.0.1 {port} probe", "recvfrom", "info"])
    b = blocks(p.stdout)
    assert f"sent 7 bytes to 127.0.0.1:{port} from 0.0.0.0:" in b[1][1]
    assert b[2][1] == "no data within 0.5 s; the socket is still open\n" + err_line(
        "recvfrom", "timeout", "timed out", "udp bound")
    assert field(b[3][1], "state") == "udp bound"
    assert (p.returncode, failed_notes(p.stderr)) == (1, [(3, "timeout")])


# ----- slow and big peers ------------------------------------------------------------------

def test_a_peer_that_drips_one_byte_at_a_time(tmp_path, lab):
    from netrepl.lab.handlers import _SLOW_TEXT

    server = lab("slow", slow_interval=0.01)
    p = run_nrs(tmp_path, ["timeout 5", f"connect 127.0.0.1 {server.port}", "recv", "recv all", "info"])
    no_traceback(p)
    b = blocks(p.stdout)
    first = re.match(r"received (\d+) bytes?  \[tcp connected\]\n", b[2][1])
    assert first, b[2][1]
    n = int(first[1])
    assert n >= 1 and b[2][1][first.end():] == escape_bytes(_SLOW_TEXT[:n]) + (
        "" if _SLOW_TEXT[:n].endswith(b"\n") else "\n")
    rest = len(_SLOW_TEXT) - n
    # `recv all` shows the data as it arrives, then the total.
    shown = escape_bytes(_SLOW_TEXT[n:])
    shown += "" if shown.endswith("\n") else "\n"
    assert b[3][1].startswith(shown), b[3][1]
    assert re.fullmatch(rf"received {rest} bytes in total until end of stream, in [^\n]+  \[tcp connected, peer closed\]\n",
                        b[3][1][len(shown):]), b[3][1]
    assert field(b[4][1], "received") == f"{len(_SLOW_TEXT)} bytes"
    assert field(b[4][1], "state") == "tcp connected, peer closed"
    assert (p.returncode, p.stderr) == (0, "")


def test_a_peer_that_sends_200_mib_to_recv_all(tmp_path, tcp_server):
    def pour(conn):
        for _ in range(BIG // len(BLOCK)):
            conn.sendall(BLOCK)
        conn.close()

    server = tcp_server(pour)
    out = tmp_path / "big.bin"
    p = run_nrs(tmp_path, [f"connect 127.0.0.1 {server.port}", "recv all > /dev/null", "info", "close",
                           f"connect 127.0.0.1 {server.port}", f"recv all > {out}", "info"])
    no_traceback(p)
    b = blocks(p.stdout)
    assert re.fullmatch(rf"received {BIG} bytes in total into /dev/null until end of stream, in [^\n]+  "
                        r"\[tcp connected, peer closed\]\n", b[1][1]), b[1][1]
    assert field(b[2][1], "received") == f"{BIG} bytes"
    assert re.fullmatch(rf"received {BIG} bytes in total into {re.escape(str(out))} until end of stream, in [^\n]+  "
                        r"\[tcp connected, peer closed\]\n", b[5][1]), b[5][1]
    assert field(b[6][1], "state") == "tcp connected, peer closed"
    assert (p.returncode, p.stderr) == (0, "")
    assert out.stat().st_size == BIG
    with open(out, "rb") as f:
        assert f.read(len(BLOCK)) == BLOCK
        f.seek(-len(BLOCK), os.SEEK_END)
        assert f.read() == BLOCK


def test_recv_all_into_a_file_that_cannot_be_written(tmp_path, lab):
    server = lab("daytime")
    p = run_nrs(tmp_path, [f"connect 127.0.0.1 {server.port}", "recv all > /nonexistent-dir/out.bin", "info"])
    b = blocks(p.stdout)
    assert b[1][1] == err_line("recv all >", "file", f"/nonexistent-dir/out.bin: {os.strerror(errno.ENOENT)}",
                               "tcp connected", errno.ENOENT)
    assert field(b[2][1], "received") == "0 bytes"  # nothing was read and thrown away
    assert (p.returncode, failed_notes(p.stderr)) == (1, [(2, "file")])


# ----- the wrong state ----------------------------------------------------------------------

def test_operations_in_the_wrong_state(tmp_path, lab):
    echo, other = lab("echo"), lab("daytime")
    p = run_nrs(tmp_path, [
        "recv",  # 1: before any socket
        "send x",  # 2
        "socket",  # 3
        "recv",  # 4: a socket, never connected
        "send x",  # 5
        "shutdown 1",  # 6
        "socket inet udp",  # 7: a second socket
        "close",  # 8
        "send x",  # 9: after close
        "recv",  # 10
        "close",  # 11
        f"connect 127.0.0.1 {echo.port}",  # 12
        f"connect 127.0.0.1 {other.port}",  # 13: connect again: the first connection is closed
        "info",  # 14
        "recv all",  # 15
        f"connect 127.0.0.1 {echo.port}",  # 16: and again, after the peer closed
    ])
    no_traceback(p)
    b = blocks(p.stdout)
    never = "no socket (none was created); use `socket` or `connect HOST PORT` first"
    gone = "no socket (it was closed); use `socket` or `connect HOST PORT` first"
    assert b[0][1] == err_line("recv", "state", never, "no socket")
    assert b[1][1] == err_line("send", "state", never, "no socket")
    assert b[3][1] == err_line("recv", "io", os.strerror(errno.ENOTCONN), "tcp created", errno.ENOTCONN)
    assert b[4][1] == ("the socket was never connected (`connect HOST PORT` first); "
                       "an unconnected TCP socket's send() fails this way\n"
                       + err_line("send", "io", os.strerror(errno.EPIPE), "tcp created", errno.EPIPE))
    assert b[5][1] == err_line("shutdown(1)", "io", os.strerror(errno.ENOTCONN), "tcp created", errno.ENOTCONN)
    assert b[6][1] == err_line("socket", "state", "a socket is already open (tcp created); `close` it first",
                               "tcp created")
    assert b[8][1] == err_line("send", "state", gone, "closed")
    assert b[9][1] == err_line("recv", "state", gone, "closed")
    assert b[10][1] == err_line("close", "state", gone, "closed")
    assert b[12][1].startswith(f"closed the previous connection to 127.0.0.1:{echo.port} (sent 0 bytes, "
                               "received 0 bytes)\ncreated inet tcp socket\nconnected ")
    assert field(b[13][1], "state") == "tcp connected"
    assert field(b[13][1], "peer") == f"127.0.0.1:{other.port}"  # the new peer, counters from zero
    assert field(b[13][1], "sent") == "0 bytes"
    received = re.search(r"received (\d+) bytes in total until end of stream", b[14][1]).group(1)
    assert b[15][1].startswith(f"closed the previous connection to 127.0.0.1:{other.port}, which the peer had "
                               f"closed (sent 0 bytes, received {received} bytes)\n")
    assert b[15][1].rstrip().endswith("[tcp connected]")
    assert p.returncode == 1
    assert failed_notes(p.stderr) == [(1, "state"), (2, "state"), (4, "io"), (5, "io"), (6, "io"), (7, "state"),
                                      (9, "state"), (10, "state"), (11, "state")]


# ----- exit status in scripts -------------------------------------------------------------

def test_a_failing_row_stops_a_script_with_exit_1_and_must_fail_turns_it_into_a_pass(tmp_path, closed_port):
    line = f"connect 127.0.0.1 {closed_port}"
    stopped = run_nrs(tmp_path, [line, "print after"], name="stop.nrs")
    assert stopped.returncode == 1  # -k: runs on, still exit 1
    plain = run_cli(str(tmp_path / "stop.nrs"))
    assert plain.returncode == 1
    assert "print after" not in plain.stdout  # without -k the script stops at the failure
    assert plain.stderr == f"netrepl: {tmp_path / 'stop.nrs'}:1: `{line}` failed (io)\n"
    passed = run_nrs(tmp_path, [f"must-fail refused {line}", f"must-fail ECONNREFUSED {line}",
                                f"must-fail io {line}", "print after"], name="pass.nrs")
    assert (passed.returncode, passed.stderr) == (0, "")
    assert passed.stdout.endswith("netrepl> print after\nafter\n")
    wrong = run_nrs(tmp_path, [f"must-fail timeout {line}"], name="wrong.nrs")
    assert wrong.returncode == 1
    assert "expected a failure of kind timeout, got io (ECONNREFUSED)" in wrong.stdout
