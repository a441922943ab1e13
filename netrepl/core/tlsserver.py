"""`tls --server`: the server side of a TLS handshake on the session socket.

On an accepted connection (or a connected one, to test a client that waits
for the other end to start), the session presents a certificate and key
(`set tls cert/key`, else the lab certificate the command layer passes in),
answers the client's ClientHello, and then reads and writes TLS records
through the same TlsSocket as the client side (core/tlssock.py), so every
command goes on working. `set tls alpn` is what it selects from (in its own
order of preference); `set tls client-cert request|require` asks for a
client certificate, verified against `set tls ca` (else the lab CA).

The report is the client's, seen from this side: version, cipher, the ALPN
protocol agreed, the SNI name the client sent (and whether it is NAME), the
client certificate (subject, issuer, validity, SHA-256, its verification)
and the handshake time. ssl is imported only when the command runs.
"""

from __future__ import annotations

import time

from netrepl.core.errors import classify, failure
from netrepl.core.results import Elapsed, Part, Result
from netrepl.core.sockstate import plural

CLIENT_CERT_MODES = ("off", "request", "require")


class ServerFacts:
    """What a server-side handshake established; what `info`, the state and `record` read."""

    insecure = False

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @property
    def short(self) -> str:
        return self.version.replace("TLSv", "")

    @property
    def name(self) -> str:
        # core/recorder.py writes `tls {name}` for a socket upgraded before `record`: this makes
        # that line `tls --server [NAME]`, which sets the same state up again.
        return "--server" + (f" {self.expected}" if self.expected else "")

    def state_word(self) -> str:
        return f"tls {self.short} (server side)"

    def fields(self) -> list[tuple[str, Part]]:
        rows: list[tuple[str, Part]] = [
            ("protocol", self.version),
            ("cipher", f"{self.cipher} ({self.bits} bits)"),
            ("alpn", self.alpn_words),
            ("sni", self.sni_words),
            ("our certificate", self.ours),
        ]
        if self.client is None:
            rows.append(("client cert", self.no_client_words))
        else:
            leaf = self.client
            rows += [
                ("client cert", leaf.subject),
                ("client issuer", leaf.issuer),
                ("client valid", f"{leaf.not_before} to {leaf.not_after}"),
                ("client sha256", ":".join(leaf.sha256[i:i + 2] for i in range(0, len(leaf.sha256), 2))),
                ("client chain", f"{plural(self.client_chain, 'certificate')} sent by the client"),
                ("client verify", self.client_verify),
            ]
        rows.append(("time", self.elapsed))
        return rows


def server_context(settings, cert: str, key: str | None, client_ca: str | None):
    """The server SSLContext for `set tls` settings. Raises OSError / ssl.SSLError / ValueError."""
    import os
    import ssl

    from netrepl.core import keylog

    logged = keylog.path_for(settings)  # KeylogError (a ValueError): a symlink, a file that cannot be opened
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    keylog.apply(ctx, logged)
    ctx.load_cert_chain(os.path.expanduser(cert), os.path.expanduser(key) if key else None)
    if settings.alpn:
        ctx.set_alpn_protocols(list(settings.alpn))
    from netrepl.core import tlscontrols

    tlscontrols.apply(ctx, settings)  # ciphers, min and max versions
    mode = getattr(settings, "client_cert", "off")
    if mode != "off":
        ctx.verify_mode = ssl.CERT_REQUIRED if mode == "require" else ssl.CERT_OPTIONAL
        ca = os.path.expanduser(client_ca) if client_ca else None
        if ca and os.path.isdir(ca):
            ctx.load_verify_locations(capath=ca)
        elif ca:
            ctx.load_verify_locations(cafile=ca)
        else:
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return ctx


def _accept(sock, context, timeout):
    """The server side of the handshake over memory BIOs under one deadline (a TlsSocket)."""
    import ssl

    from netrepl.core import tlssock

    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_side=True)
    self = tlssock.TlsSocket(sock, obj, incoming, outgoing)
    try:
        self.handshake(timeout, "the client closed the connection without sending a ClientHello")
        return self
    except TimeoutError:
        if self.seen and not tlssock._is_tls_record(self.seen):
            raise tlssock.converted(ssl.SSLError(1, "no TLS answer"), bytes(self.seen)) from None
        raise TimeoutError(f"no TLS handshake within {timeout:g} s"
                           + (" (the client sent nothing: is it waiting for us? a TLS client speaks first)"
                              if not self.seen else "")) from None
    except ssl.SSLError as exc:
        try:  # our alert (a bad ClientHello, a refused client certificate) still goes to the client
            self._flush()
        except OSError:
            pass
        raise _server_words(tlssock.converted(exc, bytes(self.seen)), exc) from None
    finally:
        sock.settimeout(timeout)


def _server_words(err, exc):
    """What the client did, in the words of this side (converted() speaks of "the peer" as a server)."""
    import ssl

    from netrepl.core.errors import TlsFailure

    if not isinstance(err, TlsFailure):
        return err
    reason = getattr(exc, "reason", None) or ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        err.message = f"the client's certificate did not verify: {exc.verify_message} (code {exc.verify_code})"
    elif reason == "NO_SHARED_CIPHER":
        err.message = "no cipher suite in common with the client (NO_SHARED_CIPHER; see `set tls ciphers`)"
    elif "NO_APPLICATION_PROTOCOL" in reason:
        err.message = "the client offered no ALPN protocol that `set tls alpn` selects (NO_APPLICATION_PROTOCOL)"
    elif reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        err.message = ("the client sent no certificate and `set tls client-cert require` wants one "
                       "(PEER_DID_NOT_RETURN_A_CERTIFICATE)")
    elif reason in ("UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER") and not err.message.startswith("the peer answered"):
        err.message = f"the client offered no protocol version this side accepts ({reason}; see `set tls min/max`)"
    elif err.message.startswith("the peer answered in plaintext"):
        err.message = err.message.replace("the peer answered in plaintext, not TLS", "the client sent plaintext, "
                                          "not a TLS ClientHello", 1)
    elif reason in ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"):
        err.message += (": the client does not trust our certificate (the lab certificate's CA is $lab_ca; "
                        "`set tls cert/key` serves another)")
    return err


