"""The issue queue: every issue with its state; the running one highlighted."""

from __future__ import annotations

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from awm_tui.model import RUNNING, WAITING, IssueRow

MARKS = {WAITING: ("·", "dim"), RUNNING: ("▶", "bold yellow"), "PASS": ("✓", "green"), "FAIL": ("✗", "red"),
         "ERROR": ("!", "bold red"), "SKIPPED": ("–", "blue")}


def label(row: IssueRow) -> str:
    mark, style = MARKS.get(row.state, ("?", "white"))
    state = row.state.lower() if row.state in (WAITING, RUNNING) else row.state
    return f"[{style}]{mark} {row.instance_id}  {state}[/{style}]"


class IssueQueue(OptionList):
    BORDER_TITLE = "Issues"

    followed: int | None = None  # the row the highlight was moved to for the running issue

    def show(self, rows: list[IssueRow], current: str | None) -> None:
        highlighted = self.highlighted
        self.clear_options()
        self.add_options([Option(label(r), id=r.instance_id) for r in rows])
        browsing = highlighted is not None and highlighted != self.followed
        if current is not None and not browsing:  # follow the running issue unless the user moved away
            self.highlighted = self.followed = next(i for i, r in enumerate(rows) if r.instance_id == current)
        elif highlighted is not None and rows:
            self.highlighted = min(highlighted, len(rows) - 1)
