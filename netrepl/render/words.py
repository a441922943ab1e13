"""Words the renderers share (render/text.py and render/waterfall.py, which text.py draws
with): Fragments, the (style, text) pieces a result renders to, and endpoint, an address in
words. Here, not in text.py, so the waterfall needs nothing from the module that imports it.
"""

from __future__ import annotations

from netrepl.core.results import Endpoint
from netrepl.base.unixpaths import UnixName, unix_name

Fragments = list[tuple[str, str]]


def endpoint(ep: Endpoint | UnixName, stable: bool = False) -> str:
    if isinstance(ep, UnixName):
        return unix_name(ep, stable)
    host = f"[{ep.host}]" if ":" in ep.host else ep.host
    port = "<port>" if stable and ep.ephemeral else str(ep.port)
    return f"{host}:{port}"
