"""The run picker: the runs in the user data dir as a table (status, progress, rate, cost, memory, workers, date,
name, id, started), sortable, with a preview that says why a run stopped; resume one, open a finished one read-only,
start a new run from a spec file (its path completed: Tab or →), or mark two runs and compare them (the `compare`
command's figures, in a screen). The palette (Ctrl+P) has the same commands (app.picker_commands).

The table is read again whenever the picker comes back on screen (from a run, a comparison): a run resumed from here
and finished must not still show "paused" (the cursor stays on the run it was on)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import DataTable, Input, Static

from awm.fmt import money, plural
from awm.run.store import RunStore, RunSummary, list_runs
from awm_tui.host import host
from awm_tui.widgets.footer import KeyFooter

if TYPE_CHECKING:

    pass

NARROW = 120  # below this many columns the preview goes under the table instead of beside it

# checkpoint.json's states, as the table shows them (RunState's values), and the theme colour of each
STATE_COLOURS = {"completed": "success", "running": "accent", "paused": "warning", "interrupted": "warning",
                 "aborted": "error", "crashed": "error", "new": ""}
STATE_ORDER = ["running", "paused", "interrupted", "aborted", "crashed", "new", "completed"]


@dataclass
class PickerRun:
    """A run as the picker shows it: list_runs' summary, and what it leaves out (the reason a run stopped, its id,
    its cost) read from the same two small files."""

    summary: RunSummary
    run_id: str
    message: str
    cost: float
    created_at: str
    memory: str = ""  # "off", or the retrieval of a run with memory (bm25, embedding, all)
    workers: int | None = None

    @property
    def key(self) -> str:
        return str(self.summary.run_dir)

    @cached_property
    def owner(self) -> int | None:
        """The pid of the live process that runs it now (0: one whose pid is not recorded), None when none does:
        Enter then watches it (awm_tui.commands.watch) instead of resuming it."""
        return RunStore(self.summary.run_dir).owner()

    @property
    def status_text(self) -> str:
        """The status column: a run another process runs says which."""
        if self.owner is None:
            return self.summary.status
        return f"running (pid {self.owner})" if self.owner else "running (another process)"

    @property
    def progress(self) -> float:
        return self.summary.processed / self.summary.total if self.summary.total else 0.0

    @classmethod
    def read(cls, summary: RunSummary) -> PickerRun:
        store = RunStore(summary.run_dir)
        config, checkpoint = store.config(), store.checkpoint()
        stats = checkpoint.get("stats") or {}
        try:
            cost = float(stats.get("cost") or 0.0)
        except (TypeError, ValueError):
            cost = 0.0
        spec = config.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        memory = spec.get("memory")
        memory = memory if isinstance(memory, dict) else {}
        enabled = str(memory.get("enabled", "on")).lower()
        try:
            workers = int(spec.get("workers", 1))
        except (TypeError, ValueError):
            workers = None
        return cls(summary=summary, run_id=str(config.get("run_id") or summary.run_dir.name),
                   message=str(checkpoint.get("message") or ""), cost=cost,
                   created_at=str(config.get("created_at") or ""),
                   memory="off" if enabled in ("off", "false", "no") else str(memory.get("retrieval") or "on"),
                   workers=workers)


@dataclass(frozen=True)
class Sort:
    column: str
    words: str
    key: Callable[[PickerRun], Any]
    reverse: bool


SORTS = [
    Sort("date", "newest first", lambda r: r.summary.updated_at, True),
    Sort("name", "by name", lambda r: (r.summary.name.lower(), r.run_id), False),
    Sort("status", "by status", lambda r: STATE_ORDER.index(r.summary.status)
         if r.summary.status in STATE_ORDER else len(STATE_ORDER), False),
    Sort("rate", "highest rate first", lambda r: (r.summary.success_rate, r.summary.processed), True),
    Sort("cost", "costliest first", lambda r: r.cost, True),
    Sort("progress", "most done first", lambda r: (r.progress, r.summary.processed), True),
]
# memory and workers before the wide columns: runs of one spec told apart even at 80 columns (the table scrolls
# sideways to the run's id, its folder's name, and when it was started)
COLUMNS = [("mark", "cmp"), ("status", "status"), ("progress", "n/N"), ("rate", "rate"), ("cost", "cost"),
           ("memory", "memory"), ("workers", "workers"), ("date", "date"), ("name", "name"), ("id", "id"),
           ("started", "started")]


def when(stamp: str) -> str:
    """2025-01-02T03:04:05 as 2025-01-02 03:04 (the table), to the minute."""
    return stamp.replace("T", " ")[:16]


def preview(run: PickerRun, marked: int | None) -> str:
    """What the run is, where it is, and why it stopped (checkpoint.json's message: the abort or pause reason)."""
    s = run.summary
    colour = STATE_COLOURS.get(s.status, "")
    state = f"[$text-{colour}]{s.status}[/]" if colour else s.status
    reason_colour = "$text-error" if s.status in ("aborted", "crashed") else "$text-warning"
    lines = [f"[b]{escape(s.name)}[/b] · {state}"]
    if run.message:
        lines.append(f"reason     [{reason_colour}]{escape(run.message)}[/]")
    lines += [
        f"id         {escape(run.run_id)}",
        f"folder     {escape(str(s.run_dir))}",
        f"progress   {s.processed}/{s.total} {plural(s.total, 'issue')}, {s.passed} passed ({s.success_rate:.1%})",
        f"cost       {money(run.cost)}",
        f"workflows  {s.workflows}",
        f"model      {escape(s.model) or '–'}",
        f"spec       {escape(s.spec_path) or '–'}",
        f"last       {escape(s.updated_at.replace('T', ' ')) or '–'}",
        "",
        ("Enter watches it (p or S there ask that process to pause or stop it; q leaves it going)"
         if run.owner is not None else "Enter opens it read-only" if s.finished else "Enter resumes it")
        + (" · marked for a comparison (the reference)" if marked == 0 else
           " · marked for a comparison" if marked == 1 else " · space marks it for a comparison"),
    ]
    return "\n".join(lines)


SPEC_SUFFIXES = (".yaml", ".yml")


def spec_completion(value: str, cwd: Path | None = None) -> str | None:
    """The completion of a typed spec path: a folder or a spec file (.yaml, .yml) in the typed path's folder whose
    name starts with what was typed (spec files before folders, then the shortest), else a spec under specs/ whose path
    starts with it. The typed text is kept as typed (~ included); a folder is completed with its "/"."""
    if not value or "\n" in value:
        return None
    cwd = cwd or Path.cwd()
    head, _, prefix = value.rpartition("/")
    folder_text = head + "/" if "/" in value else ""
    folder = Path(folder_text or ".").expanduser()
    if not folder.is_absolute():
        folder = cwd / folder
    candidates: list[tuple[int, str]] = []
    try:
        for entry in folder.iterdir():
            name = entry.name
            if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
                continue
            if entry.is_dir():
                candidates.append((1, name + "/"))
            elif entry.suffix in SPEC_SUFFIXES:
                candidates.append((0, name))
    except OSError:
        pass
    candidates = [c for c in candidates if folder_text + c[1] != value]
    if candidates:
        return folder_text + min(candidates, key=lambda c: (c[0], len(c[1]), c[1]))[1]
    specs = sorted(f"specs/{p.name}" for p in (cwd / "specs").glob("*.y*ml") if p.suffix in SPEC_SUFFIXES)
    return next((spec for spec in specs if spec.startswith(value) and spec != value), None)


class SpecSuggester(Suggester):
    """The new-run box's completion (spec_completion), read from the disk at each keystroke (no cache)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return spec_completion(value)


class SpecInput(Input):
    """The new-run box: Tab takes the completion shown (as → does at the end of the text); without one, Tab moves
    the focus on as usual."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False)]

    def action_complete(self) -> None:
        suggestion = self._suggestion
        if suggestion and len(suggestion) > len(self.value) and suggestion.startswith(self.value):
            self.value = suggestion
            self.cursor_position = len(suggestion)
        else:
            self.screen.focus_next()


class RunTable(DataTable):
    """The runs, a row each: Home and End go to the first and last run (DataTable's scroll sideways)."""

    BINDINGS = [Binding("home", "scroll_top", "First run", show=False),
                Binding("end", "scroll_bottom", "Last run", show=False)]


class RunPicker(Screen[None]):
    BINDINGS = [
        Binding("n", "new_run", "New run", id="new"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("c", "compare", "Compare", id="compare"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("f5", "reload", "Reload", id="reload"),
        Binding("q", "app.quit_now", "Quit", id="quit"),
        Binding("slash", "filter", "Filter", id="filter", key_display="/"),
        Binding("escape", "cancel_new", "Cancel", show=False),
    ]
    DEFAULT_CSS = """
    RunPicker #picker-title { height: 1; background: $panel; padding: 0 1; }
    RunPicker #picker-main { height: 1fr; }
    RunPicker #preview-box { height: 1fr; border: round $primary; padding: 0 1; }
    RunPicker #new-spec { dock: bottom; }
    RunPicker #runs-filter { dock: bottom; }
    RunPicker.narrow #picker-main { layout: vertical; }
    """
    # app.tcss gives #runs a fixed width (and user CSS always beats DEFAULT_CSS): the responsive layout is set here,
    # as screen CSS, whose selectors (type and id) are more specific than app.tcss's
    CSS = """
    RunPicker #runs { width: 3fr; height: 1fr; border: round $primary; }
    RunPicker #picker-right { width: 2fr; min-width: 40; }
    RunPicker.narrow #runs { width: 1fr; height: 1fr; }
    RunPicker.narrow #picker-right { width: 1fr; min-width: 0; height: 11; }
    """

    def __init__(self, root: Path | None = None) -> None:
        super().__init__()
        self.root = root
        self.runs: list[PickerRun] = []
        self.sort_index = 0
        self.marked: list[str] = []  # run folders marked for a comparison, in the order marked (first: reference)
        self.ready = False
        self.filter_text = ""  # /: only the runs whose name, id or status has it (any case)

    def compose(self) -> ComposeResult:
        yield Static("[b]awm-tui[/b] · runs", id="picker-title")
        with Horizontal(id="picker-main"):
            yield RunTable(id="runs", cursor_type="row")
            with Vertical(id="picker-right"):
                yield VerticalScroll(Static(id="preview"), id="preview-box")
                yield SpecInput(placeholder="path of a run spec, e.g. specs/demo.yaml — Tab or → completes, Enter "
                                "starts", id="new-spec", suggester=SpecSuggester())
        yield Input(placeholder="filter the runs by name, id or status (Enter: keep, Esc: clear)", id="runs-filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#new-spec").display = False
        self.query_one("#runs-filter").display = False
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.fill())
        remembered = getattr(self.app, "prefs", {}).get("picker_sort")  # awm_tui/prefs.py
        self.sort_index = next((i for i, sort in enumerate(SORTS) if sort.column == remembered), self.sort_index)
        self.ready = True
        self.action_reload()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Back from a run or a comparison: what is on disk now (a run resumed from here may have finished)."""
        if self.ready:
            self.action_reload()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "narrow")
        self.query_one(KeyFooter).compact = event.size.width < NARROW  # every key in 80 columns, / Filter too

    # the table
    def action_reload(self) -> None:
        self.runs = [PickerRun.read(summary) for summary in list_runs(self.root)]
        known = {run.key for run in self.runs}
        self.marked = [key for key in self.marked if key in known]
        self.fill()
        if not self.query_one("#new-spec").display:
            self.query_one("#runs").focus()

    def fill(self) -> None:
        """The table from `self.runs`, in the chosen order, the cursor kept on the run it was on."""
        table = self.query_one("#runs", DataTable)
        current = self.current()
        sort = SORTS[self.sort_index]
        self.runs.sort(key=sort.key, reverse=sort.reverse)
        table.clear()
        shown = [run for run in self.runs if self.matches(run)]
        for run in shown:
            table.add_row(*self.cells(run), key=run.key)
        counted = f"{len(shown)}/{len(self.runs)}" if self.filter_text.strip() else str(len(self.runs))
        table.border_title = f"Runs ({counted}) · sorted {sort.words}" + (
            f" · /{escape(self.filter_text.strip())}" if self.filter_text.strip() else "")
        keys = [run.key for run in shown]
        if current is not None and current.key in keys:
            table.move_cursor(row=keys.index(current.key), animate=False)
        self.update_preview()

    def matches(self, run: PickerRun) -> bool:
        """The filter (/) keeps the run: its name, id (folder) or status has the text, in any case."""
        text = self.filter_text.strip().lower()
        if not text:
            return True
        s = run.summary
        return any(text in str(field).lower() for field in (s.name, s.run_dir.name, run.run_id, run.status_text,
                                                            s.status))

    def colour(self, variable: str) -> str:
        """A theme colour (success, warning, accent…) as Rich takes it, made legible on the table's background (a
        theme's orange on a light panel is too pale as it is: awm_tui.widgets.agentlog.readable); "" if none."""
        from textual.color import Color, ColorParseError

        from awm_tui.widgets.agentlog import readable

        value = self.app.theme_variables.get(variable, "") if variable else ""
        try:
            color = Color.parse(value)
        except ColorParseError:
            return ""
        background = self.query_one("#runs").background_colors[0]
        return readable(background + color if color.a < 1 else color, background).hex

    def cells(self, run: PickerRun) -> tuple[Text, ...]:
        """A run's row. DataTable draws Rich text, which knows no $variables: the theme's colours are looked up here
        (and the table filled again when the theme changes)."""
        s = run.summary
        colour = self.colour(STATE_COLOURS.get(s.status, ""))
        mark = self.marked.index(run.key) if run.key in self.marked else None
        return (
            Text("ref" if mark == 0 else "vs" if mark == 1 else "", style=f"bold {self.colour('accent')}"),
            Text(run.status_text, style=colour or "dim"),
            Text(f"{s.processed}/{s.total}", justify="right"),
            Text(f"{s.success_rate:.0%}" if s.processed else "–", justify="right"),
            Text(money(run.cost) if run.cost else "–", justify="right"),
            Text(run.memory or "–", style="dim" if run.memory == "off" else ""),
            Text(str(run.workers) if run.workers is not None else "–", justify="right"),
            Text(when(s.updated_at)),
            Text(s.name, style="bold"),
            Text(s.run_dir.name, style="dim"),  # the folder's name: what --resume takes
            Text(when(run.created_at) or "–"),
        )

    def current(self) -> PickerRun | None:
        table = self.query_one("#runs", DataTable)
        if not self.runs or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no cursor yet
            return None
        return self.find(key)

    def find(self, key: str | None) -> PickerRun | None:
        return next((r for r in self.runs if r.key == key), None)

    def update_preview(self) -> None:
        run = self.current()
        box = self.query_one("#preview", Static)
        if run is None and self.runs and self.filter_text.strip():
            box.update(f"No run matches “{escape(self.filter_text.strip())}” (Esc clears the filter).")
        elif run is None:
            box.update("No runs yet.\n\nPress [b]n[/b] and give a run spec (e.g. specs/demo.yaml) to start one.")
        else:
            box.update(preview(run, self.marked.index(run.key) if run.key in self.marked else None))

    @on(DataTable.RowHighlighted, "#runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.update_preview()

    @on(DataTable.RowSelected, "#runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        run = self.find(event.row_key.value)
        if run is not None and RunStore(run.summary.run_dir).owner() is not None:  # another process runs it: watch
            from awm_tui.screens.watch import WatchScreen

            self.app.push_screen(WatchScreen(run.summary.run_dir, from_picker=True))
        elif run is not None:
            host(self).open_run(run.summary)

    @on(DataTable.HeaderSelected, "#runs")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column's header sorts by it."""
        column = event.column_key.value
        index = next((i for i, sort in enumerate(SORTS) if sort.column == column), None)
        if index is not None:
            self.sort_index = index
            self.fill()
            self.remember_sort()

    def action_sort(self) -> None:
        """s: the next sort order (date, name, status, rate, cost, progress)."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.fill()
        self.notify(f"Runs sorted {SORTS[self.sort_index].words}.", timeout=2)
        self.remember_sort()

    def remember_sort(self) -> None:
        remember = getattr(self.app, "remember", None)
        if remember is not None:
            remember(picker_sort=SORTS[self.sort_index].column)

    # comparing two runs
    def action_mark(self) -> None:
        """space: mark (or unmark) the run under the cursor; the first run marked is the comparison's reference."""
        run = self.current()
        if run is None:
            return
        if run.key in self.marked:
            self.marked.remove(run.key)
        elif len(self.marked) >= 2:
            self.notify("Two runs are marked already: unmark one (space) to mark another.", severity="warning")
            return
        else:
            self.marked.append(run.key)
        self.fill()

    def action_compare(self) -> None:
        """c: the two marked runs compared issue by issue (the reference is the first marked)."""
        from awm_tui.screens.compare import CompareScreen

        found = [self.find(key) for key in self.marked]
        runs = [run for run in found if run is not None]
        if len(found) != 2 or len(runs) != 2:
            self.notify("Mark two runs with space (the first marked is the reference), then press c.",
                        severity="warning")
            return
        reference, other = runs
        names = [reference.summary.name, other.summary.name]
        if names[0] == names[1]:  # compare needs distinct arm names: the folders tell them apart
            names = [reference.run_id, other.run_id]
        self.app.push_screen(CompareScreen((names[0], reference.summary.run_dir), (names[1], other.summary.run_dir)))

    # a new run
    def action_new_run(self) -> None:
        box = self.query_one("#new-spec", Input)
        box.display = True
        box.focus()

    def action_cancel_new(self) -> None:
        """Esc: close the filter (cleared) or the new run's box."""
        runs_filter = self.query_one("#runs-filter", Input)
        if runs_filter.display:
            runs_filter.display = False
            runs_filter.value = ""
            self.filter_text = ""
            self.fill()
        else:
            self.query_one("#new-spec", Input).display = False
        self.query_one("#runs").focus()

    # the filter
    def action_filter(self) -> None:
        """/: filter the runs by name, id or status as one types; Enter keeps it, Esc clears it."""
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#runs-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.fill()

    @on(Input.Submitted, "#runs-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        self.query_one("#runs").focus()

    @on(Input.Submitted, "#new-spec")
    def _new(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        if not Path(path).expanduser().is_file():
            self.notify(f"{path}: no such file", severity="error")
            return
        self.action_cancel_new()
        host(self).start_run(path)
