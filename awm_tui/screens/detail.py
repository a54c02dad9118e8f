"""An issue in full, in tabs: the problem statement, the agent's trajectory, the patch as a highlighted diff, the
whole test output with the FAIL_TO_PASS/PASS_TO_PASS breakdown, and the memory it was given (each entry opens in a
modal with its versions and usefulness); every tab names the run-folder file it shows. `c` copies the patch.

The run folder (logs/, eval/<id>/) has the whole of what the journal keeps an excerpt of; without it (a run whose
folder is not known, the tests' fake engine) the detail shows the journal's record. An issue not finished yet shows
what is known: its state, the memory it was given and its log so far; the open detail follows it (the log as it
grows, everything once it finishes)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Log, Static, TabbedContent, TabPane

from awm import runfiles
from awm.agent.trajectory import Described, action_text, shorten
from awm.fmt import count, duration, money
from awm.records import Experience
from awm.run.store import RunStore
from awm_tui.model import IssueRow, RunModel
from awm_tui.run_memory import RunMemory, kind_label
from awm_tui.widgets.findtext import highlighted, hit_lines, row_of

OBSERVATION_LINES = 30  # lines of one observation shown; the rest is in the run folder's log
LOG_LINES = 500  # lines of an issue in flight's log shown: its last ones
LOG_TAIL_BYTES = 400_000  # read of its end (the log is read again each second while the detail is open)
TEST_LIST_SHOWN = 30  # passing tests listed per category; failing ones are all listed
TABS = ("problem", "trajectory", "patch", "tests", "memory")
LAYOUT = RunStore(Path())  # a run folder's layout, relative to the folder
LIVE_EVERY = 1.0  # s between looks at an issue in flight (its row and its log file)
# Theme colours, so that light themes stay readable. In content spans `$text-muted` ("auto 60%") means nothing: the
# muted foreground is `$foreground-muted`.
MUTED = "$foreground-muted"
KIND_STYLE = {"action": "bold $accent", "observation": MUTED, "message": "$success", "error": "$error",
              "system": f"{MUTED} italic"}


# ---- the issue's files in the run folder

class IssueFiles:
    """Where an issue's files are in its run folder (awm.run.store's layout), and which of them exist."""

    def __init__(self, run_dir: str | Path | None, instance_id: str) -> None:
        self.run_dir = Path(run_dir) if run_dir else None
        self.instance_id = instance_id

    def path(self, relative: str) -> Path | None:
        """The file, if the run folder has it."""
        if self.run_dir is None:
            return None
        path = self.run_dir / relative
        return path if path.is_file() else None

    # the run folder's layout (RunStore's), as paths relative to the folder
    @property
    def trajectory(self) -> str:
        return str(LAYOUT.trajectory_path(self.instance_id))

    @property
    def log(self) -> str:
        return str(LAYOUT.log_path(self.instance_id))

    @property
    def patch(self) -> str:
        return str(LAYOUT.eval_dir(self.instance_id) / "patch.diff")

    @property
    def test_output(self) -> str:
        return str(LAYOUT.eval_dir(self.instance_id) / "test_output.txt")

    @property
    def report(self) -> str:
        return str(LAYOUT.eval_dir(self.instance_id) / "report.json")

    def read(self, relative: str) -> str | None:
        path = self.path(relative)
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None


# ---- the trajectory

def _texts(content: Any) -> str:
    """The text items of an SDK message or observation content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict)).strip()
    return ""


