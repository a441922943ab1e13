"""`resolve` (getaddrinfo, in connect's order) and `reverse` (gethostbyaddr): name lookups you can see."""

from __future__ import annotations

from netrepl.commands.common import HOST
from netrepl.core import names
from netrepl.language.argtypes import Host, Port
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


@COMMANDS.command("resolve", HOST, Arg("PORT", Port(), "port", optional=True,
                                       help="a port number or a service name (getaddrinfo looks it up)"),
                  help="list the addresses getaddrinfo gives HOST, in the order connect tries them",
                  details="`resolve HOST [PORT]` calls getaddrinfo as `connect` does (the open socket's family "
                          "and type; with none, any family, tcp) and lists each answer: family, type, address, "
                          "in order, with the time the lookup took, so you see why connect went to IPv6 first. "
                          "The lookup is waited for at most the timeout; Ctrl-C stops the wait.")
def _resolve(ex, a, flags):
    return names.forward(ex.session, a["host"], a["port"])


@COMMANDS.command("reverse", Arg("ADDRESS", Host(), "address", help="an IPv4 or IPv6 address"),
                  help="the name of an address (gethostbyaddr); none is socket.herror",
                  details="An address with no name fails with socket.herror, the worksheet's other address "
                          "error (kind other-address: `must-fail other-address reverse 127.1.2.3`). The lookup "
                          "is waited for at most the timeout; Ctrl-C stops the wait.")
def _reverse(ex, a, flags):
    return names.reverse(ex.session, a["address"])
