"""Runs parsed commands against one session; the loop every front end shares.

The shell, the script runner and the tests all call `Executor.run_line`
(or `run_parsed`) and render the `Step`s it yields. Nothing here prints.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

from netrepl.errors import failure
from netrepl.parser import ParseError, Parsed, Parser
from netrepl.fastdata import field, record
from netrepl.recorder import Recorder
from netrepl.results import Result
from netrepl.session import Session


@record
class Step:
    """One command that ran: where it came from, its text and its result."""

    text: str
    result: Result
    source: str | None = None  # file name, for scripts
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source else ""


@record
class Executor:
    session: Session = field(default_factory=Session)
    variables: dict[str, str] = field(default_factory=dict)
    servers: dict = field(default_factory=dict)  # (proto, port) -> LabServer
    recorder: Recorder | None = None
    depth: int = 0  # `source` nesting
    cwd: str | None = None  # where a `source` path is resolved first
    # Set by a front end to show `recv all` data as it arrives (safe text in, written out).
    data_writer: Callable[[str], object] | None = None

    def __post_init__(self) -> None:
        from netrepl.commands import REGISTRY

        self.registry = REGISTRY
        self.parser = Parser(REGISTRY)

    def parse(self, line: str) -> Parsed | None:
        return self.parser.parse(line, self.variables)

    def run_line(self, line: str, source: str | None = None, lineno: int | None = None) -> Iterator[Step]:
        """Parse and run one line typed by a person; a parse error is a Step too."""
        try:
            parsed = self.parse(line)
        except ParseError as exc:
            result = Result(error=failure("syntax", "", exc.message), state=self.session.state())
            if len(line) < 400:  # point at the problem under the line as typed
                result.say("  " + line)
                result.say("  " + " " * (exc.col - 1) + "^")
            yield Step(line.strip(), result, source, lineno)
            return
        if parsed is not None:
            yield from self.run_parsed(parsed, source, lineno)

    def run_parsed(self, parsed: Parsed, source: str | None = None, lineno: int | None = None) -> Iterator[Step]:
        outcome = self.call(parsed)
        if isinstance(outcome, Result):
            self._record(parsed, outcome)
            yield Step(parsed.text, outcome, source, lineno)
        else:  # `source` yields the steps of the script it runs
            yield from outcome

    def call(self, parsed: Parsed):
        """Run a parsed command's handler: a Result, or Steps for `source`."""
        try:
            return parsed.command.handler(self, parsed.args, parsed.flags)
        except KeyboardInterrupt as exc:
            from netrepl.errors import classify

            return Result(error=classify(exc, parsed.command.name), state=self.session.state())

    def _record(self, parsed: Parsed, result: Result) -> None:
        if self.recorder is not None and not parsed.command.name.startswith("record"):
            try:
                self.recorder.add(parsed, result)
            except (OSError, ValueError) as exc:  # disk full, file gone: stop recording, keep the session
                recorder, self.recorder = self.recorder, None
                try:
                    recorder.close()
                except OSError:
                    pass
                result.say(f"recording to {recorder.path} stopped: {getattr(exc, 'strerror', None) or exc}")

    def finish(self) -> None:
        """Close the socket, stop lab servers and recording (end of a script or the shell)."""
        self.session.close_quietly()
        for server in list(self.servers.values()):
            server.stop()
        self.servers.clear()
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
