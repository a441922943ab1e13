"""The console script's entry point: netrepl.cli imported inside a Ctrl-C guard.

A Ctrl-C pressed in the first milliseconds lands while the CLI's modules are
still being imported, before cli.main can catch it; it must end the run with
exit 130 and one line, as any other interruption does, never a traceback.
"""

import sys


def main() -> int:
    try:
        from netrepl.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("\nnetrepl: interrupted\n")
        return 130  # ExitStatus.INTERRUPTED, not imported: the import itself was interrupted
    return cli_main()
