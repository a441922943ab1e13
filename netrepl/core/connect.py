"""Resolving names and connecting: getaddrinfo, each address tried in turn, bind.

Functions of the session (a SocketState with `adopt`); each returns a Result
saying what was tried and the state after it.
"""

from __future__ import annotations

import socket
import time

from netrepl.core.errors import classify, failure
from netrepl.core.results import Elapsed, Endpoint, Result
from netrepl.core.sockstate import FAMILY_NAMES, TYPE_NAMES
from netrepl.core.timing import Timing, kernel_rtt


def service_port(session, port: int | str, op: str) -> tuple[int | None, Result | None]:
    if isinstance(port, int):
        return port, None
    proto = session.proto or "tcp"
    try:
        return socket.getservbyname(port, proto), None
    except OSError as exc:
        return None, session._fail(failure("service", op,
                                           f"couldn't find your port: no service {port!r} for {proto} ({exc})"))


def resolve(session, host: str, port: int, kind: int, any_family: bool = False):
    """getaddrinfo (in the session socket's family unless `any_family`); a failure names the host."""
    family = session.transport.family if session.transport and not any_family else socket.AF_UNSPEC
    try:
        return socket.getaddrinfo(host, port, family, kind)
    except socket.gaierror as exc:
        raise socket.gaierror(exc.errno, f"{exc.strerror} (getaddrinfo {host!r})") from None
    except UnicodeError as exc:  # the IDNA codec refuses the name (e.g. a label over 63 characters)
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a valid host name ({exc})") from None


def connect(session, host: str, port: int | str) -> Result:
    s = session
    # A connected stream socket (open, lost or ended by the peer) is replaced by a new
    # connection, once the new peer's name resolved: a typo does not cost the old one.
    # (A UDP socket is re-targeted: connect() on it just sets another default peer.)
    again = s.transport is not None and s.connected and s.stream
    result = s._result()
    number, bad = service_port(s, port, "connect")
    if bad:
        return bad
    if s.proxy is not None or s.proxy_protocol is not None:  # `set proxy`, `set proxy-protocol`: core/proxy.py
        return _by_proxy(s, host, number)
    kind = s.transport.type if s.transport else socket.SOCK_STREAM
    before = s.timing
    s.timing = timing = Timing(host)  # the `timing` command shows this connection's phases
    started = time.perf_counter()
    try:
        addresses = resolve(s, host, number, kind, any_family=again)
    except (OSError, KeyboardInterrupt) as exc:
        timing.add("resolve", time.perf_counter() - started, started, outcome="failed", detail=host)
        if again:  # the open connection stays, and so do its phases
            s.timing = before
            result.say("the connection to ", s.peer, " is kept")
        if isinstance(exc, KeyboardInterrupt):
            return s._fail(classify(exc, "connect"), result)
        return s._os_error(exc, "connect", result)
    timing.add("resolve", time.perf_counter() - started, started, detail=host)
    if again:
        result.say(*s.end_connection())
    elif s.connected and not s.stream and s.peer is not None:
        result.say("the default peer was ", s.peer)
    created_here = s.transport is None
    last: Result | None = None
    for i, (family, socktype, proto, _, address) in enumerate(addresses):
        if created_here:
            try:
                s.adopt(socket.socket(family, socktype, proto))
            except OSError as exc:
                last = s._os_error(exc, "socket", result)
                continue
            result.say(f"created {FAMILY_NAMES.get(family, family)} {TYPE_NAMES.get(socktype)} socket")
        target = Endpoint.of(address)
        started = time.perf_counter()
        try:
            s.transport.sock.connect(address)
        except (OSError, KeyboardInterrupt) as exc:
            err = classify(exc, "connect")
            timing.add("connect", time.perf_counter() - started, started, target, _outcome(err))
            if err.errname == "ECONNRESET":  # a refusal is ECONNREFUSED: this handshake completed first
                result.say("the peer accepted the connection, then reset it before connect() returned")
            if created_here or isinstance(exc, KeyboardInterrupt):
                s._discard_socket()
                if created_here and i + 1 < len(addresses) and err.kind != "interrupted":
                    result.say("connect to ", target, f" failed: {err.message}; trying the next address")
                    continue
                if created_here:
                    result.say("connect to ", target, " failed; closed the socket created for it")
                    s.gone = "the one `connect` created was closed when the connect failed"
                if not created_here:
                    result.say("the interrupted socket was closed (its connect state is unknown)")
                    s.gone = "the one whose connect was interrupted was closed"
            elif not s.connected:
                s.connect_failed = err.errname or err.kind
                if err.kind == "timeout":  # the SYN is still being retransmitted
                    result.say("the kernel keeps trying to connect this socket in the background "
                               "(a second connect says EALREADY); `close` it to give up")
            return s._fail(err, result)
        elapsed = time.perf_counter() - started
        timing.add("connect", elapsed, started, target)
        timing.rtt = kernel_rtt(s.transport.sock) if s.stream else None
        s.transport.timing = timing  # sends and reads on this connection time the first byte
        s.connected = True
        s.connect_failed = None
        s.peer = target
        s.peer_name = host
        s._refresh_addresses()
        verb = "connected" if s.stream else "default peer set"
        result.say(f"{verb} ", s.local or "?", " -> ", target, f" ({host}) in ", Elapsed(elapsed))
        result.state = s.state()
        return result
    return last or s._fail(failure("address", "connect", f"no address for {host!r}"), result)


def _by_proxy(s, host: str, number: int) -> Result:
    from netrepl.core import proxy  # only a session with a proxy set pays for it

    if s.proxy is not None and (s.transport is None or s.stream):
        # Connected already (open, lost or ended): end it first, or the new CONNECT would go
        # down the old tunnel to the old server (end_connection says why a socket is not reused).
        ended = s.end_connection()
        result = proxy.connect_via(s, s.proxy, host, number, resolve)
        if ended:
            result.lines.insert(0, ended)
    else:  # the plain connect (a UDP socket's default peer: no proxy), then the header
        saved = s.proxy, s.proxy_protocol
        s.proxy = s.proxy_protocol = None
        try:
            result = connect(s, host, number)
        finally:
            s.proxy, s.proxy_protocol = saved
    if result.ok and s.proxy_protocol is not None and s.stream:
        return proxy.send_proxy_header(s, result, host)
    return result


def _outcome(err) -> str:
    """A failed attempt in one word: refused, timeout, or the errno name."""
    if err.errname == "ECONNREFUSED":
        return "refused"
    return err.kind if err.kind in ("timeout", "interrupted") else (err.errname or err.kind)


def bind(session, host: str, port: int | str) -> Result:
    s = session
    if s.transport is None:
        return s._no_socket("bind")
    number, bad = service_port(s, port, "bind")
    if bad:
        return bad
    from netrepl.core.wildcard import exposed, implicit_wildcard  # (bind is rare: off the start-up path)

    refused = implicit_wildcard(host)
    if refused:
        return s._fail(failure("usage", "bind", refused))
    try:
        address = resolve(s, host, number, s.transport.type)[0][4]
        s.transport.sock.bind(address)
    except OSError as exc:
        return s._os_error(exc, "bind")
    s._refresh_addresses()
    if number:
        s.local = Endpoint(s.local.host, s.local.port, ephemeral=False)
    result = s._result().say("bound to ", s.local)
    note = exposed(s.local.host)
    if note:
        result.say(f"note: {note}")
    return result
