""".nrs scripts: check a whole script before it runs, then replay it.

A script is the shell's own language, one command a line, fed to the same
executor the shell uses. Exit codes: 0 every command succeeded, 1 a command
failed, 2 the script was rejected (syntax, undefined variable) before
anything ran. Nothing here imports prompt_toolkit.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from contextlib import contextmanager
from typing import IO, Iterable, Iterator, Mapping

from netrepl.errors import failure
from netrepl.executor import Executor, Step
from netrepl.parser import ParseError, Parsed, Parser
from netrepl.fastdata import field, record
from netrepl.render import plain, render, safe
from netrepl.results import Result

MAX_DEPTH = 8  # `source` nesting; deeper is a loop


@record
class Problem:
    source: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return safe(f"{self.source}:{self.line}:{self.col}: {self.message}")


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
    with _gc_paused():
        return _check(lines, source, parser, variables, base, depth)


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


def run_source(ex: Executor, path: str) -> Iterator[Step] | Result:
    """The `source` command: check the file, then run it until a command fails."""
    path = resolve(path, ex.cwd)
    if ex.depth + 1 >= MAX_DEPTH:
        return Result(error=failure("usage", "source", f"`source` nested more than {MAX_DEPTH} deep (a loop?)"),
                      state=ex.session.state())
    try:
        script = load(path, ex.parser, ex.variables, ex.depth + 1)
    except OSError as exc:
        return Result(error=failure("file", "source", f"{path}: {exc.strerror}", exc.errno), state=ex.session.state())
    if script.problems:
        text = "\n".join(str(p) for p in script.problems[:20])
        return Result(error=failure("usage", "source", f"{path} was not run: {len(script.problems)} problem(s)"),
                      text=text, state=ex.session.state())
    return _run_commands(ex, script)


def _run_commands(ex: Executor, script: Script) -> Iterator[Step]:
    saved_cwd = ex.cwd
    ex.cwd, ex.depth = os.path.dirname(script.source), ex.depth + 1
    try:
        for number, parsed in script.commands:
            for step in ex.run_parsed(parsed, script.source, number):
                yield step
                if not step.result.ok:
                    return
    finally:
        ex.cwd, ex.depth = saved_cwd, ex.depth - 1


@record
class Options:
    quiet: bool = False
    keep_going: bool = False
    stable: bool = False
    step: bool = False
    delay: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)


class Runner:
    """Replays scripts, `-c` text or piped standard input; writes a transcript."""

    def __init__(self, options: Options, out: IO[str] | None = None, err: IO[str] | None = None,
                 pace_input: IO[str] | None = None):
        self.options = options
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.pace_input = pace_input
        self.failures: list[Step] = []  # the steps that failed, for reports

    # -- entry points, each returning an exit status --

    def run_files(self, paths: list[str]) -> int:
        status = 0
        for path in paths:
            status = max(status, self.run_file(path))
            if status == 2 or (status and not self.options.keep_going):
                break
        return status

    def run_file(self, path: str) -> int:
        ex = self._executor(os.path.dirname(path))
        try:
            script = load(path, ex.parser, ex.variables)
        except OSError as exc:
            self.err.write(safe(f"netrepl: cannot read {path}: {exc.strerror}") + "\n")
            return 2
        return self._run_checked(ex, script)

    def run_text(self, text: str, source: str = "-c") -> int:
        ex = self._executor(os.getcwd())
        lines = split_commands(text)
        return self._run_checked(ex, check(lines, source, ex.parser, ex.variables, os.getcwd()))

    def run_stream(self, stream: IO[str], source: str = "<stdin>") -> int:
        """Line by line as it arrives (a pipe may be a live conversation)."""
        if self.options.step and self.pace_input is None:
            try:  # Enter cannot come from standard input: it holds the commands
                self.pace_input = open("/dev/tty")
            except OSError:
                self.err.write("netrepl: --step reads Enter from the terminal, and there is none "
                               "(the commands come from standard input)\n")
                return 2
        ex = self._executor(os.getcwd())
        problems: list[Problem] = []

        def commands():
            for number, line in enumerate(stream, 1):
                try:
                    parsed = ex.parse(line.rstrip("\r\n"))
                except ParseError as exc:  # nothing after a syntax error runs
                    problems.append(Problem(source, number, exc.col, exc.message))
                    return
                if parsed is not None:
                    yield number, parsed

        status = self._run_commands(ex, commands(), source)
        for problem in problems:
            self.err.write(str(problem) + "\n")
        return 2 if problems else status

    # -- the loop --

    def _executor(self, cwd: str) -> Executor:
        return Executor(variables=dict(self.options.variables), cwd=cwd, data_writer=self.out.write)

    def _run_checked(self, ex: Executor, script: Script) -> int:
        if script.problems:
            for problem in script.problems:
                self.err.write(str(problem) + "\n")
            self.err.write(f"netrepl: {script.source}: not run, {len(script.problems)} problem(s)\n")
            ex.finish()
            return 2
        return self._run_commands(ex, script.commands, script.source)

    def _run_commands(self, ex: Executor, commands: Iterable[tuple[int, Parsed]], source: str) -> int:
        status = 0
        try:
            for number, parsed in commands:
                outcome = self._run_one(ex, parsed, source, number)
                if outcome == "failed":
                    status = 1
                if outcome == "exit" or (outcome == "failed" and not self.options.keep_going):
                    break
        finally:
            ex.finish()
        return status

    def _run_one(self, ex: Executor, parsed: Parsed, source: str, number: int) -> str:
        """Run one command and write its transcript: "ok", "failed" or "exit"."""
        self._pace(parsed.text)
        outcome = "ok"
        if not self.options.quiet:  # before it runs: `recv all` streams its data as it arrives
            self.out.write(safe(f"netrepl> {parsed.text}") + "\n")
            self.out.flush()
        for step in ex.run_parsed(parsed, source, number):
            if not self.options.quiet and (step.source, step.line) != (source, number):
                self.out.write(safe(f"netrepl> {step.text}") + "\n")  # a command of a sourced script
            self.out.write(plain(render(step.result, ex.session.display, self.options.stable)))
            self.out.flush()
            if step.result.exit:
                return "exit"
            if not step.result.ok:
                if step.source is None:
                    step.source, step.line = source, number
                note = f"netrepl: {step.where}: `{step.text}` failed ({step.result.error.kind})"
                self.failures.append(step)
                self.err.write(safe(note) + "\n")
                self.err.flush()
                outcome = "failed"
        return outcome

    def _pace(self, text: str) -> None:
        if self.options.delay:
            time.sleep(self.options.delay)
        if self.options.step:
            self.err.write(safe(f"[Enter] {text}"))
            self.err.flush()
            if self.pace_input is None:
                self.pace_input = _tty()  # opened once for the whole run
            self.pace_input.readline()


def _tty() -> IO[str]:
    try:
        return open("/dev/tty")
    except OSError:
        return sys.stdin


def split_commands(text: str) -> list[str]:
    """`-c` text: commands separated by `;` or newlines (write a literal ; as \\x3b)."""
    return [piece.strip() for chunk in text.split("\n") for piece in chunk.split(";")]
