"""Snapshots of the run screen and the error screen, fed by the scripted fake engine.
SVGs under tests/__snapshots__/; regenerate with `pytest --snapshot-update` and look at them before accepting."""

from __future__ import annotations

import fake_engine
from snap_support import IDS, SIZE, SnapApp, home, mid_run_app, settled, until  # noqa: F401 - home: a fixture
from awm.errors import UserError
from awm_tui.screens.error import ErrorScreen
from awm_tui.session import Launch


def test_run_screen_mid_run(snap_compare):
    app, factory = mid_run_app()

    async def run_before(pilot):
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and app.screen.model.current == IDS[4])
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_error_message(snap_compare):
    message = ("specs/mine.yaml, line 3, field `llm`: unknown key `modle`; did you mean `model`? Write the model as "
               "`model: openai/gpt-4o` (litellm naming).")
    app = SnapApp(Launch(spec_path="specs/mine.yaml"), factory=fake_engine.factory(error=UserError(message)))

    async def run_before(pilot):
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
