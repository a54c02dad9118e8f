"""Two real runs of the demo started at once on a fresh user data dir: they race to build the mini-benchmark, clone
its mirror and register themselves; both finish every issue without an ERROR, and the run picker lists both."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.slow  # two whole demo runs with the real agent

DEMO = ROOT / "specs" / "demo.yaml"


def test_two_demo_runs_started_together_on_a_fresh_data_dir_both_complete(tmp_path, monkeypatch):
    home = tmp_path / "home"  # fresh: no mirror, no build, no registry
    env = {**os.environ, "AWM_TUI_HOME": str(home)}
    outs = [tmp_path / f"run{i}" for i in range(2)]
    procs = [subprocess.Popen(cli("--no-ui", str(DEMO), "--limit", "2", "--output-dir", str(out)), cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for out in outs]
    try:
        outputs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for proc, out, output in zip(procs, outs, outputs):
        assert proc.returncode == 0, output[-3000:]
        experiences = [json.loads(line) for line in (out / "experiences.jsonl").read_text().splitlines()]
        assert len(experiences) == 2, output[-3000:]
        assert [e["status"] for e in experiences if e["status"] == "ERROR"] == [], [e["reason"] for e in experiences]
        assert json.loads((out / "checkpoint.json").read_text())["status"] == "completed"
    monkeypatch.setenv("AWM_TUI_HOME", str(home))
    from awm.run.store import list_runs

    listed = {r.run_dir: r.status for r in list_runs()}
    assert {out.resolve(): "completed" for out in outs}.items() <= listed.items()
