"""The STARTTLS lab kinds: small SMTP, IMAP, POP3, FTP and PostgreSQL servers that upgrade to TLS.

Each speaks just enough of its protocol to practise the upgrade by hand (or
with `starttls PROTO`): a banner, the capability list that offers the upgrade
(EHLO's 250-STARTTLS, CAPABILITY's STARTTLS, CAPA's STLS, FEAT's AUTH TLS), the
upgrade itself, then the same dialogue over TLS (the upgrade no longer offered),
and a polite end (QUIT, LOGOUT) with close_notify. They hold no mail, accounts or
databases: a login is refused. smtp-inject is the fault: it sends a line of
plaintext right behind its 220, the STARTTLS injection a client must not trust.

Per RFC 3207 section 4, what a client pipelined behind its STARTTLS in plaintext
is thrown away, never read as if it came over TLS (the CVE-2011-0411 fault).
Lines are at most MAX_LINE bytes (a longer one is answered with an error and the
connection closed); each read has the server's idle timeout.
"""

from __future__ import annotations

import socket
import struct

from netrepl.lab.handlers import finish
from netrepl.lab.tlskinds import close_notify, upgrade

MAX_LINE = 4096  # bytes; RFC 5321 allows 1000 for SMTP, IMAP has no limit (a lab needs one)
DATA_MAX = 1 << 20  # bytes of an SMTP DATA section read (and dropped) at most
HOST = "localhost"


class LineTooLong(Exception):
    pass


