"""The helper functions an exported program may need for TLS (the SSLContext, the
handshake's summary, a name check when SNI is off) and for the STARTTLS dialogues
(a server reply read line by line, a command line sent), as source text in
prelude.py's table; the program includes only those it uses.
"""

from __future__ import annotations

from netrepl.export.prelude import helper

helper("tls_context", ("errno", "os", "ssl", "sys"), ("tls_file",), '''
def tls_context(ca=None):
    """ssl.create_default_context(): the peer's certificate verified and its name checked, against
    the system trust store, or (ca: a CA file or directory) only the CAs in ca. The name is matched
    against the certificate's subjectAltName only, as netrepl matches it: Python's default falls back
    to the subject's CN when the SAN has no DNS name (CN=localhost passed with only IP:127.0.0.1)."""
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:  # create_default_context opens it, blocking
        try:
            os.close(os.open(keylog, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO nobody reads: open() would wait for ever
                raise OSError(errno.ENXIO, f"SSLKEYLOGFILE {keylog}: a FIFO nobody reads") from None
    if ca is None:
        context = ssl.create_default_context()
    elif os.path.isdir(ca := tls_file("set tls ca", ca, directory_ok=True)):
        context = ssl.create_default_context(capath=ca)
    else:
        context = ssl.create_default_context(cafile=ca)
    context.hostname_checks_common_name = False
    return context
''')

helper("tls_file", ("errno", "os", "stat"), (), '''
def tls_file(setting, path, directory_ok=False):
    """path, ~ expanded, once stat() says OpenSSL can read it without waiting: OpenSSL opens a TLS
    file blocking and reads it to the end, so a FIFO would hold the program past its timeout, deaf
    to Ctrl-C. Only a regular file (or, for a CA, a directory) is handed to it, as netrepl does."""
    path = os.path.expanduser(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path  # OpenSSL says what is wrong (No such file or directory)
    if stat.S_ISREG(mode) or directory_ok and stat.S_ISDIR(mode):
        return path
    what = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    raise OSError(errno.EINVAL, f"{setting} {path}: {what}, which could block past the timeout; "
                                "TLS files must be regular files")
''')

helper("load_client_cert", (), ("file_problem", "tls_file"), '''
def load_client_cert(context, cert, key=None):
    """context.load_cert_chain(cert, key): the client certificate and its key (in cert's file unless
    key is given), regular files both. An encrypted key is refused, never prompted for: without a
    password callback OpenSSL asks for its passphrase on the terminal (or stdin), past the timeout."""
    def no_passphrase():
        raise FileProblem(f"the client key in {key or cert} is encrypted: this program never asks for a "
                          "passphrase (decrypt a copy: openssl pkey -in KEY -out PLAIN.pem)")

    cert = tls_file("set tls cert", cert)
    key = key and tls_file("set tls key", key)
    context.load_cert_chain(cert, key, password=no_passphrase)
''')

helper("check_server_name", ("ssl",), ("step_refused",), '''
def check_server_name(context, name, why=""):
    """The name the handshake sends (or, SNI off, the certificate is checked against), checked first
    as wrap_socket checks it (on memory: nothing is sent, the socket stays as it is). One it refuses
    ("empty label") is StepRefused: netrepl's kind usage, the connection as it was; a name check that
    cannot run never lets a verifying handshake pass."""
    try:
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name)
    except ValueError as exc:
        raise StepRefused(f"tls: {name!r} cannot be a TLS server name{why}: {exc}", "usage") from None
''')

helper("tls_setting", ("os",), (), '''
def tls_setting(value, unset):
    """`set tls ca|cert|key` from an option: None for the word that means no file (ca system, cert
    none, key none), as netrepl reads it; else the path, ~ expanded."""
    return None if value == unset else os.path.expanduser(value)
''')

helper("tls_summary", (), ("note",), '''
def tls_summary(sock, name):
    """What the handshake established: version, cipher, ALPN (netrepl's `tls` report, in short)."""
    cipher, _, bits = sock.cipher()
    note(f"TLS {sock.version()} handshake with {name!r} done: {cipher} ({bits} bits), "
         f"ALPN {sock.selected_alpn_protocol()!r}")
''')

