"""The workflow memory browser: the entries in memory after any round, each as that round left it (a workflow
re-learned later shows its later steps only from that round on), with how often each was given to an issue, how
those issues went and, with a baseline run linked, whom it helped or hurt; what each round added, replaced and
evicted, and the round's induction prompt and reply; and the memory operations of `awm-tui memory RUN ...`
(disable, enable, pin, unpin) on the selected entry, which the engine applies before its next issue."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Key, Resize, Show
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static

from awm.records import Workflow
from awm.run.memory_view import EntryUsage
from awm_tui.model import RunModel
from awm_tui.run_memory import RunMemory, changes_text, kind_label, rate_text, usage_summary

LATEST = -1  # the round picker's "latest" choice
NARROW = 100  # below this width the entry's text goes under the table
KEYS = "d disable/enable · k keep (pin) · D diff · i the round's prompt · [ ] rounds · Enter: every version"
SHORT = 16  # below this height (and narrow) the entry's text is left to Enter's modal: the table keeps the room
NAME_WIDTH = 34


def describe(entry: Workflow, usage: EntryUsage, state: str, baseline: bool) -> Content:
    """An entry's text: when to use it, its steps, where it came from, and how it fared."""
    steps = [Content.assemble(f"  {i}. ", step) for i, step in enumerate(entry.steps, 1)]
    return Content("\n").join([
        Content.assemble((entry.name, "bold"), "  ", (f"{entry.id} · {entry.kind} v{entry.version} · {state}",
                                                       "$foreground-muted")),
        Content.assemble(("When to use: " if entry.kind != "pitfall" else "When it bites: ", "italic"),
                         entry.description),
        Content.styled("Steps:" if entry.kind != "pitfall" else "How to avoid it:", "italic"),
        *steps,
        Content.assemble(("Made in round ", "italic"), str(entry.round),
                         f" (first made in round {entry.created_round}) from " if entry.version > 1 else " from ",
                         ", ".join(entry.source_instances) or "–"),
        Content.assemble(("Usefulness: ", "italic"), usage_summary(usage, baseline)),
    ])


