"""TLS on the session socket: the `set tls` settings and THE handshake (`tls`, `starttls`).

`handshake(session, server_name, insecure, settings)` upgrades the connected
TCP session socket in place (implicit TLS right after `connect`, or after a
STARTTLS exchange typed by hand or done by `starttls`) and returns a Result
with the handshake facts (core/tlsfacts.py says them). The session's
transport then reads and writes TLS records (core/tlssock.py), so every
command goes on working over TLS.

ssl is imported inside the functions that need it, never at module level:
this module is imported with the session, on the start-up path of every
`netrepl -c` and script, and `ssl` (with its OpenSSL load) costs milliseconds
there that a script without TLS should not pay (tests/test_imports.py).
"""

from __future__ import annotations

import time

from netrepl.core.errors import classify, failure
from netrepl.core.results import Elapsed, Endpoint, Result
from netrepl.core.sockstate import plural

VERSIONS = ("1.2", "1.3")


def script_word(text: str) -> str:
    """`text` as one word of a script line that reads back as `text` (language/tokens.py): single
    quotes keep blanks, `#` and `$` as they are; a `'` goes in double quotes (where only `$` would
    expand, and it has none)."""
    if text and not any(ch in text for ch in " \t\"'$#"):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


class TlsSettings:
    """What `set tls ...` set: CA to trust, ALPN, client certificate, versions, SNI.

    The SSLContext made from them is kept (so a second handshake with the same
    settings can resume a session: `session reuse` in the report) until a
    setting changes.
    """

    def __init__(self) -> None:
        self.ca: str | None = None  # a CA file or directory trusted instead of the system store
        self.alpn: tuple[str, ...] = ()
        self.cert: str | None = None
        self.key: str | None = None
        self.min_version: str | None = None  # "1.2" / "1.3"; None: OpenSSL's default
        self.max_version: str | None = None
        self.sni = True
        self.client_cert = "off"  # `tls --server`: off, request or require a client certificate
        self.ciphers: str | None = None  # OpenSSL cipher string (TLS 1.2 and below); None: OpenSSL's default
        self.keylog: str | None = None  # core/keylog.py: a file (None: SSLKEYLOGFILE if set; "": no key log)
        self._contexts: dict = {}
        self.sessions: dict = {}  # (host, port, name) -> ssl.SSLSession, for resumption

    def changed(self) -> None:
        self._contexts.clear()
        self.sessions.clear()

    def lines(self) -> list[str]:
        """`set tls` lines that make these settings again (for `record`)."""
        out = []
        if self.ca is not None:
            out.append(f"set tls ca {script_word(self.ca)}")
        if self.alpn:
            out.append("set tls alpn " + ",".join(self.alpn))
        if self.cert is not None:
            out.append(f"set tls cert {script_word(self.cert)}")
        if self.key is not None:
            out.append(f"set tls key {script_word(self.key)}")
        if self.ciphers:  # before min/max: a lowered security level is what lets TLS 1.0/1.1 be set
            out.append(f"set tls ciphers {self.ciphers}")
        if self.min_version:
            out.append(f"set tls min {self.min_version}")
        if self.max_version:
            out.append(f"set tls max {self.max_version}")
        if not self.sni:
            out.append("set tls sni off")
        if self.keylog is not None:
            out.append(f"set tls keylog {script_word(self.keylog) if self.keylog else 'none'}")
        if self.client_cert != "off":
            out.append(f"set tls client-cert {self.client_cert}")
        return out

    def context(self, verify: bool, check_hostname: bool = True, replay: bool = False):
        """The client SSLContext for these settings (cached). Raises OSError / ssl.SSLError / ValueError."""
        key = (verify, check_hostname, replay)
        if key not in self._contexts:
            self._contexts[key] = self._make(verify, check_hostname, replay)
        return self._contexts[key]

    def replay_context(self, chain: list[bytes]):
        """The verifying context that the check of what verification would have said replays
        `chain` (DER, leaf first) to: with `set tls ca`, that CA; else the system store as
        load_default_certs() has it, its bundle cut down to what `chain` can reach
        (core/castore.py: the same verdict for ~2 ms instead of 25-55 ms), or whole when the
        bundle cannot be cut."""
        import os
        import ssl  # lazily: see the module docstring

        from netrepl.core import castore

        if self.ca is not None or os.name != "posix":  # Windows reads system stores, not a bundle
            return self.context(True, replay=True)
        paths = ssl.get_default_verify_paths()
        # As OpenSSL reads them (SSL_CTX_set_default_verify_paths): the variable if set, even empty.
        cafile = os.environ.get(paths.openssl_cafile_env, paths.openssl_cafile)
        capath = os.environ.get(paths.openssl_capath_env, paths.openssl_capath)
        subset = castore.bundle_subset(cafile or None, chain)
        if subset is None:
            return self.context(True, replay=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and the name checked
        # ... and create_default_context's verify flags, as the verifying `tls` has them (Python
        # 3.13 adds PARTIAL_CHAIN and X509_STRICT): read off a server-side default context,
        # which loads no certificates (found by review).
        ctx.verify_flags = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).verify_flags
        if subset:
            ctx.load_verify_locations(cadata=subset)
        if capath:
            try:  # OpenSSL reads the directory (a ':' list) lazily, by name hash, as it would anyway
                ctx.load_verify_locations(capath=capath)
            except (OSError, ssl.SSLError):
                pass
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the replay's (core/tlsfacts.py)
        ctx.hostname_checks_common_name = False  # as every context here: see _make
        return ctx

    def _make(self, verify: bool, check_hostname: bool, replay: bool):
        import os
        import ssl  # lazily: see the module docstring

        # A key log is checked (0600, no symlink) BEFORE create_default_context, which opens
        # SSLKEYLOGFILE as it is. (core/keylog.py is imported only then: this runs between
        # connect and the ClientHello.)
        logging = self.keylog is not None or bool(os.environ.get("SSLKEYLOGFILE"))
        if logging:
            from netrepl.core import keylog

            logged = keylog.path_for(self)
        ca = os.path.expanduser(self.ca) if self.ca else None
        for setting, path in (("set tls ca", ca), ("set tls cert", self.cert), ("set tls key", self.key)):
            _plain_file(setting, path)
        cafile, capath = (None, ca) if ca and os.path.isdir(ca) else (ca, None)
        if verify or ca:
            # The system trust store (honours SSL_CERT_FILE / SSL_CERT_DIR), or only the CA set
            # (loaded for `-k` too, so a CA setting that cannot be read is said at once).
            ctx = ssl.create_default_context(cafile=cafile, capath=capath)
        else:
            # `tls -k` verifies nothing in the handshake: the system store (parsing its ~150
            # certificates costs 25-55 ms, on the path between connect and the server's first
            # byte) is loaded only by the check of what verification would have said
            # (tlsfacts.gather). The rest is create_default_context's own setup.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if logging:  # core/keylog.py: `set tls keylog`, SSLKEYLOGFILE (or neither: `set tls keylog none`)
            keylog.apply(ctx, None if replay else logged)
        # The name is matched against the SANs only (RFC 6125, as browsers do). Python's default falls back
        # to the subject CN when the SAN has no DNS name: a certificate with only IP:127.0.0.1 and
        # CN=localhost passed `tls localhost` while the report said "hostname NO".
        ctx.hostname_checks_common_name = False
        if replay:  # core/tlsfacts.py replays a chain in a TLS 1.2 handshake over memory: see there
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            return ctx
        if not verify or not check_hostname:
            ctx.check_hostname = False
        if not verify:
            ctx.verify_mode = ssl.CERT_NONE
        if self.alpn:
            ctx.set_alpn_protocols(list(self.alpn))
        if self.cert:
            ctx.load_cert_chain(os.path.expanduser(self.cert), os.path.expanduser(self.key) if self.key else None,
                                password=_no_passphrase)
        if self.ciphers or self.min_version or self.max_version:
            from netrepl.core import tlscontrols

            tlscontrols.apply(ctx, self)  # ciphers, min and max versions (1.0 to 1.3)
        return ctx


