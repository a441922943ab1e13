"""Commands that make a session a script or a test: must-fail, sleep, print, source, record."""

from __future__ import annotations

import os

from netrepl.commands.common import error
from netrepl.core.errors import KINDS, failure, matches
from netrepl.core.results import Result
from netrepl.core.errors import FAILURE_NAMES, errname_known
from netrepl.language.argtypes import FailureKind, Path, Seconds
from netrepl.language.texttypes import CommandLine, Text
from netrepl.language.registry import Arg, CommandSet

CHECKS = CommandSet()  # must-fail: listed right after the socket commands in `help`
COMMANDS = CommandSet()


def _check_must_fail(a):
    # `exit` cannot fail: it would end the run with status 0 and the expectation unmet (a false pass).
    if a["command"].command.name == "exit":
        return "`exit` cannot fail, so it cannot be used inside must-fail"
    return None


@CHECKS.command("must-fail", Arg("KIND", FailureKind(FAILURE_NAMES, errname_known), "kind"), Arg("COMMAND", CommandLine(), "command"),
                check=_check_must_fail,
                help="run COMMAND and succeed only if it fails with KIND (address, timeout, refused, ...)",
                details="KIND is an error kind (" + ", ".join(KINDS) + "), a short name (refused, reset, pipe, "
                        "notconn, lost, unreachable, inuse, any) or an errno name such as ECONNREFUSED.")
def _must_fail(ex, a, flags):
    inner = a["command"]
    outcome = ex.call(inner)
    if not isinstance(outcome, Result):
        return error(ex, "state", "must-fail", f"`{inner.command.name}` cannot be used inside must-fail")
    if outcome.error is None:
        outcome.error = failure("expect", "must-fail", f"expected `{inner.text}` to fail with {a['kind']}, "
                                                        "but it succeeded")
        return outcome
    if not matches(outcome.error, a["kind"]):
        got = outcome.error
        outcome.lines.append(("error: ", got))
        outcome.error = failure("expect", "must-fail",
                                f"expected a failure of kind {a['kind']}, got {got.kind} ({got.errname or got.message})")
        return outcome
    outcome.lines.append(("failed as expected (", a["kind"], "): ", outcome.error))
    outcome.error = None
    return outcome


@COMMANDS.command("sleep", Arg("SECONDS", Seconds(minimum=0, maximum=86400), "seconds"),
                  help="wait (Ctrl-C interrupts)")
def _sleep(ex, a, flags):
    return ex.session.sleep(a["seconds"])


@COMMANDS.command("print", Arg("TEXT", Text(rest=True), "text", optional=True, default=""),
                  help="show TEXT (for demos)")
def _print(ex, a, flags):
    return Result(state=None).say(a["text"])


@COMMANDS.command("source", Arg("PATH", Path(), "path"), help="replay a .nrs script in this session")
def _source(ex, a, flags):
    return ex.source(a["path"])


@COMMANDS.command("record", Arg("PATH", Path(("stop",)), "path"),
                  flags={"-e": "also write received data as expect lines",
                         "-p": "also write the bytes each command moved, as #< (peer) and #> (ours) comments"},
                  help="append every command that runs to PATH (.nrs); `record stop` ends it",
                  details="Each line is flushed as it is written, so a recording survives the shell being killed. "
                          "A command that failed is written as `must-fail KIND ...`; variables, settings and an "
                          "open socket from before `record` are written first. With -e, the first line of the "
                          "data each command received is written as an `expect` line before that command (which "
                          "follows to read the rest), so a replay checks the replies too. With -p, the exact bytes the peer sent "
                          "(`#< TEXT`, `#< eof`, `#< reset`) and we sent (`#> TEXT`, `#> eof`) follow each command "
                          "as comments (a replay against the real server ignores them; `serve replay FILE` plays "
                          "that peer offline); a step keeps at most 2 MiB, a recording 8 MiB, then only a count "
                          "and a SHA-256 (`#< more N bytes sha256 HEX`).")
def _record(ex, a, flags):
    if a["path"] == "stop":
        if ex.recorder is None:
            return error(ex, "state", "record stop", "not recording")
        path, count = ex.recorder.path, ex.recorder.count
        ex.recorder.close()
        ex.recorder = None
        return Result(state=ex.session.state()).say(f"stopped recording: {count} lines in {path}")
    if ex.recorder is not None:
        return error(ex, "state", "record", f"already recording to {ex.recorder.path}; `record stop` first")
    # Imported here, not at start-up: the recorder and its peer log are ~5M instructions,
    # 8% of what netrepl adds to a `netrepl -c` start, and most runs never record (docs/bench.md).
    from netrepl.core.recorder import Recorder

    try:
        ex.recorder = Recorder(os.path.expanduser(a["path"]), expectations="-e" in flags, parse=ex.parse,
                               peer="-p" in flags, timeout=ex.session.timeout)
        ex.recorder.write_setup(ex.variables, ex.session, ex.servers.values())
    except OSError as exc:
        if ex.recorder is not None:  # opened, then its first lines failed (a full disk): not recording
            ex.recorder.close()
            ex.recorder = None
        return error(ex, "file", "record", f"{a['path']}: {exc.strerror}", exc.errno)
    extra = " and ".join(words for flag, words in (("-e", "expect lines"), ("-p", "the peer's bytes")) if flag in flags)
    extra = f" with {extra}" if extra else ""
    return Result(state=ex.session.state()).say(f"recording to {a['path']}{extra}")
