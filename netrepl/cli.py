"""Command line -> mode: the shell, scripts, `-c`, piped input, or `serve`.

Only the interactive shell imports prompt_toolkit, and only when it starts.
Whatever happens, the user gets a message and an exit status (base/exitstatus.py),
never a traceback: a closed or full standard output ends the run with 1, a
closed or full standard error only loses the notes.
"""

from __future__ import annotations

import errno
import sys
from types import SimpleNamespace

from netrepl import __version__
from netrepl.base.exitstatus import ExitStatus
from netrepl.render.streams import Notes, OutputLost, Transcript, silence_stdout

# argparse is imported only for the options simple_args() does not handle (~3 ms of a
# `netrepl -c` start); the annotations name it for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

USAGE_EXIT = ExitStatus.REJECTED


def _variable(text: str) -> tuple[str, str]:
    from netrepl.language.defines import variable  # (imported by argparse's parsing alone)

    return variable(text)


def _parser_class():
    from netrepl.render.cliparse import parser_class  # (imported where argparse is, off a `-c` start)

    return parser_class()


def _seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("expected 0 to 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _parser_class()(
        prog="netrepl",
        description="A scriptable network-diagnostics REPL over one session socket. "
                    "With no arguments on a terminal: the interactive shell.",
        epilog="netrepl serve KIND [--host H] [--port P] [--udp] runs a lab server in the foreground "
               "(netrepl serve --ca-path: the lab CA file; netrepl serve replay FILE.nrs [--port P] plays the "
               "peer of a `record -p` recording). "
               "netrepl relay [LHOST] LPORT HOST PORT [--record FILE.nrs] relays clients to a server, showing "
               "the bytes. "
               "netrepl export FILE.nrs [-o OUT.py] [-D NAME=VALUE] writes a script as a plain Python program. "
               + ExitStatus.table())
    p.add_argument("scripts", nargs="*", metavar="FILE.nrs",
                   help=".nrs scripts to replay (all are checked before the first runs; - is standard input)")
    p.add_argument("-c", dest="commands", action="append", metavar="CMDS",
                   help='commands to run, separated by ";" (several -c run in order, as one script)')
    p.add_argument("-D", dest="defines", action="append", type=_variable, default=[], metavar="NAME=VALUE",
                   help="define a script variable")
    p.add_argument("-q", "--quiet", action="store_true", help="do not echo commands")
    p.add_argument("--raw", action="store_true",
                   help="standard output carries only the bytes the peer sent, exactly (commands, messages and "
                        "errors go to standard error); on a terminal control characters are still escaped")
    p.add_argument("-k", "--keep-going", action="store_true", help="run on after a failing command (still exit 1)")
    p.add_argument("--stable", action="store_true",
                   help="mask ephemeral ports and timings so repeated runs give identical transcripts")
    p.add_argument("--step", action="store_true",
                   help="before each command wait for Enter (run it), s + Enter (skip it) or q + Enter "
                        "(stop: the exit status is that of what ran)")
    p.add_argument("--cast", metavar="FILE",
                   help="also write the run as an asciicast v2 recording (asciinema play FILE); "
                        "with --stable on a virtual clock, byte-identical across runs")
    p.add_argument("--delay", type=_seconds, default=0.0, metavar="SECONDS", help="pause before each command")
    p.add_argument("--version", action="version", version=f"netrepl {__version__}")
    return p


def build_serve_parser() -> argparse.ArgumentParser:
    from netrepl.lab import kinds

    p = _parser_class()(prog="netrepl serve", description="Run a lab server in the foreground until Ctrl+C.",
                        epilog=kinds.details())
    p.add_argument("kind", choices=kinds.kind_names(), nargs="?")
    p.add_argument("file", nargs="?", metavar="FILE.nrs", help="replay: the recording (`record -p`) to play")
    p.add_argument("--ca-path", action="store_true",
                   help="print the path of the lab CA file (trust it with `set tls ca PATH`) and exit")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--udp", action="store_true", help=f"UDP instead of TCP ({', '.join(kinds.udp_kinds())})")
    p.add_argument("--root", help="directory the http server serves (default: a small built-in site)")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="replay: how long each wait for the client may take (default 60)")
    p.add_argument("-D", dest="defines", action="append", type=_variable, default=[], metavar="NAME=VALUE",
                   help="replay: a secret a `relay --redact` recording names (${NAME})")
    return p


# Switches a script run typically has; any other option goes through argparse.
_SWITCHES = {"-q": "quiet", "--quiet": "quiet", "-k": "keep_going", "--keep-going": "keep_going",
             "--stable": "stable", "--step": "step", "--raw": "raw"}


