"""Script values -> Python expressions of the exported program.

An argument typed without `$` is a literal: the value the parser converted,
written with repr() (bytes literals for data), so no text of the script is
ever pasted into code. An argument naming variables becomes code that builds
the value at run time from the program's options (`args.host`), or from what
`set var` and `serve` bound earlier: a script has no branches, so each use of
a variable has one binding, known here.
"""

from __future__ import annotations

import argparse
import keyword

from netrepl.base.fastdata import datatype, field
from netrepl.language.escapes import EscapeError, decode_escapes
from netrepl.language.tokens import VAR_RE

OWN_OPTIONS = ("help", "timeout")  # the program's own: a variable so named gets --var-NAME
NO_DEFAULT, VARIES = object(), object()  # a use of $NAME without `:-`; one whose default names a variable
_NAMESPACE = argparse.Namespace()  # what parse_args returns: its own attributes are no variable's


class Unsupported(Exception):
    """A value the generator cannot write as the same code (the line is refused)."""


@datatype
class Expr:
    """Python code for a value: kind is "str", "int", "float" or "bytes"; `value` is set for a literal."""

    code: str
    kind: str
    value: object = None

    @property
    def literal(self) -> bool:
        return self.value is not None


def lit(value) -> Expr:
    kind = {bytes: "bytes", str: "str", int: "int", float: "float"}[type(value)]
    return Expr(repr(value), kind, value)


def to_str(e: Expr) -> Expr:
    if e.kind == "str":
        return e
    if e.literal:
        return lit(str(e.value))
    return Expr(f"str({e.code})", "str")


def to_bytes(e: Expr) -> Expr:
    if e.kind == "bytes":
        return e
    s = to_str(e)
    if s.literal:
        return lit(s.value.encode("utf-8", "surrogateescape"))
    return Expr(f'{_atom(s.code)}.encode("utf-8", "surrogateescape")', "bytes")


def to_number(e: Expr, kind: str) -> Expr:
    if e.kind == kind:
        return e
    make = {"int": int, "float": float}[kind]
    if e.literal:
        return lit(make(e.value))
    return Expr(f"{kind}({e.code})", kind)


def _atom(code: str) -> str:
    """Code that can take `.encode(...)` or stand in a sum: an expression with blanks is bracketed."""
    return f"({code})" if " " in code else code


def concat(parts: list[Expr], kind: str) -> Expr:
    """Parts (each of `kind`) joined: adjacent literals folded into one."""
    folded: list[Expr] = []
    for part in parts:
        if part.literal and part.value == type(part.value)():
            continue  # an empty literal adds nothing
        if folded and folded[-1].literal and part.literal:
            folded[-1] = lit(folded[-1].value + part.value)
        else:
            folded.append(part)
    if not folded:
        return lit(b"" if kind == "bytes" else "")
    if len(folded) == 1:
        return folded[0]
    return Expr(" + ".join(_atom(p.code) if " or " in p.code else p.code for p in folded), kind)


@datatype
class Option:
    """A command-line option of the program: a script variable (or a lab server's port)."""

    name: str  # the script's variable name
    dest: str
    flag: str
    kind: str = "str"  # str, int or float
    default: object = None
    required: bool = False
    help: str = ""
    roles: set = field(default_factory=set)
    defaults: list = field(default_factory=list)  # the literal default of each use (None: no default)


def option_names(name: str) -> tuple[str, str]:
    """(dest, flag) for a variable: `lab_port` -> args.lab_port, --lab-port.

    A name the program cannot use as it is -- one of its own options, a keyword, an attribute
    every Namespace has (`__class__`, `_get_args`) -- becomes var_NAME, and so does every name
    that starts with var_ already: no two variables share a dest or a flag."""
    if name in OWN_OPTIONS or keyword.iskeyword(name) or name.startswith("var_") or hasattr(_NAMESPACE, name):
        name = "var_" + name
    return name, "--" + name.replace("_", "-")


