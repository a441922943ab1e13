""".nrs text: read a script file, check it whole (following `set var` and
`source` as a run would), and split `-c` text into commands.

Only the parser is needed here; running the checked commands is the
executor's job (Executor.source) and the runner's (runner.py).
"""

from __future__ import annotations

import gc
import os
import re
from contextlib import contextmanager
from typing import Iterable, Mapping

from netrepl.fastdata import field, record
from netrepl.language.escapes import EscapeError, decode_escapes
from netrepl.language.parser import ParseError, Parsed, Parser

MAX_DEPTH = 8  # `source` nesting; deeper is a loop
PORT_PLACEHOLDER = "0"  # a lab port while checking: the OS chooses the real one when `serve` runs
_NAMES_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")  # every variable a line names, defaults' too


def serve_variables(kind: str) -> tuple[str, str]:
    """The variables `serve KIND` sets to its port: the last server's, and the last of its kind's."""
    return "lab_port", f"lab_{kind}_port"


def var_value(text: str, flags) -> str:
    """The value `set var [-x] NAME TEXT` gives NAME: with -x, escapes decoded (bytes that are
    not UTF-8 become the same lone surrogates a -D value or piped input holds)."""
    if "-x" not in flags:
        return text
    try:
        return decode_escapes(text).decode("utf-8", "surrogateescape")
    except EscapeError as exc:
        raise ParseError(exc.message, exc.col) from None


@record
class Problem:
    source: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.message}"  # raw: the renderer escapes it


@record
class Script:
    source: str
    commands: list[tuple[int, Parsed]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_lines(path: str) -> tuple[list[str], list[Problem]]:
    """A file's lines; undecodable bytes are a problem at their line and column."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (some Windows editors write one)
        raw = raw[3:]
    lines, problems = [], []
    for number, chunk in enumerate(raw.split(b"\n"), 1):
        chunk = chunk[:-1] if chunk.endswith(b"\r") else chunk
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(Problem(path, number, exc.start + 1, f"invalid UTF-8 (byte 0x{chunk[exc.start]:02x}); "
                                                                 "scripts are UTF-8 text, write bytes as \\xNN"))
            lines.append("")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, problems


def resolve(path: str, base: str | None) -> str:
    path = os.path.expanduser(path)
    if base and not os.path.isabs(path):
        candidate = os.path.join(base, path)
        if os.path.exists(candidate):
            return candidate
    return path


def check(lines: Iterable[str], source: str, parser: Parser, variables: Mapping[str, str],
          base: str | None = None, depth: int = 0, late: set[str] | None = None) -> Script:
    """Parse every line, following `set var`, `serve` and `source` as a run would.

    A line using a variable only known when the script runs (a lab server's
    port, `late`) gets Parsed.vars_used: the executor parses it again then."""
    with _gc_paused():
        return _check(lines, source, parser, variables, base, depth, set() if late is None else late)


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while a script is parsed. Every kept
    command (objects and dicts, no cycles) would otherwise be rescanned by
    collections triggered by the very allocations that built them: 40% of
    the time of checking 100k lines (docs/bench.md). Afterwards the new
    objects go straight to the oldest generation (freeze + unfreeze does
    that without a scan), as the collections would have moved them: else
    the first young collection walks them all once more (another 20%)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _check(lines: Iterable[str], source: str, parser: Parser, variables: Mapping[str, str],
           base: str | None, depth: int, late: set[str]) -> Script:
    script = Script(source)
    known = dict(variables)
    for number, line in enumerate(lines, 1):
        try:
            parsed = parser.parse(line, known)
        except ParseError as exc:
            script.problems.append(Problem(source, number, exc.col, exc.message))
            continue
        if parsed is None:
            continue
        if late and "$" in line:
            used = tuple(name for name in _NAMES_RE.findall(line) if name in late)
            if used:
                parsed.vars_used = used
        name = parsed.command.name
        if name == "set var":
            try:
                known[parsed.args["name"]] = var_value(parsed.args["value"], parsed.flags)
            except ParseError as exc:
                script.problems.append(Problem(source, number, exc.col, exc.message))
                continue
            if parsed.vars_used:  # its value is only known when it runs, like the lab port it names
                late.add(parsed.args["name"])
            else:
                late.discard(parsed.args["name"])
        elif name == "serve" and parsed.args["kind"] not in (None, "stop"):
            for var in serve_variables(parsed.args["kind"]):
                known[var] = PORT_PLACEHOLDER
                late.add(var)
        elif name == "source":
            script.problems += _check_sourced(parsed, parser, known, base, depth, source, number, late)
        script.commands.append((number, parsed))
    return script


def _check_sourced(parsed, parser, known, base, depth, source, number, late) -> list[Problem]:
    path = resolve(parsed.args["path"], base)
    if depth + 1 >= MAX_DEPTH:
        return [Problem(source, number, 1, f"`source` nested more than {MAX_DEPTH} deep (a loop?)")]
    try:
        lines, problems = read_lines(path)
    except OSError as exc:
        return [Problem(source, number, 1, f"cannot read {path}: {exc.strerror}")]
    inner = check(lines, path, parser, known, os.path.dirname(path), depth + 1, late)
    for _, sub in inner.commands:  # a sourced script can set variables for what follows
        if sub.command.name == "set var":
            known[sub.args["name"]] = var_value(sub.args["value"], sub.flags)
        elif sub.command.name == "serve" and sub.args["kind"] not in (None, "stop"):
            known.update(dict.fromkeys(serve_variables(sub.args["kind"]), PORT_PLACEHOLDER))
    return problems + inner.problems


def load(path: str, parser: Parser, variables: Mapping[str, str], depth: int = 0) -> Script:
    lines, problems = read_lines(path)
    script = check(lines, path, parser, variables, os.path.dirname(path), depth)
    script.problems[:0] = problems
    return script



def split_commands(text: str) -> list[str]:
    """`-c` text: commands separated by `;` or newlines (write a literal ; as \\x3b)."""
    return [piece.strip() for chunk in text.split("\n") for piece in chunk.split(";")]
