"""Snapshots of the run screen mid-run (at 80x24, the smallest terminal it is laid out for, and at 160x45), the
help screen, and the error screen, fed by the scripted fake engine with a frozen clock.
SVGs under tests/__snapshots__/; regenerate with `pytest --snapshot-update tests/test_tui_snapshots.py` and look at
them before accepting (at 80 columns the status bar must still show the state, n/N, the rate, the cost and the time)."""

from __future__ import annotations

import pytest

import fake_engine
from snap_support import IDS, LARGE, SIZE, SMALL, SnapApp, home, mid_run_app, settled, until  # noqa: F401 - home
from awm.errors import UserError
from awm_tui.screens.error import ErrorScreen
from awm_tui.session import Launch


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_run_screen_mid_run(snap_compare, size):
    app, factory = mid_run_app()

    async def run_before(pilot):
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and app.screen.model.current == IDS[4])
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_run_screen_mid_run_light(snap_compare, size):
    """The same on a light theme: every kind of log line and every state in the queue readable (issue 20)."""
    app, factory = mid_run_app()

    async def run_before(pilot):
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and app.screen.model.current == IDS[4])
        app.theme = "textual-light"
        await settled(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_help_screen(snap_compare):
    app, factory = mid_run_app()

    async def run_before(pilot):
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and app.screen.model.current == IDS[4])
        await settled(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")

    assert snap_compare(app, terminal_size=(100, 45), run_before=run_before)


def test_error_message(snap_compare):
    message = ("specs/mine.yaml, line 3, field `llm`: unknown key `modle`; did you mean `model`? Write the model as "
               "`model: openai/gpt-4o` (litellm naming).")
    app = SnapApp(Launch(spec_path="specs/mine.yaml"), factory=fake_engine.factory(error=UserError(message)))

    async def run_before(pilot):
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
