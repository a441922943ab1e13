"""Commands that receive: recv (N, all, line, exactly N, quiet SECONDS, http), recvfrom and expect."""

from __future__ import annotations

from netrepl.commands.common import MAX_RECV
from netrepl.core.sink import FileSink, recv_all_to
from netrepl.core.errors import classify, failure
from netrepl.core.results import Result
from netrepl.language.argtypes import AmountOf, Int, Redirect, Seconds
from netrepl.language.escapes import encode_escapes
from netrepl.language.tokens import MAX_VALUE
from netrepl.language.texttypes import Pattern
from netrepl.language.registry import Arg, CommandSet
from netrepl.render.text import DataStream

COMMANDS = CommandSet()
command = COMMANDS.command
QUIET_DEFAULT = 1.0  # `recv quiet` alone: a pause of a second ends the reply
AMOUNT = AmountOf("n", {"exactly": Int(minimum=1, maximum=1 << 50),
                        "quiet": Seconds(minimum=0.001, maximum=86400),
                        "http": Int(minimum=100, maximum=599)})  # the final status the response must have


HTTP_DETAILS = ("`recv http` reads exactly one HTTP/1.x response by RFC 9112's message length rules: the status "
                "line and headers, then the body by `Transfer-Encoding: chunked` (extensions skipped, trailers "
                "shown), by `Content-Length`, or until end of stream; no body after a HEAD request (the last "
                "request lines `send` sent on this connection tell), nor for 1xx, 204 and 304. A 1xx interim "
                "response is shown and the next one read. It shows the head, says which rule framed the body, "
                "shows the body (de-chunked) and sets $http_status. What follows the response stays for the next "
                "command (keep-alive: one `recv http` per response). Malformed framing (Content-Length with "
                "chunked, two different Content-Lengths, a bad chunk size, a head over 64 KiB, a bad status line) "
                "fails with kind protocol and consumes nothing of a bad head. One timeout for the whole response; "
                "`recv http > PATH` streams the body to a file. `recv http STATUS` (100-599) also checks the final "
                "status: another one fails with kind expect, saying both, after the whole response was read (the "
                "next command starts after it); `record -e` writes `recv http` with the status it got.")


def _check_recv(a):
    if a["path"] is not None and a["n"] not in ("all", "exactly", "quiet", "http"):
        return ("only `recv all` can be redirected to a file (and `recv exactly N`, `recv quiet SECONDS`, "
                "`recv http`)", "path")
    if a["n"] == "exactly" and (a.get("amount") or 0) > MAX_RECV and a["path"] is None:
        return (f"at most {MAX_RECV} bytes are read into memory; `recv exactly N > PATH` streams more", "amount")
    return None


@command("recv", Arg("N", Int(("all", "line", "exactly", "quiet", "http"), minimum=1, maximum=MAX_RECV), "n",
                     optional=True, default=2048),
         Arg("AMOUNT", AMOUNT, "amount", optional=True,
             help="after `exactly`: a byte count (default 2048); after `quiet`: seconds (default 1); "
                  "after `http`: the final status the response must have (100-599)"),
         Arg("> PATH", Redirect(), "path", optional=True),
         help="one recv(N) (default 2048); `recv all` until end of stream; `recv line` one line (UDP: a datagram); "
              "`recv exactly N`; `recv quiet SECONDS`; `recv http [STATUS]` one HTTP/1.x response",
         check=_check_recv,
         details="`recv all > PATH` streams the raw bytes to a file (or /dev/null) in constant memory and "
                 "prints only the count. Reports data, end of stream (peer closed), timeout or reset distinctly. "
                 "`recv exactly N` reads until it has N bytes, with ONE timeout for the whole read; end of stream "
                 "first is a failure of kind eof that says how many came (`end of stream after 100 of 500 "
                 "bytes`). `recv quiet SECONDS` reads until the peer has sent nothing for SECONDS (a keep-alive "
                 "HTTP reply, a chatty banner), or until end of stream, and says which. Both take what an "
                 "earlier expect read past its match first, and both may end in `> PATH`. " + HTTP_DETAILS)
def _recv(ex, a, flags):
    size, path = a["n"], a["path"]
    to_stdout = path == "-"  # `> -`: standard output, as the front end writes data there
    if to_stdout:
        path = None
    if size == "line":
        return ex.session.recv_line()
    if size == "http":
        return _recv_http(ex, path, a.get("amount"))
    if size not in ("all", "exactly", "quiet"):
        return ex.session.recv(size)
    s = ex.session
    if size == "all":
        read = s.recv_all
        if path is not None:
            return recv_all_to(s, path)
    elif size == "exactly":
        count = a["amount"] or 2048
        read = lambda *args, **kw: s.recv_exactly(count, *args, **kw)  # noqa: E731
    else:
        quiet = a["amount"] if a["amount"] is not None else QUIET_DEFAULT
        read = lambda *args, **kw: s.recv_quiet(quiet, *args, **kw)  # noqa: E731
    if path is not None:
        return _to_file(s, path, read, f"recv {size} >")
    if ex.raw_sink is not None:  # --raw: straight to standard output, in constant memory
        return read(ex.raw_sink)
    if to_stdout and ex.data_writer is None and size == "exactly" and count > MAX_RECV:
        return s._fail(failure("usage", "recv exactly >", "no standard output to stream to here: "
                                                          f"at most {MAX_RECV} bytes are read into memory"))
    if ex.data_writer is None or (size == "exactly" and not to_stdout):  # exactly N (at most MAX_RECV):
        return read()  # a result like recv N's
    # A front end shows the stream as it arrives instead of holding all of it.
    stream = DataStream(ex.data_writer, s.display, s.buffer.offset)
    feed = stream.feed
    recorder = ex.recorder
    watching = recorder is not None and recorder.expectations
    if watching:  # `record -e` checks what came: its head and count
        head, total = bytearray(), 0

        def feed(chunk, show=stream.feed):
            nonlocal total
            show(chunk)
            total += len(chunk)
            if len(head) < recorder.STREAM_HEAD:
                head.extend(chunk[:recorder.STREAM_HEAD - len(head)])
    try:
        return read(on_data=feed)
    finally:
        stream.close()
        if watching:
            recorder.streamed = (bytes(head), total)


