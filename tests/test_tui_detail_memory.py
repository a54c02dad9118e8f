"""Pilot tests of the issue detail (its tabs, the run-folder files they show, the patch copied, the memory entries
given and their links) and of the memory browser (each entry as a picked round left it, usefulness against a
baseline run, what each round added/replaced/evicted, the round's induction files, the memory operations d/e/p/u).
Each builds a run folder in tmp_path (below) and hosts the screen or widget on a bare App: milliseconds each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Log, Select, Static, TabbedContent, TabPane

from awm.memory import ops
from awm.memory.store import WorkflowMemory
from awm.records import PITFALL, Experience, Status, Step, Workflow
from awm.run import events as ev
from awm.run.store import RunStore
from awm.run.view import load_run
from awm.spec import InductionSpec, LLMSpec, MemorySpec, RunSpec
from awm_tui.commands import memory as memory_cmd
from awm_tui.model import RUNNING, IssueRow, RunModel
from awm_tui.screens.detail import TABS, IssueDetail
from awm_tui.screens.induction import InductionRoundScreen
from awm_tui.screens.memory_entry import MemoryEntryScreen
from awm_tui.widgets.memory import MemoryBrowser

pytestmark = pytest.mark.asyncio

SIZE = (120, 36)

# ------------------------------------------------------------------ the run folder
IDS = [f"acme__calc-{n}" for n in range(1, 7)]
BOUNDARY = {"name": "Fix an off-by-one boundary", "description": "a result is wrong exactly at the edge of a range",
            "steps": ["Reproduce with the edge value", "Find the comparison in {file}", "Change `<` to `<=`"]}
BOUNDARY_V2 = {"name": "Fix an off-by-one boundary", "description": "a result is wrong exactly at the edge of a range",
               "steps": ["Write a failing test at the edge value first", "Find the comparison in {file}",
                         "Change `<` to `<=`", "Run the whole module's tests"]}
REPRO = {"name": "Reproduce then patch", "description": "any bug report with a failing example",
         "steps": ["Run the example from the issue", "Patch the innermost frame"]}
PARSE = {"name": "Parse a config value", "description": "a parser mishandles quoting",
         "steps": ["Find the tokenizer in {file}", "Add the missing case"]}
CACHE = {"name": "Invalidate a stale cache", "description": "a value stays old after an update",
         "steps": ["Find where the cache is filled", "Clear it on write"]}
SHADOW = {"name": "Do not shadow the builtin", "description": "a local named like a builtin breaks a call",
          "steps": ["Rename the local"]}

# (status, workflow ids given, memory round, baseline status)
ISSUES = [
    (Status.PASS, [], 0, Status.PASS),
    (Status.PASS, [], 0, Status.FAIL),
    (Status.PASS, ["wf-fix-an-off-by-one-boundary", "wf-reproduce-then-patch"], 1, Status.FAIL),
    (Status.FAIL, ["wf-fix-an-off-by-one-boundary"], 1, Status.PASS),
    (Status.ERROR, ["wf-reproduce-then-patch", "wf-parse-a-config-value"], 2, Status.FAIL),
    (Status.PASS, ["wf-fix-an-off-by-one-boundary", "wf-parse-a-config-value"], 3, Status.FAIL),
]


def patch(n: int) -> str:
    return (f"diff --git a/calc/mod{n}.py b/calc/mod{n}.py\n--- a/calc/mod{n}.py\n+++ b/calc/mod{n}.py\n"
            f"@@ -1,3 +1,3 @@ def edge(value):\n     value = int(value)\n-    return value < {n}\n"
            f"+    return value <= {n}\n")


def eval_output(n: int, lines: int = 60) -> str:
    body = "\n".join(f"tests/test_mod{n}.py::test_case_{i} PASSED" for i in range(lines))
    return f">>>>> Start Test Output\n{body}\ntests/test_mod{n}.py::test_edge FAILED\n1 failed, {lines} passed\n" \
           ">>>>> End Test Output\n"


def trajectory(n: int) -> list[dict]:
    return [
        {"kind": "SystemPromptEvent", "source": "agent"},
        {"kind": "MessageEvent", "source": "user",
         "llm_message": {"role": "user", "content": [{"type": "text", "text": f"Fix calc issue {n}"}]}},
        {"kind": "ActionEvent", "tool_name": "terminal", "thought": [{"type": "text", "text": "Reproduce it first."}],
         "action": {"command": f"pytest -q tests/test_mod{n}.py", "is_input": False, "kind": "TerminalAction"}},
        {"kind": "ObservationEvent", "tool_name": "terminal",
         "observation": {"content": [{"type": "text", "text": "F.\n1 failed, 1 passed"}], "kind": "X"}},
        {"kind": "ActionEvent", "tool_name": "file_editor", "thought": [],
         "action": {"command": "str_replace", "path": f"calc/mod{n}.py", "old_str": "<", "new_str": "<=",
                    "kind": "FileEditorAction"}},
        {"kind": "AgentErrorEvent", "tool_name": "file_editor", "error": "the file changed on disk"},
        {"kind": "MessageEvent", "source": "agent",
         "llm_message": {"role": "assistant", "content": [{"type": "text", "text": "Fixed the edge."}]}},
    ]


def write_baseline(run_dir: Path) -> RunStore:
    store = RunStore.create(RunSpec(llm=LLMSpec(model="scripted/fake"), name="baseline",
                                    memory=MemorySpec(enabled="off")), output_dir=str(run_dir))
    for iid, (_, _, _, status) in zip(IDS, ISSUES):
        store.commit(Experience(instance_id=iid, problem_statement="", status=status))
    return store


def write_run(run_dir: Path, baseline: Path | None = None) -> RunStore:
    """The run folder (and, with `baseline`, a baseline run there linked as memory.baseline_run)."""
    if baseline is not None:
        write_baseline(baseline)
    spec = RunSpec(llm=LLMSpec(model="scripted/fake"), name="calc", induction=InductionSpec(trigger=2, max_workflows=3),
                   memory=MemorySpec(baseline_run=str(baseline) if baseline else None))
    store = RunStore.create(spec, output_dir=str(run_dir))
    memory = WorkflowMemory(3, store.memory_path)
    memory.add_round(1, [BOUNDARY, REPRO], IDS[:2])
    memory.add_round(2, [PARSE], IDS[2:3])
    memory.add_round(3, [BOUNDARY_V2, CACHE], IDS[3:5])  # re-learns the boundary workflow (v2), evicts one
    memory.add_round(4, [SHADOW], IDS[3:4], kind=PITFALL)
    scores = {"wf-fix-an-off-by-one-boundary": 0.42, "wf-reproduce-then-patch": 0.17, "wf-parse-a-config-value": 0.3}
    # how far each issue followed what it was given (awm.memory.adherence); issues 3 and 5 have none recorded
    followed = {4: {"wf-fix-an-off-by-one-boundary": 0.33},
                6: {"wf-fix-an-off-by-one-boundary": 0.75, "wf-parse-a-config-value": 0.0}}
    for n, (iid, (status, ids, round_number, _)) in enumerate(zip(IDS, ISSUES), 1):
        retrieved = [{"id": i, "kind": "workflow", "version": _version(memory, i, round_number),
                      "round": _made(memory, i, round_number), "score": scores[i]} for i in ids]
        exp = Experience(
            instance_id=iid, problem_statement=f"calc.edge({n}) is wrong at the boundary.\nSteps: run edge({n}).",
            status=status, diff_patch=patch(n) if status != Status.ERROR else "",
            history=[Step("terminal", f"$ pytest -q tests/test_mod{n}.py", "run the tests", "1 failed")],
            test_output="…\n" + eval_output(n)[-200:], reason="1 FAIL_TO_PASS test(s) still fail"
            if status == Status.FAIL else "", cost=0.0123, prompt_tokens=4000, completion_tokens=321, steps=3,
            duration_s=12.5, workflow_ids=list(ids), memory_round=round_number, retrieved=retrieved,
            memory_tokens=250 * len(ids), adherence=followed.get(n, {}), learned=status == Status.PASS,
            agent_status="finished",
            judge={"verdict": "PASS", "reasoning": "The patch fixes the edge.\nVerdict: success",
                   "reply_path": f"judge/{iid}.reply.txt"} if n == 6 else {}, position=n)
        store.commit(exp)
        memory.record_outcome(ids, status)
        folder = store.eval / iid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "patch.diff").write_text(exp.diff_patch)
        (folder / "test_output.txt").write_text(eval_output(n))
        (folder / "report.json").write_text(json.dumps({iid: {
            "patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True,
            "resolved": status == Status.PASS, "tests_status": {
                "FAIL_TO_PASS": {"success": [f"tests/test_mod{n}.py::test_edge_a"],
                                 "failure": [] if status == Status.PASS else [f"tests/test_mod{n}.py::test_edge"]},
                "PASS_TO_PASS": {"success": [f"tests/test_mod{n}.py::test_case_{i}" for i in range(3)],
                                 "failure": []},
                "FAIL_TO_FAIL": {"success": [], "failure": []}, "PASS_TO_FAIL": {"success": [], "failure": []}}}}))
        store.logs.mkdir(parents=True, exist_ok=True)
        store.trajectory_path(iid).write_text(json.dumps(trajectory(n)))
    store.induction.mkdir(parents=True, exist_ok=True)
    (store.induction / "round_001.prompt.txt").write_text("=== user ===\nInduce workflows from these issues.\n")
    (store.induction / "round_001.reply.txt").write_text("## Workflow: Fix an off-by-one boundary\nWhen to use: ...\n")
    data = json.loads(store.memory_path.read_text())
    for entry in data["rounds"]:
        entry["time"] = "2025-01-02T03:04:05"
    store.memory_path.write_text(json.dumps(data, indent=2))
    return store


def _version(memory: WorkflowMemory, entry_id: str, round_number: int) -> int:
    versions = [w for w in memory.history(entry_id) if w.round <= round_number]
    return versions[-1].version if versions else 1


def _made(memory: WorkflowMemory, entry_id: str, round_number: int) -> int:
    versions = [w for w in memory.history(entry_id) if w.round <= round_number]
    return versions[-1].round if versions else round_number


# ------------------------------------------------------------------ hosts and helpers

def plain(widget) -> str:
    """What a Static shows, without its styles."""
    content = widget.content
    return content.plain if isinstance(content, Content) else Content.from_markup(str(content)).plain


def styles_at(widget, text: str) -> list[str]:
    """The styles of a Static's content where `text` starts."""
    content = widget.content
    at = content.plain.index(text)
    return [str(span.style) for span in content.spans if span.start <= at < span.end]


def rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def notes(app: App) -> list[str]:
    return [n.message for n in app._notifications]


class MemoryHost(App):
    """The memory browser alone, fed one model."""

    def __init__(self, model: RunModel | None = None) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        yield MemoryBrowser(id="memory-pane")

    def on_mount(self) -> None:
        if self.model is not None:
            self.query_one(MemoryBrowser).show(self.model)


class RunLike(Screen):
    """Stands for the run screen under an issue detail: the screen whose `model` the detail reads."""

    def __init__(self, model: RunModel) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        yield Static("the run")


class DetailHost(App):
    """A run screen stand-in, and `IssueDetail(row)` over it as the run screen opens it."""

    def __init__(self, model: RunModel, instance_id: str) -> None:
        super().__init__()
        self.model, self.instance_id = model, instance_id

    def on_mount(self) -> None:
        self.push_screen(RunLike(self.model))
        self.push_screen(IssueDetail(self.model.rows[self.instance_id]))


@pytest.fixture
def run(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    return write_run(tmp_path / "run", tmp_path / "baseline").dir


def model_of(run_dir: Path) -> RunModel:
    return RunModel.from_view(load_run(run_dir))


async def opened(pilot, tab: str) -> None:
    await pilot.press(str(TABS.index(tab) + 1))
    await pilot.pause()


# ------------------------------------------------------------------ the memory browser

async def test_a_past_round_shows_each_entry_as_that_round_left_it(run):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        browser = app.query_one(MemoryBrowser)
        table = app.query_one("#memory-list", DataTable)
        await pilot.pause()
        # latest: the boundary workflow re-learned in round 3 (v2, its new steps); round 3 evicted "Reproduce"
        assert [r[:3] for r in rows(table)] == [["Fix an off-by-one boundary", "wf", "2"],
                                                ["Parse a config value", "wf", "1"],
                                                ["Invalidate a stale cache", "wf", "1"],
                                                ["Do not shadow the builtin", "pf", "1"]]
        detail = plain(app.query_one("#memory-detail", Static))
        assert "1. Write a failing test at the edge value first" in detail and "v2" in detail

        app.query_one("#memory-round", Select).value = 1
        await pilot.pause()
        assert [r[:3] for r in rows(table)] == [["Fix an off-by-one boundary", "wf", "1"],
                                                ["Reproduce then patch", "wf", "1"]]
        detail = plain(app.query_one("#memory-detail", Static))
        assert "1. Reproduce with the edge value" in detail and "Write a failing test" not in detail
        assert "Made in round 1 from acme__calc-1, acme__calc-2" in detail
        assert browser.source.at(1) is browser.source.at(1)  # cached by round

        await pilot.press("right_square_bracket")  # ] : a round later
        await pilot.pause()
        assert app.query_one("#memory-round", Select).value == 2
        assert [r[:3] for r in rows(table)][0] == ["Fix an off-by-one boundary", "wf", "1"]
        assert len(rows(table)) == 3


async def test_a_live_run_without_a_folder_keeps_each_version_as_its_round_made_it():
    old = Workflow("wf-a", "Fix A", "when A", ["old step"], ["i1"], round=1)
    other = Workflow("wf-b", "Fix B", "when B", ["b step"], ["i2"], round=2)
    new = Workflow("wf-a", "Fix A", "when A", ["new step"], ["i1", "i3"], round=3, version=2, created_round=1)
    model = RunModel(run_dir="")
    app = MemoryHost(model)
    async with app.run_test(size=SIZE) as pilot:
        browser = app.query_one(MemoryBrowser)
        table = app.query_one("#memory-list", DataTable)
        for round_number, made, active in ((1, (old,), ("wf-a",)), (2, (other,), ("wf-a", "wf-b")),
                                           (3, (new,), ("wf-a", "wf-b"))):
            model.apply(ev.InductionFinished(round_number, made, active))
            browser.show(model)  # as the run screen does after every engine event
        await pilot.pause()
        assert model.workflows["wf-a"].steps == ["new step"]  # the model keeps only the latest
        assert rows(table)[0][:3] == ["Fix A", "wf", "2"]
        app.query_one("#memory-round", Select).value = 1
        await pilot.pause()
        assert [r[:3] for r in rows(table)] == [["Fix A", "wf", "1"]]
        assert "1. old step" in plain(app.query_one("#memory-detail", Static))
        assert "round 1 (workflow round): +1 added (Fix A)" in plain(app.query_one("#memory-round-info", Static))
        app.query_one("#memory-round", Select).value = 3
        await pilot.pause()
        assert "round 3 (workflow round): 1 updated (Fix A v2)" in plain(app.query_one("#memory-round-info", Static))


async def test_the_table_has_uses_pass_rate_and_helped_hurt_against_the_baseline(run, tmp_path):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#memory-list", DataTable)
        assert [str(c.label) for c in table.ordered_columns] == ["name", "kind", "v", "uses", "pass", "±base",
                                                                 "state"]
        # boundary: given to issues 3 (PASS, baseline FAIL), 4 (FAIL, baseline PASS), 6 (PASS, baseline FAIL)
        assert rows(table)[0] == ["Fix an off-by-one boundary", "wf", "2", "3", "67%", "+2 −1", "on"]
        # parse: 5 (ERROR, baseline FAIL), 6 (PASS, baseline FAIL)
        assert rows(table)[1] == ["Parse a config value", "wf", "1", "2", "50%", "+1 −0", "on"]
        assert rows(table)[2][3:6] == ["0", "–", "+0 −0"]
        # after round 1: only the issues given round 1's memory (or an earlier one) count, 3 and 4 for boundary,
        # 3 for reproduce (5 was given round 2's)
        app.query_one("#memory-round", Select).value = 1
        await pilot.pause()
        assert [r[3:6] for r in rows(table)] == [["2", "50%", "+1 −1"], ["1", "100%", "+1 −0"]]
        assert "counts: issues given memory up to round 1" in plain(
            app.query_one("#memory-round-info", Static))
        assert "given to 2 issues: 1 passed, 1 failed" in plain(app.query_one("#memory-detail", Static))

    # no baseline linked: helped/hurt are not known
    alone = write_run(tmp_path / "alone").dir
    app = MemoryHost(model_of(alone))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#memory-list", DataTable)
        assert rows(table)[0][3:6] == ["3", "67%", "–"]
        assert "no baseline run linked" in plain(app.query_one("#memory-detail", Static))


async def test_each_round_says_what_it_added_replaced_and_evicted(run):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        info = app.query_one("#memory-round-info", Static)
        select = app.query_one("#memory-round", Select)
        assert [value for _, value in select._options] == [-1, 4, 3, 2, 1]
        select.value = 3
        await pilot.pause()
        assert plain(info).startswith("round 3 (workflow round): +1 added (Invalidate a stale cache); 1 updated "
                                      "(Fix an off-by-one boundary v2); −1 evicted (Reproduce then patch)")
        select.value = 1
        await pilot.pause()
        assert plain(info).startswith("round 1 (workflow round): +2 added (Fix an off-by-one boundary, Reproduce "
                                      "then patch)")
        select.value = -1
        await pilot.pause()
        assert plain(info).startswith("round 4 (pitfall round): +1 added (Do not shadow the builtin)")


async def test_a_past_round_shows_the_entries_flags_as_they_stood_then_not_todays(run):
    data = json.loads((run / "memory.json").read_text())
    times = {1: "2025-01-02T03:00:00", 2: "2025-01-02T03:10:00", 3: "2025-01-02T03:20:00", 4: "2025-01-02T03:30:00"}
    for entry in data["rounds"]:
        entry["time"] = times[entry["round"]]
    (run / "memory.json").write_text(json.dumps(data, indent=2))
    # the boundary workflow disabled during round 1's memory and enabled again during round 2's; the parse
    # workflow disabled after round 3 (today: off)
    log = [("2025-01-02T03:05:00", "disable", "wf-fix-an-off-by-one-boundary"),
           ("2025-01-02T03:15:00", "enable", "wf-fix-an-off-by-one-boundary"),
           ("2025-01-02T03:25:00", "disable", "wf-parse-a-config-value")]
    ops.path(run).write_text("".join(json.dumps({"time": t, "action": a, "id": i, "note": ""}) + "\n"
                                     for t, a, i in log))
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#memory-list", DataTable)
        select = app.query_one("#memory-round", Select)

        def states() -> dict[str, str]:
            return {r[0]: r[-1] for r in rows(table)}

        assert states()["Parse a config value"] == "off" and states()["Fix an off-by-one boundary"] == "on"
        select.value = 1
        await pilot.pause()
        # round 1's memory: boundary was disabled then; "Reproduce" was in memory then (evicted only in round 3)
        assert states() == {"Fix an off-by-one boundary": "off", "Reproduce then patch": "on"}
        assert "· off" in plain(app.query_one("#memory-detail", Static))
        select.value = 2
        await pilot.pause()
        assert states() == {"Fix an off-by-one boundary": "on", "Reproduce then patch": "on",
                            "Parse a config value": "on"}  # not today's "off"


async def test_i_shows_the_rounds_induction_prompt_and_reply(run):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#memory-list").focus()
        await pilot.press("i")  # latest round (4): no files kept for it
        await pilot.pause()
        assert not isinstance(app.screen, InductionRoundScreen)
        assert any("No prompt or reply to show for round 4" in n for n in notes(app))
        app.query_one("#memory-round", Select).value = 1
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, InductionRoundScreen)
        panes = app.screen.query(TabPane)
        assert [str(p._title) for p in panes] == ["prompt", "reply"]
        texts = [plain(s) for s in app.screen.query(".induction-text").results(Static)]
        assert texts == ["=== user ===\nInduce workflows from these issues.\n",
                         "## Workflow: Fix an off-by-one boundary\nWhen to use: ...\n"]
        paths = [plain(s) for s in app.screen.query(".induction-path").results(Static)]
        assert paths == ["induction/round_001.prompt.txt", "induction/round_001.reply.txt"]
        await pilot.press("escape")
        assert not isinstance(app.screen, InductionRoundScreen)


