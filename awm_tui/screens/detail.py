"""A finished issue in full: verdict, reason, patch, test output excerpt, cost, steps, workflows in its prompt."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from awm_tui.headless import money
from awm_tui.model import IssueRow


def text(row: IssueRow) -> str:
    exp = row.experience
    if exp is None:
        return f"[b]{row.instance_id}[/b]\n\n{row.state}: not finished yet."
    patch = escape(exp.diff_patch.strip()) or "[dim](no patch)[/dim]"
    output = escape(exp.test_output.strip()[-1500:]) or "[dim](no test output)[/dim]"
    workflows = ", ".join(exp.workflow_ids) or "none"
    extra = ""
    if exp.retrieved:
        scores = ", ".join(f"{r['id']} v{r.get('version', 1)} {r.get('score', 0):.2f}" for r in exp.retrieved)
        extra += f"retrieved (score): {scores} · {exp.memory_tokens:,} memory tokens\n"
    if exp.judge:
        reasoning = str(exp.judge.get("reasoning", "")).strip()
        last = reasoning.splitlines()[-1][:200] if reasoning else ""
        extra += f"judge: {exp.judge.get('verdict', '?')}" + (f" — {escape(last)}" if last else "") + "\n"
    if exp.learned:
        extra += "in the experience buffer: induction learns from this issue\n"
    return (
        f"[b]{exp.instance_id}[/b] — [b]{exp.status.value}[/b]"
        + (f": {escape(exp.reason)}" if exp.reason else "")
        + f"\n\ncost {money(exp.cost)} · {exp.steps} steps · {exp.prompt_tokens + exp.completion_tokens:,} tokens · "
        f"{exp.duration_s:.1f} s · agent {exp.agent_status or '–'}\n"
        f"workflows in the prompt (memory round {exp.memory_round}): {workflows}\n{extra}\n"
        f"[b]Patch[/b]\n{patch}\n\n[b]Test output (end)[/b]\n{output}"
    )


class IssueDetail(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("q", "dismiss", "Close")]
    DEFAULT_CSS = """
    IssueDetail { align: center middle; }
    IssueDetail > VerticalScroll { width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, row: IssueRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Issue detail (Esc to close)"
            yield Static(text(self.row), id="detail-text")