def described(raw: dict) -> Described | None:
    """One event of logs/instance_<id>.trajectory.json (the SDK's event, dumped as JSON) made readable, as the live
    log and the instance log describe the live event (awm.agent.trajectory.describe)."""
    kind = raw.get("kind")
    tool = str(raw.get("tool_name") or "")
    if kind == "ActionEvent":
        thought = _texts(raw.get("thought")).strip()
        args = {k: v for k, v in (raw.get("action") or {}).items()
                if k not in ("kind", "security_risk", "summary") and v not in (None, "", False, [])}
        return Described("action", tool, action_text(tool, args), thought)
    if kind == "ObservationEvent":
        return Described("observation", tool, shorten(_texts((raw.get("observation") or {}).get("content")), 4000))
    if kind == "AgentErrorEvent":
        return Described("error", tool, shorten(str(raw.get("error", "")), 4000))
    if kind == "ConversationErrorEvent":
        return Described("error", "", f"{raw.get('code', '')}: {shorten(str(raw.get('detail', '')), 4000)}")
    if kind == "MessageEvent":
        message = raw.get("llm_message") or {}
        return Described("message", str(message.get("role", "")), shorten(_texts(message.get("content")), 4000))
    if kind == "SystemPromptEvent":
        return Described("system", "", "system prompt set")
    return None


def trajectory_items(files: IssueFiles, experience: Experience | None) -> tuple[list[Described], str]:
    """The agent's events and where they come from: the trajectory file, else the journal's condensed steps."""
    text = files.read(files.trajectory)
    if text is not None:
        try:
            raw = json.loads(text)
            items: list[Described] = [d for d in (described(e) for e in raw if isinstance(e, dict)) if d is not None]
            return items, files.trajectory
        except (ValueError, TypeError):
            pass
    items = []
    for step in experience.history if experience is not None else []:
        items.append(Described("action", step.tool, step.action, step.thought))
        if step.observation:
            items.append(Described("observation", step.tool, step.observation))
    return items, f"{runfiles.JOURNAL} (condensed steps: no {files.trajectory})"


