"""The Textual app driven with a pilot: fed by the scripted fake engine (tests/fake_engine.py) for the panes,
controls, errors and the run picker, and once by the real engine on the demo spec (a whole run, then a pause,
quit and resume from the picker)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest
from textual import events
from rich.text import Text
from textual.content import Content
from textual.widgets import DataTable, Input, Log, OptionList, Static, TabbedContent

import fake_engine
from awm.errors import UserError
from awm.paths import runs_root
from awm.run.store import RunStore
from awm_tui.app import AwmApp
from awm_tui.screens.detail import IssueDetail
from awm_tui.screens.error import ErrorScreen
from awm_tui.screens.picker import RunPicker
from awm_tui.screens.run import RunScreen
from awm_tui.session import Launch
from awm_tui.widgets.agentlog import render
from conftest import ROOT
from support.pilot import home, until  # noqa: F401 - home: a fixture

pytestmark = pytest.mark.asyncio

IDS = fake_engine.IDS
SIZE = (140, 40)


# ------------------------------------------------------------------ helpers

def plain(markup) -> str:
    """What a Static, an option prompt or a table cell shows, without its markup."""
    if isinstance(markup, Static):
        markup = markup.content
    return markup.plain if isinstance(markup, (Content, Text)) else Content.from_markup(str(markup)).plain


def queue_rows(screen) -> list[tuple[str, str]]:
    """The issue queue as shown: (state, id) per row, in the table's order."""
    table = screen.query_one("#queue", DataTable)
    return [(plain(cells[0]), plain(cells[1])) for cells in (table.get_row_at(i) for i in range(table.row_count))]


def queue_cells(screen, iid: str) -> dict[str, str]:
    """One issue's cells, by column."""
    table = screen.query_one("#queue", DataTable)
    return {column.key.value: plain(value) for column, value in zip(table.ordered_columns, table.get_row(iid))}


def labels(option_list: OptionList) -> list[str]:
    return [plain(option.prompt) for option in option_list.options]


def run_screen(app) -> RunScreen:
    return next(s for s in reversed(app.screen_stack) if isinstance(s, RunScreen))


def screen_text(app) -> str:
    """Every Static and Log line on the current screen, as plain text."""
    texts = [plain(w) for w in app.screen.query(Static)]
    texts += [line for log in app.screen.query(Log) for line in log.lines]
    return "\n".join(texts)


@pytest.fixture
def fakes():
    """Makes fake engine factories; every engine they built is let go at the end (no thread outlives a test)."""
    made: list[fake_engine.FakeFactory] = []

    def make(**options) -> fake_engine.FakeFactory:
        made.append(fake_engine.factory(**options))
        return made[-1]

    yield make
    for factory in made:
        factory.close()


@contextlib.asynccontextmanager
async def drive(app: AwmApp, size=SIZE):
    """app.run_test, and then the fake engine let go at once: a thread still held would keep the test's event loop
    from closing (the loop joins its executor's threads)."""
    try:
        async with app.run_test(size=size) as pilot:
            yield pilot
    finally:
        if isinstance(app.factory, fake_engine.FakeFactory):
            app.factory.close()


def fake_app(factory, **launch) -> AwmApp:
    return AwmApp(Launch(spec_path="fake.yaml", **launch), factory=factory)


# ------------------------------------------------------------------ the run screen, fed by the fake engine

