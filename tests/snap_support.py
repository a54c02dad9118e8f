"""What the snapshot tests share (pytest-textual-snapshot): the app with the scripted fake engine, a fixed data dir,
a frozen clock, and waits for the screen to settle (notifications cleared: a toast's life depends on timing).
Nothing drawn depends on the clock or the machine."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest

import awm_tui.app
import fake_engine
from awm_tui.app import AwmApp
from awm_tui.screens.run import RunScreen
from awm_tui.session import Launch
from support.pilot import until  # noqa: F401 - the snapshot tests import it from here

IDS = fake_engine.IDS
SIZE = (140, 40)
SMALL = (80, 24)  # the smallest terminal the layout is made for
LARGE = (160, 45)
FROZEN = 1000.0  # the app's clock in snapshots: issues in flight show 0m00s, the run the engine's elapsed time
SNAP_HOME = Path("/tmp/awm-snap-home")  # fixed, so the folders in the picker's preview are the same every run


class SnapApp(AwmApp):
    """The app, letting its fake engine go when it exits: the snapshot is taken with the engine held mid-run, and
    a held thread would keep `App.run` from returning."""

    CSS_PATH = str(Path(awm_tui.app.__file__).with_name("app.tcss"))  # resolved from the subclass's file otherwise
    clock = staticmethod(lambda: FROZEN)  # what ticks (clocks, ETA) must not depend on when the snapshot is taken

    def exit(self, *args, **kwargs) -> None:
        if isinstance(self.factory, fake_engine.FakeFactory):
            self.factory.close()
        super().exit(*args, **kwargs)


@pytest.fixture(autouse=True)
def home(monkeypatch):
    """SNAP_HOME, emptied, for this test alone: the path is the same for every process on the machine (the other
    test worker, another checkout's suite), so a lock beside it is held while a test uses it; without it one test's
    clean-up removed the runs another was drawing."""
    with open(f"{SNAP_HOME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(SNAP_HOME, ignore_errors=True)
        SNAP_HOME.mkdir(parents=True)
        monkeypatch.setenv("AWM_TUI_HOME", str(SNAP_HOME))
        try:
            yield SNAP_HOME
        finally:
            shutil.rmtree(SNAP_HOME, ignore_errors=True)


async def settled(pilot) -> None:
    """The log drained, and no worker but the engine still running (the log measures its lines' width in one)."""
    app = pilot.app
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, RunScreen))
    await until(pilot, lambda: not screen.pending and not screen.barriers)
    await until(pilot, lambda: all(w.group == "engine" or w.is_finished for w in app.workers))
    app.clear_notifications()
    await pilot.pause()


def mid_run_app() -> tuple[SnapApp, fake_engine.FakeFactory]:
    """Held in the fifth issue: four verdicts, one induction round (two workflows in memory)."""
    factory = fake_engine.factory(hold_at=[f"issue:{IDS[4]}"])
    return SnapApp(Launch(spec_path="fake.yaml"), factory=factory), factory
