"""One memory entry in full: every version of it (what each round made it say, and from which issues), its state,
and how it fared in the issues it was given. Opened from the memory browser and from an issue's Memory tab."""

from __future__ import annotations

import difflib

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from awm.fmt import count
from awm.records import PITFALL, Workflow
from awm_tui.run_memory import RunMemory, usage_summary


def version_text(entry: Workflow, mark: str = "") -> Content:
    steps = [Content(f"    {i}. {step}") for i, step in enumerate(entry.steps, 1)]
    when = "When it bites" if entry.kind == PITFALL else "When to use"
    return Content("\n").join([
        Content.assemble((f"v{entry.version}", "bold $accent"), f" · round {entry.round} · ", (entry.name, "bold"),
                         (f"  {mark}" if mark else "", "$success")),
        Content.assemble(("  " + when + ": ", "italic"), entry.description),
        *steps,
        Content.styled(f"  learned from: {', '.join(entry.source_instances) or '–'}", "$foreground-muted"),
    ])


def version_lines(entry: Workflow) -> list[str]:
    """A version as plain lines (its name, when to use it, its numbered steps): what a diff compares."""
    when = "When it bites" if entry.kind == PITFALL else "When to use"
    return [entry.name, f"{when}: {entry.description}", *(f"{i}. {step}" for i, step in enumerate(entry.steps, 1))]


def diff_text(older: Workflow, newer: Workflow) -> Content:
    """A unified diff (difflib) of two versions' rendered steps: removed lines in red, added ones in green."""
    lines = list(difflib.unified_diff(version_lines(older), version_lines(newer),
                                      fromfile=f"v{older.version} (round {older.round})",
                                      tofile=f"v{newer.version} (round {newer.round})", lineterm=""))
    if not lines:
        return Content.styled(f"v{older.version} and v{newer.version} read the same.", "$foreground-muted")
    styles = {"---": "bold $error", "+++": "bold $success", "@@": "$accent", "-": "$error", "+": "$success"}
    return Content("\n").join(
        Content.styled(line, next((style for start, style in styles.items() if line.startswith(start)), ""))
        for line in lines)


def entry_text(memory: RunMemory, entry_id: str, round_number: int | None = None, marked_version: int | None = None,
               mark: str = "") -> Content:
    """The entry's header, usefulness and versions (newest first). `marked_version` gets `mark` beside it (the
    version an issue was given); without one, the version in effect after `round_number` is marked."""
    versions = memory.history(entry_id)
    current = memory.entry(entry_id)
    if current is None:
        return Content(f"{entry_id}: not in this run's memory.")
    if marked_version is None and round_number is not None:
        shown = memory.entry(entry_id, round_number)
        marked_version, mark = (shown.version, f"← after round {round_number}") if shown else (None, "")
    # a first version's round is where it was made (created_round is only meaningful once it was re-learned)
    first = current.created_round if current.version > 1 else (versions[0].round if versions else current.round)
    state = memory.state(entry_id)
    state_style = "$error" if state.startswith("off") or state == "evicted" else "$success"
    usage = memory.usage.get(entry_id)  # the whole run: the entry in full (the browser shows it up to a round)
    header = Content("\n").join([
        Content.assemble((current.name, "bold"), "  ", (entry_id, "$foreground-muted")),
        Content.assemble(f"{current.kind} · {count(len(versions) or 1, 'version')} · first made in round {first} · ",
                         (state, state_style)),
        Content(usage_summary(usage, memory.usage.baseline is not None)),
        *([Content.styled(f"baseline run: {memory.baseline_label}", "$foreground-muted")] if memory.baseline_label
          else []),
    ])
    blocks = [version_text(v, mark if v.version == marked_version else "") for v in reversed(versions or [current])]
    return Content("\n\n").join([header, *blocks])


class MemoryEntryScreen(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("q", "dismiss", "Close"),
                ("d", "toggle_flag('disabled')", "Disable/enable"), ("k", "toggle_flag('pinned')", "Keep (pin/unpin)"),
                ("D", "diff", "Diff a version against the one before")]
    DEFAULT_CSS = """
    MemoryEntryScreen { align: center middle; }
    MemoryEntryScreen > VerticalScroll {
        width: 1fr; height: 1fr; margin: 1 2; border: thick $accent; background: $surface; padding: 0 1;
    }
    MemoryEntryScreen > #entry-diff-box { margin: 0 2 1 2; height: 1fr; }
    """

    def __init__(self, entry_id: str, memory: RunMemory, *, round_number: int | None = None,
                 version: int | None = None, mark: str = "", diff: bool = False) -> None:
        super().__init__()
        self.diff_at_once = diff  # opened by D in the memory browser: the diff shown at once
        self.entry_id = entry_id
        self.memory = memory
        self.round_number = round_number
        self.version = version
        self.mark = mark
        self.diffed: int | None = None  # the version whose diff against the one before is shown (D)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="entry-scroll") as scroll:
            scroll.border_title = "Memory entry"
            scroll.border_subtitle = "d disable/enable · k keep (pin) · D diff versions · Esc close"
            yield Static(entry_text(self.memory, self.entry_id, self.round_number, self.version, self.mark),
                         id="entry-text")
        with VerticalScroll(id="entry-diff-box") as box:
            box.border_title = "Diff"
            yield Static("", id="entry-diff")

    def on_mount(self) -> None:
        self.query_one("#entry-diff-box").display = False
        self.query_one("#entry-scroll").focus()
        if self.diff_at_once:
            self.action_diff()

    def action_diff(self) -> None:
        """D: the newest version against the one before, in a pane under the entry; D again: the next older pair;
        after the oldest pair the pane closes (Esc closes it too)."""
        versions = self.memory.history(self.entry_id)
        box = self.query_one("#entry-diff-box", VerticalScroll)
        if len(versions) < 2:
            self.notify("This entry has one version: nothing to compare.", title="Memory")
            return
        numbers = [v.version for v in versions]
        if self.diffed is None:
            index = len(versions) - 1
        else:
            index = (numbers.index(self.diffed) if self.diffed in numbers else len(versions)) - 1
        if index < 1:
            self.close_diff()
            return
        older, newer = versions[index - 1], versions[index]
        self.diffed = newer.version
        box.border_title = f"Diff: v{older.version} → v{newer.version}"
        box.border_subtitle = "D older pair · Esc close"
        self.query_one("#entry-diff", Static).update(diff_text(older, newer))
        box.display = True
        box.scroll_home(animate=False)

    def close_diff(self) -> bool:
        box = self.query_one("#entry-diff-box")
        if not box.display:
            return False
        box.display, self.diffed = False, None
        return True

    async def action_dismiss(self, result: None = None) -> None:
        """Esc: close the diff pane first, then the screen."""
        if not self.close_diff():
            await super().action_dismiss(result)

    def action_toggle_flag(self, flag: str) -> None:
        """d, k: the memory browser's operations on this entry (RunMemory.edit); the text shows the new state."""
        message, severity = self.memory.edit(self.entry_id, self.memory.toggle(self.entry_id, flag))
        self.notify(message, severity=severity, title="Memory")  # type: ignore[arg-type]
        self.query_one("#entry-text", Static).update(
            entry_text(self.memory, self.entry_id, self.round_number, self.version, self.mark))
