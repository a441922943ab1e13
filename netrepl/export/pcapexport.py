"""`netrepl export --pcap FILE.nrs -o OUT.pcapng`: a `record -p` recording as a capture Wireshark opens.

The recording holds the application bytes, not the packets: the frames are
rebuilt from them (export/peertrace.py reads the events, export/pcapng.py
writes the format). Each TCP connection gets a three-way handshake, its data
as segments of at most MSS bytes with sequence and acknowledgement numbers
that follow the bytes, a pure ACK from the receiver after each step, FIN or
RST where the recording has an end of stream, a close or a reset. Datagrams
become UDP frames. A TLS connection's bytes were recorded as plaintext: they
are written as such on the real port, so Wireshark shows the protocol inside.
The capture says so in its section comment; the timestamps are made up (one
every TICK microseconds from the recording's modification time).

Written as it goes (at most one segment in memory); bounded by the recording's
own bounds and MAX_FILLER bytes for data a recording did not keep.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from netrepl.export import pcapng
from netrepl.export.pcapng import ACK, FIN, PSH, RST, SYN
from netrepl.export.peertrace import Conn, read
from netrepl.lab.replay import ReplayError

MSS = 16384  # bytes of one rebuilt segment (loopback's real MSS is larger: any size reassembles)
TICK = 100  # microseconds between frames
MAX_FILLER = 64 << 20  # bytes written for `more N bytes` steps in all (zeros: the bytes were not kept)
COMMENT = ("Frames reconstructed by netrepl from the application bytes of a `record -p` recording "
           "({source}): handshakes, segmentation, acknowledgements and timestamps are made up; "
           "TLS connections are shown as their plaintext on the real port.")


def _host(host: str, other: str) -> str:
    """An unspecified local address (an unbound UDP socket's 0.0.0.0) -> the loopback the peer is on."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address") from None
    if address.is_unspecified:
        peer = ipaddress.ip_address(other.split("%")[0])
        return str(peer) if peer.is_loopback else ("::1" if address.version == 6 else "127.0.0.1")
    return str(address)


class _Tcp:
    """One connection's sequence numbers (per side) and addresses, client and server."""

    def __init__(self, conn: Conn):
        local, remote = conn.local, conn.remote
        lhost, rhost = _host(local[0], remote[0]), _host(remote[0], local[0])
        ours = pcapng.Addresses(lhost, rhost)
        self.side = {">": (ours, local[1], remote[1]), "<": (ours.reverse(), remote[1], local[1])}
        # Initial sequence numbers: fixed per connection, so one recording gives one capture.
        self.seq = {">": 1000 * conn.number, "<": 5000 * conn.number + 7}
        self.finned = {">": False, "<": False}
        self.reset = False
        self.client = ">" if conn.role == "client" else "<"


class Writer:
    def __init__(self, out, start_micros: int):
        self.out, self.now, self.frames = out, start_micros, 0
        self.ip = pcapng.IpFrames()
        self.filler = MAX_FILLER

    def frame(self, data: bytes, comment: str | None = None) -> None:
        self.out.write(pcapng.packet(self.now, data, comment))
        self.now += TICK
        self.frames += 1

    def tcp(self, c: _Tcp, way: str, flags: int, payload: bytes = b"", comment: str | None = None) -> None:
        where, sport, dport = c.side[way]
        other = "<" if way == ">" else ">"
        ack = c.seq[other] if flags & ACK else 0
        self.frame(self.ip.tcp(where, sport, dport, c.seq[way], ack, flags, payload), comment)
        c.seq[way] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def open(self, c: _Tcp, conn: Conn, source: str) -> None:
        client = c.client
        server = "<" if client == ">" else ">"
        note = f"netrepl: connection {conn.number}, `#> connect` at {source}:{conn.line}"
        if conn.guessed:
            note += " (recorded without `#@` addresses: taken from the script's lines where they say them)"
        self.tcp(c, client, SYN, comment=note)
        self.tcp(c, server, SYN | ACK)
        self.tcp(c, client, ACK)

    def data(self, c: _Tcp, way: str, data: bytes, more: int) -> None:
        other = "<" if way == ">" else ">"
        for at in range(0, len(data), MSS):
            self.tcp(c, way, PSH | ACK, data[at:at + MSS])
        if more:
            if more > self.filler:
                raise ValueError(f"more than {MAX_FILLER} bytes that the recording did not keep")
            self.filler -= more
            for at in range(0, more, MSS):
                self.tcp(c, way, ACK, bytes(min(MSS, more - at)), "netrepl: bytes the recording did not keep "
                         "(zeros)" if at == 0 else None)
        if data or more:
            self.tcp(c, other, ACK)

    def fin(self, c: _Tcp, way: str) -> None:
        if c.finned[way] or c.reset:
            return
        c.finned[way] = True
        self.tcp(c, way, FIN | ACK)
        self.tcp(c, "<" if way == ">" else ">", ACK)

    def rst(self, c: _Tcp, way: str) -> None:
        if not c.reset:
            c.reset = True
            self.tcp(c, way, RST | ACK)

    def udp(self, way: str, addresses: tuple, data: bytes, size: int) -> None:
        lhost, lport, rhost, rport = addresses
        ours = pcapng.Addresses(_host(lhost, rhost), _host(rhost, lhost))
        where, sport, dport = (ours, lport, rport) if way == ">" else (ours.reverse(), rport, lport)
        payload = data + bytes(size - len(data))  # what the bound did not keep: zeros
        self.frame(self.ip.udp(where, sport, dport, payload))


def export_pcap(source: str, out_path: str | None, out_stream=None) -> tuple[int, int, int]:
    """Write the capture; (TCP connections, datagrams, frames). ReplayError/ValueError/OSError on failure."""
    events = read(source)
    if not events:
        raise ReplayError(f"{source}: no recorded peer in it (no `#> connect` or `#@ udp` line; "
                          "record with `record -p FILE.nrs`)")
    start = int(os.path.getmtime(source) * 1_000_000)
    if out_path is not None:
        # Private, as the recording is: a capture holds what was typed at a service.
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        out = os.fdopen(fd, "wb")
    else:
        out = out_stream
    conns: dict[int, _Tcp] = {}
    datagrams = 0
    try:
        writer = Writer(out, start)
        out.write(pcapng.section_header(COMMENT.format(source=os.path.basename(source)), "netrepl"))
        out.write(pcapng.interface("netrepl"))
        for event in events:
            kind = event[0]
            if kind == "udp":
                try:
                    writer.udp(*event[1:5])
                except ValueError as exc:
                    raise ReplayError(f"{source}:{event[5]}: {exc}") from None
                datagrams += 1
                continue
            conn = event[1]
            if kind == "open":
                try:
                    conns[conn.number] = _Tcp(conn)
                except ValueError as exc:
                    raise ReplayError(f"{source}:{conn.line}: {exc}") from None
                writer.open(conns[conn.number], conn, source)
            elif kind == "data":
                writer.data(conns[conn.number], event[2], event[3], event[4])
            elif kind == "fin":
                writer.fin(conns[conn.number], event[2])
            elif kind == "rst":
                writer.rst(conns[conn.number], event[2])
    finally:
        if out_path is not None:
            out.close()
    return len(conns), datagrams, writer.frames


def main(argv: list[str], parser_class) -> int:
    """`netrepl export --pcap FILE.nrs [-o OUT.pcapng]`: exit 0, 1 (cannot write) or 2 (cannot read).
    parser_class: the CLI's argparse class (it escapes what it quotes), passed down by `netrepl export`."""
    from netrepl.base.escape import safe

    parser = parser_class(prog="netrepl export --pcap", description="Write a `record -p` recording as a "
                             "pcapng capture (frames rebuilt from the recorded bytes) that Wireshark and tshark open.")
    parser.add_argument("--pcap", action="store_true", required=True, help="write a capture, not a program")
    parser.add_argument("script", metavar="FILE.nrs")
    parser.add_argument("-o", dest="out", metavar="OUT.pcapng",
                        help="write the capture there (default: standard output, when it is not a terminal)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and 2
    if args.out is None and sys.stdout.isatty():
        sys.stderr.write("netrepl export --pcap: a capture is binary: give -o OUT.pcapng, or pipe it "
                         "(| tshark -r -)\n")
        return 2
    try:
        conns, datagrams, frames = export_pcap(args.script, args.out, None if args.out else sys.stdout.buffer)
    except ReplayError as exc:
        sys.stderr.write(safe(f"netrepl export --pcap: {exc}") + "\n")
        return 2
    except ValueError as exc:
        sys.stderr.write(safe(f"netrepl export --pcap: {args.script}: {exc}") + "\n")
        return 2
    except OSError as exc:
        name = exc.filename or args.script
        verb = "read" if name == args.script else "write"
        sys.stderr.write(safe(f"netrepl export --pcap: cannot {verb} {name}: {exc.strerror or exc}") + "\n")
        return 2 if verb == "read" else 1
    if args.out is not None:
        sys.stderr.write(safe(f"netrepl export --pcap: wrote {args.out}: {conns} TCP connection"
                              f"{'' if conns == 1 else 's'}, {datagrams} datagram{'' if datagrams == 1 else 's'}, "
                              f"{frames} frames (rebuilt from the recorded bytes)") + "\n")
    return 0
