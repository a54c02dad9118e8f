"""Provenance in config.json, `dataset.order`, the design's statistics' names, and the experiment's plan: in-process,
in milliseconds."""

from __future__ import annotations

import json

import pytest

from awm.dataset import select
from awm.errors import UserError
from awm.experiment import arms
from awm.records import Issue
from awm.run import provenance
from awm.run.stats import Stats
from awm.run.store import RunStore, design_statistics
from awm.spec import DatasetSpec, LLMSpec, RunSpec, load_spec
from conftest import ROOT

LLM = LLMSpec(model="scripted/learner")


def row(instance_id: str, created_at: str = "2020-01-01T00:00:00Z", **extra) -> dict:
    return {"instance_id": instance_id, "repo": "acme/widgets", "base_commit": "a" * 40,
            "problem_statement": f"fix {instance_id}", "created_at": created_at, **extra}


ROWS = [row("acme__widgets-10", "2021-03-01T00:00:00Z"), row("acme__widgets-2", "2019-05-01T00:00:00Z"),
        row("acme__widgets-7", "2020-07-01T12:00:00Z"), row("acme__widgets-1", "2022-01-01T00:00:00Z")]


def ids(issues: list[Issue]) -> list[str]:
    return [i.instance_id for i in issues]


def dataset(**kw) -> DatasetSpec:
    return DatasetSpec(name="rows.jsonl", repo_filter=[], **kw)


# ---- dataset.order

def test_order_id_is_natural_id_order():
    assert ids(select(ROWS, dataset())) == ["acme__widgets-1", "acme__widgets-2", "acme__widgets-7", "acme__widgets-10"]


def test_order_chronological_sorts_by_created_at():
    assert ids(select(ROWS, dataset(order="chronological"))) == [
        "acme__widgets-2", "acme__widgets-7", "acme__widgets-10", "acme__widgets-1"]


def test_chronological_reads_mixed_date_forms_and_breaks_ties_by_id():
    rows = [row("x__y-3", "2020-01-01 00:00:00"), row("x__y-1", "2020-01-01T00:00:00+00:00"),
            row("x__y-2", "2019-12-31T23:00:00-02:00")]  # 01:00 UTC on Jan 1st: after the other two
    assert ids(select(rows, dataset(order="chronological"))) == ["x__y-1", "x__y-3", "x__y-2"]


def test_chronological_without_dates_names_the_instance_and_the_field():
    rows = [row("x__y-1"), row("x__y-2", created_at="")]
    with pytest.raises(UserError) as err:
        select(rows, dataset(order="chronological"))
    assert "x__y-2" in err.value.message and "created_at" in err.value.message
    assert err.value.field == "dataset.order"


def test_shuffle_is_seeded_and_limit_picks_the_issues_before_the_order():
    rows = [row(f"acme__w-{n}") for n in range(1, 21)]
    one = ids(select(rows, dataset(order="shuffle", seed=1, limit=8)))
    assert one == ids(select(rows, dataset(order="shuffle", seed=1, limit=8)))  # the same on every call
    two = ids(select(rows, dataset(order="shuffle", seed=2, limit=8)))
    assert one != two and sorted(one) == sorted(two) == sorted(f"acme__w-{n}" for n in range(1, 9))
    assert ids(select(rows, dataset(order="shuffle", limit=8))) == ids(select(rows, dataset(order="shuffle", seed=0,
                                                                                           limit=8)))


