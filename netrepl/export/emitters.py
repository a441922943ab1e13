"""The socket commands' entries of the export table (table.py): socket, lookup,
connect, bind, info, shutdown, timeout, send, sendto, recv, recvfrom, expect
(close, and Unix socket addresses: listenemit.py)."""

from __future__ import annotations

from netrepl.core.results import UnixName
from netrepl.export import failprelude, httpemit, listenprelude, proxyemit  # noqa: F401 (their helpers: failures, Unix socket names)
from netrepl.export.program import Program
from netrepl.export.table import emitter
from netrepl.export.values import Expr, to_number, to_str

FAMILIES = {"inet": "socket.AF_INET", "inet6": "socket.AF_INET6", "unix": "socket.AF_UNIX"}
TYPES = {"tcp": "socket.SOCK_STREAM", "udp": "socket.SOCK_DGRAM", "stream": "socket.SOCK_STREAM",
         "dgram": "socket.SOCK_DGRAM"}
SAME_TYPE = {"stream": "tcp", "dgram": "udp"}  # what the emitters track: a stream or datagrams
SHUT = {0: "socket.SHUT_RD", 1: "socket.SHUT_WR", 2: "socket.SHUT_RDWR"}


def _data(p: Program, parsed, eol: bool) -> str:
    if "-x" in parsed.flags:  # bytes written in hex, sent exactly: no line ending
        if p.raw(parsed, "text") is not None:
            p.refuse("`-x` with a variable in the hex is not exported: write the bytes")
        return repr(parsed.args["text"])
    return p.text(parsed, "text", escapes=True, tail=p.eol if eol else b"").code


def _source(p: Program, parsed) -> str | None:
    """`< PATH`: code for the path (None: no file)."""
    if parsed.args.get("source") is None:
        return None
    return to_str(p.value(parsed, "source")).code


# ----- the socket ----------------------------------------------------------------------------------

@emitter("socket")
def _socket(p: Program, parsed) -> None:
    if p.sock and not p.maybe_closed:
        p.refuse_state("`socket` while one is open: netrepl refuses it (its own state check); not exported")
    family, kind = parsed.args["family"], parsed.args["type"]
    p.imports.add("socket")
    p.uses.add("timeout")
    p.no_open_socket("socket", "a socket is already open")
    p.code(f"sock = socket.socket({FAMILIES[family]}, {TYPES[kind]})", "sock.settimeout(timeout)")
    p.opened(SAME_TYPE.get(kind, kind), family)


@emitter("lookup")
def _lookup(p: Program, parsed) -> None:
    p.need("lookup")
    service = p.value(parsed, "service", "port")
    p.code(f"lookup({service.code}, {parsed.args['proto']!r})")


@emitter("connect")
def _connect(p: Program, parsed) -> None:
    httpemit.forget_requests(p)  # a new connection: no request waits for its response
    unix = isinstance(parsed.args["host"], UnixName)
    if unix:
        address = p.unix(parsed)
    else:
        host, port = p.host(parsed), p.port(parsed)
        address = f"({host}, {port})"
    if p.sock and not p.maybe_closed and not p.connected:  # a socket of its own (`socket`), or UDP re-targeted
        proxyemit.own_socket(p)
        p.code(f"sock.connect({address})")
        p.peer = None if unix else host
        p.connected = p.proto == "tcp"
        p.timed = p.timed or not unix  # netrepl times a connect to HOST PORT, never a Unix one
        return
    # On a connection (open, lost or ended by the peer) netrepl closes it and connects anew; after a
    # failed handshake it connects a new socket, closing the connection if the handshake left it open.
    # (netrepl resolves the new name first: one that does not resolve keeps the connection.)
    # (Through a proxy netrepl ends it first: the proxy, not this host, may be the one to resolve the name.)
    direct = not unix and p.proxy is None
    ended = f"sock = end_connection(sock, {host}, {port})" if direct else "sock.close()"
    if direct and (p.sock or p.maybe_closed):
        p.need("end_connection")
    if p.sock and not p.maybe_closed:
        p.code(ended + "  # connect again: netrepl closes the connection there was")
    elif p.maybe_closed:
        p.code("if sock is not None:  # the failed handshake left the connection open: connect closes it",
               "    " + ended)
    if p.pending:
        p.code("pending.clear()  # (what the old connection sent and no step read goes with it)")
    p.uses.add("timeout")
    if unix:  # a Unix stream socket, connected to a path or an abstract name
        p.need("connect_unix")
        p.code(f"sock = connect_unix({address}, timeout)")
        p.opened("tcp", "unix")
        p.connected = True
        return
    proxyemit.connect_code(p, host, port)  # directly, or through `set proxy`; then a PROXY header
    p.opened("tcp", peer=host)
    p.connected = True
    p.timed = True


