"""The program being written: its main() body, the helpers and imports it needs,
its options, the lab servers it expects, and the assembled source text.

Emitters (the table in table.py) add code through `Program`; it also tracks what the
script's commands did to the session at each point (is a socket open, TCP or
UDP, may bytes wait in `pending`, the line ending), so each command becomes
the one call it stands for there.
"""

from __future__ import annotations

import textwrap

from netrepl.export import escapeprelude, viewprelude  # noqa: F401 (their helpers: note, show, the escapes)
from netrepl.export.assemble import HexOnly, checked_first, comment_text, serve_command, source_text
from netrepl.export.hexprelude import VARIANTS
from netrepl.export.prelude import HELPERS
from netrepl.export.values import Expr, Option, Unsupported, Values, lit, to_number, to_str
from netrepl.base.fastdata import datatype
from netrepl.language.tokens import next_token


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


class Program:
    def __init__(self, source: str, regenerate: str, values: Values):
        self.source, self.regenerate, self.values = source, regenerate, values
        self.body: list[str] = []
        self.hex = False  # `set display hex` somewhere: data shown in hex, numbered by the stream offset
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
        self.connected = False  # a connected stream socket: `connect` closes it and connects anew
        self.peer: str | None = None  # code for the host given to connect (the TLS server name)
        self.sender = False  # recvfrom named a sender: `reply` answers it
        self.tls = False  # the session socket speaks TLS
        self.bound_path: str | None = None  # code for the socket file `bind` made (removed on close)
        self.listener = False  # `listen` opened one (the `listener` local)
        self.listener_family = "inet"  # its family: what `accept` gives
        self.tls_settings: dict[str, object] = {}  # `set tls OPTION`: option -> code (tlsemit.py)
        self.timed = False  # a connect to HOST PORT happened: `timing` has a connection to show
        self.proxy: str | None = None  # `set proxy`: the kind each connect goes through (proxyemit.py)
        self.proxy_protocol: str | None = None  # `set proxy-protocol`: the header's version
        self.secrets: dict[str, str] = {}  # `set redact on`: the secrets' variables -> what each is (redactemit.py)
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
        # (FILE:LINE, code of a text from options, the program's function that checks it: decode_escapes)
        self.decoded: list[tuple[str, str, str]] = []

    # ----- code --------------------------------------------------------------------------------

    def code(self, *lines: str) -> None:
        for line in lines:
            self.body.append("    " * self.depth + line)

    def hex_code(self, *lines: str) -> None:
        """Code only a program showing data in hex needs (its stream offset, View): the others drop it."""
        self.body += [HexOnly("    " * self.depth + line) for line in lines]

    def comment(self, text: str) -> None:
        for piece in textwrap.wrap(comment_text(text), 96, break_long_words=True, break_on_hyphens=False) or [""]:
            self.code("# " + piece)

    def need(self, name: str) -> None:
        if self.hex:  # (hexprelude.py: the helpers that count what they consume, and show hex too)
            name = VARIANTS.get(name, name)
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
        self.maybe_closed = self.sender = self.tls = self.connected = False
        self.bound_path = None
        self.hex_code("View.offset = 0  # a new socket: hex lines are numbered from 0")

    def closed(self) -> None:
        self.sock = self.pending = self.maybe_closed = self.sender = self.tls = self.connected = False
        self.bound_path = self.peer = None

    # ----- the program -----------------------------------------------------------------------------

    def text_of(self) -> str:
        for name in sorted(self.values.needs):
            self.need(name)
        if checked_first(self):
            self.need("check_escapes")
        if "read_until" in self.helpers and "search_by" not in self.helpers:
            self.need("search_plain")  # (its expects wait for text: a regex search needs no deadline)
        if self.hex:  # show, TextOut, FileOut that count what they consume and show hex too
            self.need("view")  # (View.hex is set even where no step after it reads)
            needed, self.helpers = self.helpers, []
            for name in needed:
                self.need(name)
        return source_text(self)


class _AnyValue(dict):
    """Every variable defined with an empty value: only the raw text of a word is wanted."""

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key) -> str:
        return ""
