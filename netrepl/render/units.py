"""Human units for byte counts and rates ("6.3 GiB", "1.9 GB/s"); stdlib only, shared by every front end."""

from __future__ import annotations

_BINARY = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_DECIMAL = ("kB/s", "MB/s", "GB/s", "TB/s", "PB/s", "EB/s")


def _scaled(value: float, step: float, units: tuple[str, ...]) -> str:
    for unit in units:
        value /= step
        # Round first: 1023.96 KiB would print as "1024.0 KiB" instead of moving up a unit.
        if round(value, 1) < step or unit == units[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_bytes(n: int) -> str:
    """A byte count in binary units: 0 B, 1023 B, 1.0 KiB, 6.3 GiB (exact below 1 KiB)."""
    if n < 1024:
        return f"{n} B"
    return _scaled(float(n), 1024.0, _BINARY)


def human_rate(bytes_per_s: float) -> str:
    """A transfer rate in decimal units, as network rates are quoted: 512 B/s, 1.9 GB/s."""
    if round(bytes_per_s) < 1000:
        return f"{bytes_per_s:.0f} B/s"
    return _scaled(float(bytes_per_s), 1000.0, _DECIMAL)
