"""The top bar: run name, model, progress, success rate, workflows, cost, elapsed, state."""

from __future__ import annotations

from textual.widgets import Static

from awm_tui.headless import duration, money
from awm_tui.model import RunModel

STATE_STYLE = {"running": "green", "pausing": "yellow", "paused": "yellow", "stopping": "yellow",
               "completed": "cyan", "aborted": "red", "failed": "red", "starting": "dim"}
SHOWN = {"stopping": "stopping…", "pausing": "pausing…", "starting": "starting…"}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, model: RunModel) -> None:
        s = model.stats
        style = STATE_STYLE.get(model.state, "white")
        self.update(
            f"[b]awm-tui[/b] · {model.name or '…'} · {model.model or '…'} · "
            f"{s.processed}/{s.total or len(model.rows)} done · success {s.success_rate:.1%} "
            f"({s.passed}/{s.evaluated}) · {s.workflows} workflows · "
            f"{f'{len(model.running)} in flight (n: next) · ' if len(model.running) > 1 else ''}"
            f"{money(s.cost)} · {duration(s.elapsed_s)} · "
            f"[{style}]{SHOWN.get(model.state, model.state)}[/{style}]"
        )
