"""The scripting commands' entries of the export table (table.py): must-fail, sleep,
print, exit, set eol/display/var, serve, export and source."""

from __future__ import annotations

import os

from netrepl.core.errors import FAILURE_ALIASES, TLS_REASONS, VERIFY_CODES, errname_known
from netrepl.core.results import UnixName
from netrepl.export.emitters import _expect
from netrepl.export.assemble import HexOnly, serve_command
from netrepl.export.program import Program, StateRefused
from netrepl.export.table import EMITTERS, emit, emitter
from netrepl.export.values import Expr, lit
from netrepl.lab.kinds import LAB_CA, TLS_KINDS
from netrepl.language.nrs import check, read_lines, resolve, serve_variables, var_value
from netrepl.render.text import safe, unix_name
from netrepl.language.parser import Parser

# must-fail KIND -> the exception it catches, and for errno names the errno check.
EXCEPTIONS = {
    "address": "socket.gaierror",
    "other-address": "socket.herror",
    "timeout": "TimeoutError",
    "refused": "ConnectionRefusedError",
    "reset": "ConnectionResetError",
    "pipe": "BrokenPipeError",
    "service": "ServiceNotFound",
    "eof": "EndOfStream",
    "protocol": "ProtocolError",
    "verify": "ssl.SSLCertVerificationError",
    "file": "FileProblem",
    "any": "OSError",
    "proxy": "ProxyRefused",
}
# The helper defining each exception the program names itself.
DEFINED_BY = {"ServiceNotFound": "port_of", "EndOfStream": "recv_exactly", "FileProblem": "file_problem",
              "StepRefused": "step_refused", "ProtocolError": "recv_http",
              "ProxyRefused": "proxy_refused"}
H_ERRNOS = {"HOST_NOT_FOUND": 1, "TRY_AGAIN": 2, "NO_RECOVERY": 3, "NO_DATA": 4}  # socket.herror's h_errno
VERIFY_NUMBERS = {name: code for code, name in VERIFY_CODES.items()}
ERRNOS = {
    "notconn": ("ENOTCONN",),
    "lost": ("ENOTCONN", "EPIPE", "ECONNRESET"),
    "unreachable": ("EHOSTUNREACH", "ENETUNREACH"),
    "inuse": ("EADDRINUSE",),
}
TLS_NAMES = frozenset(FAILURE_ALIASES) - set(ERRNOS)  # must-fail self-signed, handshake-failure...
NOT_INSIDE = ("must-fail", "exit", "serve", "set var", "set eol")  # commands must-fail cannot hold here
# What an emitter tracks of the session (program.py): a command netrepl refused changed none of it.
SESSION = ("sock", "proto", "family", "pending", "maybe_closed", "connected", "peer", "sender", "tls",
           "bound_path", "listener", "listener_family", "timed")


@emitter("must-fail")
def _must_fail(p: Program, parsed) -> None:
    kind, inner = parsed.args["kind"], parsed.args["command"]
    name = inner.command.name
    if kind == "syntax":
        p.comment(f"netrepl refuses `{inner.text}` itself here ({kind}), before any socket call: nothing to run")
        return
    if kind in ("state", "usage"):
        _own_check(p, kind, inner)
        return
    if name == "expect":
        if kind not in ("expect", "any"):
            p.refuse(f"`must-fail {kind} expect ...`: an expect fails with kind expect; not exported")
        _expect(p, inner, kind)
        return
    if name not in EMITTERS or name in NOT_INSIDE:
        p.refuse(f"`{name}` inside must-fail is not exported")
    if name == "recv" and inner.args.get("n") == "http" and inner.args.get("amount") is not None:
        p.refuse("`recv http STATUS` inside must-fail is not exported (its status check fails with kind expect)")
    if kind not in EXCEPTIONS and kind not in ERRNOS and kind not in ("io", "tls", "starttls") and kind not in TLS_NAMES \
            and not errname_known(kind):
        p.refuse(f"must-fail {kind}: a failure of netrepl's own ({kind}) has no exception to catch; not exported")
    p.need("note")
    had_socket = p.sock and not p.connected  # a connection is closed by a connect again, even one that fails
    replaced = name == "connect" and p.sock and p.connected and p.family != "unix"
    p.code("try:")
    p.depth += 1
    before = len(p.body)
    EMITTERS[name](p, inner)
    if all(isinstance(line, HexOnly) for line in p.body[before:]):  # (dropped unless the program shows hex)
        p.code("pass")
    p.depth -= 1
    if name == "connect" and not had_socket:
        p.sock = False  # the socket connect created was closed when it failed
    if replaced:  # ... unless the new name did not resolve: then the connection stays
        kept = kind in ("address", "other-address") or kind.upper().startswith("EAI_") or kind.upper() in H_ERRNOS
        p.sock = p.connected = kept or kind == "any"
        p.maybe_closed = p.maybe_closed or kind == "any"  # (which failure came: the program knows when it runs)
    if name in ("tls", "starttls") and p.sock:
        # A failed handshake closed the socket (a refused STARTTLS did not): a later connect makes a
        # new one, a later send uses this one, as the script that passed in netrepl did.
        p.maybe_closed, p.tls = True, False
    _except(p, kind)
    p.code("else:",
           f"    note({f'expected `{inner.text}` to fail with {kind}, but it succeeded'!r})",
           "    return 1")


