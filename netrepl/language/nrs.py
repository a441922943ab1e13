""".nrs text: read a script file, check it whole (following `set var` and
`source` as a run would), and split `-c` text into commands.

Every check is bounded (size, lines, sourced lines, nesting): a hostile
script is refused with FILE:LINE in about a second, whatever it holds.

Only the parser is needed here; running the checked commands is the
executor's job (Executor.source) and the runner's (runner.py).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import IO, Iterable, Mapping

from netrepl.fastdata import field, record
from netrepl.language.parser import ParseError, Parsed, Parser

MAX_DEPTH = 8  # `source` nesting; deeper is a loop
MAX_BYTES = 64 * 1024 * 1024  # one script file; /dev/zero would otherwise be read until memory runs out
# Lines of one script file: each command checked is kept until it runs (~0.7 kB each:
# a million `print x` lines hold 740 MB), and 64 MiB of them would be 8 million.
MAX_LINES = 1_000_000
# Lines of sourced files checked in all (a script's own lines are bounded by MAX_BYTES):
# ten lines that each `source` their own file are 10**8 lines at depth 8, which the depth
# limit alone lets through. 100k lines take ~1.5 s to check.
MAX_SOURCED_LINES = 100_000


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


def read_bytes(path: str, stream: IO[bytes] | None = None) -> bytes | Problem:
    """At most MAX_BYTES of a file (or of `stream`); a Problem if there are more."""
    if stream is not None:
        raw = stream.read(MAX_BYTES + 1)
    else:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        return Problem(path, 1, 1, f"script larger than {MAX_BYTES // (1024 * 1024)} MiB (not read further)")
    return raw


def read_lines(path: str, stream: IO[bytes] | None = None) -> tuple[list[str], list[Problem]]:
    """A file's lines; undecodable bytes are a problem at their line and column."""
    raw = read_bytes(path, stream)
    if isinstance(raw, Problem):
        return [], [raw]
    return split_lines(raw, path)


def split_lines(raw: bytes, path: str) -> tuple[list[str], list[Problem]]:
    if raw.count(b"\n") > MAX_LINES:  # counting first: cheap, and nothing is built
        return [], [Problem(path, MAX_LINES + 1, 1, f"script longer than {MAX_LINES:,} lines")]
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


class _Budget:
    """Sourced lines still allowed in one whole check (a `source` fan-out shares it), and the
    files it read: a file sourced again is not read again (a `source` loop would
    otherwise open its file once per line checked)."""

    def __init__(self):
        self.left = MAX_SOURCED_LINES
        self.read: dict[str, tuple[list[str], list[Problem]]] = {}
        self.cached = 0  # bytes held in `read`, at most MAX_BYTES

    def read_lines(self, path: str) -> tuple[list[str], list[Problem]]:
        if path in self.read:
            return self.read[path]
        found = read_lines(path)
        size = sum(map(len, found[0]))
        if self.cached + size <= MAX_BYTES:
            self.read[path] = found
            self.cached += size
        return found


class _OverBudget(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem)
        self.problem = problem


def check(lines: Iterable[str], source: str, parser: Parser, variables: Mapping[str, str],
          base: str | None = None, depth: int = 0, budget: _Budget | None = None) -> Script:
    """Parse every line, following `set var` and `source` as a run would."""
    if budget is not None:
        return _check(lines, source, parser, variables, base, depth, budget)
    with _gc_paused():
        try:
            return _check(lines, source, parser, variables, base, depth, _Budget())
        except _OverBudget as exc:  # one problem says it all; the rest is not checked
            return Script(source, problems=[exc.problem])


def check_sourced(parsed: Parsed, parser: Parser, variables: dict[str, str], base: str | None,
                  source: str, number: int) -> list[Problem]:
    """The problems of the file a `source` command would run, checked whole (piped
    input checks each `source` line as it arrives, as a script check would)."""
    try:
        return _check_sourced(parsed, parser, dict(variables), base, 0, source, number, _Budget())
    except _OverBudget as exc:
        return [exc.problem]


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
           base: str | None, depth: int, budget: _Budget) -> Script:
    script = Script(source)
    known = dict(variables)
    for number, line in enumerate(lines, 1):
        if depth:
            budget.left -= 1
            if budget.left < 0:
                raise _OverBudget(Problem(source, number, 1, f"more than {MAX_SOURCED_LINES:,} lines of "
                                                             "sourced files to check (a `source` loop?)"))
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
            script.problems += _check_sourced(parsed, parser, known, base, depth, source, number, budget)
        script.commands.append((number, parsed))
    return script


def _check_sourced(parsed, parser, known, base, depth, source, number, budget) -> list[Problem]:
    path = resolve(parsed.args["path"], base)
    if depth + 1 >= MAX_DEPTH:
        return [Problem(source, number, 1, f"`source` nested more than {MAX_DEPTH} deep (a loop?)")]
    try:
        lines, problems = budget.read_lines(path)
    except OSError as exc:
        return [Problem(source, number, 1, f"cannot read {path}: {exc.strerror}")]
    inner = check(lines, path, parser, known, os.path.dirname(path), depth + 1, budget)
    for _, sub in inner.commands:  # a sourced script can set variables for what follows
        if sub.command.name == "set var":
            known[sub.args["name"]] = sub.args["value"]
    return problems + inner.problems


def load(path: str, parser: Parser, variables: Mapping[str, str], depth: int = 0,
         stream: IO[bytes] | None = None) -> Script:
    """Read and check a script file (or, given `stream`, the script it holds, named `path`)."""
    lines, problems = read_lines(path, stream)
    script = check(lines, path, parser, variables, os.path.dirname(path), depth)
    script.problems[:0] = problems
    return script


def split_commands(text: str) -> list[str]:
    """`-c` text: commands separated by `;` or newlines (write a literal ; as \\x3b)."""
    return [piece.strip() for chunk in text.split("\n") for piece in chunk.split(";")]
