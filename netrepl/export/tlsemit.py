"""TLS's entries of the export table (table.py): `set tls OPTION VALUE` (kept, for the
next handshake's SSLContext), `tls [-k] [NAME]` (the context, then wrap_socket on the
session socket) and `starttls PROTO [NAME]` (the protocol's upgrade steps as explicit
sends and checked replies, byte for byte what netrepl sends, then the same handshake)."""

from __future__ import annotations

from netrepl.core.starttls import SSL_REQUEST
from netrepl.export import tlsprelude  # noqa: F401 (the helpers these emitters need)
from netrepl.export.program import Program
from netrepl.export.table import emitter
from netrepl.export.values import to_str

VERSIONS = {"1.0": "ssl.TLSVersion.TLSv1", "1.1": "ssl.TLSVersion.TLSv1_1", "1.2": "ssl.TLSVersion.TLSv1_2",
            "1.3": "ssl.TLSVersion.TLSv1_3"}
NONE = {"ca": "system", "cert": "none", "key": "none", "min": "default", "max": "default"}


@emitter("set tls")
def _set_tls(p: Program, parsed) -> None:
    option, value = parsed.args["option"], parsed.args["value"]
    if option is None or value is None:
        p.comment("(netrepl shows the TLS settings here: nothing to run)")
        return
    raw = p.raw(parsed, "value")
    if raw is not None and option not in ("ca", "cert", "key"):
        p.refuse(f"`set tls {option}` naming a variable is not exported: write the value")
    if option == "sni":
        p.tls_settings["sni"] = value == "on"
    elif option == "ciphers":  # written out where the context is made (_settings, _server)
        if raw is not None:
            p.refuse("`set tls ciphers` naming a variable is not exported: write the string")
        p.tls_settings["ciphers"] = None if value == "default" else value
    elif option == "keylog":  # core/keylog.py: written out where the context is made (_keylog)
        if raw is not None:
            p.refuse("`set tls keylog` naming a variable is not exported: write the path")
        p.tls_settings["keylog"] = None if value == "none" else value
    elif option == "client-cert":  # what `tls --server` asks of the client (_server below)
        p.tls_settings["client_cert"] = None if value == "off" else value
    elif option == "alpn":
        p.tls_settings["alpn"] = None if value == ("none",) else list(value)
    elif raw is None and value == NONE.get(option):
        p.tls_settings[option] = None
    elif option in ("ca", "cert", "key"):  # a path, opened when the handshake runs
        code = to_str(p.value(parsed, "value")).code
        if raw is not None:  # its value may be the word for no file (ca system, cert none), as in netrepl
            p.need("tls_setting")
            code = f"tls_setting({code}, {NONE[option]!r})"
        elif value.startswith("~") and option != "ca":  # (tls_context expands ca)
            p.imports.add("os")
            code = f"os.path.expanduser({code})"
        p.tls_settings[option] = code
    else:
        p.tls_settings[option] = VERSIONS[value]
    p.comment("(a setting of the SSLContext the next handshake builds: written out there)")


def _context(p: Program, insecure: bool, sni: bool) -> None:
    """`context = ...` from the settings in force (core/tls.py TlsSettings._make). A setting that
    cannot be used (a CA or certificate file) is FileProblem: netrepl's kind file, not tls."""
    p.imports.add("ssl")
    p.need("tls_context")
    p.need("file_problem")
    p.code("try:  # the SSLContext of the `set tls` settings")
    p.depth += 1
    _settings(p, insecure, sni)
    p.depth -= 1
    p.code("except (OSError, ValueError) as exc:",
           "    raise file_problem(exc, 'the TLS settings cannot be used') from None")