async def test_queue_history_and_memory_follow_the_events(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[4]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[4]}") and screen.model.current == IDS[4],
                    what="the fifth issue in flight")
        await until(pilot, lambda: not screen.pending, what="the log flushed")

        # mid-run: four verdicts, one running, three waiting
        queue = screen.query_one("#queue", DataTable)
        assert queue_rows(screen) == [
            ("✓ PASS", IDS[0]), ("✗ FAIL", IDS[1]), ("✓ PASS", IDS[2]), ("! ERR", IDS[3]),
            ("▶ run", IDS[4]), ("· wait", IDS[5]), ("· wait", IDS[6]), ("· wait", IDS[7])]
        assert queue_cells(screen, IDS[0]) == {"state": "✓ PASS", "id": IDS[0], "time": "0m12s", "cost": "$0.0123",
                                               "steps": "7", "wf": "0", "round": "0"}
        assert queue_cells(screen, IDS[3])["wf"] == "2" and queue_cells(screen, IDS[3])["round"] == "1"
        assert queue.cursor_row == 4
        assert [r.instance_id for r in screen.model.history] == list(IDS[:4])
        assert "4/8 done · success 50.0% (2/4) · 2 workflows" in plain(screen.query_one("#status", Static))

        summary = plain(screen.query_one("#summary", Static))
        assert "round 1 after 3 issues — +2: Fix an off-by-one boundary, Reproduce then patch" in summary

        # the log: the issue in flight under its own header, its agent events in order
        lines = screen.query_one("#log", Log).lines
        header = lines.index(f"── {IDS[4]} (5/8), 2 workflows in the prompt ──")
        assert lines[header - 1] == f"── {IDS[3]}: ERROR agent: the model returned no tool call three times in a row ──"
        assert lines[header + 1:] == ["▶ terminal: pytest -q tests/test_lru.py", "  F. [100%]",
                                      "    === FAILURES ===", "    ___ test_lru_edge_case ___",
                                      "        assert parse('x') == 'x'", "    E   AssertionError",
                                      "    … (3 more lines)", "▶ file_editor: str_replace tallyho/lru.py: `<` -> `<=`",
                                      "» Fixed the boundary check in tallyho/lru.py."]

        factory.release()
        await until(pilot, lambda: screen.model.state == "completed", what="the run completed")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert queue_rows(screen) == [(f"{mark} {verdict}", iid) for iid, mark, verdict in zip(
            IDS, "✓✗✓!✓✗✓–", ["PASS", "FAIL", "PASS", "ERR", "PASS", "FAIL", "PASS", "SKIP"])]
        assert [r.instance_id for r in screen.model.history] == list(IDS)
        status = plain(screen.query_one("#status", Static))
        assert "8/8 done · success 57.1% (4/7) · 3 workflows · $0.0984 · 1m40s · completed" in status
        summary = plain(screen.query_one("#summary", Static))
        assert "round 2 after 7 issues — +1: Parse a config value" in summary
        assert lines[-1] == "── run completed: all issues processed ──"

        # the History and Memory tabs (their contents: tests/test_tui_history_picker.py, test_tui_detail_memory.py)
        await pilot.press("4")
        assert screen.query_one(TabbedContent).active == "memory"
        await pilot.press("3")
        assert screen.query_one(TabbedContent).active == "history"


async def test_selecting_a_finished_issue_shows_its_verdict_reason_patch_and_workflows(home, fakes):
    factory = fakes()
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.state == "completed")
        await pilot.press("1")
        queue = screen.query_one("#queue", DataTable)
        assert app.focused is queue
        await pilot.press("home", *["down"] * 5)
        assert queue.cursor_row == 5
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, IssueDetail))
        text = plain(app.screen.query_one("#detail-text", Static))  # its tabs: tests/test_tui_detail_memory.py
        assert text.startswith(f"{IDS[5]} — FAIL: the patch does not apply: tallyho/text.py hunk #1 failed\n")
        assert "cost $0.0123 · 7 steps · 4,321 tokens · 0m12s · agent finished · memory round 1" in text

        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("home", "enter")
        await until(pilot, lambda: isinstance(app.screen, IssueDetail))
        text = plain(app.screen.query_one("#detail-text", Static))
        assert text.startswith(f"{IDS[0]} — PASS\n") and "memory round 0" in text
        await pilot.press("q")  # q closes the detail, it does not quit
        assert app.screen is screen and app.is_running


async def test_an_unfinished_issue_says_so(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.current == IDS[1])
        await pilot.press("1", "end", "enter")
        await until(pilot, lambda: isinstance(app.screen, IssueDetail))
        assert plain(app.screen.query_one("#detail-text", Static)).startswith(f"{IDS[7]} — waiting\nnot finished yet")


async def test_the_command_palette_has_the_run_commands(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.current == IDS[0] and screen.engine is not None)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Pause after this issue", "Quit safely", "Show the history",
                      "Show the workflow memory", "Focus the issue queue", "Focus the agent log"):
            assert title in titles
        # like the footer, the palette offers only what would do something: running, there is nothing to resume
        assert "Resume the run" not in titles and "The last error" not in titles

        # and they work from the palette itself
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"pause after")
        palette = app.screen
        await until(pilot, lambda: any("Pause after this issue" in label
                                       for label in labels(palette.query_one("CommandList"))), what="the match")
        await pilot.press("enter")
        await until(pilot, lambda: screen.model.state == "pausing")
        assert factory.engine.calls == ["run", "pause"]
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Pause after this issue" not in titles and "Resume the run" not in titles  # pausing: neither...
        assert "Cancel the pause" in titles  # ...but the pause can be taken back
        factory.release()
        await until(pilot, lambda: screen.model.state == "paused" and not screen.busy)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Resume the run" in titles and "Pause after this issue" not in titles


