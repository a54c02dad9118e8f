"""What the engine tells its subscribers (the headless printer, the UI). Plain frozen records, no behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from awm.records import Experience, Status, Workflow
from awm.run.stats import Stats


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class RunStarted(Event):
    run_id: str
    run_dir: str
    name: str
    model: str
    instance_ids: tuple[str, ...]
    finished_ids: tuple[str, ...]
    resumed: bool
    stats: Stats
    order: str = ""  # how the issues are ordered when not by id: "chronological", "shuffle (seed 2)"
    notices: tuple[str, ...] = ()  # warnings the start line gives (an agent that runs unconfined: what it can reach)
    warm_from: str = ""  # memory.from: the run or memory.json this run's memory started from


@dataclass(frozen=True)
class IssueStarted(Event):
    instance_id: str
    index: int  # 1-based position in the run's issue list
    total: int
    workflow_ids: tuple[str, ...]
    memory_round: int


@dataclass(frozen=True)
class AgentEvent(Event):
    instance_id: str
    kind: str  # action | observation | message | error | system
    tool: str
    text: str
    # the issue's agent so far, when known (None: not said): actions taken, model cost and tokens
    steps: int | None = None
    cost: float | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class IssueFinished(Event):
    instance_id: str
    index: int
    total: int
    status: Status
    reason: str
    cost: float
    steps: int
    duration_s: float
    stats: Stats
    # seconds: workspace, agent_setup, model_wait, tool, evaluation, tests, bookkeeping
    timings: dict = field(default_factory=dict)
    experience: Experience | None = None


@dataclass(frozen=True)
class InductionStarted(Event):
    round: int
    instance_ids: tuple[str, ...]
    kind: str = "workflow"  # workflow (from successes) | pitfall (from failures)


@dataclass(frozen=True)
class InductionFinished(Event):
    round: int
    new_workflows: tuple[Workflow, ...]
    workflow_ids: tuple[str, ...]  # the memory after this round
    error: str = ""  # a failed attempt: why (the round is retried after the next issue)
    duration_s: float = 0.0
    reply_path: str = ""  # a failed attempt's reply, relative to the run folder ("" when there was none)
    kind: str = "workflow"
    # the ids the round evicted from memory (its capacity); in new_workflows, an entry of version > 1 was updated
    # (re-learned and merged into an existing entry), one of version 1 added
    evicted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice(Event):
    """Something the run's user must hear about that is no issue's result, said once in the log (the headless
    printer's `awm-tui: warning:` lines, the app's live log and a notification): an agent server that stopped
    answering and was taken out of the run."""

    text: str
    instance_id: str = ""  # the issue it concerns, if one


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    processed: int


@dataclass(frozen=True)
class RunFinished(Event):
    outcome: str  # completed | paused | aborted
    message: str
    stats: Stats
    run_dir: str = ""


# What the engine calls with each event (Engine.emit): from the engine's threads (the run's, its workers' with
# workers > 1, the control-request poller's), never two at once and in the order the events were emitted. A
# subscriber that does slow work, or touches a UI, hands the event to its own thread (the app posts a message).
Subscriber = Callable[[Event], None]
