"""Progress at a glance, under the status bar: a bar with n/N and the ETA, the average cost per issue and the
projected total (against the budget, when the spec sets one); under it the issue(s) in flight with their clock,
steps and cost so far, or, while the engine starts, how long it has been starting and what it is doing.

Everything here is computed from the model and its clock (`RunModel.clock`): redrawn on every engine event and
every second (the app's tick), cheaply."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import ProgressBar

from awm.fmt import count, duration, money
from awm_tui.model import RunModel
from awm_tui.widgets.statusbar import WIDE, Field, Line, fit

MUTED = "$foreground-muted"


def progress_fields(model: RunModel) -> list[Field]:
    s = model.stats
    fields = [Field(0, (f"{s.processed}/{model.total}",), keep=True)]
    eta = model.eta()
    if eta is not None and model.state in ("running", "pausing"):
        fields.append(Field(1, (f"ETA {duration(eta)}",), keep=True))
    average, projected = model.average_cost(), model.projected_cost()
    if average is not None and projected is not None:
        fields.append(Field(2, (f"{money(average)}/issue → {money(projected)}", f"→ {money(projected)}")))
    if model.budget is not None:
        used = model.cost_so_far() / model.budget if model.budget else 0.0
        style = "$error" if used >= 0.9 else "$warning" if used >= 0.7 else MUTED
        budget = f"${model.budget:,.2f}"
        fields.append(Field(3, (f"[{style}]budget {budget} ({used:.0%} used)[/]", f"[{style}]budget {budget}[/]")))
    return fields


def in_flight_fields(model: RunModel) -> list[Field]:
    """The line under the bar: what is happening now."""
    if model.state == "starting":
        step = model.startup[-1] if model.startup else "starting the engine"
        return [Field(0, (f"[$warning]starting… {duration(model.starting_for())}[/]",), keep=True),
                Field(1, (escape(step) + "…",))]
    now = model.clock()
    fields = []
    for n, iid in enumerate(model.running):
        row = model.rows.get(iid)
        if row is None:
            continue
        elapsed = row.elapsed(now)
        parts = [f"[$warning]▶[/] {escape(iid)}", duration(elapsed) if elapsed is not None else ""]
        if row.steps is not None:
            parts.append(count(row.steps, "step"))
        if row.cost is not None:
            parts.append(money(row.cost))
        full = " ".join(p for p in parts if p)
        fields.append(Field(n + (0 if iid == model.current else 1), (full, f"[$warning]▶[/] {escape(iid)}")))
    if fields:
        return fields
    folder = f"[{MUTED}]folder {escape(model.run_dir)}[/]" if model.run_dir else ""
    return [Field(0, (folder,))] if folder else []


class RunProgress(Vertical):
    DEFAULT_CSS = """
    RunProgress { height: 2; padding: 0 1; }
    RunProgress > Horizontal { height: 1; }
    RunProgress ProgressBar { width: auto; }
    RunProgress ProgressBar Bar { width: 24; }
    RunProgress #progress-text { width: 1fr; height: 1; padding: 0 0 0 1; }
    RunProgress #in-flight { height: 1; }
    """

    model: RunModel | None = None

    def compose(self) -> ComposeResult:
        self.bar = ProgressBar(show_eta=False, id="progress-bar")
        self.figures = Line(id="progress-text")
        self.line = Line(id="in-flight")
        with Horizontal():
            yield self.bar
            yield self.figures
        yield self.line

    def show(self, model: RunModel) -> None:
        self.model = model
        if not self.line.is_attached:  # the app is closing: its widgets are being removed
            return
        if model.state == "starting" and not model.total:
            self.bar.update(total=None)  # an indeterminate bar: something is happening
        else:
            self.bar.update(total=max(1, model.total), progress=model.stats.processed)
        width = self.content_size.width if self.content_size.width else WIDE
        self.figures.set(fit(progress_fields(model), max(10, width - 30)))
        self.line.set(fit(in_flight_fields(model), width, "  "))

    def on_resize(self, event: events.Resize) -> None:
        if self.model is not None:
            self.show(self.model)
