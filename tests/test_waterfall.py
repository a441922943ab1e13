"""render/waterfall.py: bars on one time axis, fitted to the width, ASCII or Unicode, masked under --stable;
and the front end's choice of width and drawing (a terminal, NO_COLOR)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from conftest import ROOT
from netrepl.core.results import Elapsed, Endpoint
from netrepl.core.timing import Phase, Timing
from netrepl.render.text import plain
from netrepl.render.waterfall import bar, draw, ms


def sample() -> Timing:
    t = Timing("localhost", began=0.0)
    t.phases = [Phase("resolve", Elapsed(0.001), 0.0, detail="localhost"),
                Phase("connect", Elapsed(0.001), 0.001, Endpoint("::1", 8080), "refused"),
                Phase("connect", Elapsed(0.002), 0.002, Endpoint("127.0.0.1", 8080)),
                Phase("first byte", Elapsed(0.004), 0.004)]
    t.rtt = Elapsed(0.00003)
    return t


def rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "|" in line or "│" in line]


def test_rows_are_labelled_in_ms_and_proportional():
    text = plain(draw(sample(), width=80))
    lines = rows(text)
    assert [line.split("  ")[1].strip() for line in lines][:1] == ["resolve localhost"]
    assert "connect [::1]:8080 refused" in lines[1] and "1.00 ms" in lines[1]
    assert "connect 127.0.0.1:8080" in lines[2] and "2.00 ms" in lines[2]
    tracks = [line[line.index("|") + 1:line.rindex("|")] for line in lines]
    assert len({len(t) for t in tracks}) == 1
    width = len(tracks[0])
    first_byte = tracks[3]
    assert first_byte.index("#") == pytest.approx(width / 2, abs=1)  # starts half way along (4 of 8 ms)
    assert first_byte.count("#") == pytest.approx(width / 2, abs=1)  # and lasts half the axis
    assert tracks[0].count("#") == pytest.approx(width / 8, abs=1)
    assert "kernel RTT estimate (TCP_INFO): 0.03 ms" in text


@pytest.mark.parametrize("width", [30, 40, 60, 80, 132, 200])
def test_every_line_fits_the_width(width):
    lines = plain(draw(sample(), width=width)).splitlines()
    assert lines and all(len(line) <= width for line in lines), [len(x) for x in lines]
    if width >= 60:
        assert all("connect [::1]:8080 refused" in x for x in lines if "refused" in x)  # room: labels whole
    wide = max(len(x) for x in rows(plain(draw(sample(), width=width))))
    assert wide == width  # the bars use the room there is


def test_a_long_label_is_shortened_not_the_bars():
    t = sample()
    t.phases.append(Phase("transfer", Elapsed(0.001), 0.007, detail="x" * 300))
    lines = plain(draw(t, width=60)).splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert any("..." in line and "#" in line for line in lines)


def test_ascii_and_unicode():
    ascii_text = plain(draw(sample(), width=70))
    assert ascii_text.isascii() and "#" in ascii_text
    fancy = plain(draw(sample(), width=70, fancy=True))
    assert "█" in fancy and "│" in fancy and "#" not in fancy
    assert all(len(line) <= 70 for line in fancy.splitlines())


def test_unicode_bars_use_eighths():
    assert bar(0.0, 1 / 16, 10, True) == "▋" + " " * 9  # 5 of 8 eighths of a cell
    assert bar(0.5, 0.5, 10, True) == " " * 5 + "█" * 5
    assert bar(0.99, 0.0, 10, False) == " " * 9 + "#"  # never less than one cell


def test_failed_attempts_have_their_own_style():
    styles = {style for style, text in draw(sample(), width=80) if "#" in text}
    assert styles == {"class:bar", "class:bar.failed"}


def test_stable_masks_figures_and_bars():
    text = plain(draw(sample(), width=80, stable=True))
    other = sample()
    other.phases = [Phase(p.name, Elapsed(p.elapsed.seconds * 7), p.start * 3, p.target, p.outcome, p.detail)
                    for p in other.phases]
    assert plain(draw(other, width=80, stable=True)) == text
    assert "<time>" in text and "<bar>" in text and "#" not in text
    assert ms(0.5, stable=True) == "<time>"
    raced = sample()
    raced.phases[3] = Phase("first byte", Elapsed(0.004), 0.004, detail="(at most: already there when read)")
    assert plain(draw(raced, width=80, stable=True)) == text  # whether the answer beat the read is masked
    assert "(at most: already there when read)" in plain(draw(raced, width=80))


def test_nothing_timed_draws_nothing_but_is_no_error():
    assert plain(draw(Timing("h"), width=80)) == ""


def _on_a_terminal(env_extra: dict) -> str:
    """`timing` with standard output a pseudo-terminal 100 columns wide."""
    primary, secondary = pty.openpty()
    env = dict(os.environ, COLUMNS="100", **env_extra)
    env.pop("NO_COLOR", None) if "NO_COLOR" not in env_extra else None
    proc = subprocess.Popen([sys.executable, "-m", "netrepl", "-c", "serve echo 0; connect localhost $lab_port; "
                             "send hi; recv line; timing"], stdout=secondary, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_the_runner_draws_unicode_on_a_terminal_and_ascii_under_no_color():
    fancy = _on_a_terminal({})
    chart = fancy.split("netrepl> timing\n", 1)[1]
    assert "█" in chart and "│" in chart
    assert max(len(line) for line in rows(chart)) == 100  # the terminal's width (COLUMNS)
    plain_chart = _on_a_terminal({"NO_COLOR": "1"}).split("netrepl> timing\n", 1)[1]
    assert plain_chart.isascii() and "#" in plain_chart


def test_off_a_terminal_it_is_ascii_80_columns():
    from conftest import run_cli

    proc = run_cli("-c", "serve echo 0; connect localhost $lab_port; timing", env={"COLUMNS": "200"})
    chart = proc.stdout.split("netrepl> timing\n", 1)[1]
    assert chart.isascii() and max(len(line) for line in rows(chart)) == 80
