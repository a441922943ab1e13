"""`tls [-k] [NAME]`, the TLS handshake on the session socket, and its settings (`set tls ...`)."""

from __future__ import annotations


from netrepl.core.errors import failure
from netrepl.core.results import Result
from netrepl.core.tls import handshake
from netrepl.core.sockstate import plural
from netrepl.language.argtypes import ArgError, ArgType, Candidates, Choice, Host, Redirect
from netrepl.language.registry import Arg, CommandSet
from netrepl.base.patterns import lazy

COMMANDS = CommandSet()

OPTIONS = {
    "ca": "a CA file or directory to trust instead of the system store (`system`: the system store again)",
    "alpn": "protocols to offer with ALPN, comma-separated (h2,http/1.1), or none",
    "cert": "a client certificate (PEM, with its key or with `set tls key`) for mutual TLS; none: no certificate",
    "key": "the client certificate's key file when it is not in the certificate's file; none: in it",
    "min": "the lowest protocol version to accept: 1.0, 1.1, 1.2, 1.3 or default (1.0 and 1.1 only where "
           "OpenSSL's security level allows them: see ciphers)",
    "max": "the highest protocol version to offer: 1.0, 1.1, 1.2, 1.3 or default",
    "sni": "send the server name (SNI): on or off (the name is checked against the certificate either way)",
    "keylog": "append NSS key log lines (Wireshark decrypts with them) to FILE for every handshake, client or "
              "server; created 0600, never through a symlink; none: no key log (not even SSLKEYLOGFILE)",
    "client-cert": "`tls --server`: off, request or require a client certificate (verified against `set tls ca`, "
                   "else the lab CA)",
    "ciphers": "OpenSSL cipher string for TLS 1.2 and below (s_client -cipher), e.g. ECDHE+AESGCM or "
               "DEFAULT:@SECLEVEL=0; default: OpenSSL's",
}
_ALPN = lazy(r"[\x21-\x7e]{1,255}\Z")
_FIXED = {"ca": ("system",), "alpn": ("none", "h2,http/1.1", "http/1.1", "h2"), "cert": ("none",), "key": ("none",),
          "min": ("1.0", "1.1", "1.2", "1.3", "default"), "max": ("1.0", "1.1", "1.2", "1.3", "default"),
          "ciphers": ("default",), "sni": ("on", "off"),
          "client-cert": ("off", "request", "require"), "keylog": ("none",)}


class TlsValue(ArgType):
    """The value of a `set tls OPTION`, checked for the option named before it."""

    name = "str"  # a word (what it must be depends on OPTION)

    def convert(self, text, args, registry):
        option = args.get("option")
        if option in ("ca", "cert", "key", "keylog", "ciphers"):
            return super().convert(text, args, registry)  # a path (opened when `tls` runs), a cipher string
        if option == "alpn":
            names = text.split(",")
            bad = next((n for n in names if not _ALPN.match(n)), None)
            if bad is not None:
                raise ArgError(f"ALPN protocol names are 1-255 printable characters, comma-separated; got {bad!r}")
            return tuple(names)
        if text in _FIXED.get(option, ()):
            return text
        raise ArgError(f"expected one of {', '.join(_FIXED.get(option, ()))}, got {text!r}")

    def candidates(self, label, args, registry):
        option = args.get("option")
        kind = "path" if option in ("ca", "cert", "key", "keylog") else "words"
        return Candidates(kind, _FIXED.get(option, ()), label)

    def lex(self, text, args, registry):
        if text in _FIXED.get(args.get("option"), ()):
            return "Keyword.Constant"
        return super().lex(text, args, registry)

    def usage(self, metavar):
        return metavar


COMMANDS.sub("set", "tls", Arg("OPTION", Choice(tuple(OPTIONS)), "option", optional=True),
             Arg("VALUE", TlsValue(), "value", optional=True),
             help="TLS settings: ca, alpn, cert, key, min, max, ciphers, sni, keylog, client-cert (`set tls [OPTION]` "
                  "shows them)",
             details="\n".join(f"  {name:<11} {words}" for name, words in OPTIONS.items())
             + "\nThey apply to the next `tls` (or `starttls`).")(lambda ex, a, flags: _set_tls(ex, a))


