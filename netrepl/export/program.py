"""The program being written: its main() body, the helpers and imports it needs,
its options, the lab servers it expects, and the assembled source text.

Emitters (the table in table.py) add code through `Program`; it also tracks what the
script's commands did to the session at each point (is a socket open, TCP or
UDP, may bytes wait in `pending`, the line ending), so each command becomes
the one call it stands for there.
"""

from __future__ import annotations

import ast
import re
import shlex
import textwrap

from netrepl.export import escapeprelude, viewprelude  # noqa: F401 (their helpers: note, show, the escapes)
from netrepl.export.prelude import HELPERS
from netrepl.export.values import Expr, Option, Unsupported, Values, lit, to_number, to_str
from netrepl.fastdata import datatype
from netrepl.language.tokens import next_token

DEFAULT_TIMEOUT = 10.0  # netrepl's own (core/session.py)


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class Refused(Exception):
    """A command the program cannot stand for: FILE:LINE and why (`netrepl export` exits 2)."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


class StateRefused(Refused):
    """A command netrepl itself refuses here, whatever happens when the program runs (its own
    check, failure kind `kind`): `must-fail state` of it passes; anywhere else it is not exported."""

    def __init__(self, where: str, message: str, kind: str = "state"):
        super().__init__(where, message)
        self.kind = kind


@datatype
class Server:
    """A lab server the program expects: its kind, and its port (a number, or the option giving it)."""

    kind: str
    proto: str  # tcp, udp, or unix (a stream server on a Unix socket)
    port: int
    option: Option | None = None  # the option giving the port (a Unix server: its socket's name)
    path: str | None = None  # a Unix server's name as netrepl writes it (PATH or @NAME; "": chosen)
    file: str | None = None  # `serve replay FILE.nrs`: the recording


def comment_text(text: str) -> str:
    """Text for a `#` comment or a docstring: printable ASCII only, the rest escaped (\\n, \\x1b,
    \\u202e), so no line break, control or bidi character of a script or file name reaches the code."""
    return _NOT_PRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class Program:
    def __init__(self, source: str, regenerate: str, values: Values):
        self.source, self.regenerate, self.values = source, regenerate, values
        self.body: list[str] = []
        self.depth = 2  # indentation of main()'s body: inside its try block
        self.helpers: list[str] = []
        self.imports: set[str] = {"argparse", "sys"}
        self.servers: list[Server] = []
        self.expect_servers: dict[int, Server] = {}
        # The session as the commands so far leave it.
        self.sock = False  # a socket is open
        self.proto = "tcp"
        self.family = "inet"  # inet, inet6 or unix
        self.pending = False  # bytes read past what an expect or recv line consumed may wait
        self.maybe_closed = False  # a failed handshake (must-fail tls, starttls) may have closed it: sock None
        self.peer: str | None = None  # code for the host given to connect (the TLS server name)
        self.sender = False  # recvfrom named a sender: `reply` answers it
        self.tls = False  # the session socket speaks TLS
        self.bound_path: str | None = None  # code for the socket file `bind` made (removed on close)
        self.listener = False  # `listen` opened one (the `listener` local)
        self.listener_family = "inet"  # its family: what `accept` gives
        self.tls_settings: dict[str, object] = {}  # `set tls OPTION`: option -> code (tlsemit.py)
        self.timed = False  # a connect to HOST PORT happened: `timing` has a connection to show
        self.eol = b"\r\n"
        self.ended = False  # `exit` ran: nothing after it does
        self.uses: set[str] = set()  # main()'s locals the code reads: "timeout", "pending"
        self.known: dict[str, str] = dict(values.given)  # variables as the checker knows them (`source`)
        self.base: str | None = None  # where a `source` path is resolved first
        self.sourced = 0  # `source` nesting
        self.where = ""
        self.line = ""  # the script line being exported
        self.parsed = None
        self.need("note")  # main() says each error with it
        self.refusable: set[str] = set()  # netrepl's kinds the StepRefused of the code written may have
        self.decoded: list[tuple[str, str]] = []  # (FILE:LINE, code of a text decode_escapes decodes)

    # ----- code --------------------------------------------------------------------------------

    def code(self, *lines: str) -> None:
        for line in lines:
            self.body.append("    " * self.depth + line)

    def comment(self, text: str) -> None:
        for piece in textwrap.wrap(comment_text(text), 96, break_long_words=True, break_on_hyphens=False) or [""]:
            self.code("# " + piece)

    def need(self, name: str) -> None:
        imports, needs, _ = HELPERS[name]
        for other in needs:
            self.need(other)
        self.imports.update(imports)
        if name not in self.helpers:
            self.helpers.append(name)

    def refuse(self, message: str):
        raise Refused(self.where, message)

    def refuse_state(self, message: str, kind: str = "state"):
        """netrepl refuses the command here itself (failure kind `kind`), however the program runs."""
        raise StateRefused(self.where, message, kind)

    def may_refuse(self, kind: str) -> None:
        """The code written next may raise StepRefused of netrepl's failure kind `kind` (state, usage)."""
        self.need("step_refused")
        self.refusable.add(kind)

    # ----- values of the arguments ---------------------------------------------------------------

    def raw(self, parsed, dest: str) -> str | None:
        """The argument `dest` as typed, when it names a variable (None: a literal)."""
        col = parsed.cols.get(dest)
        if col is None:
            if dest == "port" and "host" in parsed.cols and "$" in (self.raw_word(parsed, "host") or ""):
                self.refuse("HOST:PORT naming a variable is not exported: write HOST PORT")
            return None
        if parsed.command.args and any(a.dest == dest and a.rest for a in parsed.command.args):
            text = self.line[col - 1:]
        else:
            text = self.raw_word(parsed, dest)
        return text if text is not None and "$" in text else None

    def raw_word(self, parsed, dest: str) -> str | None:
        col = parsed.cols.get(dest)
        if col is None:
            return None
        found = next_token(self.line, col - 1, _AnyValue())
        return found[0].raw if found else None

    def value(self, parsed, dest: str, role: str = "str") -> Expr:
        raw = self.raw(parsed, dest)
        try:
            if raw is None:
                return lit(parsed.args[dest])
            return self.values.word(raw, role)
        except Unsupported as exc:
            self.refuse(str(exc))

    def text(self, parsed, dest: str, escapes: bool, tail: bytes = b"") -> Expr:
        """Rest-of-line text: its value as written (a literal), or code building it from options."""
        raw = self.raw(parsed, dest)
        if raw is None:
            return lit(parsed.args[dest] + tail if tail else parsed.args[dest])
        try:
            return self.values.text(raw, "text", escapes, tail)
        except Unsupported as exc:
            self.refuse(str(exc))

    def port(self, parsed, dest: str = "port") -> str:
        """Code for a port number: a literal, or port_of(...) (a service name, an option)."""
        value = self.value(parsed, dest, "port")
        if value.literal and isinstance(value.value, int) or value.kind == "int":
            return value.code
        self.need("port_of")
        return f"port_of({value.code}, {self.proto!r})"

    def seconds(self, parsed, dest: str = "seconds") -> str:
        if self.raw(parsed, dest) is None and parsed.args[dest] is None:
            return "None"  # `timeout none`
        return to_number(self.value(parsed, dest, "seconds"), "float").code

    def host(self, parsed, dest: str = "host") -> str:
        return to_str(self.value(parsed, dest, "host")).code

    def unix(self, parsed, dest: str = "host") -> str:
        """Code for a Unix socket address (PATH, @NAME, @): what bind and connect take, the path or
        "\\0NAME" (Linux's abstract namespace), written out; from an option, unix_address(...)."""
        if self.raw(parsed, dest) is None:
            name = parsed.args[dest]
            if not name.abstract:
                return repr(name.name)
            return repr("\0" + name.name if name.name else "")
        self.need("unix_address")
        return f"unix_address({to_str(self.value(parsed, dest, 'host')).code})"

    # ----- the session ---------------------------------------------------------------------------

    def no_socket(self, command: str) -> None:
        """A command that needs the session socket: refused when there is none; after a failed
        handshake (must-fail tls) the program checks when it runs, as netrepl does."""
        if not self.sock:
            self.refuse_state(f"`{command}` with no socket open: netrepl refuses it (its own state check); "
                              "not exported")
        if self.maybe_closed:
            self.may_refuse("state")
            said = f"{command}: no socket (it was closed); use `socket` or `connect HOST PORT` first"
            self.code("if sock is None:  # the failed handshake closed it", f"    raise StepRefused({said!r})")

    def no_open_socket(self, command: str, why: str) -> None:
        """A command that makes a new session socket, after a handshake that failed (must-fail tls):
        netrepl refuses it while the connection is open (a TLS setting, not the handshake, failed)."""
        if self.maybe_closed:
            self.may_refuse("state")
            self.code("if sock is not None:  # the handshake did not start: the connection is open",
                      f"    raise StepRefused({f'{command}: {why}; `close` it first'!r})")

    def serve(self, kind: str, proto: str, port: int, file: str | None = None) -> Server:
        if port in self.expect_servers:
            return self.expect_servers[port]
        server = Server(kind, proto, port, file=file)
        if port == 0:
            # A kind may hold a hyphen (tls-echo): the option's name is an identifier all the same.
            name = "lab_port" if not any(s.option for s in self.servers) else f"lab_{kind.replace('-', '_')}_port"
            while name in self.values.options and not self.values.options[name].required:
                name += "_"
            opt = self.values.option(name)
            # Required when the script uses it as such; not when it is only a default (`${port:-$lab_port}`).
            opt.kind, opt.required = "int", not self.values.decided or f"args.{opt.dest}" in self.values.direct
            opt.help = f"the port of the {kind} server this program talks to ({serve_command(kind, 0, proto == 'udp', file)})"
            if not opt.required:
                unless = " or ".join(sorted(self.values.default_of.get(f"args.{opt.dest}", ())))
                opt.help += f"; needed unless {unless} is given" if unless else "; the script never uses the port"
            server.option = opt
        self.servers.append(server)
        return server

    def serve_unix(self, kind: str, name: str) -> Server:
        """A lab server on a Unix socket: its name written out, or (chosen when it starts: `@`) an option."""
        server = Server(kind, "unix", 0, path=name)
        if not name or name == "@":
            option = "lab_path" if not any(s.option for s in self.servers) else f"lab_{kind.replace('-', '_')}_path"
            opt = server.option = self.values.option(option)
            opt.required = True
            opt.help = f"the Unix socket (PATH, or @NAME: an abstract name) of the {kind} server this program talks to"
            server.path = ""
        self.servers.append(server)
        return server

    def opened(self, proto: str, family: str = "inet", peer: str | None = None) -> None:
        """A new session socket: what the emitters after this one know about it."""
        self.sock, self.proto, self.family, self.pending, self.peer = True, proto, family, False, peer
        self.maybe_closed = self.sender = self.tls = False
        self.bound_path = None

    def closed(self) -> None:
        self.sock = self.pending = self.maybe_closed = self.sender = self.tls = False
        self.bound_path = self.peer = None

    # ----- the program -----------------------------------------------------------------------------

    def text_of(self) -> str:
        for name in sorted(self.values.needs):
            self.need(name)
        if _checked_first(self):
            self.need("check_escapes")
        head = [f'"""{_docstring(self)}"""', ""]
        imports = [f"import {name}" for name in sorted(self.imports)]
        helpers = [HELPERS[name][2].rstrip("\n") for name in _ordered(self.helpers)]
        parts = ["\n".join(head + imports)]
        parts += helpers
        parts.append(_parse_args(self))
        parts.append(_main(self))
        return "\n\n\n".join(parts) + '\n\n\nif __name__ == "__main__":\n    sys.exit(main())\n'


