"""What `set tls ciphers/min/max/cert/key` control, checked when they are set, applied to every context.

s_client's -cipher, -tls1_1 and -cert/-key, with the answers OpenSSL would
give only at the handshake given at once, in a sentence:
- a cipher string that selects nothing is refused (OpenSSL: "No cipher can be selected");
- TLS 1.0 and 1.1 are allowed as versions, but OpenSSL 3 refuses them at security
  level 1 and above (Debian's default is 2: no cipher suite is allowed for them): the
  setting is refused naming the level and the way down (`@SECLEVEL=0` in the ciphers);
- a certificate is loaded with its key at once: no key, or a key of another certificate,
  is said at `set tls cert`/`set tls key`, not as "PEM lib" at the handshake.
ssl is imported inside the functions (this module is on no start-up path anyway).
"""

from __future__ import annotations

import os
import warnings

VERSIONS = ("1.0", "1.1", "1.2", "1.3")
_ATTR = {"1.0": "TLSv1", "1.1": "TLSv1_1", "1.2": "TLSv1_2", "1.3": "TLSv1_3"}


def tls_version(name: str):
    import ssl

    with warnings.catch_warnings():  # TLSv1 and TLSv1_1 are deprecated in ssl: asked for, on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(ssl.TLSVersion, _ATTR[name])


def apply(ctx, settings) -> None:
    """The ciphers and version bounds of `set tls` on a client or server context."""
    ciphers = getattr(settings, "ciphers", None)
    if ciphers:
        ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if settings.min_version:
            ctx.minimum_version = tls_version(settings.min_version)
        if settings.max_version:
            ctx.maximum_version = tls_version(settings.max_version)


def cipher_problem(text: str) -> str | None:
    """None if OpenSSL's cipher string TEXT selects something, else why not, in a sentence."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(text)
    except ssl.SSLError as exc:
        return (f"the cipher string {text!r} selects no cipher this OpenSSL ({ssl.OPENSSL_VERSION}) knows "
                f"({getattr(exc, 'reason', None) or 'No cipher can be selected'}); `openssl ciphers -v STRING` lists what a string "
                "selects")
    return None


def cipher_count(text: str) -> tuple[int, int]:
    """(TLS 1.2-and-below suites, TLS 1.3 suites) that TEXT leaves on."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(text)
    suites = ctx.get_ciphers()
    modern = sum(1 for s in suites if s.get("protocol") == "TLSv1.3")
    return len(suites) - modern, modern


def security_level(ciphers: str | None) -> int:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx.security_level


def version_problem(version: str, ciphers: str | None) -> str | None:
    """Why OpenSSL would refuse TLS VERSION with these ciphers (None: it would not)."""
    if version not in ("1.0", "1.1"):
        return None
    level = security_level(ciphers)
    if level < 1:
        return None
    return (f"OpenSSL's security level is {level} here, and at level 1 and above it allows no cipher suite "
            f"for TLS 1.0 or 1.1 (their signatures use SHA-1), so TLS {version} could never be agreed: "
            "`set tls ciphers DEFAULT:@SECLEVEL=0` first lowers the level to allow it")


class _Encrypted(Exception):
    pass


def _no_passphrase():
    raise _Encrypted()


def cert_problem(cert: str, key: str | None) -> tuple[str | None, bool]:
    """Load CERT with KEY (None: the key in CERT's file) as a handshake will:
    (a sentence saying what is wrong, or None; whether the key is missing -- `set tls key` may follow).
    The caller has made sure both are regular files (core/tls.py _plain_file): a FIFO would block here."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cert_path = os.path.expanduser(cert)
    key_path = os.path.expanduser(key) if key else None
    try:
        ctx.load_cert_chain(cert_path, key_path, password=_no_passphrase)
    except _Encrypted:
        return None, False  # an encrypted key: the passphrase is asked for at the handshake
    except FileNotFoundError as exc:
        return f"{exc.filename or cert}: no such file", False
    except OSError as exc:
        if not isinstance(exc, ssl.SSLError):
            return f"{exc.filename or cert}: {exc.strerror}", False
        return _ssl_words(exc, cert, key)
    return None, False


def _ssl_words(exc, cert: str, key: str | None) -> tuple[str, bool]:
    reason = exc.reason or ""
    if reason == "KEY_VALUES_MISMATCH":
        return (f"the private key in {key or cert} does not belong to the certificate in {cert} "
                "(KEY_VALUES_MISMATCH)"), False
    holds_cert = _pem_holds(cert, b"-----BEGIN CERTIFICATE-----")
    if not holds_cert:
        return f"{cert} holds no PEM certificate ({reason or exc})", False
    if key is None and not _pem_holds(cert, b"PRIVATE KEY-----"):
        return (f"{cert} holds a certificate but no private key: `set tls key KEYFILE` names the file "
                f"with it ({reason or 'PEM lib'})"), True
    if key is not None and not _pem_holds(key, b"PRIVATE KEY-----"):
        return f"{key} holds no PEM private key ({reason or 'PEM lib'})", False
    return f"the certificate or key cannot be loaded: {reason or exc}", False


def _pem_holds(path: str, marker: bytes) -> bool:
    try:
        with open(os.path.expanduser(path), "rb") as f:
            return marker in f.read(1 << 20)
    except OSError:
        return False
