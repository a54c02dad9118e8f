"""The UI's picture of a run, built only from the engine's events (or a run folder read for display).
Plain Python: the widgets render it, tests assert on it.

Clocks: every time the model keeps (an issue's start, when the engine last said the run's elapsed time) is read
from `RunModel.clock`, a replaceable function (the app sets its own; tests and snapshots freeze it), so that what
ticks on screen between two events is computed here and never depends on the wall clock in a test."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from awm import runfiles
from awm.records import Experience, Status, Workflow
from awm.run import events as ev
from awm.run.stats import Stats
from awm.run.view import RunView

WAITING, RUNNING = "waiting", "running"
ACTIVE = ("running", "pausing", "stopping")  # states in which the run's clock ticks
LAST_ACTIONS = 5  # actions of an issue in flight kept for its "so far" view
ERROR_STREAK = 3  # this many ERRORs in a row is worth a notification: something is broken, not the issues


@dataclass
class IssueRow:
    instance_id: str
    state: str = WAITING  # waiting | running | PASS | FAIL | ERROR | SKIPPED
    workflow_ids: tuple[str, ...] = ()
    memory_round: int = 0
    experience: Experience | None = None
    position: int = 0  # 1-based place in the run's issue list: the queue's default order
    # in flight only (None otherwise): when it started on the model's clock, and the agent's progress so far
    started_at: float | None = None
    steps: int | None = None
    cost: float | None = None
    tokens: int | None = None
    last_actions: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_ACTIONS))

    def elapsed(self, now: float) -> float | None:
        """Seconds on it: its duration once finished, the time since it started while in flight."""
        if self.experience is not None and self.state not in (WAITING, RUNNING):
            return self.experience.duration_s
        if self.started_at is not None:
            return max(0.0, now - self.started_at)
        return None

    @property
    def spent(self) -> float | None:
        """Its cost: final once finished, so far while in flight."""
        if self.experience is not None and self.state not in (WAITING, RUNNING):
            return self.experience.cost
        return self.cost

    @property
    def taken(self) -> int | None:
        """Its agent steps: final once finished, so far while in flight."""
        if self.experience is not None and self.state not in (WAITING, RUNNING):
            return self.experience.steps
        return self.steps


@dataclass
class Induction:
    round: int
    after: int  # issues processed when it happened
    names: tuple[str, ...]  # the entries it added
    error: str = ""
    updated: tuple[str, ...] = ()  # the entries it re-learned ("name vN": merged into an existing entry)
    evicted: tuple[str, ...] = ()  # the entries it evicted (memory's capacity)

    def what(self) -> str:
        """What the round did, honestly: "+1: A; 2 updated: B v2, C v3; −1 evicted: D" (a round that only
        re-learned entries adds none); else its error, or "nothing new"."""
        parts = ([f"+{len(self.names)}: {', '.join(self.names)}"] if self.names else []) + (
            [f"{len(self.updated)} updated: {', '.join(self.updated)}"] if self.updated else []) + (
            [f"−{len(self.evicted)} evicted: {', '.join(self.evicted)}"] if self.evicted else [])
        return "; ".join(parts) or self.error or "nothing new"


def induction_of(event: ev.InductionFinished, after: int, known: dict[str, Workflow]) -> Induction:
    """An induction round's event as what it did: added (a first version), updated (a later one), evicted."""
    return Induction(event.round, after, tuple(w.name for w in event.new_workflows if w.version <= 1), event.error,
                     tuple(f"{w.name} v{w.version}" for w in event.new_workflows if w.version > 1),
                     tuple(known[i].name if i in known else i for i in event.evicted))


def read_budget(run_dir: str) -> float | None:
    """The run's spending limit (budget.max_cost_usd), from the spec recorded in its folder's config.json: the
    engine's events do not carry it. None when there is none or the folder cannot be read."""
    try:
        config = json.loads((Path(run_dir) / runfiles.CONFIG).read_text(encoding="utf-8"))
        value = ((config.get("spec") or {}).get("budget") or {}).get("max_cost_usd")
        return float(value) if value is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


