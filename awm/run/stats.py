"""Run statistics, derived from the experiences so that a resumed run counts exactly like an unbroken one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

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
    induction_cost: float = 0.0  # memory's own model calls (induction, merging, the judges, embeddings): in cost
    induction_tokens: int = 0  # included in prompt_tokens and completion_tokens
    # retrieval's embedding calls (memory.retrieval: embedding), also in induction_cost/_tokens, cost, prompt_tokens
    embedding_cost: float = 0.0
    embedding_tokens: int = 0
    embedding_calls: int = 0
    induction_failures: int = 0  # induction attempts that failed (no reply, or a reply with no workflow in it)
    # memory's other model calls that failed (each recorded: memory.json's merge_errors, memory_faults.jsonl)
    judge_failures: int = 0  # judge calls with no verdict (the call failed, or the reply held none)
    merge_failures: int = 0  # LLM merges that failed (memory.merge: llm; the newer item kept as induced)
    embedding_failures: int = 0  # embedding calls that failed or gave unusable vectors
    learned: int = 0  # experiences that entered the buffer (induction.success's rule)
    judged: int = 0  # issues with both a test verdict (PASS/FAIL) and a judge verdict (PASS/FAIL)
    judge_agreed: int = 0  # of those, where the judge agreed with the tests
    memory_tokens: int = 0  # memory tokens injected, summed over the issues
    memory_issues: int = 0  # issues that were given any memory
    # attempts whose record was not kept and that are redone (an issue interrupted by a stop, an attempt forgotten
    # after a streak of errors): what they cost is counted in `cost` and the tokens (money is never dropped) but
    # is in no experience, so the per-issue figures stay those of the kept attempts
    discarded_attempts: int = 0
    discarded_cost: float = 0.0
    discarded_tokens: int = 0

    @property
    def judge_agreement(self) -> float | None:
        return self.judge_agreed / self.judged if self.judged else None

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
        """`induction`: what the induction rounds cost (cost, prompt_tokens, completion_tokens), counted in, and
        how many attempts failed (failures), and how many judge, merge and embedding calls failed
        (judge_failures, merge_failures, embedding_failures)."""
        return Tally(experiences).stats(total, workflows, rounds, elapsed_s, induction)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["success_rate"] = round(self.success_rate, 4)
        agreement = self.judge_agreement
        data["judge_agreement"] = None if agreement is None else round(agreement, 4)
        return data


@dataclass
class Discarded:
    """The attempts not kept (interrupted, or forgotten to be redone): their spend still counts."""
    attempts: int = 0
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Tally:
    """The experiences' counts and sums, kept up to date one experience at a time: the engine's statistics after
    each issue cost the same at the 2,000th issue as at the first."""

    def __init__(self, experiences: Iterable[Experience] = ()):
        self.processed = 0
        self.by_status = {s: 0 for s in Status}
        self.cost = 0.0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.judge_cost = 0.0
        self.judge_tokens = [0, 0]
        self.embedding_calls = self.embedding_tokens = 0
        self.embedding_cost = 0.0
        self.learned = self.judged = self.judge_agreed = self.memory_tokens = self.memory_issues = 0
        self.discarded = Discarded()
        for e in experiences:
            self.add(e)

    def discard(self, cost: float, prompt_tokens: int, completion_tokens: int) -> None:
        """An attempt not kept (interrupted, or forgotten to be redone): its spend still counts."""
        self.discarded.attempts += 1
        self.discarded.cost += float(cost or 0.0)
        self.discarded.prompt_tokens += int(prompt_tokens or 0)
        self.discarded.completion_tokens += int(completion_tokens or 0)

    def add(self, e: Experience) -> None:
        self.processed += 1
        self.by_status[Status(e.status)] = self.by_status.get(Status(e.status), 0) + 1
        self.cost += e.cost
        self.prompt_tokens += e.prompt_tokens
        self.completion_tokens += e.completion_tokens
        self.learned += bool(e.learned)
        self.memory_tokens += e.memory_tokens
        self.memory_issues += bool(e.workflow_ids)
        judge = e.judge or {}
        for call in (judge, e.adherence_judge or {}):  # the judge's call, and the adherence judge's
            self.judge_cost += float(call.get("cost", 0) or 0)
            self.judge_tokens[0] += int(call.get("prompt_tokens", 0) or 0)
            self.judge_tokens[1] += int(call.get("completion_tokens", 0) or 0)
        embedding = e.embedding or {}
        self.embedding_calls += int(embedding.get("calls", 0) or 0)
        self.embedding_tokens += int(embedding.get("prompt_tokens", 0) or 0)
        self.embedding_cost += float(embedding.get("cost", 0) or 0)
        if judge.get("verdict") in ("PASS", "FAIL") and e.status in (Status.PASS, Status.FAIL):
            self.judged += 1
            self.judge_agreed += (judge["verdict"] == "PASS") == (e.status == Status.PASS)

    def stats(self, total: int, workflows: int, rounds: int, elapsed_s: float, induction: dict | None = None) -> Stats:
        induction = induction or {}
        i_prompt = int(induction.get("prompt_tokens", 0)) + self.judge_tokens[0] + self.embedding_tokens
        i_completion = int(induction.get("completion_tokens", 0)) + self.judge_tokens[1]
        i_cost = float(induction.get("cost", 0.0)) + self.judge_cost + self.embedding_cost
        return Stats(
            total=total,
            processed=self.processed,
            passed=self.by_status[Status.PASS],
            failed=self.by_status[Status.FAIL],
            errors=self.by_status[Status.ERROR],
            skipped=self.by_status[Status.SKIPPED],
            workflows=workflows,
            induction_rounds=rounds,
            cost=round(self.cost + i_cost + self.discarded.cost, 6),
            prompt_tokens=self.prompt_tokens + i_prompt + self.discarded.prompt_tokens,
            completion_tokens=self.completion_tokens + i_completion + self.discarded.completion_tokens,
            elapsed_s=round(elapsed_s, 3),
            induction_cost=round(i_cost, 6),
            induction_tokens=i_prompt + i_completion,
            embedding_cost=round(self.embedding_cost, 6),
            embedding_tokens=self.embedding_tokens,
            embedding_calls=self.embedding_calls,
            induction_failures=int(induction.get("failures", 0)),
            judge_failures=int(induction.get("judge_failures", 0)),
            merge_failures=int(induction.get("merge_failures", 0)),
            embedding_failures=int(induction.get("embedding_failures", 0)),
            learned=self.learned,
            judged=self.judged,
            judge_agreed=self.judge_agreed,
            memory_tokens=self.memory_tokens,
            memory_issues=self.memory_issues,
            discarded_attempts=self.discarded.attempts,
            discarded_cost=round(self.discarded.cost, 6),
            discarded_tokens=self.discarded.prompt_tokens + self.discarded.completion_tokens,
        )


def default_window(issues: int) -> int:
    """The rolling window of a success-rate curve when none is given: a tenth of the run, at least 5 issues (at most
    all of them). The comparison report's and the app's history pane's."""
    return max(1, min(issues, max(5, issues // 10)))
