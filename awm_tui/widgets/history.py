"""Pass/fail history: a verdict per processed issue, induction rounds marked where they happened, the running
success rate under it on a fixed 0-100% scale, and the rate without and with workflows in the prompt."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from awm_tui.model import RunModel

LEVELS = " ▁▂▃▄▅▆▇█"
BLOCK = {"PASS": "[green]█[/]", "FAIL": "[red]█[/]", "ERROR": "[bold magenta]▓[/]", "SKIPPED": "[blue]░[/]"}


def strips(model: RunModel) -> tuple[str, str]:
    """Two aligned rows, one column per processed issue: its verdict, and the success rate after it."""
    marks_at: dict[int, int] = {}
    for ind in model.inductions:
        marks_at[ind.after] = marks_at.get(ind.after, 0) + 1
    verdicts, rates = [], []
    passed = judged = 0
    for i, row in enumerate(model.history + [None]):
        verdicts.append("[b cyan]┃[/]" * marks_at.get(i, 0))
        rates.append("[b cyan]┃[/]" * marks_at.get(i, 0))
        if row is None:
            break
        verdicts.append(BLOCK.get(row.state, "?"))
        if row.state != "SKIPPED":
            judged += 1
            passed += row.state == "PASS"
        rate = passed / judged if judged else 0.0
        rates.append(f"[yellow]{LEVELS[round(rate * (len(LEVELS) - 1))]}[/]")
    return "".join(verdicts), "".join(rates)


def pct(passed: int, judged: int) -> str:
    return f"{passed / judged:.1%} ({passed}/{judged})" if judged else "–"


class HistoryPane(VerticalScroll):
    BORDER_TITLE = "History"

    def compose(self) -> ComposeResult:
        yield Static(id="strip")
        yield Static(id="summary")

    def show(self, model: RunModel) -> None:
        verdicts, rates = strips(model)
        self.query_one("#strip", Static).update(
            (f"verdicts  {verdicts}\nsuccess   {rates}" if model.history else "[dim]no issue finished yet[/dim]")
            + "\n[dim]each column one issue: [green]█[/] pass [red]█[/] fail [bold magenta]▓[/] error "
            "[blue]░[/] skipped; [yellow]▁…█[/] success rate so far (0-100%); [b cyan]┃[/] induction round[/dim]"
        )
        (p0, n0), (p1, n1) = model.rate_by_memory()
        lines = [f"without workflows in the prompt: {pct(p0, n0)}    with workflows: {pct(p1, n1)}"]
        for ind in model.inductions:
            what = f"+{len(ind.names)}: {', '.join(ind.names)}" if ind.names else (ind.error or "nothing new")
            lines.append(f"[cyan]round {ind.round}[/] after {ind.after} issues — {what}")
        self.query_one("#summary", Static).update("\n".join(lines))
