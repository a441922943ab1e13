"""Unix-domain sockets: addresses (paths, @abstract names), connect, bind with
stale-socket detection, and the peer's credentials (SO_PEERCRED).

Functions of the session (a SocketState with `adopt`); each returns a Result
saying what happened and the state after it. Paths are untrusted text: they
reach the terminal only as UnixName parts, which the renderer escapes.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct

from netrepl.core.errors import classify, failure
from netrepl.core.results import Result, UnixName, Varies
from netrepl.core.sockstate import UNIX, UNIX_TYPE_NAMES
from netrepl.base.unixpaths import SUN_PATH, is_unix_word, parse_name, remove_file  # noqa: F401 (core.unix.X, as before)

PROBE_TIMEOUT = 1.0  # seconds a stale-socket probe may wait for a connect to a socket file


def sockaddr(name: UnixName) -> str | bytes:
    """What socket.bind/connect take: the path, or b"\\0name" for an abstract name ("" autobinds)."""
    if name.abstract:
        return b"\0" + os.fsencode(name.name) if name.name else ""
    return name.name


def name_of(address, ephemeral: bool = False) -> UnixName:
    """getsockname()/getpeername()/accept() of an AF_UNIX socket -> UnixName."""
    if isinstance(address, bytes):
        if address.startswith(b"\0"):
            return UnixName(os.fsdecode(address[1:]), True, ephemeral)
        address = os.fsdecode(address)
    if isinstance(address, str) and address.startswith("\0"):
        return UnixName(address[1:], True, ephemeral)
    return UnixName(str(address or ""), False, ephemeral)


def peercred(sock: socket.socket) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end (Linux SO_PEERCRED), None where unknown."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", raw)


def say_peercred(result: Result, sock) -> Result:
    cred = peercred(sock)
    if cred is not None:
        pid, uid, gid = cred
        # All three differ between runs or machines (who runs the test): --stable masks them.
        result.say("peer credentials (SO_PEERCRED): pid ", Varies(str(pid), "<pid>"), " uid ",
                   Varies(str(uid), "<uid>"), " gid ", Varies(str(gid), "<gid>"))
    return result


def connect(session, name: UnixName) -> Result:
    s = session
    if s.transport is not None and s.transport.family != UNIX:
        return s._fail(failure("state", "connect", f"the session socket is {s.family} {s.proto} ({s.state()}): "
                                                   "a Unix socket path needs a unix socket; `close` it first"))
    if s.transport is not None and s.connected and s.stream:
        return s._fail(failure("state", "connect", "the unix stream socket is connected already; `close` it first",
                               errno.EISCONN))
    result = s._result()
    created_here = s.transport is None
    if created_here:
        try:
            s.adopt(socket.socket(UNIX, socket.SOCK_STREAM))
        except OSError as exc:
            return s._os_error(exc, "socket", result)
        result.say("created unix stream socket")
    try:
        s.transport.sock.connect(sockaddr(name))
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "connect")
        hint = _connect_hint(err.errno, name)
        if hint:
            result.say(hint)
        if created_here:
            s._discard_socket()
            result.say("connect to ", name, " failed; closed the socket created for it")
            s.gone = "the one `connect` created was closed when the connect failed"
        return s._fail(err, result)
    s.connected = True
    s.peer = name
    s.local = name_of(s.transport.sock.getsockname()) if _named(s.transport.sock) else None
    verb = "connected" if s.stream else "default peer set"
    result.say(f"{verb} to ", name)
    if s.stream:
        say_peercred(result, s.transport.sock)
    result.state = s.state()
    return result


def _named(sock) -> bool:
    try:
        return bool(sock.getsockname())
    except OSError:
        return False


def _connect_hint(code, name: UnixName) -> str | None:
    where = f"@{name.name}" if name.abstract else name.name
    if code == errno.ENOENT:
        return f"no socket file at {where}" if not name.abstract else f"nothing listens on the abstract name {where}"
    if code == errno.ECONNREFUSED:
        if name.abstract:
            return f"nothing listens on the abstract name {where}"
        return f"{where} is a socket file nothing listens on any more (a stale socket)"
    if code == errno.EACCES:
        return f"permission denied: connecting to {where} needs write permission on it (and search on its directories)"
    if code == errno.EPROTOTYPE:
        return f"{where} is a socket of another type (stream vs dgram)"
    return None


def prepare_path(name: UnixName, kind: int, op: str = "listen") -> tuple[str | None, object]:
    """Before binding a file path: a dead socket file is removed (said), a live one or a file
    that is not a socket refused. Returns (what was done, or None; a failure, or None)."""
    if name.abstract:
        return None, None
    path = name.name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, classify(exc, op)
    if not stat.S_ISSOCK(st.st_mode):
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "a symbolic link" if stat.S_ISLNK(st.st_mode) \
            else "a regular file" if stat.S_ISREG(st.st_mode) else "not a socket"
        return None, failure("io", op, f"{path} exists and is {what}, not a socket: not replaced "
                                             "(remove it yourself if it is yours)", errno.EEXIST)
    probe = socket.socket(UNIX, kind)
    probe.settimeout(PROBE_TIMEOUT)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        pass  # a dead socket file: nothing listens on it
    except (TimeoutError, BlockingIOError):
        return None, failure("io", op, f"{path} is a live socket (its backlog is full): something "
                                             "listens there; not replaced", errno.EADDRINUSE)
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:  # a socket of the other type: someone is bound there
            return None, failure("io", op, f"{path} is a live socket of another type: not replaced",
                                 errno.EADDRINUSE)
        return None, classify(exc, op)
    else:
        return None, failure("io", op, f"{path} is a live socket: something listens there (a probe "
                                             "connect succeeded); not replaced", errno.EADDRINUSE)
    finally:
        probe.close()
    try:
        os.unlink(path)
    except OSError as exc:
        return None, classify(exc, op)
    return f"removed a stale socket file at {path} (nothing listened on it)", None


def file_identity(name: UnixName) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the socket file just bound: close removes it only if it is still ours."""
    if name.abstract or not name.name:
        return None
    try:
        st = os.lstat(name.name)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def type_name(kind: int) -> str:
    return UNIX_TYPE_NAMES.get(kind, str(kind))


