"""Tests for netrepl.render.escape: untrusted bytes must never reach the terminal raw."""

import os
import random
import re
import shutil
import subprocess
import unicodedata

import pytest

from netrepl.render.escape import (HexDumper, TextEscaper, escape_bytes, escape_text, hexdump,
                            is_terminal_safe)

try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # the property test below is the only one that needs it
    given = None

HEXDUMP = "/usr/bin/hexdump"

# Sequences a hostile peer would send to take over a terminal.
HOSTILE = [
    b"\x1b[2J", b"\x1b[H", b"\x1b[31m", b"\x1b]0;pwned\x07", b"\x1b]52;c;aGVsbG8=\x07",
    b"\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    b"\x9b2J",                   # raw C1 CSI byte (invalid UTF-8)
    b"\xc2\x9b2J",               # U+009B CSI, validly UTF-8 encoded
    b"\xc2\x9d0;pwned\xc2\x9c",  # U+009D OSC ... U+009C ST
    b"\x1b[?1049h", b"\x1b[6n", b"\x1b[c", b"\x1bZ", b"\x1bP+q544e\x1b\\",
    b"\x1b[8m", b"\x07", b"\x08\x08\x08", b"\r\x1b[K", b"\x7f",
    "abc\u202edcb.exe".encode(), "a\u2066b\u2069c\u200ed\u200f\u061c".encode(),
    "zero\u200bwidth\u200c\u200d\u2060\u2064\ufeff\u00ad".encode(),
    "line\u2028para\u2029".encode(), "tag\U000e0001\U000e0041\U000e007f".encode(),
]

INVALID_UTF8 = {
    b"\x80": r"\x80",                     # lone continuation byte
    b"a\xbfb": r"a\xbfb",
    b"\xc0\xaf": r"\xc0\xaf",             # overlong "/"
    b"\xe0\x80\xaf": r"\xe0\x80\xaf",     # overlong, 3 bytes
    b"\xed\xa0\x80": r"\xed\xa0\x80",     # UTF-8-encoded surrogate U+D800
    b"\xf4\x90\x80\x80": r"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xff\xfe": r"\xff\xfe",
    b"ok\xe6\x97": r"ok\xe6\x97",         # truncated at the end
    b"\xe6\x97ok": r"\xe6\x97ok",         # truncated in the middle
    b"\xf0\x9f\x98": r"\xf0\x9f\x98",
}

_TOKEN = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|r|n|t|\\)|([^\\]+)", re.S)


