"""Commands that send: send (a stream) and sendto (one datagram), as text, hex or a file."""

from __future__ import annotations

from netrepl.commands.common import HOST_PORT, PORT
from netrepl.core.payload import DATAGRAM_LIMIT, read_datagram, send_file
from netrepl.language.argtypes import Redirect
from netrepl.language.texttypes import EscapedText, HexBytes
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
command = COMMANDS.command
TEXT = Arg("TEXT", EscapedText(), "text", optional=True, default=b"", by_flag=(("-x", HexBytes()),))
SOURCE = Arg("< PATH", Redirect("<"), "source", optional=True)
HEX = {"-x": "TEXT is bytes in hex (`-x 16 03 01` or `-x 160301`), sent exactly: no line ending"}


def _check_payload(a, flags):
    """One payload: TEXT, hex or a file; the flags that say how it is sent go with it."""
    if a["source"] is not None:
        if a["text"]:
            return ("nothing may follow `< PATH` (the file is the whole payload)", "text")
        if "-x" in flags:
            return ("-x reads hex from the line; `< PATH` sends a file: use one of them", "source")
        if "-l" in flags:
            return ("a file is sent as it is: -l adds no line ending to it", "source")
    elif "-x" in flags and not a["text"]:
        return ("-x needs the bytes in hex (`-x 16 03 01`)", "end")
    return None


@command("send", SOURCE, TEXT, flags={"-n": "send no line ending", **HEX},
         flags_check=_check_payload,
         help="send TEXT plus the line ending (sendall); `send -x HEX`; `send < PATH` sends a file",
         details="The rest of the line is sent after one blank (a `#` in it is data, not a comment); escapes "
                 "\\r \\n \\t \\0 \\e \\\\ \\xNN. The line ending (`set eol`, default \\r\\n as telnet and nc -C) is "
                 "added unless -n is given. `send` alone sends just the line ending. `send -x 16 03 01` sends "
                 "those bytes and nothing else. `send < PATH` streams the file's bytes raw, any size, in constant "
                 "memory (each wait at most the timeout; Ctrl-C stops it), and says how many went out; the `<` "
                 "must stand alone (`send <b>` sends text; `send \\x3c PATH` the text `< PATH`). On a UDP socket "
                 f"the file is one datagram (at most {DATAGRAM_LIMIT:,} bytes).")
def _send(ex, a, flags):
    if a["source"] is not None:
        return send_file(ex.session, a["source"])
    if "-x" in flags:
        return ex.session.send(a["text"])
    data = a["text"] if "-n" in flags else a["text"] + ex.session.eol
    return ex.session.send(data)


@command("sendto", HOST_PORT, PORT, SOURCE, TEXT,
         flags={"-l": "add the line ending (`set eol`)", "-n": "send no line ending (the default for datagrams)",
                **HEX},
         flags_check=_check_payload,
         help="send one datagram to HOST PORT (or HOST:PORT; creates a UDP socket if none is open)",
         details="The datagram is TEXT exactly as written (escapes decoded): datagram protocols count every "
                 "byte, so no line ending is added unless -l is given. `sendto HOST PORT -x 0001` sends bytes "
                 f"written in hex; `sendto HOST PORT < PATH` sends a file as ONE datagram (at most "
                 f"{DATAGRAM_LIMIT:,} bytes). Flags may stand before HOST or right before TEXT.")
def _sendto(ex, a, flags):
    if a["source"] is not None:
        data, bad = read_datagram(ex.session, a["source"], "sendto <")
        if bad is not None:
            return bad
    elif "-l" in flags and "-n" not in flags and "-x" not in flags:
        data = a["text"] + ex.session.eol
    else:
        data = a["text"]
    return ex.session.sendto(a["host"], a["port"], data)
