""".nrs text: read a script file, check it whole (following `set var` and
`source` as a run would), and split `-c` text into commands.

Only the parser is needed here; running the checked commands is the
executor's job (Executor.source) and the runner's (runner.py).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Mapping

from netrepl.fastdata import field, record
from netrepl.language.parser import ParseError, Parsed, Parser

MAX_DEPTH = 8  # `source` nesting; deeper is a loop


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
          base: str | None = None, depth: int = 0) -> Script:
    """Parse every line, following `set var` and `source` as a run would."""
    # No cyclic garbage collection while a script is parsed. Every kept
    # command (objects and dicts, no cycles) would otherwise be rescanned by
    # collections triggered by the very allocations that built them: 40% of
    # the time of checking 100k lines (docs/bench.md). Afterwards the new
    # objects go straight to the oldest generation (freeze + unfreeze does
    # that without a scan), as the collections would have moved them: else
    # the first young collection walks them all once more (another 20%).
    # A plain try/finally, not a contextlib.contextmanager: contextlib is
    # ~0.4 ms of `netrepl -c` start-up and nothing else there needs it.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(lines, source, parser, variables, base, depth)
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _check(lines: Iterable[str], source: str, parser: Parser, variables: Mapping[str, str],
           base: str | None, depth: int) -> Script:
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
        name = parsed.command.name
        if name == "set var":
            known[parsed.args["name"]] = parsed.args["value"]
        elif name == "source":
            script.problems += _check_sourced(parsed, parser, known, base, depth, source, number)
        script.commands.append((number, parsed))
    return script


def _check_sourced(parsed, parser, known, base, depth, source, number) -> list[Problem]:
    path = resolve(parsed.args["path"], base)
    if depth + 1 >= MAX_DEPTH:
        return [Problem(source, number, 1, f"`source` nested more than {MAX_DEPTH} deep (a loop?)")]
    try:
        lines, problems = read_lines(path)
    except OSError as exc:
        return [Problem(source, number, 1, f"cannot read {path}: {exc.strerror}")]
    inner = check(lines, path, parser, known, os.path.dirname(path), depth + 1)
    for _, sub in inner.commands:  # a sourced script can set variables for what follows
        if sub.command.name == "set var":
            known[sub.args["name"]] = sub.args["value"]
    return problems + inner.problems


def load(path: str, parser: Parser, variables: Mapping[str, str], depth: int = 0) -> Script:
    lines, problems = read_lines(path)
    script = check(lines, path, parser, variables, os.path.dirname(path), depth)
    script.problems[:0] = problems
    return script



def split_commands(text: str) -> list[str]:
    """`-c` text: commands separated by `;` or newlines (write a literal ; as \\x3b)."""
    return [piece.strip() for chunk in text.split("\n") for piece in chunk.split(";")]
