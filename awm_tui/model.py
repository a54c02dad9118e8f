"""The UI's picture of a run, built only from the engine's events (or a run folder read for display).
Plain Python: the widgets render it, tests assert on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from awm.run import events as ev
from awm.run.view import RunView
from awm.run.stats import Stats, Usage, workflow_usage
from awm.records import Experience, Status, Workflow

WAITING, RUNNING = "waiting", "running"


@dataclass
class IssueRow:
    instance_id: str
    state: str = WAITING  # waiting | running | PASS | FAIL | ERROR | SKIPPED
    workflow_ids: tuple[str, ...] = ()
    memory_round: int = 0
    experience: Experience | None = None


@dataclass
class Induction:
    round: int
    after: int  # issues processed when it happened
    names: tuple[str, ...]
    error: str = ""


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

    @property
    def memory_round(self) -> int:
        return max(self.rounds)

    def memory(self, round_number: int | None = None) -> list[Workflow]:
        ids = self.rounds.get(self.memory_round if round_number is None else round_number, ())
        return [self.workflows[i] for i in ids if i in self.workflows]

    def usage(self) -> dict[str, Usage]:
        return workflow_usage(r.experience for r in self.history if r.experience is not None)

    def apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.name, self.model, self.run_dir = event.name, event.model, event.run_dir
            self.state, self.stats = "running", event.stats
            for iid in event.instance_ids:
                self.rows.setdefault(iid, IssueRow(iid))
        elif isinstance(event, ev.IssueStarted):
            row = self.rows.setdefault(event.instance_id, IssueRow(event.instance_id))
            row.state, row.workflow_ids, row.memory_round = RUNNING, event.workflow_ids, event.memory_round
            self.running.append(event.instance_id)
            if not self.pinned or self.current not in self.running:
                self.current, self.pinned = event.instance_id, False
        elif isinstance(event, ev.IssueFinished):
            row = self.rows.setdefault(event.instance_id, IssueRow(event.instance_id))
            row.state, row.experience = event.status.value, event.experience
            self.history.append(row)
            self.stats = event.stats
            if event.instance_id in self.running:
                self.running.remove(event.instance_id)
            if self.current == event.instance_id or self.current not in self.running:
                self.current = self.running[-1] if self.running else None
                self.pinned = False
        elif isinstance(event, ev.InductionFinished):
            for wf in event.new_workflows:
                self.workflows[wf.id] = wf
            if event.new_workflows or not event.error or event.round not in self.rounds:
                self.rounds[event.round] = event.workflow_ids
            self.inductions.append(Induction(event.round, len(self.history), tuple(w.name for w in
                                                                                 event.new_workflows), event.error))
            self.stats = Stats(**{**self.stats.__dict__, "workflows": len(event.workflow_ids),
                                  "induction_rounds": event.round})
        elif isinstance(event, ev.RunFinished):
            self.state = event.outcome
            self.message, self.stats = event.message, event.stats
            for iid in self.running:  # interrupted: redone on resume
                if self.rows[iid].state == RUNNING:
                    self.rows[iid].state = WAITING
            self.running, self.current, self.pinned = [], None, False

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
                    message=view.message, stats=view.stats)
        for iid in view.instance_ids:
            model.rows[iid] = IssueRow(iid)
        for exp in view.experiences:
            row = model.rows.setdefault(exp.instance_id, IssueRow(exp.instance_id))
            row.state, row.experience = exp.status.value, exp
            row.workflow_ids, row.memory_round = tuple(exp.workflow_ids), exp.memory_round
            model.history.append(row)
        for version in view.memory.versions.values():
            model.workflows.setdefault(version.id, version)
        for wf in view.memory.workflows:
            model.workflows[wf.id] = wf
        for entry in view.memory.round_entries():
            model.rounds[entry["round"]] = tuple(entry["active"])
            after = sum(1 for r in model.history if r.memory_round < entry["round"])
            versions = [view.memory.version(i, entry["round"]) for i in entry["induced"]]
            names = tuple(v.name for v in versions if v is not None)
            model.inductions.append(Induction(entry["round"], after, names))
        return model

    def rate_by_memory(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(passed, judged) for issues attempted with no workflows, and with some: is learning helping?"""
        def tally(rows):
            judged = [r for r in rows if r.state in (Status.PASS, Status.FAIL, Status.ERROR)]
            return sum(r.state == Status.PASS for r in judged), len(judged)
        return tally([r for r in self.history if not r.workflow_ids]), tally([r for r in self.history if r.workflow_ids])
