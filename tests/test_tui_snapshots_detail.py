"""Snapshots of the issue detail and the memory browser: in the app fed by the scripted fake engine, and over a run
folder with four induction rounds (tests/test_tui_detail_memory.py) at 80x24 and 160x45. SVGs under
tests/__snapshots__/; regenerate with `pytest --snapshot-update` and look at them before accepting."""

from __future__ import annotations

import pytest

import fake_engine
from snap_support import (IDS, SIZE, SNAP_HOME, SnapApp, home, mid_run_app, settled,  # noqa: F401 - home: a fixture
                          until)
from test_tui_detail_memory import IDS as CALC_IDS, DetailHost, MemoryHost, write_run
from awm.run.view import load_run
from awm_tui.model import RunModel
from awm_tui.screens.detail import TABS, IssueDetail
from awm_tui.session import Launch

SIZES = {"80x24": (80, 24), "160x45": (160, 45)}


def test_memory_browser(snap_compare):
    app, factory = mid_run_app()

    async def run_before(pilot):
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and app.screen.model.current == IDS[4])
        await pilot.press("4")
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_issue_detail(snap_compare):
    factory = fake_engine.factory()
    app = SnapApp(Launch(spec_path="fake.yaml"), factory=factory)

    async def run_before(pilot):
        await until(pilot, lambda: app.screen.model.state == "completed")
        await settled(pilot)
        await pilot.press("1", "home", *["down"] * 5, "enter")
        await until(pilot, lambda: isinstance(app.screen, IssueDetail))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def calc_model() -> RunModel:
    """The four-round run folder, at a fixed path under SNAP_HOME (the detail shows it), read as for display."""
    return RunModel.from_view(load_run(write_run(SNAP_HOME / "calc", SNAP_HOME / "calc-baseline").dir))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tab", ["trajectory", "tests", "memory"])
def test_issue_detail_tabs(snap_compare, size, tab):
    """A failed issue's trajectory, its tests (breakdown and whole output), and the memory it was given: over a
    stand-in for the run screen (the detail's own layout, whatever the run screen's)."""
    assert detail_snapshot(snap_compare, size, tab, "")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tab", ["trajectory", "memory"])
def test_issue_detail_tabs_light(snap_compare, size, tab):
    """The same on a light theme: the trajectory's kinds of lines, and the Memory tab (what was given, and why)."""
    assert detail_snapshot(snap_compare, size, tab, "textual-light")


def detail_snapshot(snap_compare, size: str, tab: str, theme: str) -> bool:
    app = DetailHost(calc_model(), CALC_IDS[3])

    async def run_before(pilot):
        if theme:
            app.theme = theme
        await until(pilot, lambda: isinstance(app.screen, IssueDetail))
        await pilot.press(str(TABS.index(tab) + 1))
        await pilot.pause()

    return snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("round_number", ["latest", 1])
def test_memory_browser_rounds(snap_compare, size, round_number):
    """The memory after its latest round (the boundary workflow re-learned: v2) and after round 1 (v1), the browser
    given the whole terminal."""
    assert memory_snapshot(snap_compare, size, round_number, "")


@pytest.mark.parametrize("size", SIZES)
def test_memory_browser_rounds_light(snap_compare, size):
    """Round 1 on a light theme: the entries' flags as they stood then, and the round's wording, readable."""
    assert memory_snapshot(snap_compare, size, 1, "textual-light")


def memory_snapshot(snap_compare, size: str, round_number, theme: str) -> bool:
    app = MemoryHost(calc_model())

    async def run_before(pilot):
        if theme:
            app.theme = theme
        await pilot.pause()
        app.query_one("#memory-list").focus()
        if round_number != "latest":
            app.query_one("#memory-round").value = round_number
            browser = app.query_one("MemoryBrowser")
            # the Select's Changed message, the redraw, then the row highlighted: waited for, not assumed to take one
            # pause (under load it took more, and the snapshot caught the browser mid-way)
            await until(pilot, lambda: browser.round == round_number)
        for _ in range(3):
            await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)  # the table's column widths are measured when the app is next idle

    return snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
