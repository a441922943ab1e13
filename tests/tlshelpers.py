"""TLS servers for the tests: Python `ssl` servers on loopback with trustme certificates.

`Certs` makes a CA and the certificates of each fault (self-signed, another CA,
expired, wrong name, hostile fields) in a temp dir; `TlsServer` accepts TCP
connections in a thread and runs `handler(conn)` on each, where conn is the plain
TCP socket (a STARTTLS server speaks first) and `server.wrap(conn)` does the
server side of the handshake.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import trustme


class Certs:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.ca = trustme.CA()
        self.ca_file = str(tmp_path / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.good = self.ca.issue_cert("localhost", "127.0.0.1", common_name="localhost")
        self.client = self.ca.issue_cert("client.test", common_name="netrepl test client")
        self.client_file = str(tmp_path / "client.pem")
        self.client.private_key_and_cert_chain_pem.write_to_path(self.client_file)

    def expired(self):
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        return self.ca.issue_cert("localhost", "127.0.0.1", not_before=past - datetime.timedelta(days=30),
                                  not_after=past)

    def other_ca(self):
        return trustme.CA().issue_cert("localhost", "127.0.0.1")

    def wrong_name(self):
        return self.ca.issue_cert("other.test", "127.0.0.9")

    def hostile(self):
        return self.ca.issue_cert("localhost", common_name="evil\x1b[2J\x1b]0;pwned\x07\u202e",
                                  organization_name="O\x1b[31mred\r\nInjected: yes")

    def context(self, leaf=None, *, self_signed=False, min_version=None, max_version=None, alpn=None,
                client_ca=False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self_signed:  # an untrusted CA's own certificate as a server certificate: self-signed, depth 0
            path = self.dir / "selfsigned.pem"
            own = trustme.CA()
            path.write_bytes(own.private_key_pem.bytes() + own.cert_pem.bytes())
            ctx.load_cert_chain(str(path))
        else:
            (leaf or self.good).configure_cert(ctx)
        if min_version:
            ctx.minimum_version = min_version
        if max_version:
            ctx.maximum_version = max_version
        if alpn:
            ctx.set_alpn_protocols(alpn)
        if client_ca:
            self.ca.configure_trust(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


class TlsServer:
    """Accepts on 127.0.0.1 and runs `handler(server, conn)` for each connection in a thread."""

    def __init__(self, context: ssl.SSLContext | None, handler):
        self.context = context
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list = []
        self.errors: list[BaseException] = []
        self.events: list = []  # what handlers saw, for assertions
        self.sni: list = []
        if context is not None:
            context.sni_callback = lambda obj, name, ctx: self.sni.append(name)
        threading.Thread(target=self._loop, daemon=True).start()

    def wrap(self, conn):
        tls = self.context.wrap_socket(conn, server_side=True)
        self.conns.append(tls)
        return tls

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(20)
            self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(self, conn)
        except (OSError, ValueError) as exc:
            self.errors.append(exc)

    def close(self):
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


def echo_lines(server, conn):
    """Implicit TLS: answer each line with `echo: LINE`, close cleanly (close_notify) on `bye`."""
    tls = server.wrap(conn)
    server.events.append(("peer cert", tls.getpeercert()))
    reader = tls.makefile("rb")
    for line in reader:
        if line.strip() == b"bye":
            tls.sendall(b"bye\r\n")
            tls.unwrap()
            break
        tls.sendall(b"echo: " + line)
    conn.close()


def send_then(data: bytes, clean: bool):
    """Implicit TLS: send `data` on connect, then end with close_notify (clean) or a bare TCP close."""
    def handler(server, conn):
        tls = server.wrap(conn)
        tls.sendall(data)
        if clean:
            tls.unwrap().close()
        else:
            raw = socket.socket(fileno=tls.detach())
            raw.close()
    return handler
