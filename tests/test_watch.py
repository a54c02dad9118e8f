"""`awm-tui watch`: a run another process runs, followed from its folder. A real engine over stub parts runs in a
thread of the test (its agent held at a gate, so the test says when each issue finishes, writing its log as the real
runner does) while the watcher follows the folder: its screen grows with the run (n/N done, finished issues,
memory rounds, the live log of the issue in flight), its pause and stop reach the engine as the engine's own safe
stops, a stale request never stops a resumed run, several watchers at once take no lock, quitting one leaves the
run going. The picker's Enter on such a run opens the watcher. The slow test does it all with the real command: a
headless demo run and `awm-tui watch` in a real terminal (tmux)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from awm.agent.runner import AgentResult, AgentStatus
from awm.run import events as ev
from awm.run.follow import Follower
from awm.run.loop import Controls
from awm.run.store import CONTROL, RunStore
from conftest import ROOT
from support.stubs import Run, make_run
from test_tui_history_picker import plain, until

FAST = 0.05  # the watchers' poll in these tests


class GatedAgent:
    """Writes its log as the real runner does (a header, one entry per event, appended and flushed), then waits at
    the gate until the test lets one issue finish (or the run's stop cancels it)."""

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.started: list[str] = []

    def warm_up(self):
        pass

    def run(self, issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        n = int(issue.instance_id.rsplit("-", 1)[1])
        self.started.append(issue.instance_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as log:
            log.write(f"# {issue.instance_id}  repo {issue.repo}  base {issue.base_commit}\n# workspace /work/app\n")
            log.flush()
            for kind, tool, text in (("ACTION", "terminal", f"$ fix {n}"), ("OBSERVATION", "terminal", f"fixed {n}")):
                log.write(f"[{time.strftime('%H:%M:%S')}] {kind} {tool}\n{text}\n\n")
                log.flush()
                on_event(kind.lower(), tool, text)
            while not self.gate.acquire(timeout=0.02):
                if cancel is not None and cancel.is_set():
                    log.write("# agent status: cancelled\n")
                    return AgentResult(status=AgentStatus.CANCELLED)
            log.write("# agent status: finished\n")
        return AgentResult(patch=workspace.patch(), status=AgentStatus.FINISHED, steps=3, cost=0.5,
                           prompt_tokens=100, completion_tokens=10)


RUNNING: list[Running] = []


@pytest.fixture(autouse=True)
def stop_engines():
    """Engines a test left going (it failed) are stopped: their pools' threads would hold the interpreter's exit."""
    yield
    while RUNNING:
        engine = RUNNING.pop()
        engine.controls.stop()
        engine.thread.join(10)


class Running:
    """The run's engine in a thread of its own (the watcher's "other process": the lock it holds is the same)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.controls = Controls()
        RUNNING.append(self)
        self.result: list = []
        self.thread = threading.Thread(target=lambda: self.result.append(run.engine(self.controls).run()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while run.store.owner() is None:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the engine never took the run's lock"
            time.sleep(0.01)

    def end(self, timeout: float = 10) -> ev.RunFinished:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the engine did not end"
        return self.result[0]


def gated_run(tmp_path: Path, n: int = 6) -> Run:
    run = make_run(tmp_path, n)
    run.agent = GatedAgent()
    # what the real start-up records (awm.run.launch: the provenance, with the issue list) before the engine runs
    run.store.update_config(provenance={"dataset": {"instance_ids": [i.instance_id for i in run.issues]}})
    return run


def status_line(screen) -> str:
    from awm_tui.widgets.statusbar import StatusBar

    return plain(screen.query_one(StatusBar))


def log_text(screen) -> str:
    return "\n".join(line for line, _ in screen.agent_log.live)


@pytest.mark.asyncio
async def test_the_watcher_follows_the_run_and_its_pause_reaches_the_engine(tmp_path):
    from awm_tui.screens.watch import WatchScreen
    from awm_tui.commands.watch import WatchApp

    run = gated_run(tmp_path)
    engine = Running(run)
    app = WatchApp(run.store.dir, interval=FAST)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        model = screen.model
        await until(pilot, lambda: model.running == ["acme__app-1"], what="the issue in flight")
        await until(pilot, lambda: "$ fix 1" in log_text(screen) and "fixed 1" in log_text(screen),
                    what="the in-flight issue's log entries in the live log")
        assert "0/6 done" in status_line(screen) and model.state == "running"
        run.agent.gate.release()
        await until(pilot, lambda: model.stats.processed == 1, what="the first finish")
        assert [r.instance_id for r in model.history] == ["acme__app-1"] and model.rows["acme__app-1"].state == "PASS"
        await pilot.pause(0.2)
        assert "1/6 done" in status_line(screen)
        run.agent.gate.release()
        await until(pilot, lambda: model.stats.processed == 2 and 1 in model.rounds, what="the second finish, round 1")
        assert model.rounds[1] == ("wf-fix-an-off-by-one",) and "wf-fix-an-off-by-one" in model.workflows
        assert model.inductions and model.inductions[-1].names == ("Fix an off-by-one",)
        await until(pilot, lambda: model.running == ["acme__app-3"], what="the third issue in flight")
        assert "2/6 done" in status_line(screen)
        # p: the owner is asked to pause; the engine finishes the issue in flight and pauses
        await pilot.press("p")
        await pilot.pause(0.1)
        assert model.state == "pausing"
        await until(pilot, lambda: engine.controls.pause_requested.is_set(), what="the pause reaching the engine")
        assert not engine.controls.stop_requested.is_set()
        run.agent.gate.release()
        result = engine.end()
        assert result.outcome == "paused" and [e["instance_id"] for e in run.journal()][-1] == "acme__app-3"
        await until(pilot, lambda: model.state == "paused", what="the watcher showing the pause")
        assert model.stats.processed == 3 and "3/6 done" in status_line(screen)
        assert "pause asked for by a watcher" in " ".join(e.text for e in run.events if isinstance(e, ev.Notice))
        assert not (run.store.dir / CONTROL).exists()  # honoured, then removed
        assert not screen.check_action("pause", ()) and not screen.check_action("stop_run", ())
        # the run resumes normally afterwards; the watcher follows the new owner
        for _ in range(3):
            run.agent.gate.release()
        resumed = Running(run)
        await until(pilot, lambda: model.state == "running", what="the watcher seeing the resumed run")
        await until(pilot, lambda: model.state == "completed" and model.stats.processed == 6, timeout=15,
                    what="the resumed run's end")
        assert resumed.end().outcome == "completed"
        await pilot.press("q")
    assert run.checkpoint()["status"] == "completed"


@pytest.mark.asyncio
async def test_the_watchers_stop_interrupts_the_issue_in_flight_and_resume_redoes_it(tmp_path):
    from awm_tui.commands.watch import WatchApp

    run = gated_run(tmp_path, 3)
    engine = Running(run)
    app = WatchApp(run.store.dir, interval=FAST)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.model.running == ["acme__app-1"], what="the issue in flight")
        await pilot.press("S")
        await until(pilot, lambda: engine.controls.stop_requested.is_set(), what="the stop reaching the engine")
        result = engine.end()
        assert result.outcome == "paused" and "redone on resume" in result.message
        assert run.journal() == []
        await until(pilot, lambda: screen.model.state == "paused" and not screen.model.running,
                    what="the watcher showing the stop")
        await pilot.press("q")
    for _ in range(3):
        run.agent.gate.release()
    assert Running(run).end().outcome == "completed"
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1", "acme__app-2", "acme__app-3"]


@pytest.mark.asyncio
async def test_quitting_the_watcher_leaves_the_run_going(tmp_path):
    from awm_tui.commands.watch import WatchApp

    run = gated_run(tmp_path, 2)
    engine = Running(run)
    app = WatchApp(run.store.dir, interval=FAST)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.screen.model.running == ["acme__app-1"], what="the issue in flight")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="the watcher to quit")
    assert app.return_code == 0
    assert not engine.controls.pause_requested.is_set() and engine.thread.is_alive()
    assert not (run.store.dir / CONTROL).exists()
    run.agent.gate.release()
    run.agent.gate.release()
    assert engine.end().outcome == "completed"


def test_a_stale_request_never_stops_a_resumed_run(tmp_path):
    run = make_run(tmp_path, 2)
    # a stop meant for an earlier session of this same process (same pid, written before this session took the lock)
    (run.store.dir / CONTROL).write_text(json.dumps({"request": "stop", "pid": os.getpid(), "at": time.time() - 60}))
    time.sleep(0.6)
    run.agent.on_run = lambda n: time.sleep(0.7)  # long enough for the poller to look
    assert run.engine().run().outcome == "completed"
    assert not (run.store.dir / CONTROL).exists()
    # and one for another process
    run2 = make_run(tmp_path / "b", 2)
    (run2.store.dir / CONTROL).write_text(json.dumps({"request": "pause", "pid": 1, "at": time.time() + 5}))
    run2.agent.on_run = lambda n: time.sleep(0.7)
    assert run2.engine().run().outcome == "completed"


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ + (f" {e.instance_id}" if isinstance(e, ev.IssueFinished) else "")
            for e in events if not isinstance(e, (ev.AgentEvent, ev.IssueStarted, ev.InductionFinished))]


def test_an_issue_that_finished_between_the_snapshot_and_the_first_look_is_reported(tmp_path):
    """The cause of a follower that missed an issue under load: its first look read the journal before its RunStarted
    and dropped what it found, so an issue that finished between the snapshot and that look never reached the screen."""
    run = gated_run(tmp_path, 2)
    engine = Running(run)
    follower = Follower(run.store.dir, interval=FAST)
    view = follower.snapshot()
    assert view.status == "running" and view.experiences == []
    run.agent.gate.release()
    deadline = time.monotonic() + 10
    while not run.store.journal.exists() or not run.store.journal.read_text().strip():
        assert time.monotonic() < deadline, "the first issue never finished"
        time.sleep(0.01)
    assert kinds(follower.poll()) == ["RunStarted", "IssueFinished acme__app-1"]
    run.agent.gate.release()
    assert engine.end().outcome == "completed"
    assert kinds(follower.poll()) == ["IssueFinished acme__app-2", "RunFinished"]
    assert follower.poll() == []


def test_a_run_that_ended_between_the_snapshot_and_the_first_look_is_reported_whole(tmp_path):
    """The snapshot saw the run owned; by the first look its owner had finished it: the screen is told it ran, what
    it finished, and how it ended (before, nothing: the follower had never noted the owner, so saw no change)."""
    run = gated_run(tmp_path, 2)
    engine = Running(run)
    follower = Follower(run.store.dir, interval=FAST)
    assert follower.snapshot().status == "running"
    run.agent.gate.release()
    run.agent.gate.release()
    assert engine.end().outcome == "completed"
    events = follower.poll()
    assert kinds(events) == ["RunStarted", "IssueFinished acme__app-1", "IssueFinished acme__app-2", "RunFinished"]
    assert events[-1].outcome == "completed" and events[-1].stats.processed == 2


def test_a_journal_rewritten_by_its_owner_reports_no_issue_twice(tmp_path):
    run = make_run(tmp_path, 3)
    run.engine().run()
    follower = Follower(run.store.dir, interval=FAST)
    assert len(follower.snapshot().experiences) == 3
    experiences = list(follower.experiences)
    run.store.rewrite_journal(experiences[:2])  # a new file (another inode): read again from its start
    assert follower.poll() == [] and len(follower.experiences) == 2 and follower.stats().processed == 2
    run.store.rewrite_journal(experiences)
    assert kinds(follower.poll()) == ["IssueFinished acme__app-3"]


def test_several_followers_at_once_take_no_lock_and_write_nothing(tmp_path, monkeypatch):
    import builtins

    writes: list[str] = []  # what the followers' threads opened for writing (the engine's threads are not counted)
    real_open, real_os_open = builtins.open, os.open

    def follower_thread() -> bool:
        return threading.current_thread().name.startswith("follower")

    def spy_open(path, mode="r", *args, **kwargs):
        if follower_thread() and any(c in mode for c in "wax+"):
            writes.append(str(path))
        return real_open(path, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if follower_thread() and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(str(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    run = gated_run(tmp_path, 2)
    engine = Running(run)
    followers = [Follower(run.store.dir, interval=FAST) for _ in range(3)]
    seen: list[list[ev.Event]] = [[] for _ in followers]
    for n, (follower, events) in enumerate(zip(followers, seen)):
        follower.snapshot()
        follower.subscriber = events.append
        threading.Thread(target=follower.run, name=f"follower-{n}", daemon=True).start()
    run.agent.gate.release()
    run.agent.gate.release()
    assert engine.end().outcome == "completed"
    deadline = time.monotonic() + 5
    while not all(any(isinstance(e, ev.RunFinished) for e in events) for events in seen):
        assert time.monotonic() < deadline, "a follower never saw the end"
        time.sleep(0.02)
    for follower in followers:
        follower.stop()
    for events in seen:
        finished = [e.instance_id for e in events if isinstance(e, ev.IssueFinished)]
        assert finished == ["acme__app-1", "acme__app-2"]
        assert [type(e).__name__ for e in events if not isinstance(e, ev.AgentEvent)][0] == "RunStarted"
        assert [e.outcome for e in events if isinstance(e, ev.RunFinished)] == ["completed"]
        assert events[-1].stats.processed == 2
    assert writes == [] and not (run.store.dir / CONTROL).exists()
    assert run.store.owner() is None and not run.store.held()


def test_a_request_without_an_owner_is_one_paragraph(tmp_path):
    from awm.errors import UserError

    run = make_run(tmp_path, 1)
    run.engine().run()
    with pytest.raises(UserError) as caught:
        Follower(run.store.dir).pause()
    assert "not being run by any process now (completed)" in caught.value.message
    assert not (run.store.dir / CONTROL).exists()


def test_watch_without_a_running_run_is_one_paragraph_exit_2(tmp_path, monkeypatch, capsys):
    from awm_tui.commands import cli

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    make_run(tmp_path, 1).engine().run()
    assert cli.main(["watch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("awm-tui: watch: no run is being run by any process now") and err.count("\n") == 1
    assert cli.main(["watch", str(tmp_path / "nowhere")]) == 2
    assert "no run found there" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_the_pickers_enter_on_a_run_another_process_runs_watches_it(tmp_path, monkeypatch):
    from awm_tui.app import AwmApp
    from awm_tui.screens.picker import RunPicker
    from awm_tui.screens.watch import WatchScreen

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    run = gated_run(tmp_path, 2)
    engine = Running(run)
    run.agent.gate.release()
    while not run.journal():
        time.sleep(0.01)  # checkpoint.json says running: the picker used to call the live run "failed" on Enter
    app = AwmApp()
    async with app.run_test(size=(160, 45)) as pilot:
        picker = app.screen
        assert isinstance(picker, RunPicker)
        await until(pilot, lambda: picker.runs, what="the runs")
        assert picker.runs[0].status_text == f"running (pid {os.getpid()})"
        assert plain(picker.query_one("#preview")).count("Enter watches it")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WatchScreen), what="the watcher")
        watcher = app.screen
        await until(pilot, lambda: watcher.model.stats.processed == 1 and watcher.model.state == "running",
                    what="the watcher following")
        await pilot.press("escape")  # back to the picker; the run goes on
        await until(pilot, lambda: app.screen is picker, what="back to the picker")
        assert engine.thread.is_alive() and not engine.controls.pause_requested.is_set()
        run.agent.gate.release()
        assert engine.end().outcome == "completed"
    assert run.checkpoint()["status"] == "completed"


# --------------------------------------------------------------------------------------------- the real thing


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def done_on_screen(session: str) -> int | None:
    import re

    found = re.search(r"(\d+)/(\d+) done", tmux("capture-pane", "-p", "-t", session))
    return int(found[1]) if found else None


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.parametrize("opened_by", ["watch", "picker"])
def test_a_headless_run_watched_in_a_real_terminal(tmp_path, awm_home, opened_by):
    """The Done-when: a headless demo run, `awm-tui watch RUN` in tmux (or `awm-tui`, the picker, and Enter on the
    run): n/N done grows, p pauses the headless run (S, from the picker's watcher, stops it; it exits 0, paused), the
    run resumes headless, and quitting the watcher (q) leaves it going to completion."""
    spec = tmp_path / "demo.yaml"
    text = (ROOT / "specs" / "demo.yaml").read_text()
    spec.write_text(text.replace("  output_cost_per_token: 0.000002",
                                 "  output_cost_per_token: 0.000002\n  scripted_latency_s: 0.2"))
    out = tmp_path / "run"
    env = {**os.environ, "AWM_TUI_HOME": str(awm_home)}

    def headless(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "awm_tui.commands.cli", "--no-ui", *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    first = headless(str(spec), "--limit", "4", "--output-dir", str(out))
    session = f"awm-watch-{uuid.uuid4().hex[:8]}"
    args = f"watch {out}" if opened_by == "watch" else ""
    command = f"cd {ROOT} && AWM_TUI_HOME={awm_home} {sys.executable} -m awm_tui.commands.cli {args}; echo AWM-EXITED; sleep 60"
    try:
        wait(lambda: (out / ".lock").exists() and RunStore(out).owner() is not None, 120, "the headless run's start")
        tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", command)
        if opened_by == "picker":  # the run, registered from elsewhere, is the picker's only (and highlighted) row
            wait(lambda: "running" in tmux("capture-pane", "-p", "-t", session), 30,
                 "the picker to list the running run")
            tmux("send-keys", "-t", session, "Enter")
        wait(lambda: done_on_screen(session) is not None, 30, "the watcher's first frame")
        start = done_on_screen(session)
        wait(lambda: (done_on_screen(session) or 0) > start, 120, "n/N done to grow on the watcher's screen")
        assert start is not None and start < 4
        # from the watcher: a pause (p) after the issue in flight; from the picker's watcher: a stop (S) at the next
        # safe point, the issue in flight redone on resume. Either way the run's own safe stop: exit 0, resumable.
        key, asked = ("p", "pause") if opened_by == "watch" else ("S", "stop")
        tmux("send-keys", "-t", session, key)
        assert first.wait(120) == 0, first.stdout.read()
        printed = first.stdout.read()
        assert f"{asked} asked for by a watcher" in printed
        checkpoint = json.loads((out / "checkpoint.json").read_text())
        assert checkpoint["status"] == "paused" and len(checkpoint["finished_ids"]) < 4, printed
        wait(lambda: "paused" in tmux("capture-pane", "-p", "-t", session).splitlines()[0], 15,
             "the watcher to show the pause")
        # resumed headless; the watcher follows the new owner; quitting the watcher leaves the run going
        second = headless("--resume", str(out))
        wait(lambda: " running" in tmux("capture-pane", "-p", "-t", session).splitlines()[0], 120,
             "the watcher to see the resumed run")
        tmux("send-keys", "-t", session, "q")
        wait(lambda: "AWM-EXITED" in tmux("capture-pane", "-p", "-t", session), 15, "the watcher to quit")
        if opened_by == "watch":
            assert "stopped watching" in tmux("capture-pane", "-p", "-t", session)
        assert second.poll() is None, "the run ended with the watcher"
        assert second.wait(240) == 0
        final = json.loads((out / "checkpoint.json").read_text())
        assert final["status"] == "completed" and len(final["finished_ids"]) == 4
        assert not (out / CONTROL).exists()
    finally:
        tmux("kill-session", "-t", session)
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