async def test_d_and_k_log_the_memory_operations_the_cli_would(run, capsys):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#memory-list", DataTable)
        table.focus()
        await pilot.press("down")  # Parse a config value
        await pilot.press("d")
        await pilot.pause()
        assert [(o["action"], o["id"]) for o in ops.read(run)] == [("disable", "wf-parse-a-config-value")]
        assert rows(table)[1][6] == "off" and table.cursor_row == 1
        assert any(n.startswith("Disabled Parse a config value (wf-parse-a-config-value): the run honours it "
                                "from its next issue") for n in notes(app))
        await pilot.press("d", "k")  # d again enables; k pins
        await pilot.pause()
        assert rows(table)[1][6] == "pinned"
        await pilot.press("k")
        await pilot.pause()
        assert rows(table)[1][6] == "on"
        assert [(o["action"], o["id"]) for o in ops.read(run)] == [
            ("disable", "wf-parse-a-config-value"), ("enable", "wf-parse-a-config-value"),
            ("pin", "wf-parse-a-config-value"), ("unpin", "wf-parse-a-config-value")]
        # the entry's modal has the same keys, and its text shows the new state
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemoryEntryScreen)
        await pilot.press("d")
        await pilot.pause()
        assert "Parse a config value" in plain(app.screen.query_one("#entry-text", Static))
        assert " · off" in plain(app.screen.query_one("#entry-text", Static)).split("\n")[1]
        await pilot.press("escape")
        await pilot.pause()
        assert rows(table)[1][6] == "off"
        assert ops.read(run)[-1]["action"] == "disable"

    # the same record as `awm-tui memory RUN disable ID` writes (the engine replays either before its next issue)
    assert memory_cmd.main([str(run), "disable", "wf-parse-a-config-value"]) == 0
    mine, cli = ops.read(run)[0], ops.read(run)[-1]
    assert set(mine) == set(cli) and (mine["action"], mine["id"]) == (cli["action"], cli["id"])
    capsys.readouterr()


