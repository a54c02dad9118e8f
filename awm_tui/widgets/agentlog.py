"""The live agent log: actions and trimmed observations of the running issue, bounded, fed in batches."""

from __future__ import annotations

from collections import deque

from textual.widgets import Log

from awm.events import AgentEvent

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

    def drain(self, pending: deque[AgentEvent], limit: int = 2000) -> int:
        """Write up to `limit` queued events in one go; the rest wait for the next tick."""
        lines: list[str] = []
        count = 0
        while pending and count < limit:
            lines.extend(render(pending.popleft()))
            count += 1
        if lines:
            self.write_lines(lines)
        return count