def unescape(text: str, *, as_bytes: bool = True):
    """Inverse of escape_bytes (as_bytes) or escape_text: proves the views are unambiguous."""
    out = []
    pos = 0
    for m in _TOKEN.finditer(text):
        assert m.start() == pos, f"stray backslash at {pos}: {text[pos:pos + 12]!r}"
        pos = m.end()
        esc, lit = m.groups()
        if lit is not None:
            out.append(lit)
        elif esc in ("r", "n", "t", "\\"):
            out.append({"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}[esc])
        elif esc[0] == "x":  # a byte: ASCII control, or an invalid one (as surrogateescape)
            b = int(esc[1:], 16)
            out.append(chr(b if b < 0x80 else 0xDC00 + b))
        else:
            cp = int(esc[1:], 16)
            assert not 0xDC80 <= cp <= 0xDCFF, "an undecodable byte must show as \\xNN"
            out.append(chr(cp))
    assert pos == len(text)
    s = "".join(out)
    return s.encode("utf-8", "surrogateescape") if as_bytes else s


def hostile_samples():
    rng = random.Random(1234)
    samples = list(HOSTILE) + list(INVALID_UTF8) + [bytes(range(256)), bytes(range(256))[::-1]]
    samples += [rng.randbytes(rng.randrange(1, 200)) for _ in range(200)]
    # random mixes of hostile pieces, text and noise
    pieces = HOSTILE + list(INVALID_UTF8) + ["naïve café 日本語 🙂\\x1b\n\t".encode()]
    samples += [b"".join(rng.choice(pieces) for _ in range(8)) for _ in range(100)]
    return samples


# --- escape_bytes ---------------------------------------------------------------

def test_every_byte_value_alone_and_in_context():
    for b in range(256):
        if b in (0x09, 0x0A) or 0x20 <= b <= 0x7E and b != 0x5C:
            expected = chr(b)
        elif b == 0x5C:
            expected = "\\\\"
        elif b == 0x0D:
            expected = "\\r"
        else:  # other C0, DEL, and 0x80-0xff, which alone are never valid UTF-8
            expected = f"\\x{b:02x}"
        raw = bytes([b])
        assert escape_bytes(raw) == expected
        assert escape_bytes(b"ab" + raw + b"cd") == "ab" + expected + "cd"
        assert escape_bytes("é".encode() + raw + "日".encode()) == "é" + expected + "日"


def test_hostile_sequences_are_neutralised():
    for raw in HOSTILE:
        out = escape_bytes(raw)
        assert is_terminal_safe(out), (raw, out)
        assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
        assert unescape(out) == raw


def test_hostile_sequences_exact_rendering():
    assert escape_bytes(b"\x1b[2J") == r"\x1b[2J"
    assert escape_bytes(b"\x1b]0;pwned\x07") == r"\x1b]0;pwned\x07"
    assert escape_bytes(b"\x1bP+q544e\x1b\\") == r"\x1bP+q544e\x1b\\"
    # the raw C1 byte (invalid UTF-8) and the encoded C1 character stay distinguishable
    assert escape_bytes(b"\x9b2J") == r"\x9b2J"
    assert escape_bytes(b"\xc2\x9b2J") == r"\u009b2J"
    assert escape_bytes("abc\u202edcb".encode()) == r"abc\u202edcb"
    assert escape_bytes("a\u2028b\u2029".encode()) == r"a\u2028b\u2029"
    assert escape_bytes("\ufeffx\u00ad".encode()) == r"\ufeffx\u00ad"
    assert escape_bytes("\U000e0041".encode()) == r"\U000e0041"
    assert escape_bytes(b"\r\n\t\x00") == "\\r\n\t\\x00"


def test_backslash_is_doubled_so_literal_escapes_are_distinguishable():
    assert escape_bytes(b"\\") == "\\\\"
    assert escape_bytes(rb"\x1b") == r"\\x1b"
    assert escape_bytes(b"\x1b") == r"\x1b"
    assert escape_bytes(rb"C:\dir\file") == r"C:\\dir\\file"


@pytest.mark.parametrize("raw,expected", INVALID_UTF8.items())
def test_invalid_utf8_escaped_per_byte(raw, expected):
    assert escape_bytes(raw) == expected


def test_valid_text_passes_unchanged():
    for text in ["naïve café 日本語", "Ελληνικά русский עברית العربية", "emoji 🙂👍 ok",
                 "tab\tand\nnewline", "plain ascii ~!@#$%^&*()_+{}|:\"<>?", "", "\u00a0nbsp"]:
        assert escape_bytes(text.encode()) == text
        assert is_terminal_safe(escape_bytes(text.encode()))


def test_output_is_safe_and_round_trips():
    for raw in hostile_samples():
        out = escape_bytes(raw)
        assert is_terminal_safe(out), (raw, out)
        assert unescape(out) == raw, raw


def test_accepts_bytearray_and_memoryview():
    raw = b"a\x1b\xffb\xc3\xa9"
    assert escape_bytes(bytearray(raw)) == escape_bytes(memoryview(raw)) == r"a\x1b\xffbé"
    assert escape_bytes(memoryview(b"plain")) == "plain"


def test_unsafe_set_covers_running_unicode_data():
    # The unsafe ranges are hard-coded; fail loudly when a newer Unicode adds
    # a format character that they miss.
    missed = [hex(cp) for cp in range(0x110000)
              if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp", "Cs")
              and chr(cp) not in "\t\n" and is_terminal_safe(chr(cp))]
    assert missed == []


# Default_Ignorable_Code_Point, DerivedCoreProperties-15.0.0.txt (unchanged in 15.1), merged ranges.
# The stdlib's unicodedata has no such property, so the list is copied here from the UCD.
DEFAULT_IGNORABLE_15 = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
# Invisible code points that passed unescaped before the default-ignorables were covered.
INVISIBLE = {
    "\u034f": "COMBINING GRAPHEME JOINER", "\u115f": "HANGUL CHOSEONG FILLER",
    "\u3164": "HANGUL FILLER", "\uffa0": "HALFWIDTH HANGUL FILLER", "\ufe0f": "VARIATION SELECTOR-16",
    "\u2800": "BRAILLE PATTERN BLANK", "\U0001d159": "MUSICAL SYMBOL NULL NOTEHEAD",
}


def test_unsafe_set_covers_default_ignorable_code_points():
    assert sum(b - a + 1 for a, b in DEFAULT_IGNORABLE_15) == 4174  # the UCD's own total
    missed = [hex(cp) for a, b in DEFAULT_IGNORABLE_15 for cp in range(a, b + 1) if is_terminal_safe(chr(cp))]
    assert missed == []


def test_invisible_code_points_are_escaped():
    for ch, name in INVISIBLE.items():
        if unicodedata.unidata_version >= "13":  # names checked where the running data has them all
            assert unicodedata.name(ch) == name
        shown = f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
        assert not is_terminal_safe(ch)
        assert not is_terminal_safe("name" + ch)
        assert escape_bytes(("a" + ch + "b").encode()) == "a" + shown + "b"
        assert escape_text("a" + ch + "b") == "a" + shown + "b"
        esc = TextEscaper()
        assert esc.feed(ch.encode()[:1]) + esc.feed(ch.encode()[1:]) + esc.flush() == shown
    # visible spacing is text, not an escape
    for ch in ["\u3000", "\u00a0", "\u2003", "\u205f"]:
        assert is_terminal_safe(ch) and escape_text(ch) == ch


def test_every_unsafe_code_point_is_escaped():
    unsafe = [chr(cp) for cp in range(0x110000) if not is_terminal_safe(chr(cp))]
    assert len(unsafe) > 2048 + 60
    text = "x".join(unsafe)
    out = escape_text(text)
    assert is_terminal_safe(out)
    assert unescape(out, as_bytes=False) == text
    valid = [c for c in unsafe if not 0xD800 <= ord(c) <= 0xDFFF]
    encoded = "x".join(valid).encode()
    assert unescape(escape_bytes(encoded)) == encoded
    assert is_terminal_safe(escape_bytes(encoded))


# --- TextEscaper ------------------------------------------------------------------

SPLIT_SAMPLE = ("héllo 日本語 🙂 \x1b[2J\\ \u202e\U000e0041 ".encode()
                + b"\xe6\x97 \xf0\x9f \xed\xa0\x80 \xc2\x9b\r\n" + "末尾の日".encode())


def test_text_escaper_all_split_points():
    whole = escape_bytes(SPLIT_SAMPLE)
    for i in range(len(SPLIT_SAMPLE) + 1):
        for j in range(i, len(SPLIT_SAMPLE) + 1, 3):
            esc = TextEscaper()
            out = (esc.feed(SPLIT_SAMPLE[:i]) + esc.feed(SPLIT_SAMPLE[i:j])
                   + esc.feed(SPLIT_SAMPLE[j:]) + esc.flush())
            assert out == whole, (i, j)


def test_text_escaper_byte_by_byte_and_holds_back_split_character():
    esc = TextEscaper()
    assert esc.feed("日".encode()[:2]) == ""
    assert esc.feed("日".encode()[2:]) == "日"
    assert esc.feed(b"\xe6\x97") == ""
    assert esc.flush() == r"\xe6\x97"
    assert esc.feed(b"again") == "again"  # reusable after flush
    for raw in hostile_samples()[:120]:
        esc = TextEscaper()
        assert "".join(esc.feed(raw[k:k + 1]) for k in range(len(raw))) + esc.flush() \
            == escape_bytes(raw)


# --- escape_text ------------------------------------------------------------------

def test_escape_text_keeps_one_line():
    assert escape_text("plain") == "plain"
    assert escape_text("a\nb\tc\r") == r"a\nb\tc\r"
    assert escape_text("host\x1b]0;pwned\x07.example") == r"host\x1b]0;pwned\x07.example"
    assert escape_text("back\\slash") == r"back\\slash"
    assert escape_text("naïve 日本語 \u202e \x85") == r"naïve 日本語 \u202e \u0085"
    # undecodable bytes smuggled by surrogateescape (os.fsdecode) show as bytes
    assert escape_text(os.fsdecode(b"file\xff.txt")) == r"file\xff.txt"
    assert escape_text("\ud800") == r"\ud800"
    for raw in hostile_samples():
        s = raw.decode("utf-8", "surrogateescape")
        out = escape_text(s)
        assert is_terminal_safe(out) and "\n" not in out and "\t" not in out
        assert unescape(out, as_bytes=False) == s
        # same rules as escape_bytes apart from \n and \t
        assert out == escape_bytes(raw).replace("\n", r"\n").replace("\t", r"\t")


# --- is_terminal_safe -------------------------------------------------------------

def test_is_terminal_safe():
    assert is_terminal_safe("plain text\nline\ttab naïve 日本語 🙂 \\")
    assert is_terminal_safe("")
    for bad in ["\x1b", "\x00", "\r", "\x7f", "\x85", "\x9b", "\u202e", "\u200b", "\u2028",
                "\ufeff", "\U000e0041", "\udc80", "ok\x07"]:
        assert not is_terminal_safe(bad), repr(bad)


def test_is_terminal_safe_ascii_fast_path_agrees_with_the_whole_list():
    # ASCII text takes a short regex; the answer must be the full list's, character by character
    from netrepl.render.escape import _UNSAFE

    for cp in range(128):
        for text in (chr(cp), f"ab{chr(cp)}cd"):
            assert is_terminal_safe(text) == (_UNSAFE.search(text) is None), repr(text)


# --- hexdump ----------------------------------------------------------------------

def test_hexdump_format():
    assert hexdump(b"") == ""
    assert hexdump(b"A") == "00000000  41" + " " * 48 + "|A|\n"
    assert hexdump(b"0123456789abcdefg") == (
        "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n"
        "00000010  67                                                |g|\n")
    assert hexdump(b"\x1b[2J\x00\xff~ ", offset=0x100000000) == (
        "100000000  1b 5b 32 4a 00 ff 7e 20" + " " * 27 + "|.[2J..~ |\n")


def _real_hexdump(data: bytes) -> str:
    return subprocess.run([HEXDUMP, "-C", "-v"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout.decode("ascii")


@pytest.mark.skipif(not shutil.which(HEXDUMP), reason="no /usr/bin/hexdump")
def test_hexdump_matches_hexdump_C_v():
    rng = random.Random(99)
    inputs = [b"", b"\x00" * 64, bytes(range(256)), b"\\hello\x1b[2J\n\r\t\x7f\x80\xff"]
    inputs += [rng.randbytes(n) for n in (1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1000)]
    for data in inputs:
        real = _real_hexdump(data)
        ours = hexdump(data)
        if data:  # hexdump -C ends with the total length, which we leave to the caller
            assert real == ours + f"{len(data):08x}\n"
        else:
            assert real == ours == ""


def test_hexdump_only_printable_ascii():
    data = bytes(range(256)) * 3 + os.urandom(999)
    assert re.fullmatch(r"[\x20-\x7e\n]*", hexdump(data))
    assert is_terminal_safe(hexdump(data))


def test_hexdump_offset_and_chunks_concatenate():
    data = os.urandom(16 * 10 + 5)
    assert hexdump(data[:48]) + hexdump(data[48:], offset=48) == hexdump(data)
    assert hexdump(data, offset=32).startswith("00000020  ")


def test_hexdumper_chunked_equals_one_shot():
    rng = random.Random(5)
    data = rng.randbytes(1000)
    whole = hexdump(data)
    for _ in range(50):
        cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(8)))
        dumper = HexDumper()
        out, prev = [], 0
        for cut in cuts + [len(data)]:
            out.append(dumper.feed(data[prev:cut]))
            assert out[-1] == "" or out[-1].endswith("|\n")
            prev = cut
        out.append(dumper.flush())
        assert "".join(out) == whole
    dumper = HexDumper()
    assert dumper.feed(data[:20]) == hexdump(data[:16])  # complete lines only
    assert HexDumper(offset=16).feed(data[:16]) == hexdump(data[:16], 16)


# --- big inputs: linear, not quadratic (no timing assertions) ---------------------

def test_large_inputs_complete():
    size = 20 * 1024 * 1024
    rnd = os.urandom(size).replace(b"\n", b"x")  # one long line
    out = escape_bytes(rnd)
    assert "\n" not in out and is_terminal_safe(out)
    assert len(hexdump(rnd)) == (size // 16) * 79
    text = (b"GET / HTTP/1.1\r\nHost: x\\y\x1b[0m\r\n" * (size // 36))
    assert escape_bytes(text).count("\\r") == text.count(b"\r")
    line = b"a" * size
    assert escape_bytes(line) == escape_text(line.decode()) == "a" * size
    esc = TextEscaper()
    assert len("".join(esc.feed(rnd[i:i + 65536]) for i in range(0, size, 65536))
               + esc.flush()) == len(out)


# --- property test ----------------------------------------------------------------

if given is not None:
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
    def test_property_round_trip_and_chunking(raw, cuts):
        out = escape_bytes(raw)
        assert is_terminal_safe(out)
        assert unescape(out) == raw
        esc, dumper = TextEscaper(), HexDumper()
        parts, hex_parts, prev = [], [], 0
        for cut in sorted(min(c, len(raw)) for c in cuts) + [len(raw)]:
            parts.append(esc.feed(raw[prev:cut]))
            hex_parts.append(dumper.feed(raw[prev:cut]))
            prev = cut
        assert "".join(parts) + esc.flush() == out
        assert "".join(hex_parts) + dumper.flush() == hexdump(raw)
        s = raw.decode("utf-8", "surrogateescape")
        assert unescape(escape_text(s), as_bytes=False) == s
else:
    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_property_round_trip_and_chunking():
        pass
