"""`netrepl export`: a session or a .nrs script as a plain, runnable Python program.

The script is checked whole as a run would check it (language/nrs.py), then
each command goes through THE table of emitters (table.py) into the body
of main(); program.py assembles the helpers, options and header. Two passes:
the first finds how each variable is used (its options' types and defaults),
the second writes the code. A command the table cannot stand for raises
Refused with FILE:LINE.

Imported only by `netrepl export` and the `export` command, never at start-up.
"""

from __future__ import annotations

import os
import shlex
import sys

from netrepl.export import emitters, listenemit, namesemit, redactemit, scripting, tlsemit  # noqa: F401 (their entries fill the table)
from netrepl.export.table import emit
from netrepl.export.program import Program, Refused
from netrepl.export.values import Values
from netrepl.export.writefile import write_program
from netrepl.language.nrs import Problem, check, read_lines
from netrepl.language.parser import Parser

__all__ = ["Refused", "Problems", "export_lines", "export_file", "write_program", "main"]


class Problems(Exception):
    """The script does not check: nothing is exported (as a run would run nothing)."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def export_lines(lines: list[str], source: str, regenerate: str, variables: dict[str, str] | None = None,
                 base: str | None = None) -> Program:
    """A script's lines -> the Program (`.text_of()` is its source)."""
    from netrepl.commands import REGISTRY

    variables = dict(variables or {})
    written = redactemit.written_secrets(lines, variables)  # `set redact on`: secrets are the program's options
    secret_values = dict.fromkeys(written, redactemit.PLACEHOLDER)
    script = check(lines, source, Parser(REGISTRY), {**variables, **secret_values}, base)
    if script.problems:
        raise Problems(script.problems)
    lines, secrets = redactemit.redact_lines(lines, script.commands, written)
    secrets = {**written, **secrets}
    if len(secrets) > len(written):
        script = check(lines, source, Parser(REGISTRY), {**variables, **dict.fromkeys(secrets, redactemit.PLACEHOLDER)}, base)
    values = Values(variables)
    redactemit.require(values, secrets)
    program = None
    for _ in range(2):  # first: how each variable is used; then the code
        values.bound.clear()
        program = Program(source, regenerate, values)
        program.base = base
        program.secrets = secrets
        for number, parsed in script.commands:
            program.where, program.line = f"{source}:{number}", lines[number - 1]
            emit(program, parsed)
        if not values.decided:
            values.decide()
    return program


def export_file(path: str, variables: dict[str, str] | None = None, out: str | None = None) -> Program:
    lines, problems = read_lines(path)
    if problems:
        raise Problems(problems)
    words = ["netrepl", "export", path] + [f"-D{k}={v}" for k, v in (variables or {}).items()]
    words += ["-o", out] if out else []
    return export_lines(lines, path, shlex.join(words), variables, os.path.dirname(path))


def main(argv: list[str]) -> int:
    """`netrepl export FILE.nrs [-o OUT.py] [-D NAME=VALUE]...`: exit 0, 1 (cannot write) or 2."""
    if "--pcap" in argv:  # a `record -p` recording as a capture, not a program (export/pcapexport.py)
        from netrepl.render.cliparse import parser_class as pcap_parser
        from netrepl.export.pcapexport import main as pcap_main

        return pcap_main(argv, pcap_parser())
    import argparse

    from netrepl.render.cliparse import parser_class
    from netrepl.language.defines import variable
    from netrepl.base.escape import safe

    parser = parser_class()(prog="netrepl export", description="Write a .nrs script as a plain Python 3 "
                             "program (standard library only) that does the same socket calls. `netrepl export --pcap "
                             "FILE.nrs -o OUT.pcapng` writes a `record -p` recording as a capture instead.")
    parser.add_argument("script", metavar="FILE.nrs")
    parser.add_argument("-o", dest="out", metavar="OUT.py", help="write the program there (default: standard output)")
    parser.add_argument("-D", dest="defines", action="append", type=variable, default=[], metavar="NAME=VALUE",
                        help="a variable's value: the default of the program's option for it")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and 2
    del argparse
    try:
        program = export_file(args.script, dict(args.defines), args.out)
    except OSError as exc:
        sys.stderr.write(safe(f"netrepl export: cannot read {args.script}: {exc.strerror}") + "\n")
        return 2
    except Problems as exc:
        for problem in exc.problems:
            sys.stderr.write(safe(str(problem)) + "\n")
        sys.stderr.write(safe(f"netrepl export: {args.script}: not exported, {len(exc.problems)} problem(s)") + "\n")
        return 2
    except Refused as exc:
        sys.stderr.write(safe(f"{exc.where}: {exc.message}") + "\n")
        sys.stderr.write(safe(f"netrepl export: {args.script}: not exported") + "\n")
        return 2
    except RecursionError:  # (a regex nested hundreds deep, say: the checker's parse recursed too far)
        sys.stderr.write(safe(f"netrepl export: {args.script}: not exported, it nests too deep to check") + "\n")
        return 2
    text = program.text_of()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        write_program(args.out, text)  # (a FIFO: netrepl's default timeout)
    except KeyboardInterrupt:
        sys.stderr.write(safe(f"netrepl export: interrupted while writing {args.out}") + "\n")
        return 130
    except OSError as exc:
        sys.stderr.write(safe(f"netrepl export: cannot write {args.out}: {exc.strerror}") + "\n")
        return 1
    sys.stderr.write(safe(f"netrepl export: wrote {args.out} (python3 {args.out} --help)") + "\n")
    return 0