class MemoryBrowser(Vertical):
    """`show(model)` on every engine event; the table (#memory-list) is the widget the run screen focuses."""

    BORDER_TITLE = "Workflow memory"
    BINDINGS = [
        # Not in the footer (the pane's bar says them): keys that appear and vanish with the focus would rebuild the
        # footer on every tab switch; and none of them is a run-screen key (p pauses, e shows the error).
        Binding("d", "toggle_flag('disabled')", "Disable/enable", show=False),
        Binding("k", "toggle_flag('pinned')", "Keep (pin/unpin)", show=False),
        Binding("i", "induction", "Round's prompt", show=False),
        Binding("D", "diff", "Diff its versions", show=False),
        Binding("left_square_bracket", "step_round(-1)", "Earlier round", show=False),
        Binding("right_square_bracket", "step_round(1)", "Later round", show=False),
    ]
    # / (filter) and Esc (clear it) are keys of the run screen too: they are taken in on_key, not bound here, so
    # that the screen's keys stay the footer's (a binding here would shadow them and rebuild the footer)
    # Wide: the table beside the selected entry's text. Narrow: the text under the table; narrow and short (the
    # run screen's tab on a small terminal): the table alone, the text one Enter away (its modal).
    DEFAULT_CSS = """
    MemoryBrowser { height: 1fr; }
    MemoryBrowser #memory-bar { height: auto; }
    MemoryBrowser #memory-round { width: 24; }
    MemoryBrowser #memory-round-info { width: 1fr; height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    MemoryBrowser #memory-body { height: 1fr; }
    MemoryBrowser #memory-list { width: auto; max-width: 65%; height: 1fr; }
    MemoryBrowser #memory-side { width: 1fr; padding: 0 1; }
    MemoryBrowser.-narrow #memory-round { width: 18; }
    MemoryBrowser.-narrow #memory-body { layout: vertical; }
    MemoryBrowser.-narrow #memory-list { width: 1fr; max-width: 100%; height: auto; max-height: 50%; }
    MemoryBrowser.-narrow #memory-side { height: 1fr; border-top: solid $primary; }
    MemoryBrowser.-narrow.-short #memory-list { height: 1fr; max-height: 100%; }
    MemoryBrowser.-narrow.-short #memory-side { display: none; }
    MemoryBrowser.-short #memory-round-info { max-height: 1; }
    MemoryBrowser #memory-filter { dock: bottom; margin-bottom: 1; }
    MemoryBrowser #memory-keys { dock: bottom; height: 1; color: $text-muted; text-wrap: nowrap;
                                 text-overflow: ellipsis; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: RunModel | None = None
        self.source = RunMemory()
        self.round: int | None = None  # None: follow the latest round
        self._drawn: tuple | None = None  # what the table shows: (source version, round), to redraw only on change
        self._options: list[int] = []
        self._dirty = False  # shown while hidden: redrawn when the tab is opened
        self.filter_text = ""  # /: only the entries whose name, id, kind, description or steps have it

    def compose(self) -> ComposeResult:
        with Horizontal(id="memory-bar"):
            yield Select([("latest round", LATEST)], value=LATEST, allow_blank=False, compact=True, id="memory-round")
            yield Static("", id="memory-round-info")
        with Horizontal(id="memory-body"):
            table: DataTable[str | Text] = DataTable(id="memory-list", cursor_type="row", zebra_stripes=True)
            table.add_column("name", key="name")
            for label in ("kind", "v", "uses", "pass", "±base"):
                table.add_column(label, key=label)
            # fixed: its longest value ("evicted") must fit whatever rows came first (auto widths lagged a redraw)
            table.add_column("state", key="state", width=7)
            yield table
            yield VerticalScroll(Static("", id="memory-detail"), id="memory-side")
        box = Input(placeholder="filter the entries by name, id, kind or text (Enter: keep, Esc: clear)",
                    id="memory-filter")
        box.display = False
        yield box
        yield Static(KEYS, id="memory-keys", markup=False)

    # ---- feeding

    def show(self, model: RunModel) -> None:
        """The model after an engine event. While the browser is hidden (another tab) only the model is kept: the
        table is redrawn when the tab opens, so that a run's events cost nothing here."""
        self.model = model
        if self._hidden():
            self._dirty = True
            return
        self._update()

    def _hidden(self) -> bool:
        return any(not node.display for node in self.ancestors_with_self if isinstance(node, Widget))

    def on_show(self, event: Show) -> None:
        if self._dirty:
            self._update()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        self.set_class(event.size.height < SHORT, "-short")

    def _update(self) -> None:
        self._dirty = False
        if self.model is None:
            return
        self.source.sync(self.model.run_dir, self.model)
        self._note_flags()
        self._sync_rounds()
        self._draw()

    def _note_flags(self) -> None:
        """The entries disabled by the ops log, into the model (the status bar counts them apart), and the summary
        drawn again when that changed."""
        if self.model is None or self.source.memory is None:
            return
        disabled = {entry_id for entry_id, (off, _) in self.source.flags.items() if off}
        if disabled != self.model.disabled:
            self.model.disabled = disabled
            refresh = getattr(self.screen, "refresh_summary", None)
            if callable(refresh):
                refresh()

    def _sync_rounds(self) -> None:
        rounds = self.source.rounds()
        if rounds == self._options:
            return
        self._options = rounds
        select = self.query_one("#memory-round", Select)
        with select.prevent(Select.Changed):
            select.set_options([("latest round", LATEST)] +
                               [(f"after round {r}", r) for r in reversed(rounds)])
            select.value = LATEST if self.round is None or self.round not in rounds else self.round
        if self.round is not None and self.round not in rounds:
            self.round = None

    @property
    def shown_round(self) -> int:
        return self.source.latest if self.round is None else self.round

    def _draw(self, force: bool = False) -> None:
        state = (self.source.version, self.round)
        if state == self._drawn and not force:
            return
        self._drawn = state
        shown = self.shown_round
        entries = self.source.at(shown)
        baseline = self.source.usage.baseline is not None
        table = self.query_one("#memory-list", DataTable)
        selected = self.selected_id()
        table.clear()
        every = len(entries)
        entries = [entry for entry in entries if self.matches(entry)]
        for entry in entries:
            usage = self.source.usage.get(entry.id, shown)
            name = entry.name if len(entry.name) <= NAME_WIDTH else entry.name[:NAME_WIDTH - 1] + "…"
            table.add_row(Text(name), kind_label(entry.kind), str(entry.version), str(usage.uses), rate_text(usage),
                          f"+{usage.helped} −{usage.hurt}" if baseline else "–",
                          self.source.state(entry.id, self.round),  # a past round: the flags as they stood then
                          key=entry.id)
        if selected is not None and selected in {e.id for e in entries}:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        info = self.query_one("#memory-round-info", Static)
        if not self.source.rounds():
            info.update(Content("no induction round yet"))
        else:
            past = "" if self.round is None or shown == self.source.rounds()[-1] else \
                f"; counts: issues given memory up to round {shown}"
            info.update(Content(changes_text(self.source.changes(shown)) + "  (i: its prompt and reply)" + past))
        if self.filter_text.strip():
            info.update(Content(f"/{self.filter_text.strip()}: {len(entries)} of {every} entries")
                        if entries or not every else Content(f"/{self.filter_text.strip()}: no entry has it"))
        self._describe(self.selected_id())

    def matches(self, entry: Workflow) -> bool:
        """The filter (/) keeps the entry: its name, id, kind, description or a step has the text, in any case."""
        text = self.filter_text.strip().lower()
        if not text:
            return True
        fields = [entry.name, entry.id, entry.kind, kind_label(entry.kind), entry.description, *entry.steps]
        return any(text in str(field).lower() for field in fields)

    def _describe(self, entry_id: str | None) -> None:
        detail = self.query_one("#memory-detail", Static)
        entry = None if entry_id is None else self.source.entry(entry_id, self.shown_round)
        if entry is None:
            detail.update(Content.styled("no workflows in memory at this round" if self.source.rounds()
                                         else "no workflows yet", "$foreground-muted"))
            return
        usage = self.source.usage.get(entry.id, self.shown_round)
        detail.update(describe(entry, usage, self.source.state(entry.id, self.round),
                               self.source.usage.baseline is not None))

    def selected_id(self) -> str | None:
        table = self.query_one("#memory-list", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return key.value

    # ---- events and keys

    @on(Select.Changed, "#memory-round")
    def _round_changed(self, event: Select.Changed) -> None:
        value = event.value  # a round number, LATEST, or Select.NULL (none chosen)
        self.round = value if isinstance(value, int) and value != LATEST else None
        self._draw()

    @on(DataTable.RowHighlighted, "#memory-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe(event.row_key.value)

    @on(DataTable.RowSelected, "#memory-list")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self._open(event.row_key.value)

    def _open(self, entry_id: str, diff: bool = False) -> None:
        from awm_tui.screens.memory_entry import MemoryEntryScreen

        screen = MemoryEntryScreen(entry_id, self.source, round_number=self.shown_round, diff=diff)
        def closed(_: object) -> None:  # d or k there: its state
            self._note_flags()
            self._draw()

        self.app.push_screen(screen, callback=closed)

    def action_diff(self) -> None:
        """D: the highlighted entry opened with its newest version diffed against the one before (D again there:
        the older pairs)."""
        table = self.query_one("#memory-list", DataTable)
        if not table.row_count:
            return
        entry_id = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if entry_id:
            self._open(entry_id, diff=True)

    def on_key(self, event: Key) -> None:
        """/: the filter box; Esc with the box shown: the filter cleared and closed (else Esc is the screen's)."""
        box = self.query_one("#memory-filter", Input)
        if event.key == "slash" and not box.has_focus:
            event.stop()
            event.prevent_default()
            self.action_filter()
        elif event.key == "escape" and box.display:
            event.stop()
            event.prevent_default()
            self.action_close_filter()

    def action_filter(self) -> None:
        """/: filter the entries as one types; Enter keeps the filter (the table focused), Esc clears it."""
        box = self.query_one("#memory-filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#memory-filter", Input)
        box.display = False
        box.value = ""
        self.filter_text = ""
        self._draw(force=True)
        self.query_one("#memory-list", DataTable).focus()

    @on(Input.Changed, "#memory-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()  # the run screen has filter boxes of its own
        self.filter_text = event.value
        self._draw(force=True)

    @on(Input.Submitted, "#memory-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#memory-list", DataTable).focus()

    def action_step_round(self, step: int) -> None:
        """[ and ]: the memory one round earlier or later."""
        rounds = self.source.rounds()
        if not rounds:
            return
        position = rounds.index(self.shown_round) if self.shown_round in rounds else len(rounds) - 1
        target = rounds[max(0, min(len(rounds) - 1, position + step))]
        self.query_one("#memory-round", Select).value = LATEST if target == rounds[-1] else target

    def action_induction(self) -> None:
        """i: the induction prompt and reply of the round shown."""
        from awm_tui.screens.induction import InductionRoundScreen

        shown = self.shown_round
        files = self.source.induction_files(shown)
        if not files:
            where = "the run folder is not known" if not self.source.known_folder else \
                f"no induction/*_{shown:03d}.*.txt in {self.source.run_dir}"
            self.notify(f"No prompt or reply to show for round {shown}: {where}.", severity="warning")
            return
        self.app.push_screen(InductionRoundScreen(shown, files, self.source))

    def action_toggle_flag(self, flag: str) -> None:
        """d: disable or enable the selected entry; k: pin or unpin it (see RunMemory.edit)."""
        entry_id = self.selected_id()
        if entry_id is None:
            self.notify("No entry selected.", severity="warning")
            return
        message, severity = self.source.edit(entry_id, self.source.toggle(entry_id, flag))
        self.notify(message, severity=severity, title="Memory")  # type: ignore[arg-type]
        self._note_flags()
        self._draw()  # redrawn if the edit changed the flags (RunMemory.edit reads them again)