def _set_tls(ex, a) -> Result:
    settings = ex.session.tls_settings
    option, value = a["option"], a["value"]
    result = Result()
    if option is None or value is None:
        return _show(settings, option)
    if option == "ca":
        settings.ca = None if value == "system" else value
        result.say("TLS trusts " + ("the system trust store (SSL_CERT_FILE / SSL_CERT_DIR honoured)"
                                    if settings.ca is None else f"only the CAs in {value}"))
    elif option == "alpn":
        settings.alpn = () if value == ("none",) else value
        result.say("ALPN offers " + (", ".join(settings.alpn) or "nothing"))
    elif option in ("cert", "key"):
        checked = _check_cert(ex.session, settings, option, value)
        setattr(settings, option, None if value == "none" else value)
        result.say((f"client certificate {value}" if value != "none" else "no client certificate") if option == "cert"
                   else (f"client key {value}" if value != "none" else "the client key is in the certificate's file"))
        if checked is not None:
            result.lines += checked.lines
    elif option == "ciphers":
        from netrepl.core import tlscontrols

        if value != "default":
            problem = tlscontrols.cipher_problem(value)
            if problem:
                return ex.session._fail(failure("usage", "set tls", problem))
        settings.ciphers = None if value == "default" else value
        if settings.ciphers is None:
            result.say("ciphers: OpenSSL's default")
        else:
            old, modern = tlscontrols.cipher_count(value)
            result.say(f"ciphers for TLS 1.2 and below: {value} ({plural(old, 'suite')}; the TLS 1.3 suites "
                       "are not chosen by a cipher string)")
        for name in (settings.min_version, settings.max_version):  # a level raised again
            why = name and tlscontrols.version_problem(name, settings.ciphers)
            if why:
                result.say(f"warning: `set tls min/max {name}` can no longer be agreed: {why}")
                break
    elif option in ("min", "max"):
        from netrepl.core import tlscontrols

        why = value != "default" and tlscontrols.version_problem(value, settings.ciphers)
        if why:
            return ex.session._fail(failure("usage", "set tls", f"TLS {value} refused: {why}"))
        setattr(settings, f"{option}_version", None if value == "default" else value)
        result.say(f"TLS {option}imum version: " + ("OpenSSL's default" if value == "default" else value))
    elif option == "keylog":
        return _set_keylog(ex.session, settings, value)
    elif option == "client-cert":
        settings.client_cert = value
        result.say({"off": "`tls --server` asks for no client certificate",
                    "request": "`tls --server` asks for a client certificate (the client may send none)",
                    "require": "`tls --server` requires a client certificate"}[value])
    else:
        settings.sni = value == "on"
        result.say("SNI " + ("sent" if settings.sni else "not sent (the name is still checked)"))
    settings.changed()
    return result


def _cert_pair_problem(cert: str, key: str | None) -> tuple[str | None, bool]:
    """tlscontrols.cert_problem, after core/tls.py's check that neither is a FIFO (its read would block)."""
    from netrepl.core import tlscontrols
    from netrepl.core.tls import _plain_file

    try:
        _plain_file("set tls cert", cert)
        _plain_file("set tls key", key)
    except OSError as exc:
        return exc.strerror or str(exc), False
    return tlscontrols.cert_problem(cert, key)


def _check_cert(session, settings, option: str, value: str) -> Result | None:
    """`set tls cert`/`key`: load the pair at once, as the handshake will (core/tlscontrols.py):
    a Result holding the warning, or None when the pair loads."""

    if value == "none":
        return None
    cert, key = (value, settings.key) if option == "cert" else (settings.cert, value)
    if cert is None:
        return None  # `set tls key` first: checked when the certificate comes
    problem, key_missing = _cert_pair_problem(cert, key)
    if problem is None:
        return None
    # Said at once, but kept: the key may come next (`set tls key`), and a script goes on to the
    # handshake, which refuses with the same sentence (kind file) before anything is sent.
    follows = "" if key_missing and option == "cert" else "; `tls` will refuse it until that is fixed"
    return Result().say(f"warning: {problem}{follows}")


