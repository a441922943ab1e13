"""`tls [-k] [NAME]`, the TLS handshake on the session socket, and its settings (`set tls ...`)."""

from __future__ import annotations


from netrepl.core.results import Result
from netrepl.core.tls import handshake
from netrepl.language.argtypes import ArgError, ArgType, Candidates, Choice, Host
from netrepl.language.registry import Arg, CommandSet
from netrepl.base.patterns import lazy

COMMANDS = CommandSet()

OPTIONS = {
    "ca": "a CA file or directory to trust instead of the system store (`system`: the system store again)",
    "alpn": "protocols to offer with ALPN, comma-separated (h2,http/1.1), or none",
    "cert": "a client certificate (PEM, with its key or with `set tls key`) for mutual TLS; none: no certificate",
    "key": "the client certificate's key file when it is not in the certificate's file; none: in it",
    "min": "the lowest protocol version to accept: 1.2, 1.3 or default",
    "max": "the highest protocol version to offer: 1.2, 1.3 or default",
    "sni": "send the server name (SNI): on or off (the name is checked against the certificate either way)",
}
_ALPN = lazy(r"[\x21-\x7e]{1,255}\Z")
_FIXED = {"ca": ("system",), "alpn": ("none", "h2,http/1.1", "http/1.1", "h2"), "cert": ("none",), "key": ("none",),
          "min": ("1.2", "1.3", "default"), "max": ("1.2", "1.3", "default"), "sni": ("on", "off")}


class TlsValue(ArgType):
    """The value of a `set tls OPTION`, checked for the option named before it."""

    name = "str"  # a word (what it must be depends on OPTION)

    def convert(self, text, args, registry):
        option = args.get("option")
        if option in ("ca", "cert", "key"):
            return super().convert(text, args, registry)  # a path: opened when `tls` runs
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
        kind = "path" if option in ("ca", "cert", "key") else "words"
        return Candidates(kind, _FIXED.get(option, ()), label)

    def lex(self, text, args, registry):
        if text in _FIXED.get(args.get("option"), ()):
            return "Keyword.Constant"
        return super().lex(text, args, registry)

    def usage(self, metavar):
        return metavar


COMMANDS.sub("set", "tls", Arg("OPTION", Choice(tuple(OPTIONS)), "option", optional=True),
             Arg("VALUE", TlsValue(), "value", optional=True),
             help="TLS settings: ca, alpn, cert, key, min, max, sni (`set tls [OPTION]` shows them)",
             details="\n".join(f"  {name:<5} {words}" for name, words in OPTIONS.items())
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
        setattr(settings, option, None if value == "none" else value)
        result.say((f"client certificate {value}" if value != "none" else "no client certificate") if option == "cert"
                   else (f"client key {value}" if value != "none" else "the client key is in the certificate's file"))
    elif option in ("min", "max"):
        setattr(settings, f"{option}_version", None if value == "default" else value)
        result.say(f"TLS {option}imum version: " + ("OpenSSL's default" if value == "default" else value))
    else:
        settings.sni = value == "on"
        result.say("SNI " + ("sent" if settings.sni else "not sent (the name is still checked)"))
    settings.changed()
    return result


def _show(settings, only: str | None = None) -> Result:
    result = Result()
    result.fields = [(name, value) for name, value in [
        ("ca", settings.ca or "system (the system trust store)"),
        ("alpn", ",".join(settings.alpn) or "none"),
        ("cert", settings.cert or "none"),
        ("key", settings.key or "none (in the certificate's file)"),
        ("min", settings.min_version or "default"),
        ("max", settings.max_version or "default"),
        ("sni", "on" if settings.sni else "off"),
    ] if only in (None, name)]
    return result


@COMMANDS.command("tls", Arg("NAME", Host(), "name", optional=True,
                             help="the server name to send (SNI) and check (default: the host given to connect)"),
                  flags={"-k": "do not verify the certificate (the report still says what verification would say)"},
                  help="TLS handshake on the connected socket (implicit TLS, or after a STARTTLS typed by hand)",
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
    return handshake(ex.session, a["name"], "-k" in flags, ex.session.tls_settings)