helper("check_name", ("ipaddress", "re", "ssl"), ("der_values",), '''
def check_name(sock, name):
    """The name against the certificate's subjectAltName after a handshake that sent no SNI and so
    had OpenSSL check no name (set tls sni off), as OpenSSL checks it for Python: no CN, no partial
    wildcards. Read from the certificate's DER, byte for byte: getpeercert()'s decoded dict raises
    UnicodeDecodeError on a name (or an AIA URI) that is not UTF-8, and the peer chooses those."""
    wanted = ip_of(name)
    try:
        names = san_names(sock.getpeercert(binary_form=True))
    except (IndexError, StopIteration):  # DER OpenSSL took and this cannot walk: no name matches
        names = []
    for tag, value in names:
        if wanted is not None and tag == 0x87 and value == wanted.packed:  # [7] iPAddress
            return
        if wanted is None and tag == 0x82 and host_matches(value, name.encode("idna")):  # [2] dNSName
            return
    sock.close()
    error = ssl.SSLCertVerificationError(f"certificate verify failed: {name!r} is not among its names")
    error.verify_code = 64 if wanted is not None else 62  # X509_V_ERR_IP_ADDRESS/HOSTNAME_MISMATCH
    error.verify_message = "IP address mismatch" if wanted is not None else "hostname mismatch"
    raise error


def ip_of(name):
    """The IP address name is to OpenSSL (which decides between a name and an address check):
    ipaddress's reading, or four decimal parts with leading zeros (127.0.0.01). None: a host name."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        parts = name.split(".")
        if len(parts) == 4 and all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts):
            return ipaddress.IPv4Address(".".join(str(int(p)) for p in parts))
        return None


def san_names(der):
    """The certificate's subjectAltName as (tag, raw bytes) pairs, undecoded."""
    certificate = next(der_values(der))[1]
    to_be_signed = next(der_values(certificate))[1]
    for tag, content in der_values(to_be_signed):
        if tag == 0xA3:  # [3]: the extensions
            for _, extension in der_values(next(der_values(content))[1]):
                parts = list(der_values(extension))  # its OID, critical (optional), an OCTET STRING
                if parts[0] == (0x06, b"\\x55\\x1d\\x11"):  # 2.5.29.17, subjectAltName
                    return list(der_values(next(der_values(parts[-1][1]))[1]))
    return []


LABEL = re.compile(rb"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")  # letters, digits, inner hyphens


def host_matches(pattern, host):
    """OpenSSL's check of one DNS name (X509_check_host): `*` stands for one label of letters,
    digits and hyphens only when it is the whole leftmost label and two well-formed labels follow;
    else the bytes are compared as they are (ASCII letters in either case), and a NUL never matches."""
    if b"\\0" in pattern:
        return False
    star, *base = pattern.split(b".")
    if star == b"*" and len(base) >= 2 and all(LABEL.fullmatch(label) for label in base) \\
            and not host.startswith(b"."):
        first, _, rest = host.partition(b".")
        return re.fullmatch(rb"[A-Za-z0-9-]+|\\*", first) is not None and rest.lower() == b".".join(base).lower()
    return pattern.lower() == host.lower()
''')

helper("der_values", (), (), '''
def der_values(der):
    """The (tag, content) of each DER value in der, one after the other."""
    at = 0
    while at < len(der):
        tag, size, at = der[at], der[at + 1], at + 2
        if size & 0x80:  # long form: the next size & 0x7F bytes are the length
            size, at = int.from_bytes(der[at:at + (size & 0x7F)], "big"), at + (size & 0x7F)
        yield tag, der[at:at + size]
        at += size
''')

