"""`awm-tui compare`'s statistics and pairing, on hand-checked numbers and synthetic run folders (milliseconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from awm.errors import UserError
from awm.experiment import stats
from awm.experiment.compare import compare, load_arm
from compare_fixtures import provenance, write_run


# ---- the statistics on hand-computed values

def test_mcnemar_exact_on_a_known_table():
    # discordant pairs 1 and 8: p = 2 * (C(9,0) + C(9,1)) / 2^9 = 20/512
    assert stats.mcnemar_exact(1, 8) == pytest.approx(0.0390625, abs=1e-12)
    assert stats.mcnemar_exact(8, 1) == stats.mcnemar_exact(1, 8)
    assert stats.mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert stats.mcnemar_exact(5, 5) == 1.0  # capped
    assert stats.mcnemar_exact(0, 0) == 1.0  # no discordant pair: no evidence either way
    assert 0 < stats.mcnemar_exact(400, 600) < 1e-9


def test_wilson_on_known_values():
    low, high = stats.wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    low, high = stats.wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    assert stats.wilson(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(x) for x in stats.wilson(0, 0))


def test_paired_bootstrap_contains_the_difference_and_is_deterministic():
    rng = np.random.default_rng(3)
    reference = (rng.random(80) < 0.4).astype(float)
    arm = np.where(rng.random(80) < 0.2, 1.0, reference)  # the arm resolves what the reference did, and more
    observed = arm.mean() - reference.mean()
    low, high = stats.paired_bootstrap(reference, arm, resamples=2000, seed=7)
    assert low <= observed <= high and low < high
    assert stats.paired_bootstrap(reference, arm, resamples=2000, seed=7) == (low, high)
    assert stats.paired_bootstrap(reference, arm, resamples=2000, seed=8) != (low, high)
    same = stats.paired_bootstrap(reference, reference, resamples=500, seed=1)
    assert same == (0.0, 0.0)  # identical outcomes: no difference in any resample


def test_bootstrap_resamples_an_instance_with_all_its_replicates():
    reference = np.array([1, 0, 0, 1, 0, 1, 0, 0, 1, 0], float)
    arm = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 0], float)
    single = stats.paired_bootstrap(reference, arm, resamples=1000, seed=0)
    # two identical replicates add no information: the instances, not the pairs, are the sample
    doubled = stats.paired_bootstrap(np.vstack([reference, reference]), np.vstack([arm, arm]), resamples=1000, seed=0)
    assert doubled == pytest.approx(single)


def test_learning_curves_on_a_tiny_example():
    outcomes = [1, 0, 1, 1, 0]
    assert stats.cumulative_rate(outcomes) == pytest.approx([1, 0.5, 2 / 3, 0.75, 0.6])
    rolling = stats.rolling_rate(outcomes, 2)
    assert math.isnan(rolling[0]) and list(rolling[1:]) == pytest.approx([0.5, 0.5, 1.0, 0.5])
    assert list(stats.rolling_rate(outcomes, 5)[-1:]) == pytest.approx([0.6])
    assert all(math.isnan(x) for x in stats.rolling_rate(outcomes, 6))
    # round 2 and 3 both came between the 4th and 5th issue; round 4 after the last
    assert stats.round_positions([0, 0, 1, 1, 3], [1, 2, 3, 4]) == {1: 3, 2: 5, 3: 5, 4: None}
    assert [stats.default_window(n) for n in (3, 20, 200)] == [3, 5, 20]


# ---- pairing, refusals and warnings on synthetic run folders

def statuses(text: str, prefix: str = "i") -> dict[str, str]:
    """'PFE.' -> {i-1: PASS, i-2: FAIL, i-3: ERROR, i-4: SKIPPED}."""
    names = {"P": "PASS", "F": "FAIL", "E": "ERROR", ".": "SKIPPED"}
    return {f"{prefix}-{k}": names[c] for k, c in enumerate(text, 1)}


def test_pairs_on_common_instances_only(tmp_path):
    a = write_run(tmp_path / "a", {"x-1": "PASS", "x-2": "FAIL", "x-3": "PASS", "x-4": "PASS"})
    b = write_run(tmp_path / "b", {"x-2": "PASS", "x-3": "PASS", "x-4": "FAIL", "x-5": "PASS"})
    c = compare([load_arm("a", a), load_arm("b", b)], bootstrap=200)
    assert c.instances == ["x-2", "x-3", "x-4"]
    assert [(r.arm, r.resolved, r.pairs) for r in c.results] == [("a", 2, 3), ("b", 2, 3)]
    d = c.differences[0]
    assert (d.wins, d.losses, d.both_resolved, d.neither, d.difference) == (1, 1, 1, 0, 0.0)
    assert d.p_value == 1.0
    assert sum("not finished by every run are left out" in w for w in c.warnings) == 2
    assert [row["verdicts"]["b"] for row in c.per_instance()] == ["win", "tie", "loss"]


def test_skipped_leave_the_pairing_and_errors_count_unresolved(tmp_path):
    a = write_run(tmp_path / "a", statuses("PPE.P"))
    b = write_run(tmp_path / "b", statuses("PEPPP"))
    c = compare([load_arm("a", a), load_arm("b", b)], bootstrap=200)
    assert c.instances == ["i-1", "i-2", "i-3", "i-5"]
    assert any("not graded (SKIPPED)" in w and "i-4" in w for w in c.warnings)
    assert [(r.resolved, r.errors) for r in c.results] == [(3, 1), (3, 1)]
    assert (c.differences[0].wins, c.differences[0].losses) == (1, 1)


def test_refuses_runs_whose_rows_differ(tmp_path):
    ids = list(statuses("PFPF"))
    a = write_run(tmp_path / "a", statuses("PFPF"))
    b = write_run(tmp_path / "b", statuses("PPPF"), record=provenance(ids, revised=("i-2", "i-4")))
    with pytest.raises(UserError) as raised:
        compare([load_arm("a", a), load_arm("b", b)])
    message = raised.value.message
    assert str(a) in message and str(b) in message and "i-2, i-4" in message and "2 of the 4" in message
    assert "row_digests" in message and "\n" not in message


def test_rows_differing_outside_the_common_instances_are_fine(tmp_path):
    a = write_run(tmp_path / "a", statuses("PF"))
    b = write_run(tmp_path / "b", {**statuses("PF"), "i-9": "PASS"},
                  record=provenance(["i-1", "i-2", "i-9"], revised=("i-9",)))
    assert compare([load_arm("a", a), load_arm("b", b)], bootstrap=200).instances == ["i-1", "i-2"]


def test_warns_when_versions_or_prompts_differ_or_provenance_is_missing(tmp_path):
    ids = list(statuses("PFP"))
    a = write_run(tmp_path / "a", statuses("PFP"))
    b = write_run(tmp_path / "b", statuses("PPP"), record=provenance(ids, prompts={"agent": "0" * 16},
                                                                      packages={"litellm": "1.99.0"}, dirty=True))
    old = write_run(tmp_path / "old", statuses("FFP"), record=None)
    c = compare([load_arm("a", a), load_arm("b", b), load_arm("old", old)], bootstrap=200)
    text = "\n".join(c.warnings)
    assert "b was made with other versions than a" in text
    assert "litellm 1.95.0 -> 1.99.0" in text and "the agent prompt changed" in text
    assert "b was made from a checkout with uncommitted changes" in text
    assert "old has no provenance" in text and "cannot be checked" in text
    assert "warnings (3)" in c.summary()
    clean = compare([load_arm("a", a), load_arm("a2", write_run(tmp_path / "a2", statuses("FFF")))], bootstrap=200)
    assert clean.warnings == []


@pytest.mark.parametrize("case, expected", [
    ("one arm", "needs at least two"),
    ("missing run", "no run found at"),
    ("nothing in common", "no finished instance in common"),
    ("all skipped", "left ungraded (SKIPPED)"),
    ("uneven replicates", "same number of runs"),
    ("same names", "given more than once"),
    ("few resamples", "--bootstrap 10 is too few"),
])
def test_refusals_are_one_paragraph(tmp_path, case, expected):
    a = write_run(tmp_path / "a", statuses("PF"))
    b = write_run(tmp_path / "b", statuses("FP"))
    with pytest.raises(UserError) as raised:
        if case == "one arm":
            compare([load_arm("a", a)])
        elif case == "missing run":
            load_arm("x", tmp_path / "nowhere")
        elif case == "nothing in common":
            compare([load_arm("a", a), load_arm("z", write_run(tmp_path / "z", statuses("PP", prefix="z")))])
        elif case == "all skipped":
            compare([load_arm("a", a), load_arm("s", write_run(tmp_path / "s", statuses("..")))])
        elif case == "uneven replicates":
            compare([load_arm("a", [a, b]), load_arm("b", b)])
        elif case == "same names":
            compare([load_arm("a", a), load_arm("a", b)])
        else:
            compare([load_arm("a", a), load_arm("b", b)], bootstrap=10)
    assert expected in raised.value.message and "\n" not in raised.value.message


def test_replicate_i_is_paired_with_replicate_i(tmp_path):
    # the arm wins everything in replicate 1 and loses everything in replicate 2: crosswise pairing would differ
    ref = [write_run(tmp_path / "ref-s0", statuses("FFF")), write_run(tmp_path / "ref-s1", statuses("PPP"))]
    arm = [write_run(tmp_path / "arm-s0", statuses("PPP")), write_run(tmp_path / "arm-s1", statuses("FFF"))]
    c = compare([load_arm("ref", ref), load_arm("arm", arm)], bootstrap=200)
    d = c.differences[0]
    assert (d.wins, d.losses, d.both_resolved, d.neither) == (3, 3, 0, 0)
    assert [r.replicate_rates for r in c.results] == [[0.0, 1.0], [1.0, 0.0]]
    assert (c.results[0].resolved, c.results[0].pairs) == (3, 6)
    assert [row["verdicts"]["arm"] for row in c.per_instance()] == ["tie"] * 3  # 1 of 2 replicates each
    assert [row["statuses"]["arm"] for row in c.per_instance()][0] == ["PASS", "FAIL"]
    assert c.curves[1]["mean_cumulative"] == pytest.approx([0.5, 0.5, 0.5])
    assert "2 runs each" in c.summary()


def test_workflow_helped_and_hurt_against_the_reference(tmp_path):
    base = write_run(tmp_path / "base", statuses("PFFPF"))
    memory = write_run(tmp_path / "mem", statuses("PPFFP"),
                       workflows={"i-2": ["wf-a"], "i-3": ["wf-a", "pf-b"], "i-4": ["wf-a", "pf-b", "wf-a"],
                                  "i-5": ["pf-b"]},
                       memory_rounds={"i-2": 1, "i-3": 1, "i-4": 2, "i-5": 2},
                       entries={"wf-a": "Fix A", "pf-b": "Breaking B"})
    c = compare([load_arm("off", base), load_arm("on", memory)], bootstrap=200)
    rows = {w["id"]: w for w in c.workflows}
    assert set(rows) == {"wf-a", "pf-b"}
    # wf-a given to i-2 (won), i-3 (both failed), i-4 (lost; listed twice, counted once)
    assert {k: rows["wf-a"][k] for k in ("given", "passed", "helped", "hurt", "arm", "against", "name", "kind")} == \
        {"given": 3, "passed": 1, "helped": 1, "hurt": 1, "arm": "on", "against": "off", "name": "Fix A",
         "kind": "workflow"}
    assert (rows["pf-b"]["given"], rows["pf-b"]["helped"], rows["pf-b"]["hurt"], rows["pf-b"]["kind"]) == \
        (3, 1, 1, "pitfall")
    # the memory arm as reference: its entries are measured against the other arm
    flipped = compare([load_arm("on", memory), load_arm("off", base)], bootstrap=200)
    assert {(w["arm"], w["against"]) for w in flipped.workflows} == {("on", "off")}


def test_curves_usage_and_induction_rounds(tmp_path):
    base = write_run(tmp_path / "base", statuses("FFPF"))
    memory = write_run(tmp_path / "mem", statuses("FPPP"), workflows={"i-3": ["wf-a"], "i-4": ["wf-a", "wf-b"]},
                       memory_rounds={"i-3": 1, "i-4": 2}, induction_cost=0.25,
                       fields={"i-1": {"cost": 1.0, "steps": 30}, "i-2": {"cost": 3.0, "duration_s": 600.0}})
    c = compare([load_arm("off", base), load_arm("on", memory)], bootstrap=200, rolling=2)
    curve = c.curves[1]["replicates"][0]
    assert curve["cumulative"] == pytest.approx([0, 0.5, 2 / 3, 0.75])
    assert curve["rolling"][1:] == pytest.approx([0.5, 1.0, 1.0]) and math.isnan(curve["rolling"][0])
    assert curve["memory_tokens"] == [0, 0, 100, 200]
    assert [(r["round"], r["position"]) for r in curve["rounds"]] == [(1, 3), (2, 4)]
    usage = c.usage[1]
    assert usage["cost"]["total"] == pytest.approx(1.0 + 3.0 + 0.03 + 0.04)
    assert usage["cost"]["median"] == pytest.approx((1.0 + 0.04) / 2)
    assert usage["steps"]["median"] == 10 and usage["duration_s"]["total"] == 60 * 3 + 600
    assert usage["tokens"]["median"] == 1100 and usage["memory_issues"] == 2
    assert usage["induction_cost"] == 0.25 and usage["induction_cost_sources"] == ["checkpoint.json"]
    assert c.settings["rolling"] == 2


def test_induction_cost_from_memory_json_when_not_in_the_statistics(tmp_path):
    import json

    run = write_run(tmp_path / "run", statuses("PF"), rounds=[{"round": 1, "kind": "workflow", "cost": 0.5}],
                    fields={"i-2": {"judge": {"verdict": "FAIL", "cost": 0.125}}})
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    del checkpoint["stats"]["induction_cost"]
    (run / "checkpoint.json").write_text(json.dumps(checkpoint))
    arm = load_arm("run", run)
    assert (arm.runs[0].induction_cost, arm.runs[0].induction_source) == (0.625, "memory.json")


def test_summary_names_rates_intervals_and_the_difference(tmp_path):
    a = write_run(tmp_path / "a", statuses("PPFFFFFFFF"))
    b = write_run(tmp_path / "b", statuses("PPPPPPPPFF"))
    summary = compare([load_arm("base", a), load_arm("memory", b)], bootstrap=500).summary()
    lines = summary.splitlines()
    assert lines[0].startswith("compare: 2 arms (one run each), 10 instances paired; reference: base")
    assert "20.0% [5.7%, 51.0%]  2/10" in lines[1]
    assert "80.0% [49.0%, 94.3%]  8/10" in lines[2] and "vs base: +60.0 pp [" in lines[2]
    assert "McNemar p = 0.031 (6 won, 0 lost)" in lines[2]
    assert len(lines) == 3
