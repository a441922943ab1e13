"""The helper functions an exported program may need, as source text, each with the
imports and other helpers it needs; the program includes only those it uses.

They are plain standard-library Python, the socket calls netrepl's commands stand
for, written so a reader of the program can follow them (the worksheet's style).
None of them ever sees netrepl: an exported program never imports it.
"""

from __future__ import annotations

# name -> (imports, helpers it calls, source)
HELPERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}


def helper(name: str, imports: tuple[str, ...], needs: tuple[str, ...], source: str) -> None:
    HELPERS[name] = (imports, needs, source.strip("\n") + "\n")


helper("note", ("sys",), (), '''
def note(*words):
    """What a step did, on standard error (standard output is for received data)."""
    print(*words, file=sys.stderr, flush=True)
''')

helper("show", ("sys",), (), '''
def show(data):
    """Received bytes as text on standard output, ending with a newline, as netrepl shows them."""
    if data:
        text = data.decode("utf-8", errors="backslashreplace")
        sys.stdout.write(text if text.endswith("\\n") else text + "\\n")
        sys.stdout.flush()
''')

helper("port_of", ("socket",), (), '''
class ServiceNotFound(OSError):
    """getservbyname does not know the service (socketerrors.py: "Couldn't find your port")."""


def port_of(port, proto):
    """A port number, or a service name looked up with getservbyname."""
    if port is None:
        raise ValueError("no port given: see --help for the port options")
    if isinstance(port, int):
        return port
    if port.isascii() and port.isdigit():
        number = int(port)
        if number > 65535:
            raise ValueError(f"port {number} is out of range 0-65535")
        return number
    try:
        return socket.getservbyname(port, proto)
    except OSError as exc:
        raise ServiceNotFound(f"couldn't find your port: no service {port!r} for {proto} ({exc})") from None
''')

helper("lookup", ("socket",), ("note", "port_of"), '''
def lookup(service, proto):
    """getservbyname (a name) or getservbyport (a number), as `lookup` does."""
    if isinstance(service, str) and service.isascii() and service.isdigit():
        service = int(service)
    if isinstance(service, int):
        try:
            name = socket.getservbyport(service, proto)
        except OSError as exc:
            raise ServiceNotFound(f"couldn't find port {service} for {proto}: {exc}") from None
        note(f"port {service}/{proto} is service {name!r}")
    else:
        note(f"service {service!r}/{proto} is port {port_of(service, proto)}")
''')

helper("connect", ("socket",), ("note",), '''
def connect(host, port, timeout):
    """A TCP socket connected to host, port: each address getaddrinfo gives is tried in turn."""
    error = OSError(f"no address for {host!r}")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            note(f"connect to {address[0]} port {address[1]} failed: {exc}")
            error = exc
            continue
        note(f"connected {sock.getsockname()[:2]} -> {sock.getpeername()[:2]} ({host!r})")
        return sock
    raise error
''')

helper("info", ("socket",), ("note",), '''
def info(sock, timeout):
    """What a socket knows about itself: getsockname(), getpeername() (connect3.py)."""
    note(f"family: {socket.AddressFamily(sock.family).name}, type: {socket.SocketKind(sock.type).name}")
    note(f"local: {sock.getsockname()[:2]}")
    try:
        note(f"peer: {sock.getpeername()[:2]}")
    except OSError as exc:
        note(f"peer: none ({exc})")
    note(f"timeout: {timeout}")
''')

helper("take", (), (), '''
def take(pending, size=None):
    """Consume bytes read earlier (by read_until or recv_line) but not yet shown."""
    data = bytes(pending[:size])
    del pending[:size]
    return data
''')

helper("recv", (), ("take",), '''
def recv(sock, pending, size):
    """One recv(size); bytes an earlier expect or recv line read past its end come first."""
    return take(pending, size) if pending else sock.recv(size)
''')

helper("recv_line", ("time",), ("take", "show"), '''
LINE_LIMIT = 65536


def recv_line(sock, pending, timeout):
    """One line through its newline (makefile().readline(), with the bytes read past the
    newline kept for the next read), within one overall timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while (end := pending.find(b"\\n", 0, LINE_LIMIT) + 1) == 0:
            if len(pending) >= LINE_LIMIT:
                end = LINE_LIMIT
                break
            if deadline is not None:
                if deadline <= time.monotonic():
                    raise TimeoutError("timed out")
                sock.settimeout(deadline - time.monotonic())
            chunk = sock.recv(65536)
            if not chunk:
                end = len(pending)
                break
            pending += chunk
    except OSError:
        show(take(pending, LINE_LIMIT))  # what came of the line before the error
        raise
    finally:
        sock.settimeout(timeout)
    return take(pending, end)
''')

helper("recv_all", ("codecs", "sys"), ("take",), '''
def recv_all(sock, pending, path=None):
    """recv until end of stream (recv returns no data), in chunks: shown as they arrive,
    or written to the file at path. Returns the number of bytes received."""
    out = open(path, "wb") if path is not None else TextOut()
    total = 0
    try:
        data = take(pending)
        while data:
            total += len(data)
            out.write(data)
            data = sock.recv(65536)
    finally:
        out.close()
    return total


class TextOut:
    """A stream's bytes as text on standard output, chunk by chunk: a character split between
    two chunks stays whole, and the text ends with a newline, as netrepl shows it."""

    def __init__(self):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")
        self.last = "\\n"

    def write(self, data, final=False):
        text = self.decoder.decode(data, final)
        if final and not (text or self.last).endswith("\\n"):
            text += "\\n"
        if text:
            sys.stdout.write(text)
            self.last = text
        sys.stdout.flush()

    def close(self):
        self.write(b"", final=True)
''')

helper("read_until", ("socket", "time"), ("take",), '''
WINDOW = 1 << 20  # bytes kept while waiting for a match, whatever the peer sends


def read_until(sock, pending, want, timeout):
    """Read until the bytes not yet shown contain want (bytes; a compiled bytes regex; or
    None: end of stream), within one overall timeout. Returns the bytes through the match
    (consumed; what was read past it stays in pending) or None (nothing consumed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ended = False
    try:
        while True:
            if want is None:
                end = len(pending) if ended else None
            elif isinstance(want, bytes):
                at = pending.find(want)
                end = at + len(want) if at >= 0 else None
            else:
                match = want.search(pending)
                end = match.end() if match else None
            if end is not None:
                return take(pending, end)
            if ended or (deadline is not None and deadline <= time.monotonic()):
                return None
            if deadline is not None:
                sock.settimeout(deadline - time.monotonic())
            chunk = sock.recv(1 << 18)
            if not chunk and sock.type == socket.SOCK_STREAM:
                ended = True
            pending += chunk
            del pending[:-WINDOW]
    except TimeoutError:
        return None
    finally:
        sock.settimeout(timeout)
''')
