"""The records the engine passes around and keeps: issues, experiences, workflows."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"  # evaluated, resolved
    FAIL = "FAIL"  # evaluated, not resolved (wrong patch, empty patch, patch that does not apply)
    ERROR = "ERROR"  # the attempt itself broke (agent crash, model unreachable, timeout, evaluator crash)
    SKIPPED = "SKIPPED"  # not evaluated (evaluation backend `none`)


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _json_list(value: Any, name: str = "the test list") -> list[str]:
    """A SWE-bench test list: a JSON-encoded list of test names (the hub's form) or a list; ValueError if neither."""
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"has a `{name}` that is not a JSON list of test names ({exc.msg} at character {exc.pos}: "
                             f"{value[:60]!r})") from None
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"has a `{name}` that is not a list of test names (nor one JSON-encoded): "
                         f"{type(value).__name__}")
    return list(value)


REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement")


@dataclass
class Issue:
    """A SWE-bench instance. The agent sees only `problem_statement` (and `hints_text` if the spec asks)."""

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    version: str = ""
    hints_text: str = ""
    created_at: str = ""
    environment_setup_commit: str = ""
    patch: str = field(default="", repr=False)
    test_patch: str = field(default="", repr=False)
    FAIL_TO_PASS: list[str] = field(default_factory=list, repr=False)
    PASS_TO_PASS: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Issue:
        # datasets turns ISO dates in local JSON into datetimes; the record keeps what the file said
        # a row the engine cannot use is a ValueError that says which field is wrong (the dataset loader names the
        # file and the record)
        missing = [k for k in REQUIRED if row.get(k) in (None, "")]
        if missing:
            raise ValueError(f"has no {', '.join(f'`{k}`' for k in missing)} (a SWE-bench record needs "
                             f"{', '.join(REQUIRED)})")
        data = {k: ("" if v is None else v if isinstance(v, (str, list)) else str(v)) for k, v in row.items()}
        data["FAIL_TO_PASS"] = _json_list(row.get("FAIL_TO_PASS"), "FAIL_TO_PASS")
        data["PASS_TO_PASS"] = _json_list(row.get("PASS_TO_PASS"), "PASS_TO_PASS")
        data["version"] = str(row.get("version") or "")
        return _from_dict(cls, data)

    def to_row(self) -> dict[str, Any]:
        """The SWE-bench row shape (test lists JSON-encoded, as in the hub datasets)."""
        row = asdict(self)
        row["FAIL_TO_PASS"] = json.dumps(self.FAIL_TO_PASS)
        row["PASS_TO_PASS"] = json.dumps(self.PASS_TO_PASS)
        return row


@dataclass
class Step:
    """One agent step, condensed: what the inducer and the logs read."""

    tool: str
    action: str
    thought: str = ""
    observation: str = ""


@dataclass
class Experience:
    instance_id: str
    problem_statement: str
    status: Status
    diff_patch: str = ""
    history: list[Step] = field(default_factory=list)
    test_output: str = ""  # excerpt; the whole output is in the run's eval/ folder
    reason: str = ""  # why FAIL / ERROR / SKIPPED
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    duration_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    workflow_ids: list[str] = field(default_factory=list)  # the workflows and pitfalls injected, in prompt order
    memory_round: int = 0
    # what retrieval chose: [{"id", "kind", "version", "round", "score"}] in prompt order (the injected ones)
    retrieved: list[dict] = field(default_factory=list)
    memory_tokens: int = 0  # tokens of the memory block in the agent's system prompt (the model's tokenizer)
    # what retrieval left out, best first: [{"id", "kind", "version", "round", "score", "why"}], and why nothing was
    # injected ("" when something was; both empty in a journal from before they were kept)
    passed_over: list[dict] = field(default_factory=list)
    why_none: str = ""
    # the judge's verdict when induction.success uses one: {"verdict": "PASS" | "FAIL" | "ERROR", "reasoning", "cost",
    # "prompt_tokens", "completion_tokens", "reply_path"}
    judge: dict = field(default_factory=dict)
    # what retrieval's embedding calls for this issue cost (memory.retrieval: embedding): {"calls", "prompt_tokens",
    # "cost"}; empty when none were made
    embedding: dict = field(default_factory=dict)
    # how far the trajectory followed each entry given, {id: score in [0, 1]} (awm.memory.adherence; memory.adherence;
    # empty when nothing was given, adherence is off, or in a journal from before it was kept)
    adherence: dict[str, float] = field(default_factory=dict)
    # with memory.adherence: judge, its call: {"cost", "prompt_tokens", "completion_tokens", "reply_path", "error"}
    adherence_judge: dict = field(default_factory=dict)
    learned: bool = False  # entered the experience buffer (a success by induction.success's rule)
    position: int = 0  # the issue's place in the run's order (1-based)
    staleness: int = 0  # issues before it still in flight when it started (workers > 1): what its memory lacked
    protocol: str = ""  # a protocol failure's kind (the model did not use the tools), for the run's streaks
    agent_status: str = ""
    finished_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experience:
        exp = _from_dict(cls, data)
        exp.status = Status(exp.status)
        exp.history = [s if isinstance(s, Step) else _from_dict(Step, s) for s in exp.history]
        return exp


WORKFLOW, PITFALL = "workflow", "pitfall"  # the two kinds of memory entry


@dataclass
class Workflow:
    """A memory entry: a workflow (how to do something) or a pitfall (what went wrong, how to avoid it). The id is
    stable across versions: a near-duplicate induced later updates it (version + 1, sources merged)."""

    id: str
    name: str
    description: str  # when to use it (a pitfall: when it bites)
    steps: list[str]  # a pitfall: how to avoid it
    source_instances: list[str] = field(default_factory=list)
    round: int = 0  # the memory round that made this version
    kind: str = WORKFLOW
    version: int = 1
    created_round: int = 0  # the round that first made it
    disabled: bool = False  # `awm-tui memory RUN disable ID`: never injected, kept
    pinned: bool = False  # `awm-tui memory RUN pin ID`: injected first when it fits, never evicted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workflow:
        return _from_dict(cls, data)

    def render(self) -> str:
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(self.steps, 1))
        if self.kind == PITFALL:
            return f"## Pitfall: {self.name}\nWhen it bites: {self.description}\nHow to avoid it:\n{steps}"
        return f"## Workflow: {self.name}\nWhen to use: {self.description}\nSteps:\n{steps}"
