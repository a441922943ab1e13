"""The one table of lab server kinds: name, one-line help, transports, handlers.

A floor below language/ (it was lab/kinds.py): the script checker knows which kinds set
$lab_ca from it, and the layers import only downward. lab/kinds.py names it for lab/'s users.

The CLI (`netrepl serve KIND`), the registry (`serve KIND [PORT] [PROTO]`)
and the lab server all read this table, so a new kind is one entry here plus
its handler module. It is imported on the start-up path of every `netrepl -c`
run (the registry needs the names), so it imports nothing: handlers are named
as "module:function" strings that only the server resolves (server.handler_for),
which keeps threading, mimetypes, pathlib and urllib off that path
(tests/test_imports.py checks).

Handler contracts (see server.py for the seam):
  tcp   handler(conn, server) -> None, run in the connection's own thread; the
        server closes `conn` afterwards.
  udp   handler(data, server) -> bytes | None, run in the receive loop; the
        reply (if any) goes back to the sender.
  busy  busy(conn) -> None, optional, run in the accept loop for a connection
        over the server's cap: must not block (http sends a 503 there).
"""

from __future__ import annotations

import os  # already imported by the interpreter itself: free

# The lab CA (lab-only, shipped in the package): what `set tls ca $lab_ca` trusts.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # netrepl/, above base/
LAB_CA = os.path.join(_PACKAGE, "lab", "certs", "ca.pem")

# Limits against hostile clients, here so `help serve` can state them without
# importing the server. server.py and http.py use them as their defaults.
MAX_CONNECTIONS = 64  # open connections per server; more are closed at once (http: 503 first)
IDLE_TIMEOUT = 60.0  # seconds a connection may sit with nothing received or sent (silent, echo, ...)
HTTP_HEAD_TIMEOUT = 10.0  # seconds, in all, for an http request head to arrive

_HANDLERS = "netrepl.lab.handlers"
_HTTP = "netrepl.lab.http"
_TLS = "netrepl.lab.tlskinds"
_STARTTLS = "netrepl.lab.starttlskinds"


class LabKind:
    """One kind of lab server: what `help serve` says and which handler serves each transport."""

    __slots__ = ("name", "help", "handlers", "busy", "wrap")

    def __init__(self, name: str, help: str, tcp: str, udp: str | None = None, busy: str | None = None,
                 wrap: str | None = None):
        # wrap: "module:function" taking the server, giving LabServer's wrap= (TLS kinds)
        self.name, self.help, self.busy, self.wrap = name, help, busy, wrap
        self.handlers = {"tcp": tcp} if udp is None else {"tcp": tcp, "udp": udp}

    @property
    def transports(self) -> tuple[str, ...]:
        return tuple(self.handlers)

    def __repr__(self) -> str:
        return f"LabKind({self.name!r}, transports={self.transports})"


# In the order `help serve` and the CLI list them.
TABLE: tuple[LabKind, ...] = (
    LabKind("echo", "sends back everything it receives",
            f"{_HANDLERS}:echo", f"{_HANDLERS}:echo_datagram"),
    LabKind("http", "a minimal HTTP/1.0 server for a tiny built-in site (or a directory)",
            f"{_HTTP}:serve", busy=f"{_HTTP}:busy"),
    LabKind("discard", "reads and drops everything (RFC 863)",
            f"{_HANDLERS}:discard", f"{_HANDLERS}:discard_datagram"),
    LabKind("daytime", "sends the time as one line, then closes (RFC 867)",
            f"{_HANDLERS}:daytime", f"{_HANDLERS}:daytime_datagram"),
    LabKind("chargen", "sends a rotating pattern of printable characters until stopped (RFC 864)",
            f"{_HANDLERS}:chargen", f"{_HANDLERS}:chargen_datagram"),
    LabKind("close", "accepts, then closes at once (the client sees EOF)", f"{_HANDLERS}:close"),
    LabKind("reset", "accepts, then aborts with an RST (the client sees ECONNRESET)", f"{_HANDLERS}:reset"),
    LabKind("silent", "accepts and never answers", f"{_HANDLERS}:silent"),
    LabKind("slow", "sends a short text one byte at a time, then closes", f"{_HANDLERS}:slow"),
    # TLS (certificates: lab/certs/, lab-only; `set tls ca $lab_ca` trusts the lab CA).
    LabKind("https", "the http site over TLS (a certificate for localhost from the lab CA)",
            f"{_TLS}:https", wrap=f"{_TLS}:wrapper"),
    LabKind("tls-echo", "echo over TLS", f"{_TLS}:tls_echo", wrap=f"{_TLS}:wrapper"),
    LabKind("tls-expired", "https with an expired certificate (verify code 10)",
            f"{_TLS}:https", wrap=f"{_TLS}:wrapper"),
    LabKind("tls-self-signed", "https with a self-signed certificate (verify code 18)",
            f"{_TLS}:https", wrap=f"{_TLS}:wrapper"),
    LabKind("tls-wrong-host", "https with a certificate for wrong-host.invalid (hostname mismatch, 62)",
            f"{_TLS}:https", wrap=f"{_TLS}:wrapper"),
    LabKind("tls-unknown-ca", "https with a certificate from a CA nobody trusts (verify code 19)",
            f"{_TLS}:https", wrap=f"{_TLS}:wrapper"),
    LabKind("smtp", "an SMTP server offering STARTTLS (EHLO, STARTTLS, QUIT)", f"{_STARTTLS}:smtp"),
    LabKind("smtp-inject", "smtp that sends a plaintext line right after its STARTTLS 220 (an injection)",
            f"{_STARTTLS}:smtp_inject"),
    LabKind("imap", "an IMAP server offering STARTTLS (a001 CAPABILITY, a002 STARTTLS, a003 LOGOUT)",
            f"{_STARTTLS}:imap"),
    LabKind("pop3", "a POP3 server offering STLS (CAPA, STLS, QUIT)", f"{_STARTTLS}:pop3"),
    LabKind("ftp", "an FTP control connection offering AUTH TLS (FEAT, AUTH TLS, QUIT)", f"{_STARTTLS}:ftp"),
    LabKind("postgres", "answers PostgreSQL's SSLRequest with 'S' and TLS, then refuses the login",
            f"{_STARTTLS}:postgres"),
    LabKind("socks5", "a SOCKS5 proxy to loopback targets only (user lab, password lab if asked)",
            "netrepl.lab.proxykinds:socks5"),
    LabKind("http-proxy", "an HTTP CONNECT proxy to loopback targets only", "netrepl.lab.proxykinds:http_proxy"),
    LabKind("replay", "acts as the peer a `record -p` recording talked to (`serve replay FILE.nrs [PORT]`)",
            "netrepl.lab.replay:serve"),
)
BY_NAME: dict[str, LabKind] = {kind.name: kind for kind in TABLE}
# The kinds that speak TLS (right away, or after their STARTTLS): `serve` sets $lab_ca for them.
TLS_KINDS: frozenset[str] = frozenset(kind.name for kind in TABLE if kind.handlers["tcp"].startswith(
    (_TLS + ":", _STARTTLS + ":")))
