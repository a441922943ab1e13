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

helper("end_connection", ("socket",), ("note",), '''
def end_connection(sock, host, port):
    """`connect` on a connected stream socket: netrepl ends that connection and makes a new one,
    once the new name resolved (one that does not resolve keeps this connection). Returns None."""
    socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    sock.close()
    note("closed the previous connection")
''')

helper("address_of", (), (), '''
def address_of(address):
    """A socket address for a note: (host, port) of an inet socket; a Unix socket's path, or
    @NAME for a name in Linux's abstract namespace (which starts with a NUL byte)."""
    if isinstance(address, tuple):
        return address[:2]
    if isinstance(address, bytes):
        address = address.decode("utf-8", "backslashreplace")
    return repr("@" + address[1:] if address.startswith("\\0") else address or "(unnamed)")
''')

helper("info", ("socket",), ("note", "address_of"), '''
def info(sock, timeout):
    """What a socket knows about itself: getsockname(), getpeername() (connect3.py)."""
    note(f"family: {socket.AddressFamily(sock.family).name}, type: {socket.SocketKind(sock.type).name}")
    note(f"local: {address_of(sock.getsockname())}")
    try:
        note(f"peer: {address_of(sock.getpeername())}")
    except OSError as exc:
        note(f"peer: none ({exc})")
    note(f"timeout: {timeout}")
''')

