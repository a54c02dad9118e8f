"""The run screen and the app shell (issue 12), driven with a pilot over the scripted fake engine: each defect the
issue reproduced, and what a researcher watching a long run expects to see (clocks that tick, the queue as a
table that never snaps back, a footer that knows the state, help, errors that stay, the start-up's progress).

Names are looked up on the screen (by id, by class name) rather than imported, so that this file also runs
against the app before these fixes and shows each test failing there."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Offset
from textual.selection import Selection
from textual.widgets import DataTable, Input, Log

import fake_engine
from awm.errors import UserError
from awm.records import Status
from awm.run.store import list_runs
from awm.paths import runs_root
from awm_tui.commands import cli
from awm_tui.app import AwmApp
from awm_tui.screens.error import ErrorScreen
from awm_tui.widgets.agentlog import render
from awm.run.events import AgentEvent
from test_tui import (drive, fake_app, fakes, home, plain, queue_cells, queue_rows, run_screen,  # noqa: F401
                      until)

IDS = fake_engine.IDS


# ------------------------------------------------------------------ helpers

def rendered(app) -> list[str]:
    """The screen as drawn (what a terminal shows), one string per row."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      color_system="truecolor", legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().splitlines()


def frozen(app: AwmApp, start: float = 1000.0) -> list[float]:
    """Give the app a clock the test moves by hand: `now[0] += 7` is seven seconds later."""
    now = [start]
    app.clock = lambda: now[0]
    return now


def footer_keys(app) -> set[str]:
    """The keys the footer shows (as drawn: it is redrawn only when the screen says its keys changed)."""
    return {key.key for key in app.screen.query("FooterKey") if not key.has_class("-command-palette")}


def recorded(app) -> list[str]:
    """Every notification the app will show, as it is asked for (a toast expires; this list keeps them)."""
    said: list[str] = []
    notify = app.notify

    def record(message, *args, **kwargs):
        said.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = record
    return said


async def mid_issue(pilot, factory, screen, iid: str) -> None:
    await until(pilot, lambda: factory.reached(f"issue:{iid}") and screen.model.current == iid, what=f"{iid} in flight")
    await until(pilot, lambda: not screen.pending and not screen.barriers, what="the log flushed")
    await pilot.pause()


def write_instance_log(run_dir: Path, iid: str, checkout: str) -> Path:
    """An instance log in the runner's format (awm.agent.runner): header lines, then timestamped entries."""
    path = run_dir / "logs" / f"instance_{iid}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# {iid}  repo tallyho/tallyho  base abc123\n# workspace {checkout}\n"
        "# workflow memory in the system prompt:\n# Workflow memory\nThe workflows below…\n\n"
        f"[10:00:01] ACTION file_editor\nview {checkout}/tallyho/roman.py\n\n"
        f"[10:00:02] OBSERVATION file_editor\nHere's the result of running `cat -n` on {checkout}/tallyho/roman.py:\n"
        "     1\tdef to_roman(n):\n\n"
        f"[10:00:03] ERROR terminal\nthe command timed out\n\n"
        "# agent status: finished\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ 1. the log follows, visibly

