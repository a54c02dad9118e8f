"""One way to write durations, money and counts (awm/fmt.py), and its use where "1 steps", "7.1 s" and
"(4 s)" were written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from awm.records import Experience, Status
from awm.run.stats import Stats
from awm import fmt
from awm_tui.commands import headless
from awm_tui.model import IssueRow, RunModel

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("seconds, text", [(0, "0m00s"), (7.1, "0m07s"), (59.6, "1m00s"), (754, "12m34s"),
                                           (3725, "1h02m05s"), (-3, "0m00s"), (None, "–"), (float("nan"), "–")])
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text


@pytest.mark.parametrize("x, text", [(0, "$0.0000"), (0.01234, "$0.0123"), (0.99994, "$0.9999"), (1, "$1.00"),
                                     (12.345, "$12.35")])
def test_money(x, text):
    assert fmt.money(x) == text


@pytest.mark.parametrize("n, word, text", [(0, "step", "0 steps"), (1, "step", "1 step"), (2, "step", "2 steps"),
                                           (1200, "issue", "1,200 issues"), (1, "entry", "1 entry"),
                                           (3, "entry", "3 entries"), (2, "failed judge call", "2 failed judge calls")])
def test_count(n, word, text):
    assert fmt.count(n, word) == text


def test_the_headless_printer_uses_the_same_formatter():
    assert headless.money is fmt.money and headless.duration is fmt.duration


def test_one_step_is_one_step_everywhere_it_is_shown():
    from awm_tui.screens.detail import header_content
    from awm_tui.screens.run import in_flight_text
    from awm_tui.widgets.progress import in_flight_fields

    now = [100.0]
    model = RunModel(state="running", clock=lambda: now[0])
    row = IssueRow("proj__proj-1", state="running", started_at=93.0, steps=1, cost=0.01, tokens=1, position=1)
    model.rows[row.instance_id] = row
    model.running, model.current = [row.instance_id], row.instance_id
    shown = in_flight_text(row, model) + " ".join(f for field in in_flight_fields(model) for f in field.forms)
    assert shown.count("1 step") >= 2, shown  # the in-flight view and the progress line
    assert "1 steps" not in shown and "1 tokens" not in shown
    assert "0m07s" in shown  # the issue's clock, as the run's

    exp = Experience(instance_id="proj__proj-1", problem_statement="", status=Status.PASS, steps=1, duration_s=7.1,
                     prompt_tokens=1, completion_tokens=0, cost=0.01)
    text = header_content(IssueRow("proj__proj-1", state="PASS", experience=exp), "").plain
    assert "1 step · 1 token · 0m07s" in text and "1 steps" not in text and "7.1 s" not in text


def test_the_summary_agrees_with_its_numbers():
    stats = Stats(total=1, processed=1, errors=1, workflows=1, induction_rounds=1)
    text = headless.summary(stats)
    assert "1 error," in text and "1 workflow after 1 induction round" in text


def test_no_hand_made_durations_or_plurals_are_left_in_the_app():
    """The patterns that wrote "1 steps", "7.1 s" and "(4 s)" in the app's screens: gone from the files that used
    them (awm/fmt.py writes them now)."""
    patterns = [re.compile(r"\{[^{}]*\} steps\b"), re.compile(r":\.[0-9]f\} ?s\b")]
    files = ["awm_tui/screens/run.py", "awm_tui/screens/detail.py", "awm_tui/widgets/progress.py",
             "awm_tui/screens/compare.py", "awm_tui/screens/picker.py", "awm_tui/commands/headless.py", "awm_tui/app.py"]
    found = [f"{name}: {line.strip()}" for name in files for line in (ROOT / name).read_text().splitlines()
             if any(p.search(line) for p in patterns)]
    assert found == []
