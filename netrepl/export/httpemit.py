"""`recv http` in an exported program: one HTTP/1.x response, framed as netrepl frames it.

The framing rules themselves (status line, fields, RFC 9112 6.3's order, chunk-size
lines) are core/httprules.py's own functions, their source written into the program
when it is exported, so the program cannot drift from netrepl; the helper here only
reads (one overall deadline, bytes past the response left in `pending`), shows the
head on standard error and the body on standard output (or writes it to a file), and
returns the status for `$http_status`.

Which request a response answers is known when the script is exported: each literal
`send` is searched for request lines (a HEAD's response has no body), in order, as
netrepl's session does when it runs. A `send` whose text names a variable cannot be
searched, and a `recv http` after it is refused.
"""

from __future__ import annotations

import inspect
import re

from netrepl.core import httprules
from netrepl.export.prelude import helper
from netrepl.export.program import Program
from netrepl.export.values import Expr, to_number, to_str
from netrepl.language.escapes import EscapeError, decode_escapes

_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")  # a `$NAME` in typed text: its value is not known
UNKNOWN = "?"  # a request sent with a variable in it: its method is not known when exporting


def _framing_source() -> str:
    rules = [f"HTTP_HEAD_LIMIT = {httprules.HEAD_LIMIT!r}", f"HTTP_LINE_LIMIT = {httprules.LINE_LIMIT!r}"]
    rules += [f"{name} = re.compile({getattr(httprules, name).pattern!r})"
              for name in ("_STATUS", "_TOKEN", "_HEX", "_CHUNK_EXT", "_HEAD_END")]
    functions = (httprules.ProtocolError, httprules._text, httprules._count, httprules.Head,
                 httprules.parse_fields, httprules.parse_head, httprules.framing, httprules.chunk_size)
    return ("# netrepl's HTTP/1.x framing (core/httprules.py), written out when this program was exported.\n"
            + "\n".join(rules) + "\n\n\n" + "\n\n\n".join(inspect.getsource(fn) for fn in functions))


helper("http_framing", ("re",), (), _framing_source())

helper("recv_http", ("time",), ("http_framing", "take", "show", "note", "file_out", "recv_exactly"), '''
def recv_http(sock, pending, method, timeout, path=None):
    """One HTTP/1.x response, within ONE timeout: its head on standard error, its body shown
    (or written to the file at path, opened first); what follows it stays in pending. Malformed
    framing is ProtocolError, an early end of stream EndOfStream. Returns the status."""
    out = None if path is None else FileOut(path, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    body = bytearray()
    write = body.extend if out is None else out.write

    def more():
        if deadline is not None:
            if deadline <= time.monotonic():
                raise TimeoutError("no complete response within the timeout (one timeout for the whole response)")
            sock.settimeout(deadline - time.monotonic())
        chunk = sock.recv(1 << 18)
        pending.extend(chunk)
        return bool(chunk)

    def line(limit, what):
        while (at := pending.find(b"\\n", 0, limit + 2)) < 0:
            if len(pending) > limit + 1:
                raise ProtocolError(f"{what} longer than {limit >> 10} KiB")
            if not more():
                raise EndOfStream(f"end of stream in {what}")
        got = take(pending, at + 1)[:-1]
        return got[:-1] if got.endswith(b"\\r") else got

    def copy(count):
        done = 0
        while count is None or done < count:
            if not pending and not more():
                if count is None:
                    return done
                raise EndOfStream(f"end of stream after {done} of {count} bytes of body")
            data = take(pending, None if count is None else count - done)
            write(data)
            done += len(data)
        return done

    def head():
        while True:
            skip = 0
            while pending.startswith(b"\\r\\n", skip) or pending.startswith(b"\\n", skip):
                skip += 2 if pending[skip] == 13 else 1
            m = _HEAD_END.search(pending, skip, HTTP_HEAD_LIMIT + skip)
            if m is not None:
                return parse_head(bytes(pending[skip:m.end()])), m.end()
            if len(pending) - skip >= HTTP_HEAD_LIMIT:
                raise ProtocolError(f"status line and headers longer than {HTTP_HEAD_LIMIT >> 10} KiB")
            start = bytes(pending[skip:skip + 5])
            if start not in (b"", b"\\r") and not b"HTTP/".startswith(start):
                parse_head(bytes(pending[skip:]).split(b"\\n", 1)[0])
            if not more():
                raise EndOfStream("end of stream before a whole response head")

    try:
        while True:
            response, size = head()
            if not 100 <= response.status < 200 or response.status == 101:
                break
            take(pending, size)
            for text in response.lines:
                note(_text(text))
        how, length = ("none", None) if response.status == 101 else framing(response, method)
        take(pending, size)
        for text in response.lines:
            note(_text(text))
        total = 0
        if how == "length":
            total = copy(length)
        elif how == "chunked":
            while size := chunk_size(line(HTTP_LINE_LIMIT, "a chunk-size line"), total):
                total += copy(size)
                if not (pending.startswith(b"\\r\\n") or pending.startswith(b"\\n")):
                    while len(pending) < 2 and more():
                        pass
                    if not (pending.startswith(b"\\r\\n") or pending.startswith(b"\\n")):
                        raise ProtocolError("a chunk is not followed by CRLF")
                take(pending, 2 if pending[0] == 13 else 1)
            trailer = []
            while text := line(HTTP_HEAD_LIMIT, "the trailer section"):
                trailer.append(text)
            for name, value in parse_fields(trailer, "trailer"):
                note(f"trailer {_text(name)}: {_text(value)}")
        elif how.startswith("close"):
            total = copy(None)
        rule = {"length": "by Content-Length", "chunked": "by chunked transfer coding"}.get(how)
        said = f"{total} bytes of body " + (rule or "until end of stream") if rule or how.startswith("close") \
            else "no body (" + how.partition(": ")[2] + ")" if ": " in how else "no body"
        note(f"response {response.status}: {said}")
    finally:
        sock.settimeout(timeout)
        if out is not None:
            out.close()
        show(bytes(body))
    return response.status
''')