def _settings(p: Program, insecure: bool, sni: bool) -> None:
    t = p.tls_settings
    p.code(f"context = tls_context({t['ca']})" if t.get("ca") else "context = tls_context()  # the system trust store")
    if insecure:  # tls -k
        p.code("context.check_hostname = False", "context.verify_mode = ssl.CERT_NONE  # nothing verified (tls -k)")
    elif not sni:
        p.code("context.check_hostname = False  # no SNI sent: the name is checked after the handshake")
    if t.get("alpn"):
        p.code(f"context.set_alpn_protocols({t['alpn']!r})")
    if t.get("cert"):  # (load_client_cert: regular files only, an encrypted key refused, never prompted for)
        p.need("load_client_cert")
        key = f", {t['key']}" if t.get("key") else ""
        if t["cert"].startswith("tls_setting("):  # none at run time: no client certificate
            p.code(f"cert = {t['cert']}", "if cert is not None:", f"    load_client_cert(context, cert{key})")
        else:
            p.code(f"load_client_cert(context, {t['cert']}{key})")
    _controls(p, t)


def _controls(p: Program, t: dict) -> None:
    """`set tls ciphers|min|max` and the key log: the same lines for either side's context."""
    if t.get("ciphers"):
        p.code(f"context.set_ciphers({t['ciphers']!r})")
    if t.get("min"):
        p.code(f"context.minimum_version = {t['min']}")
    if t.get("max"):
        p.code(f"context.maximum_version = {t['max']}")
    _keylog(p)


def _keylog(p: Program) -> None:
    """`set tls keylog FILE`: created 0600 without following a symlink, then handed to OpenSSL."""
    path = p.tls_settings.get("keylog")
    if path is None:
        return
    p.imports.add("os")
    p.code("# set tls keylog: NSS key log lines (Wireshark decrypts with them); private, never via a symlink",
           f"os.close(os.open({path!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600))",
           f"context.keylog_filename = {path!r}")


def _handshake(p: Program, parsed) -> None:
    """The handshake on the session socket, upgraded in place: from here on sock speaks TLS."""
    given = parsed.args["name"] is not None or p.raw(parsed, "name")
    if not given and p.family == "unix":  # netrepl's own check (core/tls.py), before anything is sent
        p.may_refuse("usage")
        said = ("tls: a Unix socket has no host name to send (SNI) and check the certificate against: "
                "name the server, `tls NAME`")
        p.code(f"raise StepRefused({said!r}, 'usage')")
        return
    name = p.host(parsed, "name") if given else p.peer or "sock.getpeername()[0]"
    insecure, sni = "-k" in parsed.flags, p.tls_settings.get("sni", True)
    if p.pending:  # netrepl's handshake drops them too (core/tls.py)
        p.need("note")
        p.code("if pending:  # received in plaintext and not consumed: never part of the TLS stream "
               "(a STARTTLS injection?)",
               '    note(f"warning: {len(pending)} bytes received in plaintext before the handshake were '
               'discarded: {bytes(pending[:300])!r}")')
        p.hex_code("    View.offset += len(pending)  # consumed: the stream offset counts them, as netrepl's does")
        p.code("    pending.clear()")
    _context(p, insecure, sni)
    p.need("note")
    if sni or not insecure:  # SNI off, verifying: the name the certificate is checked against after
        p.need("check_server_name")
        p.may_refuse("usage")
        why = "" if sni else ", ', so the certificate could not be checked against it'"
        p.code(f"check_server_name(context, {name}{why})")
    p.code("try:  # wrap_socket takes the socket over")
    p.depth += 1
    if sni:
        p.code(f"sock = context.wrap_socket(sock, server_hostname={name})")
    else:
        p.code("sock = context.wrap_socket(sock)  # set tls sni off: no server name sent")
        if not insecure:
            p.need("check_name")
            p.code(f"check_name(sock, {name})")
    p.depth -= 1
    p.code("except OSError:  # no socket is left, as in netrepl: a later command that needs one fails",
           "    sock.close()",
           "    sock = None",
           '    note("the handshake did not finish, so the connection can carry neither plaintext nor TLS: closed it")',
           "    raise")
    p.need("tls_summary")
    p.code(f"tls_summary(sock, {name})")
    p.tls = True


def _session_ready(p: Program, command: str) -> None:
    p.no_socket(command)
    if p.proto != "tcp" or p.tls:
        p.refuse_state(f"`{command}` here: netrepl refuses it (its own state check); not exported")


@emitter("tls")
def _tls(p: Program, parsed) -> None:
    _session_ready(p, "tls")
    if "--server" in parsed.flags:
        _server(p, parsed)
        return
    _handshake(p, parsed)


