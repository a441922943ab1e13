"""Turn untrusted bytes and strings into text that is safe to write to a terminal.

A floor below core/ and render/ (it was render/escape.py): the core quotes peer bytes in its
failure messages and recordings too, and the layers import only downward.

Bytes from a peer (and strings derived from them: reverse-DNS names, error
messages, file names) must never reach the terminal raw: escape sequences can
move the cursor, retitle the window, write the clipboard (OSC 52), or make the
terminal type an answer into our input (DA/DSR queries), and bidi/zero-width
characters can make text read differently from what it is.

Two views:
  * escape_bytes / TextEscaper / escape_text: printable text (any script) kept,
    everything else shown as an unambiguous backslash escape:
      \\\\  backslash        \\r  carriage return     \\xNN  other C0, DEL,
      and each byte that is not valid UTF-8        \\u0085  C1 controls (valid
      UTF-8 U+0080-U+009F, so distinct from an invalid byte 0x85)
      \\uXXXX / \\UXXXXXXXX  format/separator characters (Cf, Zl, Zp),
      default-ignorable and blank code points (see _UNSAFE_RANGES) and
      surrogates.  escape_bytes keeps "\\n" and "\\t" as layout; escape_text
      escapes them too so that a message stays on one line.
  * hexdump / HexDumper: `hexdump -C -v` lines (see hexdump for the details).

This is the display direction only: the output is for a person to read and
is never decoded back into bytes (its \\uXXXX forms are not script escapes).
The script-text direction, both ways, is netrepl.language.escapes.

Everything is pure and stdlib-only, built on C-level operations (decode,
str.translate, bytes.hex) because 64 MiB blobs are rendered on hot paths.
"""

import codecs

from netrepl.base.patterns import lazy

__all__ = ["escape_bytes", "TextEscaper", "escape_text", "hexdump", "HexDumper",
           "is_terminal_safe", "safe"]

# Code points that must never reach a terminal raw. "\t", "\n" and the
# backslash are not here: they are harmless to a terminal and each view
# decides about them. Three sets, hard-coded (Unicode 15.0) rather than
# derived at import, which would cost ~0.2 s per start-up (and the
# stdlib's unicodedata has no Default_Ignorable_Code_Point at all):
#   * controls, surrogates, and every Cf/Zl/Zp (format, line/paragraph
#     separator) character: they move the cursor, reorder text (bidi) or
#     hide in it. A test checks this still covers the running Python's data.
#   * Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters a
#     renderer shows as nothing, so a name or a banner can differ from what
#     it reads as (variation selectors, Hangul fillers, the combining
#     grapheme joiner, tag characters). A test checks the list, range by range.
#   * blanks that are assigned graphic characters but draw no ink: U+2800
#     BRAILLE PATTERN BLANK and U+1D159 MUSICAL SYMBOL NULL NOTEHEAD, the two
#     outside the sets above that are used to forge "empty" names.
# Not here: spaces that render as visible spacing (U+00A0, U+2000-U+200A,
# U+205F, U+3000 IDEOGRAPHIC SPACE): they are plain Zs whitespace of a known
# width, like " ", and escaping them would mangle ordinary CJK and typeset
# text. Escaping U+FE0F (VS16) shows an emoji presentation sequence as its
# base character then "\ufe0f": the price of showing every code point sent.
_UNSAFE_RANGES = (
    (0x0000, 0x0008), (0x000B, 0x001F),  # C0 controls except \t \n
    (0x007F, 0x009F),                    # DEL and C1 (U+009B is a one-char CSI)
    (0x00AD, 0x00AD),                    # soft hyphen (invisible)
    (0x034F, 0x034F),                    # combining grapheme joiner
    (0x0600, 0x0605), (0x061C, 0x061C),  # Arabic number signs, ALM (bidi)
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2),
    (0x115F, 0x1160),                    # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),                    # Khmer inherent vowels (invisible)
    (0x180B, 0x180F),                    # Mongolian variation selectors, vowel separator
    (0x200B, 0x200F),                    # zero-width space/joiners, LRM, RLM
    (0x2028, 0x202E),                    # line/paragraph separators, bidi embeddings/overrides
    (0x2060, 0x206F),                    # word joiner, invisible operators, bidi isolates, reserved
    (0x2800, 0x2800),                    # braille pattern blank
    (0x3164, 0x3164),                    # Hangul filler
    (0xD800, 0xDFFF),                    # surrogates: never valid text
    (0xFE00, 0xFE0F),                    # variation selectors
    (0xFEFF, 0xFEFF),                    # BOM / zero-width no-break space
    (0xFFA0, 0xFFA0),                    # halfwidth Hangul filler
    (0xFFF0, 0xFFFB),                    # reserved ignorables, interlinear annotation controls
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),                  # shorthand format controls
    (0x1D159, 0x1D159),                  # musical symbol null notehead
    (0x1D173, 0x1D17A),                  # musical beam/tie/slur/phrase controls
    (0xE0000, 0xE0FFF),                  # tags (invisible ASCII), variation selectors 17-256, reserved
)


