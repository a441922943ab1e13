"""Which host words mean "every interface", and only when written so.

getaddrinfo with AI_PASSIVE reads `0`, `0.0`, `0x0`, `000` (inet_aton's short
forms) and glibc's `*` as 0.0.0.0, so `listen 0 8080` or `bind * 0` opened a
port to the whole network, while `listen 0` alone means "a free port on
loopback". Every interface is said only as `0.0.0.0` or an IPv6 unspecified
address (`::`); the other spellings are refused with the words to use. And a
listener that is not on loopback says so.
"""

from __future__ import annotations

import socket


def implicit_wildcard(host: str | None) -> str | None:
    """Why `host` is refused (it would mean every interface without saying so), or None."""
    if host is None or host == "0.0.0.0":
        return None
    if host != "*" and host.strip() != "":
        try:
            if socket.inet_aton(host) != bytes(4):
                return None
        except (OSError, ValueError):
            return None  # not an IPv4 spelling at all (a name, an IPv6 address: `::` is explicit enough)
    return (f"{host!r} would mean every interface (0.0.0.0), reachable from other machines: write 0.0.0.0 (or ::) "
            "for every interface, or 127.0.0.1 for this machine only")


def exposed(address: str) -> str | None:
    """A note when a bound or listening address is not on loopback (other machines may reach it)."""
    import ipaddress  # lazily: `bind` is on the start-up path and most binds are not asked about

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback:
        return None
    if ip.is_unspecified:
        return "not on loopback: every interface, reachable from other machines"
    return f"not on loopback: {address} may be reachable from other machines"