async def test_memory_operations_are_refused_without_a_run_folder(tmp_path):
    model = RunModel(run_dir=str(tmp_path / "nowhere"))
    model.apply(ev.InductionFinished(1, (Workflow("wf-a", "Fix A", "when A", ["s"], round=1),), ("wf-a",)))
    app = MemoryHost(model)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#memory-list").focus()
        await pilot.press("d")
        await pilot.pause()
        assert any(n.startswith("Cannot disable Fix A: this run's folder is not known here") for n in notes(app))
        assert not (tmp_path / "nowhere").exists()


async def test_enter_opens_the_entry_with_every_version_and_its_usefulness(run):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#memory-round", Select).value = 1
        await pilot.pause()
        app.query_one("#memory-list").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemoryEntryScreen)
        text = plain(app.screen.query_one("#entry-text", Static))
        assert text.index("v2 · round 3 · Fix an off-by-one boundary") < text.index(
            "v1 · round 1 · Fix an off-by-one boundary  ← after round 1")
        assert "1. Write a failing test at the edge value first" in text and "1. Reproduce with the edge value" in text
        assert "given to 3 issues: 2 passed, 1 failed, 0 errors; pass rate when given 67%; against the baseline " \
               "run: helped 2, hurt 1" in text
        await pilot.press("escape")
        assert isinstance(app.screen.query_one(MemoryBrowser), MemoryBrowser)