PROTOS: tuple[str, ...] = ("tcp", "udp")

# name -> help, and the kinds with a UDP variant (what older callers import).
KINDS: dict[str, str] = {kind.name: kind.help for kind in TABLE}
UDP_KINDS: frozenset[str] = frozenset(kind.name for kind in TABLE if "udp" in kind.handlers)


# Lab clients (`client KIND PORT|PATH`, lab/client.py): what each sends to netrepl's own `listen`.
CLIENTS: dict[str, tuple[str, bytes]] = {
    "http": ("sends an HTTP/1.0 GET request, then reads the reply until the server closes",
             b"GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: netrepl-lab-client\r\n\r\n"),
    "line": ("sends one line, then reads until the server closes", b"hello from the netrepl lab client\r\n"),
    "quiet": ("sends nothing, reads until the server closes", b""),
    # Over TLS (lab/client.py): for `tls --server`, verifying the lab certificate (name localhost).
    "https": ("TLS (trusting the lab CA, name localhost), then an HTTP/1.0 GET; reads until the server closes",
              b"GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: netrepl-lab-client\r\n\r\n"),
    "tls-line": ("TLS (trusting the lab CA, name localhost), then one line; reads until the server closes",
                 b"hello from the netrepl lab client over TLS\r\n"),
}
TLS_CLIENTS = frozenset({"https", "tls-line"})  # the lab clients that start with a TLS handshake


def kind_names() -> tuple[str, ...]:
    return tuple(BY_NAME)


def udp_kinds() -> tuple[str, ...]:
    """The kinds that also work over UDP, in table order."""
    return tuple(kind.name for kind in TABLE if "udp" in kind.handlers)


def kind_help(name: str) -> str:
    return BY_NAME[name].help


def details() -> str:
    """Every kind with its help and the limits, for `help serve`."""
    kinds = "; ".join(f"{kind.name}: {kind.help}" for kind in TABLE)
    return (f"Kinds: {kinds}. Over UDP: {', '.join(udp_kinds())}. Limits: {MAX_CONNECTIONS} connections "
            f"at once per server (one more is closed at once; http answers it 503 first), "
            f"{IDLE_TIMEOUT:g} s idle per connection, {HTTP_HEAD_TIMEOUT:g} s in all for an http request head.")


def check_kind(kind: str, proto: str = "tcp") -> str | None:
    """None if KIND can be served over PROTO, else the message saying why not."""
    entry = BY_NAME.get(kind)
    if entry is None:
        return f"unknown server kind {kind!r}; valid kinds: {', '.join(BY_NAME)}"
    if proto not in PROTOS:
        return f"unknown protocol {proto!r}; use {' or '.join(PROTOS)}"
    if proto not in entry.handlers:
        only = "/".join(entry.handlers).upper()
        others = ", ".join(k.name for k in TABLE if proto in k.handlers)
        return f"{kind} has no {proto.upper()} variant (it is {only}-only); kinds that work over {proto.upper()}: {others}"
    return None


def handler_ref(kind: str, proto: str) -> str:
    """The "module:function" serving KIND over PROTO (check_kind first)."""
    return BY_NAME[kind].handlers[proto]