@emitter("bind")
def _bind(p: Program, parsed) -> None:
    p.no_socket("bind")
    if isinstance(parsed.args["host"], UnixName):
        address = p.unix(parsed)
        if address not in ("''",) and not address.startswith("'\\x00"):  # a socket file, maybe stale
            p.need("remove_stale")
            p.code(f"remove_stale({address}, sock.type)")
            p.bound_path = address
        p.code(f"sock.bind({address})")
        return
    p.code(f"sock.bind(({p.host(parsed)}, {p.port(parsed)}))")


@emitter("info")
def _info(p: Program, parsed) -> None:
    if not p.sock:
        p.need("note")
        p.code('note("state: no socket")')
        return
    p.need("info")
    p.uses.add("timeout")
    if p.maybe_closed:
        p.need("note")
        p.code("if sock is None:  # the failed handshake closed it", '    note("state: closed")', "else:")
        p.depth += 1
    p.code("info(sock, timeout)")
    if "-o" in parsed.flags:
        p.need("info_options")
        p.code("info_options(sock)")
    if p.maybe_closed:
        p.depth -= 1


@emitter("shutdown")
def _shutdown(p: Program, parsed) -> None:
    p.no_socket("shutdown")
    if p.tls:
        p.refuse("`shutdown` of a TLS connection is not exported: Python's ssl module cannot send close_notify "
                 "and go on reading (SSLSocket.unwrap waits for the peer's), as netrepl does")
    p.imports.add("socket")
    p.code(f"sock.shutdown({SHUT[parsed.args['how']]})")


def close_socket(p: Program) -> None:
    """`close` of the session socket (listenemit.py's `close` emitter calls it)."""
    if p.bound_path is not None:  # a socket file `bind` made: removed with the socket, as netrepl does
        p.need("remove_socket_file")
        p.code("sock.close()", f"remove_socket_file({p.bound_path})", "sock = None")
    else:
        p.code("sock.close()", "sock = None")
    if p.pending:
        p.code("pending.clear()")
    p.closed()


@emitter("timeout")
def _timeout(p: Program, parsed) -> None:
    p.uses.add("timeout")
    p.code(f"timeout = {p.seconds(parsed)}")
    if p.maybe_closed:
        p.code("if sock is not None:", "    sock.settimeout(timeout)")
    elif p.sock:
        p.code("sock.settimeout(timeout)")


# ----- sending and receiving ----------------------------------------------------------------------

@emitter("send")
def _send(p: Program, parsed) -> None:
    p.no_socket("send")
    path = _source(p, parsed)
    if path is not None:
        p.need("send_file")
        p.uses.add("timeout")
        p.code(f"send_file(sock, {path}, timeout)")
        return
    p.code(f"sock.sendall({_data(p, parsed, '-n' not in parsed.flags)})")
    httpemit.note_sent(p, parsed)  # request lines: whether a `recv http` reads a HEAD's response


@emitter("sendto")
def _sendto(p: Program, parsed) -> None:
    if p.maybe_closed:
        p.refuse("`sendto` after a failed handshake (a new UDP socket, or a TCP one open) is not exported")
    if not p.sock:
        host = p.value(parsed, "host", "host")
        family = "inet6" if host.literal and ":" in str(host.value) else "inet"
        p.imports.add("socket")
        p.uses.add("timeout")
        p.code(f"sock = socket.socket({FAMILIES[family]}, socket.SOCK_DGRAM)", "sock.settimeout(timeout)")
        p.sock, p.proto, p.pending = True, "udp", False
        p.hex_code("View.offset = 0  # a new socket: hex lines are numbered from 0")
    address = f"({p.host(parsed)}, {p.port(parsed)})"
    path = _source(p, parsed)
    if path is not None:  # the whole file is one datagram
        p.need("file_bytes")
        p.need("open_for_reading")
        p.uses.add("timeout")
        p.code(f"with file_step({path}, open_for_reading, {path}, timeout) as f:", f"    sock.sendto(file_bytes(f, {path}), {address})")
        return
    data = _data(p, parsed, "-l" in parsed.flags and "-n" not in parsed.flags)
    p.code(f"sock.sendto({data}, {address})")


@emitter("recv")
def _recv(p: Program, parsed) -> None:
    p.no_socket("recv")
    size, path = parsed.args["n"], _redirect(p, parsed)
    if size != "http":
        httpemit.forget_requests(p)  # this read takes the answers to the requests sent so far
    if size in ("exactly", "quiet"):
        _recv_by(p, parsed, size)
        return
    if size == "http":
        httpemit.recv_http(p, parsed)
        return
    if size == "all":
        p.need("recv_all")
        pending = "pending" if p.pending else "bytearray()"
        if path is not None:
            p.need("file_out")
            p.uses.add("timeout")
        target = "" if path is None else f", FileOut({to_str(p.value(parsed, 'path')).code}, timeout)"
        p.code(f"recv_all(sock, {pending}{target})")
        return
    if size == "line" and (p.proto == "tcp" or p.pending):
        p.need("recv_line")
        p.uses.update(("timeout", "pending"))
        p.code("data = recv_line(sock, pending, timeout)")
        p.pending = True
    else:
        count = "65535" if size == "line" else to_number(p.value(parsed, "n", "int"), "int").code
        if p.pending:
            p.need("recv")
            p.code(f"data = recv(sock, pending, {count})")
        else:
            p.code(f"data = sock.recv({count})")
    p.need("show")
    if p.proto != "tcp" and not p.pending:  # one datagram: netrepl numbers its hex lines from 0
        p.hex_code("View.offset = 0")
    p.code("show(data)")
    if p.proto == "tcp":
        p.need("note")
        p.code("if not data:", '    note("end of stream: the peer closed its side (recv returned no data)")')