def _char_class(ranges):
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


# Compiled on first need (netrepl/base/patterns.py), like every pattern here: parsing
# these two is ~7M instructions, an eighth of what netrepl added to a `netrepl -c`
# start, and clean ASCII never needs them.
_UNSAFE = lazy(_char_class(_UNSAFE_RANGES))
# str.translate below uses a BMP-sized table; the astral unsafe characters
# are rare enough to find with a regex over the input (see _render).
_ASTRAL_UNSAFE = lazy(_char_class(r for r in _UNSAFE_RANGES if r[0] > 0xFFFF))


def _escape_char(cp: int) -> str:
    if 0xDC80 <= cp <= 0xDCFF:  # surrogateescape's stand-in for an undecodable byte
        return f"\\x{cp - 0xDC00:02x}"
    if cp == 0x0D:
        return "\\r"
    if cp < 0x80:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


# str.translate tables indexed by code point. A list (not a dict) because a
# dict raises and clears a KeyError for every unmapped character; identity
# entries are the ints themselves. Code points past the end are left as is.
# Built on first use, not at import: that takes ~2 ms, a twentieth of a
# `netrepl -c` start, and clean ASCII never needs the tables.
_TABLES: "tuple[list, list] | None" = None


def _tables() -> "tuple[list, list]":
    """(bytes table, text table)."""
    global _TABLES
    if _TABLES is None:
        table = list(range(0x10000))
        for a, b in _UNSAFE_RANGES:
            for cp in range(a, min(b, 0xFFFF) + 1):
                table[cp] = _escape_char(cp)
        table[0x5C] = "\\\\"  # doubled, so a peer's literal "\x1b" differs from a real ESC
        text = table.copy()
        text[0x09] = "\\t"
        text[0x0A] = "\\n"
        _TABLES = (table, text)
    return _TABLES

# Anything but printable ASCII, "\n" and "\t", or a backslash: needs the slow path.
_BYTES_NEED_WORK = lazy(rb"[^\x20-\x5b\x5d-\x7e\n\t]")
_TEXT_NEEDS_WORK = lazy(r"[^\x20-\x5b\x5d-\x7e]")
_ASCII_UNSAFE = lazy(r"[\x00-\x08\x0b-\x1f\x7f]")  # the list above, within ASCII


def _render(s: str, table: list) -> str:
    if s.isascii():
        return s.translate(table)
    # The astral pass scans the input, and only the pieces between its matches
    # are translated: random bytes hold a tag or variation selector (U+E0000-
    # U+E0FFF) every ~250 KiB, and a second regex pass over the translated
    # (longer) text made a 64 MiB random view ~45% slower.
    parts, last = [], 0
    for m in _ASTRAL_UNSAFE.finditer(s):
        parts += (s[last:m.start()].translate(table), _escape_char(ord(m[0])))
        last = m.end()
    if not parts:
        return s.translate(table)
    parts.append(s[last:].translate(table))
    return "".join(parts)


def escape_bytes(data: bytes) -> str:
    """Text view of untrusted bytes: printable text (from valid UTF-8) kept,
    "\\n" and "\\t" kept as layout, everything else escaped (see module doc).
    An incomplete UTF-8 sequence at the end is escaped byte by byte; use
    TextEscaper for streams."""
    if _BYTES_NEED_WORK.search(data) is None:
        return str(data, "ascii")
    # surrogateescape maps each invalid byte to U+DC80..U+DCFF, which the
    # table turns back into "\xNN".
    return _render(str(data, "utf-8", "surrogateescape"), _tables()[0])