async def test_a_hidden_browser_draws_only_when_its_tab_opens(run):
    class Tabbed(App):
        def compose(self) -> ComposeResult:
            with TabbedContent(id="tabs"):
                with TabPane("History", id="history"):
                    yield Static("history")
                with TabPane("Memory", id="memory"):
                    yield MemoryBrowser(id="memory-pane")

    app = Tabbed()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one(MemoryBrowser).show(model_of(run))
        await pilot.pause()
        assert app.query_one("#memory-list", DataTable).row_count == 0  # hidden: nothing drawn yet
        app.query_one(TabbedContent).active = "memory"
        await pilot.pause()
        assert app.query_one("#memory-list", DataTable).row_count == 4


# ------------------------------------------------------------------ the issue detail

async def test_the_detail_has_a_tab_per_part_and_names_the_files_it_shows(run):
    app = DetailHost(model_of(run), IDS[3])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, IssueDetail)
        assert [p.id for p in detail.query(TabPane)] == list(TABS)
        header = plain(detail.query_one("#detail-text", Static))
        assert header.startswith(f"{IDS[3]} — FAIL: 1 FAIL_TO_PASS test(s) still fail\n")
        assert "cost $0.0123 · 3 steps · 4,321 tokens · 0m12s · agent finished · memory round 1" in header
        assert f"run folder {run}" in header
        assert plain(detail.query_one("#detail-problem", Static)) == (
            "calc.edge(4) is wrong at the boundary.\nSteps: run edge(4).")
        paths = [plain(s) for s in detail.query(".detail-path").results(Static)]
        assert paths == ["experiences.jsonl", f"logs/instance_{IDS[3]}.trajectory.json",
                         f"eval/{IDS[3]}/patch.diff", f"eval/{IDS[3]}/report.json · eval/{IDS[3]}/test_output.txt",
                         "memory.json"]
        await opened(pilot, "patch")
        assert detail.query_one(TabbedContent).active == "patch"
        await pilot.press("q")
        assert isinstance(app.screen, RunLike)


