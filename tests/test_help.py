"""`help` is generated from the registry: the list names every command, and
`help X` shows X's usage and help text as the registry describes them."""

from __future__ import annotations

import pytest

from conftest import run, run_cli, text_of
from netrepl.commands import REGISTRY
from netrepl.render.escape import is_terminal_safe


def test_help_lists_every_command_with_its_help_line(ex):
    result = run(ex, "help")
    assert result.ok
    text = text_of(result)
    listed = {line.split()[0] for line in text.splitlines() if line and not line.startswith((" ", "`"))}
    assert set(REGISTRY.names()) <= listed
    for cmd in REGISTRY:
        line = next(row for row in text.splitlines() if row.split()[:1] == [cmd.name])
        assert cmd.help in line
    assert is_terminal_safe(text.replace("\n", ""))


@pytest.mark.parametrize("name", REGISTRY.all_names())
def test_help_for_each_command_shows_its_registry_usage(ex, name):
    cmd = REGISTRY.get(name)
    result = run(ex, f"help {name}")
    assert result.ok, text_of(result)
    text = text_of(result)
    lines = text.splitlines()
    usage_lines = cmd.usage().splitlines()
    assert lines[0] == "usage: " + usage_lines[0]
    for extra in usage_lines[1:]:  # sub-commands, one per line, aligned under the first
        assert " " * len("usage: ") + extra in lines
    assert cmd.help in text
    if cmd.details:
        assert cmd.details in text
    for alias in cmd.aliases:
        assert alias in text
    for spec in cmd.subcommands.values():
        assert spec.usage() in text


def test_help_usage_names_every_argument_and_choice(ex):
    for cmd in REGISTRY:
        text = text_of(run(ex, f"help {cmd.name}"))
        for spec in [cmd, *cmd.subcommands.values()]:
            for arg in spec.args:
                if arg.type.name == "redirect":
                    assert f"{arg.type.symbol} PATH" in text
                    continue
                assert arg.name in text or all(c in text for c in arg.choices), (cmd.name, arg.name)
                for choice in arg.choices:
                    assert choice in text
            for flag in spec.flags:
                assert f"[{flag}]" in text


@pytest.mark.parametrize("typo, meant", [("conect", "connect"), ("recvfrm", "recvfrom"), ("shutdwn", "shutdown"),
                                         ("sendt", "sendto"), ("exti", "exit")])
def test_help_for_an_unknown_command_suggests_a_close_one(ex, typo, meant):
    result = run(ex, f"help {typo}")
    assert not result.ok
    assert result.error.kind == "syntax"  # checked when the line is parsed: a script exits 2
    text = text_of(result)
    assert f"no command {typo!r}" in text
    assert f"did you mean {meant!r}" in text


def test_help_for_nonsense_gets_no_guess(ex):
    result = run(ex, "help zzqqxx")
    assert not result.ok and "did you mean" not in text_of(result)


def test_help_names_a_setting_only_for_commands_that_have_settings(ex):
    result = run(ex, "help recv extra")
    assert not result.ok and "recv has no setting 'extra'" in text_of(result)
    result = run(ex, "help set bogus")
    assert not result.ok and "settings: eol, display, live, var" in text_of(result)
    result = run(ex, "help set recv extra")
    assert not result.ok and "unexpected argument 'extra'" in text_of(result)


def test_help_explains_each_setting(ex):
    overview = text_of(run(ex, "help set"))
    for name, sub in REGISTRY.get("set").subcommands.items():
        assert sub.help in overview
        one = run(ex, f"help set {name}")
        assert one.ok and f"usage: {sub.usage()}" in text_of(one) and sub.help in text_of(one)


def test_help_through_the_cli():
    done = run_cli("-q", "-c", "help recv")
    assert done.returncode == 0, done.stderr
    assert "usage: " + REGISTRY.get("recv").usage() in done.stdout
    done = run_cli("-q", "-c", "help conect")
    assert done.returncode == 2
    assert "did you mean 'connect'" in done.stdout + done.stderr


def test_a_setting_the_command_lacks_is_rejected_by_the_whole_script_check():
    """`help recv 0` passed the check and failed at run time (exit 1, not 2), as `serve http 0
    udp` did before the argument types: the type's rule now runs once every word is in."""
    p = run_cli("-c", "print first; help recv 0")
    assert p.returncode == 2 and "first" not in p.stdout, p.stdout + p.stderr
    assert "-c:2:11: SETTING: recv has no setting '0' (settings: none)" in p.stderr
    assert run_cli("-c", "help set bogus").returncode == 2
    assert run_cli("-q", "-c", "help set eol").returncode == 0
