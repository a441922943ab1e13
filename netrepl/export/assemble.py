"""The exported program's source text, assembled from a Program (program.py): its docstring,
imports, helpers, parse_args() with the options, and main() around the body the emitters wrote.
Also the text helpers the emitters quote the script with (comment_text, serve_command).
"""

from __future__ import annotations

import ast
import re
import shlex

from netrepl.export.prelude import HELPERS

DEFAULT_TIMEOUT = 10.0  # netrepl's own (core/session.py)


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class HexOnly(str):
    """A line of main() only a program that shows data in hex has (Program.hex_code)."""


def comment_text(text: str) -> str:
    """Text for a `#` comment or a docstring: printable ASCII only, the rest escaped (\\n, \\x1b,
    \\u202e), so no line break, control or bidi character of a script or file name reaches the code."""
    return _NOT_PRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


HELPERS_HEAD = """\
# ----- The helpers main() calls ------------------------------------------------------------------
# Each stands for one of netrepl's commands (the socket calls it makes, the failures it names), or
# shows what came as netrepl shows it (escaped: no peer byte reaches the terminal raw)."""


def source_text(p) -> str:
    """The program's whole source, main() first: the script's steps are what a reader came
    for; the options and the helpers it calls follow. p's helpers and imports are all needed by now."""
    head = [f'"""{_docstring(p)}"""', ""]
    imports = [f"import {name}" for name in sorted(p.imports)]
    parts = ["\n".join(head + imports), _main(p), _parse_args(p), HELPERS_HEAD]
    parts[-1] += "\n\n\n" + HELPERS[_ordered(p.helpers)[0]][2].rstrip("\n") if p.helpers else ""
    parts += [HELPERS[name][2].rstrip("\n") for name in _ordered(p.helpers)[1:]]
    return ascii_only("\n\n\n".join(parts) + '\n\n\nif __name__ == "__main__":\n    sys.exit(main())\n')


def ascii_only(source: str) -> str:
    """The program in ASCII: a script's text reaches string literals through repr(), which keeps
    printable non-ASCII characters (an emoji, a letter) as they are; each is written as its
    escape instead, so the source reads the same in any editor and encoding. The escapes mean
    the same inside every literal the program has (no raw strings are written): checked, and
    were one to differ, the source stays as it is (right before ASCII)."""
    if source.isascii():
        return source
    escaped = source.encode("ascii", "backslashreplace").decode("ascii")
    return escaped if ast.dump(ast.parse(escaped)) == ast.dump(ast.parse(source)) else source


def checked_first(p) -> list[tuple[str, str, str]]:
    """The texts the program decodes (or makes an expect's pattern of) that depend on the options
    only, with the function checking each: main() checks them
    before any step, as netrepl checks the script with its variables before it runs it."""
    def options_only(code: str) -> bool:
        names = {node.id for node in ast.walk(ast.parse(code, mode="eval")) if isinstance(node, ast.Name)}
        return names <= {"args", "str"}
    return [(where, code, check) for where, code, check in p.decoded if options_only(code)]


def _ordered(names: list[str]) -> list[str]:
    order = list(HELPERS)
    return sorted(set(names), key=order.index)


def serve_command(kind: str, port: int, udp: bool, file: str | None = None) -> str:
    """The shell command that starts a lab server on a port (0: PORT), each word quoted."""
    what = ["replay", file] if file is not None else [kind]
    return shlex.join(["netrepl", "serve", *what, "--port", str(port) if port else "PORT"] + (["--udp"] if udp else []))


def serve_unix_command(kind: str, path: str) -> str:
    """The shell command that runs a lab server on a Unix socket in a session (netrepl serve has no
    PATH): the path goes in as a -D variable, one word to the shell and to netrepl (a `;` in it
    would end a -c command), each word quoted."""
    return shlex.join(["netrepl", "-D", f"socket_path={path or 'PATH'}", "-c",
                       f'serve {kind} "$socket_path"; sleep 86400'])


