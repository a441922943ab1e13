"""`netrepl export` of a script that says `set display hex`: the program shows received data
as netrepl's hex view does (render/text.py: `hexdump -C -v` lines numbered by the stream
offset, which runs on across commands, text ones too, and starts again with a new socket),
with netrepl's own hexdump and HexDumper written in at export.
"""

from __future__ import annotations

from test_export import export_and_compare
from netrepl.base import escape

TCP = """serve echo 0
connect localhost $lab_port
send -n ab\\x00
recv exactly 3
set display hex
send hello world, this is more than sixteen bytes
recv line
send -n 0123456789ABCDEF\\xff
expect 45
recv exactly 5 > five.out
recv exactly 6
set display text
send back to text \\x1b
recv line
set display hex
send -n the last bytes, streamed: abcdefghijklmnopqrstuvwxyz
expect streamed
shutdown 1
recv all
close
connect localhost $lab_port
send -n fresh
recv exactly 5
close
"""

UDP = """serve echo 0 udp
sendto localhost $lab_port first
set display hex
recvfrom
sendto localhost $lab_port a second datagram, longer than sixteen bytes
recv line
close
"""


def test_set_display_hex_shows_tcp_data_as_netrepls_hex_view(tmp_path):
    path = tmp_path / "hex.nrs"
    path.write_text(TCP)
    program, out, err = export_and_compare(path, {}, tmp_path)  # netrepl's run, then the program's: equal
    assert out.startswith("ab\\x00\n00000003  68 65 6c 6c 6f 20 77 6f  72 6c 64 2c 20 74 68 69  |hello world, thi|\n")
    assert "\n00000031  30 31 32 33 34 35   " in out  # expect's match: 3 + 46 bytes on
    assert "\n0000003c  42 43 44 45 46 ff   " in out  # after 5 bytes written to a file
    assert "\n0000006a  3a 20 61 62 63 64 65 66  67 68 69 6a 6b 6c 6d 6e  |: abcdefghijklmn|\n" in out
    assert "back to text \\x1b\\r\n" in out
    assert "00000000  66 72 65 73 68 " in out  # a new socket starts at 0
    assert (tmp_path / "five.out").read_bytes() == b"6789A"


def test_set_display_hex_shows_datagrams_as_netrepls_hex_view(tmp_path):
    path = tmp_path / "hexudp.nrs"
    path.write_text(UDP)
    program, out, err = export_and_compare(path, {}, tmp_path)
    assert out.startswith("00000000  66 69 72 73 74   ")
    assert "\n00000000  61 20 73 65 63 6f 6e 64" in out  # each datagram numbered from its first byte


def test_the_programs_hexdump_is_netrepls():
    from netrepl.export.hexprelude import hexdump_source

    program: dict = {}
    exec(compile(hexdump_source(), "<program>", "exec"), program)
    samples = [b"", b"a", bytes(range(256)), bytes(range(256)) * 300 + b"tail", b"x" * 16, b"y" * 17]
    for data in samples:
        for offset in (0, 5, 1 << 33):
            assert program["hexdump"](data, offset) == escape.hexdump(data, offset)
        for cut in (1, 7, 16, 1000):
            ours, theirs = program["HexDumper"](3), escape.HexDumper(3)
            pieces = [data[i:i + cut] for i in range(0, len(data), cut)]
            assert "".join(map(ours.feed, pieces)) + ours.flush() == \
                "".join(map(theirs.feed, pieces)) + theirs.flush() == escape.hexdump(data, 3)
