"""The judge (AWM's autoeval, for coding): an LLM reads the issue, the condensed trajectory and the patch and says
whether the patch resolves the issue. It decides what enters memory when there are no hidden tests
(`induction.success: judge | tests+judge`).

The judge sees only what the agent saw and did: the issue (no hints, no gold patch, no hidden tests), the
trajectory and the agent's own patch. An empty patch is a FAIL without a call. The reply is read for its last
`Verdict: success|failure` line (also "resolved"/"not resolved", "PASS"/"FAIL"); no verdict, or a call that
raises, is an ERROR with the reason. Prompts and replies are kept as judge/<instance_id>.prompt.txt / .reply.txt.

A judge fault (an ERROR verdict) is never a failure in disguise. The call itself is retried by the model client
when the fault is transient (llm.num_retries of the inducing model); what is left is recorded by the engine
(awm.run.loop): the verdict, with its reason and the reply's path, stays in the issue's record and a line goes to
the run's memory_faults.jsonl (the statistics' judge_failures). Such an issue keeps its test verdict but is not
learned from (no workflow, no pitfall) and counts neither as a success nor as a failure of the memory entries it was
given (unless the tests already failed it, under `tests+judge`); it is not judged again on resume. JUDGE_ATTEMPTS
(3) issues in a row with a judge fault stop the run (exit 2), naming the judge's model and `induction.success`;
those issues are forgotten and redone on resume.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from awm import atomic
from awm.memory.condense import Count, condense, fit_text, trim_patch
from awm.model.client import Complete, approx_tokens, describe_fault
from awm.records import Experience, Issue

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
BUDGET_TOKENS = 6000  # for the trajectory and the patch together
PATCH_SHARE = 0.5  # of the budget, at most, for the patch (the trajectory gets the rest)
ISSUE_TOKENS = 2000  # the issue text, at most
REASONING_CHARS = 2000  # of the reasoning kept in the verdict (the whole reply is in the reply file)
FOLDER = "judge"

INSTRUCTION = """You are judging whether a coding agent's patch resolves an issue in a software repository. No
hidden tests are available: decide from the evidence in front of you. You are given the issue, the agent's
trajectory, condensed (its edits, its test runs and as much of its exploration as fits; omitted stretches are
marked), and the agent's final patch.

Consider:
- Does the patch change the code the issue is about, and fix the cause rather than hide the symptom?
- Does it handle the cases the issue describes, without breaking the behaviour the issue does not question?
- Did the agent reproduce the problem, and did its reproduction or the relevant tests pass after the edit? A
  test run that still fails, or no check at all, is weak evidence.
- Is the patch complete and clean (no debugging leftovers, no unrelated or half-done changes)?
Be strict: when the patch only partly addresses the issue, or the evidence is too thin to tell, answer failure.

