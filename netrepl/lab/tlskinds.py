"""The TLS lab kinds: the server side of TLS (contexts, certificates, close_notify) and the implicit-TLS handlers.

https, tls-echo and the certificate faults (tls-expired, tls-self-signed,
tls-wrong-host, tls-unknown-ca) wrap each accepted connection with TLS
through LabServer's `wrap=` seam (kinds.py names `wrapper` below as their
`wrap`); the STARTTLS kinds (starttlskinds.py) call `upgrade` in the middle
of their dialogue instead.

The certificates are fixed, lab-only files in certs/ (scripts/make_lab_certs.py
made them; certs/README.txt says why): the same fingerprints every run, a CA
path (`$lab_ca`) that never changes, no certificate generation at start-up.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

from netrepl.lab import http
from netrepl.lab.handlers import LINGER_MAX, LINGER_TIMEOUT

CERTS = Path(__file__).resolve().parent / "certs"
CA = CERTS / "ca.pem"  # the lab CA: `set tls ca $lab_ca` trusts it
KEY = CERTS / "lab.key"  # one public, lab-only key for every lab certificate
HANDSHAKE_TIMEOUT = 10.0  # seconds for a client's whole TLS handshake (then the idle timeout again)
# kind -> the certificate chain it presents
CHAINS = {
    "https": "localhost.pem", "tls-echo": "localhost.pem",
    "tls-expired": "expired.pem", "tls-self-signed": "self-signed.pem",
    "tls-wrong-host": "wrong-host.pem", "tls-unknown-ca": "unknown-ca.pem",
    "smtp": "localhost.pem", "imap": "localhost.pem", "pop3": "localhost.pem",
    "ftp": "localhost.pem", "postgres": "localhost.pem",
}
ALPN = {"https": ["http/1.1"]}  # what the kind agrees to if the client offers it
_contexts: dict[str, ssl.SSLContext] = {}


def context(kind: str) -> ssl.SSLContext:
    """The server context of KIND (built once): TLS 1.2 and 1.3, its certificate chain and the lab key."""
    ctx = _contexts.get(kind)
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(CERTS / CHAINS.get(kind, "localhost.pem"), KEY)
        if kind in ALPN:
            ctx.set_alpn_protocols(ALPN[kind])
        ctx = _contexts.setdefault(kind, ctx)  # two threads may build one: both use the first
    return ctx


def wrap(conn: socket.socket, kind: str) -> ssl.SSLSocket:
    """`conn` as the server side of TLS. The handshake itself runs in the handler's first
    read (OpenSSL's SSL_read does it), so stop() can already shut the TLS socket down."""
    return context(kind).wrap_socket(conn, server_side=True, do_handshake_on_connect=False)


def handshake(tls: ssl.SSLSocket, idle: float | None) -> None:
    """The server side of the handshake, within HANDSHAKE_TIMEOUT; then the idle timeout again."""
    tls.settimeout(HANDSHAKE_TIMEOUT)
    try:
        tls.do_handshake()
    except AttributeError:
        # stop() closed the TLS socket from its thread while this one was in the handshake:
        # ssl.py then finds no SSL object (_sslobj is None). A stop, not a bug: said as the
        # OSError _serve_conn expects, never a thread's traceback on the terminal.
        raise ConnectionAbortedError("the lab server stopped during the TLS handshake") from None
    tls.settimeout(idle)


def wrapper(server):
    """The `wrap=` of an implicit-TLS kind: callable(conn) -> the TLS socket (kinds.py names it)."""
    def wrap_conn(conn: socket.socket) -> ssl.SSLSocket:
        return wrap(conn, server.kind)
    return wrap_conn


def upgrade(conn: socket.socket, server) -> ssl.SSLSocket | None:
    """STARTTLS on the server side: wrap `conn`, make it the one stop() shuts down, handshake.
    None if the server is stopping (the caller just returns)."""
    tls = wrap(conn, server.kind)
    if not server.swap(conn, tls):
        tls.close()
        return None
    handshake(tls, server.idle_timeout)
    return tls


def close_notify(conn: ssl.SSLSocket) -> None:
    """End a TLS connection cleanly: our close_notify, then the client's (or its EOF),
    within LINGER_TIMEOUT and LINGER_MAX bytes (a client streaming at us cannot keep the thread).

    Without it (a bare shutdown or close) the client sees a truncation: the connection
    dropped without close_notify, which is what an attacker cutting it would look like.
    """
    deadline, budget = time.monotonic() + LINGER_TIMEOUT, LINGER_MAX
    conn.settimeout(LINGER_TIMEOUT)
    try:
        raw = conn.unwrap()  # sends close_notify, waits for the client's
    except ssl.SSLError:  # the client sent more data, or dropped the connection: drain in plaintext terms
        raw = conn
    except (OSError, ValueError):  # ValueError: stop() already shut the connection down (no TLS layer left)
        return
    try:
        raw.shutdown(socket.SHUT_WR)
        while budget > 0 and (left := deadline - time.monotonic()) > 0:
            raw.settimeout(left)
            chunk = raw.recv(min(65536, budget))
            if not chunk:
                return
            budget -= len(chunk)
    except OSError:
        pass


# ----- implicit-TLS handlers ------------------------------------------------------

def https(conn: ssl.SSLSocket, server) -> None:
    """The http kind over TLS: one request (head within http.HEAD_TIMEOUT, handshake included), one answer."""
    try:
        head = http.read_head(conn, time.monotonic() + http.HEAD_TIMEOUT)
    except TimeoutError:
        head = 408
    if head == b"":
        close_notify(conn)
        return
    conn.settimeout(http.SEND_TIMEOUT)
    conn.sendall(http.response(head, server.root or http.SITE))
    close_notify(conn)


def tls_echo(conn: ssl.SSLSocket, server) -> None:
    """Sends back everything it receives over TLS, until the client's close_notify (or EOF)."""
    handshake(conn, server.idle_timeout)
    while data := conn.recv(65536):
        conn.sendall(data)
    close_notify(conn)
