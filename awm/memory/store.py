"""Workflow memory: the workflows the agent is given, every round's memory kept, and the prompt block.

Capacity rule: a workflow induced again under the same name replaces the older one (same id, newer round,
sources merged). When the memory holds more than `max_workflows`, the workflows last induced in the oldest
round are dropped first (ties: the one listed first goes first)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from awm import atomic
from awm.records import Workflow

HEADER = """# Workflow memory
The workflows below were induced from issues in this repository that were solved earlier and verified by
their tests. Each one is a reusable procedure; `{slots}` stand for values to fill in from the current issue.
Follow a workflow when its "When to use" matches the issue in front of you; ignore the ones that do not apply.
"""


def slug(name: str) -> str:
    return "wf-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "unnamed")


class WorkflowMemory:
    def __init__(self, max_workflows: int, path: Path | None = None):
        self.max_workflows = max_workflows
        self.path = path
        self.workflows: list[Workflow] = []
        self.versions: dict[str, Workflow] = {}  # "<id>@<round>" -> that version, for every round ever
        self.rounds: list[dict] = []
        self.failed_rounds: list[dict] = []  # each failed induction attempt: round, attempt, time, reason, reply_path

    @property
    def round(self) -> int:
        return self.rounds[-1]["round"] if self.rounds else 0

    def ids(self) -> list[str]:
        return [w.id for w in self.workflows]

    def add_round(self, round_number: int, induced: list[dict], source_ids: list[str],
                  usage: dict | None = None) -> list[Workflow]:
        """Merge one induction round's workflows ({name, description, steps}) into memory; returns the new or
        updated workflows that remain after the capacity rule."""
        current = {w.id: w for w in self.workflows}
        touched: list[Workflow] = []
        for item in induced:
            wf_id = slug(item["name"])
            old = current.get(wf_id)
            sources = list(dict.fromkeys((old.source_instances if old else []) + list(source_ids)))
            wf = Workflow(id=wf_id, name=item["name"], description=item["description"], steps=list(item["steps"]),
                          source_instances=sources, round=round_number)
            if old is None:
                self.workflows.append(wf)
            else:
                self.workflows[self.workflows.index(old)] = wf
            current[wf_id] = wf
            touched.append(wf)
        self._evict()
        kept = set(self.ids())
        touched = [w for w in touched if w.id in kept]
        for wf in self.workflows:
            self.versions[f"{wf.id}@{wf.round}"] = wf
        self.rounds.append({
            "round": round_number,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "source_instances": list(source_ids),
            "induced": [w.id for w in touched],
            "active": [f"{w.id}@{w.round}" for w in self.workflows],
            **(usage or {}),  # the round's cost, prompt_tokens, completion_tokens
        })
        self.save()
        return touched

    def add_failure(self, round_number: int, reason: str, reply_path: str | None, usage: dict | None = None) -> dict:
        """Record a failed attempt at round `round_number` (no reply, or a reply with no workflow in it); memory
        is unchanged. Returns the entry (its `attempt` counts this round's failures so far)."""
        entry = {
            "round": round_number,
            "attempt": self.attempts(round_number) + 1,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "reason": reason,
            "reply_path": reply_path,
            **(usage or {}),  # what the failed call cost: counted in the run's totals
        }
        self.failed_rounds.append(entry)
        self.save()
        return entry

    def attempts(self, round_number: int) -> int:
        """How many attempts at round `round_number` failed (over every session of the run)."""
        return sum(1 for e in self.failed_rounds if e["round"] == round_number)

    def _evict(self) -> None:
        while len(self.workflows) > self.max_workflows:
            oldest = min(self.workflows, key=lambda w: w.round)
            self.workflows.remove(oldest)

    def at_round(self, round_number: int) -> list[Workflow]:
        """The memory as it was after round `round_number` (0: empty)."""
        for entry in self.rounds:
            if entry["round"] == round_number:
                return [self.versions[key] for key in entry["active"]]
        return []

    def version(self, workflow_id: str, round_number: int) -> Workflow | None:
        """A workflow as it was induced in a round (None if that round did not make or remake it)."""
        return self.versions.get(f"{workflow_id}@{round_number}")

    def round_entries(self) -> list[dict]:
        """Each round: its number, the workflow ids active after it and those it induced."""
        return [{"round": e["round"], "active": [key.split("@")[0] for key in e["active"]],
                 "induced": list(e.get("induced", [])), "source_instances": list(e.get("source_instances", []))}
                for e in self.rounds]

    def induction_usage(self) -> dict[str, float]:
        """What induction cost so far: cost, prompt_tokens, completion_tokens summed over the rounds and the failed
        attempts; and failures, how many attempts failed."""
        usage = {key: sum(e.get(key, 0) or 0 for e in self.rounds + self.failed_rounds)
                 for key in ("cost", "prompt_tokens", "completion_tokens")}
        usage["failures"] = len(self.failed_rounds)
        return usage

    def render(self, workflows: list[Workflow] | None = None) -> str:
        workflows = self.workflows if workflows is None else workflows
        if not workflows:
            return ""
        return HEADER + "\n" + "\n\n".join(w.render() for w in workflows) + "\n"

    def to_dict(self) -> dict:
        return {
            "max_workflows": self.max_workflows,
            "round": self.round,
            "workflows": [w.to_dict() for w in self.workflows],
            "rounds": self.rounds,
            "failed_rounds": self.failed_rounds,
            "versions": {k: w.to_dict() for k, w in self.versions.items()},
        }

    def save(self) -> None:
        if self.path is not None:
            atomic.write_json(self.path, self.to_dict())

    @classmethod
    def load(cls, max_workflows: int, path: Path) -> WorkflowMemory:
        memory = cls(max_workflows, path)
        data = atomic.read_json(path)
        if data:
            memory.versions = {k: Workflow.from_dict(v) for k, v in data.get("versions", {}).items()}
            memory.rounds = data.get("rounds", [])
            memory.failed_rounds = data.get("failed_rounds", [])
            memory.workflows = [Workflow.from_dict(w) for w in data.get("workflows", [])]
        return memory