class _AnyValue(dict):
    """Every variable defined with an empty value: only the raw text of a word is wanted."""

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key) -> str:
        return ""


def _checked_first(p: Program) -> list[tuple[str, str]]:
    """The texts decode_escapes decodes that depend on the options only: main() checks them
    before any step, as netrepl checks the script with its variables before it runs it."""
    def options_only(code: str) -> bool:
        names = {node.id for node in ast.walk(ast.parse(code, mode="eval")) if isinstance(node, ast.Name)}
        return names <= {"args", "str"}
    return [(where, code) for where, code in p.decoded if options_only(code)]


def _ordered(names: list[str]) -> list[str]:
    order = list(HELPERS)
    return sorted(set(names), key=order.index)


def serve_command(kind: str, port: int, udp: bool, file: str | None = None) -> str:
    """The shell command that starts a lab server on a port (0: PORT), each word quoted."""
    what = ["replay", file] if file is not None else [kind]
    return shlex.join(["netrepl", "serve", *what, "--port", str(port) if port else "PORT"] + (["--udp"] if udp else []))


def serve_unix_command(kind: str, path: str) -> str:
    """The shell command that runs a lab server on a Unix socket in a session (netrepl serve has no
    PATH): the path goes in as a -D variable, one word to the shell and to netrepl (a `;` in it
    would end a -c command), each word quoted."""
    return shlex.join(["netrepl", "-D", f"socket_path={path or 'PATH'}", "-c",
                       f'serve {kind} "$socket_path"; sleep 86400'])


