"""Run statistics, derived from the experiences so that a resumed run counts exactly like an unbroken one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from awm.records import Experience, Status


@dataclass(frozen=True)
class Stats:
    total: int = 0
    processed: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    workflows: int = 0
    induction_rounds: int = 0
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    induction_cost: float = 0.0  # included in cost
    induction_tokens: int = 0  # included in prompt_tokens and completion_tokens

    @property
    def evaluated(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def success_rate(self) -> float:
        """Passed over the issues attempted and judged (errors count against; skipped issues do not count)."""
        return self.passed / self.evaluated if self.evaluated else 0.0

    @classmethod
    def compute(cls, experiences: Iterable[Experience], total: int, workflows: int, rounds: int, elapsed_s: float,
                induction: dict | None = None) -> Stats:
        """`induction`: what the induction rounds cost (cost, prompt_tokens, completion_tokens), counted in."""
        exps = list(experiences)
        induction = induction or {}
        i_prompt, i_completion = int(induction.get("prompt_tokens", 0)), int(induction.get("completion_tokens", 0))
        count = lambda s: sum(1 for e in exps if e.status == s)  # noqa: E731
        return cls(
            total=total,
            processed=len(exps),
            passed=count(Status.PASS),
            failed=count(Status.FAIL),
            errors=count(Status.ERROR),
            skipped=count(Status.SKIPPED),
            workflows=workflows,
            induction_rounds=rounds,
            cost=round(sum(e.cost for e in exps) + float(induction.get("cost", 0.0)), 6),
            prompt_tokens=sum(e.prompt_tokens for e in exps) + i_prompt,
            completion_tokens=sum(e.completion_tokens for e in exps) + i_completion,
            elapsed_s=round(elapsed_s, 3),
            induction_cost=round(float(induction.get("cost", 0.0)), 6),
            induction_tokens=i_prompt + i_completion,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["success_rate"] = round(self.success_rate, 4)
        return data


@dataclass
class Usage:
    """How many issues had a workflow in their prompt, and how many of those passed."""

    used: int = 0
    passed: int = 0


def workflow_usage(experiences: Iterable[Experience]) -> dict[str, Usage]:
    usage: dict[str, Usage] = {}
    for exp in experiences:
        for wf_id in exp.workflow_ids:
            u = usage.setdefault(wf_id, Usage())
            u.used += 1
            u.passed += exp.status == Status.PASS
    return usage
