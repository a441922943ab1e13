"""The helper functions an exported program may need for Unix socket names, the server
side (listen, accept, lab clients) and name lookups (resolve, reverse), as source text
in prelude.py's table; the program includes only those it uses.
"""

from __future__ import annotations

from netrepl.export.prelude import helper

helper("unix_name", (), (), '''
def unix_name(address):
    """A Unix socket address as netrepl writes it: the path, or @NAME for a name in Linux's
    abstract namespace (whose address starts with a NUL byte)."""
    if isinstance(address, bytes):
        address = address.decode("utf-8", "surrogateescape")
    return "@" + address[1:] if address.startswith("\\0") else address
''')

helper("unix_address", (), (), '''
def unix_address(name):
    """A Unix socket name as netrepl writes it (a path, or @NAME) -> what bind and connect take:
    the path, or "\\0NAME" (an abstract name); "" for @ alone (the kernel picks a name)."""
    if name.startswith("@"):
        return "\\0" + name[1:] if name[1:] else ""
    return name
''')

helper("connect_unix", ("socket",), ("note", "unix_name"), '''
def connect_unix(address, timeout):
    """A Unix stream socket connected to address (closed again when the connect fails)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    note(f"connected to {unix_name(address)!r}")
    return sock
''')

helper("remove_stale", ("os", "socket", "stat"), ("note",), '''
def remove_stale(address, kind):
    """Before binding a socket file: one nothing listens on any more (a connect is refused) is
    removed; a live one, or a file that is no socket, stays (bind then fails: EADDRINUSE)."""
    if not address or address.startswith("\\0"):
        return  # an abstract name: no file
    try:
        if not stat.S_ISSOCK(os.lstat(address).st_mode):
            return
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, kind) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(address)
        except ConnectionRefusedError:
            os.unlink(address)
            note(f"removed a stale socket file at {address!r} (nothing listened on it)")
        except OSError:
            pass
''')

helper("remove_socket_file", ("os",), (), '''
def remove_socket_file(address):
    """The socket file a bind made, removed when its socket closes (an abstract name has none)."""
    if address and not address.startswith("\\0"):
        try:
            os.unlink(address)
        except FileNotFoundError:
            pass
''')

helper("listen", ("socket",), ("note",), '''
BACKLOG = 16  # clients the kernel queues for accept


def listen(host, port):
    """A TCP listening socket on host, port (the first address getaddrinfo gives; port 0: the
    OS picks a free one), with SO_REUSEADDR so a port in TIME_WAIT can be reused."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                                         0, socket.AI_PASSIVE)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    note(f"listening on {listener.getsockname()[:2]} (tcp, backlog {BACKLOG})")
    return listener
''')

helper("listen_unix", ("socket",), ("note", "unix_name", "remove_stale", "listen"), '''
def listen_unix(address):
    """A Unix stream listening socket on a path ("\\0NAME": an abstract name; "": the kernel
    picks one); a stale socket file there is replaced first."""
    remove_stale(address, socket.SOCK_STREAM)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    note(f"listening on {unix_name(listener.getsockname())!r} (unix stream, backlog {BACKLOG})")
    return listener
''')

helper("stop_listening", ("socket",), ("note", "remove_socket_file"), '''
def stop_listening(listener):
    """Close the listener; the socket file of a Unix one is removed."""
    address = listener.getsockname() if listener.family == socket.AF_UNIX else None
    listener.close()
    if isinstance(address, str):
        remove_socket_file(address)
    note("stopped listening")
''')

helper("accept", ("socket",), ("note", "unix_name"), '''
def accept(listener, timeout):
    """Wait (at most timeout) for one client: its connection is the new session socket."""
    listener.settimeout(timeout)
    sock, address = listener.accept()
    sock.settimeout(timeout)
    peer = address[:2] if isinstance(address, tuple) else repr(unix_name(address) or "(an unnamed socket)")
    note(f"accepted a connection from {peer}")
    return sock
''')

helper("lab_client", ("socket", "threading"), ("note",), '''
class LabClient:
    """netrepl's lab client (`client KIND`): connects at once (the listener's backlog holds the
    connection until accept), then in a thread sends its request and reads the reply until
    the server closes."""

    def __init__(self, request, family, address):
        self.request, self.received = request, bytearray()
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(30.0)
        try:
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise
        self.thread = threading.Thread(target=self.talk, daemon=True)
        self.thread.start()

    def talk(self):
        try:
            self.sock.sendall(self.request)
            while chunk := self.sock.recv(65536):
                self.received += chunk[:65536 - len(self.received)]
        except OSError:
            pass
        finally:
            self.sock.close()

    def describe(self):
        first = bytes(self.received).split(b"\\n", 1)[0][:200]
        return f"lab client: received {len(self.received)} bytes; first line {first!r}"

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv
        except OSError:
            pass
        self.thread.join(1.0)


def lab_client(request, port, listener):
    """Start a lab client sending request to our listener (port None); to a Unix socket (port
    a path or "\\0NAME"); or to a port: the listener's own address when it is the listener's
    port, else 127.0.0.1 port."""
    if isinstance(port, str):
        family, address = socket.AF_UNIX, port
    elif listener is not None and (port is None or listener.family != socket.AF_UNIX
                                   and listener.getsockname()[1] == port):
        family, address = listener.family, listener.getsockname()
    else:
        family, address = socket.AF_INET, ("127.0.0.1", port)
    client = LabClient(request, family, address)
    note(f"started a lab client connected to {address!r}")
    return client
''')

helper("resolve", ("socket",), ("note",), '''
def resolve(host, port, family, kind):
    """getaddrinfo as connect calls it: every answer, in the order connect tries them."""
    answers = socket.getaddrinfo(host, port, family, kind, 0, socket.AI_CANONNAME)
    note(f"getaddrinfo {host!r} port {port!r}: {len(answers)} address(es)")
    for number, (found, socktype, _, canonical, address) in enumerate(answers, 1):
        note(f"  {number}  {socket.AddressFamily(found).name}  {socket.SocketKind(socktype).name}  {address[:2]}")
    return answers
''')

helper("reverse", ("socket",), ("note",), '''
def reverse(address):
    """gethostbyaddr: the name of an address (none: socket.herror)."""
    name, aliases, addresses = socket.gethostbyaddr(address)
    note(f"gethostbyaddr({address!r}): {name!r}" + (f", aliases {aliases!r}" if aliases else ""))
    return name
''')
