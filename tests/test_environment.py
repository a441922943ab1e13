"""The tests test this checkout, with the tools of the environment that runs them.

A machine can have its own netrepl (installed outside the venv), pygmentize and
pytest on PATH; the suite once passed only because of them. These pin down that
what the tests import and run is the checkout and the interpreter's own environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import netrepl
from conftest import ROOT

BIN = Path(sys.executable).parent  # where this interpreter's environment puts entry points


def test_netrepl_imported_by_the_tests_is_the_checkout():
    assert Path(netrepl.__file__).resolve().is_relative_to(ROOT), netrepl.__file__


def test_netrepl_installed_in_this_environment_is_the_checkout(tmp_path):
    """From elsewhere (no checkout on sys.path), the interpreter still finds this checkout's
    netrepl: the editable install, not a copy installed outside the venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([sys.executable, "-c", "import netrepl; print(netrepl.__file__)"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve().is_relative_to(ROOT), done.stdout


def test_no_netrepl_distribution_outside_the_checkout_and_this_environment():
    """One elsewhere (a system or user site-packages) would mean this environment sees
    outside packages, and which pytest plugin or Pygments lexer entry point wins would be
    luck. (The checkout's own netrepl.egg-info, seen via the '' path entry, is fine.)"""
    places = [Path(str(dist.locate_file(""))).resolve() for dist in importlib.metadata.distributions()
              if dist.metadata["Name"] == "netrepl"]
    assert places, "netrepl is not installed in this environment"
    prefix = Path(sys.prefix).resolve()
    outside = [place for place in places if not (place == ROOT or place.is_relative_to(prefix))]
    assert not outside, outside


def test_the_environment_provides_the_entry_points_the_tests_run():
    """test_lexer runs BIN/pygmentize; the pytest plugin and the shell run through `python -m`,
    but `pytest`/`netrepl` next to the interpreter show the same environment installed them."""
    for name in ("pygmentize", "pytest", "netrepl"):
        exe = BIN / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{exe} missing: pip install -e '.[test]' into this env"
        # Its shebang (or, for a long path, pip's `exec` line after #!/bin/sh) names this
        # environment's interpreter, so it imports what the tests import.
        head = exe.read_text(errors="replace").splitlines()[:3]
        assert head[0].startswith("#!") and any(str(BIN / "python") in line for line in head), (exe, head)


def test_ci_runs_the_readme_test_command_behind_decoys_then_lint():
    """.ci/run puts decoys of the tools tests must not take from PATH first, then runs
    the README's test line (tests/test_readme.py checks it is exact), then ruff."""
    readme = (ROOT / "README.md").read_text().splitlines()
    test_line = readme[readme.index("```", 1) - 1]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    decoys = next(i for i, line in enumerate(ci) if line.startswith("for name in "))
    names = ci[decoys].removeprefix("for name in ").removesuffix("; do").split()
    assert {"pygmentize", "pytest", "netrepl", "python"} <= set(names), ci[decoys]
    assert ci.index('export PATH="$decoys:$PATH"') < ci.index(test_line) < \
        ci.index(".venv/bin/python -m ruff check netrepl tests scripts")
