"""One issue's agent on record: its log, its live events, its clock and its trajectory, kept by one object that
the runner opens for the issue and closes when the agent is done with (`with Recorder(...) as recorder`), so the
log is closed and the trajectory written whatever ended the agent.

The SDK calls `Recorder.event` from its own threads (a conversation's run is in the guard's thread, a remote
conversation's events come from its socket's): a thread the guard gave up on may still call it after the issue is
over, and must then write nothing (`stop`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from awm.agent.trajectory import Described, describe

if TYPE_CHECKING:
    from awm.agent.workspace import OpenWorkspace
    from awm.records import Issue


@dataclass(frozen=True)
class Progress:
    """An issue's agent so far, passed with each of its events: the app shows it while the issue runs."""

    steps: int = 0  # actions taken
    cost: float = 0.0  # the model's cost so far (USD)
    tokens: int = 0  # prompt and completion tokens so far


class Clock:
    """Splits the agent's wall time into waiting for the model and running tools, from event arrival times."""

    def __init__(self) -> None:
        self.mark = time.monotonic()
        self.model = 0.0
        self.tool = 0.0
        self.steps = 0  # the agent's actions so far

    def restart(self) -> None:
        """The agent's time starts now (the conversation set up, its first message sent)."""
        self.mark = time.monotonic()

    def action(self) -> None:
        now = time.monotonic()
        self.model += now - self.mark
        self.mark = now

    def observation(self) -> None:
        now = time.monotonic()
        self.tool += now - self.mark
        self.mark = now


class Recorder:
    """The log (`log_path`, readable, scrubbed), the live events (`on_event(kind, tool, text, progress)`), the
    clock, the events made readable (`seen`, which the runner reads for the agent's status and protocol) and the
    trajectory (`trajectory_path`: every SDK event as JSON, scrubbed) of one issue's agent.

    Args:
        log_path: the issue's agent log, written as events come (its folder made if missing).
        trajectory_path: the issue's trajectory, written once when the recorder closes.
        on_event: called for each readable event with its kind, tool, scrubbed text and the Progress so far.
        scrub: known secrets out of whatever is written or passed on.
        usage: the issue's (cost, tokens) so far, for the events' Progress.
    """

    def __init__(self, log_path: Path, trajectory_path: Path, on_event: Callable[..., None],
                 scrub: Callable[[str], str], usage: Callable[[], tuple[float, int]]):
        self.log_path = log_path
        self.trajectory_path = trajectory_path
        self.on_event = on_event
        self.scrub = scrub
        self.usage = usage
        self.clock = Clock()
        self.seen: list[Described] = []
        self.raw: list[dict] = []
        self._log: TextIO | None = None
        self._live = threading.Event()  # cleared when the agent is done with: a thread left running writes nothing
        self._writing = threading.Lock()

    def __enter__(self) -> Recorder:
        """Opens the log (its folder made). Raises OSError if it cannot be written."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")  # closed by __exit__
        self._live.set()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stops the recording, closes the log and writes the trajectory, whatever ended the agent."""
        self.stop()
        if self._log is not None:
            self._log.close()
        self.trajectory_path.write_text(self.scrub(json.dumps(self.raw, ensure_ascii=False)))

    def header(self, issue: Issue, workspace: OpenWorkspace, memory_block: str) -> None:
        """The log's first lines: the issue, where its agent works, and the memory it was given."""
        self._write(f"# {issue.instance_id}  repo {issue.repo}  base {issue.base_commit}\n")
        self._write(f"# workspace {workspace.repo_path}\n")
        server = getattr(workspace, "server", None)  # an agent server's address (never its key)
        if server:
            self._write(f"# agent server {server}\n")
        if memory_block:
            self._write(f"# workflow memory in the system prompt:\n{memory_block}\n")

    def event(self, event: Any) -> None:
        """The conversation's callback: one SDK event timed, kept for the trajectory, and (when it reads as
        something) logged and passed on. Nothing once `stop` was called."""
        with self._writing:
            if self._live.is_set():
                self._record(event)

    def stop(self) -> None:
        """No event is recorded from now on (the agent is done with; its thread may not be)."""
        with self._writing:
            self._live.clear()

    def footer(self, status: str, error: str, nudges: int) -> None:
        """The log's last line: how the agent ended."""
        self._write(f"# agent status: {status} {self.scrub(error)}"
                    f"{f' (nudged {nudges} times)' if nudges else ''}\n")

    def _record(self, event: Any) -> None:
        kind = type(event).__name__
        if kind == "ActionEvent":
            self.clock.action()
        elif kind in ("ObservationEvent", "AgentErrorEvent"):
            self.clock.observation()
        try:
            self.raw.append(event.model_dump(mode="json"))
        except Exception:  # noqa: BLE001 - a trajectory record must never stop the agent
            self.raw.append({"kind": kind})
        item = describe(event)
        if item is None:
            return
        self.seen.append(item)
        text = self.scrub(item.display)
        self._write(f"[{time.strftime('%H:%M:%S')}] {item.kind.upper()} {item.tool}\n{text}\n\n")
        if item.kind == "action" and not item.rejected:  # a call the agent could not run is no step
            self.clock.steps += 1
        cost, tokens = self.usage()
        self.on_event(item.kind, item.tool, text, Progress(self.clock.steps, cost, tokens))

    def _write(self, text: str) -> None:
        assert self._log is not None, "a Recorder writes only inside its `with`"
        self._log.write(text)
        self._log.flush()
