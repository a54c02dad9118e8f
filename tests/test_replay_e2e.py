"""`awm-tui replay` for real: a learner demo run (scripted model, real checkouts and test runs), then its replay.
The replay takes the same issues in the same order with the run's final memory, which it never changes: the
source's memory.json is untouched, the replay's holds the same entries, its seed round and nothing else (no
induction, no usefulness counts), and an edit of it is refused."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
from conftest import ROOT, cli

from awm.run.launch import launch_spec, prepare_engine

pytestmark = pytest.mark.slow


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal(run) -> list[dict]:
    return [json.loads(line) for line in (run / "experiences.jsonl").read_text().splitlines()]


def test_a_replay_runs_the_same_issues_with_the_final_memory_unchanged(awm_home, tmp_path):
    env = {**os.environ, "AWM_TUI_HOME": str(awm_home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    source = tmp_path / "source"
    # the source run in this process, as test_e2e's reference is: the agent stack is imported once per test process
    # (a worker that already has it starts at once), not again in one more awm-tui; the replay is the command's own
    spec = launch_spec(str(ROOT / "specs" / "demo.yaml"), None, {"output_dir": str(source), "dataset.limit": 4})
    assert prepare_engine(spec, [], output_dir=str(source)).run().outcome == "completed"
    memory = json.loads((source / "memory.json").read_text())
    assert memory["workflows"] and memory["round"] >= 1  # the run learned something to replay with
    before = digest(source / "memory.json")

    replayed = subprocess.run(cli("replay", str(source), "--quiet"), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    replay = tmp_path / "source-replay"
    assert f"replay of {source}" in replayed.stdout and "completed" in replayed.stdout

    assert digest(source / "memory.json") == before  # the source's memory is read, never written
    config = json.loads((replay / "config.json").read_text())
    assert config["replay_of"] == {"run_dir": str(source), "run_id": "source"}
    assert config["spec"]["memory"]["enabled"] == "frozen"
    frozen = json.loads((replay / "memory.json").read_text())
    active = [w for w in memory["workflows"] if not w.get("disabled")]
    assert [(w["id"], w["steps"]) for w in frozen["workflows"]] == [(w["id"], w["steps"]) for w in active]
    assert [r["kind"] for r in frozen["rounds"]] == ["seed"] and frozen["round"] == 0  # no induction round
    assert frozen["failed_rounds"] == [] and frozen["usefulness"] == {}
    assert not list((replay / "induction").glob("*.prompt.txt"))  # no induction was asked for

    online, again = journal(source), journal(replay)
    assert [e["instance_id"] for e in again] == [e["instance_id"] for e in online]  # the same issues, in order
    assert {e["memory_round"] for e in again} == {0}  # every issue saw the one frozen memory
    assert any(e["workflow_ids"] for e in again) or any(e["why_none"] for e in again)
    summary = json.loads((replay / "checkpoint.json").read_text())
    assert summary["status"] == "completed" and summary["stats"]["induction_rounds"] == 0

    # the replay's memory takes no edits
    entry = frozen["workflows"][0]["id"]
    edit = subprocess.run(cli("memory", str(replay), "disable", entry), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert edit.returncode == 2 and "its memory is frozen" in edit.stderr and "Traceback" not in edit.stderr