def _plain_file(setting: str, path: str | None) -> None:
    """OpenSSL opens a TLS file blocking and reads it to the end: a FIFO with no writer (or one that never
    closes) would hold `tls` past its timeout, deaf to Ctrl-C. Only a regular file (or, for ca, a directory)
    is handed to it; stat() itself never waits. Raises OSError."""
    import errno
    import os
    import stat

    if path is None:
        return
    try:
        mode = os.stat(os.path.expanduser(path)).st_mode
    except OSError:
        return  # OpenSSL says what is wrong (No such file...)
    if stat.S_ISREG(mode) or (setting == "set tls ca" and stat.S_ISDIR(mode)):
        return
    what = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    raise OSError(errno.EINVAL, f"{setting} {path}: {what}, which could block past the timeout; "
                                "TLS files must be regular files")


class EncryptedKey(ValueError):
    """The client key needs a passphrase: OpenSSL would ask for it on the terminal."""


def _no_passphrase():
    # Without a callback OpenSSL prompts on the terminal, past `timeout` and deaf to Ctrl-C (and twice
    # without a terminal): a passphrase is never asked for, the key is refused and said to be encrypted.
    raise EncryptedKey("the key is encrypted")


def _refuse(session, message: str) -> Result:
    return session._fail(failure("state", "tls", message))


