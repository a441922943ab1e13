"""THE table of `netrepl export`: command name -> the function writing its code.

Each emitter writes, into main() of the program (program.py), the socket call
the command stands for. A command added to netrepl is exported once it has an
entry here; one without an entry is refused with FILE:LINE (`netrepl export`
exits 2), with the reason from REFUSED when there is one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from netrepl.core.errors import errname_known
from netrepl.export.program import Program
from netrepl.export.values import Expr, lit, to_bytes, to_number, to_str
from netrepl.language.nrs import PORT_PLACEHOLDER, check, read_lines, resolve, serve_variables, var_value
from netrepl.language.parser import Parser

EMITTERS: dict[str, Callable[[Program, object], None]] = {}

# Commands that have no socket equivalent, and why (the refusal says so).
REFUSED = {
    "help": "`help` shows netrepl's own help; it has no socket equivalent",
    "record": "`record` writes a netrepl script; it has no socket equivalent",
}

# must-fail KIND -> the exception it catches, and for errno names the errno check.
EXCEPTIONS = {
    "address": "socket.gaierror",
    "other-address": "socket.herror",
    "timeout": "TimeoutError",
    "refused": "ConnectionRefusedError",
    "reset": "ConnectionResetError",
    "pipe": "BrokenPipeError",
    "service": "ServiceNotFound",
    "any": "OSError",
}
ERRNOS = {
    "notconn": ("ENOTCONN",),
    "lost": ("ENOTCONN", "EPIPE", "ECONNRESET"),
    "unreachable": ("EHOSTUNREACH", "ENETUNREACH"),
    "inuse": ("EADDRINUSE",),
}
OWN_CHECKS = ("state", "usage", "syntax")  # netrepl refuses these itself, before any socket call
FAMILIES = {"inet": "socket.AF_INET", "inet6": "socket.AF_INET6"}
TYPES = {"tcp": "socket.SOCK_STREAM", "udp": "socket.SOCK_DGRAM"}
SHUT = {0: "socket.SHUT_RD", 1: "socket.SHUT_WR", 2: "socket.SHUT_RDWR"}


def emitter(*names: str):
    def register(fn):
        for name in names:
            EMITTERS[name] = fn
        return fn
    return register


def emit(p: Program, parsed) -> None:
    """One command of the script -> its code (after a comment quoting it)."""
    name = parsed.command.name
    if p.ended:
        p.comment(f"{p.where}: not run (after exit): {parsed.text}")
        return
    fn = EMITTERS.get(name)
    if fn is None:
        p.refuse(REFUSED.get(name, f"`{name}` has no socket equivalent; not exported"))
    p.comment(f"{p.where}: {parsed.text}")
    fn(p, parsed)
    # What a sourced script's lines are parsed with: the values as the checker knows them.
    if name == "set var":
        p.known[parsed.args["name"]] = var_value(parsed.args["value"], parsed.flags)
    elif name == "serve" and parsed.args["kind"] not in (None, "stop"):
        p.known.update(dict.fromkeys(serve_variables(parsed.args["kind"]), PORT_PLACEHOLDER))


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


# ----- scripting ----------------------------------------------------------------------------------

@emitter("must-fail")
def _must_fail(p: Program, parsed) -> None:
    kind, inner = parsed.args["kind"], parsed.args["command"]
    name = inner.command.name
    if kind in OWN_CHECKS:
        p.comment(f"netrepl refuses `{inner.text}` itself here ({kind}), before any socket call: nothing to run")
        return
    if name == "expect":
        if kind not in ("expect", "any"):
            p.refuse(f"`must-fail {kind} expect ...`: an expect fails with kind expect; not exported")
        _expect(p, inner, kind)
        return
    if name not in EMITTERS or name in ("must-fail", "exit", "serve", "set var", "set eol"):
        p.refuse(f"`{name}` inside must-fail is not exported")
    if kind not in EXCEPTIONS and kind not in ERRNOS and kind != "io" and not errname_known(kind):
        p.refuse(f"must-fail {kind}: a failure of netrepl's own ({kind}) has no exception to catch; not exported")
    p.need("note")
    had_socket = p.sock
    p.code("try:")
    p.depth += 1
    before = len(p.body)
    EMITTERS[name](p, inner)
    if len(p.body) == before:
        p.code("pass")
    p.depth -= 1
    if name == "connect" and not had_socket:
        p.sock = False  # the socket connect created was closed when it failed
    _except(p, kind)
    p.code("else:",
           f"    print({f'expected `{inner.text}` to fail with {kind}, but it succeeded'!r}, file=sys.stderr)",
           "    return 1")


def _except(p: Program, kind: str) -> None:
    said = f'    note("failed as expected ({kind}):", type(exc).__name__, exc)'
    if kind in EXCEPTIONS:
        if kind == "service":
            p.need("port_of")
        p.code(f"except {EXCEPTIONS[kind]} as exc:", said)
        return
    p.imports.add("errno" if not kind.upper().startswith("EAI_") else "socket")
    if kind == "io":  # any OSError but the kinds netrepl names apart
        apart = "socket.gaierror, socket.herror, TimeoutError" + (", ServiceNotFound" if "port_of" in p.helpers else "")
        p.imports.add("socket")
        p.code(f"except ({apart}):", "    raise", "except OSError as exc:", said)
        return
    names = ERRNOS.get(kind, (kind.upper(),))
    prefix = "socket." if kind.upper().startswith("EAI_") else "errno."
    wanted = ", ".join(prefix + n for n in names)
    check = f"exc.errno not in ({wanted},)" if len(names) > 1 else f"exc.errno != {wanted}"
    exc_type = "socket.gaierror" if prefix == "socket." else "OSError"
    p.code(f"except {exc_type} as exc:", f"    if {check}:", "        raise", said)


@emitter("sleep")
def _sleep(p: Program, parsed) -> None:
    p.imports.add("time")
    p.code(f"time.sleep({p.seconds(parsed)})")


@emitter("print")
def _print(p: Program, parsed) -> None:
    text = p.text(parsed, "text", escapes=False)
    p.code(f"print({text.code}, flush=True)" if text.code != "''" else "print(flush=True)")


@emitter("exit")
def _exit(p: Program, parsed) -> None:
    p.code("return 0")
    p.ended = True


@emitter("set eol")
def _set_eol(p: Program, parsed) -> None:
    p.eol = {"crlf": b"\r\n", "lf": b"\n", "none": b""}[parsed.args["eol"]]
    p.comment(f"(send adds {p.eol!r} from here on: written into each send's bytes)")


@emitter("set display")
def _set_display(p: Program, parsed) -> None:
    p.comment("(cosmetic in netrepl: this program always shows received data as text)")


@emitter("set var")
def _set_var(p: Program, parsed) -> None:
    name = parsed.args["name"]
    if "-x" in parsed.flags:
        if p.raw(parsed, "value") is not None:
            p.refuse("`set var -x` naming a variable is not exported")
        value: Expr = lit(var_value(parsed.args["value"], parsed.flags))
    else:
        value = p.text(parsed, "value", escapes=False)
    p.values.bound[name] = value
    p.comment(f"(${name} is written out where it is used below)")


@emitter("serve")
def _serve(p: Program, parsed) -> None:
    kind, port, proto = parsed.args["kind"], parsed.args["port"], parsed.args["proto"]
    if kind is None:
        p.comment("(netrepl lists its lab servers here: nothing to run)")
        return
    if kind == "stop":
        p.need("note")
        p.code(f'note({"serve stop: netrepl stops its lab server here: stop yours now (Ctrl+C)"!r})')
        return
    server = p.serve(kind, proto, port)
    how = f"netrepl serve {kind} --port {port or 'PORT'}" + (" --udp" if proto == "udp" else "")
    if server.option is not None:
        value = Expr(f"args.{server.option.dest}", "int")
        p.comment(f"(this program expects a lab {kind} server: {how}; its port is {server.option.flag})")
    else:
        value = lit(port)
        p.comment(f"(this program expects a lab {kind} server: {how})")
    for name in serve_variables(kind):
        p.values.bound[name] = value


@emitter("export")
def _export(p: Program, parsed) -> None:
    p.comment("(netrepl wrote a program of the session so far here: nothing to run)")


@emitter("source")
def _source(p: Program, parsed) -> None:
    """The sourced script inlined, its lines named by its own FILE:LINE. The whole check
    before export bounded it as a run is bounded (nesting, lines of sourced files)."""
    from netrepl.commands import REGISTRY  # the registry assembles the command modules: not at import

    path = resolve(parsed.args["path"], p.base)
    try:
        lines, problems = read_lines(path)
    except OSError as exc:
        p.refuse(f"cannot read {path}: {exc.strerror}")
    script = check(lines, path, Parser(REGISTRY), p.known, os.path.dirname(path), p.sourced + 1)
    if problems or script.problems:
        p.refuse(f"{path} does not check: {(problems or script.problems)[0]}")
    saved = p.where, p.line, p.base
    p.base, p.sourced = os.path.dirname(path), p.sourced + 1
    p.comment(f"(the lines of {path} follow)")
    try:
        for number, inner in script.commands:
            p.where, p.line = f"{path}:{number}", lines[number - 1]
            emit(p, inner)
    finally:
        (p.where, p.line, p.base), p.sourced = saved, p.sourced - 1
