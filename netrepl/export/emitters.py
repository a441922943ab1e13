"""The socket commands' entries of the export table (table.py): socket, lookup,
connect, bind, info, shutdown, close, timeout, send, sendto, recv, recvfrom, expect."""

from __future__ import annotations

from netrepl.export.program import Program
from netrepl.export.table import emitter
from netrepl.export.values import to_bytes, to_number, to_str

FAMILIES = {"inet": "socket.AF_INET", "inet6": "socket.AF_INET6"}
TYPES = {"tcp": "socket.SOCK_STREAM", "udp": "socket.SOCK_DGRAM"}
SHUT = {0: "socket.SHUT_RD", 1: "socket.SHUT_WR", 2: "socket.SHUT_RDWR"}


def _data(p: Program, parsed, eol: bool) -> str:
    return p.text(parsed, "text", escapes=True, tail=p.eol if eol else b"").code


# ----- the socket ----------------------------------------------------------------------------------

@emitter("socket")
def _socket(p: Program, parsed) -> None:
    if p.sock:
        p.refuse("`socket` while one is open: netrepl refuses it (its own state check); not exported")
    family, kind = parsed.args["family"], parsed.args["type"]
    p.imports.add("socket")
    p.uses.add("timeout")
    p.code(f"sock = socket.socket({FAMILIES[family]}, {TYPES[kind]})", "sock.settimeout(timeout)")
    p.sock, p.proto, p.pending = True, kind, False


@emitter("lookup")
def _lookup(p: Program, parsed) -> None:
    p.need("lookup")
    service = p.value(parsed, "service", "port")
    p.code(f"lookup({service.code}, {parsed.args['proto']!r})")


@emitter("connect")
def _connect(p: Program, parsed) -> None:
    host, port = p.host(parsed), p.port(parsed)
    if p.sock:
        p.code(f"sock.connect(({host}, {port}))")
        return
    p.need("connect")
    p.uses.add("timeout")
    p.code(f"sock = connect({host}, {port}, timeout)")
    p.sock, p.proto, p.pending = True, "tcp", False


@emitter("bind")
def _bind(p: Program, parsed) -> None:
    p.no_socket("bind")
    p.code(f"sock.bind(({p.host(parsed)}, {p.port(parsed)}))")


@emitter("info")
def _info(p: Program, parsed) -> None:
    if not p.sock:
        p.need("note")
        p.code('note("state: no socket")')
        return
    p.need("info")
    p.uses.add("timeout")
    p.code("info(sock, timeout)")


@emitter("shutdown")
def _shutdown(p: Program, parsed) -> None:
    p.no_socket("shutdown")
    p.imports.add("socket")
    p.code(f"sock.shutdown({SHUT[parsed.args['how']]})")


@emitter("close")
def _close(p: Program, parsed) -> None:
    p.no_socket("close")
    p.code("sock.close()", "sock = None")
    if p.pending:
        p.code("pending.clear()")
    p.sock = p.pending = False


@emitter("timeout")
def _timeout(p: Program, parsed) -> None:
    p.uses.add("timeout")
    p.code(f"timeout = {p.seconds(parsed)}")
    if p.sock:
        p.code("sock.settimeout(timeout)")


# ----- sending and receiving ----------------------------------------------------------------------

@emitter("send")
def _send(p: Program, parsed) -> None:
    p.no_socket("send")
    p.code(f"sock.sendall({_data(p, parsed, '-n' not in parsed.flags)})")


@emitter("sendto")
def _sendto(p: Program, parsed) -> None:
    if not p.sock:
        host = p.value(parsed, "host", "host")
        family = "inet6" if host.literal and ":" in str(host.value) else "inet"
        p.imports.add("socket")
        p.uses.add("timeout")
        p.code(f"sock = socket.socket({FAMILIES[family]}, socket.SOCK_DGRAM)", "sock.settimeout(timeout)")
        p.sock, p.proto, p.pending = True, "udp", False
    data = _data(p, parsed, "-l" in parsed.flags and "-n" not in parsed.flags)
    p.code(f"sock.sendto({data}, ({p.host(parsed)}, {p.port(parsed)}))")


@emitter("recv")
def _recv(p: Program, parsed) -> None:
    p.no_socket("recv")
    size, path = parsed.args["n"], parsed.args["path"]
    if size == "all":
        p.need("recv_all")
        pending = "pending" if p.pending else "bytearray()"
        target = "" if path is None else ", " + to_str(p.value(parsed, "path")).code
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
    p.code("show(data)")
    if p.proto == "tcp":
        p.need("note")
        p.code("if not data:", '    note("end of stream: the peer closed its side (recv returned no data)")')


@emitter("recvfrom")
def _recvfrom(p: Program, parsed) -> None:
    if p.proto == "tcp" or p.pending:
        _recv(p, parsed)  # a stream names no sender: recvfrom is recv
        return
    p.need("show")
    p.need("note")
    p.code(f"data, sender = sock.recvfrom({to_number(p.value(parsed, 'n', 'int'), 'int').code})",
           "show(data)", 'note("from", sender)')


@emitter("expect")
def _expect(p: Program, parsed, must_fail: str | None = None) -> None:
    p.no_socket("expect")
    want = parsed.args["pattern"]
    raw = p.raw(parsed, "pattern")
    if want.kind == "eof":
        code = "None"
    elif want.kind == "regex":
        p.imports.add("re")
        pattern = want.source[1:-1].encode("utf-8", "surrogateescape") if raw is None \
            else to_bytes(p.values.text(raw[1:-1], "text")).code
        code = f"re.compile({pattern!r})" if raw is None else f"re.compile({pattern})"
    elif raw is None:
        code = repr(want.literal)
    else:
        code = p.values.text(raw, "text", escapes=True).code
    p.need("read_until")
    p.uses.update(("timeout", "pending"))
    p.pending = True
    p.code(f"data = read_until(sock, pending, {code}, timeout)")
    if must_fail is not None:
        p.need("note")
        p.code("if data is not None:",
               f"    print({f'expected `{parsed.text}` to fail, but it matched'!r}, file=sys.stderr)",
               "    return 1",
               f'note("failed as expected ({must_fail}): nothing matched")')
        return
    message = f"expect: expected '{want.source}' within the timeout or before end of stream; unmatched data:"
    p.need("show")
    p.code("if data is None:",
           f"    print({message!r}, bytes(pending[:300]), file=sys.stderr)",
           "    return 1",
           "show(data)")
