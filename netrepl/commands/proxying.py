"""`set proxy` (SOCKS5 or HTTP CONNECT on the way out) and `set proxy-protocol` (a PROXY header first)."""

from __future__ import annotations

from netrepl.commands.common import error
from netrepl.core.results import Result
from netrepl.language.argtypes import ArgError, Choice, Host, Int, NotForThis, Port
from netrepl.language.texttypes import Text
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()


class Address(Host):
    """An IP address (v4 or v6, brackets allowed): what a PROXY header can name."""

    name = "address"

    def convert(self, text, args, registry):
        import ipaddress  # only when an address is given: not on every start-up that loads this area

        text = super().convert(text, args, registry)
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise ArgError(f"expected an IPv4 or IPv6 address, got {text!r}") from None


class Credential(Text):
    """USER or PASS: only after a PORT (a word PORT refused is reported as PORT's mistake)."""

    def convert(self, text, args, registry):
        if args.get("port") is None:
            raise NotForThis()
        return super().convert(text, args, registry)


def _check_proxy(a):
    if a["kind"] == "none":
        if a["host"] is not None:
            return ("`set proxy none` takes nothing after it", "host")
        return None
    if a["host"] is None or a["port"] is None:
        return (f"`set proxy {a['kind']}` needs HOST PORT (and USER PASS if the proxy asks)", "end")
    if (a["user"] is None) != (a["password"] is None):
        return ("a user goes with a password: USER PASS", "end")
    return None


@COMMANDS.sub("set", "proxy", Arg("KIND", Choice(("socks5", "http", "none")), "kind"),
              Arg("HOST", Host(), "host", optional=True, help="the proxy's host name or address"),
              Arg("PORT", Port(), "port", optional=True, help="the proxy's port"),
              Arg("USER", Credential(), "user", optional=True, help="a user name, if the proxy asks for one"),
              Arg("PASS", Credential(), "password", optional=True, help="its password"),
              help="connect through a SOCKS5 or HTTP CONNECT proxy (`set proxy none`: directly)",
              details="`set proxy socks5 HOST PORT [USER PASS]` (RFC 1928; RFC 1929 user and password): "
                      "`connect NAME PORT` sends the name, which the proxy resolves. `set proxy http HOST PORT "
                      "[USER PASS]` asks with CONNECT (Basic Proxy-Authorization). The proxy hop is its own "
                      "phase in `timing`, `info` names the proxy, and a refusal is a failure of kind proxy "
                      "naming the SOCKS reply code or showing the CONNECT status line. `tls` then runs end to "
                      "end through the tunnel.")
def _set_proxy(ex, a, flags):
    problem = _check_proxy(a)  # when it runs: each word parses on its own
    if problem:
        return error(ex, "usage", "set proxy", problem[0])
    if a["kind"] == "none":
        ex.session.proxy = None
        return Result().say("connect goes directly (no proxy)")
    from netrepl.core.proxy import Proxy

    port = a["port"]
    if not isinstance(port, int):
        import socket

        try:
            port = socket.getservbyname(port, "tcp")
        except OSError:
            return error(ex, "service", "set proxy", f"no tcp service {port!r}")
    if port == 0:
        return error(ex, "usage", "set proxy", "the proxy's PORT cannot be 0")
    ex.session.proxy = proxy = Proxy(a["kind"], a["host"], port, a["user"], a["password"])
    return Result().say(f"connect goes through the {proxy}")


def _check_pp(a):
    if a["version"] == "off":
        return ("`set proxy-protocol off` takes nothing after it", "address") if a["address"] is not None else None
    if a["address"] is None or a["port"] is None:
        return (f"`set proxy-protocol {a['version']}` needs the source ADDR PORT the header names", "end")
    return None


@COMMANDS.sub("set", "proxy-protocol", Arg("VERSION", Choice(("v1", "v2", "off")), "version"),
              Arg("ADDR", Address(), "address", optional=True, help="the source address the header names"),
              Arg("PORT", Int(minimum=0, maximum=65535), "port", optional=True, help="the source port it names"),
              help="send a PROXY protocol header (v1 text, v2 binary) after each connect; `off` stops",
              details="After each TCP connect (through a proxy too), the header names ADDR PORT as the client "
                      "and the connection's real destination as the server (TCP4 or TCP6; an IPv4 address "
                      "beside an IPv6 one is written ::ffff:a.b.c.d), and is shown as a sent step. For servers "
                      "behind a load balancer: nginx `listen ... proxy_protocol`, HAProxy `accept-proxy`.")
def _set_proxy_protocol(ex, a, flags):
    problem = _check_pp(a)
    if problem:
        return error(ex, "usage", "set proxy-protocol", problem[0])
    if a["version"] == "off":
        ex.session.proxy_protocol = None
        return Result().say("no PROXY protocol header")
    from netrepl.core.proxy import ProxyProtocol

    ex.session.proxy_protocol = ProxyProtocol(a["version"], a["address"], a["port"])
    return Result().say(f"each connect sends a PROXY protocol {a['version']} header naming "
                        f"{a['address']} port {a['port']} as the source")