def server_handshake(session, expected: str | None, settings, cert: str, key: str | None,
                     client_ca: str | None, default_cert: bool) -> Result:
    """`tls --server [NAME]` on the session's connected TCP socket, upgrading it in place. Never raises."""
    s = session
    if s.transport is None:
        return s._no_socket("tls")
    if not s.stream:
        return s._fail(failure("state", "tls", "TLS needs a TCP connection (DTLS over UDP is not supported)"))
    if not s.connected:
        return s._fail(failure("state", "tls", "the socket is not connected: `listen` and `accept` (or `connect`) "
                                               "first"))
    if s.tls is not None:
        return s._fail(failure("state", "tls", f"the connection already speaks TLS ({s.tls.version}); "
                                               "one handshake per connection"))
    if s.lost or s.peer_eof or s.wr_shut or s.rd_shut:
        return s._fail(failure("state", "tls", f"the connection cannot start TLS in this state ({s.state()})"))
    import ssl

    from netrepl.core import tlsfacts

    result = s._result()
    if len(s.buffer):
        dropped = s.buffer.take()
        result.say(f"warning: {plural(len(dropped))} received in plaintext before the handshake and not consumed "
                   "were discarded, not mixed into the TLS stream: " + tlsfacts.quote(dropped))
    try:
        context = server_context(settings, cert, key, client_ca)
    except (OSError, ssl.SSLError, ValueError) as exc:
        from netrepl.core.keylog import KeylogError

        if isinstance(exc, KeylogError):
            return s._fail(failure("file", "tls", f"the key log cannot be used: {exc}"), result)
        what = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        return s._fail(failure("file", "tls", f"the server certificate or key cannot be used: {what} "
                                              f"(`set tls cert FILE`, `set tls key FILE`)",
                               getattr(exc, "errno", None)), result)
    sni: list[str] = []
    def heard(obj, name, ctx):  # the name the client sent (SNI), for the report
        sni.append(name)

    context.sni_callback = heard
    started = time.perf_counter()
    try:
        sock = _accept(s.transport.sock, context, s.timeout)
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "tls")
        s.close_quietly()
        result.say("the handshake did not finish, so the connection can carry neither plaintext nor TLS: "
                   "closed it")
        return s._fail(err, result)
    elapsed = time.perf_counter() - started
    s.transport.wrap(lambda raw: sock)
    s.tls = _facts(sock, expected, sni[0] if sni else None, settings, cert, default_cert, Elapsed(elapsed))
    version = s.tls.short
    result.say(f"TLS {version} handshake as the server done in ", Elapsed(elapsed), f": {s.tls.cipher}")
    result.fields = s.tls.fields()
    result.state = s.state()
    return result


def _facts(sock, expected, sni, settings, cert, default_cert, elapsed) -> ServerFacts:
    from netrepl.core.tlsfacts import Cert

    obj = sock.obj
    cipher, _, bits = obj.cipher()
    alpn = obj.selected_alpn_protocol()
    if alpn:
        alpn_words = f"{alpn} (selected from what the client offered)"
    elif settings.alpn:
        alpn_words = "none agreed (the client offered no ALPN, or none of " + ", ".join(settings.alpn) + ")"
    else:
        alpn_words = "none (`set tls alpn` selects nothing)"
    if sni is None:
        sni_words = "not sent by the client"
    elif expected is None:
        sni_words = sni
    elif sni.lower().rstrip(".") == expected.lower().rstrip("."):
        sni_words = f"{sni} (as expected)"
    else:
        sni_words = f"{sni} (NOT {expected}, the name expected)"
    chain = client_chain(sock)
    client = Cert(chain[0]) if chain else None
    mode = getattr(settings, "client_cert", "off")
    ours = os_name(cert) + (" (the lab certificate: trust $lab_ca)" if default_cert else "")
    return ServerFacts(
        version=obj.version(), cipher=cipher, bits=bits, alpn_words=alpn_words, sni_words=sni_words,
        expected=expected, ours=ours, client=client, client_chain=len(chain) if client else 0,
        client_verify="ok (against " + (settings.ca or "the lab CA") + ")" if client else "",
        no_client_words="none (not asked for: `set tls client-cert request` asks)" if mode == "off"
        else "none (asked for; the client sent none)", elapsed=elapsed)


def client_chain(sock) -> list:
    """The chain the client sent, leaf first (3.11: the private get_unverified_chain, which on the
    server side may leave the leaf out: it is put back from getpeercert)."""
    from netrepl.core.tlsfacts import Cert

    chain = sock.chain()
    der = sock.obj.getpeercert(binary_form=True)
    if der is None:
        return []
    leaf = _Verified(der, sock.obj.getpeercert())
    if not chain or Cert(chain[0]).sha256 != Cert(leaf).sha256:
        chain.insert(0, leaf)
    return chain


class _Verified:
    """A verified peer certificate as tlsfacts.Cert reads one: its DER and OpenSSL's parse of it."""

    def __init__(self, der: bytes, info: dict):
        self.der, self.info = der, info or {}

    def public_bytes(self, encoding) -> bytes:
        return self.der

    def get_info(self) -> dict:
        return self.info


def os_name(path: str) -> str:
    import os

    return os.path.basename(path)