def _docstring(p) -> str:
    lines = [f"{comment_text(p.source)}, exported by netrepl as a plain Python program.", "",
             "Regenerate it with:", f"    {comment_text(p.regenerate)}", "",
             "Standard library only. Each step of the script is the socket call it stands for; received",
             "data goes to standard output as netrepl shows it (text; controls, bidi and invisible",
             "characters and undecodable bytes as backslash escapes, so none reaches the terminal raw),",
             "what each step did to standard error. Exit status: 0 when every step succeeded, 1 when",
             "one failed."]
    if p.hex:
        lines += ["", "After `set display hex` received data is shown as netrepl's hex view shows it: the",
                  "lines of `hexdump -C -v`, numbered by the offset in the socket's stream (View.offset)."]
    if p.servers:
        lines += ["", "It talks to netrepl's lab servers (start them first, e.g. in another terminal):"]
        for s in p.servers:
            if s.proto == "unix":  # (netrepl serve serves on TCP/UDP: a Unix one runs in a session)
                given = f" and give {s.option.flag} PATH" if s.option else ""
                lines.append(f"    {comment_text(serve_unix_command(s.kind, s.path or ''))}{given}")
                continue
            given = f" and give {s.option.flag} PORT" if s.option else ""
            lines.append(f"    {comment_text(serve_command(s.kind, s.port, s.proto == 'udp', s.file))}{given}")
    # In the docstring a backslash or a quote of a file name could end it early: both escaped.
    return "\n".join(lines).replace("\\", "\\\\").replace('"', '\\"')


def _parse_args(p) -> str:
    out = ["def parse_args(argv):",
           f"    parser = argparse.ArgumentParser(description={comment_text(p.source.replace('%', '%%') + ' as a Python program')!r})"]
    for opt in p.values.options.values():
        if not opt.help:
            opt.help = f"the script's ${opt.name}"
        kw = [repr(opt.flag), f"dest={opt.dest!r}"]
        if opt.kind != "str":
            kw.append(f"type={opt.kind}")
        if opt.required:
            kw.append("required=True")
        else:
            kw.append(f"default={opt.default!r}")
        # The default is written out here, escaped like the rest of the help (not argparse's
        # %(default)s, which would print a -D value's control characters raw in --help).
        shown = "" if opt.required or opt.default is None else f" (default: {opt.default})"
        kw.append(f"help={comment_text((opt.help + shown).replace('%', '%%'))!r}")  # argparse formats % in help
        out.append(f"    parser.add_argument({', '.join(kw)})")
    out.append(f"    parser.add_argument('--timeout', dest='timeout', type=float, default={DEFAULT_TIMEOUT!r}, "
               "help='seconds each blocking step may take (default: %(default)s)')")
    out.append("    return parser.parse_args(argv)")
    return "\n".join(out)


def _main(p) -> str:
    body = [line for line in p.body if p.hex or not isinstance(line, HexOnly)]
    reads_args = "timeout" in p.uses or any("args." in line for line in body)
    out = ["def main(argv=None):",
           "    args = parse_args(argv)" if reads_args else "    parse_args(argv)  # (--help; no option is read)",
           '    sys.stdout.reconfigure(errors="backslashreplace")']
    if "timeout" in p.uses:
        out.append("    timeout = args.timeout")
    out.append("    sock = None")
    if "listener" in p.uses:
        out.append("    listener = None  # the listening socket beside sock (listen, accept)")
    if "clients" in p.uses:
        out.append("    clients = []  # the lab clients started (client KIND)")
    if "pending" in p.uses:
        out.append("    pending = bytearray()  # read from the socket, not yet shown (one read cursor, as netrepl)")
    out.append("    try:")
    checks = checked_first(p)
    if checks:
        out.append("        # netrepl checks the script's escapes, with the options' values, before it runs any step:")
        out.append("        check_escapes([" + ", ".join(f"({comment_text(where)!r}, {check}, {code})"
                                                 for where, code, check in checks) + "])")
    out += body
    if not any(line.strip() and not line.lstrip().startswith("#") for line in body):
        out.append("        pass  # (no step of the script makes a socket call)")
    out += ["    except OSError as exc:",
            '        note(f"error: {type(exc).__name__}: {exc}")',
            "        return 1",
            "    except ValueError as exc:  # a bad option value, such as a port above 65535",
            '        note(f"error: {exc}")',
            "        return 2",
            "    except KeyboardInterrupt:",
            '        note("interrupted")',
            "        return 130",
            "    finally:",
            "        if sock is not None:",
            "            sock.close()"]
    if "listener" in p.uses:
        out += ["        if listener is not None:",
                "            stop_listening(listener)"]
    out.append("    return 0")
    return "\n".join(out)
