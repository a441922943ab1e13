"""The helpers an exported program shows text with, as source text in prelude.py's table:
received bytes in netrepl's text view (show, TextEscaper), its notes and `print` lines as
netrepl writes its messages (note, safe).

Peer bytes (and text from options, which may carry them) must never reach a terminal raw:
an escape sequence can clear the screen, write the clipboard (OSC 52) or make the terminal
answer into its input, and a bidi override reorders what a line reads as. So the program
escapes as netrepl does, with netrepl's own code: the table of unsafe code points
(render/escape.py's _UNSAFE_RANGES), its compiled patterns and the source of escape_bytes,
TextEscaper, escape_text and render/text.py's safe are written into the program when it is
exported. Nothing is copied by hand, so the program's view cannot drift from netrepl's.
"""

from __future__ import annotations

import inspect

from netrepl.export.prelude import helper
from netrepl.render import escape, text

# The patterns of render/escape.py the copied functions use (lazy there, compiled here).
PATTERNS = ("_UNSAFE", "_ASTRAL_UNSAFE", "_BYTES_NEED_WORK", "_TEXT_NEEDS_WORK", "_ASCII_UNSAFE")
FUNCTIONS = (escape._escape_char, escape._tables, escape._render, escape.escape_bytes, escape.TextEscaper,
             escape.escape_text, escape.is_terminal_safe, text.safe)


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


def _patterns() -> str:
    return "\n".join(f"{name} = re.compile({getattr(escape, name).pattern!r})" for name in PATTERNS)


def escape_source() -> str:
    """The escaping code of the program: netrepl's, generated from render/escape.py now."""
    head = ["# Code points that must never reach a terminal raw: netrepl's table (render/escape.py),",
            "# written out when this program was exported. \\t, \\n and the backslash are not in it.",
            _ranges(), "", _patterns(), "",
            "_TABLES = None  # str.translate tables (bytes view, text view): built on first use"]
    return "\n".join(head) + "\n\n\n" + "\n\n".join(inspect.getsource(fn) for fn in FUNCTIONS)


helper("escape", ("codecs", "re"), (), escape_source())

helper("note", ("sys",), ("escape",), '''
def note(*words):
    """What a step did, on standard error (standard output is for received data): one line,
    whatever it quotes (a peer's text, an option's value) escaped as netrepl escapes its messages."""
    print(safe(" ".join(str(word) for word in words)), file=sys.stderr, flush=True)
''')

helper("show", ("sys",), ("escape",), '''
def show(data):
    """Received bytes as text on standard output, ending with a newline, as netrepl shows them:
    printable text kept, controls, bidi and invisible characters and undecodable bytes escaped."""
    if data:
        text = escape_bytes(data)
        sys.stdout.write(text if text.endswith("\\n") else text + "\\n")
        sys.stdout.flush()
''')

helper("text_out", ("sys",), ("escape",), '''
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
