"""The live agent log: actions and trimmed observations of the running issue, bounded, fed in batches."""

from __future__ import annotations

from collections import deque

from textual.widgets import Log

from awm.run.events import AgentEvent

MAX_LINES = 3000
OBSERVATION_LINES = 6
WIDTH = 220
PREFIX = {"action": "▶ ", "observation": "  ", "error": "! ", "message": "» ", "system": "· "}


def render(event: AgentEvent) -> list[str]:
    lines = [line[:WIDTH] for line in event.text.splitlines() if line.strip()] or [""]
    if event.kind == "observation" and len(lines) > OBSERVATION_LINES:
        lines = lines[: OBSERVATION_LINES - 1] + [f"… ({len(lines) - OBSERVATION_LINES + 1} more lines)"]
    if event.kind in ("message", "system"):
        lines = lines[:2]
    head = f"{PREFIX.get(event.kind, '  ')}{event.tool + ': ' if event.tool and event.kind == 'action' else ''}"
    return [head + lines[0]] + ["    " + line for line in lines[1:]]


class AgentLog(Log):
    BORDER_TITLE = "Agent log"

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=True, **kwargs)
        self.only: str | None = None  # with several issues in flight: the one whose events are shown

    def drain(self, pending: deque[tuple[int, AgentEvent]], limit: int | None = 2000, before: int | None = None) -> int:
        """Write queued (number, event) pairs in one go: up to `limit` of them (None: no limit), only those numbered
        below `before` (None: any); the rest wait for the next call."""
        lines: list[str] = []
        count = 0
        while pending and (limit is None or count < limit) and (before is None or pending[0][0] < before):
            event = pending.popleft()[1]
            count += 1
            if self.only is None or event.instance_id == self.only:
                lines.extend(render(event))
        if lines:
            self.write_lines(lines[-MAX_LINES:])  # more would only be pruned
        return count
