"""The `timing` command: the last connection's timed phases, drawn as a waterfall."""

from __future__ import annotations

from netrepl.commands.common import error
from netrepl.core.results import Elapsed, Endpoint, Result
from netrepl.core.sockstate import plural
from netrepl.core.timing import Phase, Timing, kernel_rtt
from netrepl.language.registry import CommandSet

COMMANDS = CommandSet()


@COMMANDS.command("timing", help="the last connection's phases as a waterfall (resolve, each connect "
                                 "attempt, first byte, transfer, kernel RTT)",
                  details="Shows the phases of the last `connect`: name resolution, each address tried "
                          "(a refused IPv6 address before IPv4 shows as its own row), the time to the first "
                          "byte after each send, the duration and rate of `recv all`, and the kernel's RTT "
                          "estimate (TCP_INFO, Linux) while the connection is open. Bars share one time "
                          "axis, fitted to the terminal; --stable masks the figures and the bars.")
def _timing(ex, a, flags):
    session = ex.session
    timing = session.timing
    if timing is None:
        return error(ex, "state", "timing", "nothing timed yet: `connect HOST PORT` first")
    transport = session.transport
    if transport is not None and transport.timing is timing and session.stream:
        timing.rtt = kernel_rtt(transport.sock) or timing.rtt  # the estimate now, after the traffic
    chosen = {server.port for server in ex.servers.values() if server.ephemeral}
    if chosen:  # a lab server's port the OS chose: --stable masks it, as in the connect line
        timing = Timing(timing.host, timing.began, [_marked(p, chosen) for p in timing.phases], timing.rtt,
                        dropped=timing.dropped, idle=timing.idle)
    result = Result(state=session.state(), waterfall=timing)
    attempts = sum(p.name == "connect" for p in timing.phases)
    result.say(f"timing of the connection to {timing.host} ({plural(attempts, 'connect attempt')}): ",
               Elapsed(timing.total), " in all")
    if timing.idle >= 1.0:  # a person's typing (or a `sleep`): no phase of the connection; said once
        result.say("time between commands left out: ", Elapsed(timing.idle))
    return result


def _marked(phase: Phase, chosen: set[int]) -> Phase:
    target = phase.target
    if target is None or target.ephemeral or target.port not in chosen:
        return phase
    return Phase(phase.name, phase.elapsed, phase.start, Endpoint(target.host, target.port, True), phase.outcome,
                 phase.detail)
