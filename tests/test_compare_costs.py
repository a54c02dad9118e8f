"""compare's cost-effectiveness (awm.experiment.costs) and leak audit counts (awm.experiment.leaks), checked against
values computed by hand on synthetic run folders (tests/compare_fixtures.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from awm.experiment.compare import compare, load_arm
from awm.experiment.costs import ratio_interval
from awm.experiment.report import write_report
from compare_fixtures import write_run
from test_memory_audit import ROWS, hand_memory

IDS = ["acme__lib-1", "acme__lib-2", "acme__lib-3", "acme__lib-4"]


def flat(cost: float = 0.10) -> dict:
    return {i: {"cost": cost} for i in IDS}


def memory_run(root):
    """P P P F; agent $0.10 and 1100 tokens an issue; the judge on issue 2 ($0.02, 220 tokens), one embedding call
    for issue 3 ($0.01, 100 tokens); one round of $0.12 / 1200 tokens of which a merge $0.04 / 120 tokens; one
    attempt discarded ($0.08, 400 tokens)."""
    fields = flat()
    fields["acme__lib-2"]["judge"] = {"verdict": "PASS", "cost": 0.02, "prompt_tokens": 200, "completion_tokens": 20}
    fields["acme__lib-3"]["embedding"] = {"calls": 1, "prompt_tokens": 100, "cost": 0.01}
    rounds = [{"round": 1, "kind": "workflow", "cost": 0.12, "prompt_tokens": 1000, "completion_tokens": 200,
               "merge_cost": 0.04, "merge_prompt_tokens": 100, "merge_completion_tokens": 20}]
    run = write_run(root / "on", dict(zip(IDS, ["PASS", "PASS", "PASS", "FAIL"])), fields=fields, rounds=rounds,
                    memory_rounds={"acme__lib-3": 1, "acme__lib-4": 1})
    (run / "discarded.jsonl").write_text(json.dumps({"instance_id": "acme__lib-4", "why": "stopped", "cost": 0.08,
                                                     "prompt_tokens": 300, "completion_tokens": 100}) + "\n")
    return run


@pytest.fixture
def comparison(tmp_path):
    off = write_run(tmp_path / "off", dict(zip(IDS, ["PASS", "FAIL", "PASS", "FAIL"])), fields=flat())
    return compare([load_arm("off", off), load_arm("on", memory_run(tmp_path))], bootstrap=2000)


def test_cost_per_resolved_and_resolved_per_dollar_by_hand(comparison):
    off, on = comparison.to_dict()["cost_effectiveness"]
    # off: $0.40 for 2 resolved; 4 x 1100 tokens
    assert (off["resolved"], off["issues"]) == (2, 4)
    assert off["cost"] == pytest.approx(0.40) and off["cost_per_resolved"] == pytest.approx(0.20)
    assert off["resolved_per_dollar"] == pytest.approx(5.0) and off["tokens_per_resolved"] == pytest.approx(2200)
    assert off["memory_cost"]["total"] == 0 and off["memory_share"] == 0
    # on: agent 0.40 + 0.08 discarded; memory: induction 0.12 - 0.04, merge 0.04, judge 0.02, embedding 0.01
    assert on["agent_cost"] == pytest.approx(0.48)
    assert on["memory_cost"] == pytest.approx({"induction": 0.08, "merge": 0.04, "judge": 0.02, "embedding": 0.01,
                                               "total": 0.15})
    assert on["memory_tokens"] == {"induction": 1080, "merge": 120, "judge": 220, "embedding": 100, "total": 1520}
    assert on["cost"] == pytest.approx(0.63) and on["resolved"] == 3
    assert on["cost_per_resolved"] == pytest.approx(0.21) and on["resolved_per_dollar"] == pytest.approx(3 / 0.63)
    assert on["memory_share"] == pytest.approx(0.15 / 0.63)
    assert on["tokens"] == 4800 + 1520 and on["tokens_per_resolved"] == pytest.approx(6320 / 3)
    for row in (off, on):
        for key in ("cost_per_resolved", "resolved_per_dollar", "tokens_per_resolved"):
            low, high = row[f"{key}_ci"]
            assert low <= row[key] <= (high if high is not None else math.inf)
    # off resolves nothing in some resamples (issues 2 and 4 drawn alone): its cost per resolved issue is unbounded
    assert off["cost_per_resolved_ci"][1] is None


def test_the_bootstrap_interval_of_a_ratio_by_hand():
    # two issues resolved at $1 and $3: a resample is {1,1} (1/4), {1,3} (1/2) or {3,3} (1/4): ratio 1, 2 or 3
    assert ratio_interval(np.array([1.0, 3.0]), np.array([1.0, 1.0]), 4000, 0) == (1.0, 3.0)
    assert ratio_interval(np.array([2.0, 2.0, 2.0]), np.array([1.0, 1.0, 1.0]), 500, 0) == (2.0, 2.0)
    assert all(math.isnan(x) for x in ratio_interval(np.array([]), np.array([])))
    assert ratio_interval(np.array([1.0, 3.0]), np.array([1.0, 1.0]), 1000, 7) == \
        ratio_interval(np.array([1.0, 3.0]), np.array([1.0, 1.0]), 1000, 7)  # deterministic for a seed


def test_replicates_are_resampled_together(tmp_path):
    a = write_run(tmp_path / "a1", {"x-1": "PASS", "x-2": "FAIL"}, fields={"x-1": {"cost": 1.0}, "x-2": {"cost": 1.0}})
    b = write_run(tmp_path / "a2", {"x-1": "PASS", "x-2": "PASS"}, fields={"x-1": {"cost": 1.0}, "x-2": {"cost": 3.0}})
    c = compare([load_arm("one", [a, b]), load_arm("two", [a, b])], bootstrap=2000)
    row = c.cost_effectiveness[0]
    # x-1: $2 for 2 resolved, x-2: $4 for 1: overall $6 / 3; resamples {x-1,x-1} 1, {x-1,x-2} 2, {x-2,x-2} 4
    assert row["cost_per_resolved"] == pytest.approx(2.0) and row["issues"] == 4
    assert row["cost_per_resolved_ci"] == pytest.approx((1.0, 4.0))


def test_the_report_shows_the_costs_and_the_audit(comparison, tmp_path):
    write_report(comparison, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Cost-effectiveness" in md and "## Memory leak audit" in md
    assert "| on | 3/4 | $0.6300 | $0.2100 |" in md
    data = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert [r["run"] for r in data["leak_audit"]] == ["off", "on"]
    # the fixtures' config.json names no dataset: said in a line, no count
    assert data["leak_audit"][0]["hits"] is None and "names no dataset" in data["leak_audit"][0]["note"]


def test_compare_counts_the_audits_hits_per_run(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    ids = [r["instance_id"] for r in ROWS]
    runs = []
    for name, memory in (("plain", None), ("leaky", hand_memory())):
        run = write_run(tmp_path / name, {i: "PASS" for i in ids})
        config = json.loads((run / "config.json").read_text())
        config["spec"]["dataset"] = {"name": str(rows), "split": "test"}
        config["spec"]["induction"] = {"success": "judge" if memory is None else "tests"}
        (run / "config.json").write_text(json.dumps(config))
        if memory is not None:
            memory.path = run / "memory.json"
            memory.save()
        runs.append(run)
    c = compare([load_arm("plain", runs[0]), load_arm("leaky", runs[1])], bootstrap=200)
    assert [(r["run"], r["hits"], r["entries_flagged"], r["success"]) for r in c.leak_audit] == [
        ("plain", 0, [], "judge"), ("leaky", 7, ["pf-lookups", "wf-headers"], "tests")]


def test_a_run_that_ranked_by_embeddings_without_their_usage_is_said(tmp_path):
    runs = []
    for name, enabled in (("off", "off"), ("old", "on")):
        run = write_run(tmp_path / name, {"x-1": "PASS", "x-2": "PASS"}, workflows={"x-2": ["wf-a"]},
                        memory_rounds={"x-2": 1})
        config = json.loads((run / "config.json").read_text())
        config["spec"]["memory"] = {"enabled": enabled, "retrieval": "embedding"}
        (run / "config.json").write_text(json.dumps(config))
        runs.append(run)
    c = compare([load_arm("off", runs[0]), load_arm("old", runs[1])], bootstrap=200)
    assert c.cost_effectiveness[0]["notes"] == []  # memory off ranks nothing
    assert c.cost_effectiveness[1]["notes"] == [
        "old ranked memory by embeddings but recorded no embedding usage (made before awm-tui counted it): its memory "
        "cost leaves those calls out."]


def test_the_adherence_judges_calls_count_as_the_judges(tmp_path):
    """memory.adherence: judge asks a model about every issue given memory: its calls are memory's, in the judge
    column, beside the verdict's (the run's statistics count them so too: awm.run.stats)."""
    fields = flat()
    fields["acme__lib-1"]["adherence_judge"] = {"cost": 0.03, "prompt_tokens": 250, "completion_tokens": 50}
    fields["acme__lib-2"]["judge"] = {"verdict": "PASS", "cost": 0.02, "prompt_tokens": 200, "completion_tokens": 20}
    fields["acme__lib-2"]["adherence_judge"] = {"cost": 0.01, "prompt_tokens": 80, "completion_tokens": 20,
                                                "error": "HTTP 500"}  # a failed call still spent
    off = write_run(tmp_path / "off", dict(zip(IDS, ["PASS", "FAIL", "PASS", "FAIL"])), fields=flat())
    on = write_run(tmp_path / "on", dict(zip(IDS, ["PASS", "PASS", "PASS", "FAIL"])), fields=fields)
    _, row = compare([load_arm("off", off), load_arm("on", on)], bootstrap=200).to_dict()["cost_effectiveness"]
    assert row["memory_cost"]["judge"] == pytest.approx(0.06)
    assert row["memory_tokens"]["judge"] == 620
    assert row["cost"] == pytest.approx(0.46)