def test_order_and_seed_are_spec_fields_and_part_of_what_a_run_means(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("llm: {model: scripted/learner}\ndataset: {name: 'builtin:minibench', order: shuffle, seed: 3}\n")
    spec = load_spec(str(path))
    assert (spec.dataset.order, spec.dataset.seed) == ("shuffle", 3)
    assert spec.fingerprint()["order"] == "shuffle" and spec.fingerprint()["order_seed"] == 3
    path.write_text("llm: {model: scripted/learner}\ndataset: {name: 'builtin:minibench', order: random}\n")
    with pytest.raises(UserError) as err:
        load_spec(str(path))
    assert "dataset.order" in err.value.message and "shuffle" in err.value.message


# ---- provenance

def issues() -> list[Issue]:
    return [Issue.from_row(r) for r in ROWS]


def test_provenance_records_versions_dataset_and_prompts():
    spec = RunSpec(llm=LLM, dataset=DatasetSpec(name="rows.jsonl", order="shuffle", seed=4))
    record = provenance.record(spec, issues())
    assert record["packages"]["litellm"] and record["packages"]["swebench"] and record["packages"]["openhands-sdk"]
    assert record["python"].startswith("3.")
    assert record["awm_tui"]["version"]
    assert record["awm_tui"]["commit"] is None or len(record["awm_tui"]["commit"]) == 40
    data = record["dataset"]
    assert (data["order"], data["seed"], data["rows"]) == ("shuffle", 4, 4)
    assert data["instance_ids"] == ids(issues())
    assert set(data["row_digests"]) == set(data["instance_ids"])
    assert set(record["prompts"]) >= {"agent", "induction", "judge", "memory", "pitfalls", "merge"}


def test_a_row_digest_changes_with_any_field_and_the_fingerprint_ignores_order():
    base = issues()
    changed = [Issue.from_row({**ROWS[0], "patch": "diff --git a/x b/x"})] + base[1:]
    spec = RunSpec(llm=LLM, dataset=DatasetSpec(name="rows.jsonl"))
    a, b = provenance.dataset_record(spec, base), provenance.dataset_record(spec, changed)
    assert a["row_digests"]["acme__widgets-10"] != b["row_digests"]["acme__widgets-10"]
    assert a["row_digests"]["acme__widgets-2"] == b["row_digests"]["acme__widgets-2"]
    assert a["fingerprint"] != b["fingerprint"]
    assert provenance.dataset_record(spec, base[::-1])["fingerprint"] == a["fingerprint"]


def test_differences_name_what_changed():
    old = {"awm_tui": {"version": "0.1.0", "commit": "a" * 40}, "python": "3.12.1",
           "packages": {"litellm": "1.93.0"}, "prompts": {"agent": "x", "judge": "y"}}
    new = {"awm_tui": {"version": "0.1.0", "commit": "a" * 40}, "python": "3.12.1",
           "packages": {"litellm": "1.95.1"}, "prompts": {"agent": "x", "judge": "z"}}
    assert provenance.differences(old, old) == []
    assert provenance.differences(old, new) == ["litellm 1.93.0 -> 1.95.1", "the judge prompt changed"]


def test_a_resume_keeps_the_runs_provenance_and_notes_what_changed(tmp_path):
    spec = RunSpec(llm=LLM, name="p", dataset=DatasetSpec(name="rows.jsonl"))
    store = RunStore.create(spec, str(tmp_path / "run"))
    first = provenance.record(spec, issues())
    store.record_provenance(first, resumed=False)
    assert store.config()["provenance"] == first and store.config()["spec"]["name"] == "p"
    store.record_provenance(first, resumed=True)
    assert "resumes" not in store.config()  # nothing changed: nothing noted
    later = {**first, "packages": {**first["packages"], "litellm": "9.9.9"}}
    store.record_provenance(later, resumed=True)
    config = store.config()
    assert config["provenance"] == first
    assert any("litellm" in c and "9.9.9" in c for c in config["resumes"][0]["changes"])


# ---- the design's statistics

def test_design_statistics_use_the_designs_names_beside_ours(tmp_path):
    stats = Stats(total=5, processed=4, passed=2, failed=1, skipped=1, workflows=3, elapsed_s=12.5)
    design = design_statistics(stats, buffer_size=2, config={"name": "x"}, start_time="2026-01-01T00:00:00")
    assert design == {"total_processed": 4, "total_success": 2, "success_rate": 0.5, "workflows_learned": 3,
                      "buffer_size": 2, "elapsed_seconds": 12.5, "start_time": "2026-01-01T00:00:00",
                      "config": {"name": "x"}}
    store = RunStore.create(RunSpec(llm=LLM, name="d"), str(tmp_path / "run"))
    store.write_checkpoint(stats, ["a", "b"], ["a"], "running", "d", "m", design=design)
    store.write_result([], [], stats, design)
    checkpoint = json.loads((store.dir / "checkpoint.json").read_text())
    result = json.loads((store.dir / "result.json").read_text())
    for data in (checkpoint, result):
        assert {k: data[k] for k in design} == design
        assert data["stats" if data is checkpoint else "statistics"]["success_rate"] == round(2 / 3, 4)  # ours
    assert checkpoint["last_checkpoint"] and checkpoint["status"] == "running"


# ---- the experiment's plan

def test_arms_are_every_combination_with_typed_values():
    made = arms.parse_arms(["memory=on,off"])
    assert [(a.name, a.fields, a.slug) for a in made] == [
        ("memory=on", {"memory.enabled": "on"}, "memory-on"), ("memory=off", {"memory.enabled": "off"}, "memory-off")]
    made = arms.parse_arms(["memory.retrieval=bm25,all", "trigger=2,4"])
    assert [a.fields for a in made] == [
        {"memory.retrieval": "bm25", "induction.trigger": 2}, {"memory.retrieval": "bm25", "induction.trigger": 4},
        {"memory.retrieval": "all", "induction.trigger": 2}, {"memory.retrieval": "all", "induction.trigger": 4}]


@pytest.mark.parametrize("given, words", [
    (["memory"], "field and its values"), (["colour=red,blue"], "not a spec field"), (["memory=on"], "one arm"),
    (["memory=on,on"], "given twice"), ([], "--arms memory=off,on")])
def test_bad_arms_are_one_paragraph(given, words):
    with pytest.raises(UserError) as err:
        arms.parse_arms(given)
    assert words in err.value.message and "\n" not in err.value.message


def test_a_plan_runs_seed_by_seed_and_reloads(tmp_path):
    made = arms.plan(str(ROOT / "specs" / "demo.yaml"), arms.parse_arms(["memory=on,off"]), 2,
                     {"dataset.limit": 3}, str(tmp_path / "exp"), "demo")
    assert [(r.arm, r.seed, r.dir.name) for r in made.runs()] == [
        ("memory=on", 1, "memory-on-seed1"), ("memory=off", 1, "memory-off-seed1"),
        ("memory=on", 2, "memory-on-seed2"), ("memory=off", 2, "memory-off-seed2")]
    assert made.run_overrides(made.runs()[1]) == {"dataset.limit": 3, "memory.enabled": "off", "dataset.seed": 1,
                                                  "name": "demo-memory-off-seed1"}
    again = arms.Experiment.load(tmp_path / "exp")
    assert again.runs() == made.runs() and again.arm_dirs() == made.arm_dirs()
    with pytest.raises(UserError, match="already holds an experiment"):
        arms.plan(str(ROOT / "specs" / "demo.yaml"), made.arms, 2, {}, str(tmp_path / "exp"), "demo")
    with pytest.raises(UserError, match="no experiment there"):
        arms.Experiment.load(tmp_path)


def test_an_arm_that_is_no_valid_run_is_refused_before_anything_runs(tmp_path):
    import subprocess

    from conftest import cli

    folder = tmp_path / "exp"
    proc = subprocess.run(cli("experiment", "specs/demo.yaml", "--arms", "memory=off,maybe", "--output-dir",
                              str(folder)), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: --arms: the arm memory=maybe") and "on, off" in message and "\n" not in message
    assert not folder.exists() and proc.stdout == ""