Write your reasoning in a few sentences, then end with exactly one last line, either
Verdict: success
or
Verdict: failure
"""

_WORDS = {"success": PASS, "successful": PASS, "succeeded": PASS, "resolved": PASS, "pass": PASS, "passed": PASS,
          "yes": PASS, "correct": PASS,
          "failure": FAIL, "failed": FAIL, "fail": FAIL, "not resolved": FAIL, "unresolved": FAIL, "no": FAIL,
          "incorrect": FAIL, "not successful": FAIL}
_ALTERNATIVES = "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in _WORDS), key=len, reverse=True))
_LABELLED = re.compile(rf"(?:verdict|status|decision|judgement|judgment|result)\W{{0,4}}[:：=\-–—]\W*"
                       rf"(?P<word>{_ALTERNATIVES})(?![\w-])", re.I)
_BARE = re.compile(rf"^\W*(?P<word>{_ALTERNATIVES})\W*$", re.I)


def parse_verdict(text: str) -> str:
    """PASS, FAIL or "" (no verdict): the last labelled verdict ("Verdict: success", "**Verdict:** FAIL",
    'Status: "failure"'), else a last line that is a verdict word alone."""
    found = list(_LABELLED.finditer(text))
    if found:
        return _WORDS[" ".join(found[-1].group("word").lower().split())]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines:
        bare = _BARE.match(lines[-1])
        if bare:
            return _WORDS[" ".join(bare.group("word").lower().split())]
    return ""


def build_messages(issue: Issue, experience: Experience, budget_tokens: int = BUDGET_TOKENS,
                   count: Count | None = None) -> list[dict]:
    count = count or approx_tokens
    patch = trim_patch(experience.diff_patch, int(budget_tokens * PATCH_SHARE), count)
    trajectory = condense(experience, budget_tokens - count(patch), count, issue=False, patch=False)
    statement = fit_text(issue.problem_statement.strip(), ISSUE_TOKENS, count)
    user = (f"Instance: {issue.instance_id}\nRepository: {issue.repo}\n\nIssue:\n{statement}\n\n{trajectory}\n\n"
            f"The agent's final patch:\n<patch>\n{patch}\n</patch>\n\n"
            "Does this patch resolve the issue? Reason, then give the last line `Verdict: success` or "
            "`Verdict: failure`.")
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": user}]


def _reasoning(text: str) -> str:
    """The reply without its verdict line, trimmed."""
    lines = text.strip().splitlines()
    while lines and (not lines[-1].strip() or _LABELLED.search(lines[-1]) or _BARE.match(lines[-1])):
        lines.pop()
    body = "\n".join(lines).strip() or text.strip()
    return body if len(body) <= REASONING_CHARS else body[:REASONING_CHARS].rstrip() + " …"


def _safe(instance_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", instance_id) or "instance"


class Judge:
    def __init__(self, complete: Complete, out_dir: Path, *, budget_tokens: int = BUDGET_TOKENS,
                 count: Count | None = None):
        self.complete = complete
        self.out_dir = Path(out_dir)  # the run's folder: files go to its judge/ folder
        self.budget_tokens = budget_tokens
        self.count: Count = count or approx_tokens
        self.scrub: Callable[[str], str] = lambda text: text  # the run's secret scrubber (set by the engine)

    def paths(self, instance_id: str) -> tuple[Path, Path]:
        stem = self.out_dir / FOLDER / _safe(instance_id)
        return stem.with_name(stem.name + ".prompt.txt"), stem.with_name(stem.name + ".reply.txt")

    def judge(self, issue: Issue, experience: Experience) -> dict:
        """{"verdict": "PASS"|"FAIL"|"ERROR", "reasoning", "cost", "prompt_tokens", "completion_tokens",
        "reply_path"}; reply_path is relative to out_dir ("" when no reply was saved)."""
        verdict = {"verdict": ERROR, "reasoning": "", "cost": 0.0, "prompt_tokens": 0, "completion_tokens": 0,
                   "reply_path": ""}
        if not experience.diff_patch.strip():
            verdict.update(verdict=FAIL, reasoning="the agent made no change (empty patch): nothing to judge")
            return verdict
        messages = build_messages(issue, experience, self.budget_tokens, self.count)
        prompt_path, reply_path = self.paths(issue.instance_id)
        atomic.write_text(prompt_path, self.scrub("\n\n".join(f"=== {m['role']} ===\n{m['content']}"
                                                              for m in messages)))
        try:
            reply = self.complete(messages)
        except Exception as exc:  # noqa: BLE001 - a judge that cannot answer is an ERROR verdict, not a crash
            verdict["reasoning"] = self.scrub(f"the judge's model call failed: {describe_fault(exc)}")
            return verdict
        atomic.write_text(reply_path, self.scrub(reply.text))
        verdict.update(cost=reply.cost, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                       reply_path=str(reply_path.relative_to(self.out_dir)))
        decided = parse_verdict(reply.text)
        if not decided:
            short = " ".join(reply.text.split())[:200]
            verdict["reasoning"] = self.scrub(f"the judge's reply had no `Verdict: success|failure` line: {short!r}"
                                              if short else "the judge's reply was empty")
            return verdict
        verdict.update(verdict=decided, reasoning=self.scrub(_reasoning(reply.text)))
        return verdict
