"""The server side of a session: a listener beside the session socket
(`listen`, `accept`, `close listener`) and `reply` to a datagram's sender.

The session holds at most one Listener (session.listener). `accept` waits
for one client under the session timeout (Ctrl-C stops it) and makes that
connection the session socket, so every other command works on it; the
listener stays open for the next `accept` until `close listener`, a new
`listen`, or the end of the session. Each function returns a Result.
"""

from __future__ import annotations

import errno
import os
import socket
import time

from netrepl.core import unix
from netrepl.core.connect import service_port
from netrepl.core.errors import classify, failure
from netrepl.core.results import Elapsed, Endpoint, Result, UnixName
from netrepl.core.sockstate import UNIX, plural
from netrepl.core.wildcard import exposed, implicit_wildcard

BACKLOG = 16  # clients the kernel queues for `accept`; one session serves one at a time


class Listener:
    """One listening socket and what to say about it."""

    __slots__ = ("sock", "address", "identity", "accepted")

    def __init__(self, sock: socket.socket, address: Endpoint | UnixName, identity=None):
        self.sock = sock
        self.address = address
        self.identity = identity  # (st_dev, st_ino) of our socket file: removed on close if still ours
        self.accepted = 0

    @property
    def unix(self) -> bool:
        return isinstance(self.address, UnixName)

    def close(self) -> str | None:
        """Close it; for a socket file, remove the file (if still ours). Words for the removal."""
        self.sock.close()
        return unix.remove_file(self.address, self.identity) if self.unix else None


def _bind_words(code: int | None, where: str, port: int | None) -> str | None:
    if code == errno.EADDRINUSE:
        return f"{where} is already in use: another socket listens there" + (
            " (or the abstract name is taken)" if port is None else "")
    if code == errno.EACCES:
        if port is not None and 0 < port < 1024:
            return f"permission denied: port {port} is below 1024 (needs root or CAP_NET_BIND_SERVICE)"
        return f"permission denied for {where}"
    if code == errno.EADDRNOTAVAIL:
        return f"{where}: that address is not an address of this machine"
    return None