def simple_args(argv: list[str]) -> SimpleNamespace | None:
    """What build_parser() would make of argv, when argv only holds -c TEXT,
    the switches above and then FILEs; None otherwise (argparse decides, and
    words the errors). Importing argparse and building the parser (gettext,
    locale) cost ~3 ms, a tenth of a `netrepl -c` start."""
    args = SimpleNamespace(scripts=[], commands=None, defines=[], quiet=False, keep_going=False, stable=False,
                           step=False, delay=0.0, cast=None, raw=False)
    words = iter(argv)
    for word in words:
        if word in _SWITCHES and not args.scripts:
            setattr(args, _SWITCHES[word], True)
        elif word == "-c" and args.commands is None and not args.scripts:  # several -c: argparse
            text = next(words, None)
            if text is None or text.startswith("-"):
                return None
            args.commands = [text]
        elif word and not word.startswith("-"):  # `-` (standard input) too goes to argparse
            args.scripts.append(word)
        else:
            return None
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # never die on an unencodable character
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    notes = Notes(sys.stderr)
    try:
        status = _main(argv, notes)
        Transcript(sys.stdout).flush()  # here, not at exit, where a failure would be a traceback
        return status
    except KeyboardInterrupt:
        notes.write("\nnetrepl: interrupted\n")
        return ExitStatus.INTERRUPTED
    except OutputLost as exc:
        silence_stdout()
        if exc.errno != errno.EPIPE:  # a broken pipe is the reader's choice (`| head`): no note
            notes.write(f"netrepl: cannot write standard output: {exc.strerror}\n")
        return ExitStatus.FAILED


def _main(argv: list[str], notes: Notes) -> int:
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])
    if argv[:1] == ["relay"]:
        from netrepl.lab.relayfg import relay_main  # only `netrepl relay` pays for the relay

        return relay_main(argv[1:])
    if argv[:1] == ["export"]:
        from netrepl.export import main as export_main  # only `netrepl export` pays for the generator

        return export_main(argv[1:])
    args = simple_args(argv)
    if args is None:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0) and USAGE_EXIT
    from netrepl.runner import Options, Runner

    options = Options(quiet=args.quiet, keep_going=args.keep_going, stable=args.stable, step=args.step,
                      delay=args.delay, raw=args.raw, variables=dict(args.defines))
    if args.commands is not None and args.scripts:
        notes.write("netrepl: give scripts or -c, not both\n")
        return USAGE_EXIT
    if args.cast is not None:
        if args.commands is None and not args.scripts:
            notes.write("netrepl: --cast records a script run: give FILE.nrs or -c\n")
            return USAGE_EXIT
        return _cast_run(Runner(options), args)
    if args.commands is not None:
        return Runner(options).run_text(args.commands)
    if args.scripts:
        return Runner(options).run_files(args.scripts)
    if sys.stdin is None:
        notes.write("netrepl: no script given, and standard input is closed\n")
        return USAGE_EXIT
    if not sys.stdin.isatty():
        if hasattr(sys.stdin, "reconfigure"):  # undecodable input is not a crash (a strict locale would be)
            sys.stdin.reconfigure(errors="surrogateescape")
        return Runner(options).run_stream(sys.stdin)
    if args.raw:
        notes.write("netrepl: --raw is for scripts, -c and piped input (the shell shows data escaped; "
                    "`recv all > PATH` writes it raw)\n")
        return USAGE_EXIT
    from netrepl.shell import run_shell

    return run_shell(variables=options.variables)


def _cast_run(runner, args) -> int:
    """A script run with --cast: the cast file opened first (exit 2 if it cannot be)."""
    title = "netrepl " + (" ".join(args.scripts) if args.scripts else "-c")
    if not runner.start_cast(args.cast, title):
        return USAGE_EXIT
    try:
        status = runner.run_text(args.commands) if args.commands is not None else runner.run_files(args.scripts)
    except BaseException:  # Ctrl-C, lost standard output: keep what the cast has, then go on out
        runner.end_cast(ExitStatus.INTERRUPTED)
        raise
    return runner.end_cast(status)


def serve_main(argv: list[str]) -> int:
    from netrepl.lab import kinds
    from netrepl.lab.kinds import check_kind

    parser = build_serve_parser()
    try:
        args = parser.parse_args(argv)
        if args.ca_path:
            print(kinds.LAB_CA)
            return 0
        if args.kind is None:
            parser.error("a server KIND is needed (or --ca-path)")
        proto = "udp" if args.udp else "tcp"
        if problem := check_kind(args.kind, proto):  # `serve http --udp` is a usage error, before any bind
            parser.error(problem)
        if (args.kind == "replay") != (args.file is not None):
            parser.error("only replay takes a FILE.nrs" if args.file else "replay needs the recording: "
                         "netrepl serve replay FILE.nrs [--port P]")
        if args.timeout is not None and args.kind != "replay":
            parser.error("--timeout is for replay")
    except SystemExit as exc:
        return int(exc.code or 0) and USAGE_EXIT
    from netrepl.lab.foreground import serve_forever

    return serve_forever(args.kind, args.host, args.port, proto, args.root, replay=args.file,
                         timeout=args.timeout, variables=dict(args.defines))