helper("info_options", (), ("note", "option_value"), '''
def info_options(sock):
    """Each socket option `setsockopt` sets, as getsockopt reads it (`info -o`)."""
    for name, (_, _, constant, _) in OPTIONS.items():
        try:
            note(f"{constant}: {option_value(sock, name)}")
        except OSError:
            pass  # an option that does not apply here (TCP_NODELAY on UDP)
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

helper("recv_all", (), ("take", "text_out"), '''
def recv_all(sock, pending, out=None):
    """recv until end of stream (recv returns no data), in chunks: shown as they arrive, or
    written to out (a FileOut, opened before). Returns the number of bytes received."""
    out = TextOut() if out is None else out
    total = 0
    try:
        data = take(pending) or sock.recv(65536)  # nothing read earlier: the first recv
        while data:
            total += len(data)
            out.write(data)
            data = sock.recv(65536)
    finally:
        out.close()
    return total
''')

helper("search_by", ("signal", "time"), (), '''
def search(pattern, data, deadline):
    """pattern.search(data), ended at the deadline (TimeoutError) as netrepl ends it: a pattern
    that backtracks, such as /(a|aa)+b/, could search for longer than any timeout. A real-time
    alarm interrupts the search; none where the platform has no SIGALRM."""
    if deadline is None or not hasattr(signal, "setitimer"):
        return pattern.search(data)

    def alarm(signum, frame):
        raise TimeoutError("regex search past the deadline")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
    try:
        return pattern.search(data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
''')

helper("search_plain", (), (), '''
def search(pattern, data, deadline):
    """pattern.search(data): no expect of this program has a regex (search_by, in one that has,
    ends the search at the deadline)."""
    return pattern.search(data)
''')

helper("read_until", ("socket", "time"), ("take",), '''
WINDOW = 1 << 20  # bytes kept while waiting for a match, whatever the peer sends


def read_until(sock, pending, want, timeout, captured=None, whole_line=True):
    """Read until the bytes not yet shown contain want (bytes; a compiled bytes regex; or
    None: end of stream), within one overall timeout. Returns the bytes through the match
    and the rest of its line (through the match only with whole_line=False: `expect -m`),
    consumed, what was read past them staying in pending; or None (nothing consumed). A
    regex's named groups go into captured (a dict), as netrepl's expect sets $NAME."""
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
                match = search(want, pending, deadline)
                end = match.end() if match else None
                if match and captured is not None:
                    captured.update((name, bytes(value or b"")) for name, value in match.groupdict().items())
            if end is not None:
                if whole_line and want is not None and end and pending[end - 1] != 10 \\
                        and sock.type == socket.SOCK_STREAM:
                    end = line_end(sock, pending, end, deadline)
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


LINE_WAIT, LINE_REST = 0.1, 1 << 16


def line_end(sock, pending, end, deadline):
    """Where a match ending at end stops consuming, as netrepl's expect: through the end of its
    line if that arrives within LINE_WAIT (and the deadline), else through the match only."""
    stop = time.monotonic() + LINE_WAIT
    if deadline is not None:
        stop = min(stop, deadline)
    while (at := pending.find(b"\\n", end, end + LINE_REST)) < 0:
        if len(pending) - end >= LINE_REST or stop <= time.monotonic():
            return end
        sock.settimeout(stop - time.monotonic())
        try:
            chunk = sock.recv(min(1 << 18, end + LINE_REST - len(pending)))
        except TimeoutError:
            return end
        if not chunk:
            return end
        pending += chunk
    return at + 1
''')

helper("recv_exactly", ("time",), ("take", "show", "file_out"), '''
class EndOfStream(OSError):
    """End of stream came before the bytes asked for (netrepl's failure kind eof)."""


def recv_exactly(sock, pending, count, timeout, path=None):
    """recv until count bytes came, with ONE timeout for the whole read; end of stream first is
    EndOfStream. What came is shown (or written to the file at path, opened before any read),
    even before an error."""
    out = None if path is None else FileOut(path, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    data = take(pending, count)
    try:
        while len(data) < count:
            if deadline is not None:
                if deadline <= time.monotonic():
                    raise TimeoutError("timed out (the timeout is for the whole read)")
                sock.settimeout(deadline - time.monotonic())
            chunk = sock.recv(min(count - len(data), 1 << 20))
            if not chunk:
                raise EndOfStream(f"end of stream after {len(data)} of {count} bytes")
            data += chunk
    finally:
        sock.settimeout(timeout)
        output(data, out)
    return data


def output(data, out):
    """Received bytes shown on standard output, or written to out (a FileOut), which then closes."""
    if out is None:
        show(data)
        return
    try:
        out.write(data)
    finally:
        out.close()
''')

helper("recv_quiet", ("time",), ("take", "show", "note", "recv_exactly"), '''
def recv_quiet(sock, pending, quiet, timeout, path=None):
    """recv until the peer has sent nothing for quiet seconds (each recv may wait that long),
    or until end of stream. What came is shown (or written to the file at path, opened first)."""
    out = None if path is None else FileOut(path, timeout)
    data = take(pending)
    started = time.monotonic()
    sock.settimeout(quiet)
    try:
        while True:
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                note(f"received {len(data)} bytes, then the peer was quiet for {quiet} s "
                     f"(in all {time.monotonic() - started:.3f} s)")
                break
            if not chunk:
                note(f"received {len(data)} bytes until end of stream, before any {quiet} s pause")
                break
            data += chunk
    finally:
        sock.settimeout(timeout)
        output(data, out)
    return data
''')

helper("send_file", ("socket",), ("note", "file_bytes", "file_problem", "open_for_reading"), '''
def send_file(sock, path, timeout):
    """The file's bytes, raw: streamed in chunks of 128 KiB on a connection (sendall each), as
    ONE datagram on a UDP socket. Returns the number of bytes sent."""
    with file_step(path, open_for_reading, path, timeout) as f:
        if sock.type == socket.SOCK_DGRAM:
            total = sock.send(file_bytes(f, path))
        else:
            total = 0
            while chunk := file_step(path, f.read, 128 << 10):
                sock.sendall(chunk)
                total += len(chunk)
    note(f"sent {total} bytes from {path!r}")
    return total
''')

helper("file_bytes", ("errno",), ("file_problem",), '''
DATAGRAM_LIMIT = 65507  # the largest UDP payload over IPv4


def file_bytes(f, path):
    """A whole file as one datagram's payload: at most DATAGRAM_LIMIT bytes (more is FileProblem)."""
    data = file_step(path, f.read, DATAGRAM_LIMIT + 1)
    if len(data) > DATAGRAM_LIMIT:
        raise file_problem(OSError(errno.EMSGSIZE, f"it holds more than {DATAGRAM_LIMIT} bytes: one UDP "
                                                   "datagram carries at most that"), path)
    return data
''')

helper("capture_text", ("re",), (), '''
BACKSLASH = chr(92)
ESCAPED = {0x5C: BACKSLASH * 2, 0x0D: BACKSLASH + "r", 0x0A: BACKSLASH + "n", 0x09: BACKSLASH + "t"}


def capture_text(data):
    """A captured group as netrepl keeps it in $NAME: its bytes in netrepl's escapes (printable
    ASCII as it is but for backslash and dollar; CR, LF, tab and the other bytes escaped; a blank
    at either end escaped): language/escapes.py encode_escapes."""
    text = "".join(chr(b) if 0x20 <= b <= 0x7E and b not in (0x24, 0x5C) else
                   ESCAPED.get(b, f"{BACKSLASH}x{b:02x}") for b in data)
    if text.endswith(" "):
        text = text[:-1] + BACKSLASH + "x20"
    if text.startswith(" "):
        text = BACKSLASH + "x20" + text[1:]
    elif re.match("-[A-Za-z]( |$)", text):
        text = BACKSLASH + "x2d" + text[1:]
    elif re.match("<([ \\t]|$)", text):
        text = BACKSLASH + "x3c" + text[1:]
    return text
''')
