"""Commands that receive: recv (N, all, line), recvfrom and expect."""

from __future__ import annotations

from netrepl.commands.common import MAX_RECV
from netrepl.core.sink import recv_all_to
from netrepl.language.argtypes import Int, Redirect
from netrepl.language.texttypes import Pattern
from netrepl.language.registry import Arg, CommandSet
from netrepl.render.text import DataStream

COMMANDS = CommandSet()
command = COMMANDS.command


def _check_recv(a):
    if a["path"] is not None and a["n"] != "all":
        return ("only `recv all` can be redirected to a file", "path")
    return None


@command("recv", Arg("N", Int(("all", "line"), minimum=1, maximum=MAX_RECV), "n", optional=True, default=2048),
         Arg("> PATH", Redirect(), "path", optional=True),
         help="one recv(N) (default 2048); `recv all` until end of stream; `recv line` one line (UDP: a datagram)",
         check=_check_recv,
         details="`recv all > PATH` streams the raw bytes to a file (or /dev/null) in constant memory and "
                 "prints only the count. Reports data, end of stream (peer closed), timeout or reset distinctly.")
def _recv(ex, a, flags):
    size, path = a["n"], a["path"]
    if size == "line":
        return ex.session.recv_line()
    if size != "all":
        return ex.session.recv(size)
    if path is None:
        if ex.data_writer is None:
            return ex.session.recv_all()
        # A front end shows the stream as it arrives instead of holding all of it.
        stream = DataStream(ex.data_writer, ex.session.display, ex.session.buffer.offset)
        try:
            return ex.session.recv_all(on_data=stream.feed)
        finally:
            stream.close()
    return recv_all_to(ex.session, path)


@command("recvfrom", Arg("N", Int(minimum=1, maximum=MAX_RECV), "n", optional=True, default=2048),
         help="one recvfrom(N): a datagram and who sent it")
def _recvfrom(ex, a, flags):
    return ex.session.recvfrom(a["n"])


@command("expect", Arg("PATTERN", Pattern(), "pattern"),
         help="wait until received data contains TEXT, matches /REGEX/, or reaches eof",
         details="Searches only data no earlier command showed or matched (recv, recv line, recv all and "
                 "expect read one stream, each byte once), reading more until it matches or the timeout runs "
                 "out. It consumes the data through its match; what it read past the match goes to the next "
                 "command. A failure consumes nothing and quotes the start and end of what it holds (at most "
                 "the last 1 MiB). TEXT takes the same escapes as send.")
def _expect(ex, a, flags):
    return ex.session.expect(a["pattern"])
