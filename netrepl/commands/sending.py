"""Commands that send: send (a stream) and sendto (one datagram)."""

from __future__ import annotations

from netrepl.commands.common import HOST_PORT, PORT
from netrepl.language.texttypes import EscapedText
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
command = COMMANDS.command
TEXT = Arg("TEXT", EscapedText(), "text", optional=True, default=b"")


@command("send", TEXT, flags={"-n": "send no line ending"},
         help="send TEXT plus the line ending (sendall); escapes \\r \\n \\t \\0 \\e \\\\ \\xNN",
         details="The rest of the line is sent after one blank (a `#` in it is data, not a comment). The line "
                 "ending (`set eol`, default \\r\\n as telnet and nc -C) is added unless -n is given. `send` "
                 "alone sends just the line ending.")
def _send(ex, a, flags):
    data = a["text"] if "-n" in flags else a["text"] + ex.session.eol
    return ex.session.send(data)


@command("sendto", HOST_PORT, PORT, TEXT,
         flags={"-l": "add the line ending (`set eol`)", "-n": "send no line ending (the default for datagrams)"},
         help="send one datagram to HOST PORT (or HOST:PORT; creates a UDP socket if none is open)",
         details="The datagram is TEXT exactly as written (escapes decoded): datagram protocols count every "
                 "byte, so no line ending is added unless -l is given. Flags may stand before HOST or "
                 "right before TEXT.")
def _sendto(ex, a, flags):
    data = a["text"] + ex.session.eol if "-l" in flags and "-n" not in flags else a["text"]
    return ex.session.sendto(a["host"], a["port"], data)
