"""Atomic files and the run journal: a torn write loses at most the record being written."""

import json

from awm import atomic
from awm.run.store import RunStore, list_runs
from awm.spec import LLMSpec, RunSpec
from awm.run.stats import Stats
from awm.records import Experience, Status


def test_write_json_replaces_whole_file(tmp_path):
    path = tmp_path / "x.json"
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_torn_journal_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "j.jsonl"
    atomic.append_line(path, {"instance_id": "a"})
    atomic.append_line(path, {"instance_id": "b"})
    with open(path, "a") as f:
        f.write('{"instance_id": "c", "trunc')
    assert [r["instance_id"] for r in atomic.read_lines(path, repair=True)] == ["a", "b"]
    atomic.append_line(path, {"instance_id": "d"})
    assert [r["instance_id"] for r in atomic.read_lines(path)] == ["a", "b", "d"]


def test_store_roundtrip_and_listing(tmp_path, monkeypatch):
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path))
    spec = RunSpec(llm=LLMSpec(model="openai/x", api_key="sk-secret-123"), name="t")
    store = RunStore.create(spec)
    assert "sk-secret-123" not in (store.dir / "config.json").read_text()
    e = Experience(instance_id="i-1", problem_statement="p", status=Status.PASS, diff_patch="diff")
    store.commit(e)
    assert [x.instance_id for x in store.finished()] == ["i-1"]
    store.write_predictions(store.finished(), "openai/x")
    pred = json.loads((store.dir / "predictions.jsonl").read_text())
    assert pred == {"instance_id": "i-1", "model_name_or_path": "openai/x", "model_patch": "diff"}
    stats = Stats.compute(store.finished(), 3, 0, 0, 1.0)
    store.write_checkpoint(stats, ["i-1", "i-2", "i-3"], ["i-1"], "running", "t", "openai/x")
    [summary] = list_runs()
    assert (summary.name, summary.processed, summary.total, summary.passed) == ("t", 1, 3, 1)
    assert RunStore.open(store.run_id).dir == store.dir