def info_names(session) -> tuple[object, object]:
    """`info`'s local and peer rows for a Unix socket: paths, @abstract names, or words."""
    sock = session.transport.sock
    known = session.local
    try:
        local: object = name_of(sock.getsockname(), ephemeral=bool(known and known.ephemeral))
        if not local.name:
            local = "(unnamed: not bound)"
    except OSError as exc:
        local = f"getsockname failed: {exc.strerror}"
    try:
        peer: object = name_of(sock.getpeername())
        if not peer.name:
            peer = "(an unnamed socket)" if session.connected else "(not connected)"
    except OSError:
        peer = "(not connected)"
    return local, peer


def cred_fields(session) -> list[tuple[str, object]]:
    if not (session.connected and session.stream):
        return []
    cred = peercred(session.transport.sock)
    if cred is None:
        return []
    pid, uid, gid = cred
    return [("peer pid", Varies(str(pid), "<pid>")), ("peer uid/gid", Varies(f"{uid}/{gid}", "<uid>/<gid>"))]


def bind(session, name: UnixName) -> Result:
    """bind a unix socket (stream or dgram) to a path or abstract name; a stale socket file is replaced."""
    s = session
    if s.transport is None:
        return s._no_socket("bind")
    if s.transport.family != UNIX:
        return s._fail(failure("state", "bind", f"the session socket is {s.family} {s.proto}: a Unix socket path "
                                                "needs `socket unix stream|dgram`"))
    result = Result()
    done, problem = prepare_path(name, s.transport.type, "bind")
    if problem is not None:
        return s._fail(problem, result)
    if done:
        result.say(done)
    try:
        s.transport.sock.bind(sockaddr(name))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            result.say(f"@{name.name} is in use" if name.abstract else f"{name.name} is in use")
        return s._os_error(exc, "bind", result)
    s.local = name_of(s.transport.sock.getsockname(), ephemeral=name.ephemeral)
    s.bound_file = (s.local, file_identity(s.local))
    return s._result().say("bound to ", s.local)


def mark_chosen(result: Result, chosen: set[str]) -> None:
    """Abstract names the kernel chose (`listen @`, `serve KIND @`) are ephemeral wherever they
    appear later (`connect $lab_path`, info), so --stable masks them as it masks OS-chosen ports."""
    def mark(part):
        if isinstance(part, UnixName) and part.abstract and not part.ephemeral and part.name in chosen:
            return UnixName(part.name, True, True)
        return part

    result.lines = [tuple(mark(part) for part in line) for line in result.lines]
    result.fields = [(label, mark(value)) for label, value in result.fields]
