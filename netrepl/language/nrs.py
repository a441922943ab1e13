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
from collections.abc import Iterable, Mapping

from netrepl.base.fastdata import field, datatype
from netrepl.language.escapes import EscapeError, decode_escapes
from netrepl.language.parser import ParseError, Parsed, Parser
from netrepl.base.patterns import lazy
from netrepl.base.unixpaths import UnixName

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

MAX_DEPTH = 8  # `source` nesting; deeper is a loop
MAX_BYTES = 64 * 1024 * 1024  # one script file; /dev/zero would otherwise be read until memory runs out
# Lines of one script file: each command checked is kept until it runs (~0.7 kB each:
# a million `print x` lines hold 740 MB), and 64 MiB of them would be 8 million.
MAX_LINES = 1_000_000
# Lines of sourced files checked in all (a script's own lines are bounded by MAX_BYTES):
# ten lines that each `source` their own file are 10**8 lines at depth 8, which the depth
# limit alone lets through. 100k lines take ~1.5 s to check.
MAX_SOURCED_LINES = 100_000
PORT_PLACEHOLDER = "0"  # a lab port while checking: the OS chooses the real one when `serve` runs
HTTP_STATUS_PLACEHOLDER = "200"  # $http_status while checking: `recv http` sets it when it runs
PATH_PLACEHOLDER = "@0"  # a Unix socket name while checking (`listen @`: the kernel chooses it)
_NAMES_RE = lazy(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")  # every variable a line names, defaults' too


def serve_variables(kind: str) -> tuple[str, str]:
    """The variables `serve KIND` sets to its port: the last server's, and the last of its kind's."""
    return "lab_port", f"lab_{kind}_port"


def late_variables(parsed: Parsed) -> dict[str, str]:
    """The variables a command sets when it runs to what only then is known (a port the OS
    chose, a Unix socket name the kernel chose), each with a stand-in to check later lines with."""
    name = parsed.command.name
    if name == "serve" and parsed.args["kind"] not in (None, "stop"):
        if isinstance(parsed.args["port"], UnixName):  # commands/labs.py unix_variables
            return dict.fromkeys(("lab_path", f"lab_{parsed.args['kind']}_path"), PATH_PLACEHOLDER)
        return dict.fromkeys(serve_variables(parsed.args["kind"]), PORT_PLACEHOLDER)
    if name == "listen":  # commands/listening.py sets one of them
        if isinstance(parsed.args.get("host"), UnixName):
            return {"listen_path": PATH_PLACEHOLDER}
        return {"listen_port": PORT_PLACEHOLDER}
    if name == "recv" and parsed.args.get("n") == "http":  # commands/receiving.py: the status it read
        return {"http_status": HTTP_STATUS_PLACEHOLDER}
    if name == "relay" and parsed.args.get("lport") is not None and parsed.args.get("lhost") not in ("stop", "watch"):
        return {"relay_port": PORT_PLACEHOLDER}  # commands/relaying.py
    return {}


CAPTURE_PLACEHOLDER = "1"  # a captured value while checking: a number fits most places ($len, $port)


def capture_variables(parsed: Parsed) -> dict[str, str]:
    """The variables an `expect /REGEX/` sets when it matches (its named groups, `(?P<NAME>...)`),
    each with a stand-in: the real value is only known when it runs. (Not inside must-fail:
    an expect that must fail sets nothing.)"""
    if parsed.command.name != "expect":
        return {}
    want = parsed.args["pattern"]
    if want.kind != "regex" or not want.pattern.groupindex:
        return {}
    return dict.fromkeys(want.pattern.groupindex, CAPTURE_PLACEHOLDER)


def serve_constants(kind: str) -> dict[str, str]:
    """The variables `serve KIND` sets to a fixed value: $lab_ca, the lab CA file, for a TLS kind."""
    from netrepl.base import labkinds as lab_kinds  # the table of kinds: only scripts that serve need it

    return {"lab_ca": lab_kinds.LAB_CA} if kind in lab_kinds.TLS_KINDS else {}


def var_value(text: str, flags) -> str:
    """The value `set var [-x] NAME TEXT` gives NAME: with -x, escapes decoded (bytes that are
    not UTF-8 become the same lone surrogates a -D value or piped input holds)."""
    if "-x" not in flags:
        return text
    try:
        return decode_escapes(text).decode("utf-8", "surrogateescape")
    except EscapeError as exc:
        raise ParseError(exc.message, exc.col) from None


@datatype
class Problem:
    source: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.message}"  # raw: the renderer escapes it


