"""Snapshots of the app's screens (pytest-textual-snapshot), fed by the scripted fake engine: nothing drawn depends
on the clock or the machine. SVGs under tests/__snapshots__/; regenerate with `pytest --snapshot-update` and look
at them before accepting."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import awm_tui.app
import fake_engine
from awm.errors import UserError
from awm_tui.app import AwmApp
from awm_tui.screens.detail import IssueDetail
from awm_tui.screens.error import ErrorScreen
from awm_tui.screens.run import RunScreen
from awm_tui.session import Launch

IDS = fake_engine.IDS
SIZE = (140, 40)
SNAP_HOME = Path("/tmp/awm-snap-home")  # fixed, so the folders in the picker's preview are the same every run


class SnapApp(AwmApp):
    """The app, letting its fake engine go when it exits: the snapshot is taken with the engine held mid-run, and
    a held thread would keep `App.run` from returning."""

    CSS_PATH = str(Path(awm_tui.app.__file__).with_name("app.tcss"))  # resolved from the subclass's file otherwise

    def exit(self, *args, **kwargs) -> None:
        if isinstance(self.factory, fake_engine.FakeFactory):
            self.factory.close()
        super().exit(*args, **kwargs)


@pytest.fixture(autouse=True)
def home(monkeypatch):
    shutil.rmtree(SNAP_HOME, ignore_errors=True)
    SNAP_HOME.mkdir(parents=True)
    monkeypatch.setenv("AWM_TUI_HOME", str(SNAP_HOME))
    yield SNAP_HOME
    shutil.rmtree(SNAP_HOME, ignore_errors=True)


async def until(pilot, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        await pilot.pause(0.01)


async def settled(pilot) -> None:
    """The log drained, and no worker but the engine still running (the log measures its lines' width in one)."""
    app = pilot.app
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, RunScreen))
    await until(pilot, lambda: not screen.pending and not screen.barriers)
    await until(pilot, lambda: all(w.group == "engine" or w.is_finished for w in app.workers))
    await pilot.pause()


def mid_run_app() -> tuple[SnapApp, fake_engine.FakeFactory]:
    """Held in the fifth issue: four verdicts, one induction round (two workflows in memory)."""
    factory = fake_engine.factory(hold_at=[f"issue:{IDS[4]}"])
    return SnapApp(Launch(spec_path="fake.yaml"), factory=factory), factory


def test_run_screen_mid_run(snap_compare):
    app, factory = mid_run_app()

    async def run_before(pilot):
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and app.screen.model.current == IDS[4])
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


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


def test_run_picker(snap_compare, home):
    root = home / "runs"
    fake_engine.write_run(root / "alpha-20250102-030405", name="alpha", processed=3, status="paused",
                          updated_at="2025-01-02T03:04:05", message="paused by request")
    fake_engine.write_run(root / "beta-20250101-101010", name="beta", processed=8, status="completed",
                          updated_at="2025-01-01T10:10:10")
    fake_engine.write_run(root / "gamma-20241231-235959", name="gamma", processed=0, status="new",
                          updated_at="2024-12-31T23:59:59")
    app = SnapApp(factory=fake_engine.factory())
    assert snap_compare(app, terminal_size=SIZE)


def test_error_message(snap_compare):
    message = ("specs/mine.yaml, line 3, field `llm`: unknown key `modle`; did you mean `model`? Write the model as "
               "`model: openai/gpt-4o` (litellm naming).")
    app = SnapApp(Launch(spec_path="specs/mine.yaml"), factory=fake_engine.factory(error=UserError(message)))

    async def run_before(pilot):
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