# ------------------------------------------------------------------ pause, resume, quit

async def test_pause_finishes_the_issue_in_flight_and_resume_goes_on(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[2]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[2]}") and screen.model.current == IDS[2])
        await pilot.press("p")
        assert factory.engine.calls == ["run", "pause"]
        assert screen.model.state == "pausing"
        factory.release()
        await until(pilot, lambda: screen.model.state == "paused" and screen.engine is None, what="paused")
        assert factory.engine.finished.outcome == "paused"
        assert [r.instance_id for r in screen.model.history] == list(IDS[:3])  # the issue in flight finished
        assert screen.model.rows[IDS[3]].state == "waiting"
        assert "paused" in plain(screen.query_one("#status", Static))
        await pilot.press("p")  # nothing to pause
        assert len(factory.engines) == 1 and factory.engine.calls == ["run", "pause"]

        await pilot.press("r")
        await until(pilot, lambda: screen.model.state == "completed", what="the resumed run completed")
        assert len(factory.engines) == 2 and factory.launches[1] is factory.launches[0]
        assert factory.engines[1].calls == ["run"]
        assert [r.instance_id for r in screen.model.history] == list(IDS)  # each issue once
        assert screen.query_one("#log", Log).lines.count(f"── {IDS[2]} (3/8), 0 workflows in the prompt ──") == 1


async def test_quit_mid_run_stops_the_engine_and_exits_0(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[1]}") and screen.model.current == IDS[1])
        await pilot.press("q")
        await until(pilot, lambda: factory.engine.finished is not None, what="the engine returned")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.return_code is not None, what="the app exited")
    assert factory.engine.calls == ["run", "stop"]
    assert factory.engine.finished.outcome == "paused"
    assert factory.engine.finished.message == f"stopped during {IDS[1]}; it will be redone on resume"
    assert [e.instance_id for e in factory.state.experiences] == [IDS[0]]  # the issue in flight was dropped
    assert app.return_code == 0


async def test_quit_when_paused_exits_at_once(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.current == IDS[0] and screen.engine is not None)
        await pilot.press("p")
        factory.release()
        await until(pilot, lambda: screen.model.state == "paused" and screen.engine is None)
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and factory.engine.calls == ["run", "pause"]


# ------------------------------------------------------------------ errors

SPEC_ERROR = ("spec.yaml, line 3, field `llm`: unknown key `modle` [did you mean `model`?]. Write the model as "
              "`model: openai/gpt-4o`.")


async def test_a_user_error_is_shown_as_written_and_q_exits_2(home, fakes):
    factory = fakes(error=UserError(SPEC_ERROR))
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert plain(app.screen.query_one("#error-text", Static)) == SPEC_ERROR
        assert run_screen(app).model.state == "failed"
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2


async def test_a_user_error_can_be_dismissed_and_the_run_screen_stays(home, fakes):
    factory = fakes(error=UserError(SPEC_ERROR))
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await pilot.press("escape")
        assert isinstance(app.screen, RunScreen) and app.screen.model.state == "failed"
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2


@pytest.mark.parametrize("where", ["factory", "run"])
async def test_an_unexpected_exception_is_a_message_never_a_traceback(home, fakes, where):
    boom = RuntimeError("the fake engine broke")
    factory = fakes(error=boom) if where == "factory" else fakes(fail_in_run=boom)
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        crash = home / "crash.log"
        assert plain(app.screen.query_one("#error-text", Static)) == (
            f"the engine stopped: RuntimeError: the fake engine broke (details in {crash})")
        shown = screen_text(app) + "\n" + "\n".join(
            plain(w) for s in app.screen_stack for w in s.query(Static))
        assert "Traceback" not in shown and 'File "' not in shown
        assert "Traceback (most recent call last)" in crash.read_text()
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1


# ------------------------------------------------------------------ the run picker