def _redirect(p: Program, parsed) -> str | None:
    """`> PATH` of a recv, or None: none, or `> -` (standard output, where the data is shown anyway)."""
    path = parsed.args["path"]
    return None if path == "-" and "$" not in (p.raw_word(parsed, "path") or "") else path


def _recv_by(p: Program, parsed, size: str) -> None:
    """`recv exactly N` (one timeout for the whole read) and `recv quiet SECONDS` (until a pause)."""
    if p.proto != "tcp":  # (bytes an expect left over do not make datagrams a stream: netrepl refuses it still)
        p.refuse_state(f"`recv {size}` on a datagram socket: netrepl refuses it (its own state check); not exported")
    amount = parsed.args.get("amount")
    if p.raw(parsed, "amount") is not None:
        value = to_number(p.value(parsed, "amount", "int" if size == "exactly" else "seconds"),
                          "int" if size == "exactly" else "float").code
    else:
        value = repr(amount if amount is not None else (2048 if size == "exactly" else 1.0))
    path = _redirect(p, parsed)
    target = "" if path is None else ", " + to_str(p.value(parsed, "path")).code
    pending = "pending" if p.pending else "bytearray()"
    p.need(f"recv_{size}")
    p.uses.add("timeout")
    p.code(f"recv_{size}(sock, {pending}, {value}, timeout{target})")


@emitter("recvfrom")
def _recvfrom(p: Program, parsed) -> None:
    if p.proto == "tcp" or p.pending:
        _recv(p, parsed)  # a stream names no sender: recvfrom is recv
        return
    p.need("show")
    p.need("note")
    p.code(f"data, sender = sock.recvfrom({to_number(p.value(parsed, 'n', 'int'), 'int').code})")
    p.hex_code("View.offset = 0  # one datagram: its hex lines are numbered from 0, as netrepl's")
    p.code("show(data)", 'note("from", sender)')
    p.sender = True  # `reply` answers it


@emitter("expect")
def _expect(p: Program, parsed, must_fail: str | None = None) -> None:
    p.no_socket("expect")
    httpemit.forget_requests(p)  # this read takes the answers to the requests sent so far
    want = parsed.args["pattern"]
    raw = p.raw(parsed, "pattern")
    text = None if raw is None else p.values.text(raw, "text")
    runtime = text is not None and not text.literal
    if runtime:
        # An option's value decides whether it is TEXT, /REGEX/ or eof, when the program runs,
        # as netrepl decides it after expanding; a bad regex or escape in it stops the run first.
        p.need("expectation")
        p.need("search_by")  # (a value may make it a regex: its search ends at the deadline)
        p.decoded.append((p.where, text.code, "expectation"))
        p.code(f"pattern = {text.code}  # TEXT, /REGEX/ or eof: as the value makes it")
        code = "expectation(pattern)"
    elif want.kind == "eof":
        code = "None"
    elif want.kind == "regex":
        p.imports.add("re")
        p.need("search_by")  # its search ends at the deadline
        code = f"re.compile({want.source[1:-1].encode('utf-8', 'surrogateescape')!r})"
    else:
        code = repr(want.literal)
    p.need("read_until")
    p.uses.update(("timeout", "pending"))
    p.pending = True
    # Named groups set $NAME (netrepl's commands/receiving.py set_captures): kept from the match.
    captures = tuple(want.pattern.groupindex) if not runtime and want.kind == "regex" and must_fail is None else ()
    if captures:
        p.code("captured = {}")
    extra = (", captured" if captures else "") + (", whole_line=False" if "-m" in parsed.flags else "")
    p.code(f"data = read_until(sock, pending, {code}, timeout{extra})")
    if must_fail is not None:
        p.need("note")
        p.code("if data is not None:",
               f"    note({f'expected `{parsed.text}` to fail, but it matched'!r})",
               "    return 1",
               f'note("failed as expected ({must_fail}): nothing matched")')
        return
    p.need("show")
    said = "' within the timeout or before end of stream; unmatched data:"
    message = f"\"expect: expected '\" + pattern + {said!r}" if runtime else \
        repr(f"expect: expected '{want.source}{said}")
    p.code("if data is None:",
           f"    note({message}, bytes(pending[:300]))",
           "    return 1",
           "show(data)")
    for name in captures:
        p.need("capture_text")
        p.code(f"captured_{name} = capture_text(captured[{name!r}])  # ${name}, as netrepl keeps it")
        p.values.bound[name] = Expr(f"captured_{name}", "str")
