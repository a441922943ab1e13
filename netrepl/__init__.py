"""netrepl: a scriptable network-diagnostics REPL over one session socket."""

__version__ = "0.1.0"
