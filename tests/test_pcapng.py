"""`netrepl export --pcap`: a `record -p` recording as a pcapng capture that tshark dissects.

Recordings are made against real servers on loopback (nginx, redis-server where
installed; the lab smtp server; a small DNS responder written here), exported,
and read back with tshark (skipped where it is missing): the protocol fields
of requests and replies must be those that went over the wire, the TCP
sequence numbers must follow the bytes, and every checksum must be good.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading

import pytest

from conftest import run_cli
from helpers import wait_until
from netrepl.export import pcapng

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt-get install tshark)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record(tmp_path, commands: list[str]) -> str:
    script = "; ".join(["record -p rec.nrs"] + commands + ["record stop"])
    done = run_cli("-c", script, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return (tmp_path / "rec.nrs").read_text()


def _export(tmp_path) -> str:
    done = run_cli("export", "--pcap", "rec.nrs", "-o", "out.pcapng", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote out.pcapng" in done.stderr
    return str(tmp_path / "out.pcapng")


def _fields(capture: str, fields: list[str], decode: list[str] = (), filter: str | None = None) -> list[list[str]]:
    args = [TSHARK, "-r", capture, "-2", "-T", "fields", "-E", "occurrence=f",
            "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    for rule in decode:
        args += ["-d", rule]
    if filter:
        args += ["-Y", filter]
    for field in fields:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


def _checksums_good(capture: str) -> None:
    rows = _fields(capture, ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status",
                             "tcp.analysis.flags"])
    assert rows
    for ip, tcp, udp, analysis in rows:
        assert ip == "1" and (tcp or udp) in ("1",), (ip, tcp, udp)
        assert analysis == "", "tshark found a TCP problem (lost segment, bad ack, retransmission...)"


def _start(argv: list[str], port: int, what: str):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return proc.poll() is not None

    wait_until(up, what=f"{what} to listen")
    if proc.poll() is not None:
        pytest.skip(f"{what} did not start: {proc.stderr.read().decode(errors='replace')[-300:]}")
    return proc


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)
    proc.stderr.close()


# ----- HTTP (nginx), SMTP (lab), RESP (redis), DNS ---------------------------------------


@needs_tshark
@pytest.mark.skipif(shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"),
                    reason="nginx is not installed (apt-get install nginx-light)")
def test_an_nginx_recording_is_dissected_as_http_with_its_request_and_reply(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>served by nginx on loopback</p>\n")
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; master_process off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{ worker_connections 16; }}
http {{ access_log off; server_tokens off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/p;
  fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
  server {{ listen 127.0.0.1:{port}; root {site}; }} }}
""")
    proc = _start([nginx, "-p", str(tmp_path), "-c", str(conf)], port, "nginx")
    try:
        text = _record(tmp_path, [f"connect 127.0.0.1 {port}", "send GET /index.html HTTP/1.1\\r\\nHost: lo\\r\\n",
                                  "recv line", "send GET /nothing HTTP/1.1\\r\\nHost: lo\\r\\nConnection: close\\r\\n",
                                  "recv all", "close"])
    finally:
        _stop(proc)
    assert "#@ tcp client 127.0.0.1 " in text and f" 127.0.0.1 {port}\n#> connect\n" in text
    capture = _export(tmp_path)
    rows = _fields(capture, ["http.request.method", "http.request.uri", "http.response.code", "http.server"],
                   [f"tcp.port=={port},http"], "http")
    requests = [(r[0], r[1]) for r in rows if r[0]]
    replies = [(r[2], r[3]) for r in rows if r[2]]
    assert requests == [("GET", "/index.html"), ("GET", "/nothing")]
    assert replies == [("200", "nginx"), ("404", "nginx")]
    _checksums_good(capture)
    # The handshake, then the client's FIN (close) after the server's (Connection: close).
    flags = [r[0] for r in _fields(capture, ["tcp.flags.str"])]
    assert [f.replace("\u00b7", "") for f in flags[:3]] == ["S", "AS", "A"]
    assert sum("F" in f for f in flags) == 2