class Values:
    """The variables of one export: bindings made so far, options found, defaults given with -D."""

    def __init__(self, given: dict[str, str]):
        self.given = given  # -D NAME=VALUE at export time: the options' defaults
        self.bound: dict[str, Expr] = {}  # set var / serve, in script order
        self.options: dict[str, Option] = {}
        self.decided = False  # second pass: options' kinds and defaults are known
        self.direct: set[str] = set()  # codes of bound values used other than as a default
        self.in_default = 0
        self.default_of: dict[str, set[str]] = {}  # code of a value -> options it is the default of
        self.used: set[str] = set()  # bound names used (kept from the first pass: a local is set only if read)
        self.needs: set[str] = set()  # the program's helpers the code written needs (decode_escapes)
        self.decoded: list[str] = []  # code of each text decode_escapes decodes when the program runs

    def option(self, name: str) -> Option:
        if name not in self.options:
            dest, flag = option_names(name)
            self.options[name] = Option(name, dest, flag)
        return self.options[name]

    def var(self, name: str, default_raw: str | None, role: str) -> Expr:
        """The value of $NAME (`default_raw`: the text after `:-`, or None)."""
        if name in self.bound:
            self.used.add(name)
            value = self.bound[name]
            if default_raw is not None and value.literal and value.value in ("", b""):
                return self.text(default_raw, role)
            if not self.in_default:
                self.direct.add(value.code)  # a lab port used as such, not only as a default: required
            return value
        opt = self.option(name)
        self.in_default += 1
        try:
            whole = VAR_RE.fullmatch(default_raw or "")
            if whole and (whole.group(2) or whole.group(4)):  # `${port:-$lab_port}`: that value, typed
                default = self.var(whole.group(2) or whole.group(4), whole.group(3), role)
            else:
                default = None if default_raw is None else self.text(default_raw, "str")
        finally:
            self.in_default -= 1
        if not self.decided:  # first pass: note how it is used
            if default is not None and not default.literal:
                self.default_of.setdefault(default.code, set()).add(opt.flag)
                opt.help = opt.help or f"the script's ${name} (default: {default_raw})"
            opt.roles.add(role)
            opt.defaults.append(NO_DEFAULT if default is None else default.value if default.literal else VARIES)
            return Expr(f"args.{opt.dest}", "str")
        here = Expr(f"args.{opt.dest}", opt.kind)
        if default is None or opt.default not in (None, ""):
            return here
        # `${NAME:-DEFAULT}` where uses differ: DEFAULT when the option is not given (or empty).
        if role == "port" and default.kind == "int":  # port_of takes either: no str() needed
            return Expr(f"{here.code} or {default.code}", "str")
        return Expr(f"{to_str(here).code} or {to_str(default).code}", "str")

    def decide(self) -> None:
        """After the first pass: each option's kind and default, from all its uses."""
        for opt in self.options.values():
            if opt.required:
                continue
            if opt.name in self.given:
                default = self.given[opt.name]
            elif len(set(opt.defaults)) == 1 and isinstance(opt.defaults[0], str):
                default = opt.defaults[0]  # every use has the same `${NAME:-DEFAULT}`
            else:
                opt.kind, opt.default = "str", None
                continue
            kind = {"seconds": "float", "int": "int"}.get(next(iter(opt.roles)), "str") \
                if len(opt.roles) == 1 else "str"
            try:
                opt.default = {"float": float, "int": int, "str": str}[kind](default)
                opt.kind = kind
            except ValueError:  # not a number: netrepl would refuse it where it is used
                opt.kind, opt.default = "str", default
        self.decided = True

    def text(self, raw: str, role: str, escapes: bool = False, tail: bytes = b"") -> Expr:
        """Rest-of-line text as typed -> its value: `$NAME` expanded, then (with `escapes`, for
        send and expect) the backslash escapes of the whole expanded text decoded, as netrepl
        decodes them (after expanding: a value's escapes too), as bytes (`tail` after them).
        Text known now is decoded now; text from options by the program's decode_escapes."""
        parts: list[Expr] = []
        last = 0
        for m in VAR_RE.finditer(raw):
            parts.append(lit(raw[last:m.start()]))
            last = m.end()
            if m.group(1):
                parts.append(lit("$"))
                continue
            if m.group(5):
                raise Unsupported("a malformed ${...}")
            parts.append(to_str(self.var(m.group(2) or m.group(4), m.group(3), role)))
        parts.append(lit(raw[last:]))
        text = concat(parts, "str")
        if not escapes:
            return text
        if text.literal:
            try:
                data = lit(decode_escapes(text.value))
            except EscapeError as exc:  # (the check before export decoded it with the same values)
                raise Unsupported(exc.message) from None
        else:
            self.needs.add("decode_escapes")
            self.decoded.append(text.code)
            data = Expr(f"decode_escapes({text.code})", "bytes")
        return concat([data, lit(tail)], "bytes") if tail else data

    def word(self, raw: str, role: str) -> Expr:
        """One word as typed (quotes group; single quotes do not expand) -> its value."""
        whole = VAR_RE.fullmatch(raw)
        if whole and (whole.group(2) or whole.group(4)):  # just $NAME: the option's own type
            return self.var(whole.group(2) or whole.group(4), whole.group(3), role)
        parts: list[Expr] = []
        pos, n = 0, len(raw)
        while pos < n:
            ch = raw[pos]
            if ch in "\"'":
                end = raw.find(ch, pos + 1)
                inner = raw[pos + 1:end]
                parts.append(lit(inner) if ch == "'" else self.text(inner, role))
                pos = end + 1
            else:
                j = pos
                while j < n and raw[j] not in "\"'":
                    j += 1
                parts.append(self.text(raw[pos:j], role))
                pos = j
        return concat(parts, "str")