def _docstring(p: Program) -> str:
    lines = [f"{comment_text(p.source)}, exported by netrepl as a plain Python program.", "",
             "Regenerate it with:", f"    {comment_text(p.regenerate)}", "",
             "Standard library only. Each step of the script is the socket call it stands for; received",
             "data goes to standard output as netrepl shows it (text; controls, bidi and invisible",
             "characters and undecodable bytes as backslash escapes, so none reaches the terminal raw),",
             "what each step did to standard error. Exit status: 0 when every step succeeded, 1 when",
             "one failed."]
    if p.servers:
        lines += ["", "It talks to netrepl's lab servers (start them first, e.g. in another terminal):"]
        for s in p.servers:
            if s.proto == "unix":  # (netrepl serve serves on TCP/UDP: a Unix one runs in a session)
                given = f" and give {s.option.flag} PATH" if s.option else ""
                lines.append(f"    {comment_text(serve_unix_command(s.kind, s.path or ''))}{given}")
                continue
            given = f" and give {s.option.flag} PORT" if s.option else ""
            lines.append(f"    {comment_text(serve_command(s.kind, s.port, s.proto == 'udp', s.file))}{given}")
    # In the docstring a backslash or a quote of a file name could end it early: both escaped.
    return "\n".join(lines).replace("\\", "\\\\").replace('"', '\\"')


