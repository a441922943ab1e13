"""`starttls [-k] PROTO [NAME]`: a protocol's own upgrade steps, then the `tls` handshake (core/starttls.py does them)."""

from __future__ import annotations

from netrepl.language.argtypes import Choice, Host
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
PROTOCOLS = ("smtp", "imap", "pop3", "ftp", "postgres")


@COMMANDS.command("starttls", Arg("PROTO", Choice(PROTOCOLS), "proto"),
                  Arg("NAME", Host(), "name", optional=True,
                      help="the server name sent as SNI and checked against the certificate (default: the host "
                           "given to `connect`)"),
                  flags={"-k": "do not verify the certificate (the report still says what verification found)"},
                  help="upgrade the connection with PROTO's own STARTTLS steps (smtp, imap, pop3, ftp, postgres), "
                       "then the `tls` handshake",
                  details="Right after `connect`: smtp reads the 220 greeting, sends EHLO, then STARTTLS and waits "
                          "for 220; imap reads `* OK`, sends `a001 CAPABILITY` and `a002 STARTTLS` (OK); pop3 reads "
                          "+OK, sends CAPA and STLS (+OK); ftp reads 220 and sends AUTH TLS (234); postgres sends "
                          "the 8-byte SSLRequest and reads one byte ('S': TLS follows, 'N': refused). Every line "
                          "is shown (`> ` sent, `< ` received, escaped); each reply has the timeout in all. A "
                          "refusal is a failure of kind tls. Then the handshake as `tls [-k] [NAME]` does it.")
def _starttls(ex, a, flags):
    # The dialogues are imported when the command runs, not with the registry at every start (docs/bench.md).
    from netrepl.core.starttls import upgrade

    result = upgrade(ex.session, a["proto"], a["name"], "-k" in flags)
    if result.error is None and ex.session.tls is not None:  # the chain, as `tls` lists it (tlscmds.py)
        from netrepl.commands.tlscmds import chain_lines

        result.lines += chain_lines(ex.session)
    return result