@pytest.fixture
def runs(home) -> dict[str, Path]:
    """Three runs in the runs folder: paused at 3/8, completed, and created but never run."""
    root = runs_root()
    made = {
        "alpha": fake_engine.write_run(root / "alpha-20250102-030405", name="alpha", processed=3, status="paused",
                                       updated_at="2025-01-02T03:04:05", message="paused by request"),
        "beta": fake_engine.write_run(root / "beta-20250101-101010", name="beta", processed=8, status="completed",
                                      updated_at="2025-01-01T10:10:10"),
        "gamma": fake_engine.write_run(root / "gamma-20241231-235959", name="gamma", processed=0, status="new",
                                       updated_at="2024-12-31T23:59:59"),
    }
    return {name: store.dir for name, store in made.items()}


async def test_the_picker_lists_the_runs_with_a_preview(runs, fakes):
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        picker = app.screen
        assert isinstance(picker, RunPicker)
        listing = picker.query_one("#runs", DataTable)  # the table in detail: tests/test_tui_history_picker.py
        assert [[plain(cell) for cell in listing.get_row_at(i)][1:4] for i in range(listing.row_count)] == [
            ["paused", "3/8", "67%"], ["completed", "8/8", "57%"], ["new", "0/8", "–"]]
        preview = plain(picker.query_one("#preview", Static))
        assert preview.startswith("alpha · paused\n") and f"folder     {runs['alpha']}\n" in preview
        assert "progress   3/8 issues, 2 passed (66.7%)" in preview and "Enter resumes it" in preview
        await pilot.press("down")
        preview = plain(picker.query_one("#preview", Static))
        assert preview.startswith("beta") and "8/8 issues, 4 passed (57.1%)" in preview
        assert "Enter opens it read-only" in preview


async def test_enter_on_an_unfinished_run_resumes_it(runs, fakes):
    from awm.run.store import RunStore

    factory = fakes(state=fake_engine.run_state(RunStore(runs["alpha"])))
    app = AwmApp(factory=factory)
    async with drive(app) as pilot:
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        await until(pilot, lambda: screen.model.state == "completed")
        assert [launch.resume for launch in factory.launches] == [str(runs["alpha"])]
        assert factory.launches[0].spec_path is None and screen.model.run_dir == str(runs["alpha"])
        assert [r.instance_id for r in screen.model.history] == list(IDS)  # 3 from the folder, then the rest
        assert [e.instance_id for e in factory.state.experiences] == list(IDS)


async def test_enter_on_a_finished_run_opens_it_read_only_and_escape_goes_back(runs, fakes):
    factory = fakes()
    app = AwmApp(factory=factory)
    async with drive(app) as pilot:
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        await pilot.pause(0.2)
        assert screen.read_only and screen.engine is None and factory.launches == []
        assert not [w for w in app.workers if w.group == "engine"]
        assert screen.model.state == "completed" and len(screen.model.history) == 8
        assert queue_rows(screen)[1] == ("✗ FAIL", IDS[1])
        assert "round 2 after 7 issues — +1: Parse a config value" in plain(screen.query_one("#summary", Static))
        assert screen.query_one("#log", Log).lines == ["Run beta opened read-only (completed)."]
        await pilot.press("r", "p")  # nothing to resume or pause in a finished run
        assert factory.launches == []
        await pilot.press("escape")
        assert isinstance(app.screen, RunPicker)
        assert app.screen.query_one("#runs", DataTable).cursor_row == 1


