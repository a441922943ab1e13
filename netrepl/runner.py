"""The batch front end: replays .nrs files, `-c` text or piped standard input
and writes a transcript.

A script is the shell's own language, one command a line, checked whole
(language/nrs.py) and fed to the same executor the shell uses. Several
files are all checked before the first runs. Exit statuses: base/exitstatus.py.
Nothing here imports prompt_toolkit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor, Step
from netrepl.base.exitstatus import ExitStatus
from netrepl.base.fastdata import field, datatype
from netrepl.language.nrs import Problem, Script, check, check_sourced, load, split_commands
from netrepl.language.parser import MAX_LINE, ParseError, Parsed
from netrepl.render.text import plain, render, safe
from netrepl.render.streams import Notes, RawOut, Transcript

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

STDIN_NAME = "<stdin>"


@datatype
class Options:
    quiet: bool = False
    keep_going: bool = False
    stable: bool = False
    step: bool = False
    delay: float = 0.0
    raw: bool = False  # --raw: standard output carries only the peer's bytes; the transcript goes to stderr
    variables: dict[str, str] = field(default_factory=dict)


class Runner:
    """Replays scripts, `-c` text or piped standard input; writes a transcript."""

    def __init__(self, options: Options, out: IO[str] | None = None, err: IO[str] | None = None,
                 pace_input: IO[str] | None = None):
        self.options = options
        # Writes to `out` raise OutputLost when it cannot be written; to `err`, are dropped then.
        self.err = Notes(err if err is not None else sys.stderr)
        self.out: Transcript | Notes = Transcript(out if out is not None else sys.stdout)
        self.raw: RawOut | None = None
        if options.raw:  # the transcript becomes notes: standard error, dropped if it cannot be written
            self.raw = RawOut(out if out is not None else sys.stdout, self.err)
            self.out = self.err
        self.pace_input = pace_input
        self.failures: list[Step] = []  # the steps that failed, for reports
        self.stopped = False  # `q` at a --step prompt: nothing more runs
        self.cast = None  # --cast: a render/cast.py CastWriter the transcript is mirrored to
        self.cast_secrets = None  # `set redact on` (core/redact.py): the secrets the cast shows as $secretN
        self.cast_redacting = False

    # -- entry points, each returning an exit status --

    def run_files(self, paths: list[str]) -> ExitStatus:
        """Check every file, then run them in order (`-` is standard input); any problem: nothing runs."""
        if "-" in paths and not self._pace_from_tty():
            return ExitStatus.REJECTED
        loaded = [self._load(path) for path in paths]
        if any(script is None or script.problems for _, script in loaded):
            for ex, script in loaded:
                if script is not None and script.problems:
                    self._reject(script)
                ex.finish()
            return ExitStatus.REJECTED
        status = ExitStatus.OK
        for number, (ex, script) in enumerate(loaded):
            outcome = self._run_commands(ex, script.commands, script.source)
            status = max(status, outcome)
            if outcome == ExitStatus.INTERRUPTED or (outcome and not self.options.keep_going) \
                    or self.stopped:
                for later, _ in loaded[number + 1:]:
                    later.finish()
                break
        return status

    def run_file(self, path: str) -> ExitStatus:
        return self.run_files([path])

    def run_text(self, text: str | list[str], source: str = "-c") -> ExitStatus:
        """`-c` text (several: one script, in order), checked whole."""
        texts = [text] if isinstance(text, str) else text
        ex = self._executor(os.getcwd())
        lines = [line for piece in texts for line in split_commands(piece)]
        script = check(lines, source, ex.parser, ex.variables, os.getcwd())
        if script.problems:
            self._reject(script)
            ex.finish()
            return ExitStatus.REJECTED
        return self._run_commands(ex, script.commands, script.source)

    def run_stream(self, stream: IO[str], source: str = STDIN_NAME) -> ExitStatus:
        """Line by line as it arrives (a pipe may be a live conversation). A line that
        does not parse, is too long, or `source`s a file with problems stops the run
        there with exit 2: that input is rejected, though the lines before it ran."""
        if not self._pace_from_tty():
            return ExitStatus.REJECTED
        ex = self._executor(os.getcwd())
        problems: list[Problem] = []

        def commands():
            number = 0
            while True:
                line = stream.readline(MAX_LINE + 2)  # a huge line is not read whole
                number += 1
                if not line:
                    return
                if len(line) >= MAX_LINE + 2 and not line.endswith("\n"):
                    problems.append(Problem(source, number, MAX_LINE + 1, f"line too long (more than {MAX_LINE} "
                                                                          "characters; not read further)"))
                    return
                try:
                    parsed = ex.parse(line.rstrip("\r\n"))
                except ParseError as exc:  # nothing after a syntax error runs
                    problems.append(Problem(source, number, exc.col, exc.message))
                    return
                if parsed is not None and parsed.command.name == "source":
                    found = check_sourced(parsed, ex.parser, ex.variables, ex.cwd, source, number)
                    if found:  # the file's own problems, then where in the input it was sourced
                        problems.extend(found)
                        problems.append(Problem(source, number, 1, f"`source {parsed.args['path']}` not run: "
                                                                   f"{len(found)} problem(s)"))
                        return
                if parsed is not None:
                    yield number, parsed

        status = self._run_commands(ex, commands(), source)
        for problem in problems:
            self.err.write(safe(str(problem)) + "\n")
        return ExitStatus.REJECTED if problems and status != ExitStatus.INTERRUPTED else status

    # -- the loop --

    def _pace_from_tty(self) -> bool:
        """With --step and the commands on standard input, Enter comes from /dev/tty; False
        (said on stderr) if there is none."""
        if self.options.step and self.pace_input is None:
            try:
                self.pace_input = open("/dev/tty")
            except OSError:
                self.err.write("netrepl: --step reads Enter from the terminal, and there is none "
                               "(the commands come from standard input)\n")
                return False
        return True

    def _executor(self, cwd: str) -> Executor:
        ex = Executor(REGISTRY, variables=self.options.variables, cwd=cwd, data_writer=self._write)
        ex.raw_sink = self.raw
        return ex

    def _load(self, path: str) -> tuple[Executor, Script | None]:
        """The executor a file runs in and the file checked (None, said on stderr, if unreadable)."""
        if path == "-":
            ex = self._executor(os.getcwd())
            stdin = getattr(sys.stdin, "buffer", None)
            if stdin is None:
                self.err.write("netrepl: cannot read standard input: it is closed\n")
                return ex, None
            return ex, load(STDIN_NAME, ex.parser, ex.variables, stream=stdin)
        ex = self._executor(os.path.dirname(path))
        try:
            return ex, load(path, ex.parser, ex.variables)
        except OSError as exc:
            self.err.write(safe(f"netrepl: cannot read {path}: {exc.strerror}") + "\n")
            return ex, None

    def _reject(self, script: Script) -> None:
        for problem in script.problems:
            self.err.write(safe(str(problem)) + "\n")
        self.err.write(safe(f"netrepl: {script.source}: not run, {len(script.problems)} problem(s)") + "\n")

    def _run_commands(self, ex: Executor, commands: Iterable[tuple[int, Parsed]], source: str) -> ExitStatus:
        status = ExitStatus.OK
        try:
            for number, parsed in commands:
                outcome = self._run_one(ex, parsed, source, number)
                if outcome == "interrupted":  # Ctrl-C means stop, -k or not
                    return ExitStatus.INTERRUPTED
                if outcome == "failed":
                    status = ExitStatus.FAILED
                if outcome in ("exit", "quit") or (outcome == "failed" and not self.options.keep_going):
                    break
                if self.cast is not None and self.cast.flush():  # it could not be written: end_cast says why
                    self.stopped = True
                    return ExitStatus.FAILED
        finally:
            ex.finish()
        return status

    def _run_one(self, ex: Executor, parsed: Parsed, source: str, number: int) -> str:
        """Run one command and write its transcript: "ok", "failed", "interrupted", "exit",
        or, at a --step prompt, "skipped" or "quit"."""
        key = self._pace(parsed.text)
        if key != "run":
            return key
        outcome = "ok"
        if self.cast is not None:
            self._cast_redact(ex.session)
        cast_line = self._cast_line(parsed, ex.session.eol)  # (its secrets learnt even under -q)
        if not self.options.quiet:  # before it runs: `recv all` streams its data as it arrives
            self._echo(parsed.text, cast_line)
            self.out.flush()
        for step in ex.run_parsed(parsed, source, number):
            if not self.options.quiet and (step.source, step.line) != (source, number):
                self._echo(step.text)  # a command of a sourced script
            chart = self._chart() if step.result.waterfall is not None else {}
            data = step.result.data
            if self.raw is not None:  # the peer's bytes to standard output, the words about them to stderr
                self.raw.end()  # what streamed during the command is shown whole before the words about it
                step.result.data = None
            self._write(plain(render(step.result, ex.session.display, self.options.stable, **chart)))
            if self.raw is not None:
                step.result.data = data
                if data:
                    self.raw.write(data)
                self.raw.end()
            if self.cast is not None and step.text.split(" ", 1)[0] == "print":
                self.cast.marker(plain(render(step.result)).rstrip("\n"))  # a heading to jump to
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
                if step.result.error.kind == "interrupted":
                    return "interrupted"
                outcome = "failed"
        return outcome

    def _write(self, text: str) -> None:
        self.out.write(text)
        if self.cast is not None:
            self.cast.output(self.cast_secrets.text(text) if self.cast_redacting else text)

    def _echo(self, command: str, cast_text: str | None = None) -> None:
        self.out.write(safe(f"netrepl> {command}") + "\n")
        if self.cast is not None:
            cast_text = cast_text or (self.cast_secrets.text(command) if self.cast_redacting else command)
            self.cast.command(safe(cast_text))

    def _cast_redact(self, session) -> None:
        """`set redact` as the next command runs: the cast shows secrets as variables, or not."""
        self.cast_redacting = session.redact
        if session.redact and self.cast_secrets is None:
            from netrepl.core.redact import Secrets

            self.cast_secrets = Secrets()

    def _cast_line(self, parsed: Parsed, eol: bytes) -> str | None:
        """The command as the cast shows it typed: with its secrets as variables when redacting."""
        if self.cast is None or not self.cast_redacting:
            return None
        return self.cast_secrets.line(parsed, parsed.text, eol)[0]

    def _chart(self) -> dict:
        """A waterfall's width and drawing: the terminal's, or 80 columns of ASCII off a terminal
        (and under NO_COLOR)."""
        stream = self.out.stream
        if stream is None or not getattr(stream, "isatty", lambda: False)():
            return {"width": 80, "fancy": False}
        import shutil  # only a waterfall asks the terminal's size

        return {"width": shutil.get_terminal_size().columns, "fancy": not os.environ.get("NO_COLOR")}

    # -- --cast --

    def start_cast(self, path: str, title: str = "") -> bool:
        """Open the cast file (False, said on stderr, if it cannot be written)."""
        from netrepl.render.cast import CastWriter  # only --cast needs it (json)

        try:
            from netrepl.core.pathopen import open_within  # a FIFO with no reader: not for ever

            stream = os.fdopen(open_within(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w", encoding="utf-8",
                               errors="backslashreplace")
        except OSError as exc:
            self.err.write(safe(f"netrepl: cannot write the cast {path}: {exc.strerror}") + "\n")
            return False
        self.cast_path = path
        size = {}
        if not self.options.stable and getattr(self.out.stream, "isatty", lambda: False)():
            import shutil  # the player's screen: the terminal the run was cast from

            columns, lines = shutil.get_terminal_size()
            size = {"width": columns, "height": lines}
        self.cast = CastWriter(stream, stable=self.options.stable, title=title, **size)
        if self.raw is not None:  # the peer's bytes go to stdout, and into the cast as a run without --raw shows them
            self.raw.mirror_to(_CastData(self.cast))
        return True

    def end_cast(self, status: ExitStatus) -> ExitStatus:
        """Close the cast; a failure to write it is said and makes the status at least 1."""
        if self.cast is None:
            return status
        if self.cast_secrets is not None and self.cast_secrets.names:  # which ones, as a marker to read
            names = [name for name, _ in self.cast_secrets.names.values()]
            self.cast.marker(self.cast_secrets.said(names).replace("# redacted above", "redacted") + "; not in this cast")
        self.cast.close()
        if self.cast.failed is None:
            return status
        self.err.write(safe(f"netrepl: cannot write the cast {self.cast_path}: {self.cast.failed}; "
                            "the run stopped there") + "\n")
        return max(status, ExitStatus.FAILED)

    def _pace(self, text: str) -> str:
        """--delay and --step before a command: "run", "skipped" (`s`) or "quit" (`q`)."""
        if self.options.delay:
            time.sleep(self.options.delay)
        if not self.options.step:
            return "run"
        if self.pace_input is None:
            self.pace_input = _tty()  # opened once for the whole run
        while True:
            self.err.write(safe(f"[Enter: run, s: skip, q: quit] {text}") + " ")
            self.err.flush()
            answer = self.pace_input.readline()
            key = answer.strip().lower()
            if not key:  # Enter; or no more input (as before: run on)
                return "run"
            if key in ("s", "skip"):
                return "skipped"
            if key in ("q", "quit"):
                self.stopped = True
                return "quit"
            # anything else: ask again


def _tty() -> IO[str]:
    try:
        return open("/dev/tty")
    except OSError:
        return sys.stdin if sys.stdin is not None else open(os.devnull)


class _CastData:
    """--raw with --cast: the peer's bytes, escaped as the transcript shows them, into the cast
    (standard output has them raw; without this the cast held only the words about them)."""

    def __init__(self, cast) -> None:
        from netrepl.render.escape import TextEscaper  # only --raw --cast needs it here

        self.cast = cast
        self.escaper = TextEscaper()
        self.open_line = False  # the data shown did not end its line: the next line starts anew

    def feed(self, data) -> None:
        self._show(self.escaper.feed(bytes(data)))

    def end(self) -> None:
        self._show(self.escaper.flush())
        if self.open_line:
            self._show("\n")

    def _show(self, text: str) -> None:
        if text:
            self.cast.output(text)
            self.open_line = not text.endswith("\n")