def _own_check(p: Program, kind: str, inner) -> None:
    """`must-fail state|usage COMMAND`: netrepl's own check of the command, before any socket call.
    Where netrepl refuses it here whatever happens (StateRefused at export), the must-fail passes;
    where the program knows only when it runs (after a failed handshake: StepRefused), it checks
    then, as netrepl does; anywhere else the program cannot know, and the line is refused."""
    name = inner.command.name
    if name not in EMITTERS or name in NOT_INSIDE:
        p.refuse(f"`{name}` inside must-fail is not exported")
    saved = {attr: getattr(p, attr) for attr in SESSION}
    before, outer = len(p.body), p.refusable
    p.refusable = set()
    p.code("try:")
    p.depth += 1
    try:
        EMITTERS[name](p, inner)
    except StateRefused as exc:
        del p.body[before:]
        p.depth -= 1
        p.refusable = outer
        if exc.kind != kind:
            p.refuse(f"`must-fail {kind} {inner.text}`: netrepl refuses `{inner.text}` here with kind {exc.kind}, "
                     "so the must-fail itself fails; not exported")
        p.need("note")
        said = f"failed as expected ({kind}): netrepl refuses `{inner.text}` here itself, before any socket call"
        p.code(f"note({said!r})")
        return
    p.depth -= 1
    possible, p.refusable = p.refusable, outer | p.refusable
    if not possible:  # (one of another kind: the must-fail fails when it comes, as netrepl's does)
        p.refuse(f"`must-fail {kind} {inner.text}`: whether netrepl's own check refuses it here ({kind}) depends "
                 "on what neither the export nor the program knows; not exported")
    for attr, value in saved.items():  # it passes only if netrepl refused the command: nothing changed
        setattr(p, attr, value)
    p.need("note")
    p.code("except StepRefused as exc:",
           f"    if exc.kind != {kind!r}:",
           "        raise",
           f'    note("failed as expected ({kind}):", exc)',
           "else:",
           f"    note({f'expected `{inner.text}` to fail with {kind}, but it succeeded'!r})",
           "    return 1")