class Lines:
    """Lines from one connection, which may become TLS in the middle."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.buf = bytearray()

    def readline(self) -> str | None:
        """The next line without its line ending (latin-1: any byte is a character); None at EOF."""
        while (at := self.buf.find(b"\n")) < 0:
            if len(self.buf) > MAX_LINE:
                raise LineTooLong
            chunk = self.conn.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        if at > MAX_LINE:
            raise LineTooLong
        line = bytes(self.buf[:at]).rstrip(b"\r")
        del self.buf[:at + 1]
        return line.decode("latin-1")

    def send(self, *lines: str) -> None:
        self.conn.sendall("".join(line + "\r\n" for line in lines).encode("latin-1"))

    def upgrade(self, server) -> bool:
        """TLS from here on (the client was told to start it). False if the server is stopping."""
        self.buf.clear()  # plaintext pipelined behind the upgrade command: dropped, never trusted
        tls = upgrade(self.conn, server)
        if tls is None:
            return False
        self.conn = tls
        return True

    @property
    def tls(self) -> bool:
        return hasattr(self.conn, "cipher")

    def end(self) -> None:
        """close_notify over TLS, else the plain FIN-and-drain of the classic kinds."""
        (close_notify if self.tls else finish)(self.conn)


def _dialogue(conn: socket.socket, server, banner: str, answer) -> None:
    """Banner, then `answer(lines, line)` for each line until it returns False (or EOF)."""
    lines = Lines(conn)
    lines.send(banner)
    try:
        while (line := lines.readline()) is not None:
            if not answer(lines, line):
                break
    except LineTooLong:
        lines.send("500 line too long" if banner[0].isdigit() else "* BAD line too long")
    lines.end()


# ----- SMTP (RFC 5321, STARTTLS: RFC 3207) -----------------------------------------

def smtp(conn: socket.socket, server, inject: bool = False) -> None:
    _dialogue(conn, server, f"220 {HOST} ESMTP netrepl lab (lab use only)", lambda lines, line: _smtp(
        lines, line, server, inject))


def smtp_inject(conn: socket.socket, server) -> None:
    smtp(conn, server, inject=True)


def _smtp(lines: Lines, line: str, server, inject: bool) -> bool:
    verb, _, arg = line.strip().partition(" ")
    verb = verb.upper()
    if verb == "EHLO":
        offer = [] if lines.tls else ["250-STARTTLS"]
        lines.send(f"250-{HOST} greets {arg or 'you'}", "250-8BITMIME", *offer, "250 HELP")
    elif verb == "HELO":
        lines.send(f"250 {HOST}")
    elif verb == "STARTTLS":
        if lines.tls:
            lines.send("503 5.5.1 TLS already active")
        elif arg:
            lines.send("501 5.5.4 STARTTLS takes no parameters")
        else:
            extra = "250 injected before TLS: a client must not read this\r\n" if inject else ""
            lines.conn.sendall(b"220 2.0.0 Ready to start TLS\r\n" + extra.encode())
            return lines.upgrade(server)
    elif verb in ("NOOP", "RSET"):
        lines.send("250 2.0.0 OK")
    elif verb in ("MAIL", "RCPT"):
        lines.send("250 2.1.0 OK" if lines.tls else "530 5.7.0 Must issue a STARTTLS command first")
    elif verb == "DATA":
        if not lines.tls:
            lines.send("530 5.7.0 Must issue a STARTTLS command first")
            return True
        lines.send("354 End data with <CR><LF>.<CR><LF>")
        size = 0
        while (body := lines.readline()) is not None and body != ".":
            size += len(body) + 2
            if size > DATA_MAX:
                lines.send("552 5.3.4 message too big for the lab")
                return False
        lines.send("250 2.0.0 OK: delivered nowhere (the lab keeps no mail)")
    elif verb == "QUIT":
        lines.send("221 2.0.0 Bye")
        return False
    else:
        lines.send("500 5.5.2 command not recognized")
    return True


# ----- IMAP (RFC 9051, STARTTLS: section 6.2.1) --------------------------------------

def imap(conn: socket.socket, server) -> None:
    _dialogue(conn, server, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] netrepl lab IMAP (lab use only) ready",
              lambda lines, line: _imap(lines, line, server))


def _imap(lines: Lines, line: str, server) -> bool:
    tag, _, rest = line.strip().partition(" ")
    verb = rest.split(" ", 1)[0].upper()
    if not tag or not verb:
        lines.send("* BAD expected a tag and a command (a001 CAPABILITY)")
    elif verb == "CAPABILITY":
        caps = "IMAP4rev1 AUTH=PLAIN" if lines.tls else "IMAP4rev1 STARTTLS LOGINDISABLED"
        lines.send(f"* CAPABILITY {caps}", f"{tag} OK CAPABILITY completed")
    elif verb == "STARTTLS":
        if lines.tls:
            lines.send(f"{tag} BAD TLS already active")
        else:
            lines.send(f"{tag} OK Begin TLS negotiation now")
            return lines.upgrade(server)
    elif verb == "NOOP":
        lines.send(f"{tag} OK NOOP completed")
    elif verb in ("LOGIN", "AUTHENTICATE"):
        lines.send(f"{tag} NO [AUTHENTICATIONFAILED] the lab has no mailboxes" if lines.tls
                   else f"{tag} NO [PRIVACYREQUIRED] use STARTTLS first")
    elif verb == "LOGOUT":
        lines.send("* BYE netrepl lab IMAP logging out", f"{tag} OK LOGOUT completed")
        return False
    else:
        lines.send(f"{tag} BAD command not recognized")
    return True


# ----- POP3 (RFC 1939, STLS: RFC 2595) -----------------------------------------------

def pop3(conn: socket.socket, server) -> None:
    _dialogue(conn, server, "+OK netrepl lab POP3 (lab use only) ready", lambda lines, line: _pop3(lines, line, server))


def _pop3(lines: Lines, line: str, server) -> bool:
    verb = line.strip().split(" ", 1)[0].upper()
    if verb == "CAPA":
        lines.send("+OK capability list follows", "USER", *([] if lines.tls else ["STLS"]), ".")
    elif verb == "STLS":
        if lines.tls:
            lines.send("-ERR TLS already active")
        else:
            lines.send("+OK begin TLS negotiation")
            return lines.upgrade(server)
    elif verb in ("USER", "PASS"):
        lines.send("-ERR the lab has no mailboxes" if lines.tls else "-ERR use STLS first")
    elif verb == "NOOP":
        lines.send("+OK")
    elif verb == "QUIT":
        lines.send("+OK bye")
        return False
    else:
        lines.send("-ERR command not recognized")
    return True


# ----- FTP (RFC 959, AUTH TLS: RFC 4217) ---------------------------------------------

def ftp(conn: socket.socket, server) -> None:
    _dialogue(conn, server, "220 netrepl lab FTP (lab use only) ready", lambda lines, line: _ftp(lines, line, server))


def _ftp(lines: Lines, line: str, server) -> bool:
    verb, _, arg = line.strip().partition(" ")
    verb = verb.upper()
    if verb == "FEAT":
        lines.send("211-Features:", " AUTH TLS", " PBSZ", " PROT", "211 End")
    elif verb == "AUTH":
        if arg.upper() not in ("TLS", "SSL", "TLS-C"):
            lines.send("504 unknown security mechanism (AUTH TLS)")
        elif lines.tls:
            lines.send("503 TLS already active")
        else:
            lines.send("234 AUTH TLS successful")
            return lines.upgrade(server)
    elif verb == "PBSZ":
        lines.send("200 PBSZ=0")
    elif verb == "PROT":
        lines.send("200 PROT now Private" if arg.upper() == "P" else "536 only PROT P")
    elif verb in ("USER", "PASS"):
        lines.send("530 the lab has no accounts" if lines.tls else "530 use AUTH TLS first")
    elif verb == "SYST":
        lines.send("215 UNIX Type: L8")
    elif verb == "NOOP":
        lines.send("200 NOOP ok")
    elif verb == "QUIT":
        lines.send("221 Goodbye")
        return False
    else:
        lines.send("502 command not implemented")
    return True


# ----- PostgreSQL (SSLRequest: protocol section 54.2.10) -----------------------------

SSL_REQUEST = 80877103  # the request code of the 8-byte SSLRequest: int32 length 8, int32 this
GSS_REQUEST = 80877104
STARTUP_MAX = 10000  # bytes: a startup packet longer than this is not one


def _read_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _pg_error(code: str, message: str) -> bytes:
    fields = b"".join(tag + text.encode() + b"\0" for tag, text in
                      ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))) + b"\0"
    return b"E" + struct.pack("!I", 4 + len(fields)) + fields


def postgres(conn: socket.socket, server) -> None:
    """SSLRequest -> 'S' and TLS (GSSENCRequest -> 'N'); any startup packet then gets a FATAL ErrorResponse."""
    tls = None
    while True:
        head = _read_exact(conn, 8)
        if head is None:
            break
        length, code = struct.unpack("!II", head)
        if length == 8 and code == SSL_REQUEST and tls is None:
            conn.sendall(b"S")
            tls = upgrade(conn, server)
            if tls is None:
                return
            conn = tls
            continue
        if length == 8 and code == GSS_REQUEST:
            conn.sendall(b"N")
            continue
        if 8 <= length <= STARTUP_MAX:
            _read_exact(conn, length - 8)
            message = "the netrepl lab has no databases (lab use only)" if tls else "the netrepl lab requires SSL"
            conn.sendall(_pg_error("28000", message))
        else:
            conn.sendall(_pg_error("08P01", "invalid startup packet length"))
        break
    (close_notify if tls is not None else finish)(conn)