def note_sent(p: Program, parsed) -> None:
    """A `send` was exported: the methods of the request lines it sends, for the next `recv http`s.
    Its text naming a variable: the request lines written around the variable still count; with
    none, the variable may hold a request (a HEAD?) that only the run knows."""
    methods = p.__dict__.setdefault("http_methods", [])
    if parsed.args.get("source") is not None:
        return  # a file's bytes are not known when exporting: taken as no request line
    typed = p.raw(parsed, "text") if "-x" not in parsed.flags else None
    if typed is None:
        text = parsed.args["text"]
    else:
        try:
            text = decode_escapes(_VARIABLE.sub("X", typed))
        except EscapeError:
            text = b""
    found = httprules.request_methods(text + (b"" if "-n" in parsed.flags or "-x" in parsed.flags else p.eol))
    methods += found if found or typed is None else [UNKNOWN]


def forget_requests(p: Program) -> None:
    """A read other than `recv http` was exported (it reads the answers to the requests sent so
    far, as netrepl's session takes it: core/httpframe.py _method), or a new connection."""
    p.__dict__["http_methods"] = []


def recv_http(p: Program, parsed) -> None:
    """The code of `recv http [> PATH]`: $http_status is the program's local http_status."""
    if p.proto != "tcp" and not p.pending:
        p.refuse_state("`recv http` on a datagram socket: netrepl refuses it (its own state check); not exported")
    if p.hex:
        p.refuse("`recv http` with `set display hex` is not exported (the body's offsets would differ)")
    methods = p.__dict__.setdefault("http_methods", [])
    method = methods.pop(0) if methods else None
    if method == UNKNOWN:
        p.refuse("`recv http` after a `send` naming a variable is not exported: whether it sent a HEAD "
                 "(a response with no body) is only known when it runs")
    path = parsed.args["path"]
    target = "" if path is None else ", " + to_str(p.value(parsed, "path")).code
    p.need("recv_http")
    p.uses.update(("timeout", "pending"))
    call = f"recv_http(sock, pending, {method!r}, timeout{target})"
    wanted = parsed.args.get("amount")  # `recv http STATUS`: the final status must be that one
    if wanted is not None:
        if p.raw(parsed, "amount") is not None:  # typed as a variable: the program's option
            wanted = to_number(p.value(parsed, "amount", "int"), "int").code
        p.need("note")
        p.code(f"status = {call}",
               f"if status != {wanted}:",
               f"    note(f'recv http: expected status {{{wanted}}}, got {{status}} (the whole response was read)')",
               "    return 1")
    # $http_status: a local of main(), assigned only when the script reads it (listenemit.py's rule)
    if "http_status" in p.values.used or not p.values.decided:
        p.code(f"http_status = str({call if wanted is None else 'status'})")
    elif wanted is None:
        p.code(call)
    p.pending = True
    p.values.bound["http_status"] = Expr("http_status", "str")