@datatype
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
          base: str | None = None, depth: int = 0, late: set[str] | None = None,
          budget: _Budget | None = None) -> Script:
    """Parse every line, following `set var`, `serve` and `source` as a run would.

    A line using a variable only known when the script runs (a lab server's
    port, `late`) gets Parsed.vars_used: the executor parses it again then."""
    late = set() if late is None else late
    if budget is not None:
        return _check(lines, source, parser, variables, base, depth, late, budget)
    # No cyclic garbage collection while a script is parsed. Every kept command (objects
    # and dicts, no cycles) would otherwise be rescanned by collections triggered by the
    # very allocations that built them: 40% of the time of checking 100k lines
    # (docs/bench.md). Afterwards the new objects go straight to the oldest generation
    # (freeze + unfreeze does that without a scan), as the collections would have moved
    # them: else the first young collection walks them all once more (another 20%).
    # A try/finally, not a contextmanager: contextlib would cost start-up 0.4 ms.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(lines, source, parser, variables, base, depth, late, _Budget())
    except _OverBudget as exc:  # one problem says it all; the rest is not checked
        return Script(source, problems=[exc.problem])
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def check_sourced(parsed: Parsed, parser: Parser, variables: dict[str, str], base: str | None,
                  source: str, number: int) -> list[Problem]:
    """The problems of the file a `source` command would run, checked whole (piped
    input checks each `source` line as it arrives, as a script check would)."""
    try:
        return _check_sourced(parsed, parser, dict(variables), base, 0, source, number, set(), _Budget())
    except _OverBudget as exc:
        return [exc.problem]


def _check(lines: Iterable[str], source: str, parser: Parser, variables: Mapping[str, str],
           base: str | None, depth: int, late: set[str], budget: _Budget) -> Script:
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
        if late and "$" in line:
            used = tuple(name for name in _NAMES_RE.findall(line) if name in late)
            if used:
                parsed.vars_used = used
        name = parsed.command.name
        if parsed.command.shell_only:
            script.problems.append(Problem(source, number, 1, parsed.command.shell_only))
            continue
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
        elif name in ("serve", "listen", "recv", "relay"):
            for var, stand_in in late_variables(parsed).items():
                known[var] = stand_in
                late.add(var)
            if name == "serve":
                known.update(serve_constants(parsed.args["kind"] or ""))
        elif name == "expect":
            for var, stand_in in capture_variables(parsed).items():
                known[var] = stand_in
                late.add(var)
        elif name == "source":
            script.problems += _check_sourced(parsed, parser, known, base, depth, source, number, late, budget)
        script.commands.append((number, parsed))
    return script


def _check_sourced(parsed, parser, known, base, depth, source, number, late, budget) -> list[Problem]:
    path = resolve(parsed.args["path"], base)
    if depth + 1 >= MAX_DEPTH:
        return [Problem(source, number, 1, f"`source` nested more than {MAX_DEPTH} deep (a loop?)")]
    try:
        lines, problems = budget.read_lines(path)
    except OSError as exc:
        return [Problem(source, number, 1, f"cannot read {path}: {exc.strerror}")]
    inner = check(lines, path, parser, known, os.path.dirname(path), depth + 1, late, budget)
    for _, sub in inner.commands:  # a sourced script can set variables for what follows
        if sub.command.name == "set var":
            known[sub.args["name"]] = var_value(sub.args["value"], sub.flags)
        elif sub.command.name == "expect":
            known.update(capture_variables(sub))
        elif sub.command.name in ("serve", "listen", "recv", "relay"):  # (recv http: $http_status)
            known.update(late_variables(sub))
            if sub.command.name == "serve" and sub.args["kind"] not in (None, "stop"):
                known.update(serve_constants(sub.args["kind"]))
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