async def test_n_and_a_spec_path_starts_a_new_run(runs, fakes, tmp_path, monkeypatch):
    spec = tmp_path / "new.yaml"
    spec.write_text("name: new\n")
    monkeypatch.chdir(tmp_path)
    factory = fakes()
    app = AwmApp(factory=factory)
    async with drive(app) as pilot:
        await pilot.press("n")
        box = app.screen.query_one("#new-spec", Input)
        assert box.display and app.focused is box
        await pilot.press(*"nope.yaml", "enter")
        assert isinstance(app.screen, RunPicker) and factory.launches == []  # no such file: stays, says so
        assert box.display
        box.value = ""
        await pilot.press(*"new.yaml", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await until(pilot, lambda: app.screen.model.state == "completed")
        assert [(launch.spec_path, launch.resume) for launch in factory.launches] == [("new.yaml", None)]


async def test_the_new_run_box_completes_spec_paths(runs, fakes, tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("demo.yaml", "demo-docker.yaml", "django.yaml", "notes.txt"):
        (specs / name).write_text("name: x\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.yml").write_text("name: mine\n")
    monkeypatch.chdir(tmp_path)
    factory = fakes()
    app = AwmApp(factory=factory)
    async with drive(app) as pilot:
        await pilot.press("n")
        box = app.screen.query_one("#new-spec", Input)

        async def typed(text: str) -> str:
            box.value = ""
            await pilot.press(*text)
            await until(pilot, lambda: box._suggestion or False, timeout=3, what=f"a completion of {text!r}")
            return box._suggestion

        assert await typed("sp") == "specs/"  # the folder of the specs
        assert await typed("specs/d") == "specs/demo.yaml"  # a spec file, the shortest first
        assert await typed("specs/dj") == "specs/django.yaml"
        assert await typed("oth") == "other/"
        assert await typed(f"{tmp_path}/other/m") == f"{tmp_path}/other/mine.yml"  # an absolute path's folder
        box.value = ""
        await pilot.press(*"specs/n")
        await pilot.pause(0.2)
        assert not box._suggestion  # notes.txt is not a spec
        # Tab takes the completion, folder by folder, and Enter starts the run
        box.value = ""
        await pilot.press("s", "p")
        await until(pilot, lambda: box._suggestion == "specs/")
        await pilot.press("tab")
        assert box.value == "specs/" and app.focused is box
        await pilot.press("d", "j")
        await until(pilot, lambda: box._suggestion == "specs/django.yaml")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert [launch.spec_path for launch in factory.launches] == ["specs/django.yaml"]


async def test_the_command_palette_has_the_pickers_commands(runs, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[3]}"], state=fake_engine.run_state(RunStore(runs["alpha"])))
    app = AwmApp(factory=factory)
    async with drive(app) as pilot:
        await pilot.pause()
        picker = app.screen
        titles = [c.title for c in app.get_system_commands(picker)]
        for title in ("Resume the run", "Mark the run for a comparison", "New run", "Sort the runs",
                      "Reload the runs", "Quit safely"):
            assert title in titles, titles
        assert "Compare the marked runs" not in titles  # two marked runs first
        await pilot.press("space", "down", "space")
        titles = [c.title for c in app.get_system_commands(picker)]
        assert "Compare the marked runs" in titles and "Unmark the run" in titles
        assert "Open the run" in titles  # the cursor is on the finished run

        # from the palette itself: a new run's box
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"new run")
        palette = app.screen
        await until(pilot, lambda: any("New run" in label for label in labels(palette.query_one("CommandList"))),
                    what="the match")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is picker and picker.query_one("#new-spec", Input).display)
        assert app.focused is picker.query_one("#new-spec", Input)


async def test_the_picker_with_no_runs_says_how_to_start_one(home, fakes):
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#runs", DataTable).row_count == 0
        assert plain(app.screen.query_one("#preview", Static)).startswith("No runs yet.")
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


# ------------------------------------------------------------------ a flood of agent events

