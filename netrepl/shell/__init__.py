"""The interactive front end: the prompt loop and what it draws (completer, validator,
toolbar, history, styles, live display, interact).

The entry points are loaded on first use, so importing one small module of the
package (the pure suggestion step, say) does not pull in the whole prompt loop.
"""

from __future__ import annotations

_LAZY = {
    "Shell": "netrepl.shell.loop",
    "run_shell": "netrepl.shell.loop",
    "toolbar_text": "netrepl.shell.toolbar",
    "CtrlC": "netrepl.shell.interrupts",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netrepl.shell' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = list(_LAZY)
