"""The lookups' and socket options' entries of the export table (table.py): resolve
(getaddrinfo), reverse (gethostbyaddr), setsockopt NAME VALUE (the value read back
with getsockopt, as netrepl says it) and timing (a note: the program times nothing)."""

from __future__ import annotations

from netrepl.core.sockopts import OPTIONS
from netrepl.export import listenprelude, optprelude  # noqa: F401 (resolve, reverse; the options' helpers)
from netrepl.export.program import Program
from netrepl.export.optprelude import level_name
from netrepl.export.table import emitter

# What `resolve` asks with no socket open: any family, a stream (core/names.py).
FAMILY = {"inet": "socket.AF_INET", "inet6": "socket.AF_INET6", "unix": "socket.AF_UNIX"}


@emitter("resolve")
def _resolve(p: Program, parsed) -> None:
    p.need("resolve")
    host = p.host(parsed)
    port = "None" if parsed.args["port"] is None and p.raw(parsed, "port") is None \
        else p.value(parsed, "port", "port").code  # a number or a service name: getaddrinfo takes both
    if p.sock and not p.maybe_closed:  # the open socket's family and type, as connect would use
        p.code(f"resolve({host}, {port}, sock.family, sock.type)")
    else:
        p.code(f"resolve({host}, {port}, socket.AF_UNSPEC, socket.SOCK_STREAM)")


@emitter("reverse")
def _reverse(p: Program, parsed) -> None:
    p.need("reverse")
    p.code(f"reverse({p.host(parsed, 'address')})")


def _setsockopt(name: str):
    level, _, constant, kind = OPTIONS[name]

    def emit(p: Program, parsed) -> None:
        p.no_socket(f"setsockopt {name}")
        if p.raw(parsed, "value") is not None:
            p.refuse(f"`setsockopt {name}` with a variable for the value is not exported: write the value")
        value = parsed.args["value"]
        where = f"socket.{level_name(level)}, socket.{constant}"
        if kind == "linger":  # struct linger {int l_onoff; int l_linger;}
            p.imports.add("struct")
            raw = "struct.pack('ii', 0, 0)" if value == "off" else f"struct.pack('ii', 1, {value!r})"
        else:
            raw = str(int(value))
        p.need("option_said")
        p.need("note")
        p.code(f"sock.setsockopt({where}, {raw})",
               f"for line in said({name!r}, {value!r}, option_value(sock, {name!r}), bound(sock)):  # netrepl's words",
               "    note(line)")
    return emit


for _name in OPTIONS:
    emitter(f"setsockopt {_name}")(_setsockopt(_name))


@emitter("timing")
def _timing(p: Program, parsed) -> None:
    """netrepl draws the durations it measured; the program measures none. It moves no bytes and
    fails only before any connect (netrepl's own state check, refused here like the others)."""
    if not p.timed:
        p.refuse_state("`timing` before any connect to HOST PORT (netrepl times no Unix connect): netrepl refuses "
                       "it (its own state check); not exported")
    p.need("note")
    p.comment("(netrepl shows the last connection's timed phases here; this program times nothing)")
    p.code('note("timing: not measured by this program (netrepl shows the connection\'s phases here)")')
