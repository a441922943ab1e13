"""The pcapng file format and the IP/TCP/UDP headers of its frames, written by hand (small, documented).

One section (SHB) with a comment, one interface (IDB) of link type RAW (101:
each frame starts with its IPv4 or IPv6 header, so one interface carries both),
then one Enhanced Packet Block (EPB) per frame. Checksums are computed (IPv4
header, TCP and UDP over their pseudo-headers), so Wireshark flags none.
Reference: the pcapng specification (IETF draft-ietf-opsawg-pcapng), RFC 791,
RFC 8200, RFC 9293, RFC 768.
"""

from __future__ import annotations

import ipaddress
import struct

LINKTYPE_RAW = 101
_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
_OPT_END, _OPT_COMMENT, _SHB_USERAPPL, _IF_NAME = 0, 1, 4, 2
PROTO_TCP, PROTO_UDP = 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in options)
    return out + struct.pack("<HH", _OPT_END, 0)


def _block(kind: int, body: bytes) -> bytes:
    size = 12 + len(body)
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


def section_header(comment: str, application: str) -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)  # byte-order magic, version 1.0, length unknown
    return _block(_SHB, body + _options([(_OPT_COMMENT, comment.encode()), (_SHB_USERAPPL, application.encode())]))


def interface(name: str) -> bytes:
    body = struct.pack("<HHI", LINKTYPE_RAW, 0, 0)  # snaplen 0: no limit
    return _block(_IDB, body + _options([(_IF_NAME, name.encode())]))


def packet(micros: int, frame: bytes, comment: str | None = None) -> bytes:
    """An EPB on interface 0; the time in microseconds since the epoch (the default resolution)."""
    head = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(frame), len(frame))
    return _block(_EPB, head + _pad(frame) + _options([(_OPT_COMMENT, comment.encode())] if comment else []))


# ----- IP, TCP, UDP ----------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's-complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Addresses:
    """Source and destination of frames one way: IPv4 or IPv6, packed."""

    __slots__ = ("src", "dst", "v6")

    def __init__(self, src: str, dst: str):
        a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        if a.version != b.version:
            raise ValueError(f"{src} and {dst} are not of one IP version")
        self.src, self.dst, self.v6 = a.packed, b.packed, a.version == 6

    def reverse(self) -> "Addresses":
        other = Addresses.__new__(Addresses)
        other.src, other.dst, other.v6 = self.dst, self.src, self.v6
        return other


class IpFrames:
    """Builds the frames: an IPv4 identification counter is the only state."""

    def __init__(self) -> None:
        self.ident = 0

    def ip(self, where: Addresses, proto: int, payload: bytes) -> bytes:
        if where.v6:
            return struct.pack("!IHBB", 6 << 28, len(payload), proto, 64) + where.src + where.dst + payload
        self.ident = (self.ident + 1) & 0xFFFF
        head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(payload), self.ident, 0x4000, 64, proto, 0) \
            + where.src + where.dst
        return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + payload

    @staticmethod
    def _pseudo(where: Addresses, proto: int, length: int) -> bytes:
        if where.v6:
            return where.src + where.dst + struct.pack("!IxxxB", length, proto)
        return where.src + where.dst + struct.pack("!xBH", proto, length)

    def tcp(self, where: Addresses, sport: int, dport: int, seq: int, ack: int, flags: int,
            payload: bytes = b"", window: int = 65535) -> bytes:
        head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                           window, 0, 0)
        total = checksum(self._pseudo(where, PROTO_TCP, len(head) + len(payload)) + head + payload)
        return self.ip(where, PROTO_TCP, head[:16] + struct.pack("!H", total) + head[18:] + payload)

    def udp(self, where: Addresses, sport: int, dport: int, payload: bytes) -> bytes:
        length = 8 + len(payload)
        head = struct.pack("!HHHH", sport, dport, length, 0)
        total = checksum(self._pseudo(where, PROTO_UDP, length) + head + payload) or 0xFFFF  # 0 means "none"
        return self.ip(where, PROTO_UDP, head[:6] + struct.pack("!H", total) + payload)