async def test_the_trajectory_tab_reads_the_trajectory_file_with_a_colour_per_kind(run):
    app = DetailHost(model_of(run), IDS[0])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "trajectory")
        trajectory = app.screen.query_one("#detail-trajectory", Static)
        text = plain(trajectory)
        assert text.splitlines()[:8] == [
            "· system prompt set", "» user: Fix calc issue 1", "▶ 1. terminal", "Reproduce it first.",
            "$ pytest -q tests/test_mod1.py", "  F.", "  1 failed, 1 passed", "▶ 2. file_editor"]
        assert "! file_editor: the file changed on disk" in text
        assert text.endswith("» assistant: Fixed the edge.")
        assert "bold $accent" in styles_at(trajectory, "▶ 1. terminal")
        assert "$foreground-muted" in styles_at(trajectory, "  1 failed, 1 passed")
        assert "$error" in styles_at(trajectory, "! file_editor")
        assert "$success" in styles_at(trajectory, "Fixed the edge.")


async def test_the_patch_is_a_highlighted_diff_and_c_copies_it(run):
    app = DetailHost(model_of(run), IDS[1])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "patch")
        diff = app.screen.query_one("#detail-patch", Static)
        assert plain(diff) == patch(2).rstrip("\n")
        assert styles_at(diff, "+    return value <= 2") == ["$success"]
        assert styles_at(diff, "-    return value < 2") == ["$error"]
        assert styles_at(diff, "@@ -1,3 +1,3 @@") == ["$accent"]
        assert styles_at(diff, "+++ b/calc/mod2.py") == ["bold"]
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == patch(2)
        assert "Copied the patch (7 lines) to the clipboard." in notes(app)

    # an issue without a patch: nothing to copy, and it says so
    app = DetailHost(model_of(run), IDS[4])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == "" and "No patch to copy: the agent made none." in notes(app)