def _server(p: Program, parsed) -> None:
    """`tls --server`: the server side (core/tlsserver.py), with the lab certificate unless `set tls cert`."""
    from netrepl.lab.tlskinds import CA, CERTS, KEY

    if "-k" in parsed.flags:
        p.refuse("`tls -k --server`: netrepl refuses it (-k is the client's); not exported")
    t = p.tls_settings
    if (t.get("cert") or "").startswith("tls_setting(") or (t.get("ca") or "").startswith("tls_setting("):
        p.refuse("`tls --server` after `set tls cert/ca` naming a variable is not exported: write the path")
    p.imports.add("ssl")
    p.need("note")
    cert, key = (t["cert"], t.get("key") or "None") if t.get("cert") else (repr(str(CERTS / "localhost.pem")),
                                                                           repr(str(KEY)))
    p.code("context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # tls --server: this side is the server",
           f"context.load_cert_chain({cert}, {key})")
    if t.get("alpn"):
        p.code(f"context.set_alpn_protocols({t['alpn']!r})  # selected from what the client offers")
    _controls(p, t)
    if t.get("client_cert"):
        mode = "CERT_REQUIRED" if t["client_cert"] == "require" else "CERT_OPTIONAL"
        p.code(f"context.verify_mode = ssl.{mode}  # set tls client-cert {t['client_cert']}",
               f"context.load_verify_locations({t.get('ca') or repr(str(CA))})")
    p.code("try:",
           "    sock = context.wrap_socket(sock, server_side=True)",
           "except OSError:  # no socket is left, as in netrepl",
           "    sock.close()",
           "    sock = None",
           '    note("the handshake did not finish, so the connection can carry neither plaintext nor TLS: closed it")',
           "    raise",
           "client = sock.getpeercert(binary_form=True)  # (the DER: its decoded dict raises on a name not UTF-8)",
           'note(f"TLS {sock.version()} handshake as the server: {sock.cipher()[0]}, ALPN '
           '{sock.selected_alpn_protocol()}, client certificate {der_names(client) if client else None}")')
    p.need("cert_info")
    p.tls = True


# ----- STARTTLS: core/starttls.py's steps, the same bytes on the wire --------------------------------

def _smtp(p: Program) -> None:  # RFC 3207
    p.need("helo_name")
    p.code("expect_code(read_reply(sock, pending, timeout, code_reply_ended), b'220', 'the greeting')",
           "tell(sock, b'EHLO ' + helo_name(sock))",
           "reply = read_reply(sock, pending, timeout, code_reply_ended)",
           "expect_code(reply, b'250', 'EHLO')",
           "if not any(line[4:].strip().upper().startswith(b'STARTTLS') for line in reply):",
           "    note('(the EHLO reply does not offer STARTTLS; asking anyway)')",
           "tell(sock, b'STARTTLS')",
           "expect_code(read_reply(sock, pending, timeout, code_reply_ended), b'220', "
           "'the server refused STARTTLS')")


def _imap(p: Program) -> None:  # RFC 9051
    p.code("greeting = read_reply(sock, pending, timeout)[0]",
           "if not greeting.upper().startswith((b'* OK', b'* PREAUTH')):",
           "    raise StartTlsRefused(f'the greeting is not `* OK`: {greeting[:300]!r}')",
           "tell(sock, b'a001 CAPABILITY')",
           "reply = read_reply(sock, pending, timeout, lambda line: line.startswith(b'a001 '))",
           "if b' STARTTLS' not in b' '.join(line.upper() for line in reply[:-1] "
           "if line.upper().startswith(b'* CAPABILITY')):",
           "    note('(CAPABILITY does not list STARTTLS; asking anyway)')",
           "tell(sock, b'a002 STARTTLS')",
           "reply = read_reply(sock, pending, timeout, lambda line: line.startswith(b'a002 '))",
           "if not reply[-1].upper().startswith(b'A002 OK'):",
           "    raise StartTlsRefused(f'the server refused STARTTLS: {reply[-1][:300]!r}')")


