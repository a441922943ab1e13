"""The helpers an exported program shows text with, as source text in prelude.py's table:
received bytes in netrepl's text view (show, TextEscaper), its notes and `print` lines as
netrepl writes its messages (note, safe).

Peer bytes (and text from options, which may carry them) must never reach a terminal raw:
an escape sequence can clear the screen, write the clipboard (OSC 52) or make the terminal
answer into its input, and a bidi override reorders what a line reads as. So the program
escapes as netrepl does, with netrepl's own code: the table of unsafe code points
(netrepl/base/escape.py's _UNSAFE_RANGES), the patterns built from it and the source of escape_bytes,
TextEscaper, escape_text and safe are written into the program when it is
exported. Nothing is copied by hand, so the program's view cannot drift from netrepl's.
"""

from __future__ import annotations

import inspect

from netrepl.export.prelude import helper
from netrepl.base import escape

def _ranges() -> str:
    rows, row = [], []
    for a, b in escape._UNSAFE_RANGES:
        row.append(f"(0x{a:04X}, 0x{b:04X})")
        if len(row) == 5:
            rows.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        rows.append("    " + ", ".join(row) + ",")
    return "\n".join(["_UNSAFE_RANGES = (", *rows, ")"])


def _source(*parts) -> str:
    """Lines of text and netrepl's functions (their source, read now), in order."""
    return "\n\n\n".join(part if isinstance(part, str) else inspect.getsource(part).rstrip("\n") for part in parts)


# The escaping code, in parts, so a program has only those it uses (note: safe; show: escape_bytes;
# a stream: TextEscaper). The patterns are built from the table in the program, as netrepl builds them.
PARTS = {
    "unsafe": ((), (), _source(
        "# Code points that must never reach a terminal raw: netrepl's table (netrepl/base/escape.py),\n"
        "# written out when this program was exported. \\t, \\n and the backslash are not in it.\n"
        + _ranges(), escape._char_class,
        "_UNSAFE = re.compile(_char_class(_UNSAFE_RANGES))\n"
        "_ASTRAL_UNSAFE = re.compile(_char_class(r for r in _UNSAFE_RANGES if r[0] > 0xFFFF))")),
    "render": ((), ("unsafe",), _source("_TABLES = None  # str.translate tables (bytes view, text view): built on "
                                        "first use", escape._escape_char, escape._tables, escape._render)),
    "escape_bytes": ((), ("render",), _source(
        f"_BYTES_NEED_WORK = re.compile({escape._BYTES_NEED_WORK.pattern!r})", escape.escape_bytes)),
    "text_escaper": (("codecs",), ("render",), _source(escape.TextEscaper)),
    "safe": ((), ("render",), _source(
        f"_TEXT_NEEDS_WORK = re.compile({escape._TEXT_NEEDS_WORK.pattern!r})\n"
        f"_ASCII_UNSAFE = re.compile({escape._ASCII_UNSAFE.pattern!r})",
        escape.escape_text, escape.is_terminal_safe, escape.safe)),
}
for _name, (_imports, _needs, _text) in PARTS.items():
    helper(_name, ("re",) + _imports, _needs, _text)


def escape_source() -> str:
    """The whole escaping code a program may hold: netrepl's, generated from netrepl/base/escape.py now."""
    return "\n\n\n".join(text for _, _, text in PARTS.values())


helper("note", ("sys",), ("safe",), '''
def note(*words):
    """What a step did, on standard error (standard output is for received data): one line,
    whatever it quotes (a peer's text, an option's value) escaped as netrepl escapes its messages."""
    print(safe(" ".join(str(word) for word in words)), file=sys.stderr, flush=True)
''')

helper("show", ("sys",), ("escape_bytes",), '''
def show(data):
    """Received bytes as text on standard output, ending with a newline, as netrepl shows them:
    printable text kept, controls, bidi and invisible characters and undecodable bytes escaped."""
    if data:
        text = escape_bytes(data)
        sys.stdout.write(text if text.endswith("\\n") else text + "\\n")
        sys.stdout.flush()
''')

helper("text_out", ("sys",), ("text_escaper",), '''
class TextOut:
    """A stream's bytes as text on standard output, chunk by chunk, as netrepl shows them: a
    character split between two chunks stays whole, and the text ends with a newline."""

    def __init__(self):
        self.view = TextEscaper()
        self.last = "\\n"

    def write(self, data):
        self.put(self.view.feed(data))

    def put(self, text):
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self.last = text[-1]

    def close(self):
        self.put(self.view.flush())
        if self.last != "\\n":
            self.put("\\n")
''')
