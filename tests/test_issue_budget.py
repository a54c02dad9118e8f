"""An issue's spending limit: the guard that stops its agent says which limit was reached."""

from __future__ import annotations

import pytest

from awm.agent.limits import Guard, issue_budget


def test_no_limit_no_check():
    assert issue_budget(None, None, lambda: (10.0, 10**9)) is None


def test_the_guard_stops_at_the_issues_cost_or_tokens_and_says_which():
    spent = {"cost": 0.5, "tokens": 1000}
    check = issue_budget(1.0, 5000, lambda: (spent["cost"], spent["tokens"]))
    guard = Guard(deadline=10**12, cancel=None, interrupt=lambda hard: None)
    guard.spent = check
    assert guard.check() == ""
    spent["tokens"] = 6000
    assert guard.check() == "budget" and "budget.issue_max_tokens (5,000)" in guard.outcome().stop.spent
    again = Guard(deadline=10**12, cancel=None, interrupt=lambda hard: None)
    again.spent = issue_budget(1.0, None, lambda: (1.25, 0))
    assert again.check() == "budget" and again.outcome().stop.spent == (
        "the issue's cost $1.25 reached budget.issue_max_cost_usd ($1)")


@pytest.mark.slow  # the real agent on one demo issue
def test_an_issue_over_its_limit_is_stopped_and_recorded_with_the_reason(awm_home, tmp_path):
    import json

    from awm.run.launch import prepare_engine
    from awm.spec import load_spec
    from conftest import ROOT

    out = tmp_path / "run"
    spec = load_spec(ROOT / "specs" / "demo.yaml", {"output_dir": str(out), "dataset.limit": 1,
                                                     "budget.issue_max_tokens": 3000,
                                                     "llm.scripted_latency_s": 0.3})
    finished = prepare_engine(spec, [], output_dir=str(out)).run()
    assert finished.outcome == "completed"  # the run goes on: only the issue stopped
    exp = json.loads((out / "experiences.jsonl").read_text().splitlines()[0])
    assert exp["agent_status"] == "budget" and exp["status"] == "FAIL"
    tokens = exp["prompt_tokens"] + exp["completion_tokens"]
    assert tokens >= 3000
    # what it finally spent, and why that can pass the cap
    assert f"stopped at {tokens:,} of a 3,000-token issue cap (budget.issue_max_tokens)" in exp["reason"]
    assert tokens == 3000 or "the step in flight when it was reached finished" in exp["reason"]
