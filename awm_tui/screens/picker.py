"""The run picker: the runs in the user data dir with a preview; resume one, open a finished one read-only, or
start a new run from a spec file."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from awm.run.store import RunSummary, list_runs


def row(run: RunSummary) -> str:
    done = "[cyan]finished[/]" if run.finished else f"[yellow]{run.status}[/]"
    return (f"[b]{escape(run.name)}[/b]  {run.processed}/{run.total}  {run.success_rate:.0%}  {done}\n"
            f"[dim]{escape(run.model)} · {run.updated_at.replace('T', ' ')}[/dim]")


def preview(run: RunSummary) -> str:
    return (
        f"[b]{escape(run.name)}[/b]\n\n"
        f"folder     {escape(str(run.run_dir))}\n"
        f"spec       {escape(run.spec_path) or '–'}\n"
        f"model      {escape(run.model)}\n"
        f"progress   {run.processed}/{run.total} issues, {run.passed} passed ({run.success_rate:.1%})\n"
        f"workflows  {run.workflows}\n"
        f"status     {run.status}\n"
        f"last       {run.updated_at.replace('T', ' ')}\n\n"
        + ("Enter opens it read-only." if run.finished else "Enter resumes it.")
    )


class RunPicker(Screen[None]):
    BINDINGS = [
        Binding("n", "new_run", "New run from a spec", id="new"),
        Binding("f5", "reload", "Reload", id="reload"),
        Binding("q", "app.quit_now", "Quit", id="quit"),
        Binding("escape", "cancel_new", "Cancel", show=False),
    ]

    def __init__(self, root: Path | None = None) -> None:
        super().__init__()
        self.root = root
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Static("[b]awm-tui[/b] · runs", id="picker-title")
        with Horizontal(id="picker-main"):
            yield OptionList(id="runs")
            with Vertical(id="picker-right"):
                yield VerticalScroll(Static(id="preview"), id="preview-box")
                yield Input(placeholder="path of a run spec, e.g. specs/demo.yaml — Enter to start", id="new-spec")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs").border_title = "Runs"
        self.query_one("#new-spec").display = False
        self.action_reload()

    def action_reload(self) -> None:
        self.runs = list_runs(self.root)
        runs = self.query_one("#runs", OptionList)
        runs.clear_options()
        runs.add_options([Option(row(r), id=str(r.run_dir)) for r in self.runs])
        if self.runs:
            runs.highlighted = 0
            self.query_one("#preview", Static).update(preview(self.runs[0]))
        else:
            self.query_one("#preview", Static).update(
                "No runs yet.\n\nPress [b]n[/b] and give a run spec (e.g. specs/demo.yaml) to start one.")
        runs.focus()

    @on(OptionList.OptionHighlighted, "#runs")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        run = self._run(event.option.id)
        if run is not None:
            self.query_one("#preview", Static).update(preview(run))

    @on(OptionList.OptionSelected, "#runs")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        run = self._run(event.option.id)
        if run is not None:
            self.app.open_run(run)

    def action_new_run(self) -> None:
        box = self.query_one("#new-spec", Input)
        box.display = True
        box.focus()

    def action_cancel_new(self) -> None:
        box = self.query_one("#new-spec", Input)
        box.display = False
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
        self.app.start_run(path)

    def _run(self, run_dir: str | None) -> RunSummary | None:
        return next((r for r in self.runs if str(r.run_dir) == run_dir), None)