def listen(session, host: str | None, port: int | str | None, name: UnixName | None = None) -> Result:
    """listen on HOST PORT (TCP, IPv4 or IPv6) or on a Unix socket name; replaces a listener open before."""
    s = session
    result = Result()
    if s.listener is not None:
        result.lines += stop(s).lines
    if name is not None:
        return _listen_unix(s, name, result)
    number, bad = service_port(s, port, "listen")
    if bad:
        bad.lines[:0] = result.lines
        return bad
    refused = implicit_wildcard(host)
    if refused:
        return s._fail(failure("usage", "listen", refused), result)
    try:
        family, socktype, proto, _, address = socket.getaddrinfo(host, number, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                                                 0, socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        return s._fail(classify(socket.gaierror(exc.errno, f"{exc.strerror} (getaddrinfo {host!r})"), "listen"),
                       result)
    except UnicodeError:
        return s._fail(failure("address", "listen", f"{host!r} is not a valid host name"), result)
    sock = socket.socket(family, socktype, proto)
    try:
        if os.name != "nt":  # restart on the same port while old connections sit in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{number}" if ":" in host else f"{host}:{number}"
        words = _bind_words(exc.errno, where, number)
        if words:
            result.say(words)
        return s._fail(classify(exc, "listen"), result)
    bound = Endpoint.of(sock.getsockname(), ephemeral=number == 0)
    s.listener = Listener(sock, bound)
    result.say("listening on ", bound, f" (tcp, backlog {BACKLOG}); `accept` waits for a client")
    note = exposed(bound.host)
    if note:
        result.say(f"note: {note}")
    result.state = s.state()
    return result


def _listen_unix(s, name: UnixName, result: Result) -> Result:
    done, problem = unix.prepare_path(name, socket.SOCK_STREAM)
    if problem is not None:
        return s._fail(problem, result)
    if done:
        result.say(done)
    sock = socket.socket(UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(unix.sockaddr(name))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        where = ("@" + name.name) if name.abstract else name.name
        words = _bind_words(exc.errno, where, None)
        if exc.errno == errno.ENOENT:
            words = f"{where}: its directory does not exist"
        if words:
            result.say(words)
        return s._fail(classify(exc, "listen"), result)
    bound = unix.name_of(sock.getsockname(), ephemeral=name.ephemeral)
    s.listener = Listener(sock, bound, unix.file_identity(bound))
    result.say("listening on ", bound, f" (unix stream, backlog {BACKLOG}); `accept` waits for a client")
    result.state = s.state()
    return result


def stop(session) -> Result:
    """`close listener`: stop listening (the accepted connection, if any, stays)."""
    s = session
    if s.listener is None:
        return s._fail(failure("state", "close listener", "no listener open (`listen [HOST] PORT` opens one)"))
    listener, s.listener = s.listener, None
    removed = listener.close()
    result = Result().say("stopped listening on ", listener.address,
                          f" ({plural(listener.accepted, 'connection')} accepted)")
    if removed:
        result.say(removed)
    result.state = s.state()
    return result


def accept(session) -> Result:
    """Wait for one client; its connection becomes the session socket."""
    s = session
    if s.listener is None:
        return s._fail(failure("state", "accept", "no listener: `listen [HOST] PORT` (or `listen PATH`) first"))
    if s.transport is not None:
        return s._fail(failure("state", "accept", f"the session socket is open ({s.state()}): `close` it first "
                                                  "(the listener stays open)"))
    listener = s.listener
    listener.sock.settimeout(s.timeout)
    started = time.perf_counter()
    try:
        conn, address = listener.sock.accept()
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "accept")
        result = Result()
        if err.kind == "timeout":
            result.say(f"no client connected within {s.timeout:g} s; still listening on ", listener.address)
        elif err.kind == "interrupted":
            result.say("still listening on ", listener.address)
        return s._fail(err, result)
    elapsed = time.perf_counter() - started
    listener.accepted += 1
    s.adopt(conn)
    s.connected = True
    result = Result()
    if listener.unix:
        s.peer = unix.name_of(address)
        s.local = listener.address
        result.say("accepted a connection from ", s.peer, " on ", s.local, " after ", Elapsed(elapsed))
        unix.say_peercred(result, conn)
    else:
        s.peer = Endpoint.of(address, ephemeral=True)
        s.local = Endpoint.of(conn.getsockname(), ephemeral=listener.address.ephemeral)
        result.say("accepted a connection from ", s.peer, " on ", s.local, " after ", Elapsed(elapsed))
    result.state = s.state()
    return result


def reply(session, data: bytes) -> Result:
    """One datagram back to whoever sent the last one `recvfrom` received."""
    s = session
    if s.transport is None:
        return s._no_socket("reply")
    if s.stream:
        return s._fail(failure("state", "reply", "reply answers a datagram's sender; on a connection use `send`"))
    if s.last_sender is None:
        return s._fail(failure("state", "reply", "no datagram to reply to: `recvfrom` first (reply answers the "
                                                 "sender of the last datagram it received)"))
    address = s.last_sender
    if s.transport.family == UNIX:
        shown = unix.name_of(address)
        if not shown.name:
            return s._fail(failure("state", "reply", "the sender's socket is unnamed (not bound to a path or "
                                                     "name): there is no address to reply to"))
    else:
        shown = Endpoint.of(address, ephemeral=True)
    try:
        count = s.transport.sendto(data, address)
    except (OSError, KeyboardInterrupt) as exc:
        return s._os_error(exc, "reply")
    s.sent += count
    return s._result().say(f"sent {plural(count)} to ", shown, " (the sender of the last datagram)")


def info_fields(session) -> list[tuple[str, object]]:
    """`info` rows of the session's listener (Session.info asks only when there is one)."""
    listener = session.listener
    kind = "unix stream" if listener.unix else "tcp"
    return [("listener", listener.address), ("listening", f"{kind}, {plural(listener.accepted, 'connection')} "
                                                          "accepted")]
