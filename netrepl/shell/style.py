"""One style factory: the Pygments theme for what is typed, merged with the UI's own classes."""

from __future__ import annotations

from prompt_toolkit.styles import Style, merge_styles, style_from_pygments_cls
from pygments.styles import get_style_by_name
from pygments.util import ClassNotFound

UI = {
    "prompt": "bold ansigreen",
    "prompt.interact": "bold ansiyellow",  # inside `interact`: typed lines go to the peer
    "error": "ansired",
    "state": "ansicyan",
    "message": "",
    "field": "",
    "data": "",
    "help": "",
    "live": "#808080",  # the note on a step the live watch ran
    "bar": "ansigreen",  # a `timing` waterfall's bars; a failed connect attempt's in red
    "bar.failed": "ansired",
    "bottom-toolbar": "noreverse bg:#222222 #aaaaaa",
    "bottom-toolbar.state": "bold #ffffff",
    # One look per kind of state (toolbar.STATE_CLASSES): trouble must not look like "connected".
    "bottom-toolbar.state.connected": "bg:#005f00 #ffffff",
    "bottom-toolbar.state.open": "bg:#005f87 #ffffff",
    "bottom-toolbar.state.peer-closed": "bg:#875f00 #ffffff",
    "bottom-toolbar.state.lost": "bg:#af0000 #ffffff",
    "bottom-toolbar.state.closed": "bg:#444444 #ffffff",
    "bottom-toolbar.state.none": "bg:#303030 #bcbcbc nobold",
    "bottom-toolbar.waiting": "bold bg:#5f5f00 #ffffff",  # unread data: hard to miss
    "bottom-toolbar.hint": "#808080",
}


def make_style(name: str = "monokai") -> Style:
    try:
        pygments_style = get_style_by_name(name)
    except ClassNotFound:  # an unknown theme falls back, never fails start-up
        pygments_style = get_style_by_name("default")
    return merge_styles([style_from_pygments_cls(pygments_style), Style.from_dict(UI)])
