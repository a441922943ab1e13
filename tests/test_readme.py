"""The README's first lines are the commands users run; CI must run the same test line."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("```"), "the README must open with the two commands"
    end = lines.index("```", 1)
    return lines[1:end]


def test_readme_opens_with_install_demo_and_test_commands():
    demo, test = readme_commands()
    assert "pip install" in demo and "netrepl scripts/" in demo
    assert "pip install" in test and "'.[test]'" in test and "pytest" in test
    for script in demo.split("netrepl ", 1)[1].split():
        assert (ROOT / script).is_file(), f"the demo names {script}, which does not exist"


def test_ci_runs_the_readme_test_command_exactly():
    _, test = readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines
