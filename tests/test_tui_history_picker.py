"""The history pane at any run size, the run picker as a table, and two runs compared from the picker (issue 12:
defects 4 and 7, "success over time that scales", the picker and the comparison screen).

The history is tested on the widget alone, fed a RunModel built here (10 and 2,294 issues, at 80 and 160 columns);
the picker and the comparison on run folders written directly (tests/fake_engine.py's and tests/compare_fixtures.py's
writers), in milliseconds; the first comparison pays for loading statsmodels (a second or two)."""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Static

import compare_fixtures
import fake_engine
from awm.paths import runs_root
from awm_tui.app import AwmApp
from awm_tui.model import Induction, IssueRow, RunModel
from awm_tui.screens.compare import CompareScreen
from awm_tui.screens.picker import RunPicker
from awm_tui.widgets import history
from awm_tui.widgets.history import GUTTER, HistoryPane
from support.pilot import home, until  # noqa: F401 - home: a fixture

IDS = fake_engine.IDS


def plain(widget_or_markup) -> str:
    value = widget_or_markup.content if isinstance(widget_or_markup, Static) else widget_or_markup
    return value.plain if isinstance(value, Content) else Content.from_markup(str(value)).plain


# ------------------------------------------------------------------ the history pane

def synthetic_model(n: int, seed: int = 12, run_dir: str = "") -> RunModel:
    """n finished issues whose pass rate climbs from about 35% to 55% (a few errors and skipped), and an induction
    round every twelfth of the run."""
    rnd = random.Random(seed)
    model = RunModel(name="synthetic", run_dir=run_dir, state="running")
    for i in range(n):
        chance, draw = 0.35 + 0.2 * i / n, rnd.random()
        state = "PASS" if draw < chance else "ERROR" if draw > 0.97 else "SKIPPED" if draw > 0.95 else "FAIL"
        model.history.append(IssueRow(f"proj__proj-{i}", state))
    for number, after in enumerate(range(3, n, max(3, n // 12)), 1):
        model.inductions.append(Induction(number, after, (f"workflow {number}",)))
    return model


class HistoryApp(App[None]):
    def compose(self) -> ComposeResult:
        yield HistoryPane(id="history-pane")


def strip_lines(pane: HistoryPane) -> list[str]:
    return plain(pane.query_one("#strip", Static)).split("\n")


def columns_for(n: int, room: int) -> int:
    """How many columns n issues take with `room` columns: bins of ceil(n / room), or each issue stretched."""
    return math.ceil(n / math.ceil(n / room)) if n > room else n * (room // n)


@pytest.mark.parametrize("n", [10, 2294])
@pytest.mark.parametrize("width", [80, 160])
@pytest.mark.asyncio
async def test_the_history_fits_its_width_at_any_run_size(n, width):
    """Defect 4: one character per issue wrapped past ~110 issues. Now each row is binned (or stretched) to the
    pane's width: no line longer than the pane, the strip exactly as tall as its lines, at 10 and 2,294 issues, and
    again after the terminal is resized."""
    app = HistoryApp()
    async with app.run_test(size=(width, 40)) as pilot:
        pane = app.query_one(HistoryPane)
        model = synthetic_model(n)
        pane.show(model)
        for size in (width, 80 if width == 160 else 120):
            await pilot.resize_terminal(size, 40)
            await pilot.pause()
            room = pane.scrollable_content_region.width
            lines = strip_lines(pane)
            assert max(len(line) for line in lines) <= room
            assert pane.query_one("#strip", Static).size.height == len(lines)  # nothing wrapped
            verdicts = lines[0]
            assert verdicts.startswith("verdict ") and len(verdicts) - GUTTER == columns_for(n, room - GUTTER - 1)
            per = math.ceil(n / (room - GUTTER - 1))
            scale = f"{per} per column" if n > room - GUTTER - 1 else "columns per issue"
            assert f"x: issues 1–{n:,}, " in "\n".join(lines) and scale in "\n".join(lines)


@pytest.mark.asyncio
async def test_the_success_curves_are_scaled_to_what_they_span():
    """Defect 4: the success line was on a fixed 0-100% scale, nearly flat. The y axis is labelled with the curves'
    own min and max (to whole points), so a rate moving between 30% and 60% fills the chart."""
    app = HistoryApp()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(HistoryPane)
        model = synthetic_model(2294)
        pane.show(model)
        await pilot.pause()
        lines = strip_lines(pane)
        chart = lines[1:1 + history.CHART_ROWS]
        top, bottom = chart[0][:GUTTER], chart[-1][:GUTTER]
        assert top.endswith(" ┤") and bottom.endswith(" ┤")
        hi, lo = float(top.strip(" ┤%")) / 100, float(bottom.strip(" ┤%")) / 100
        assert 0 < lo < hi < 1 and hi - lo < 0.6  # not 0-100%
        passed = sum(r.state == "PASS" for r in model.history)
        graded = sum(r.state in ("PASS", "FAIL", "ERROR") for r in model.history)
        assert lo <= passed / graded <= hi
        assert f"cumulative {100 * passed / graded:.1f}%" in "\n".join(lines)
        window = history.default_window(2294)
        recent = [r for r in model.history[-window:] if r.state != "SKIPPED"]
        assert f"rolling, last {window}: {100 * sum(r.state == 'PASS' for r in recent) / len(recent):.1f}%" in \
            "\n".join(lines)
        # every chart row holds curve dots (braille) and nothing else after the gutter
        assert all(set(row[GUTTER:]) <= {" "} | {chr(c) for c in range(0x2800, 0x2900)} for row in chart)
        assert any(row[GUTTER:].strip() for row in chart)


@pytest.mark.asyncio
async def test_induction_rounds_are_marked_on_the_x_axis():
    app = HistoryApp()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(HistoryPane)
        model = synthetic_model(2294)
        pane.show(model)
        await pilot.pause()
        lines = strip_lines(pane)
        axis = next(line for line in lines if "└" in line)
        labels = lines[lines.index(axis) + 1]
        per = math.ceil(2294 / (pane.scrollable_content_region.width - GUTTER - 1))
        for induction in model.inductions:
            column = GUTTER + induction.after // per
            assert axis[column] == "┴", induction
        assert axis.count("┴") == len(model.inductions)
        assert labels[GUTTER + 3 // per:].startswith("r1")  # the first round, after issue 3
        summary = plain(pane.query_one("#summary", Static))
        assert summary.splitlines()[0] == "round 1 after 3 issues — +1: workflow 1"


@pytest.mark.asyncio
async def test_a_short_run_is_stretched_and_marks_where_the_round_took_effect():
    model = RunModel(name="short")
    model.history = [IssueRow(f"i-{k}", s) for k, s in enumerate(["PASS", "FAIL", "PASS", "ERROR"])]
    model.inductions = [Induction(1, 3, ("Fix an off-by-one boundary", "Reproduce then patch"))]
    app = HistoryApp()
    async with app.run_test(size=(80, 30)) as pilot:
        pane = app.query_one(HistoryPane)
        pane.show(model)
        await pilot.pause()
        lines = strip_lines(pane)
        span = (pane.scrollable_content_region.width - GUTTER - 1) // 4
        assert lines[0] == "verdict " + "█" * span + " " * span + "█" * span + "×" * span  # PASS FAIL PASS ERROR
        axis = next(line for line in lines if "└" in line)
        assert axis[GUTTER + 3 * span] == "┴" and axis.count("┴") == 1
        assert f"{span} columns per issue" in "\n".join(lines)
        assert plain(pane.query_one("#summary", Static)) == (
            "round 1 after 3 issues — +2: Fix an off-by-one boundary, Reproduce then patch")


@pytest.mark.asyncio
async def test_no_baseline_no_confounded_rates_but_how_to_link_one():
    """The "with vs without workflows" rates compared early issues with later ones: gone. Without a baseline run
    the pane says how to get an honest comparison."""
    app = HistoryApp()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(HistoryPane)
        model = synthetic_model(50)
        for row in model.history[20:]:
            row.workflow_ids = ("wf-x",)
        pane.show(model)
        await pilot.pause()
        text = "\n".join(plain(w) for w in pane.query(Static))
        assert "without workflows" not in text and "with workflows" not in text
        assert plain(pane.query_one("#compare", Static)) == (
            "no baseline: link a memory: off run as memory.baseline_run in the spec to compare on the same issues")
        assert "baseline, same issues" not in text


def write_linked_run(tmp_path: Path, baseline: dict[str, str]) -> Path:
    """A run folder whose spec names `baseline` (written as a run folder) as memory.baseline_run."""
    base = compare_fixtures.write_run(tmp_path / "baseline", baseline)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"run_id": "run", "spec": {
        "name": "run", "memory": {"baseline_run": str(base)}}}))
    return run


@pytest.mark.asyncio
async def test_the_baseline_run_is_drawn_and_paired_on_the_same_issues(tmp_path, monkeypatch):
    ours = {"a-1": "PASS", "a-2": "PASS", "a-3": "FAIL", "a-4": "PASS", "a-5": "SKIPPED", "a-6": "PASS",
            "a-7": "FAIL", "a-8": "PASS"}
    theirs = {"a-8": "FAIL", "a-1": "PASS", "a-2": "FAIL", "a-3": "PASS", "a-4": "FAIL", "a-5": "PASS",
              "a-6": "PASS"}  # another order, a-7 not finished there
    run = write_linked_run(tmp_path, theirs)
    reads = []
    real = history.read_baseline
    monkeypatch.setattr(history, "read_baseline", lambda run_dir: reads.append(run_dir) or real(run_dir))
    model = RunModel(name="run", run_dir=str(run))
    app = HistoryApp()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(HistoryPane)
        for instance, status in ours.items():  # the pane follows the run issue by issue
            model.history.append(IssueRow(instance, status))
            pane.show(model)
        await until(pilot, lambda: pane.baseline.statuses is not None, what="the baseline read")
        # McNemar's p comes from the statistics `compare` uses, computed in a thread
        await until(pilot, lambda: (3, 1) in pane.p_values, what="McNemar's p", timeout=30)
        await pilot.pause()
        # graded in both: a-1 (P/P), a-2 (P/F: won), a-3 (F/P: lost), a-4 (P/F: won), a-6 (P/P), a-8 (P/F: won)
        assert plain(pane.query_one("#compare", Static)) == (
            f"vs baseline {tmp_path / 'baseline'} on the 6 issues both graded: 83.3% vs 50.0%, +33.3 pp "
            "(won 3, lost 1, tie 2; McNemar p = 0.625)")
        # the baseline's cumulative rate on the issues this run finished so far: 4 of the 7 it graded
        assert "baseline, same issues: 57.1%" in "\n".join(strip_lines(pane))
        model.history.append(IssueRow("a-9", "PASS"))
        pane.show(model)
        pane.show(model)
        await pilot.pause()
        assert reads == [str(run)]  # read once, whatever the number of issues after


@pytest.mark.asyncio
async def test_a_baseline_that_names_no_run_is_said(tmp_path, home):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"spec": {"memory": {"baseline_run": "no-such-run"}}}))
    app = HistoryApp()
    async with app.run_test(size=(200, 30)) as pilot:
        pane = app.query_one(HistoryPane)
        pane.show(synthetic_model(20, run_dir=str(run)))
        await until(pilot, lambda: pane.baseline.problem, what="the baseline looked for")
        await pilot.pause()
        assert plain(pane.query_one("#compare", Static)) == (
            "baseline no-such-run: no such run (no folder with a config.json, nor a run of that name)")
        assert "baseline, same issues" not in "\n".join(strip_lines(pane))


@pytest.mark.asyncio
async def test_show_is_cheap_at_2294_issues(tmp_path):
    """show() runs after every engine event: at 2,294 issues, with a baseline run linked, a call stays within a few
    milliseconds (prefix sums extended by one issue, one render per change; an unchanged history is not rendered
    again)."""
    model = synthetic_model(2294)
    rnd = random.Random(7)
    run = write_linked_run(tmp_path, {r.instance_id: "PASS" if rnd.random() < 0.4 else "FAIL" for r in model.history})
    model.run_dir = str(run)
    app = HistoryApp()
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(HistoryPane)
        del model.history[-40:]
        pane.show(model)
        await until(pilot, lambda: pane.baseline.statuses is not None, what="the baseline read")
        await pilot.pause()
        spent, unchanged = [], []  # CPU time of this thread: other processes on a busy machine do not count
        for k in range(40):
            model.history.append(IssueRow(f"proj__proj-{2254 + k}", "PASS" if k % 2 else "FAIL"))
            started = time.thread_time()
            pane.show(model)
            spent.append(time.thread_time() - started)
            started = time.thread_time()
            pane.show(model)  # another event, no new verdict
            unchanged.append(time.thread_time() - started)
        median, idle = statistics.median(spent) * 1000, statistics.median(unchanged) * 1000
        print(f"\nshow() at 2,294 issues: median {median:.2f} ms, unchanged {idle:.3f} ms (CPU)")
        assert median < 5
        assert idle < 0.5
        assert "baseline, same issues" in "\n".join(strip_lines(pane))
        assert plain(pane.query_one("#compare", Static)).startswith("vs baseline ")


# ------------------------------------------------------------------ the run picker

ABORT = "aborted: 3 issues in a row ended in ERROR with the same cause (the model is unreachable)"


@pytest.fixture
def runs(home) -> dict[str, Path]:
    """Three runs: paused at 3/8 (the newest), completed, and aborted at 5/8 with its reason."""
    root = runs_root()
    made = {
        "alpha": fake_engine.write_run(root / "alpha-20250102-030405", name="alpha", processed=3, status="paused",
                                       updated_at="2025-01-02T03:04:05", message="paused by request"),
        "beta": fake_engine.write_run(root / "beta-20250101-101010", name="beta", processed=8, status="completed",
                                      updated_at="2025-01-01T10:10:10"),
        "delta": fake_engine.write_run(root / "delta-20241231-235959", name="delta", processed=5, status="aborted",
                                       updated_at="2024-12-31T23:59:59", message=ABORT),
    }
    return {name: store.dir for name, store in made.items()}


def rows(table: DataTable) -> list[list[str]]:
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


NAME = 8  # the name's column


def names(table: DataTable) -> list[str]:
    return [row[NAME] for row in rows(table)]


def cursor_name(table: DataTable) -> str:
    return rows(table)[table.cursor_row][NAME]


@pytest.mark.asyncio
async def test_the_picker_is_a_table_of_runs_newest_first(runs):
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["cmp", "status", "n/N", "rate", "cost", "memory",
                                                                  "workers", "date", "name", "id", "started"]
        assert rows(table) == [
            ["", "paused", "3/8", "67%", "$0.0369", "bm25", "1", "2025-01-02 03:04", "alpha", "alpha-20250102-030405",
             "2025-01-02 03:04"],
            ["", "completed", "8/8", "57%", "$0.0984", "bm25", "1", "2025-01-01 10:10", "beta", "beta-20250101-101010",
             "2025-01-01 10:10"],
            ["", "aborted", "5/8", "60%", "$0.0615", "bm25", "1", "2024-12-31 23:59", "delta", "delta-20241231-235959",
             "2024-12-31 23:59"],
        ]
        assert table.cursor_row == 0 and app.focused is table
        assert "sorted newest first" in str(table.border_title)


THEMES = ("textual-dark", "textual-light", "solarized-light", "catppuccin-latte", "rose-pine-dawn", "nord")


@pytest.mark.asyncio
async def test_the_pickers_states_read_on_dark_and_light_themes(runs):
    """The states' colours (a theme's success, warning, error, accent) drawn legible on the table's background: the
    warning orange of "paused" was about 1.6:1 on textual-light's panel (seen in its light snapshot)."""
    from rich.style import Style as RichStyle

    from test_tui_run import contrast

    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        for theme in THEMES:
            app.theme = theme
            await pilot.pause()
            await pilot.pause()
            background = table.background_colors[1].rich_color.triplet
            states = [table.get_row_at(i)[1] for i in range(table.row_count)]
            assert {s.plain for s in states} == {"paused", "completed", "aborted"}
            for state in states:
                colour = RichStyle.parse(str(state.style)).color
                assert colour is not None and colour.triplet is not None, (theme, state.plain, "uncoloured")
                assert contrast(colour.triplet, background) >= 3.7, (theme, state.plain, background)


@pytest.mark.asyncio
async def test_runs_of_one_spec_are_told_apart_by_id_memory_workers_and_start(home):
    """Three runs of the same spec ("demo"): the baseline without memory, one with memory, one with 4 workers."""
    root = runs_root()
    made = []
    for folder, memory, workers, started in (("demo-20250101-090000", {"enabled": "off"}, 1, "2025-01-01T09:00:00"),
                                             ("demo-20250101-100000", {"enabled": "on", "retrieval": "embedding"}, 1,
                                              "2025-01-01T10:00:00"),
                                             ("demo-20250101-110000", {"enabled": "on", "retrieval": "bm25"}, 4,
                                              "2025-01-01T11:00:00")):
        store = fake_engine.write_run(root / folder, name="demo", processed=2, status="paused",
                                      updated_at="2025-01-02T00:00:00")
        config_path = store.dir / "config.json"
        config = json.loads(config_path.read_text())
        config["spec"]["memory"].update(memory)
        config["spec"]["workers"] = workers
        config["created_at"] = started
        config_path.write_text(json.dumps(config))
        made.append(store.dir)
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        shown = sorted([row[NAME], row[NAME + 1], row[5], row[6], row[NAME + 2]] for row in rows(table))
        assert shown == [
            ["demo", "demo-20250101-090000", "off", "1", "2025-01-01 09:00"],
            ["demo", "demo-20250101-100000", "embedding", "1", "2025-01-01 10:00"],
            ["demo", "demo-20250101-110000", "bm25", "4", "2025-01-01 11:00"],
        ]
        assert len({tuple(row) for row in rows(table)}) == 3  # no two rows alike