@pytest.mark.asyncio
async def test_the_log_keeps_following_after_the_terminal_shrinks(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}", f"issue:{IDS[5]}"])
    app = fake_app(factory)
    async with drive(app, size=(160, 45)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        factory.release(f"issue:{IDS[1]}")
        await mid_issue(pilot, factory, screen, IDS[5])
        log = screen.query_one("#log", Log)
        assert log.max_scroll_y > 0 and log.is_vertical_scroll_end  # the newest line in view, not issue 2's
        assert "» Fixed the boundary check in tallyho/text" in "\n".join(rendered(app))  # issue 6's last line
        assert "following" in plain(log.border_title) and "not following" not in plain(log.border_title)
        await pilot.resize_terminal(160, 45)  # and wider again
        await pilot.pause()
        assert log.is_vertical_scroll_end


@pytest.mark.asyncio
async def test_f_and_scrolling_up_stop_following_and_the_title_says_so(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[2]}", f"issue:{IDS[3]}"])
    app = fake_app(factory)
    async with drive(app, size=(80, 24)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[2])
        log = screen.query_one("#log", Log)
        await pilot.press("2", "up", "up")
        assert "not following" in plain(log.border_title)
        top = log.scroll_y
        factory.release(f"issue:{IDS[2]}")
        await mid_issue(pilot, factory, screen, IDS[3])
        assert log.scroll_y == top and not log.is_vertical_scroll_end  # left where the user put it
        await pilot.press("f")
        await pilot.pause()
        assert log.is_vertical_scroll_end and "not following" not in plain(log.border_title)
        await pilot.press("f")
        assert "not following" in plain(log.border_title)


# ------------------------------------------------------------------ 2. what ticks during an issue

@pytest.mark.asyncio
async def test_clocks_steps_and_cost_tick_during_an_issue(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    now = frozen(app)
    async with drive(app, size=(160, 45)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        status = plain(screen.query_one("#status"))
        assert "0m12s" in status and "$0.0221" in status  # 12.5 s and $0.0123 done, + $0.0098 so far
        now[0] += 64.5
        app.tick()  # the app's one-second timer
        await pilot.pause()
        status = plain(screen.query_one("#status"))
        assert "1m17s" in status and "$0.0221" in status
        assert queue_cells(screen, IDS[1]) == {"state": "▶ run", "id": IDS[1], "time": "1m04s", "cost": "$0.0098",
                                               "steps": "2", "wf": "0", "round": "0"}
        text = "\n".join(rendered(app))
        assert f"▶ {IDS[1]} 1m04s 2 steps $0.0098" in text  # the progress line
        assert f"▶ run   {IDS[1]}      2  $0.0098      0   0   1m04s" in text  # the queue's row, drawn again
        now[0] += 1.5
        app.tick()
        await pilot.pause()
        assert f"▶ run   {IDS[1]}      2  $0.0098      0   0   1m06s" in "\n".join(rendered(app))


@pytest.mark.asyncio
async def test_enter_on_an_issue_in_flight_shows_what_is_known_so_far(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    now = frozen(app)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        now[0] += 42
        await pilot.press("1", "enter")
        await until(pilot, lambda: app.screen is not screen, what="a screen over the run")
        text = "\n".join(rendered(app))
        assert "0m42s · 2 steps · $0.0098 · 4,000 tokens" in text
        assert "▶ terminal: pytest -q tests/test_semver.py" in text
        assert "▶ file_editor: str_replace tallyho/semver.py: `<` -> `<=`" in text
        assert "not finished yet" not in text
        now[0] += 10
        app.tick()
        await pilot.pause()
        assert "0m52s · 2 steps" in "\n".join(rendered(app))  # it ticks
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("enter", "enter")  # Enter there: the issue's detail so far
        await until(pilot, lambda: type(app.screen).__name__ == "IssueDetail", what="the detail")


@pytest.mark.asyncio
async def test_an_open_detail_follows_its_issue_until_it_finishes(home, fakes, tmp_path, monkeypatch):
    from awm_tui.screens import detail

    monkeypatch.setattr(detail, "LIVE_EVERY", 0.05)
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    log = run_dir / "logs" / f"instance_{IDS[1]}.log"
    log.write_text("── step 1 ──\n$ ls\n")
    factory = fakes(hold_at=[f"issue:{IDS[1]}"], run_dir=str(run_dir))
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        await pilot.press("1", "enter", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IssueDetail", what="the detail")
        shown = app.screen

        def text(selector: str) -> str:  # "" while the detail is being built again
            found = shown.query(selector)
            return plain(found.first()) if found else ""

        await pilot.press("2")  # the trajectory tab: the log so far
        assert "$ ls" in text("#detail-trajectory") and "pytest" not in plain(
            shown.query_one("#detail-trajectory"))
        with log.open("a") as f:
            f.write("── step 2 ──\n$ pytest -q\n")
        await until(pilot, lambda: "$ pytest -q" in text("#detail-trajectory"),
                    what="the new log lines")
        assert "not finished yet" in text("#detail-text")
        factory.release()  # the issue finishes: its verdict, patch and tests replace the "so far"
        await until(pilot, lambda: text("#detail-text") and "not finished yet" not in text("#detail-text"),
                    what="the finished issue")
        await until(pilot, lambda: shown.query("TabbedContent") and shown.query_one("TabbedContent").active ==
                    "trajectory", what="the tab kept")
        assert app.screen is shown
        assert f"{IDS[1]} — FAIL: FAIL_TO_PASS failed" in text("#detail-text")  # its verdict
        assert shown._live is None  # finished: no longer watched


# ------------------------------------------------------------------ 5. narrow terminals keep the key fields

@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_status_bar_keeps_state_progress_rate_cost_and_time(home, fakes, size):
    model = "openrouter/anthropic/claude-3-7-sonnet-20250219-with-a-very-long-deployment-name"
    factory = fakes(hold_at=[f"issue:{IDS[4]}"], model=model)
    app = fake_app(factory)
    frozen(app)  # the run's clock would tick on from 0m50s
    async with drive(app, size=size) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[4])
        top = rendered(app)[0]
        for shown in ("4/8", "50.0%", "$0.0590", "0m50s", "running"):
            assert shown in top, (shown, top)


@pytest.mark.asyncio
async def test_the_queue_widens_for_long_ids_and_shrinks_at_80_columns(home, fakes):
    ids = ("scikit-learn__scikit-learn-13142", "scikit-learn__scikit-learn-13241", "scikit-learn__scikit-learn-9999")
    factory = fakes(hold_at=[f"issue:{ids[1]}"], instance_ids=ids)
    app = fake_app(factory)
    async with drive(app, size=(160, 45)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, ids[1])
        queue = screen.query_one("#queue")
        text = "\n".join(rendered(app))
        assert all(iid.split("__")[1] in text for iid in ids)  # the repository's owner dropped to keep the round
        assert queue.size.width >= 60
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert queue.size.width <= 36 and screen.query_one("#log").size.width >= 40


def queue_lines(app) -> list[str]:
    """The queue's rows as drawn: the text inside its border, one string per screen row."""
    queue = app.screen.query_one("#queue")
    left, top, width, height = queue.region
    return [line[left + 1:left + width - 1] for line in rendered(app)[top + 1:top + height - 1]]


@pytest.mark.asyncio
@pytest.mark.parametrize("columns", [80, 100])
async def test_at_80_and_100_columns_the_queue_tells_every_id_apart_and_shows_the_steps(home, fakes, columns):
    ids = tuple(f"awm-bench__tallyho-{n}" for n in range(1, 20))
    factory = fakes(hold_at=[f"issue:{ids[12]}"], instance_ids=ids)
    app = fake_app(factory)
    async with drive(app, size=(columns, 24)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, ids[12])
        queue = screen.query_one("#queue", DataTable)
        lines = queue_lines(app)
        header = lines[0]
        assert "issue" in header and "steps" in header
        if columns == 100:
            assert "cost" in header
        # every row's id as drawn (the rows scrolled into view: the first 12 finished, the 13th in flight)
        queue.scroll_to(y=0, animate=False, immediate=True)
        seen: dict[str, str] = {}
        for y in range(0, len(ids), 5):
            queue.scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()
            for line in queue_lines(app)[1:]:
                words = line.split()
                if len(words) >= 3 and "tallyho-" in line:
                    label = next(w for w in words if "tallyho-" in w)
                    seen[label] = line
        assert len(seen) == len(ids), sorted(seen)  # 19 labels, all different
        assert {label.split("tallyho-")[1] for label in seen} == {str(n) for n in range(1, 20)}
        # the finished ones show their steps beside them
        finished = next(line for label, line in seen.items() if label.endswith("tallyho-1"))
        assert "✓" in finished or "✗" in finished or "!" in finished or "–" in finished
        assert any(ch.isdigit() for ch in finished.split("tallyho-1", 1)[1])


# ------------------------------------------------------------------ 6. Ctrl-C copies a selection

@pytest.mark.asyncio
async def test_ctrl_c_with_text_selected_copies_it_and_the_run_goes_on(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    said = recorded(app)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        log = screen.query_one("#log", Log)
        line = next(i for i, text in enumerate(log.lines) if text.startswith("▶ terminal"))
        screen.selections = {log: Selection(Offset(2, line), Offset(10, line))}
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.clipboard == "terminal"
        assert app.is_running and factory.engine.calls == ["run"] and screen.model.state == "running"
        assert any("Copied" in n for n in said)
        screen.selections = {}
        await pilot.press("ctrl+c")  # nothing selected: the safe quit, as before
        await until(pilot, lambda: "stop" in factory.engine.calls, what="the stop")


# ------------------------------------------------------------------ 8. the queue: a table updated in place

@pytest.mark.asyncio
async def test_an_engine_event_neither_rebuilds_the_queue_nor_moves_its_scroll(home, fakes):
    ids = fake_engine.synthetic_ids(80)
    factory = fakes(hold_at=[f"issue:{ids[2]}", f"issue:{ids[3]}"], instance_ids=ids)
    app = fake_app(factory)
    async with drive(app, size=(100, 30)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, ids[2])
        queue = screen.query_one("#queue")
        queue.scroll_to(y=40, animate=False, immediate=True)
        await pilot.pause()
        assert queue.scroll_y == 40
        cleared = []
        queue.clear = lambda *a, **k: cleared.append(a)  # a rebuild would call it
        factory.release(f"issue:{ids[2]}")
        await mid_issue(pilot, factory, screen, ids[3])
        assert queue.scroll_y == 40 and cleared == []
        assert queue_cells(screen, ids[2])["state"] == "✓ PASS" and queue_cells(screen, ids[3])["state"] == "▶ run"
        await pilot.press("1", "j")  # back to the issue in flight
        await pilot.pause()
        assert queue.cursor_row == 3 and queue.scroll_y < 40


@pytest.mark.asyncio
async def test_the_queue_filters_by_id_shows_failures_only_and_sorts(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[6]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[6])
        await pilot.press("1", "slash")
        screen.query_one("#queue-filter", Input).value = "105"
        await pilot.press("enter")
        await until(pilot, lambda: len(queue_rows(screen)) == 1, what="the filter")
        assert queue_rows(screen) == [("✓ PASS", IDS[4])]
        assert "/105" in plain(screen.query_one("#queue").border_title)
        await pilot.press("slash", "escape")  # Esc clears it
        await until(pilot, lambda: len(queue_rows(screen)) == 8, what="the filter cleared")
        await pilot.press("x")
        assert queue_rows(screen) == [("✗ FAIL", IDS[1]), ("! ERR", IDS[3]), ("✗ FAIL", IDS[5])]
        await pilot.press("x", "s")  # all again, sorted by state: in flight, errors, failures, passes, waiting
        assert [state for state, _ in queue_rows(screen)] == ["▶ run", "! ERR", "✗ FAIL", "✗ FAIL", "✓ PASS",
                                                              "✓ PASS", "✓ PASS", "· wait"]
        await pilot.press("s", "s", "s")  # cost, time, and back to the run's order
        assert [iid for _, iid in queue_rows(screen)] == list(IDS)


@pytest.mark.asyncio
async def test_a_new_failure_appears_under_failures_only(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}", f"issue:{IDS[2]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        await pilot.press("x")
        assert queue_rows(screen) == []
        factory.release(f"issue:{IDS[1]}")
        await mid_issue(pilot, factory, screen, IDS[2])
        assert queue_rows(screen) == [("✗ FAIL", IDS[1])]


# ------------------------------------------------------------------ 9. the footer knows the state; help; quit

@pytest.mark.asyncio
async def test_the_footer_shows_pause_and_resume_only_when_they_do_something(home, fakes):
    factory = fakes(hold_at=["build", f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached("build"))
        assert not {"p", "r"} & footer_keys(app)  # starting: neither
        factory.release("build")
        await mid_issue(pilot, factory, screen, IDS[1])
        assert "p" in footer_keys(app) and "r" not in footer_keys(app)
        await pilot.press("p")
        assert "p" in footer_keys(app) and "r" not in footer_keys(app)  # pausing: p (or r) cancels the pause
        assert any(key.description == "Cancel the pause" for key in app.screen.query("FooterKey"))
        factory.release()
        await until(pilot, lambda: screen.model.state == "paused" and not screen.busy)
        await pilot.pause()
        assert "r" in footer_keys(app) and "p" not in footer_keys(app)


@pytest.mark.asyncio
async def test_switching_panes_keeps_the_footer_and_p_still_pauses_from_the_memory_table(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        keys = list(app.screen.query("FooterKey"))
        assert "p" in footer_keys(app)
        for key in "21342":
            await pilot.press(key)
            await pilot.pause()
        # the same widgets: a focus or tab change does not rebuild the footer (it cost ~100 ms a key at 2,294 rows)
        assert list(app.screen.query("FooterKey")) == keys
        await pilot.press("4")
        await pilot.pause()
        assert screen.focused is not None and screen.focused.id == "memory-list"
        assert "p" in footer_keys(app)
        await pilot.press("p")  # the memory's keys (d, k, i) do not shadow the run screen's
        assert screen.model.state == "pausing"
        factory.release()


@pytest.mark.asyncio
async def test_the_queue_is_drawn_in_its_focused_colours_and_back_without_drawing_its_cells_again(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    frozen(app)  # no clock ticking in the row in flight
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        queue = screen.query_one("#queue", DataTable)

        def cursor_style() -> Style:
            strip = queue.render_line(queue.header_height + queue.cursor_row - int(queue.scroll_y))
            return next(seg.style for seg in strip if seg.text.strip())

        drawn: list[tuple] = []
        render_cell = queue._render_cell
        queue._render_cell = lambda *args, **kwargs: drawn.append(args) or render_cell(*args, **kwargs)
        styles = []
        for n, key in enumerate("1212"):
            await pilot.press(key)
            await pilot.pause()
            styles.append(cursor_style())
            if n == 1:
                drawn.clear()  # both states drawn once: from here on, nothing new
        focused, blurred = styles[0], styles[1]
        assert focused != blurred  # the cursor's colours follow the focus ...
        assert styles[2:] == [focused, blurred]
        assert drawn == []  # ... and switching back draws no cell again (each state's cells are kept)
        factory.release()


@pytest.mark.asyncio
async def test_a_read_only_run_shows_neither_pause_nor_resume(home, fakes):
    fake_engine.write_run(runs_root() / "beta", name="beta", processed=8, status="completed",
                          updated_at="2025-01-01T10:10:10")
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await pilot.pause()
        app.open_run(next(r for r in list_runs() if r.name == "beta"))
        await until(pilot, lambda: getattr(app.screen, "read_only", False))
        await pilot.pause()
        assert not {"p", "r", "n"} & footer_keys(app)
        assert {"q", "question_mark"} <= footer_keys(app)


@pytest.mark.asyncio
async def test_question_mark_opens_a_help_with_every_key_of_the_run_screen(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app, size=(120, 60)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        names = {"question_mark": "?", "slash": "/", "left_square_bracket": "[", "right_square_bracket": "]"}
        bound = {names.get(b.key, b.key) for widget in (screen, screen.query_one("#queue"),
                                                        screen.query_one("#memory-pane"))
                 for b in type(widget).BINDINGS if isinstance(b, Binding)}
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", what="the help")
        helped = {key.strip() for cell in app.screen.query(".help-key") for key in plain(cell).split(",")}
        assert bound <= helped, bound - helped
        text = plain(app.screen.query_one("#help-run"))
        assert "Folder /fake/runs/fake-run" in text and "Run fake-run" in text  # which run this is
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("f1")
        assert type(app.screen).__name__ == "HelpScreen"


@pytest.mark.asyncio
async def test_z_zooms_the_focused_pane_and_z_or_escape_restores(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app, size=(120, 40)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        panes = {"queue": "#queue", "log": "#log", "tabs": "#tabs"}
        body = screen.query_one("#main").region

        def shown() -> set[str]:
            return {name for name, sel in panes.items() if screen.query_one(sel).region.area > 0}

        assert shown() == set(panes)
        palette = lambda: {c.title for c in app.get_system_commands(screen)}  # noqa: E731
        for key, pane, undo in (("1", "queue", "z"), ("2", "log", "escape"), ("4", "tabs", "z"),
                                ("3", "tabs", "escape")):
            await pilot.press(key)
            await pilot.pause()
            assert "Zoom the pane" in palette()
            await pilot.press("z")
            await pilot.pause()
            assert shown() == {pane}, (key, shown())
            region = screen.query_one(panes[pane]).region
            assert region.width == body.width, (key, region, body)  # the whole body's width
            assert "Restore the panes" in palette() and "Zoom the pane" not in palette()
            await pilot.press(undo)
            await pilot.pause()
            assert shown() == set(panes), (key, undo)
            assert app.screen is screen  # Esc undid the zoom, it did not leave the screen
        # the log zoomed also takes the tabs' height
        await pilot.press("2", "z")
        await pilot.pause()
        assert screen.query_one("#log-box").region.height == body.height
        await pilot.press("z")
        factory.release()


@pytest.mark.asyncio
async def test_question_mark_elsewhere_toggles_the_keys_panel(home, fakes):
    app = AwmApp(factory=fakes())  # the run picker
    async with drive(app) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await until(pilot, lambda: bool(app.screen.query("HelpPanel")), what="the keys panel")
        await pilot.press("question_mark")
        await until(pilot, lambda: not app.screen.query("HelpPanel"), what="the keys panel gone")


@pytest.mark.asyncio
async def test_the_keys_panel_advertises_only_the_safe_quit(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app, size=(160, 45)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        app.action_show_help_panel()
        await until(pilot, lambda: bool(screen.query("BindingsTable")), what="the keys panel")
        await pilot.pause()
        table = screen.query_one("BindingsTable")
        console = Console(width=80, file=io.StringIO(), record=True)
        console.print(table.render_bindings_table())
        text = console.export_text()
        assert "Quit safely" in text
        assert "return to the command prompt" not in text and "as soon as possible" not in text


# ------------------------------------------------------------------ 10. the start-up shows progress

@pytest.mark.asyncio
async def test_the_start_says_how_long_and_what_it_is_doing(home, fakes):
    factory = fakes(hold_at=["build"], startup_steps=["reading the run spec", "loading the dataset"])
    app = fake_app(factory)
    now = frozen(app)
    async with drive(app, size=(80, 24)) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached("build"))
        await until(pilot, lambda: not screen.barriers, what="the steps shown")
        now[0] += 7
        app.tick()
        await pilot.pause()
        text = "\n".join(rendered(app))
        assert "starting… 0m07s" in text and "loading the dataset…" in text
        lines = screen.query_one("#log", Log).lines
        assert "· reading the run spec… (0m00s)" in lines and "· loading the dataset… (0m00s)" in lines
        factory.release("build")
        await until(pilot, lambda: screen.model.state == "completed")
        assert any("started in 0m07s" in line for line in screen.query_one("#log", Log).lines)


# ------------------------------------------------------------------ 11. errors stay; themes; screenshot; log; exit

@pytest.mark.asyncio
async def test_an_error_stays_visible_after_escape_and_e_opens_it_again(home, fakes):
    message = "spec.yaml, field `llm`: the model is unreachable."
    factory = fakes(error=UserError(message))
    app = fake_app(factory)
    async with drive(app, size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await pilot.press("escape")
        screen = run_screen(app)
        assert app.screen is screen
        assert "e: error" in rendered(app)[0]
        assert f"! {message}" in screen.query_one("#log", Log).lines
        assert "e" in footer_keys(app)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert plain(app.screen.query_one("#error-text")) == message


@pytest.mark.asyncio
async def test_the_screen_uses_the_themes_colours(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[4]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[4])
        queue = screen.query_one("#queue", DataTable)

        def state_colour():
            return queue.get_row(IDS[0])[0].style.color

        def success():  # the theme's $success, as the table's CSS gives it
            return queue.get_component_rich_style("issue-queue--pass", partial=True).color

        dark = state_colour()
        assert dark == success()
        app.theme = "solarized-light"
        await pilot.pause()
        await pilot.pause()
        assert state_colour() == success() != dark


@pytest.mark.asyncio
async def test_the_screenshot_goes_into_the_run_folder(home, fakes, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    factory = fakes(hold_at=[f"issue:{IDS[0]}"], run_dir=str(run_dir))
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Screenshot")
        command.callback()
        await until(pilot, lambda: list((run_dir / "screenshots").glob("*.svg")), timeout=3, what="the file")
        assert any(n.title == "Screenshot saved" for n in app._notifications)


@pytest.mark.asyncio
async def test_without_a_run_folder_the_screenshot_goes_into_the_data_dir(home, fakes):
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await pilot.pause()
        app.action_screenshot()
        assert list((home / "screenshots").glob("*.svg"))


@pytest.mark.asyncio
async def test_the_log_colours_each_kind(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[3]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[3])
        log = screen.query_one("#log", Log)

        def colour(prefix: str):
            y = next(i for i, line in enumerate(log.lines) if line.startswith(prefix))
            return next(s.style.color for s in log._render_line_strip(y, Style()) if s.text.strip()).triplet

        action, observation, message, header = colour("▶ "), colour("  F."), colour("» "), colour("── ")
        assert len({action, observation, message, header}) == 4


def test_paths_under_the_checkout_are_shown_relative_to_it():
    iid = IDS[0]
    text = f"view /tmp/awm-6f6e554621/{iid}/tallyho/tallyho/roman.py\ncd /tmp/awm-6f6e554621/{iid}/tallyho && ls"
    assert render(AgentEvent(iid, "action", "file_editor", text)) == [
        "▶ file_editor: view tallyho/roman.py", "    cd . && ls"]
    assert render(AgentEvent(iid, "observation", "terminal", "/testbed/django/db/models.py:12: error")) == [
        "  django/db/models.py:12: error"]


@pytest.mark.asyncio
async def test_the_run_id_and_folder_are_shown(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app, size=(120, 40)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        assert "fake-run" in rendered(app)[0]
        assert "· folder /fake/runs/fake-run" in screen.query_one("#log", Log).lines
        factory.release()
        await until(pilot, lambda: screen.model.state == "completed")
        await pilot.pause()
        assert any("folder /fake/runs/fake-run" in line for line in rendered(app)[:3])


@pytest.mark.asyncio
async def test_the_start_warns_of_an_unconfined_agent_in_the_log(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[0]}"], notices=["agent.sandbox is none: the agent runs unconfined"])
    app = fake_app(factory)
    async with drive(app, size=(120, 40)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        lines = screen.query_one("#log", Log).lines
        warned = [i for i, line in enumerate(lines) if "warning: agent.sandbox is none" in line]
        assert len(warned) == 1 and lines[warned[0]] == "warning: agent.sandbox is none: the agent runs unconfined"
        assert warned[0] == next(i for i, line in enumerate(lines) if line.startswith("· folder")) + 1
        factory.release()
        await until(pilot, lambda: screen.model.state == "completed")


@pytest.mark.asyncio
async def test_the_exit_line_gives_the_state_the_figures_and_how_to_resume(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[1])
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    # $0.0123 for IDS[0], and the $0.0098 IDS[1]'s agent had spent when the stop interrupted it (counted, as the
    # real engine counts it: money is never dropped)
    assert app.exit_summary() == [
        "awm-tui: run fake-run paused: 1/8, success 100.0% (1/1), $0.0221; folder /fake/runs/fake-run; "
        "resume with `awm-tui --resume /fake/runs/fake-run`"]


def test_the_command_prints_the_exit_line(monkeypatch, capsys):
    monkeypatch.setattr(AwmApp, "run", lambda self: None)
    monkeypatch.setattr(AwmApp, "install_signal_handlers", lambda self, pending=(): None)
    monkeypatch.setattr(AwmApp, "exit_summary", lambda self: ["awm-tui: run r paused: 1/8; folder /r"])
    assert cli.run_app(cli.parser().parse_args([])) == 0
    assert capsys.readouterr().out == "awm-tui: run r paused: 1/8; folder /r\n"


# ------------------------------------------------------------------ what a researcher expects to see

@pytest.mark.asyncio
async def test_progress_gives_the_eta_the_average_and_projected_cost_and_the_budget(home, fakes, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"spec": {"budget": {"max_cost_usd": 0.5}}}))
    factory = fakes(hold_at=[f"issue:{IDS[4]}"], run_dir=str(run_dir))
    app = fake_app(factory)
    frozen(app)
    async with drive(app, size=(160, 45)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[4])
        line = rendered(app)[1]
        assert "50%" in line and "4/8" in line and "ETA 0m50s" in line
        assert "$0.0123/issue → $0.0984" in line and "budget $0.50 (12% used)" in line  # $0.0590 so far


@pytest.mark.asyncio
async def test_notifications_for_induction_an_error_streak_and_the_end(home, fakes):
    outcomes = {iid: (Status.ERROR, "agent: the model is unreachable") for iid in IDS[4:7]}
    factory = fakes(outcomes=outcomes)
    app = fake_app(factory)
    said = recorded(app)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.state == "completed")
        await pilot.pause()
        assert any(n.startswith("Round 1: +2: Fix an off-by-one boundary, Reproduce then patch;") for n in said)
        assert sum("3 ERRORs in a row" in n for n in said) == 1
        assert any(n.startswith("8/8 issues, success") for n in said)


@pytest.mark.asyncio
async def test_slash_in_the_log_searches_and_enter_goes_to_the_next_match(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[3]}"])
    app = fake_app(factory)
    async with drive(app, size=(80, 24)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[3])
        log = screen.query_one("#log", Log)
        await pilot.press("2", "slash")
        box = screen.query_one("#log-search", Input)
        assert box.has_focus
        box.value = "assertionerror"
        await pilot.press("enter")  # from the top of the view on, wrapping
        first = log.match_line
        assert first is not None and "AssertionError" in log.lines[first] and not log.follow
        title = plain(log.border_title)
        number = int(title.split("/assertionerror ")[1].split("/")[0])
        assert f"/assertionerror {number}/4" in title  # one in each issue's test output
        await pilot.press("enter")
        assert log.match_line != first and f"/assertionerror {number % 4 + 1}/4" in plain(log.border_title)
        await pilot.press("escape")
        assert not screen.query_one("#log-search", Input).display and "/assertion" not in plain(log.border_title)


@pytest.mark.asyncio
async def test_l_replays_an_issues_log_file_and_l_again_goes_back_to_the_live_log(home, fakes, tmp_path):
    run_dir = tmp_path / "run"
    checkout = f"/tmp/awm-1234/{IDS[0]}/tallyho"
    write_instance_log(run_dir, IDS[0], checkout)
    factory = fakes(hold_at=[f"issue:{IDS[2]}"], run_dir=str(run_dir))
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[2])
        log = screen.query_one("#log", Log)
        live = list(log.lines)
        await pilot.press("1", "home", "l")
        assert log.lines[0] == f"── log of {IDS[0]} (logs/instance_{IDS[0]}.log) ──"
        assert "▶ file_editor: view tallyho/roman.py" in log.lines
        assert "  Here's the result of running `cat -n` on tallyho/roman.py:" in log.lines
        assert "! the command timed out" in log.lines and "· agent status: finished" in log.lines
        assert f"log of {IDS[0]}" in plain(log.border_title)
        await pilot.press("l")
        assert list(log.lines) == live


@pytest.mark.asyncio
async def test_a_read_only_run_shows_the_highlighted_issues_log(home, fakes):
    store = fake_engine.write_run(runs_root() / "beta", name="beta", processed=8, status="completed",
                                  updated_at="2025-01-01T10:10:10")
    write_instance_log(Path(store.dir), IDS[1], f"/tmp/awm-1/{IDS[1]}/tallyho")
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await pilot.pause()
        app.open_run(next(r for r in list_runs() if r.name == "beta"))
        await until(pilot, lambda: getattr(app.screen, "read_only", False))
        screen = app.screen
        await pilot.press("1", "down")
        await until(pilot, lambda: screen.query_one("#log", Log).lines[:1] == [
            f"── log of {IDS[1]} (logs/instance_{IDS[1]}.log) ──"], what="the replay")


# ------------------------------------------------------------------ issue 20: what a round did, honestly

@pytest.mark.asyncio
async def test_a_round_that_only_updates_workflows_says_so_in_the_history_toast_and_log(home, fakes):
    a, b, c = fake_engine.WORKFLOWS  # round 2 re-learns a and b (their second versions); round 3 adds c, evicts a
    factory = fakes(inductions={2: (1, (a, b)), 3: (2, (a, b)), 4: (3, (c,), (a,))})
    app = fake_app(factory)
    said = recorded(app)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: screen.model.state == "completed")
        await pilot.pause()
        summary = plain(screen.query_one("#summary"))
        assert "round 2 after 5 issues — 2 updated: Fix an off-by-one boundary v2, Reproduce then patch v2" in summary
        assert "round 3 after 7 issues — +1: Parse a config value; −1 evicted: Fix an off-by-one boundary" in summary
        assert "round 2 after 5 issues — +2" not in summary
        assert any(n.startswith("Round 2: 2 updated: Fix an off-by-one boundary v2, Reproduce then patch v2; "
                                "2 workflows in memory") for n in said), said
        assert any(n.startswith("Round 3: +1: Parse a config value; −1 evicted: Fix an off-by-one boundary; "
                                "2 workflows in memory") for n in said), said
        lines = screen.query_one("#log", Log).lines
        assert "── induction round 2: 2 updated: Fix an off-by-one boundary v2, Reproduce then patch v2 ──" in lines


@pytest.mark.asyncio
async def test_the_status_bar_counts_a_disabled_workflow_apart_from_the_usable_ones(home, fakes, tmp_path):
    from awm.memory import ops

    run_dir = fake_engine.write_run(tmp_path / "run", name="fake-run", processed=8, status="running",
                                    updated_at="2025-01-02T03:04:05").dir
    factory = fakes(hold_at=[f"issue:{IDS[4]}"], run_dir=str(run_dir))
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[4])
        assert "2 workflows" in rendered(app)[0]  # round 1's two, both usable
        ops.append(run_dir, "disable", "wf-fix-an-off-by-one-boundary")
        await pilot.press("4")  # the memory browser reads the ops log
        await pilot.pause()
        top = rendered(app)[0]
        assert "1 workflow usable (1 disabled)" in top, top
        assert "2 workflows" not in top


@pytest.mark.asyncio
async def test_a_600_character_line_is_shown_whole_and_scrolls_sideways(home, fakes):
    from collections import deque

    factory = fakes(hold_at=[f"issue:{IDS[0]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[0])
        log = screen.query_one("#log", Log)
        command = "python -c '" + "x = 1; " * 84 + "print(x)' # END-OF-LINE"  # 600 characters and more
        assert len(command) > 600
        log.drain(deque([(0, AgentEvent(IDS[0], "action", "terminal", command))]))
        await pilot.pause()
        assert f"▶ terminal: {command}" in log.lines  # not cut at 220 characters
        assert log.virtual_size.width >= len(command)
        log.scroll_to(x=log.max_scroll_x, animate=False, immediate=True)
        await pilot.pause()
        assert any(line.rstrip(" │").endswith("# END-OF-LINE") for line in rendered(app)), "the line's end in view"


def contrast(a, b) -> float:
    """WCAG's contrast ratio of two colours (rich triplets)."""
    def luminance(c) -> float:
        channels = [x / 255 for x in (c.red, c.green, c.blue)]
        r, g, b_ = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.asyncio
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "solarized-light"])
async def test_every_kind_of_log_line_and_queue_state_reads_on_dark_and_light_themes(home, fakes, theme):
    factory = fakes(hold_at=[f"issue:{IDS[4]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, IDS[4])
        app.theme = theme
        await pilot.pause()
        await pilot.pause()
        log = screen.query_one("#log", Log)
        background = log.background_colors[1].rich_color.triplet
        for prefix, kind in (("▶ ", "action"), ("  F.", "observation"), ("» ", "message"), ("── ", "header"),
                             ("Starting", "system")):
            y = next(i for i, line in enumerate(log.lines) if line.startswith(prefix))
            colour = next(s.style.color for s in log._render_line_strip(y, Style()) if s.text.strip()).triplet
            assert colour != (255, 255, 255) or theme == "textual-dark", (kind, "pure white")
            assert contrast(colour, background) >= 3.0, (theme, kind, colour, background)
        queue = screen.query_one("#queue", DataTable)
        queue_background = queue.background_colors[1].rich_color.triplet
        for iid in (IDS[0], IDS[1], IDS[3], IDS[4], IDS[6]):  # pass, fail, error, running, waiting
            colour = queue.get_row(iid)[0].style.color.triplet
            assert contrast(colour, queue_background) >= 3.0, (theme, iid, colour, queue_background)


def test_ids_too_long_for_the_queue_are_cut_from_the_left_and_stay_distinct():
    from awm_tui.widgets.queue import labelled, layout

    ids = [f"scikit-learn__scikit-learn-{n}" for n in (13142, 13241, 13143, 9999)] + ["django__django-13142"]
    assert layout(ids, 200) == ("full", len(ids[0]))
    mode, width = layout(ids, 28)  # no room for the repository's name: the ends, which tell the issues apart
    assert mode == "tail"
    labels = labelled(ids, mode, width)
    assert len(set(labels.values())) == len(ids)
    assert all(len(label) <= width for label in labels.values())
    assert labels["scikit-learn__scikit-learn-13142"].startswith("…")
    assert labels["scikit-learn__scikit-learn-13142"].endswith("-13142")
    # two repositories' issues with the same number stay apart however narrow the queue
    mode, width = layout(["a__x-1", "b__x-1"], 12)
    assert len(set(labelled(["a__x-1", "b__x-1"], mode, width).values())) == 2
