"""Issue 20, item 3: the app-level defects (pilot, fake engine; the pause's cancel also on the real engine over stub
parts). --resume shows the run at once; a stop during a slow start-up exits within seconds; Esc leaves a read-only
run in one press; a pause can be taken back while pausing; the exit lines are one per run, read at exit."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Static

import fake_engine
from awm.paths import runs_root
from awm.run.loop import Controls
from awm.run.store import RunStore
from awm.run.view import load_run
from awm_tui.app import AwmApp
from awm_tui.screens.picker import RunPicker
from awm_tui.screens.run import RunScreen
from awm_tui.session import Launch
from test_tui import drive, fake_app, home, fakes, plain, run_screen, until  # noqa: F401 - fixtures

IDS = fake_engine.IDS


def status(screen) -> str:
    return plain(screen.query_one("#status", Static))


@pytest.fixture
def paused_run(home) -> Path:
    """A run paused at 3/8, with a round of memory (2 workflows), in the runs folder."""
    store = fake_engine.write_run(runs_root() / "alpha-20250102-030405", name="alpha", processed=3,
                                  status="paused", updated_at="2025-01-02T03:04:05", message="paused by request")
    return store.dir


# ------------------------------------------------------------------ 1. --resume shows the run from the first frame

@pytest.mark.asyncio
async def test_resume_shows_the_run_folder_before_the_engine_is_up(paused_run, fakes):
    factory = fakes(hold_at=["build"], state=fake_engine.run_state(RunStore(paused_run)))
    app = AwmApp(Launch(resume=str(paused_run)), factory=factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await pilot.pause()
        assert factory.engine is None and screen.model.state == "starting"  # the engine is not up
        bar = status(screen)
        assert "3/8" in bar and "alpha-20250102-030405" in bar, bar
        assert [r.instance_id for r in screen.model.history] == list(IDS[:3])
        assert len(screen.model.workflows) == 2  # the memory of the folder
        assert screen.model.rows[IDS[1]].state == "FAIL" and screen.model.rows[IDS[3]].state == "waiting"
        factory.release("build")
        await until(pilot, lambda: screen.model.state == "completed", what="the resumed run completed")
        assert [r.instance_id for r in screen.model.history] == list(IDS)  # each issue once


@pytest.mark.asyncio
async def test_resume_by_name_also_shows_the_run_at_once(paused_run, fakes):
    factory = fakes(hold_at=["build"])
    app = AwmApp(Launch(resume=paused_run.name), factory=factory)
    async with drive(app) as pilot:
        await pilot.pause()
        assert "3/8" in status(run_screen(app))


# ------------------------------------------------------------------ 2. a stop during a slow start-up

class SlowStartup:
    """A factory whose start-up takes `seconds` and does not look at the stop (the real preflight, dataset, model
    check, agent stack import); then builds a fake engine."""

    def __init__(self, seconds: float, **options) -> None:
        self.seconds = seconds
        self.inner = fake_engine.factory(**options)
        self.started = threading.Event()
        self.let_go = threading.Event()

    def __call__(self, launch, subscriber, controls):
        self.started.set()
        self.let_go.wait(self.seconds)
        return self.inner(launch, subscriber, controls)

    def close(self) -> None:
        self.let_go.set()
        self.inner.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["q", "SIGTERM"])
async def test_a_stop_during_a_30_s_start_up_exits_within_seconds(paused_run, how):
    import signal

    factory = SlowStartup(30.0, state=fake_engine.run_state(RunStore(paused_run)))
    before = (paused_run / "checkpoint.json").read_text()
    app = AwmApp(Launch(resume=str(paused_run)), factory=factory)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: factory.started.is_set(), what="the start-up")
            await pilot.pause(0.3)
            asked = time.monotonic()
            if how == "q":
                await pilot.press("q")
            else:
                app.on_signal(signal.SIGTERM)
            await until(pilot, lambda: app.return_code is not None, timeout=6.0, what="the app to exit")
            took = time.monotonic() - asked
    finally:
        factory.close()
    assert took < 3.5, took
    assert app.return_code == 0
    assert factory.inner.engines == []  # nothing ran
    # the folder is as it was: resumable
    assert (paused_run / "checkpoint.json").read_text() == before
    assert load_run(paused_run).status == "paused"
    assert app.exit_summary() == [
        f"awm-tui: run alpha-20250102-030405 paused: 3/8, success 66.7% (2/3), $0.0369; folder {paused_run}; "
        f"resume with `awm-tui --resume {paused_run}`"]


@pytest.mark.asyncio
async def test_a_start_up_that_sees_the_stop_in_time_still_records_the_pause(home, fakes):
    """The fake's "build" hold gives way to the stop: within the grace, its engine runs and records the pause."""
    factory = fakes(hold_at=["build"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: factory.reached("build"))
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert factory.engine is not None and factory.engine.finished.outcome == "paused"


# ------------------------------------------------------------------ 4. Esc leaves a read-only run in one press

@pytest.mark.asyncio
async def test_escape_leaves_a_read_only_run_in_one_press(home, fakes):
    done = fake_engine.write_run(runs_root() / "beta-20250101-101010", name="beta", processed=8,
                                 status="completed", updated_at="2025-01-01T10:10:10").dir
    for iid in IDS:  # the run's logs, as the real engine leaves them: the log pane replays the highlighted one
        path = done / "logs" / f"instance_{iid}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {iid}\n\n[10:00:01] ACTION terminal\npytest -q\n\n# agent status: finished\n")
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        assert screen.read_only
        await until(pilot, lambda: screen.agent_log.replaying is not None, what="the highlighted issue's log")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunPicker)