@pytest.mark.asyncio
async def test_s_cycles_the_sort_column_and_the_cursor_stays_on_its_run(runs):
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        await pilot.press("down")
        assert cursor_name(table) == "beta"
        orders = []
        for _ in range(6):
            await pilot.press("s")
            orders.append((str(table.border_title).split("sorted ")[1], names(table)))
            assert cursor_name(table) == "beta"
        assert orders == [
            ("by name", ["alpha", "beta", "delta"]),
            ("by status", ["alpha", "delta", "beta"]),  # paused, aborted, completed
            ("highest rate first", ["alpha", "delta", "beta"]),
            ("costliest first", ["beta", "delta", "alpha"]),
            ("most done first", ["beta", "delta", "alpha"]),
            ("newest first", ["alpha", "beta", "delta"]),
        ]


@pytest.mark.asyncio
async def test_the_preview_says_why_a_run_stopped_where_it_is_and_its_id(runs):
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        preview = app.screen.query_one("#preview", Static)
        assert plain(preview).splitlines()[:4] == [
            "alpha · paused", "reason     paused by request", "id         alpha-20250102-030405",
            f"folder     {runs['alpha']}"]
        await pilot.press("down", "down")
        text = plain(preview)
        assert text.startswith(f"delta · aborted\nreason     {ABORT}\nid         delta-20241231-235959\n")
        assert "progress   5/8 issues, 3 passed (60.0%)" in text and "cost       $0.0615" in text
        assert text.endswith("Enter resumes it · space marks it for a comparison")
        await pilot.press("up")
        text = plain(preview)
        assert "reason" not in text and text.endswith("Enter opens it read-only · space marks it for a comparison")


def finish_on_disk(run_dir: Path) -> None:
    """What the engine leaves when it finishes a run: checkpoint.json rewritten (completed, 8/8)."""
    path = run_dir / "checkpoint.json"
    checkpoint = json.loads(path.read_text())
    checkpoint.update(status="completed", message="all issues processed", updated_at="2025-01-03T00:00:00")
    checkpoint["stats"].update(processed=8, passed=4, failed=2, errors=1, skipped=1, success_rate=4 / 7)
    path.write_text(json.dumps(checkpoint))


class StandIn(Screen[None]):
    """Where the picker's Enter leads (the run screen, another part's), stood in for: what the picker does is open
    the run under the cursor and read the runs again when it is back on screen."""

    BINDINGS = [("escape", "app.pop_screen", "Back")]

    def __init__(self, summary) -> None:
        super().__init__()
        self.summary = summary


@pytest.fixture
def opened(monkeypatch) -> list:
    """The runs the picker opened (Enter), each on a stand-in screen."""
    summaries = []

    def open_run(self, summary) -> None:
        summaries.append(summary)
        self.push_screen(StandIn(summary))

    monkeypatch.setattr(AwmApp, "open_run", open_run)
    return summaries