@needs_tshark
def test_a_lab_smtp_recording_is_dissected_as_smtp_commands_and_reply_codes(tmp_path):
    port = _free_port()
    text = _record(tmp_path, [f"serve smtp {port}", f"connect 127.0.0.1 {port}", "recv line",
                              "send EHLO client.invalid", "expect 250 HELP\\r\\n", "send QUIT",
                              "recv all", "close"])
    assert "#< 220 " in text
    capture = _export(tmp_path)
    rows = _fields(capture, ["smtp.req.command", "smtp.req.parameter", "smtp.response.code"],
                   [f"tcp.port=={port},smtp"], "smtp")
    commands = [(r[0], r[1]) for r in rows if r[0]]
    codes = [r[2] for r in rows if r[2]]
    assert commands == [("EHLO", "client.invalid"), ("QUIT", "")]
    assert codes[0] == "220" and "250" in codes and codes[-1] == "221"
    _checksums_good(capture)


@needs_tshark
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_recording_is_dissected_as_resp(tmp_path):
    port = _free_port()
    proc = _start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(tmp_path)], port, "redis-server")
    try:
        _record(tmp_path, [f"connect 127.0.0.1 {port}",
                           "send *3\\r\\n\\x243\\r\\nSET\\r\\n\\x248\\r\\ngreeting\\r\\n\\x245\\r\\nhello",
                           "expect +OK\\r\\n", "send *2\\r\\n\\x243\\r\\nGET\\r\\n\\x248\\r\\ngreeting",
                           "recv line", "recv line", "close"])
    finally:
        _stop(proc)
    capture = _export(tmp_path)
    rows = subprocess.run([TSHARK, "-r", capture, "-2", "-d", f"tcp.port=={port},resp", "-Y", "resp", "-T",
                           "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "tcp.srcport",
                           "-e", "resp.bulk_string.value", "-e", "resp.string"],
                          capture_output=True, text=True, timeout=60).stdout.splitlines()
    # Bulk strings come as hex bytes: decoded, each frame is (who sent it, its strings).
    frames = [(int(src), [bytes.fromhex(v).decode() for v in bulk.split("|") if v] + [v for v in simple.split("|") if v])
              for src, bulk, simple in (row.split("\t") for row in rows)]
    assert frames == [(frames[0][0], ["SET", "greeting", "hello"]), (port, ["OK"]),
                      (frames[0][0], ["GET", "greeting"]), (port, ["hello"])]
    _checksums_good(capture)


