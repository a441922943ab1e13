"""`export OUT.py` in the shell or a script: the session so far as a program.

The executor keeps each command that ran and its outcome (Executor.history);
the recorder turns them into the lines `record` would have written from the
start (failures as `must-fail KIND ...`, lab servers as `serve KIND 0` and
their ports as `$lab_port`), and those lines are exported like a script.
"""

from __future__ import annotations

import os
import re

from netrepl.core.errors import classify, failure
from netrepl.core.recorder import Recorder
from netrepl.core.results import Result
from netrepl.export import Problems, Refused, export_lines, write_program

SOURCE = "session"  # what FILE:LINE names in a refusal: the line of the session's recording


class LinesRecorder(Recorder):
    """A Recorder that keeps its lines in memory instead of appending them to a file."""

    def __init__(self, parse):
        self._start("(memory)", False, parse, peer=False)
        self.redaction.follows = False  # `set redact on` is export's own to apply (export/redactemit.py)
        self.lines: list[str] = []

    def write_lines(self, lines: list[str]) -> None:
        self.lines += lines
        self.count += len(lines)

    def close(self) -> None:
        pass


def session_lines(ex) -> list[str]:
    recorder = LinesRecorder(ex.parse)
    for parsed, error, lines in ex.history:
        if parsed.command.name != "record":  # never recorded (Executor._record): not a step of the session
            recorder.add(parsed, Result(lines or [], error=error))
    return recorder.lines


def export_session(ex, path: str) -> Result:
    path = os.path.expanduser(path)
    lines = session_lines(ex)
    # The session's variables are the program's options' defaults; lab ports come from `serve` lines.
    given = {k: v for k, v in ex.variables.items() if not re.fullmatch(r"lab_(\w+_)?port", k)}
    try:
        program = export_lines(lines, SOURCE, f"export {path} (in the netrepl session), or `record` the session "
                               "and netrepl export FILE.nrs", given, ex.cwd)
    except Refused as exc:
        return _fail(ex, "usage", f"not exported: {exc.where}: {exc.message}", lines)
    except Problems as exc:
        return _fail(ex, "usage", f"not exported: {exc.problems[0]}", lines)
    try:
        write_program(path, program.text_of(), ex.session.timeout)
    except KeyboardInterrupt as exc:
        return Result(error=classify(exc, "export"), state=ex.session.state()).say(f"stopped writing {path}")
    except OSError as exc:
        return Result(error=failure("file", "export", f"{path}: {exc.strerror}", exc.errno),
                      state=ex.session.state())
    return Result(state=ex.session.state()).say(f"exported {len(lines)} commands of this session to {path} "
                                                f"(python3 {path} --help)")


def _fail(ex, kind: str, message: str, lines: list[str]) -> Result:
    result = Result(error=failure(kind, "export", message), state=ex.session.state())
    result.text = "the session as recorded:\n" + "\n".join(f"{n:5}  {line}" for n, line in enumerate(lines, 1))
    return result