helper("cert_info", ("ssl",), ("der_values",), '''
def cert_info(cert):
    """cert.get_info(): OpenSSL's reading of a certificate (subject, issuer, validity). It raises
    UnicodeDecodeError when a field the peer chose (a SAN, an AIA URI) is not UTF-8: then the
    subject, issuer and validity are read from the DER, undecodable bytes kept for note() to escape."""
    try:
        return cert.get_info()
    except UnicodeDecodeError:
        return der_names(cert.public_bytes(ssl._ssl.ENCODING_DER))


NAME_KEYS = {b"\\x55\\x04\\x03": "commonName", b"\\x55\\x04\\x0a": "organizationName",
             b"\\x55\\x04\\x0b": "organizationalUnitName", b"\\x55\\x04\\x06": "countryName"}


def der_names(der):
    """The subject, issuer and validity of a certificate's DER, in get_info()'s shape ({} if it cannot be
    walked)."""
    try:
        parts = list(der_values(next(der_values(next(der_values(der))[1]))[1]))
        if parts[0][0] == 0xA0:  # [0]: the version
            parts = parts[1:]
        # serial, signature algorithm, issuer, validity, subject, ...
        not_before, not_after = (value.decode("ascii", "replace") for _, value in der_values(parts[3][1]))
        return {"issuer": name_of(parts[2][1]), "subject": name_of(parts[4][1]),
                "notBefore": not_before, "notAfter": not_after}  # (as the DER writes them: YYMMDDhhmmssZ)
    except (IndexError, StopIteration, ValueError):
        return {}


def name_of(content):
    """A Name's RDNs as get_info() gives them: ((("commonName", "x"),), ...), the text undecoded bytes kept."""
    return tuple(tuple((NAME_KEYS.get(oid, oid.hex()), value.decode("utf-8", "surrogateescape"))
                       for (_, oid), (_, value) in (list(der_values(pair))[:2] for _, pair in der_values(rdn)))
                 for _, rdn in der_values(content))
''')

helper("starttls", ("ssl", "time"), ("note", "take"), '''
class StartTlsRefused(ssl.SSLError):
    """The server did not give the go-ahead for TLS (netrepl's failure kind starttls)."""


MAX_REPLY_LINES = 200  # lines of one reply: more is not a real server


def tell(sock, line):
    """Send one command line of the dialogue (shown as `> line`)."""
    sock.sendall(line + b"\\r\\n")
    note(">", repr(line)[2:-1])


def read_reply(sock, pending, timeout, done=None):
    """The lines of one server reply without their line endings, each shown as `< line`, until
    done(line) says it is the last (None: one line), all within one timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    lines = []
    try:
        while len(lines) < MAX_REPLY_LINES:
            while (end := pending.find(b"\\n") + 1) == 0:
                if len(pending) >= 65536:
                    raise StartTlsRefused("the server sent a line longer than 65536 bytes")
                if deadline is not None:
                    if deadline <= time.monotonic():
                        raise TimeoutError(f"no complete answer within {timeout} s")
                    sock.settimeout(deadline - time.monotonic())
                chunk = sock.recv(65536)
                if not chunk:
                    after = f" after {bytes(pending)[:300]!r}" if pending else ""
                    raise StartTlsRefused(f"the server closed the connection{after} before its answer was complete")
                pending += chunk
            line = take(pending, end).rstrip(b"\\r\\n")
            note("<", repr(line)[2:-1])
            lines.append(line)
            if done is None or done(line):
                return lines
    finally:
        sock.settimeout(timeout)
    raise StartTlsRefused(f"more than {MAX_REPLY_LINES} lines and no end")


def code_reply_ended(line):
    """SMTP and FTP: `250-...` goes on, `250 ...` (or a bare `250`) is the last line."""
    return len(line) < 4 or line[3:4] != b"-"


def expect_code(lines, code, what):
    if lines[-1][:3] != code:
        raise StartTlsRefused(f"{what}: the server answered {lines[-1][:300]!r}, not {code.decode()}")
''')

helper("helo_name", (), (), '''
def helo_name(sock):
    """EHLO's argument: our address as an RFC 5321 address literal ([127.0.0.1], [IPv6:::1])."""
    host = sock.getsockname()[0]
    return (f"[IPv6:{host}]" if ":" in host else f"[{host}]").encode("ascii")
''')
