"""Regular expressions compiled on first use, not when their module is imported.

`re.compile` runs the pattern compiler in Python: the twenty-odd patterns
the modules of a `netrepl -c` start define cost ~2 ms together (traced),
about a seventh of what netrepl adds to the interpreter's own start
(docs/bench.md), though a run uses only a few of them. `lazy(PATTERN)` stands for
`re.compile(PATTERN)`: the first attribute asked of it compiles the
pattern and puts the compiled pattern's methods on the object itself, so
from then on `X.search` costs what it costs on the pattern.
"""

from __future__ import annotations

import re

_METHODS = ("match", "fullmatch", "search", "finditer", "findall", "sub", "subn", "split",
            "pattern", "flags", "groups", "groupindex")


class LazyPattern:
    def __init__(self, pattern, flags: int = 0) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str):
        # Only asked for a name not yet on the object: the first use (or a name a pattern lacks).
        if name.startswith("__") or name == "_source":
            # copy and pickle probe dunders on an object made without __init__ (no _source yet)
            raise AttributeError(name)
        compiled = re.compile(*self._source)
        for method in _METHODS:
            setattr(self, method, getattr(compiled, method))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r})"


def lazy(pattern, flags: int = 0) -> LazyPattern:
    return LazyPattern(pattern, flags)