@pytest.mark.asyncio
async def test_back_from_a_run_the_picker_shows_what_is_on_disk_now(runs, opened):
    """Defect 7: back from a run the picker showed the state it had before (7/14 "paused" for a run that had
    finished) until F5. It reads the runs again when it comes back, and keeps the cursor on the run it was on."""
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        picker = app.screen
        table = picker.query_one("#runs", DataTable)
        await pilot.press("down", "enter")  # beta
        await until(pilot, lambda: isinstance(app.screen, StandIn), what="the run opened")
        finish_on_disk(runs["alpha"])  # meanwhile, alpha finishes (resumed from here, or by another process)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is picker, what="back in the picker")
        await pilot.pause()
        assert [rows(table)[0][i] for i in (0, 1, 2, 3, 4, 7, NAME)] == [
            "", "completed", "8/8", "57%", "$0.0369", "2025-01-03 00:00", "alpha"]
        assert cursor_name(table) == "beta" and app.focused is table
        assert plain(picker.query_one("#preview", Static)).startswith("beta · completed\n")


@pytest.mark.asyncio
async def test_enter_opens_the_run_under_the_cursor(runs, opened):
    """Enter opens the run under the cursor (the app resumes an unfinished one, opens a finished one read-only),
    whatever the table's order."""
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, StandIn))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunPicker))
        await pilot.press("s", "end", "enter")  # by name: delta last
        await until(pilot, lambda: isinstance(app.screen, StandIn))
        assert [(s.name, s.run_dir, s.finished) for s in opened] == [
            ("beta", runs["beta"], True), ("delta", runs["delta"], False)]


@pytest.mark.asyncio
async def test_a_run_with_a_damaged_memory_file_is_a_message_and_the_picker_stays(runs):
    """Issue 19: a damaged state file is one paragraph wherever the run is opened, never a crash of the app."""
    (runs["beta"] / "memory.json").write_text('{"workflows": [')  # cut short
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        picker = app.screen
        await pilot.press("down", "enter")  # beta
        await until(pilot, lambda: bool(app._notifications), what="the message")
        await pilot.pause()
        assert app.screen is picker and app.is_running
        note = list(app._notifications)[-1]
        assert "memory.json" in note.message and note.severity == "error"


# ------------------------------------------------------------------ two runs compared

PAIRED = [f"proj__proj-{i}" for i in range(1, 15)]