def _set_keylog(session, settings, value: str) -> Result:
    """Checked at once (created 0600, a symlink refused), so the mistake shows here, not at `tls`."""
    from netrepl.core import keylog

    result = Result()
    if value == "none":
        settings.keylog = ""
        settings.changed()
        return result.say("no key log" + (f" (SSLKEYLOGFILE={keylog.from_environment()} is ignored)"
                                          if keylog.from_environment() else ""))
    try:
        path = keylog.checked(value)
    except keylog.KeylogError as exc:
        return session._fail(failure("file", "set tls", str(exc)))
    settings.keylog = path
    settings.changed()
    result.say(f"key log: every handshake appends its secrets to {path} (Wireshark and tshark decrypt with "
               "it: -o tls.keylog_file:FILE; anyone who reads it reads those sessions)")
    if keylog.wider_than_private(path):
        result.say(f"warning: {path} can be read by others (it existed with a wider mode than 0600)")
    return result


def _keylog_words(settings) -> str:
    from netrepl.core import keylog

    if settings.keylog == "":
        return "none"
    if settings.keylog:
        return settings.keylog
    env = keylog.from_environment()
    return f"{env} (SSLKEYLOGFILE)" if env else "none"


def _show(settings, only: str | None = None) -> Result:
    result = Result()
    result.fields = [(name, value) for name, value in [
        ("ca", settings.ca or "system (the system trust store)"),
        ("alpn", ",".join(settings.alpn) or "none"),
        ("cert", settings.cert or "none"),
        ("key", settings.key or "none (in the certificate's file)"),
        ("min", settings.min_version or "default"),
        ("max", settings.max_version or "default"),
        ("ciphers", getattr(settings, "ciphers", None) or "default (OpenSSL's)"),
        ("sni", "on" if settings.sni else "off"),
        ("keylog", _keylog_words(settings)),
        ("client-cert", getattr(settings, "client_cert", "off")),
    ] if only in (None, name)]
    return result


@COMMANDS.command("tls", Arg("NAME", Host(), "name", optional=True,
                             help="the server name to send (SNI) and check (default: the host given to connect)"),
                  flags={"-k": "do not verify the certificate (the report still says what verification would say)",
                         "--server": "be the server: present `set tls cert`/`key` (default: the lab certificate, "
                                     "its CA is $lab_ca) to the client on an accepted connection; NAME is the "
                                     "name the client should ask for (SNI)"},
                  help="TLS handshake on the connected socket (implicit TLS, or after a STARTTLS typed by hand; "
                       "--server: as the server, on an accepted connection)",
                  details="Upgrades the connection in place: send, recv, expect, shutdown and close then speak "
                          "TLS. Verifies the peer's certificate against the system trust store (SSL_CERT_FILE, "
                          "SSL_CERT_DIR; `set tls ca` changes it) and NAME against it. Reports version, cipher, "
                          "ALPN, SNI, the certificate (subject, SANs, issuer, validity, SHA-256), chain length, "
                          "verify result, hostname match, session reuse and the handshake time. Bytes received in "
                          "plaintext and not consumed before it are discarded with a warning (STARTTLS injection). "
                          "Failures: kind verify (self-signed, unknown-ca, expired, hostname-mismatch, ip-mismatch "
                          "for must-fail), kind tls (alerts: handshake-failure, protocol-version, "
                          "certificate-required; plaintext: the peer does not speak TLS).")