async def test_the_tests_tab_has_the_whole_output_and_the_fail_to_pass_breakdown(run):
    app = DetailHost(model_of(run), IDS[3])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "tests")
        breakdown = app.screen.query_one("#detail-tests", Static)
        assert plain(breakdown).splitlines() == [
            "resolved: no · patch applied: yes",
            "FAIL_TO_PASS  1 of 2 pass", "  ✗ tests/test_mod4.py::test_edge", "  ✓ tests/test_mod4.py::test_edge_a",
            "PASS_TO_PASS  3 of 3 pass", *[f"  ✓ tests/test_mod4.py::test_case_{i}" for i in range(3)]]
        assert styles_at(breakdown, "  ✗ ") == ["$error"]
        assert styles_at(breakdown, "1 of 2 pass") == ["$error"] and styles_at(breakdown, "3 of 3 pass") == ["$success"]
        output = app.screen.query_one("#detail-output", Log)
        assert list(output.lines) == eval_output(4).rstrip("\n").splitlines()  # all of it, not the journal's excerpt
        assert len(output.lines) == 64
        assert app.focused is output


async def test_the_memory_tab_lists_the_entries_given_with_scores_and_links_to_them(run):
    app = DetailHost(model_of(run), IDS[5])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "memory")
        detail = app.screen
        assert rows(detail.query_one("#detail-memory-list", DataTable)) == [
            ["Fix an off-by-one boundary", "wf", "2", "3", "0.42", "0.75"],
            ["Parse a config value", "wf", "1", "2", "0.30", "0.00"]]
        info = plain(detail.query_one("#detail-memory", Static))
        assert info.startswith("memory round 3 · 2 memory entries in the prompt · 500 memory tokens\n"
                               "in the experience buffer: induction learns from this issue\n"
                               "adherence: the share of an entry's steps the agent's actions matched, in order "
                               "(word overlap, not proof the entry was used)")
        judge = plain(detail.query_one("#detail-judge", Static))
        assert judge == f"judge: PASS  (judge/{IDS[5]}.reply.txt)\nThe patch fixes the edge.\nVerdict: success"
        assert app.focused is detail.query_one("#detail-memory-list")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemoryEntryScreen)
        text = plain(app.screen.query_one("#entry-text", Static))
        assert "v2 · round 3 · Fix an off-by-one boundary  ← given to this issue" in text
        assert "v1 · round 1 · Fix an off-by-one boundary\n" in text
        await pilot.press("escape")
        assert app.screen is detail


