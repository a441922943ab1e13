"""The terminal-safe views of untrusted bytes (escape_bytes, TextEscaper, escape_text, hexdump,
HexDumper, is_terminal_safe), for render/'s users: they are defined a floor down, in
netrepl/base/escape.py, where the core, which quotes peer bytes in its messages, can import them.
"""

from netrepl.base.escape import (_UNSAFE, HexDumper, TextEscaper, escape_bytes, escape_text,  # noqa: F401
                            hexdump, is_terminal_safe)
