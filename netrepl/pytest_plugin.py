"""pytest plugin: every `*.nrs` file is a test (`pytest scripts/`).

Registered under the `pytest11` entry point, so it loads in every pytest
run: importing it stays cheap (netrepl's runner is imported only when an
.nrs test runs, and prompt_toolkit never).
"""

from __future__ import annotations

import io

import pytest

from netrepl.base.exitstatus import ExitStatus  # enum only: pytest has imported enum already


def pytest_addoption(parser):
    group = parser.getgroup("netrepl", "netrepl .nrs scripts")
    group.addoption("--nrs-define", "--nrs-D", action="append", default=[], metavar="NAME=VALUE",
                    help="define a variable for every .nrs script (like netrepl -D)")


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".nrs":
        return NrsFile.from_parent(parent, path=file_path)
    return None


class NrsFile(pytest.File):
    def collect(self):
        yield NrsItem.from_parent(self, name=self.path.name)


class NrsFailure(Exception):
    def __init__(self, status: int, transcript: str, errors: str, steps):
        super().__init__(status)
        self.status, self.transcript, self.errors, self.steps = status, transcript, errors, steps


class NrsItem(pytest.Item):
    def runtest(self):
        from netrepl.runner import Options, Runner

        variables = {}
        for define in self.config.getoption("nrs_define"):
            name, _, value = define.partition("=")
            variables[name] = value
        out, err = io.StringIO(), io.StringIO()
        runner = Runner(Options(variables=variables), out=out, err=err)
        status = runner.run_file(str(self.path))
        if status == ExitStatus.INTERRUPTED:  # Ctrl-C stopped a command: stop the session, as pytest would
            raise KeyboardInterrupt
        if status != ExitStatus.OK:
            raise NrsFailure(status, out.getvalue(), err.getvalue(), runner.failures)

    def repr_failure(self, excinfo):
        exc = excinfo.value
        if not isinstance(exc, NrsFailure):
            return super().repr_failure(excinfo)
        from netrepl.render.text import error_text

        lines = []
        if exc.status == ExitStatus.REJECTED:
            lines.append(f"script rejected before running (exit {int(ExitStatus.REJECTED)}):")
            lines.append(exc.errors.rstrip())
        for step in exc.steps:
            lines.append(f"{step.source}:{step.line}: `{step.text}` failed")
            lines.append("  " + error_text(step.result.error))
        lines.append("")
        lines.append("transcript:")
        lines.extend("  " + line for line in exc.transcript.rstrip("\n").split("\n"))
        return "\n".join(lines)

    def reportinfo(self):
        return self.path, None, f"netrepl script {self.path.name}"