def write_compared_runs(root: Path, revised: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A baseline and a memory run on the same 14 issues: 7/14 and 9/14 resolved, 4 won and 2 lost."""
    base = compare_fixtures.write_run(root / "base", {i: "PASS" if n % 2 else "FAIL" for n, i in enumerate(PAIRED)})
    memory = compare_fixtures.write_run(root / "mem", {i: "PASS" if n % 3 else "FAIL" for n, i in enumerate(PAIRED)},
                                        record=compare_fixtures.provenance(PAIRED, revised=revised))
    return base, memory


async def mark(pilot, table: DataTable, name: str) -> None:
    table.move_cursor(row=names(table).index(name))
    await pilot.press("space")


@pytest.mark.asyncio
async def test_two_marked_runs_are_compared_with_the_compare_commands_figures(home):
    base, memory = write_compared_runs(runs_root())
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        picker = app.screen
        table = picker.query_one("#runs", DataTable)
        await pilot.press("c")  # nothing marked: says how
        assert isinstance(app.screen, RunPicker)
        assert any("Mark two runs with space" in n.message for n in app._notifications)
        await mark(pilot, table, "base")
        await mark(pilot, table, "mem")
        assert {row[NAME]: row[0] for row in rows(table)} == {"base": "ref", "mem": "vs"}
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        await until(pilot, lambda: screen.comparison is not None or screen.problem, timeout=30, what="the figures")
        await pilot.pause()
        assert screen.problem is None
        text = plain(screen.query_one("#compare-text", Static)).splitlines()
        assert text[0] == "mem against base (the reference), on the 14 issues both finished and graded"
        assert text[2:5] == [
            "run         resolved   rate  95% CI (Wilson)  errors",
            "base (ref)      7/14  50.0%  [26.8%, 73.2%]        0",
            "mem             9/14  64.3%  [38.8%, 83.7%]        0"]
        assert text[6:9] == [
            "difference  +14.3 pp  95% CI [-21.4 pp, +50.0 pp] (paired bootstrap)",
            "McNemar     p = 0.688 (exact, on the 6 issues the runs disagree on)",
            "issues      won 4 · lost 2 · tie 8 (both resolved 5, neither 3)"]
        assert text[12:14] == ["base  $0.0750     10   1,100  1m00s       $1.05    $0.0000",
                               "mem   $0.0750     10   1,100  1m00s       $1.05    $0.0000"]
        assert f"base  {base} (completed)" in text and f"mem   {memory} (completed)" in text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is picker)
        assert {row[NAME]: row[0] for row in rows(table)} == {"base": "ref", "mem": "vs"}  # still marked

        # the first marked is the reference: unmark both, mark mem first
        await mark(pilot, table, "base")
        await mark(pilot, table, "mem")
        await mark(pilot, table, "mem")
        await mark(pilot, table, "base")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert (app.screen.reference, app.screen.other) == (("mem", memory), ("base", base))


@pytest.mark.asyncio
async def test_a_third_mark_is_refused(home):
    write_compared_runs(runs_root())
    compare_fixtures.write_run(runs_root() / "third", {"proj__proj-1": "PASS"})
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        for name in ("base", "mem", "third"):
            await mark(pilot, table, name)
        assert {row[NAME]: row[0] for row in rows(table)} == {"base": "ref", "mem": "vs", "third": ""}
        assert any("Two runs are marked already" in n.message for n in app._notifications)


@pytest.mark.asyncio
async def test_runs_compare_refuses_are_a_message_never_a_traceback(home):
    write_compared_runs(runs_root(), revised=("proj__proj-3",))
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        await mark(pilot, table, "base")
        await mark(pilot, table, "mem")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        await until(pilot, lambda: screen.problem is not None, timeout=30, what="the refusal")
        await pilot.pause()
        text = plain(screen.query_one("#compare-text", Static))
        assert text.startswith("These runs cannot be compared.\n\ncompare: the runs ")
        assert "were made from different dataset rows for 1 of the 14 instances they share (proj__proj-3)" in text
        assert "Traceback" not in text
        assert any(n.title == "Cannot compare" for n in app._notifications)
        await pilot.press("escape")
        assert isinstance(app.screen, RunPicker)


async def compared(pilot, app) -> CompareScreen:
    table = app.screen.query_one("#runs", DataTable)
    await mark(pilot, table, "base")
    await mark(pilot, table, "mem")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, CompareScreen))
    screen = app.screen
    await until(pilot, lambda: screen.comparison is not None, timeout=30, what="the figures")
    await pilot.pause()
    return screen


@pytest.mark.asyncio
async def test_w_writes_the_compare_commands_report_and_o_opens_it(home, tmp_path, monkeypatch):
    write_compared_runs(runs_root())
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        screen = await compared(pilot, app)
        text = plain(screen.query_one("#compare-text", Static))
        assert "awm-tui compare /" not in text and "w writes it, o opens it" in text  # no command with paths
        await pilot.press("w")
        await until(pilot, lambda: screen.report is not None, timeout=60, what="the report written")
        folder = screen.report.parent
        assert folder.parent == home / "reports" and folder.name.startswith("compare-mem-vs-base-")
        assert {p.name for p in folder.iterdir()} >= {"report.md", "report.html", "comparison.json"}
        assert (folder / "report.md").read_text().strip() and (folder / "report.html").stat().st_size > 1000
        said = [n for n in app._notifications if n.title == "Report written"]
        assert said and str(folder) in said[-1].message and "o opens it" in said[-1].message
        await pilot.press("o")
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert opened.read_text().strip() == str(folder / "report.html")


@pytest.mark.asyncio
async def test_o_without_a_browser_says_where_the_report_is(home, tmp_path, monkeypatch):
    write_compared_runs(runs_root())
    monkeypatch.delenv("BROWSER", raising=False)
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        screen = await compared(pilot, app)
        await pilot.press("o")  # not written yet: written first
        await until(pilot, lambda: screen.report is not None, timeout=60, what="the report written")
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))  # no xdg-open, no open
        await pilot.press("o")
        note = [n for n in app._notifications if n.title == "Report"][-1]
        assert note.message == f"No browser found ($BROWSER, xdg-open): the report is {screen.report}"