def _recv_http(ex, path, wanted: int | None):
    from netrepl.core.httpframe import read_response  # only scripts that read HTTP need it

    s = ex.session
    read = lambda sink=None, where=None: read_response(s, sink, where)  # noqa: E731
    outcome = _to_file(s, path, read, "recv http >") if path is not None else read()
    result, status = outcome if isinstance(outcome, tuple) else (outcome, None)
    if status is not None:
        ex.variables["http_status"] = str(status)
    if ex.recorder is not None:  # `record -e` writes `recv http STATUS` with the status it got
        ex.recorder.http_status = status
    if wanted is not None and result.ok and status != wanted:
        # The whole response was read (the cursor is after it, as for any read): only the check failed.
        op = "recv http" + (" >" if path is not None else "")
        return s._fail(failure("expect", op, f"expected status {wanted}, got {status} (the whole response "
                                             "was read)"), result)
    return result


def _to_file(session, path: str, read, op: str) -> Result:
    """`recv exactly|quiet ... > PATH`: as `recv all > PATH` (no socket: said before a file is touched)."""
    if session.transport is None:
        return read()
    try:
        sink = FileSink(path, session.timeout, op)
    except OSError as exc:
        return session._fail(failure("file", op, f"{path}: {exc.strerror}", exc.errno))
    except KeyboardInterrupt as exc:
        return session._fail(classify(exc, op), Result().say(f"stopped waiting for a reader of {path}"))
    try:
        return read(sink, path)
    finally:
        sink.close()


@command("recvfrom", Arg("N", Int(minimum=1, maximum=MAX_RECV), "n", optional=True, default=2048),
         help="one recvfrom(N): a datagram and who sent it")
def _recvfrom(ex, a, flags):
    return ex.session.recvfrom(a["n"])


@command("expect", Arg("PATTERN", Pattern(), "pattern"),
         flags={"-m": "consume through the match only, not the rest of its line"},
         help="wait until received data contains TEXT, matches /REGEX/ (named groups set $NAME), or reaches eof; "
              "consumes through the end of that line",
         details="Searches only data no earlier command showed or matched (recv, recv line, recv all and "
                 "expect read one stream, each byte once), reading more until it matches or the timeout runs "
                 "out. It consumes the data through its match and the rest of the line the match ends in: a "
                 "reply line is one unit, so `expect 220` takes `220 Ready to start TLS\\r\\n` whole and a `tls` "
                 "after it starts clean, while bytes after that line (a STARTTLS injection) stay and `tls` warns "
                 "about them. If the line's newline has not arrived with the match, expect waits for it 0.1 s at "
                 "most (within the timeout) and else stops at the match (a `Password: ` prompt has no newline); "
                 "it looks at most 64 KiB past the match. `expect -m` consumes through the match only (the "
                 "rest of the line is left for the next command, as `record -e` writes a partial line). What it "
                 "read past that goes to the next command. A failure consumes nothing and quotes the start and end of what it holds (at most "
                 "the last 1 MiB). TEXT takes the same escapes as send. A /REGEX/ ends at its closing `/` "
                 "(`\\/` is a slash of the regex); a `# comment` may follow it or `eof` after a blank, while after "
                 "TEXT a `#` is text, as for send. Captures: each named group `(?P<NAME>...)` of a matching "
                 "/REGEX/ sets $NAME for the lines after it, to the bytes it matched written in netrepl's "
                 "escapes (printable ASCII as it is; `\\`, `$` and other bytes escaped), so `send $NAME` sends "
                 "those bytes exactly, `print $NAME` shows them safely and a number works where one is expected "
                 "(`expect /Content-Length: (?P<len>\\d+)/` then `recv exactly $len`); a group that took no "
                 "part is empty. The script check knows the names a regex sets: one used before is undefined.")
def _expect(ex, a, flags):
    result = ex.session.expect(a["pattern"], whole_line="-m" not in flags)
    if result.ok:
        set_captures(ex.variables, ex.session.captures, result)
    return result


def set_captures(variables: dict, captures: dict, result: Result) -> None:
    """Each named group `(?P<NAME>...)` of the match becomes $NAME, its bytes written in
    netrepl's escapes: `send $NAME` sends them exactly, `print $NAME` shows them safely."""
    for name, value in captures.items():
        text = encode_escapes(value)
        if len(text) > MAX_VALUE:
            result.say(f"${name} not set: the captured {len(value)} bytes are more than a variable holds")
            continue
        variables[name] = text
        result.say(f"captured ${name} = '{text}'" if len(text) <= 200 else
                   f"captured ${name}: {len(value)} bytes")
