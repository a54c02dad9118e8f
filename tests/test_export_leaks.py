"""`awm-tui export` states whether the run used test knowledge (induction.success) and what that means for a
leaderboard submission, and reports the memory leak audit's hits; without dataset rows, one line says why not."""

from __future__ import annotations

import json

from awm.memory.store import WorkflowMemory
from awm.records import Workflow
from awm.run.store import RunStore
from test_export import EMPTY, ERRORED, RESOLVED, UNRESOLVED, export, make_run


def leaky_memory(run) -> None:
    memory = WorkflowMemory(10, run / "memory.json")
    entry = Workflow(id="wf-run-the-test", name="Run the failing test", description="a validator bug", round=1,
                     steps=["Run test_url_trailing_newline to see it fail"])
    memory.workflows, memory.versions = [entry], {"wf-run-the-test@1": entry}
    memory.rounds = [{"round": 1, "kind": "workflow", "source_instances": [RESOLVED], "active": ["wf-run-the-test@1"]}]
    memory.save()


def set_success(run, success: str) -> None:
    store = RunStore(run)
    spec = store.config()["spec"]
    spec["induction"] = {**(spec.get("induction") or {}), "success": success}
    store.update_config(spec=spec)


def test_a_tests_run_says_it_used_test_knowledge_and_counts_the_hits(tmp_path, monkeypatch, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({
        "instance_id": iid, "repo": "x/y", "base_commit": "0" * 40, "problem_statement": "p",
        "FAIL_TO_PASS": ["test_url_trailing_newline (validators.tests.TestValidators)"] if iid == UNRESOLVED else [],
        "PASS_TO_PASS": []}) + "\n" for iid in (RESOLVED, UNRESOLVED, EMPTY, ERRORED)))
    run = make_run(tmp_path, monkeypatch, dataset=str(rows))
    leaky_memory(run)
    assert export(run, tmp_path / "sub") == 0
    out = capsys.readouterr().out
    assert "test knowledge: used test knowledge; memory leak audit: 1 hit(s)" in out
    readme = (tmp_path / "sub" / "README.md").read_text()
    assert "## Test knowledge and memory leaks" in readme
    assert "This run used test knowledge: with `induction.success: tests`" in readme
    assert "not a clean leaderboard submission" in readme
    assert "1 hit(s) in 1 entry (wf-run-the-test)" in readme


def test_a_judge_run_used_none_and_a_hub_dataset_is_said_in_a_line(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, monkeypatch)  # princeton-nlp/SWE-bench_Lite: not fetched
    leaky_memory(run)
    set_success(run, "judge")
    assert export(run, tmp_path / "sub") == 0
    assert "test knowledge: used no test knowledge; memory leak audit: not run" in capsys.readouterr().out
    readme = (tmp_path / "sub" / "README.md").read_text()
    assert "This run used no test knowledge: with `induction.success: judge`" in readme
    assert ("Memory leak audit (`awm-tui memory RUN audit`: entries naming a test of the run's issues, or a file or "
            "function a later issue's gold patch changes): not run: the run's dataset princeton-nlp/SWE-bench_Lite is "
            "on the Hugging Face hub, which is not contacted here: give it with --dataset") in readme


def test_a_frozen_replay_is_exported_as_a_memory_run_that_used_what_its_source_learned():
    """A replay (memory: frozen) gives the memory its source learned: with `induction.success: tests` that is test
    knowledge, and the entry is a memory system's, not the no-memory baseline's."""
    from awm.experiment.export import _checklist, _settings, _slug

    spec = {"memory": {"enabled": "frozen", "retrieval": "bm25"}, "induction": {"success": "tests"}}
    assert any("Does not use SWE-bench test knowledge" in line and "**not as run**" in line for line in _checklist(spec))
    assert _slug(spec, "openai/gpt-4o") == "awm-openhands_gpt-4o"
    assert "frozen" in _settings(spec)[1]
    judged = {"memory": {"enabled": "frozen"}, "induction": {"success": "judge"}}
    assert any(line.startswith("- [x] Does not use SWE-bench test knowledge") for line in _checklist(judged))
