"""The workflow memory browser: the workflows of the current or any earlier round, each with its steps,
sources, round, and how many later issues had it in their prompt and how many of those passed."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import OptionList, Select, Static
from textual.widgets.option_list import Option

from awm.records import Workflow
from awm_tui.model import RunModel


def describe(wf: Workflow, used: int, passed: int) -> str:
    steps = "\n".join(f"  {i}. {escape(step)}" for i, step in enumerate(wf.steps, 1))
    rate = f"{passed}/{used} passed" if used else "not used yet"
    return (
        f"[b]{escape(wf.name)}[/b]  [dim]{wf.id}[/dim]\n"
        f"[i]When to use:[/i] {escape(wf.description)}\n\n[i]Steps:[/i]\n{steps}\n\n"
        f"[i]Induced in round[/i] {wf.round} from {', '.join(wf.source_instances) or '–'}\n"
        f"[i]In the prompt of[/i] {used} later issue(s): {rate}"
    )


class MemoryBrowser(Horizontal):
    BORDER_TITLE = "Workflow memory"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: RunModel | None = None
        self.round: int | None = None  # None: follow the latest round

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="memory-left"):
            yield Select([("latest round", -1)], value=-1, allow_blank=False, id="memory-round")
            yield OptionList(id="memory-list")
        yield VerticalScroll(Static("[dim]no workflows yet[/dim]", id="memory-detail"), id="memory-right")

    def show(self, model: RunModel) -> None:
        self.model = model
        select = self.query_one("#memory-round", Select)
        options = [("latest round", -1)] + [(f"after round {r}", r) for r in sorted(model.rounds) if r > 0]
        if len(options) != len(select._options):
            select.set_options(options)
            select.value = -1 if self.round is None else self.round
        self._list()

    def _list(self) -> None:
        if self.model is None:
            return
        workflows = self.model.memory(self.round)
        listing = self.query_one("#memory-list", OptionList)
        highlighted = listing.highlighted
        listing.clear_options()
        listing.add_options([Option(f"{escape(w.name)} [dim](r{w.round})[/dim]", id=w.id) for w in workflows])
        if workflows:
            listing.highlighted = min(highlighted or 0, len(workflows) - 1)
            self._detail(workflows[listing.highlighted].id)
        else:
            self.query_one("#memory-detail", Static).update("[dim]no workflows in memory at this round[/dim]")

    def _detail(self, wf_id: str) -> None:
        if self.model is None or wf_id not in self.model.workflows:
            return
        usage = self.model.usage().get(wf_id)
        self.query_one("#memory-detail", Static).update(
            describe(self.model.workflows[wf_id], usage.used if usage else 0, usage.passed if usage else 0))

    @on(Select.Changed, "#memory-round")
    def _round_changed(self, event: Select.Changed) -> None:
        self.round = None if event.value in (-1, Select.BLANK) else int(event.value)
        self._list()

    @on(OptionList.OptionHighlighted, "#memory-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._detail(event.option.id)
