"""The helper functions an exported program may need for TLS (the SSLContext, the
handshake's summary, a name check when SNI is off) and for the STARTTLS dialogues
(a server reply read line by line, a command line sent), as source text in
prelude.py's table; the program includes only those it uses.
"""

from __future__ import annotations

from netrepl.export.prelude import helper

helper("tls_context", ("os", "ssl"), (), '''
def tls_context(ca=None):
    """ssl.create_default_context(): the peer's certificate verified and its name checked, against
    the system trust store, or (ca: a CA file or directory) only the CAs in ca."""
    if ca is None:
        return ssl.create_default_context()
    ca = os.path.expanduser(ca)
    if os.path.isdir(ca):
        return ssl.create_default_context(capath=ca)
    return ssl.create_default_context(cafile=ca)
''')

helper("check_server_name", ("ssl",), ("step_refused",), '''
def check_server_name(context, name):
    """The name the handshake sends, checked first as wrap_socket checks it (on memory: nothing is
    sent, the socket stays as it is). One it refuses ("cannot start with a dot") is StepRefused:
    netrepl's kind usage, the connection as it was."""
    try:
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name)
    except ValueError as exc:
        raise StepRefused(f"tls: {name!r} cannot be a TLS server name: {exc}", "usage") from None
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

helper("check_name", ("ipaddress", "ssl"), (), '''
def check_name(sock, name):
    """The name against the certificate's subjectAltName (RFC 6125, as OpenSSL checks it: no
    CN), after a handshake that sent no SNI and so had OpenSSL check no name (set tls sni off)."""
    try:
        wanted = ipaddress.ip_address(name)
    except ValueError:
        wanted = None
    host = name.lower().rstrip(".")
    for kind, value in sock.getpeercert().get("subjectAltName", ()):
        if wanted is not None:
            if kind == "IP Address" and ipaddress.ip_address(value.strip()) == wanted:
                return
        elif kind == "DNS":
            pattern = value.lower().rstrip(".")
            first, _, rest = host.partition(".")
            if pattern == host or pattern.startswith("*.") and first and rest == pattern[2:]:
                return
    sock.close()
    error = ssl.SSLCertVerificationError(f"certificate verify failed: {name!r} is not among its names")
    error.verify_code = 64 if wanted is not None else 62  # X509_V_ERR_IP_ADDRESS/HOSTNAME_MISMATCH
    error.verify_message = "IP address mismatch" if wanted is not None else "hostname mismatch"
    raise error
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
