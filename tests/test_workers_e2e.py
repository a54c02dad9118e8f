"""Several issues in flight with the real agent: SIGKILL while 3 are in flight, resume, and every instance is there
exactly once, nothing lost, with the statistics of an uninterrupted `workers: 3` run. The replay model with memory
off, so each issue's outcome and tokens do not depend on the order issues finish in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli

from awm.run.launch import launch_spec, prepare_engine

pytestmark = pytest.mark.slow

LIMIT = 6
SPEC = f"""
name: workers
llm: {{model: scripted/demo, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
dataset: {{name: builtin:minibench, repo_filter: awm-bench/tallyho, limit: {LIMIT}}}
repos: {{awm-bench/tallyho: "builtin:minibench"}}
agent: {{max_iterations: 30}}
evaluation: {{backend: local}}
memory: off
workers: 3
"""


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def in_flight(out: Path) -> int:
    started = len(list((out / "logs").glob("instance_*.log"))) if (out / "logs").exists() else 0
    return started - len(lines(out / "experiences.jsonl"))


def test_sigkill_with_three_in_flight_then_resume_loses_nothing(awm_home, tmp_path):
    spec = tmp_path / "workers.yaml"
    spec.write_text(SPEC)
    reference = tmp_path / "reference"
    # the uninterrupted run in this process, as test_e2e's reference is: the agent stack is imported once per test
    # process (a worker that already has it starts at once), not again in one more awm-tui
    finished = prepare_engine(launch_spec(str(spec), None, {"output_dir": str(reference)}), [],
                              output_dir=str(reference)).run()
    assert finished.outcome == "completed"

    out = tmp_path / "run"
    proc = subprocess.Popen(cli("--no-ui", str(spec), "--output-dir", str(out)), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(lines(out / "experiences.jsonl")) >= 1 and in_flight(out) == 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None and in_flight(out) == 3, "never caught 3 issues in flight"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [e["instance_id"] for e in lines(out / "experiences.jsonl")]

    again = subprocess.run(cli("--no-ui", "--resume", str(out)), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} already done" in again.stdout
    ids = [e["instance_id"] for e in lines(out / "experiences.jsonl")]
    assert ids[:len(before)] == before  # nothing finished was lost or redone
    assert sorted(ids) == sorted(e["instance_id"] for e in lines(reference / "experiences.jsonl"))
    assert len(ids) == len(set(ids)) == LIMIT
    ref, got = (json.loads((d / "result.json").read_text())["statistics"] for d in (reference, out))
    drop = lambda s: {k: v for k, v in s.items() if k != "elapsed_s"}  # noqa: E731
    assert drop(got) == drop(ref)
    assert max(e["staleness"] for e in lines(out / "experiences.jsonl")) <= 2
