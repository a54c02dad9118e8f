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


# ---------------------------------------------------------------- a run folder that cannot be made, a damaged config

import os  # noqa: E402

import pytest  # noqa: E402

from awm.errors import UserError  # noqa: E402


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """Runs made outside the runs folder are registered under the user data dir: this test's own."""
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))


def spec_at(tmp_path, output_dir=None, name="t") -> RunSpec:
    return RunSpec(llm=LLMSpec(model="openai/x"), name=name, output_dir=output_dir, path=str(tmp_path / "s.yaml"))


def test_an_output_dir_that_is_a_file_or_under_one_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    for out in (tmp_path / "taken", tmp_path / "taken" / "run"):
        with pytest.raises(UserError) as err:
            RunStore.create(spec_at(tmp_path, str(out)))
        assert err.value.field == "output_dir" and "a file, not a folder" in str(err.value)
    with pytest.raises(UserError) as err:
        RunStore.create(spec_at(tmp_path), str(tmp_path / "taken" / "run"))
    assert err.value.field is None and "--output-dir" in str(err.value)


def test_an_output_dir_too_long_for_the_file_system_is_refused(tmp_path):
    with pytest.raises(UserError) as err:
        RunStore.create(spec_at(tmp_path, str(tmp_path / ("o" * 300) / "run")))
    assert err.value.field == "output_dir" and "shorter" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_output_dir_is_refused(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(UserError) as err:
        RunStore.create(spec_at(tmp_path, str(tmp_path / "locked" / "run")))
    assert "cannot be made or written" in str(err.value)


@pytest.mark.parametrize("text", ['{"spec": {', "[1, 2]", '{"spec": "x"}'])
def test_resuming_a_run_with_a_damaged_config_is_refused(tmp_path, text):
    store = RunStore.create(spec_at(tmp_path, str(tmp_path / "run")))
    (store.dir / "config.json").write_text(text)
    with pytest.raises(UserError) as err:
        RunStore.open(str(store.dir))
    assert "config.json is damaged" in str(err.value) and "\n" not in str(err.value)


def test_resuming_a_run_whose_spec_moved_says_where_the_path_came_from(tmp_path):
    from awm.run.launch import launch_spec

    store = RunStore.create(spec_at(tmp_path, str(tmp_path / "run")))
    with pytest.raises(UserError) as err:
        launch_spec(None, str(store.dir))
    message = str(err.value)
    assert str(tmp_path / "s.yaml") in message and "config.json" in message and "--resume" in message
    assert "SPEC" in message
