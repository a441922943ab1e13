"""The helpers an exported program decodes script escapes with, as source text in prelude.py's
table: decode_escapes, netrepl's own (language/escapes.py, its source and compiled pattern
written into the program when it is exported), for the text of a `send` or `expect` that names
an option: netrepl expands `$NAME` first and decodes the escapes of the whole text after, so
`-D 'D=x\\ty'` sends a TAB, and a bad escape in a value stops the run before any step. And
expectation: an expect whose pattern names an option is text, /REGEX/ or eof as its value
makes it, decided when the program runs, as netrepl decides.
"""

from __future__ import annotations

import inspect
import re

from netrepl.export.prelude import helper
from netrepl.language import escapes


def decode_source() -> str:
    pattern = escapes._ESCAPE_RE
    lines = [inspect.getsource(escapes.EscapeError), "",
             f"_ESCAPE_RE = re.compile({pattern.pattern!r}, {re.RegexFlag(pattern.flags)!r})",
             f"_SIMPLE_ESCAPES = {escapes._SIMPLE_ESCAPES!r}",
             f"_HEX = frozenset({''.join(sorted(escapes._HEX))!r})", "", "",
             inspect.getsource(escapes._problem), "", inspect.getsource(escapes.decode_escapes)]
    return "\n".join(lines)


helper("decode_escapes", ("re",), (), decode_source())

helper("check_escapes", (), ("decode_escapes",), '''
def check_escapes(texts):
    """Each (FILE:LINE, check, text) passes its check (decode_escapes; expectation for the pattern
    of an expect): netrepl checks the whole script, with the options' values, before it runs
    any step, and runs none if an escape or a regex is bad (exit status 2, a ValueError's)."""
    for where, check, text in texts:
        try:
            check(text)
        except EscapeError as exc:
            raise EscapeError(f"{where}: {exc.message}") from None
''')

helper("expectation", ("re",), ("decode_escapes",), '''
def expectation(text):
    """What `expect TEXT` waits for when an option's value is in TEXT, decided from the expanded
    text as netrepl decides it (language/texttypes.py, parse_expectation): `eof` is end of
    stream (None), `/REGEX/` a bytes regex (a bad one is an EscapeError, as netrepl's), any
    other text its bytes, escapes decoded."""
    if text == "eof":
        return None
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        try:
            return re.compile(text[1:-1].encode("utf-8", "surrogateescape"))
        except re.error as exc:
            raise EscapeError(f"bad regular expression: {exc.msg}", 2 + (exc.pos or 0)) from None
        except RecursionError:  # re's parser recurses once per group: a value nested 1,000 deep
            raise EscapeError("bad regular expression: nested too deep", 2) from None
    return decode_escapes(text)
''')