def _except(p: Program, kind: str) -> None:
    said = f'    note("failed as expected ({kind}):", type(exc).__name__, exc)'
    upper = kind.upper()
    if kind in EXCEPTIONS:
        if EXCEPTIONS[kind] in DEFINED_BY:
            p.need(DEFINED_BY[EXCEPTIONS[kind]])
        p.imports.add(EXCEPTIONS[kind].split(".")[0] if "." in EXCEPTIONS[kind] else "sys")
        p.code(f"except {EXCEPTIONS[kind]} as exc:", said)
        return
    if kind == "io":  # any OSError but the kinds netrepl names apart
        apart = "socket.gaierror, socket.herror, TimeoutError"
        apart += "".join(f", {name}" for name, helper in DEFINED_BY.items() if helper in p.helpers)
        apart += ", ssl.SSLError" if "ssl" in p.imports else ""
        p.imports.add("socket")
        p.code(f"except ({apart}):", "    raise", "except OSError as exc:", said)
        return
    if kind == "starttls":  # the dialogue's refusal (export/tlsprelude.py StartTlsRefused), not a handshake's
        p.code("except StartTlsRefused as exc:", said)
        return
    names = sorted(FAILURE_ALIASES.get(kind.lower(), ())) or [upper]
    if kind == "tls" or all(n in TLS_REASONS for n in names):  # kind tls (not verify): an SSLError
        p.imports.add("ssl")
        p.code("except ssl.SSLCertVerificationError:", "    raise")
        if "starttls" in p.helpers:  # a STARTTLS dialogue's refusal is kind starttls in netrepl, not tls
            p.code("except StartTlsRefused:", "    raise")
        if kind == "tls":
            p.code("except ssl.SSLError as exc:", said)
        else:
            p.code("except ssl.SSLError as exc:", f"    if exc.reason not in {tuple(names)!r}:", "        raise", said)
        return
    if all(n in VERIFY_NUMBERS for n in names):  # a verify reason: OpenSSL's verify code
        p.imports.add("ssl")
        codes = tuple(sorted(VERIFY_NUMBERS[n] for n in names))
        p.code("except ssl.SSLCertVerificationError as exc:", f"    if exc.verify_code not in {codes!r}:",
               "        raise", said)
        return
    if upper in H_ERRNOS:  # socket.herror carries h_errno (netdb.h), not an errno
        p.imports.add("socket")
        p.code("except socket.herror as exc:", f"    if exc.errno != {H_ERRNOS[upper]}:  # {upper}",
               "        raise", said)
        return
    p.imports.add("errno" if not upper.startswith("EAI_") else "socket")
    names = list(ERRNOS.get(kind, (upper,)))
    prefix = "socket." if upper.startswith("EAI_") else "errno."
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
    if not text.literal:  # a value from an option may hold anything: shown as netrepl shows a message
        p.need("safe")
        p.code(f"print(safe({text.code}), flush=True)")
        return
    shown = safe(text.value)  # a literal: escaped now, as netrepl escapes it
    p.code(f"print({shown!r}, flush=True)" if shown else "print(flush=True)")


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
    hex_ = parsed.args["mode"] == "hex"
    p.hex = p.hex or hex_
    p.hex_code(f"View.hex = {hex_}  # received data shown as {'a hex dump' if hex_ else 'text'} from here on")


@emitter("set live")
def _set_live(p: Program, parsed) -> None:
    p.comment("(the shell's live display changes nothing here: the program reads where the script says)")


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
    if isinstance(port, UnixName):  # a lab server on a Unix socket: $lab_path and $lab_KIND_path
        server = p.serve_unix(kind, unix_name(port) if port.name else "")
        value = Expr(f"args.{server.option.dest}", "str") if server.option else lit(server.path)
        p.comment(f"(this program expects a lab {kind} server on a Unix socket, "
                  + (f"its name given with {server.option.flag})" if server.option else f"{server.path})"))
        for name in ("lab_path", f"lab_{kind}_path"):
            p.values.bound[name] = value
        _lab_ca(p, kind)
        return
    file = parsed.args["file"] if kind == "replay" else None
    server = p.serve(kind, proto, port, file)
    how = serve_command(kind, port, proto == "udp", file)
    if server.option is not None:
        value = Expr(f"args.{server.option.dest}", "int")
        p.comment(f"(this program expects a lab {kind} server: {how}; its port is {server.option.flag})")
    else:
        value = lit(port)
        p.comment(f"(this program expects a lab {kind} server: {how})")
    for name in serve_variables(kind):
        p.values.bound[name] = value
    _lab_ca(p, kind)


def _lab_ca(p: Program, kind: str) -> None:
    """A TLS kind sets $lab_ca, the lab CA file: the option --lab-ca, by default where it is here."""
    if kind not in TLS_KINDS:
        return
    p.values.given.setdefault("lab_ca", LAB_CA)  # an option only if the script uses it
    if "lab_ca" in p.values.options:  # (known from the first pass)
        p.values.options["lab_ca"].help = ("the lab CA file, which the certificates of netrepl's lab TLS "
                                           "servers verify against (netrepl serve --ca-path)")


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
