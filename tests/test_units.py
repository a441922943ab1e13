"""render/units.py: byte counts and rates in human units."""

from __future__ import annotations

import pytest

from netrepl.render.units import human_bytes, human_rate


@pytest.mark.parametrize("n, shown", [
    (0, "0 B"), (7, "7 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (1048524, "1023.9 KiB"), (1048575, "1.0 MiB"),  # rounds up into the next unit, never "1024.0 KiB"
    (6772316382, "6.3 GiB"), (5 << 40, "5.0 TiB"), (2 ** 70, "1024.0 EiB"),
])
def test_human_bytes(n, shown):
    assert human_bytes(n) == shown


@pytest.mark.parametrize("rate, shown", [
    (0, "0 B/s"), (512.4, "512 B/s"), (999.6, "1.0 kB/s"), (1000, "1.0 kB/s"),
    (999_960, "1.0 MB/s"), (1.9e9, "1.9 GB/s"), (12.5e12, "12.5 TB/s"),
])
def test_human_rate(rate, shown):
    assert human_rate(rate) == shown


def test_units_is_stdlib_only():
    import ast
    import netrepl.render.units as units

    tree = ast.parse(open(units.__file__).read())
    imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__"}, imported