class _Dns(threading.Thread):
    """A DNS responder on loopback UDP: any A query for NAME is answered 127.0.0.7 (one query, then it ends)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        try:
            query, sender = self.sock.recvfrom(512)
        except OSError:
            return
        ident, question = query[:2], query[12:]
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton("127.0.0.7")
        self.sock.sendto(ident + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, sender)
        self.sock.close()


def _dns_query(name: str, ident: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


@needs_tshark
def test_a_udp_dns_exchange_is_dissected_as_a_dns_query_and_its_answer(tmp_path):
    server = _Dns()
    server.start()
    query = "".join(f"\\x{b:02x}" for b in _dns_query("host.netrepl.invalid"))
    # No `socket` first: the datagram `sendto` makes its socket for is recorded too.
    text = _record(tmp_path, ["set eol none", f"sendto 127.0.0.1 {server.port} {query}", "recvfrom 512", "close"])
    server.join(10)
    assert "#@ udp> 0.0.0.0 " in text and f" 127.0.0.1 {server.port} 38\n#d " in text
    capture = _export(tmp_path)
    rows = _fields(capture, ["dns.flags.response", "dns.qry.name", "dns.a", "dns.id", "udp.srcport"],
                   [f"udp.port=={server.port},dns"], "dns")
    assert [r[:4] for r in rows] == [["0", "host.netrepl.invalid", "", "0x1234"],
                                     ["1", "host.netrepl.invalid", "127.0.0.7", "0x1234"]]
    assert rows[1][4] == str(server.port)
    _checksums_good(capture)


DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)


@needs_tshark
@pytest.mark.skipif(DNSMASQ is None, reason="dnsmasq is not installed (apt-get install dnsmasq-base)")
def test_a_dns_exchange_with_dnsmasq_is_dissected_as_a_query_and_its_answer(tmp_path):
    """The issue's real peer: dnsmasq on loopback (no upstream, no hosts file, one name of its own)."""
    port = _free_port()
    proc = subprocess.Popen([DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", f"--port={port}",
                             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                             "--address=/host.netrepl.invalid/127.0.0.7", "--pid-file=", "--user=root"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    query = "".join(f"\\x{b:02x}" for b in _dns_query("host.netrepl.invalid", 0x4321))
    try:
        def answers():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.settimeout(0.5)
                probe.sendto(_dns_query("probe.netrepl.invalid"), ("127.0.0.1", port))
                try:
                    return bool(probe.recvfrom(512))
                except OSError:
                    return proc.poll() is not None
        wait_until(answers, timeout=20)
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
        text = _record(tmp_path, ["set eol none", f"sendto 127.0.0.1 {port} {query}", "recvfrom 512", "close"])
    finally:
        _stop(proc)
    assert f" 127.0.0.1 {port} 38\n#d " in text
    capture = _export(tmp_path)
    rows = _fields(capture, ["dns.flags.response", "dns.qry.name", "dns.a", "dns.id", "udp.srcport"],
                   [f"udp.port=={port},dns"], "dns")
    assert [r[:4] for r in rows] == [["0", "host.netrepl.invalid", "", "0x4321"],
                                     ["1", "host.netrepl.invalid", "127.0.0.7", "0x4321"]]
    assert rows[1][4] == str(port)
    _checksums_good(capture)


# ----- the format and the file -------------------------------------------------------


@needs_tshark
def test_the_capture_says_its_frames_were_rebuilt_and_where_each_connection_was_recorded(tmp_path, lab):
    server = lab("http")
    _record(tmp_path, [f"connect 127.0.0.1 {server.port}", "send GET / HTTP/1.0\\r\\n", "recv all", "close"])
    capture = _export(tmp_path)
    info = subprocess.run(["capinfos", capture], capture_output=True, text=True, timeout=60) \
        if shutil.which("capinfos") else None
    if info is not None:
        assert "reconstructed by netrepl" in info.stdout
    comments = [r[0] for r in _fields(capture, ["frame.comment"]) if r[0]]
    assert comments == ["netrepl: connection 1, `#> connect` at rec.nrs:3"]
    assert stat.S_IMODE(os.stat(capture).st_mode) == 0o600  # private, as the recording is
    # Sequence numbers follow the bytes: the server's FIN is at 1 + the reply's length.
    rows = _fields(capture, ["tcp.srcport", "tcp.seq", "tcp.len", "tcp.flags.fin"])
    reply = sum(int(r[2]) for r in rows if r[0] == str(server.port))
    fin = [r for r in rows if r[0] == str(server.port) and r[3] == "1"]
    assert len(fin) == 1 and int(fin[0][1]) == 1 + reply


def test_a_reset_is_written_as_an_rst_from_the_peer(tmp_path, lab):
    server = lab("reset")
    _record(tmp_path, [f"connect 127.0.0.1 {server.port}", "must-fail lost recv 10", "close"])
    capture = _export(tmp_path)
    frames = _frames(capture)
    peer = [f for f in frames if f[0] == server.port]
    assert peer[-1][2] & pcapng.RST


def test_recordings_without_peer_lines_and_bad_address_lines_are_refused_with_the_line(tmp_path):
    (tmp_path / "plain.nrs").write_text("connect localhost 80\n")
    done = run_cli("export", "--pcap", "plain.nrs", "-o", "x.pcapng", cwd=tmp_path)
    assert done.returncode == 2 and "no recorded peer in it" in done.stderr and "record -p" in done.stderr
    (tmp_path / "bad.nrs").write_text("#@ tcp client 127.0.0.1 1 \x1b[31mhost 2\n#> connect\n")
    done = run_cli("export", "--pcap", "bad.nrs", "-o", "x.pcapng", cwd=tmp_path)
    assert done.returncode == 2 and "bad.nrs:2: '\\x1b[31mhost' is not an IP address" in done.stderr and "\x1b" not in done.stderr
    (tmp_path / "v.nrs").write_text("#@ tcp client 127.0.0.1 1 ::1 2\n#> connect\n")
    done = run_cli("export", "--pcap", "v.nrs", "-o", "x.pcapng", cwd=tmp_path)
    assert done.returncode == 2 and "v.nrs:2: 127.0.0.1 and ::1 are not of one IP version" in done.stderr
    (tmp_path / "u.nrs").write_text("#@ udp> 127.0.0.1 1 127.0.0.1 2 3\n#d abcd\n")
    done = run_cli("export", "--pcap", "u.nrs", "-o", "x.pcapng", cwd=tmp_path)
    assert done.returncode == 2 and "u.nrs:2: more datagram bytes than its `#@ udp` line says" in done.stderr
    done = run_cli("export", "--pcap", "missing.nrs", "-o", "x.pcapng", cwd=tmp_path)
    assert done.returncode == 2 and "cannot read missing.nrs: No such file or directory" in done.stderr
    (tmp_path / "ok.nrs").write_text("#@ tcp client 127.0.0.1 1 127.0.0.1 2\n#> connect\n#> hi\n")
    done = run_cli("export", "--pcap", "ok.nrs", "-o", "nodir/x.pcapng", cwd=tmp_path)
    assert done.returncode == 1 and "cannot write nodir/x.pcapng" in done.stderr


def test_an_older_recording_without_addresses_takes_the_connect_line_and_makes_up_our_port(tmp_path):
    (tmp_path / "old.nrs").write_text("connect localhost 6379\n#> connect\n#> PING\\r\\n\n#< +PONG\\r\\n\n#< eof\n"
                                      "connect ${host:-::1} ${port:-8080}\n#> connect\n#> x\n")
    done = run_cli("export", "--pcap", "old.nrs", "-o", "old.pcapng", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    frames = _frames(str(tmp_path / "old.pcapng"))
    assert [f[3] for f in frames if f[3]] == [b"PING\r\n", b"+PONG\r\n", b"x"]
    assert frames[0][:2] == (49153, 6379) and frames[-2][:2] == (49154, 8080)  # (-D defaults: relay --record)


def test_a_relay_recording_exports_with_its_target_and_client_addresses(tmp_path, lab):
    import re

    server = lab("http")
    relay = subprocess.Popen([sys.executable, "-m", "netrepl", "relay", "127.0.0.1", "0", "127.0.0.1", str(server.port),
                              "--record", "relay.nrs"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)", relay.stdout.readline()).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := client.recv(65536):
                reply += chunk
            ours = client.getsockname()[1]
        wait_until(lambda: "#< eof" in (tmp_path / "relay.nrs").read_text(), what="the relay to write its block")
    finally:
        relay.terminate()
        relay.wait(30)
        relay.stdout.close()
    assert reply.startswith(b"HTTP/1.0 200 OK")
    done = run_cli("export", "--pcap", "relay.nrs", "-o", "relay.pcapng", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    frames = _frames(str(tmp_path / "relay.pcapng"))
    assert frames[0][:3] == (ours, server.port, pcapng.SYN)
    assert b"".join(f[3] for f in frames if f[0] == server.port).startswith(b"HTTP/1.0 200 OK")


def test_the_capture_goes_to_a_pipe_but_never_to_a_terminal(tmp_path):
    (tmp_path / "ok.nrs").write_text("#@ tcp client ::1 40000 ::1 6379\n#> connect\n#> PING\\r\\n\n")
    done = subprocess.run([sys.executable, "-m", "netrepl", "export", "--pcap", "ok.nrs"], capture_output=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith(struct.pack("<I", 0x0A0D0D0A))
    (tmp_path / "piped.pcapng").write_bytes(done.stdout)
    frames = _frames(str(tmp_path / "piped.pcapng"))
    assert [f[:2] for f in frames] == [(40000, 6379), (6379, 40000), (40000, 6379), (40000, 6379), (6379, 40000)]
    assert frames[3][3] == b"PING\r\n"


# ----- a reader of what was written (independent of tshark) --------------------------------


def _frames(path: str) -> list[tuple[int, int, int, bytes]]:
    """(source port, destination port, TCP flags or 0, payload) of each frame, checksums checked."""
    data = open(path, "rb").read()
    at, out = 0, []
    while at < len(data):
        kind, size = struct.unpack_from("<II", data, at)
        assert struct.unpack_from("<I", data, at + size - 4)[0] == size
        if kind == 6:
            captured = struct.unpack_from("<I", data, at + 20)[0]
            out.append(_parse(data[at + 28:at + 28 + captured]))
        at += size
    return out


def _parse(frame: bytes) -> tuple[int, int, int, bytes]:
    if frame[0] >> 4 == 4:
        assert pcapng.checksum(frame[:20]) == 0
        proto, src, dst, body = frame[9], frame[12:16], frame[16:20], frame[20:]
        pseudo = src + dst + struct.pack("!xBH", proto, len(body))
    else:
        proto, src, dst, body = frame[6], frame[8:24], frame[24:40], frame[40:]
        pseudo = src + dst + struct.pack("!IxxxB", len(body), proto)
    assert pcapng.checksum(pseudo + body) == 0
    sport, dport = struct.unpack_from("!HH", body)
    if proto == pcapng.PROTO_TCP:
        return sport, dport, body[13], body[(body[12] >> 4) * 4:]
    return sport, dport, 0, body[8:]


@needs_tshark
def test_a_tls_conversation_is_written_as_its_plaintext_on_the_real_port(tmp_path, lab):
    server = lab("https")
    text = _record(tmp_path, [f"connect 127.0.0.1 {server.port}", "tls -k localhost",
                              "send GET /hello.txt HTTP/1.0\\r\\n", "recv all", "close"])
    assert "#> GET /hello.txt HTTP/1.0\\r\\n" in text  # what the tap saw: the plaintext, not TLS records
    capture = _export(tmp_path)
    rows = _fields(capture, ["tcp.dstport", "http.request.uri", "http.response.code"],
                   [f"tcp.port=={server.port},http"], "http")
    assert [r for r in rows if r[1]] == [[str(server.port), "/hello.txt", ""]]
    assert [r[2] for r in rows if r[2]] == ["200"]
    _checksums_good(capture)


@needs_tshark
def test_an_accepted_connection_is_opened_by_the_client_side(tmp_path):
    text = _record(tmp_path, ["listen 127.0.0.1 0", "client http", "accept", "recv line", "expect \\r\\n\\r\\n",
                              "send HTTP/1.0 204 No Content\\r\\n", "close"])
    listener = int(text.split("#@ tcp server 127.0.0.1 ", 1)[1].split(" ", 1)[0])
    capture = _export(tmp_path)
    rows = _fields(capture, ["tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack"])
    assert rows[0][1:] == [str(listener), "1", "0"]  # the SYN goes to the listening port
    assert rows[1][0] == str(listener) and rows[1][2:] == ["1", "1"]
    http = _fields(capture, ["http.request.method", "http.response.code"], [f"tcp.port=={listener},http"], "http")
    assert [r for r in http if r[0]] == [["GET", ""]] and [r[1] for r in http if r[1]] == ["204"]
