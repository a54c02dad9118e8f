"""Snapshots of the issue detail and the memory browser, fed by the scripted fake engine.
SVGs under tests/__snapshots__/; regenerate with `pytest --snapshot-update` and look at them before accepting."""

from __future__ import annotations

import fake_engine
from snap_support import IDS, SIZE, SnapApp, home, mid_run_app, settled, until  # noqa: F401 - home: a fixture
from awm_tui.screens.detail import IssueDetail
from awm_tui.session import Launch


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
