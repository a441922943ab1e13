"""Results -> safe text, as (style, text) fragments.

Every string that reaches the terminal passes through here: peer bytes are
escaped or hex-dumped, messages (which can quote peer- or DNS-chosen text)
are escaped too. `stable=True` masks what changes from run to run.
"""

from __future__ import annotations

from netrepl.core.errors import KINDS
from netrepl.base.patterns import lazy
from netrepl.base.escape import HexDumper, TextEscaper, escape_bytes, escape_text, hexdump, is_terminal_safe, safe
from netrepl.render.words import Fragments, endpoint  # noqa: F401 (render.text.Fragments, as before)
from netrepl.base.unixpaths import unix_name
from netrepl.core.results import Elapsed, Endpoint, ErrorInfo, Line, Result, UnixName, Varies

# The text view's escapes, one token each (escape.py: a backslash is doubled, so a token
# starts at every backslash of the view). The `\r` of a line that ends in CR LF is shown
# unobtrusively (HTTP, SMTP, IMAP and redis end every line so); a bare CR, every other
# escape, stays loud, so the one that matters is not drowned. The text is the same either
# way (a transcript, which has no colours, keeps every `\r`): only the style differs.
_ESCAPE_TOKEN = lazy(r"\\(?:\\|r(\n)?|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")
# A class each, and a look that works without the shell's style sheet (a theme may
# restyle the classes; colour and bold are understood by every prompt_toolkit 3).
CRLF_STYLE = "class:data.crlf #808080"
ESCAPE_STYLE = "class:data.escape bold"
STYLED_LIMIT = 1 << 16  # characters: a bigger view is one fragment (styling megabytes costs more than it shows)


def duration(seconds: float, stable: bool = False) -> str:
    if stable:
        return "<time>"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def part_text(part, stable: bool = False) -> str:
    if isinstance(part, Endpoint):
        return endpoint(part, stable)
    if isinstance(part, UnixName):
        return unix_name(part, stable)
    if isinstance(part, Elapsed):
        return duration(part.seconds, stable)
    if isinstance(part, Varies):
        return part.mask if stable else part.text
    if isinstance(part, ErrorInfo):  # e.g. the failure must-fail expected
        return error_words(part)
    return str(part)


def line_text(line: Line, stable: bool = False) -> str:
    if len(line) == 1 and line[0].__class__ is str:  # most lines: one plain message
        return safe(line[0])
    return safe("".join(part_text(p, stable) for p in line))


def error_words(err: ErrorInfo) -> str:
    """`op: kind [ERRNAME errno]: message`, the description every failure gets."""
    code = ""
    if err.errname or err.errno is not None:
        code = " [" + " ".join(str(x) for x in (err.errname, err.errno) if x is not None) + "]"
    op = f"{err.op}: " if err.op else ""
    return f"{op}{KINDS.get(err.kind, err.kind)}{code}: {err.message}"


def error_text(err: ErrorInfo) -> str:
    return safe("error: " + error_words(err))


def data_fragments(text: str) -> Fragments:
    """A text view (data_text's) as styled fragments: CRLF line ends dim, other escapes bold.
    Joined, the fragments are `text` unchanged."""
    if "\\" not in text or len(text) > STYLED_LIMIT:
        return [("class:data", text)]
    out: Fragments = []
    last = 0
    for m in _ESCAPE_TOKEN.finditer(text):
        if m.start() > last:
            out.append(("class:data", text[last:m.start()]))
        if m.group(1):  # CR then LF: a CRLF line end
            out += [(CRLF_STYLE, "\\r"), ("class:data", "\n")]
        else:
            out.append((ESCAPE_STYLE, m[0]))
        last = m.end()
    if last < len(text):
        out.append(("class:data", text[last:]))
    return out


def data_text(data: bytes, display: str = "text", offset: int = 0) -> str:
    if display == "hex":
        return hexdump(data, offset)
    text = escape_bytes(data)
    return text if text.endswith("\n") else text + "\n"


def render(result: Result, display: str = "text", stable: bool = False, width: int = 80,
           fancy: bool = False) -> Fragments:
    """`width` and `fancy` (Unicode bars) are the front end's terminal, for a waterfall."""
    out: Fragments = []
    lines = [line_text(line, stable) for line in result.lines]
    state = f"  [{result.state}]" if result.state else ""
    if result.error is None and lines:
        lines[-1] += state
        state = ""
    for text in lines:
        out.append(("class:message", text + "\n"))
    if result.error is not None:
        out.append(("class:error", error_text(result.error) + state + "\n"))
    elif state and not result.fields:
        out.append(("class:state", state.strip() + "\n"))
    if result.fields:
        width = max(len(label) for label, _ in result.fields)
        for label, value in result.fields:
            out.append(("class:field", f"  {label:<{width}}  {safe(part_text(value, stable))}\n"))
    if result.text is not None:
        out.append(("class:help", "\n".join(safe_block_line(row) for row in result.text.split("\n")) + "\n"))
    if result.waterfall is not None:
        from netrepl.render.waterfall import draw  # only the `timing` command needs it

        out += draw(result.waterfall, width, fancy, stable)
    if result.data:
        text = data_text(result.data, display, result.data_offset)
        out += data_fragments(text) if display == "text" else [("class:data", text)]
    return out


def safe_block_line(text: str) -> str:
    return text if is_terminal_safe(text) else escape_text(text)


def plain(fragments: Fragments) -> str:
    return "".join(text for _, text in fragments)


class DataStream:
    """Shows peer bytes as they arrive (`recv all` on screen), in constant memory.

    `write` gets safe text only: the same escapes and hex dump as data_text.
    """

    def __init__(self, write, display: str = "text", offset: int = 0):
        self.write = write
        self.view = HexDumper(offset) if display == "hex" else TextEscaper()
        self.last = "\n"
        self.held = ""  # a `\r` that ended a chunk: with the next chunk's LF it is a CRLF line end

    def feed(self, chunk: bytes) -> None:
        text = self.held + self.view.feed(chunk)
        self.held = ""
        if text.endswith("\\r") and _escape_ends(text):  # so a CRLF split across two reads is seen whole
            text, self.held = text[:-2], text[-2:]
        if text:
            self.write(text)
            self.last = text[-1]

    def close(self) -> None:
        text = self.held + self.view.flush()
        self.held = ""
        if text:
            self.write(text)
            self.last = text[-1]
        if self.last != "\n":
            self.write("\n")


def _escape_ends(text: str) -> bool:
    """Does `text` (ending in backslash + r) end with the escape \\r, not an escaped backslash
    then a letter r? An odd run of backslashes before the r."""
    run = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return run % 2 == 1


def size_words(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def progress_text(total: int, seconds: float) -> str:
    """A live `recv all` status: '12.3 MiB at 1.9 GB/s'."""
    rate = total / seconds if seconds > 0 else 0.0
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if rate >= scale:
            return f"received {size_words(total)} at {rate / scale:.1f} {unit}"
    return f"received {size_words(total)} at {rate:.0f} B/s"