async def test_keys_are_handled_during_a_flood_of_agent_events(home, fakes):
    """The fake engine floods the app (at least 5,000 agent events, as fast as it can, on until the last key);
    every key still takes effect. The time each took is printed (no threshold here: bench/input_latency.py)."""
    factory = fakes(burst=5000, hold_at=["started", "burst", f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        await until(pilot, lambda: factory.reached("started"))
        screen = run_screen(app)
        tabs = screen.query_one(TabbedContent)
        factory.release("started")
        await until(pilot, lambda: factory.engine.burst_sent > 0, what="the flood")
        latencies = []
        # tab switches, and focus moves between the queue and the log
        keys = [("4", lambda: tabs.active == "memory"), ("3", lambda: tabs.active == "history"),
                ("1", lambda: app.focused is screen.query_one("#queue")),
                ("2", lambda: app.focused is screen.query_one("#log"))] * 5
        for key, done in keys:
            sent = time.perf_counter()
            app._driver.send_message(events.Key(key, key))  # as a terminal's keys come: through the driver
            await until(pilot, done, timeout=20, what=f"key {key} to take effect")
            latencies.append(time.perf_counter() - sent)
        assert not factory.reached("burst")  # every key went in while the flood was on
        factory.release("burst")
        await until(pilot, lambda: factory.reached(f"issue:{IDS[0]}") and not screen.pending, what="the log drained")
        sent = factory.engine.burst_sent
        assert sent >= 5000 and screen.sent == sent + len(fake_engine.agent_events(IDS[0]))
        last = [line for n in (sent - 2, sent - 1) for line in render(fake_engine.burst_event(IDS[0], n))]
        assert screen.query_one("#log", Log).lines[-len(last):] == last  # the last ones, in order
        factory.release()
        await until(pilot, lambda: screen.model.state == "completed")
    ms = sorted(x * 1000 for x in latencies)
    print(f"\n{len(ms)} keys during a flood of {sent} agent events: median {ms[len(ms) // 2]:.0f} ms, "
          f"max {ms[-1]:.0f} ms")


# ------------------------------------------------------------------ the real engine

def read_journal(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "experiences.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.slow
async def test_the_real_engine_on_the_demo_runs_pauses_and_resumes_from_the_picker(awm_home, tmp_path):
    from awm.demo.minibench import load_instances
    from awm.demo.minibench.scripts import SCRIPTS

    # the learner's first six issues (one per bug category, none distractible) get no workflow of their own category:
    # they pass where the naive fix works
    expected = {i["instance_id"]: ("FAIL" if SCRIPTS[i["instance_id"]]["naive_wrong"] else "PASS")
                for i in load_instances()[:6]}
    demo = str(ROOT / "specs" / "demo.yaml")

    # a whole run
    out = tmp_path / "run"
    app = AwmApp(Launch(spec_path=demo, overrides={"output_dir": str(out), "dataset.limit": 6}))
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.state in ("completed", "failed", "aborted"), timeout=150,
                    what="the demo run to end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.model.state == "completed", screen.model.message
        assert queue_rows(screen) == [(f"{'✓' if v == 'PASS' else '✗'} {v}", iid) for iid, v in expected.items()]
        memory = json.loads((out / "memory.json").read_text())
        assert memory["rounds"]
        summary = plain(screen.query_one("#summary", Static))
        first = memory["rounds"][0]
        names = [memory["versions"][f"{wid}@{first['round']}"]["name"] for wid in first["induced"]]
        assert f"round 1 after 2 issues — +{len(names)}: {', '.join(names)}" in summary
        assert "6/6 done" in plain(screen.query_one("#status", Static))
        await pilot.press("4")  # the memory browser lists what memory.json holds
        table = screen.query_one("#memory-list", DataTable)
        await until(pilot, lambda: table.row_count > 0, what="the memory browser")
        shown = [plain(table.get_row_at(i)[0]) for i in range(table.row_count)]
        for name in (w["name"] for w in memory["workflows"]):  # a long name is cut to its column, with "…"
            assert any(cell == name or (cell.endswith("…") and name.startswith(cell[:-1])) for cell in shown), name
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0

    # another run: pause after the first issue, quit, resume from the picker in a new app
    out = tmp_path / "run2"
    app = AwmApp(Launch(spec_path=demo, overrides={"output_dir": str(out), "dataset.limit": 6}))
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: len(screen.model.history) >= 1 or screen.model.state == "failed", timeout=90,
                    what="the first issue")
        await pilot.press("p")
        assert screen.model.state == "pausing"
        await until(pilot, lambda: screen.model.state == "paused" and screen.engine is None, timeout=60)
        paused_at = len(screen.model.history)
        assert 1 <= paused_at < 6
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    assert len(read_journal(out)) == paused_at

    app = AwmApp()
    async with drive(app) as pilot:
        listing = app.screen.query_one("#runs", DataTable)
        index = listing.get_row_index(str(out.resolve()))
        cells = [plain(cell) for cell in listing.get_row_at(index)]
        assert f"{paused_at}/6" in cells and "paused" in cells
        listing.move_cursor(row=index)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        assert len(screen.model.history) == paused_at
        await until(pilot, lambda: screen.model.state in ("completed", "failed", "aborted"), timeout=120,
                    what="the resumed run to end")
        assert screen.model.state == "completed", screen.model.message
        await app.workers.wait_for_complete()
        assert [r.instance_id for r in screen.model.history] == list(expected)
    journal = read_journal(out)
    assert [e["instance_id"] for e in journal] == list(expected)  # each once, in order: nothing lost or redone
    assert {e["instance_id"]: e["status"] for e in journal} == expected
