"""The helpers an exported program decodes script escapes with, as source text in prelude.py's
table: decode_escapes, netrepl's own (language/escapes.py, its source and compiled pattern
written into the program when it is exported), for the text of a `send` or `expect` that names
an option: netrepl expands `$NAME` first and decodes the escapes of the whole text after, so
`-D 'D=x\\ty'` sends a TAB, and a bad escape in a value stops the run before any step.
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
    """Each (FILE:LINE, text) decodes: netrepl checks the whole script, with the options' values,
    before it runs any step, and runs none if an escape is bad (exit status 2, a ValueError's)."""
    for where, text in texts:
        try:
            decode_escapes(text)
        except EscapeError as exc:
            raise EscapeError(f"{where}: {exc.message}") from None
''')