def handshake(session, server_name: str | None, insecure: bool, settings: TlsSettings) -> Result:
    """The TLS handshake over the session's connected TCP socket, upgrading it in place.

    server_name: sent as SNI and checked against the certificate (None: the host
    given to `connect`). insecure (`tls -k`): no verification, but the report
    still says what verification would have said. Never raises.
    """
    s = session
    if s.transport is None:
        return s._no_socket("tls")
    if not s.stream:
        return _refuse(s, "TLS needs a TCP connection (DTLS over UDP is not supported)")
    if not s.connected:
        return _refuse(s, "the socket is not connected; `connect HOST PORT` first")
    if s.tls is not None:
        return _refuse(s, f"the connection already speaks TLS ({s.tls.version}); one handshake per connection")
    if s.lost or s.peer_eof or s.wr_shut or s.rd_shut:
        return _refuse(s, f"the connection cannot start TLS in this state ({s.state()})")
    import ssl  # lazily: see the module docstring

    from netrepl.core import chain, tlsfacts, tlssock

    peer = s.peer if isinstance(s.peer, Endpoint) else None  # (a Unix socket's peer is a UnixName: no host)
    name = server_name or s.peer_name or (peer.host if peer else None)
    if name is None:  # a Unix socket: no name to send, and verifying no name would take any certificate of the CA
        return s._fail(failure("usage", "tls", "a Unix socket has no host name to send (SNI) and check the "
                                               "certificate against: name the server, `tls NAME`"))
    result = s._result()
    if len(s.buffer):
        # Bytes that came in plaintext before TLS: an attacker on the path may have
        # added them (STARTTLS command injection). Never part of the TLS stream.
        dropped = s.buffer.take()
        result.say(f"warning: {plural(len(dropped))} received in plaintext before the handshake and not "
                   "consumed were discarded, not mixed into the TLS stream (a STARTTLS injection?): "
                   + tlsfacts.quote(dropped))
    check_name = settings.sni and not insecure
    try:
        context = settings.context(not insecure, check_name)
    except EncryptedKey:
        where = settings.key or settings.cert
        return s._fail(failure("file", "tls", f"the client key in {where} is encrypted: netrepl never asks for a "
                                              "passphrase (decrypt a copy: openssl pkey -in KEY -out PLAIN.pem)"),
                       result)
    except (OSError, ssl.SSLError, ValueError) as exc:
        what = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        return s._fail(failure("file", "tls", f"the TLS settings cannot be used: {what} "
                                              f"(`set tls` shows them)", getattr(exc, "errno", None)), result)
    if not insecure and not settings.sni and not tlsfacts.is_ip(name):
        try:  # what SNI on refuses below (wrap_bio): a name the check could not run on, refused the same
            name.encode("idna")
        except UnicodeError as exc:
            return s._fail(failure("usage", "tls", f"{name!r} cannot be a TLS server name, so the certificate "
                                                   f"could not be checked against it: {exc}"), result)
    sni = name if settings.sni and name and not tlsfacts.is_ip(name) else None
    key = (peer.host if peer else str(s.peer or ""), peer.port if peer else 0, name, insecure)
    started = time.perf_counter()
    try:
        sock = tlssock.TlsSocket.start(s.transport.sock, context, name if settings.sni else None,
                                       settings.sessions.get(key), s.timeout)
    except ValueError as exc:  # the name, refused before anything was sent: the connection is as it was
        return s._fail(failure("usage", "tls", f"{name!r} cannot be a TLS server name: {exc}"), result)
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(tlssock.converted(exc), "tls")
        if s.timing is not None:  # the `timing` waterfall shows the handshake that failed too
            s.timing.add("tls handshake", time.perf_counter() - started, start=started,
                         outcome=err.errname or err.kind)
        refused = getattr(exc, "chain", None)
        if refused:
            result.lines += tlsfacts.refused_lines(refused)
            result.lines += chain.hints(refused, err.errno)  # a missing intermediate (core/chain.py)
        s.close_quietly()
        result.say("the handshake did not finish, so the connection can carry neither plaintext nor TLS: "
                   "closed it")
        return s._fail(err, result)
    elapsed = time.perf_counter() - started
    if s.timing is not None:  # a phase of this connection for `timing`
        s.timing.add("tls handshake", elapsed, start=started)
    s.transport.wrap(lambda raw: sock)
    gathered = False
    try:
        facts = tlsfacts.gather(sock, name, sni, insecure, check_name, settings, Elapsed(elapsed))
        gathered = True
    finally:
        if not gathered:
            # The socket speaks TLS now but the session would not know it: `info` would say plain tcp and
            # a second `tls` would handshake inside the TLS stream. Closed, the state is true.
            s.close_quietly()
    if not insecure and (facts.verify_code is not None or facts.unchecked):
        # SNI off: the chain and name are checked here, as OpenSSL would; a check that could not run
        # never passes a verifying `tls`.
        s.close_quietly()
        result.lines += tlsfacts.refused_lines(sock.chain())
        result.lines += chain.hints(sock.chain(), facts.verify_code)
        failed = tlssock.verify_failure(facts.verify_code, facts.verify_message) if facts.unchecked is None \
            else tlssock.unchecked_failure(facts.unchecked)
        return s._fail(classify(failed, "tls"), result)
    facts.insecure = insecure
    s.tls = facts
    sock.on_close = lambda: settings.sessions.__setitem__(key, sock.obj.session) if sock.obj.session else None
    result.say(f"TLS {facts.short} handshake with {name} done in ", Elapsed(elapsed), f": {facts.cipher}")
    result.fields = facts.fields()
    result.state = s.state()
    return result