# ------------------------------------------------------------------ 10. a pause taken back while pausing

@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["p", "r"])
async def test_a_pause_can_be_cancelled_while_pausing(home, fakes, key):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[1]}") and screen.model.current == IDS[1])
        await pilot.press("p")
        assert screen.model.state == "pausing" and factory.controls[0].pause_requested.is_set()
        await pilot.press(key)
        assert screen.model.state == "running" and not factory.controls[0].pause_requested.is_set()
        assert "pausing" not in status(screen)
        factory.release()
        await until(pilot, lambda: screen.model.state == "completed", what="the run went on to the end")
        assert len(screen.model.history) == len(IDS) and len(factory.engines) == 1


@pytest.mark.asyncio
async def test_a_stop_cannot_be_cancelled(home, fakes):
    controls = Controls()
    controls.stop()
    assert not controls.cancel_pause() and controls.pause_requested.is_set()
    controls = Controls()
    assert not controls.cancel_pause()  # nothing to take back
    controls.pause()
    assert controls.cancel_pause() and not controls.pause_requested.is_set()


def test_the_real_engine_goes_on_when_a_pause_is_cancelled_mid_issue(tmp_path):
    from awm.run.store import RunState
    from support.stubs import make_run

    run = make_run(tmp_path, 4)
    controls = Controls()

    def on_run(n: int) -> None:
        if n == 2:
            controls.pause()  # asked mid-issue 2...
            assert controls.cancel_pause()  # ...and taken back before it finished

    run.agent.on_run = on_run
    result = run.engine(controls).run()
    assert result.outcome == RunState.COMPLETED
    assert len(run.journal()) == 4 and run.checkpoint()["status"] == "completed"


def test_the_real_engine_pauses_when_not_cancelled(tmp_path):
    from awm.run.store import RunState
    from support.stubs import make_run

    run = make_run(tmp_path, 4)
    controls = Controls()
    run.agent.on_run = lambda n: controls.pause() if n == 2 else None
    assert run.engine(controls).run().outcome == RunState.PAUSED and len(run.journal()) == 2


# ------------------------------------------------------------------ 8. the exit lines: one per run, read at exit

@pytest.mark.asyncio
async def test_the_exit_lines_are_one_per_run_and_read_at_exit(home, fakes, tmp_path):
    import shutil

    shown = fake_engine.write_run(runs_root() / "beta-20250101-101010", name="beta", processed=8,
                                  status="completed", updated_at="2025-01-01T10:10:10").dir
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        for _ in range(3):  # the same run opened three times
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen))
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, RunPicker))
        assert len(app.runs) == 3
        # meanwhile its folder changes (another process): the line says what the folder says at exit
        later = fake_engine.write_run(tmp_path / "later", name="beta", processed=5, status="paused",
                                      updated_at="2025-01-03T10:10:10").dir
        for name in ("checkpoint.json", "experiences.jsonl"):
            shutil.copy(later / name, shown / name)
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.exit_summary() == [
        f"awm-tui: run {shown.name} paused: 5/8, success 60.0% (3/5), $0.0615; folder {shown}; "
        f"resume with `awm-tui --resume {shown}`"]


def test_the_command_does_not_wait_for_a_start_up_a_stop_left_behind(monkeypatch, capsys):
    """cli.run_app: a start-up left behind (still importing, checking) is not waited for: the process ends at once
    (os._exit) after the exit lines; without one, the command returns as usual."""
    from awm_tui import session
    from awm_tui.commands import cli

    left = threading.Event()
    thread = threading.Thread(target=left.wait, args=(30,), daemon=True)
    thread.start()
    exited = []
    monkeypatch.setattr(AwmApp, "run", lambda self: session._startups.append(thread))
    monkeypatch.setattr(AwmApp, "install_signal_handlers", lambda self, pending=(): None)
    monkeypatch.setattr(AwmApp, "exit_summary", lambda self: ["awm-tui: run r paused: 3/8; folder /r"])
    monkeypatch.setattr(cli.os, "_exit", lambda code: exited.append(code))
    try:
        cli.run_app(cli.parser().parse_args([]))
        assert exited == [0] and capsys.readouterr().out == "awm-tui: run r paused: 3/8; folder /r\n"
    finally:
        left.set()
        thread.join(5)
        session._startups.remove(thread)
    monkeypatch.setattr(AwmApp, "run", lambda self: None)
    assert cli.run_app(cli.parser().parse_args([])) == 0 and exited == [0]