def _pop3(p: Program) -> None:  # RFC 2595
    p.code("greeting = read_reply(sock, pending, timeout)[0]",
           "if not greeting.startswith(b'+OK'):",
           "    raise StartTlsRefused(f'the greeting is not +OK: {greeting[:300]!r}')",
           "tell(sock, b'CAPA')",
           "capabilities = []",
           "if read_reply(sock, pending, timeout)[0].startswith(b'+OK'):  # a list ending with a line '.'",
           "    capabilities = read_reply(sock, pending, timeout, lambda line: line == b'.')",
           "if not any(line.strip().upper() == b'STLS' for line in capabilities):",
           "    note('(CAPA does not list STLS; asking anyway)')",
           "tell(sock, b'STLS')",
           "answer = read_reply(sock, pending, timeout)[0]",
           "if not answer.startswith(b'+OK'):",
           "    raise StartTlsRefused(f'the server refused STLS: {answer[:300]!r}')")


def _ftp(p: Program) -> None:  # RFC 4217
    p.code("expect_code(read_reply(sock, pending, timeout, code_reply_ended), b'220', 'the greeting')",
           "tell(sock, b'AUTH TLS')",
           "expect_code(read_reply(sock, pending, timeout, code_reply_ended), b'234', "
           "'the server refused AUTH TLS')")


def _postgres(p: Program) -> None:
    p.code(f"sock.sendall({SSL_REQUEST!r})  # the SSLRequest: length 8, code 80877103 (1234 << 16 | 5679)",
           f"note({'> SSLRequest (8 bytes: ' + SSL_REQUEST.hex(' ') + ')'!r})",
           "answer = take(pending, 1) or sock.recv(1)  # one byte: what follows an 'S' is TLS, never plaintext",
           "note('<', repr(answer)[2:-1])",
           "if answer != b'S':",
           "    raise StartTlsRefused({b'': 'the server closed the connection instead of answering the SSLRequest', "
           "b'N': \"the server refused TLS: it answered 'N' (ssl is off on the server)\"}.get(answer, "
           "f'the server answered {answer!r}, not S or N: is it PostgreSQL?'))")


STEPS = {"smtp": _smtp, "imap": _imap, "pop3": _pop3, "ftp": _ftp, "postgres": _postgres}


@emitter("starttls")
def _starttls(p: Program, parsed) -> None:
    proto = parsed.args["proto"]
    _session_ready(p, f"starttls {proto}")
    p.need("starttls")
    p.uses.update(("timeout", "pending"))
    p.pending = True
    p.comment(f"({proto}'s own STARTTLS steps, each line shown, each reply checked; then the handshake)")
    STEPS[proto](p)
    _handshake(p, parsed)


@emitter("certs")
def _certs(p: Program, parsed) -> None:
    """The chain the peer sent (core/chain.py): listed, or saved as PEM (`certs > FILE.pem`)."""
    p.no_socket("certs")
    if not p.tls:
        p.refuse_state("`certs` before `tls`: netrepl refuses it (no TLS on the connection); not exported")
    if p.raw(parsed, "path") is not None:
        p.refuse("`certs > PATH` naming a variable is not exported: write the path")
    p.imports.add("ssl")
    p.need("note")
    p.code("# the chain the peer sent, leaf first (get_unverified_chain: private in 3.11, public from 3.13)",
           "chain = sock._sslobj.get_unverified_chain() or []")
    path = parsed.args.get("path")
    if path is not None:
        p.code(f"with open({path!r}, 'w', encoding='ascii') as f:",
               "    f.write(''.join(ssl.DER_cert_to_PEM_cert(c.public_bytes(ssl._ssl.ENCODING_DER)) for c in chain))",
               f"note(f'wrote {{len(chain)}} certificates to ' + {path!r} + ' (PEM)')")
    else:
        p.need("cert_info")
        p.code("for depth, cert in enumerate(chain):",
               "    info = cert_info(cert)  # (get_info(), or the DER's names where a field is not UTF-8)",
               "    note(f\"certificate {depth}: subject {info.get('subject')!r}; issuer {info.get('issuer')!r}; \"",
               "         f\"valid {info.get('notBefore')} to {info.get('notAfter')}\")")
