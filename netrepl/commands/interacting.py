"""`interact`: hand the session to the person, as nc does (the shell runs it: shell/interact.py).

Here is what every front end shares: the command itself (help, completion,
the script check, which refuses it in a script) and `refusal`, which says
why the session cannot be handed over now. The handler runs only where no
person is at a prompt (piped standard input), and says so.
"""

from __future__ import annotations

from netrepl.commands.common import error
from netrepl.core.results import Result
from netrepl.language.registry import CommandSet

COMMANDS = CommandSet()
SHELL_ONLY = ("`interact` hands the session to a person at the shell's prompt; a script talks with "
              "`send` and `expect` (or `recv`) instead")


def refusal(ex) -> Result | None:
    """Why `interact` cannot start on this session now (a Result to show), or None."""
    s = ex.session
    if s.transport is None:
        return error(ex, "state", "interact", "no socket to talk on: `connect HOST PORT` (or `accept`) first")
    if s.lost:
        return error(ex, "state", "interact", f"the connection was lost ({s.lost}): `connect` again first")
    if s.stream and not s.connected:
        return error(ex, "state", "interact", "the socket is not connected: `connect HOST PORT` first")
    if not s.stream and not s.connected:
        return error(ex, "state", "interact", "a datagram socket needs a default peer: `connect HOST PORT` first")
    if s.peer_eof and s.wr_shut:
        return error(ex, "state", "interact", "both sides have closed: nothing to send or receive")
    return None


@COMMANDS.command("interact", help="talk to the peer as with nc: each typed line is sent, what arrives is shown; "
                                   "Ctrl-] returns, Ctrl-D half-closes",
                  details="Each line typed is sent with the line ending (`set eol`, default \\r\\n) as a `send` "
                          "step; what arrives is received as `recv` steps and shown as it comes, escaped; `record` "
                          "and `export` see those steps. Ctrl-] returns to the netrepl prompt and shows the state; "
                          "Ctrl-D half-closes (shutdown 1: the peer reads an end of stream) and keeps showing what "
                          "arrives until Ctrl-] or the peer closes. Ctrl-C clears the typed line. Typed lines have "
                          "their own history, next to the command history (its file name with .interact added). "
                          "Only in the shell: the check refuses `interact` in a script.",
                  shell_only=SHELL_ONLY)
def _interact(ex, a, flags):
    return refusal(ex) or error(ex, "usage", "interact", SHELL_ONLY)