def read_tail(path: Path, max_bytes: int) -> tuple[str, int] | None:
    """The last `max_bytes` of a file (a log that may grow without bound) and how many bytes before them were left
    out; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - max_bytes)
            f.seek(start)
            return f.read().decode("utf-8", errors="replace"), start
    except OSError:
        return None


def trajectory_view(files: IssueFiles, experience: Experience | None) -> tuple[Content, str]:
    """The trajectory tab's text and its source. An issue in flight has no trajectory file yet (it is written at
    the end): its readable log, as far as the agent has got, is shown instead."""
    items, source = trajectory_items(files, experience)
    if items:
        return trajectory_content(items, files.log), source
    path = files.path(files.log)
    tail = read_tail(path, LOG_TAIL_BYTES) if path is not None else None
    if tail is not None:
        log, skipped = tail
        lines = log.rstrip("\n").splitlines()[1 if skipped else 0:]  # a cut first line is dropped
        earlier = skipped or len(lines) > LOG_LINES
        cut = ["… (earlier lines in the file)"] if earlier else []
        source = files.log + (" (being written)" if experience is None else "")
        return Content("\n".join(cut + lines[-LOG_LINES:])), source
    if experience is None:
        return Content.styled("no agent steps yet", MUTED), f"{files.log} (not there yet)"
    return trajectory_content([], files.log), source


def trajectory_content(items: list[Described], log_path: str) -> Content:
    if not items:
        return Content.styled("no agent steps recorded", MUTED)
    blocks = []
    step = 0
    for item in items:
        style = KIND_STYLE.get(item.kind, "")
        if item.kind == "action":
            step += 1
            head = Content.assemble((f"▶ {step}. {item.tool}", style))
            body = [Content.styled(item.thought, f"italic {MUTED}")] if item.thought else []
            body.append(Content(item.text))
            blocks.append(Content("\n").join([head, *body]))
        elif item.kind == "observation":
            lines = item.text.splitlines() or [""]
            shown = [Content.styled("  " + line, style) for line in lines[:OBSERVATION_LINES]]
            if len(lines) > OBSERVATION_LINES:
                shown.append(Content.styled(f"  … ({len(lines) - OBSERVATION_LINES} more lines in {log_path})",
                                            f"italic {MUTED}"))
            blocks.append(Content("\n").join(shown))
        elif item.kind == "message":
            blocks.append(Content.assemble((f"» {item.tool or 'message'}: ", style + " bold"), (item.text, style)))
        else:
            blocks.append(Content.assemble((f"! {item.tool}: " if item.kind == "error" else "· ", style),
                                           (item.text, style)))
    return Content("\n").join(blocks)


# ---- the patch and the tests

def diff_content(patch: str) -> Content:
    """A unified diff with added lines in $success, removed in $error, hunk headers in $accent, file headers bold:
    theme colours, readable on light themes as on dark ones."""
    lines = []
    for line in patch.rstrip("\n").splitlines():
        if line.startswith(("diff ", "--- ", "+++ ", "index ", "new file", "deleted file")):
            style = "bold"
        elif line.startswith("@@"):
            style = "$accent"
        elif line.startswith("+"):
            style = "$success"
        elif line.startswith("-"):
            style = "$error"
        else:
            style = ""
        lines.append(Content.styled(line, style) if style else Content(line))
    return Content("\n").join(lines)


def read_report(files: IssueFiles) -> dict | None:
    """The SWE-bench harness report of eval/<id>/report.json ({instance_id: {resolved, tests_status, ...}})."""
    text = files.read(files.report)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    entry = data.get(files.instance_id)
    if entry is None and len(data) == 1:
        entry = next(iter(data.values()))
    return entry if isinstance(entry, dict) else None


def _tests(names: Iterable[str], mark: str, style: str, limit: int | None = None) -> list[Content]:
    names = list(names)
    shown = names if limit is None else names[:limit]
    lines = [Content.assemble(("  " + mark + " ", style), name) for name in shown]
    if len(names) > len(shown):
        lines.append(Content.styled(f"  … and {len(names) - len(shown)} more", MUTED))
    return lines


def breakdown_content(report: dict | None, report_path: str) -> Content:
    """Which FAIL_TO_PASS and PASS_TO_PASS tests passed and which failed (failures first, all of them)."""
    if report is None:
        return Content.styled(f"no test breakdown: no {report_path} in the run folder", MUTED)
    flags = [("resolved", report.get("resolved")), ("patch applied", report.get("patch_successfully_applied"))]
    lines = [Content(" · ".join(f"{name}: {'yes' if value else 'no'}" for name, value in flags))]
    status = report.get("tests_status") or {}
    if not status:
        lines.append(Content.styled("no tests were run", MUTED))
    for category in ("FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"):
        tests = status.get(category) or {}
        success, failure = list(tests.get("success") or []), list(tests.get("failure") or [])
        if not success and not failure and category not in ("FAIL_TO_PASS", "PASS_TO_PASS"):
            continue
        total = len(success) + len(failure)
        verdict_style = "$success" if not failure else "$error"
        lines.append(Content.assemble((category, "bold"), "  ", (f"{len(success)} of {total} pass", verdict_style)))
        lines += _tests(failure, "✗", "$error")
        lines += _tests(success, "✓", "$success", TEST_LIST_SHOWN)
    return Content("\n").join(lines)


# ---- the header and the memory tab

def entries(n: int) -> str:
    return f"{n} memory {'entry' if n == 1 else 'entries'}"


def header_content(row: IssueRow, run_dir: str) -> Content:
    exp = row.experience
    folder = Content.assemble(("run folder ", MUTED), run_dir or "not known",
                              (" (not found)", MUTED)
                              if run_dir and not Path(run_dir).is_dir() else "")
    if exp is None:
        return Content("\n").join([
            Content.assemble((row.instance_id, "bold"), " — ", (row.state, "bold")),
            Content(f"not finished yet: given {entries(len(row.workflow_ids))} (memory round {row.memory_round}); "
                    "the verdict, patch and tests come when it finishes"),
            folder])
    verdict_style = {"PASS": "$success", "FAIL": "$error", "ERROR": "$error"}.get(exp.status.value, "$warning")
    return Content("\n").join([
        Content.assemble((exp.instance_id, "bold"), " — ", (exp.status.value, f"bold {verdict_style}"),
                         f": {exp.reason}" if exp.reason else ""),
        Content(f"cost {money(exp.cost)} · {count(exp.steps, 'step')} · "
                f"{count(exp.prompt_tokens + exp.completion_tokens, 'token')} · {duration(exp.duration_s)} · "
                f"agent {exp.agent_status or '–'} · memory round {exp.memory_round}"),
        folder])


def given(row: IssueRow, memory: RunMemory) -> list[dict]:
    """The memory entries the issue was given, in prompt order: {id, kind, version, round, score} (the retrieval's
    record when there is one; else the versions in memory at the issue's round, with no score)."""
    exp = row.experience
    if exp is not None and exp.retrieved:
        return [dict(r) for r in exp.retrieved]
    ids = exp.workflow_ids if exp is not None else row.workflow_ids
    round_number = exp.memory_round if exp is not None else row.memory_round
    found = []
    for entry_id in ids:
        entry = memory.entry(entry_id, round_number)
        found.append({"id": entry_id, "kind": entry.kind if entry else "workflow",
                      "version": entry.version if entry else None, "round": entry.round if entry else None,
                      "score": None})
    return found


def adherence(row: IssueRow) -> dict[str, float]:
    """How far the issue's trajectory followed each entry it was given (awm.memory.adherence): entry id -> score in
    [0, 1], the Memory tab's "adherence" column; empty before it finishes, with `memory.adherence: off`, or in a
    journal from before scores were kept (the column then shows –)."""
    exp = row.experience
    return dict(exp.adherence) if exp is not None and exp.adherence else {}


def why_none(row: IssueRow, memory: RunMemory | None = None) -> str:
    """Why an issue was given no memory entry: as its record says, else what can be told (a journal from before the
    reason was recorded)."""
    exp = row.experience
    if exp is None:
        return ""
    if exp.why_none:
        return exp.why_none
    if exp.memory_round == 0 and (memory is None or not memory.at(0)):
        return "memory held no entries yet (no induction round before this issue)"
    return "not recorded (this run's journal predates the reasons)"


def memory_info(row: IssueRow, given_entries: list[dict], memory: RunMemory | None = None) -> Content:
    exp = row.experience
    round_number = exp.memory_round if exp is not None else row.memory_round
    lines = [Content(f"memory round {round_number} · {entries(len(given_entries))} in the prompt"
                     + (f" · {exp.memory_tokens:,} memory tokens" if exp is not None and exp.memory_tokens else ""))]
    if exp is not None and not given_entries:
        lines.append(Content.assemble(("Nothing was injected: ", "bold $text-warning"), why_none(row, memory) + "."))
    if exp is not None and exp.passed_over:
        lines.append(Content.styled("Best candidates not given:" if not given_entries else
                                    "Best candidates left out:", "bold"))
        for entry in exp.passed_over:
            name = memory.name(str(entry.get("id", "")), entry.get("round")) if memory is not None else entry.get("id")
            lines.append(Content.assemble(f"  {name} ", (f"score {_score(entry.get('score'))}", "bold"),
                                          (f" — {entry.get('why', '')}", MUTED)))
    if exp is not None and exp.learned:
        lines.append(Content("in the experience buffer: induction learns from this issue"))
    if given_entries and adherence(row):
        lines.append(Content.styled("adherence: the share of an entry's steps the agent's actions matched, in order "
                                    "(word overlap, not proof the entry was used)", MUTED))
    if given_entries:
        lines.append(Content.styled("Enter on an entry: its versions and usefulness", MUTED))
    return Content("\n").join(lines)


def judge_content(exp: Experience | None) -> Content:
    if exp is None or not exp.judge:
        return Content.styled("judge: none (induction.success counts the tests)" if exp is not None else "",
                              MUTED)
    verdict = str(exp.judge.get("verdict", "?"))
    style = {"PASS": "$success", "FAIL": "$error"}.get(verdict, "$warning")
    where = exp.judge.get("reply_path")
    reasoning = str(exp.judge.get("reasoning", "")).strip()
    return Content("\n").join([
        Content.assemble(("judge: ", "bold"), (verdict, f"bold {style}"),
                         (f"  ({where})" if where else "", MUTED)),
        *([Content(reasoning)] if reasoning else []),
    ])


class IssueDetail(ModalScreen[None]):
    """`IssueDetail(row)` from the run screen (the run folder and the model are found on the screen under it), or
    `IssueDetail(row, run_dir, model)`."""

    BINDINGS = [
        Binding("escape", "back", "Close"),
        Binding("q", "dismiss", "Close"),
        Binding("c", "copy_patch", "Copy the patch"),
        Binding("o", "open_file", "Open in the pager"),
        Binding("slash", "search", "Search the tab", key_display="/"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        *[Binding(str(n), f"tab('{tab}')", tab.capitalize(), show=False) for n, tab in enumerate(TABS, 1)],
    ]
    DEFAULT_CSS = """
    IssueDetail { align: center middle; }
    IssueDetail > #detail-box {
        width: 1fr; height: 1fr; margin: 1 2; border: thick $accent; background: $surface;
    }
    IssueDetail #detail-text { height: auto; max-height: 5; padding: 0 1; }
    IssueDetail #detail-tabs { height: 1fr; }
    IssueDetail TabPane { padding: 0; }
    IssueDetail .detail-path { color: $text-muted; padding: 0 1; height: auto; }
    IssueDetail .detail-scroll { height: 1fr; padding: 0 1; }
    IssueDetail #detail-breakdown { height: auto; max-height: 50%; padding: 0 1; }
    IssueDetail #detail-output { height: 1fr; min-height: 4; }
    IssueDetail #detail-memory-list { height: auto; max-height: 50%; margin: 1 0; }
    IssueDetail #detail-search { display: none; height: 3; }
    """

    def __init__(self, row: IssueRow, run_dir: str | Path | None = None, model: RunModel | None = None) -> None:
        super().__init__()
        self.row = row
        self._run_dir = str(run_dir) if run_dir else None
        self._model = model
        self.memory = RunMemory()
        self.patch = ""  # what `c` copies
        self.test_output = ""
        self._live: Timer | None = None  # an issue not finished: the timer that keeps the detail up to date
        self._seen: tuple = ()
        self._tab = ""  # the tab to open with (a rebuild keeps the one shown)
        self.term = ""  # what / searches for (every tab; n and N move between its matches)
        self.hit: int | None = None  # the line of the match shown, in the tab searched
        self._originals: dict[str, Content] = {}  # the tabs' text before its matches were highlighted

    def _run_context(self) -> tuple[str, RunModel | None]:
        """The run folder and the model: given, or those of the run screen under this one."""
        model = self._model or next((s.model for s in reversed(self.app.screen_stack)
                                     if isinstance(getattr(s, "model", None), RunModel)), None)
        return self._run_dir or (model.run_dir if model is not None else ""), model

    def compose(self) -> ComposeResult:
        run_dir, model = self._run_context()
        self.memory.sync(run_dir, model)
        files = IssueFiles(run_dir, self.row.instance_id)
        with Vertical(id="detail-box") as box:
            box.border_title = f"Issue {self.row.instance_id}"
            box.border_subtitle = "Esc close · 1-5 tabs · / search · c copy the patch"
            yield Static(header_content(self.row, run_dir), id="detail-text")
            with TabbedContent(id="detail-tabs", initial=self._tab):
                with TabPane("Problem", id="problem"):
                    yield from self._problem()
                with TabPane("Trajectory", id="trajectory"):
                    yield from self._trajectory(files)
                with TabPane("Patch", id="patch"):
                    yield from self._patch(files)
                with TabPane("Tests", id="tests"):
                    yield from self._tests(files)
                with TabPane("Memory", id="memory"):
                    yield from self._memory()
            yield Input(placeholder="search this tab: Enter finds (n next, N previous), Esc ends", id="detail-search")

    def _problem(self) -> ComposeResult:
        exp = self.row.experience
        yield self._path(runfiles.JOURNAL if exp else "")
        with VerticalScroll(classes="detail-scroll"):
            yield Static(Content(exp.problem_statement) if exp else Content.styled(
                f"{self.row.state}: the statement is shown once the issue has finished", MUTED), id="detail-problem")

    def _trajectory(self, files: IssueFiles) -> ComposeResult:
        trajectory, source = trajectory_view(files, self.row.experience)
        yield self._path(source)
        with VerticalScroll(classes="detail-scroll"):
            yield Static(trajectory, id="detail-trajectory")

    def _patch(self, files: IssueFiles) -> ComposeResult:
        exp = self.row.experience
        on_disk = files.read(files.patch)
        self.patch = on_disk if on_disk is not None else (exp.diff_patch if exp else "")
        yield self._path(files.patch if on_disk is not None else
                         runfiles.JOURNAL + (f" (no {files.patch})" if exp else ""))
        with VerticalScroll(classes="detail-scroll"):
            yield Static(diff_content(self.patch) if self.patch.strip() else Content.styled("no patch", MUTED),
                         id="detail-patch")

    def _tests(self, files: IssueFiles) -> ComposeResult:
        """The harness report's breakdown over the whole output (a Log: thousands of lines stay cheap to show)."""
        exp = self.row.experience
        output = files.read(files.test_output)
        self.test_output = output if output is not None else (exp.test_output if exp else "")
        shown = [files.report if files.path(files.report) else "",
                 files.test_output if output is not None else
                 f"the journal's excerpt (no {files.test_output})" if exp else ""]
        yield self._path(" · ".join(p for p in shown if p))
        with VerticalScroll(id="detail-breakdown"):
            yield Static(breakdown_content(read_report(files), files.report), id="detail-tests")
        yield Log(id="detail-output", auto_scroll=False)

    def _memory(self) -> ComposeResult:
        given_entries = given(self.row, self.memory)
        yield self._path(runfiles.MEMORY if self.memory.memory is not None else "")
        with VerticalScroll(classes="detail-scroll"):
            yield Static(memory_info(self.row, given_entries, self.memory), id="detail-memory")
            table: DataTable[str | Text] = DataTable(id="detail-memory-list", cursor_type="row")
            table.add_columns("name", "kind", "v", "round", "score", "adherence")
            followed = adherence(self.row)
            for entry in given_entries:
                table.add_row(Text(self.memory.name(entry["id"], entry.get("round"))),
                              kind_label(str(entry.get("kind", ""))), _or_dash(entry.get("version")),
                              _or_dash(entry.get("round")), _score(entry.get("score")),
                              _score(followed.get(entry["id"])), key=entry["id"])
            table.display = bool(given_entries)
            yield table
            yield Static(judge_content(self.row.experience), id="detail-judge")

    def _path(self, relative: str) -> Static:
        return Static(Content.styled(relative or "nothing on disk yet", MUTED), classes="detail-path")

    def on_mount(self) -> None:
        log = self.query_one("#detail-output", Log)
        lines = self.test_output.rstrip("\n").splitlines()
        log.write_lines(lines or ["(no test output)"])
        if self.row.experience is None and self._live is None:
            # not finished: the detail follows it (the log as the agent writes it; all of it once it finishes)
            self._seen = self._signature()
            self._live = self.set_interval(LIVE_EVERY, self._catch_up)

    # ---- an issue in flight: kept up to date

    def _current_row(self) -> IssueRow:
        """The model's row for the issue (the same object while the run goes on; looked up in case it is not)."""
        _, model = self._run_context()
        return model.rows.get(self.row.instance_id, self.row) if model is not None else self.row

    def _signature(self) -> tuple:
        row = self._current_row()
        run_dir, _ = self._run_context()
        files = IssueFiles(run_dir, row.instance_id)
        stamps = []
        for relative in (files.log, files.trajectory):
            path = files.path(relative)
            try:
                stat = path.stat() if path is not None else None
            except OSError:
                stat = None
            stamps.append((stat.st_mtime_ns, stat.st_size) if stat else None)
        return row.state, row.experience is not None, tuple(row.workflow_ids), row.memory_round, *stamps

    async def _catch_up(self) -> None:
        """Once a second while the issue is not finished: what changed is shown. Its log grows: the trajectory tab
        is written again (kept at its end if it was there). It started, or finished: everything is built again
        (the tab shown is kept), and once finished the detail stops watching."""
        signature = self._signature()
        if signature == self._seen or not self.is_attached:
            return
        before, self._seen = self._seen, signature
        self.row = self._current_row()
        if signature[:4] == before[:4]:
            run_dir, _ = self._run_context()
            trajectory, source = trajectory_view(IssueFiles(run_dir, self.row.instance_id), self.row.experience)
            scroll = self.query_one("#trajectory .detail-scroll", VerticalScroll)
            at_end = scroll.scroll_y >= scroll.max_scroll_y - 1
            self.query_one("#detail-trajectory", Static).update(highlighted(trajectory, self.term))
            self._originals["trajectory"] = trajectory
            self.query_one("#trajectory .detail-path", Static).update(Content.styled(source, MUTED))
            if at_end:
                scroll.call_after_refresh(scroll.scroll_end, animate=False)
            return
        self._tab = self.query_one(TabbedContent).active
        focused = self.focused.id if self.focused is not None else None
        await self.recompose()
        self._originals.clear()
        self.on_mount()
        if focused:
            found = self.query(f"#{focused}")
            if found:
                found.first().focus()
        if self.row.experience is not None and self._live is not None:
            self._live.stop()
            self._live = None

    # ---- keys

    def action_tab(self, tab: str) -> None:
        """1-5: a tab, with the focus in it (the table in Memory, so that Enter opens an entry)."""
        self.query_one(TabbedContent).active = tab
        target = {"memory": "#detail-memory-list", "tests": "#detail-output"}.get(tab)
        widget = self.query_one(target) if target else self.query_one(f"#{tab} .detail-scroll")
        if target == "#detail-memory-list" and not widget.display:
            widget = self.query_one("#memory .detail-scroll")
        widget.focus()

    # ---- / n N: searching the tab shown

    TEXT = {"problem": "#detail-problem", "trajectory": "#detail-trajectory", "patch": "#detail-patch",
            "memory": "#detail-memory"}  # the tests tab searches its output (a Log)

    def action_search(self) -> None:
        box = self.query_one("#detail-search", Input)
        box.value, box.display = self.term, True
        box.focus()

    @on(Input.Submitted, "#detail-search")
    def _search_typed(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.term, self.hit = event.value.strip(), None
        tab = self.query_one(TabbedContent).active
        self.action_tab(tab)
        self.find(1)

    def action_next_match(self) -> None:
        self.find(1) if self.term else self.notify("Nothing searched for: / searches the tab.")

    def action_previous_match(self) -> None:
        self.find(-1) if self.term else self.notify("Nothing searched for: / searches the tab.")

    def action_back(self) -> None:
        """Esc: the search box closed, else the search ended (its highlights gone), else the detail closed."""
        box = self.query_one("#detail-search", Input)
        if box.display:
            box.display = False
            self.action_tab(self.query_one(TabbedContent).active)
        elif self.term:
            self.term, self.hit = "", None
            for tab, original in self._originals.items():
                self.query_one(self.TEXT[tab], Static).update(original)
            self._subtitle()
        else:
            self.dismiss()

    @on(TabbedContent.TabActivated, "#detail-tabs")
    def _tab_changed(self) -> None:
        if self.term:
            self.hit = None
            self.find(1)

    def find(self, step: int) -> None:
        """The next (step 1) or previous (-1) line of the tab shown that holds the term, wrapping; highlighted and
        scrolled to (a third down the pane)."""
        tab = self.query_one(TabbedContent).active
        scroll: Widget  # what scrolls to the hit: the Log itself, or the pane around the tab's Static
        if tab == "tests":
            log = self.query_one("#detail-output", Log)
            lines, scroll, top = list(log.lines), log, None
        else:
            static = self.query_one(self.TEXT[tab], Static)
            original = self._originals.setdefault(tab, static.content if isinstance(static.content, Content)
                                                  else Content.from_markup(str(static.content)))
            static.update(highlighted(original, self.term))
            lines = original.plain.split("\n")
            scroll = static.parent if isinstance(static.parent, VerticalScroll) else static
            top = static.region.y - scroll.region.y + int(scroll.scroll_y) if static.region else 0
        hits = hit_lines(lines, self.term)
        if not hits:
            self.hit = None
            self._subtitle(f"/{self.term}: no match in this tab")
            return
        if self.hit is None:
            self.hit = hits[0] if step > 0 else hits[-1]
        elif step > 0:
            self.hit = next((i for i in hits if i > self.hit), hits[0])
        else:
            self.hit = next((i for i in reversed(hits) if i < self.hit), hits[-1])
        if top is None:
            y = self.hit
        else:
            y = top + row_of(lines, self.hit, static.content_region.width or scroll.size.width)
        scroll.scroll_to(y=max(0, y - scroll.size.height // 3), animate=False, immediate=True)
        self._subtitle(f"/{self.term}: line {self.hit + 1}, match {hits.index(self.hit) + 1} of {len(hits)} · "
                       "n next · N previous · Esc ends")

    def _subtitle(self, searching: str = "") -> None:
        self.query_one("#detail-box").border_subtitle = (searching
                                                         or "Esc close · 1-5 tabs · / search · c copy the patch")

    def action_copy_patch(self) -> None:
        """c: the patch to the clipboard, through the terminal (OSC 52; some terminals need it allowed)."""
        if not self.patch.strip():
            self.notify("No patch to copy: the agent made none.", severity="warning")
            return
        self.app.copy_to_clipboard(self.patch)
        lines = len(self.patch.rstrip("\n").splitlines())
        self.notify(f"Copied the patch ({count(lines, 'line')}) to the clipboard.", title="Copied")

    def file_shown(self) -> tuple[Path | None, str]:
        """The run-folder file of the tab shown (what `o` opens), and what it is: the trajectory (its log while
        the issue is in flight), the patch, the test output (else the report), the memory."""
        run_dir, _ = self._run_context()
        files = IssueFiles(run_dir, self.row.instance_id)
        tab = self.query_one(TabbedContent).active
        choices = {"trajectory": [(files.trajectory, "trajectory"), (files.log, "log")],
                   "patch": [(files.patch, "patch")],
                   "tests": [(files.test_output, "test output"), (files.report, "test report")],
                   "memory": [(runfiles.MEMORY, "memory")]}.get(tab, [])
        if files.run_dir is None or not choices:
            return None, choices[0][1] if choices else "file for this tab"
        for relative, what in choices:
            if files.path(relative) is not None:
                return files.run_dir / relative, what
        return files.run_dir / choices[0][0], choices[0][1]

    def action_open_file(self) -> None:
        """o: the tab's file in $PAGER (else $EDITOR, else less), the app suspended until it exits."""
        from awm_tui.pager import open_in_pager

        path, what = self.file_shown()
        open_in_pager(self.app, path, what)

    @on(DataTable.RowSelected, "#detail-memory-list")
    def _open_entry(self, event: DataTable.RowSelected) -> None:
        from awm_tui.screens.memory_entry import MemoryEntryScreen

        entry_id = event.row_key.value
        if not entry_id:
            return
        entry = next((e for e in given(self.row, self.memory) if e["id"] == entry_id), {})
        self.app.push_screen(MemoryEntryScreen(entry_id, self.memory, version=entry.get("version"),
                                               mark="← given to this issue"))


def _or_dash(value: Any) -> str:
    return "–" if value is None else str(value)


def _score(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f}"