class Scored:
    """A retriever giving fixed scores, by entry name."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def rank(self, query: str, entries: list[Workflow]) -> list[tuple[Workflow, float]]:
        return sorted(((w, self.scores.get(w.name, 0.0)) for w in entries), key=lambda p: -p[1])


async def test_retrieval_records_why_nothing_was_given_and_the_best_left_out(tmp_path):
    from awm.memory.retrieval import retrieve

    memory = WorkflowMemory(5, tmp_path / "memory.json")

    def pick(**options):
        settings = {"budget_tokens": 10_000, "min_score": 0.3, "top_k": 3, **options}
        return retrieve(memory, "calc edge", "acme__calc-9", Scored({"Fix an off-by-one boundary": 0.21,
                                                                     "Parse a config value": 0.12}),
                        count=len, **settings)

    assert pick().reason == "memory held no entries yet"
    memory.add_round(1, [BOUNDARY, PARSE], IDS[:2])
    below = pick()
    assert below.entries == [] and below.reason == "every entry scored below memory.threshold 0.3 (the best: 0.21)"
    assert [(r["id"], r["score"], r["why"]) for r in below.passed_over] == [
        ("wf-fix-an-off-by-one-boundary", 0.21, "below memory.threshold 0.3"),
        ("wf-parse-a-config-value", 0.12, "below memory.threshold 0.3")]
    assert pick(min_score=0.1, budget_tokens=5).reason == "none fits the token budget (memory.budget_tokens 5)"
    given = pick(min_score=0.2)
    assert given.ids == ["wf-fix-an-off-by-one-boundary"] and given.reason == ""
    assert [r["id"] for r in given.passed_over] == ["wf-parse-a-config-value"]
    for entry in memory.workflows:
        entry.disabled = True
    assert pick().reason == "every entry in memory (2) is disabled"


async def test_the_memory_tab_shows_how_far_the_issue_followed_each_entry(run):
    app = DetailHost(model_of(run), IDS[3])  # a failed issue that followed its one entry a third of the way
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "memory")
        table = app.screen.query_one("#detail-memory-list", DataTable)
        assert [str(c.label) for c in table.ordered_columns] == ["name", "kind", "v", "round", "score", "adherence"]
        assert rows(table) == [["Fix an off-by-one boundary", "wf", "1", "1", "0.42", "0.33"]]
        assert "not proof the entry was used" in plain(app.screen.query_one("#detail-memory", Static))

    # no score recorded (memory.adherence: off, or a journal from before scores were kept): a dash, no explanation
    app = DetailHost(model_of(run), IDS[4])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "memory")
        assert [r[-1] for r in rows(app.screen.query_one("#detail-memory-list", DataTable))] == ["–", "–"]
        assert "adherence" not in plain(app.screen.query_one("#detail-memory", Static))


async def test_the_memory_tab_says_why_nothing_was_given_and_the_best_candidates(run):
    model = model_of(run)
    exp = model.rows[IDS[4]].experience
    exp.workflow_ids, exp.retrieved, exp.memory_tokens = [], [], 0
    exp.why_none = "every entry scored below memory.threshold 0.3 (the best: 0.21)"
    exp.passed_over = [{"id": "wf-fix-an-off-by-one-boundary", "kind": "workflow", "version": 1, "round": 1,
                        "score": 0.21, "why": "below memory.threshold 0.3"},
                       {"id": "wf-parse-a-config-value", "kind": "workflow", "version": 1, "round": 2,
                        "score": 0.12, "why": "below memory.threshold 0.3"}]
    app = DetailHost(model, IDS[4])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "memory")
        text = plain(app.screen.query_one("#detail-memory", Static))
        assert "Nothing was injected: every entry scored below memory.threshold 0.3 (the best: 0.21)." in text
        assert "Fix an off-by-one boundary score 0.21 — below memory.threshold 0.3" in text
        assert "Parse a config value score 0.12 — below memory.threshold 0.3" in text

    # an issue of a journal from before the reasons were kept, given nothing at round 0: memory was empty
    app = DetailHost(model_of(run), IDS[0])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "memory")
        text = plain(app.screen.query_one("#detail-memory", Static))
        assert "Nothing was injected: memory held no entries yet (no induction round before this issue)." in text


async def test_an_old_journal_record_loads_without_the_new_fields():
    record = Experience(instance_id="x", problem_statement="", status=Status.PASS).to_dict()
    del record["passed_over"], record["why_none"]
    exp = Experience.from_dict(record)
    assert exp.passed_over == [] and exp.why_none == ""


async def test_without_the_run_folder_the_detail_shows_the_journal_record(run, tmp_path):
    model = model_of(run)
    row = model.rows[IDS[3]]
    app = App()
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(IssueDetail(row, run_dir=tmp_path / "gone"))
        await pilot.pause()
        detail = app.screen
        paths = [plain(s) for s in detail.query(".detail-path").results(Static)]
        assert paths[1:4] == [f"experiences.jsonl (condensed steps: no logs/instance_{IDS[3]}.trajectory.json)",
                              f"experiences.jsonl (no eval/{IDS[3]}/patch.diff)",
                              f"the journal's excerpt (no eval/{IDS[3]}/test_output.txt)"]
        assert plain(detail.query_one("#detail-trajectory", Static)).startswith(
            "▶ 1. terminal\nrun the tests\n$ pytest -q tests/test_mod4.py\n  1 failed")
        assert plain(detail.query_one("#detail-patch", Static)) == patch(4).rstrip("\n")
        assert plain(detail.query_one("#detail-tests", Static)) == (
            f"no test breakdown: no eval/{IDS[3]}/report.json in the run folder")
        assert list(detail.query_one("#detail-output", Log).lines)[0] == "…"


async def test_a_running_issue_says_what_is_known(run):
    model = model_of(run)
    row = IssueRow("acme__calc-7", state=RUNNING, workflow_ids=("wf-fix-an-off-by-one-boundary",), memory_round=4)
    model.rows[row.instance_id] = row
    (run / "logs" / "instance_acme__calc-7.log").write_text("[03:04:05] ACTION terminal\n$ ls\n")
    app = DetailHost(model, row.instance_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        header = plain(app.screen.query_one("#detail-text", Static))
        assert header.startswith("acme__calc-7 — running\nnot finished yet: given 1 memory entry (memory round 4)")
        await opened(pilot, "trajectory")  # no trajectory file until it finishes: its log so far
        assert plain(app.screen.query_one("#detail-trajectory", Static)) == "[03:04:05] ACTION terminal\n$ ls"
        paths = [plain(s) for s in app.screen.query(".detail-path").results(Static)]
        assert paths[1] == "logs/instance_acme__calc-7.log (being written)"
        await opened(pilot, "memory")
        assert rows(app.screen.query_one("#detail-memory-list", DataTable)) == [
            ["Fix an off-by-one boundary", "wf", "2", "3", "–", "–"]]
        assert plain(app.screen.query_one("#detail-patch", Static)) == "no patch"
