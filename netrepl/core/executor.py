"""Runs parsed commands against one session; the loop every front end shares.

The shell, the script runner and the tests call `Executor.run_line` (or
`run_parsed`) and render the `Step`s it yields. Nothing here prints. The
executor is given its registry, so a test can build one with a few commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

from netrepl.core.errors import classify, failure
from netrepl.core.results import Endpoint, Result
from netrepl.core.unix import mark_chosen
from netrepl.core.session import Session
from netrepl.base.fastdata import datatype
from netrepl.language.nrs import MAX_DEPTH, Script, load, resolve
from netrepl.language.parser import ParseError, Parsed, Parser
from netrepl.language.registry import Registry

# The recorder is imported by `record` when it runs (commands/scripting.py), off the
# start-up path (docs/bench.md); here it is a type only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from netrepl.core.recorder import Recorder

MAX_HISTORY = 100_000  # commands `export` can write as a program (the rest of a longer session is not kept)


@datatype
class Step:
    """One command that ran: where it came from, its text and its result."""

    text: str
    result: Result
    source: str | None = None  # file name, for scripts
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source else ""


class Executor:
    def __init__(self, registry: Registry, session: Session | None = None,
                 variables: Mapping[str, str] | None = None, cwd: str | None = None,
                 data_writer: Callable[[str], object] | None = None):
        self.registry = registry
        self.parser = Parser(registry)
        self.session = session if session is not None else Session()
        self.variables: dict[str, str] = dict(variables or {})
        self.servers: dict = {}  # (proto, port) -> LabServer
        self.clients: list = []  # lab clients (lab/client.py) started by `client`
        self.chosen_names: set[str] = set()  # abstract Unix names the kernel chose (`listen @`): masked
        self.recorder: Recorder | None = None
        self.depth = 0  # `source` nesting
        self.cwd = cwd  # where a `source` path is resolved first
        # Set by a front end to show `recv all` data as it arrives (safe text in, written out).
        self.data_writer = data_writer
        # Set by a front end run with --raw: a sink (`write(bytes)`) for the peer's bytes as they are,
        # to which the streaming receives write instead of data_writer.
        self.raw_sink = None
        # What ran, for `export` (the session as a program): each command and its outcome,
        # without the data it received; bounded, as `record` writes what it needs the same way.
        # (command, its error or None, for `serve` the lines naming the port it got)
        self.history: list[tuple[Parsed, object, list | None]] = []

    @property
    def progress(self) -> Callable[[int, float], object] | None:
        """Set by a front end to hear how far a long `recv all` got: (bytes, seconds), at most ~10x/s."""
        return self.session.progress

    @progress.setter
    def progress(self, report: Callable[[int, float], object] | None) -> None:
        self.session.progress = report

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
        if parsed.vars_used:  # checked before a `serve` chose its port: expand the line now
            yield from self.run_line(parsed.text, source, lineno)
            return
        outcome = self.call(parsed)
        if isinstance(outcome, Result):
            if self.servers:
                self._mark_lab_ports(outcome)
                self._server_news(parsed, outcome)
            if self.chosen_names:
                mark_chosen(outcome, self.chosen_names)
            self._record(parsed, outcome)
            yield Step(parsed.text, outcome, source, lineno)
        else:  # `source` yields the steps of the script it runs
            yield from outcome

    def call(self, parsed: Parsed):
        """Run a parsed command's handler: a Result, or Steps for `source`."""
        before = self.session.timing
        mark = len(before.phases) if before is not None else 0
        try:
            outcome = parsed.command.handler(self, parsed.args, parsed.flags)
            timing = self.session.timing
            if timing is not None and isinstance(outcome, Result):  # the phases this command timed
                outcome.phases = timing.phases[mark if timing is before else 0:]
            return outcome
        except KeyboardInterrupt as exc:
            return Result(error=classify(exc, parsed.command.name), state=self.session.state())

    # ----- `source` --------------------------------------------------------------

    def source(self, path: str) -> Iterator[Step] | Result:
        """Check a .nrs file whole, then run its commands here until one fails."""
        path = resolve(path, self.cwd)
        if self.depth + 1 >= MAX_DEPTH:
            return Result(error=failure("usage", "source", f"`source` nested more than {MAX_DEPTH} deep (a loop?)"),
                          state=self.session.state())
        try:
            script = load(path, self.parser, self.variables, self.depth + 1)
        except OSError as exc:
            return Result(error=failure("file", "source", f"{path}: {exc.strerror}", exc.errno),
                          state=self.session.state())
        if script.problems:
            text = "\n".join(str(p) for p in script.problems[:20])
            return Result(error=failure("usage", "source", f"{path} was not run: {len(script.problems)} problem(s)"),
                          text=text, state=self.session.state())
        return self._run_script(script)

    def _run_script(self, script: Script) -> Iterator[Step]:
        saved_cwd = self.cwd
        self.cwd, self.depth = os.path.dirname(script.source), self.depth + 1
        try:
            for number, parsed in script.commands:
                for step in self.run_parsed(parsed, script.source, number):
                    yield step
                    if not step.result.ok:
                        return
        finally:
            self.cwd, self.depth = saved_cwd, self.depth - 1

    def _server_news(self, parsed: Parsed, result: Result) -> None:
        """What lab servers have to tell (a replay server's mismatch), with the first command that saw
        the connection end (the server closes after its report) -- not with whichever command happened
        to end after it, so a --stable transcript is the same every run. `serve` lists it anyway."""
        listing = parsed.command.name == "serve" and parsed.args.get("kind") is None
        if not (listing or self.session.peer_eof or self.session.lost):
            return
        for server in list(self.servers.values()):
            for news in server.news():
                if not listing:
                    result.say(news)

    def _mark_lab_ports(self, result: Result) -> None:
        """A peer that is a lab server on a port the OS chose has an ephemeral port too,
        so --stable masks it (scripts serve on port 0 to run in parallel)."""
        chosen = {server.port for server in self.servers.values() if server.ephemeral}

        def mark(part):
            if isinstance(part, Endpoint) and not part.ephemeral and part.port in chosen \
                    and part.host in ("127.0.0.1", "::1", "localhost"):
                return Endpoint(part.host, part.port, True)
            return part

        if chosen:
            result.lines = [tuple(mark(part) for part in line) for line in result.lines]
            result.fields = [(label, mark(value)) for label, value in result.fields]

    # ----- recording and the end -------------------------------------------------

    def _record(self, parsed: Parsed, result: Result) -> None:
        if len(self.history) < MAX_HISTORY:  # a tuple: ~1 us a command (a copied Result: ~7 us)
            self.history.append((parsed, result.error, result.lines if parsed.command.name == "serve" else None))
        if self.recorder is not None and not parsed.command.name.startswith("record"):
            try:
                self.recorder.add(parsed, result)
            except (OSError, ValueError) as exc:  # disk full, file gone: stop recording, keep the session
                recorder, self.recorder = self.recorder, None
                recorder.close()
                # A recording that lost lines is a failure of the run (exit 1, kind `file`), not a
                # note: a script or `-c` that "succeeded" would leave a silently truncated .nrs.
                code = exc.errno if isinstance(exc, OSError) else None
                why = f"recording to {recorder.path} stopped: {getattr(exc, 'strerror', None) or exc}"
                if result.error is None:
                    result.error = failure("file", "record", why, code)
                else:  # the command's own failure stays the one named; the recording's is said beside it
                    result.say(f"error: record: {why}")

    def finish(self) -> None:
        """Close the socket, stop lab servers and recording (end of a script or the shell)."""
        self.session.close_quietly()
        self.session.stop_listening_quietly()  # the listener too (a Unix socket file is removed)
        for server in list(self.servers.values()):
            server.stop()
        self.servers.clear()
        for client in self.clients:
            client.stop()
        self.clients.clear()
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
