"""The NAME=VALUE word of `-D` (`netrepl -D`, `netrepl export -D`): an argparse type, whose
NAME is a script variable's name as the language spells it (tokens.py).

Here, in the language, so both command lines (cli.py, export/) can import it: it was cli.py's
_variable, which `netrepl export` had to import from a front end.
"""

from __future__ import annotations


def variable(text: str) -> tuple[str, str]:
    import argparse

    from netrepl.language.tokens import NAME_RE

    name, sep, value = text.partition("=")
    if not sep or not NAME_RE.match(name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value
