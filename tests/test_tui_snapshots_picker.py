"""Snapshots of the run picker and the comparison screen, at 80x24 and 160x45, from run folders written for them
(fixed names, times and folders under snap_support.SNAP_HOME: nothing depends on the clock or the machine).
SVGs under tests/__snapshots__/; regenerate with `pytest --snapshot-update` and look at them before accepting."""

from __future__ import annotations

import pytest

import compare_fixtures
import fake_engine
from awm_tui.screens.compare import CompareScreen
from snap_support import SnapApp, home, until  # noqa: F401 - home: a fixture

SIZES = {"80x24": (80, 24), "160x45": (160, 45)}
PAIRED = [f"proj__proj-{i}" for i in range(1, 15)]


@pytest.mark.parametrize("size", SIZES)
def test_run_picker(snap_compare, home, size):
    """Four runs; beta marked as a comparison's reference; the cursor on the aborted run, whose reason the preview
    shows."""
    assert picker_snapshot(snap_compare, home, size, "")


@pytest.mark.parametrize("size", SIZES)
def test_run_picker_light(snap_compare, home, size):
    """The same on a light theme: the picker's columns (id, memory, workers, started) and states readable (issue 20)."""
    assert picker_snapshot(snap_compare, home, size, "textual-light")


def picker_snapshot(snap_compare, home, size: str, theme: str) -> bool:
    root = home / "runs"
    fake_engine.write_run(root / "alpha-20250102-030405", name="alpha", processed=3, status="paused",
                          updated_at="2025-01-02T03:04:05", message="paused by request")
    fake_engine.write_run(root / "beta-20250101-101010", name="beta", processed=8, status="completed",
                          updated_at="2025-01-01T10:10:10")
    fake_engine.write_run(root / "delta-20241231-235959", name="delta", processed=5, status="aborted",
                          updated_at="2024-12-31T23:59:59",
                          message="aborted: 3 issues in a row ended in ERROR with the same cause (model unreachable)")
    fake_engine.write_run(root / "gamma-20241230-120000", name="gamma", processed=0, status="new",
                          updated_at="2024-12-30T12:00:00")

    async def mark_and_move(pilot):
        if theme:
            pilot.app.theme = theme
        await pilot.pause()
        await pilot.press("down", "space", "down")
        await pilot.pause()

    return snap_compare(SnapApp(factory=fake_engine.factory()), terminal_size=SIZES[size], run_before=mark_and_move)


@pytest.mark.parametrize("size", SIZES)
def test_comparison_screen(snap_compare, home, size):
    """Two runs on the same 14 issues, compared from the picker: rates, difference, issues won and lost, usage, and
    a warning (the memory run was made with another agent prompt)."""
    assert comparison_snapshot(snap_compare, home, size, "")


@pytest.mark.parametrize("size", SIZES)
def test_comparison_screen_light(snap_compare, home, size):
    assert comparison_snapshot(snap_compare, home, size, "textual-light")


def comparison_snapshot(snap_compare, home, size: str, theme: str) -> bool:
    root = home / "runs"
    compare_fixtures.write_run(root / "base", {i: "PASS" if n % 2 else "FAIL" for n, i in enumerate(PAIRED)})
    compare_fixtures.write_run(root / "mem", {i: "PASS" if n % 3 else "FAIL" for n, i in enumerate(PAIRED)},
                               record=compare_fixtures.provenance(PAIRED, prompts={"agent": "9" * 16}))

    async def compare(pilot):
        if theme:
            pilot.app.theme = theme
        await pilot.pause()
        table = pilot.app.screen.query_one("#runs")
        names = [table.get_row_at(i)[8].plain for i in range(table.row_count)]  # the name column
        for name in ("base", "mem"):
            table.move_cursor(row=names.index(name))
            await pilot.press("space")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), timeout=10)
        await until(pilot, lambda: pilot.app.screen.comparison is not None, timeout=60)
        await pilot.pause()

    return snap_compare(SnapApp(factory=fake_engine.factory()), terminal_size=SIZES[size], run_before=compare)