def _tls(ex, a, flags):
    name = a["name"]
    if name is not None and name.startswith("-"):  # a mistyped flag is no server name
        hint = " (did you mean --server?)" if name.startswith("--s") else ""
        return ex.session._fail(failure("usage", "tls", f"unknown flag {name!r}{hint}: tls takes -k and --server"))
    if "--server" in flags:
        return _tls_server(ex, a["name"], "-k" in flags)
    refused = _cert_refused(ex.session)
    if refused is not None:
        return refused
    result = handshake(ex.session, a["name"], "-k" in flags, ex.session.tls_settings)
    if result.error is None:
        result.lines += chain_lines(ex.session)
    return result


def _cert_refused(session) -> Result | None:
    """The certificate and key set, checked before anything is sent: a sentence, not "PEM lib"."""
    settings = session.tls_settings
    if settings.cert is None or session.transport is None:
        return None

    problem, _ = _cert_pair_problem(settings.cert, settings.key)
    if problem is None:
        return None
    return session._fail(failure("file", "tls", f"the TLS settings cannot be used: {problem}"))


def chain_lines(session) -> list:
    """The chain the server sent, one line a certificate (core/chain.py), after a client handshake."""
    from netrepl.core import chain

    return chain.summary_lines(chain.of(_peer_chain(session)), "the server")


def _peer_chain(session) -> list:
    """The chain the peer sent on the session's TLS connection, leaf first ([] if none)."""
    sock = getattr(session.transport, "sock", None)
    if session.tls is None or not hasattr(sock, "chain"):
        return []
    if getattr(session.tls, "expected", False) is not False:  # the server side: the client's chain
        from netrepl.core.tlsserver import client_chain

        return client_chain(sock)
    return sock.chain()


@COMMANDS.command("certs", Arg("> PATH", Redirect(), "path", optional=True),
                  help="the certificates the TLS peer sent, in detail (`certs > FILE.pem` saves them as PEM)",
                  details="For each certificate of the chain the peer sent (leaf first): subject, issuer, SANs, "
                          "validity, key type and size, signature algorithm, SHA-256 and SHA-1 fingerprints. "
                          "`certs > FILE.pem` writes them as PEM, which `openssl x509`, `openssl verify "
                          "-untrusted FILE.pem` and `set tls ca` read. After `tls --server`: the client's "
                          "certificates, if it sent any.")
def _certs(ex, a, flags):
    from netrepl.core import chain

    s = ex.session
    if s.tls is None:
        return s._fail(failure("state", "certs", "no TLS on this connection: `tls` (or `starttls`) first"))
    certs = chain.of(_peer_chain(s))
    who = "the client" if getattr(s.tls, "expected", False) is not False else "the server"
    if not certs:
        return s._result().say(f"{who} sent no certificate")
    if a["path"] is not None:
        try:
            with open(a["path"], "w", encoding="ascii") as f:
                f.write("".join(c.pem() for c in certs))
        except OSError as exc:
            return s._fail(failure("file", "certs", f"cannot write {a['path']}: {exc.strerror}", exc.errno))
        return s._result().say(f"wrote {plural(len(certs), 'certificate')} sent by {who} to {a['path']} (PEM)")
    result = s._result()
    for depth, cert in enumerate(certs):
        result.lines += cert.details(depth, len(certs))
    return result


def _tls_server(ex, name, insecure: bool) -> Result:
    """`tls --server [NAME]`: the server side (core/tlsserver.py), the lab certificate by default."""
    from netrepl.core.tlsserver import server_handshake
    from netrepl.lab.tlskinds import CA, CERTS, KEY

    settings = ex.session.tls_settings
    if insecure:
        return ex.session._fail(failure("usage", "tls", "-k is the client's (do not verify the server); the "
                                                        "server side verifies only a client certificate it asks for "
                                                        "(`set tls client-cert`)"))
    refused = _cert_refused(ex.session)
    if refused is not None:
        return refused
    default = settings.cert is None
    cert, key = (str(CERTS / "localhost.pem"), str(KEY)) if default else (settings.cert, settings.key)
    return server_handshake(ex.session, name, settings, cert, key, settings.ca or str(CA), default)
