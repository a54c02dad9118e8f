"""Every way out of the app is the safe stop (pilot, fake engine): q, Ctrl-C, Ctrl+Q, the palette's one Quit and the
signals, while the engine is starting and while it runs; the app exits only once the engine's worker has finished.
The same paths on the real engine, in a terminal: tests/test_quit_signals.py."""

from __future__ import annotations

import signal

import pytest
from textual.widgets import Static

import fake_engine
from awm.errors import UserError
from awm_tui.app import AwmApp
from awm_tui.screens.detail import IssueDetail
from awm_tui.screens.error import ErrorScreen
from test_tui import drive, fake_app, home, fakes, labels, plain, run_screen, until  # noqa: F401 - fixtures

pytestmark = pytest.mark.asyncio

IDS = fake_engine.IDS
KEYS = ["q", "ctrl+c", "ctrl+q", "palette"]
SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"]


async def quit_by(pilot, app: AwmApp, how: str) -> None:
    """Quit the way a user (or the system) does."""
    if how == "palette":
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")
        await pilot.press(*"quit")
        palette = app.screen
        await until(pilot, lambda: any("Quit" in label for label in labels(palette.query_one("CommandList"))),
                    what="the quit command")
        quits = [label for label in labels(palette.query_one("CommandList")) if "Quit" in label]
        assert len(quits) == 1 and quits[0].startswith("Quit safely"), quits  # Textual's own Quit is not there
        await pilot.press("enter")
    elif how.startswith("SIG"):
        app.on_signal(getattr(signal, how))  # what the installed handler calls (tests do not install it)
    else:
        await pilot.press(how)


def status(screen) -> str:
    return plain(screen.query_one("#status", Static))


def notes(app: AwmApp) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("how", KEYS + SIGNALS)
async def test_quit_mid_run_stops_at_a_safe_point_and_exits_after_the_engine(home, fakes, how):
    factory = fakes(hold_at=[f"issue:{IDS[1]}", "stopped"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[1]}") and screen.model.current == IDS[1],
                    what="the second issue in flight")
        await quit_by(pilot, app, how)
        await until(pilot, lambda: factory.reached("stopped"), what="the engine to see the stop")
        await pilot.pause(0.3)
        # the engine is still winding down: the app waits for it, and says so
        assert app.is_running and app.return_code is None
        assert screen.model.state == "stopping" and status(screen).endswith("stopping…")
        assert "── stopping at the next safe point… ──" in screen.query_one("#log").lines
        assert "stop" in factory.engine.calls and factory.engine.calls[0] == "run"
        factory.release("stopped")
        await until(pilot, lambda: app.return_code is not None, what="the app to exit")
    assert app.return_code == 0
    assert factory.engine.returned.is_set()
    assert factory.engine.finished.outcome == "paused"
    assert factory.engine.finished.message == f"stopped during {IDS[1]}; it will be redone on resume"
    assert [e.instance_id for e in factory.state.experiences] == [IDS[0]]  # nothing after the stop


@pytest.mark.parametrize("how", KEYS + SIGNALS)
async def test_quit_while_starting_stops_before_the_first_issue(home, fakes, how):
    factory = fakes(hold_at=["build", "stopped"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached("build"), what="the engine being built")
        assert screen.engine is None and screen.model.state == "starting" and status(screen).endswith("starting…")
        await quit_by(pilot, app, how)
        assert factory.controls[0].stop_requested.is_set()  # asked of the controls before the engine exists
        await until(pilot, lambda: factory.reached("stopped"), what="the engine built, and stopped")
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None and status(screen).endswith("stopping…")
        factory.release("stopped")
        await until(pilot, lambda: app.return_code is not None, what="the app to exit")
    assert app.return_code == 0
    assert len(factory.engines) == 1 and factory.engine.controls is factory.controls[0]
    assert factory.engine.calls[0] == "run"  # run() records the run as paused...
    assert factory.engine.finished.outcome == "paused"
    assert factory.engine.finished.message == "paused by request; resume to continue"
    assert factory.state.experiences == [] and not factory.reached(f"issue:{IDS[0]}")  # ...before any issue


async def test_asking_again_while_stopping_only_says_so(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}", "stopped"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.current == IDS[0] and screen.engine is not None)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: factory.reached("stopped"))
        for key in ("ctrl+c", "q", "ctrl+q"):
            await pilot.press(key)
        app.on_signal(signal.SIGTERM)
        await pilot.pause(0.3)
        assert app.is_running and app.return_code is None  # never a force-quit leaving the engine behind
        assert any(n.startswith("Still stopping") for n in notes(app))
        factory.release("stopped")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and factory.engine.finished.outcome == "paused"


async def test_quit_from_an_issue_detail_stops_the_run_under_it(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[2]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[2]}") and screen.model.current == IDS[2])
        await pilot.press("1", "home", "enter")
        await until(pilot, lambda: isinstance(app.screen, IssueDetail))
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and "stop" in factory.engine.calls
    assert [e.instance_id for e in factory.state.experiences] == list(IDS[:2])


async def test_the_palette_offers_one_quit_the_safe_one(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.current == IDS[0] and screen.engine is not None)
        commands = [c for c in app.get_system_commands(app.screen) if "quit" in c.title.lower()]
        assert [(c.title, c.help) for c in commands] == [
            ("Quit safely", "Stop at a safe point, then quit; the run stays resumable")]
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles[0] == "Theme" and titles[1] == "Quit safely"  # where Textual's own Quit was
    picker = AwmApp(factory=fakes())
    async with drive(picker):
        assert [c.title for c in picker.get_system_commands(picker.screen) if "quit" in c.title.lower()] == [
            "Quit safely"]


@pytest.mark.parametrize("how", KEYS + ["SIGTERM"])
async def test_quit_from_the_picker_exits_at_once(home, fakes, how):
    factory = fakes()
    app = AwmApp(factory=factory)
    async with drive(app) as pilot:
        await pilot.pause()
        await quit_by(pilot, app, how)
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and factory.launches == []


async def test_a_signal_before_the_app_is_up_quits_before_anything_starts(home, fakes):
    factory = fakes()
    app = fake_app(factory)
    app.on_signal(signal.SIGTERM)
    async with drive(app) as pilot:
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and factory.launches == [] and factory.engines == []


async def test_a_mistake_found_after_a_quit_while_starting_exits_2(home, fakes):
    factory = fakes(hold_at=["build"], error=UserError("spec.yaml, field `llm`: the model is unreachable."))
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: factory.reached("build"))
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2 and factory.engines == []


async def test_quit_on_the_error_screen_after_a_failed_start_exits_at_once(home, fakes):
    factory = fakes(error=UserError("spec.yaml, field `llm`: the model is unreachable."))
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2