class TextEscaper:
    """Incremental escape_bytes for streamed data.

    Concatenating feed() outputs and flush() equals escape_bytes() of the
    concatenated chunks. The UTF-8 incremental decoder holds back at most 3
    bytes of a valid-so-far multibyte sequence at a chunk boundary, so a
    character split across two recv() calls renders as the character.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def feed(self, chunk: bytes) -> str:
        return _render(self._decoder.decode(chunk), _tables()[0])

    def flush(self) -> str:
        """Escape any held-back bytes; the escaper can then be reused."""
        return _render(self._decoder.decode(b"", final=True), _tables()[0])


def escape_text(s: str) -> str:
    """escape_bytes' rules for a str that may carry peer- or user-chosen
    content, except that "\\n" and "\\t" are escaped too so the result stays
    on one line. Lone surrogates U+DC80..U+DCFF (undecodable bytes smuggled
    by surrogateescape, e.g. os.fsdecode file names) show as "\\xNN"."""
    if s.isascii() and _TEXT_NEEDS_WORK.search(s) is None:
        return s
    return _render(s, _tables()[1])


def is_terminal_safe(s: str) -> bool:
    """True when s holds only printable characters, "\\n" and "\\t": no C0
    control but those two, no DEL, no C1, no Cf/Zl/Zp, no default-ignorable
    or blank code point, no surrogate."""
    if s.isascii():  # the common case: only C0 (but \n, \t) and DEL are unsafe there
        return _ASCII_UNSAFE.search(s) is None
    return _UNSAFE.search(s) is None


# hexdump's ASCII column: 0x20-0x7e as themselves, anything else as ".".
_HEX_ASCII = bytes(b if 0x20 <= b <= 0x7E else 0x2E for b in range(256))
# Formatting in blocks keeps the intermediate strings small: on 64 MiB it is
# ~25% faster and needs far less peak memory than one pass over the buffer.
_HEX_BLOCK = 1 << 16


def _hex_lines(data: bytes, offset: int) -> str:
    hx = data.hex(" ")  # "aa bb cc ...": byte i is at hx[3*i:3*i+2]
    asc = data.translate(_HEX_ASCII).decode("ascii")
    n = len(data)
    full = n - n % 16
    lines = [f"{offset + i:08x}  {hx[3*i:3*i+23]}  {hx[3*i+24:3*i+47]}  |{asc[i:i+16]}|\n"
             for i in range(0, full, 16)]
    if full < n:  # short last line: hex area padded to full width, as hexdump does
        h = hx[3 * full:]
        if len(h) > 23:
            h = h[:23] + " " + h[23:]
        lines.append(f"{offset + full:08x}  {h:<48}  |{asc[full:]}|\n")
    return "".join(lines)


def hexdump(data: bytes, offset: int = 0) -> str:
    """Lines of `hexdump -C -v` for data, numbered from offset.

    Identical to `hexdump -C -v` output except that the final line holding
    the total length is omitted, so that dumps of consecutive chunks (each a
    multiple of 16 bytes but the last) concatenate to the dump of the whole;
    append f"{offset + len(data):08x}\\n" to get hexdump's exact output.
    Repeated lines are not squeezed into "*" (that is what -v means): a
    diagnostics tool should not hide bytes. Output is printable ASCII and
    newlines only; empty data gives "".
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    return "".join([_hex_lines(data[i:i + _HEX_BLOCK], offset + i)
                    for i in range(0, len(data), _HEX_BLOCK)])


class HexDumper:
    """Incremental hexdump: feed() returns complete 16-byte lines only,
    flush() the short last line. Concatenated output equals
    hexdump(b"".join(chunks), offset)."""

    def __init__(self, offset: int = 0) -> None:
        self._offset = offset
        self._pending = b""  # fewer than 16 bytes not yet dumped

    def feed(self, chunk: bytes) -> str:
        data = self._pending + chunk
        n = len(data) - len(data) % 16
        self._pending = data[n:]
        out = hexdump(data[:n], self._offset)
        self._offset += n
        return out

    def flush(self) -> str:
        out = hexdump(self._pending, self._offset)
        self._offset += len(self._pending)
        self._pending = b""
        return out


def safe(text: str) -> str:
    """One line of our own words that may quote untrusted text."""
    if text.isascii() and text.isprintable():  # the common case, without the regex
        return text
    if is_terminal_safe(text) and "\n" not in text and "\t" not in text:
        return text
    return escape_text(text)
