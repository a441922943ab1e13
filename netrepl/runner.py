"""The batch front end: replays .nrs files, `-c` text or piped standard input
and writes a transcript.

A script is the shell's own language, one command a line, checked whole
(language/nrs.py) and fed to the same executor the shell uses. Exit codes: 0 every command succeeded, 1 a command
failed, 2 the script was rejected (syntax, undefined variable) before
anything ran. Nothing here imports prompt_toolkit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor, Step
from netrepl.fastdata import field, record
from netrepl.language.nrs import Problem, Script, check, load, split_commands
from netrepl.language.parser import ParseError, Parsed
from netrepl.render.text import plain, render, safe

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
            self.err.write(safe(str(problem)) + "\n")
        return 2 if problems else status

    # -- the loop --

    def _executor(self, cwd: str) -> Executor:
        return Executor(REGISTRY, variables=self.options.variables, cwd=cwd, data_writer=self.out.write)

    def _run_checked(self, ex: Executor, script: Script) -> int:
        if script.problems:
            for problem in script.problems:
                self.err.write(safe(str(problem)) + "\n")
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