@dataclass
class RunModel:
    name: str = ""
    model: str = ""
    run_dir: str = ""
    state: str = "starting"  # starting | running | pausing | paused | stopping | completed | aborted | failed
    message: str = ""
    rows: dict[str, IssueRow] = field(default_factory=dict)
    current: str | None = None  # the issue in flight the live log follows
    running: list[str] = field(default_factory=list)  # every issue in flight (workers > 1), in start order
    pinned: bool = False  # the user chose `current` (n: next in flight); otherwise it follows the newest start
    stats: Stats = field(default_factory=Stats)
    history: list[IssueRow] = field(default_factory=list)  # processed, in order
    inductions: list[Induction] = field(default_factory=list)
    workflows: dict[str, Workflow] = field(default_factory=dict)  # latest version of every workflow seen
    rounds: dict[int, tuple[str, ...]] = field(default_factory=lambda: {0: ()})  # memory after each round
    run_id: str = ""
    budget: float | None = None  # budget.max_cost_usd of the run's spec, when it sets one
    error: str = ""  # the last error (a failed start, an aborted run): kept on screen, re-openable
    streak: int = 0  # ERRORs in a row, up to the last finished issue
    startup: list[str] = field(default_factory=list)  # what the start-up said it was doing, in order
    clock: Callable[[], float] = time.monotonic
    stats_at: float | None = None  # the clock when `stats` (and its elapsed time) last came from the engine
    starting_at: float | None = None  # the clock when the engine was asked to start
    progressed: set[str] = field(default_factory=set)  # issues whose steps/cost/tokens changed, not yet redrawn
    # the memory entries known to be disabled (never given to an issue): from the versions the events carry, and
    # the ops log as the memory browser reads it
    disabled: set[str] = field(default_factory=set)

    @property
    def memory_round(self) -> int:
        return max(self.rounds)

    def disabled_in_memory(self) -> int:
        """How many of the entries in memory now are disabled: in memory's count, but never given."""
        current = self.rounds.get(max(self.rounds), ()) if self.rounds else ()
        return len(self.disabled.intersection(current)) if current else 0

    # ------------------------------------------------------------------ what ticks between events
    @property
    def total(self) -> int:
        return self.stats.total or len(self.rows)

    def elapsed(self) -> float:
        """The run's elapsed time: the engine's figure, plus the time since it said so while the run is on."""
        extra = self.clock() - self.stats_at if self.state in ACTIVE and self.stats_at is not None else 0.0
        return self.stats.elapsed_s + max(0.0, extra)

    def starting_for(self) -> float:
        """Seconds since the engine was asked to start (the start-up takes 15-20 s)."""
        return max(0.0, self.clock() - self.starting_at) if self.starting_at is not None else 0.0

    def cost_so_far(self) -> float:
        """The run's cost with what the issues in flight have spent so far (the engine counts them when they end)."""
        return self.stats.cost + sum(self.rows[i].cost or 0.0 for i in self.running if i in self.rows)

    def average_cost(self) -> float | None:
        """Cost per processed issue (induction and judging included), None before the first one."""
        return self.stats.cost / self.stats.processed if self.stats.processed else None

    def projected_cost(self) -> float | None:
        """What the whole run will cost at the average so far."""
        average = self.average_cost()
        return average * self.total if average is not None else None

    def eta(self) -> float | None:
        """Seconds left at the pace so far (wall time per processed issue, so several workers count), None before
        the first issue or once nothing is left."""
        s = self.stats
        left = self.total - s.processed
        if not s.processed or left <= 0:
            return None
        return self.elapsed() / s.processed * left

    # ------------------------------------------------------------------ events
    def apply_agent(self, event: ev.AgentEvent) -> None:
        """An agent event: the issue's progress so far (steps, cost, tokens) and its last actions. O(1): called for
        every agent event, thousands a second in a flood."""
        row = self.rows.get(event.instance_id)
        if row is None:
            return
        figures = (row.steps, row.cost, row.tokens)
        if event.steps is not None:
            row.steps = event.steps
        if event.cost is not None:
            row.cost = event.cost
        if event.tokens is not None:
            row.tokens = event.tokens
        if (row.steps, row.cost, row.tokens) != figures:
            self.progressed.add(row.instance_id)
        if event.kind == "action":
            first = next((line for line in event.text.splitlines() if line.strip()), "")
            row.last_actions.append(f"{event.tool}: {first}"[:160] if event.tool else first[:160])

    def take_progressed(self) -> set[str]:
        """The issues whose figures changed since the last call (to redraw their rows once per batch of events)."""
        taken, self.progressed = self.progressed, set()
        return taken

    def starting(self) -> None:
        """The engine is being started (again, on resume): its clock starts now."""
        self.state = "starting"
        self.starting_at = self.clock()
        self.startup = []

    def apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.name, self.model, self.run_dir = event.name, event.model, event.run_dir
            self.run_id = event.run_id
            self.state, self.stats, self.stats_at = "running", event.stats, self.clock()
            self.error = ""  # started again: an earlier error is no longer the run's state
            self.budget = read_budget(event.run_dir)
            for position, iid in enumerate(event.instance_ids, 1):
                self.rows.setdefault(iid, IssueRow(iid)).position = position
        elif isinstance(event, ev.IssueStarted):
            row = self.rows.setdefault(event.instance_id, IssueRow(event.instance_id, position=event.index))
            row.state, row.workflow_ids, row.memory_round = RUNNING, event.workflow_ids, event.memory_round
            row.started_at, row.steps, row.cost, row.tokens = self.clock(), None, None, None
            row.last_actions.clear()
            self.running.append(event.instance_id)
            if not self.pinned or self.current not in self.running:
                self.current, self.pinned = event.instance_id, False
        elif isinstance(event, ev.IssueFinished):
            row = self.rows.setdefault(event.instance_id, IssueRow(event.instance_id, position=event.index))
            row.state, row.experience, row.started_at = event.status.value, event.experience, None
            self.history.append(row)
            self.stats, self.stats_at = event.stats, self.clock()
            self.streak = self.streak + 1 if event.status == Status.ERROR else 0
            if event.instance_id in self.running:
                self.running.remove(event.instance_id)
            if self.current == event.instance_id or self.current not in self.running:
                self.current = self.running[-1] if self.running else None
                self.pinned = False
        elif isinstance(event, ev.InductionFinished):
            self.inductions.append(induction_of(event, len(self.history), self.workflows))
            for wf in event.new_workflows:
                self.workflows[wf.id] = wf
                (self.disabled.add if wf.disabled else self.disabled.discard)(wf.id)
            if event.new_workflows or not event.error or event.round not in self.rounds:
                self.rounds[event.round] = event.workflow_ids
            self.stats = Stats(**{**self.stats.__dict__, "workflows": len(event.workflow_ids),
                                  "induction_rounds": event.round})
        elif isinstance(event, ev.RunFinished):
            self.state = event.outcome
            self.message, self.stats, self.stats_at = event.message, event.stats, self.clock()
            if event.outcome == "aborted":
                self.error = event.message
            for iid in self.running:  # interrupted: redone on resume
                if self.rows[iid].state == RUNNING:
                    row = self.rows[iid]
                    row.state, row.started_at, row.steps, row.cost, row.tokens = WAITING, None, None, None, None
            self.running, self.current, self.pinned = [], None, False

    def fail(self, text: str) -> None:
        """The run could not start or stopped on an error: the message is kept (status bar, `e`)."""
        self.state, self.message, self.error = "failed", text, text

    def follow_next(self) -> str | None:
        """The live log follows the next issue in flight (n), and keeps following it until it finishes."""
        if len(self.running) < 2:
            return None
        position = self.running.index(self.current) if self.current in self.running else -1
        self.current, self.pinned = self.running[(position + 1) % len(self.running)], True
        return self.current

    @classmethod
    def from_view(cls, view: RunView) -> RunModel:
        model = cls(name=view.name, model=view.model, run_dir=str(view.run_dir), state=view.status,
                    message=view.message, stats=view.stats, run_id=Path(view.run_dir).name,
                    budget=read_budget(str(view.run_dir)))
        for position, iid in enumerate(view.instance_ids, 1):
            model.rows[iid] = IssueRow(iid, position=position)
        for exp in view.experiences:
            row = model.rows.setdefault(exp.instance_id, IssueRow(exp.instance_id, position=len(model.rows) + 1))
            row.state, row.experience = exp.status.value, exp
            row.workflow_ids, row.memory_round = tuple(exp.workflow_ids), exp.memory_round
            model.history.append(row)
        for version in view.memory.versions.values():
            model.workflows.setdefault(version.id, version)
        for wf in view.memory.workflows:
            model.workflows[wf.id] = wf
            if wf.disabled:
                model.disabled.add(wf.id)
        for entry in view.memory.round_entries():
            model.rounds[entry["round"]] = tuple(entry["active"])
            after = sum(1 for r in model.history if r.memory_round < entry["round"])
            merged = set(entry.get("merged", ()))

            def names(ids, versions: bool = False, entry=entry) -> tuple[str, ...]:  # called here, in this turn
                found = [view.memory.version(i, entry["round"]) or model.workflows.get(i) for i in ids]
                return tuple(f"{v.name} v{v.version}" if versions else v.name for v in found if v is not None)

            model.inductions.append(Induction(
                entry["round"], after, names(i for i in entry["induced"] if i not in merged), "",
                names((i for i in entry["induced"] if i in merged), versions=True),
                tuple(model.workflows[i].name if i in model.workflows else i for i in entry.get("evicted", ()))))
        if view.status == "aborted":
            model.error = view.message
        return model
