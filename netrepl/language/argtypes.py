"""Argument types: everything about one kind of value, in one object.

Each type owns how a word is converted and checked (errors carry no column:
the parser adds the column of the word as typed), how it is shown in usage
and help, what completion offers at its position, and which Pygments token
the lexer gives it. The parser, `help`, the completer, the lexer and the
whole-script check all ask the same object, so they cannot disagree.
Adding a type is one class here; adding a command is one registration in
netrepl/commands/.

Lexer tokens are Pygments token names as strings ("Number", "Name.Other"):
this module is on the start-up path of every script run, which must not
import Pygments.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from netrepl.base.fastdata import datatype
from netrepl.base.patterns import lazy
from netrepl.base.unixpaths import is_unix_word, parse_name

_SERVICE_RE = lazy(r"[A-Za-z][A-Za-z0-9._+-]*\Z")
_VAR_NAME_RE = lazy(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class ArgError(Exception):
    """A word does not fit its argument; the parser adds the argument's name and the column.
    `offset`: where in the word the problem is (0: its start)."""

    def __init__(self, message: str = "", offset: int = 0):
        super().__init__(message)
        self.message, self.offset = message, offset


class Mismatch(ArgError):
    """A word that is none of the accepted forms: worded by the parser as `expected USAGE, got 'WORD'`."""


class NotForThis(Mismatch):
    """An optional argument that never takes such a word (`serve replay FILE`'s FILE and a port
    number): the parser offers the word to the next argument and keeps no error of its own, so a
    bad word is reported by the argument it was meant for (`PORT: 65536 is above the maximum`)."""


@datatype(frozen=True)
class Candidates:
    """What completion offers at an argument's position.

    kind: "words" (exactly `words`), "host", "service" or "path" (the front end
    adds hosts from history, the services database or the file system to
    `words`), "command" (command names) or "none".
    """

    kind: str
    words: tuple = ()
    label: str = ""


def did_you_mean(word: str, names) -> str:
    import difflib  # only to word an error: not worth its import on every start

    close = difflib.get_close_matches(word, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ArgType:
    """One kind of value. Subclasses override what differs."""

    name = "word"  # what the type is called in tests and docs
    rest = False  # takes the rest of the line as raw text (escapes decoded by the type)
    token = "Name.Other"  # lexer token of a valid value
    complete_kind = "words"

    def __init__(self, words=(), minimum: float | None = None, maximum: float | None = None):
        # Fixed words accepted verbatim, each mapped to the value a handler receives.
        self.words: dict = dict(words) if isinstance(words, dict) else {w: w for w in words}
        self.minimum, self.maximum = minimum, maximum

    def convert(self, text: str, args: dict, registry) -> object:
        """The value for `text` (not one of `words`); ArgError when it does not fit."""
        if not text:
            raise ArgError("empty value")
        return text

    def usage(self, metavar: str) -> str:
        """How the argument reads in `usage:` lines."""
        if self.words:
            return f"{metavar}|" + "|".join(self.words)
        return metavar + ("..." if self.rest else "")

    def candidates(self, label: str, args: dict, registry) -> Candidates:
        return Candidates(self.complete_kind, tuple(self.words), label)

    def applies(self, args: dict) -> bool:
        """Is there a place for this argument after the arguments so far? (False: it is skipped.)"""
        return True

    def lex(self, text: str, args: dict, registry) -> str:
        """The token for a whole word at this position: Error when it would be rejected."""
        if text in self.words:
            return "Keyword.Constant"
        try:
            self.convert(text, args, registry)
        except ArgError:
            return "Error"
        return self.token

    def _bounded(self, value, text: str):
        if self.minimum is not None and value < self.minimum:
            raise ArgError(f"{text} is below the minimum {self.minimum:.15g}")
        if self.maximum is not None and value > self.maximum:
            raise ArgError(f"{text} is above the maximum {self.maximum:.15g}")
        return value


class Choice(ArgType):
    """Only its fixed words (`shutdown 0|1|2|rd|wr|rdwr`)."""

    name = "choice"

    def convert(self, text, args, registry):
        raise Mismatch()

    def usage(self, metavar):
        return "|".join(self.words)


class Int(ArgType):
    name = "int"
    token = "Number"

    def convert(self, text, args, registry):
        try:
            value = int(text, 10)
        except ValueError:
            raise Mismatch() from None
        return self._bounded(value, text)


class Seconds(ArgType):
    name = "float"
    token = "Number"

    def convert(self, text, args, registry):
        try:
            value = float(text)
        except ValueError:
            raise ArgError(f"expected a number of seconds, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ArgError(f"expected a finite number, got {text!r}")
        return self._bounded(value, text)


class AmountOf(ArgType):
    """A number that only follows some words of another argument, each with its own type
    (`recv exactly N`: an Int, `recv quiet SECONDS`: Seconds); after any other word it
    has no place, so the parser, completion and the lexer skip it."""

    name = "amount"
    token = "Number"

    def __init__(self, word_dest: str, kinds: dict):
        super().__init__()
        self.word_dest, self.kinds = word_dest, kinds

    def applies(self, args):
        return args.get(self.word_dest) in self.kinds

    def convert(self, text, args, registry):
        return self.kinds[args[self.word_dest]].convert(text, args, registry)

    def candidates(self, label, args, registry):
        return Candidates("none", (), label)


class Port(ArgType):
    """A port number, or a service name looked up (getservbyname) when the command runs."""

    name = "port"
    token = "Number"
    complete_kind = "service"

    def convert(self, text, args, registry):
        try:
            value = int(text, 10)
        except ValueError:
            if _SERVICE_RE.match(text):
                return text
            raise Mismatch() from None
        if not 0 <= value <= 65535:
            raise ArgError(f"port {value} is out of range 0-65535")
        return value

    def lex(self, text, args, registry):
        token = super().lex(text, args, registry)
        return token if token == "Error" or text[:1].isdigit() else "Name.Constant"

    def candidates(self, label, args, registry):
        return Candidates("service", tuple(self.words), "service")


class Host(ArgType):
    """A host name or an IP address; an IPv6 address may be written in brackets (`[::1]`)."""

    name = "host"
    complete_kind = "host"

    def convert(self, text, args, registry):
        if text.startswith("[") and text.endswith("]") and len(text) > 2:
            return text[1:-1]  # `[::1]`, as netrepl itself writes addresses
        return super().convert(text, args, registry)

    def candidates(self, label, args, registry):
        return Candidates("host", LOOPBACK_HOSTS, "host")


class HostPort(Host):
    """A host that may carry its port (`name:port`, `[v6]:port`): the port then fills the
    argument `port_dest` too, and a separate PORT word would be surplus.

    With `unix`, a word holding a `/` (a path) or starting with `@` (a Linux abstract
    name) is a Unix socket address instead: a UnixName, checked against sun_path's size
    here (before any syscall), and `port_dest` is filled with None (a Unix socket has no
    port). `autobind` also accepts `@` alone: a name the kernel chooses (listen, bind)."""

    def __init__(self, port_dest: str, unix: bool = False, autobind: bool = False):
        super().__init__()
        self.port_dest = port_dest
        self.unix, self.autobind = unix, autobind

    def convert(self, text, args, registry):
        if self.unix and is_unix_word(text):
            try:
                name = parse_name(text, self.autobind)
            except ValueError as exc:
                raise ArgError(str(exc)) from None
            args[self.port_dest] = None
            return name
        try:
            joined = split_host_port(text)
        except ArgError as exc:
            raise ArgError(f"the port after the colon: {exc.message or 'expected a number or a service name'}",
                           text.rfind(":") + 1) from None
        if joined is None:
            return super().convert(text, args, registry)
        args[self.port_dest] = joined[1]
        return joined[0]

    def lex(self, text, args, registry):
        if self.unix and is_unix_word(text):
            return "Error" if super().lex(text, args, registry) == "Error" else "String"
        return super().lex(text, args, registry)


def split_host_port(host: str) -> tuple[str, int | str] | None:
    """`name:port` or `[v6]:port` written as one word -> (host, port); None when it is a plain host.
    (A bare IPv6 address such as `::1` has more than one colon and is a plain host.)"""
    m = re.fullmatch(r"\[([^\]]+)\]:([^:]+)|([^:\[\]]+):([^:]+)", host)
    if m is None:
        return None
    name, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return name, Port().convert(port, {}, None)


class Path(ArgType):
    name = "path"
    token = "String"
    complete_kind = "path"

    def candidates(self, label, args, registry):
        return Candidates("path", tuple(self.words), "path")


class VarName(ArgType):
    name = "var"
    token = "Name.Variable"

    def convert(self, text, args, registry):
        if not _VAR_NAME_RE.match(text):
            raise ArgError(f"{text!r} is not a variable name (letters, digits, _)")
        return text

    def candidates(self, label, args, registry):
        return Candidates("none", (), label)


class FailureKind(ArgType):
    """A `must-fail` kind: an error kind, a short name or an errno name (ECONNREFUSED)."""

    name = "failure"
    token = "Name.Exception"

    def __init__(self, names: tuple[str, ...], errname_known: Callable[[str], bool]):
        """names: the kinds and short names; errname_known: is a word an errno (or EAI_, verify,
        TLS reason) name. Passed in by the command that takes it (core/errors.py has both)."""
        super().__init__()
        self.names, self.errname_known = names, errname_known
        self.known = {name: name for name in names}

    def convert(self, text, args, registry):
        if text.lower() not in self.known and not self.errname_known(text):
            raise ArgError(f"unknown failure kind {text!r}; one of " + ", ".join(self.names)
                           + " or an errno name such as ECONNREFUSED")
        return text.lower()

    def usage(self, metavar):
        return metavar

    def candidates(self, label, args, registry):
        return Candidates("words", self.names, "failure kind")



class Redirect(ArgType):
    """`> PATH` (or `>PATH`): where `recv all` writes what it receives; with symbol `<`,
    `< PATH`: the file `send` reads from (only with the `<` standing alone as a word,
    so `send <b>` still sends text)."""

    name = "redirect"
    token = "String"

    def __init__(self, symbol: str = ">"):
        super().__init__()
        self.symbol = symbol
        self.attached = symbol == ">"  # `>PATH` in one word is a redirect too

    def usage(self, metavar):
        return f"{self.symbol} PATH"

    def candidates(self, label, args, registry):
        return Candidates("path", (), "path")


class CommandName(ArgType):
    """A command of the registry (`help COMMAND`)."""

    name = "command-name"
    token = "Keyword"

    def convert(self, text, args, registry):
        if registry.get(text) is None:
            raise ArgError(f"no command {text!r}{did_you_mean(text, registry.all_names())}")
        return text

    def candidates(self, label, args, registry):
        return Candidates("words", tuple(sorted(registry.names())), "command")


class SettingOf(ArgType):
    """A setting of the command named by another argument (`help set eol`).

    Any word parses; check_parsed, once every word is in, says whether that command has
    such a setting (so a surplus word is reported before a wrong setting).
    """

    name = "setting"

    def __init__(self, command_dest: str):
        super().__init__()
        self.command_dest = command_dest

    def convert(self, text, args, registry):
        if args.get(self.command_dest) is None:
            raise Mismatch()  # no command to have settings: the word is the command's, and wrong
        return super().convert(text, args, registry)

    def settings(self, args, registry) -> tuple[str, ...]:
        cmd = registry.get(args.get(self.command_dest) or "")
        return tuple(cmd.subcommands) if cmd is not None else ()

    def check_parsed(self, value, args, registry) -> str | None:
        known = self.settings(args, registry)
        if value is None or value in known:
            return None
        return f"{args[self.command_dest]} has no setting {value!r} (settings: {', '.join(known) or 'none'})"

    def candidates(self, label, args, registry):
        return Candidates("words", self.settings(args, registry), "setting")

    def lex(self, text, args, registry):
        return "Name.Attribute" if text in self.settings(args, registry) else "Error"
