"""The helpers of a program whose script says `set display hex`, as source text in prelude.py's
table: netrepl's hex view (netrepl/base/escape.py's hexdump and HexDumper, their source written into
the program when it is exported, so the program's dump cannot drift from netrepl's), and
the stream offset its lines are numbered by.

netrepl numbers a hex line by the offset in the session socket's stream of its first byte:
every byte a command consumed counts, shown as text or hex, written to a file, or discarded
before a TLS handshake, and a new socket starts again at 0. So in such a program `show`,
TextOut and FileOut count what they consume (VARIANTS: they stand for viewprelude's and
failprelude's), and `View.hex` says which view shows it, as `set display` left it.
"""

from __future__ import annotations

import inspect

from netrepl.export.prelude import helper
from netrepl.base import escape

# The helpers a hex program has instead of the text-only ones.
VARIANTS = {"show": "show_hex", "text_out": "text_out_hex", "file_out": "file_out_hex"}


def hexdump_source() -> str:
    """netrepl's hexdump and HexDumper, with the constants they use, generated now."""
    lines = ["# netrepl's hex view (netrepl/base/escape.py), written out when this program was exported.",
             f"_HEX_ASCII = {escape._HEX_ASCII!r}", f"_HEX_BLOCK = {escape._HEX_BLOCK!r}", "", ""]
    return "\n".join(lines) + "\n\n".join(inspect.getsource(fn) for fn in
                                          (escape._hex_lines, escape.hexdump, escape.HexDumper))


helper("hexdump", (), (), hexdump_source())

helper("view", (), ("hexdump",), '''
class View:
    """netrepl's `set display`: received data shown as text or as a hex dump (hex), whose lines
    are numbered by the offset in the stream of the session socket: the bytes the steps
    consumed from it so far (shown, written to a file or discarded), from 0 for a new socket."""

    hex = False
    offset = 0
''')

helper("show_hex", ("sys",), ("escape_bytes", "view"), '''
def show(data):
    """Received bytes on standard output as netrepl shows them: as text (printable text kept,
    controls, bidi and invisible characters and undecodable bytes escaped; ending with a
    newline), or as `hexdump -C -v` lines numbered from the stream offset."""
    if data:
        if View.hex:
            text = hexdump(data, View.offset)
        else:
            text = escape_bytes(data)
            text = text if text.endswith("\\n") else text + "\\n"
        sys.stdout.write(text)
        sys.stdout.flush()
    View.offset += len(data)
''')

helper("text_out_hex", ("sys",), ("text_escaper", "view"), '''
class TextOut:
    """A stream's bytes on standard output, chunk by chunk, as netrepl shows them: as text (a
    character split between two chunks stays whole), or as hex lines numbered on from the
    stream offset across the chunks; what is shown ends with a newline."""

    def __init__(self):
        self.view = HexDumper(View.offset) if View.hex else TextEscaper()
        self.last = "\\n"

    def write(self, data):
        View.offset += len(data)
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

helper("file_out_hex", (), ("file_problem", "open_for_writing", "view"), '''
class FileOut:
    """The file at path, opened (before anything is read) to hold received bytes: its errors are
    FileProblem. What it holds is consumed: the stream offset counts it. A FIFO waits for its
    reader at most timeout seconds."""

    def __init__(self, path, timeout):
        self.path = path
        self.file = file_step(path, open_for_writing, path, timeout)

    def write(self, data):
        file_step(self.path, self.file.write, data)
        View.offset += len(data)

    def close(self):
        self.file.close()
''')