def _parse_args(p: Program) -> str:
    out = ["def parse_args(argv):",
           f"    parser = argparse.ArgumentParser(description={comment_text(p.source.replace('%', '%%') + ' as a Python program')!r})"]
    for opt in p.values.options.values():
        if not opt.help:
            opt.help = f"the script's ${opt.name}"
        kw = [repr(opt.flag), f"dest={opt.dest!r}"]
        if opt.kind != "str":
            kw.append(f"type={opt.kind}")
        if opt.required:
            kw.append("required=True")
        else:
            kw.append(f"default={opt.default!r}")
        shown = "" if opt.required or opt.default is None else " (default: %(default)s)"
        kw.append(f"help={comment_text(opt.help.replace('%', '%%') + shown)!r}")  # argparse formats % in help
        out.append(f"    parser.add_argument({', '.join(kw)})")
    out.append(f"    parser.add_argument('--timeout', dest='timeout', type=float, default={DEFAULT_TIMEOUT!r}, "
               "help='seconds each blocking step may take (default: %(default)s)')")
    out.append("    return parser.parse_args(argv)")
    return "\n".join(out)


def _main(p: Program) -> str:
    reads_args = "timeout" in p.uses or any("args." in line for line in p.body)
    out = ["def main(argv=None):",
           "    args = parse_args(argv)" if reads_args else "    parse_args(argv)  # (--help; no option is read)",
           '    sys.stdout.reconfigure(errors="backslashreplace")']
    if "timeout" in p.uses:
        out.append("    timeout = args.timeout")
    out.append("    sock = None")
    if "listener" in p.uses:
        out.append("    listener = None  # the listening socket beside sock (listen, accept)")
    if "clients" in p.uses:
        out.append("    clients = []  # the lab clients started (client KIND)")
    if "pending" in p.uses:
        out.append("    pending = bytearray()  # read from the socket, not yet shown (one read cursor, as netrepl)")
    out.append("    try:")
    checks = _checked_first(p)
    if checks:
        out.append("        # netrepl checks the script's escapes, with the options' values, before it runs any step:")
        out.append("        check_escapes([" + ", ".join(f"({comment_text(where)!r}, {code})" for where, code in checks) + "])")
    out += p.body or ["        pass"]
    out += ["    except OSError as exc:",
            '        note(f"error: {type(exc).__name__}: {exc}")',
            "        return 1",
            "    except ValueError as exc:  # a bad option value, such as a port above 65535",
            '        note(f"error: {exc}")',
            "        return 2",
            "    except KeyboardInterrupt:",
            '        note("interrupted")',
            "        return 130",
            "    finally:",
            "        if sock is not None:",
            "            sock.close()"]
    if "listener" in p.uses:
        out += ["        if listener is not None:",
                "            stop_listening(listener)"]
    out.append("    return 0")
    return "\n".join(out)
