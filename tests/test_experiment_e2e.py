"""`awm-tui experiment` end to end on the learner demo: 2 arms x 2 seeds and the memory arm's replays (--replay),
killed (SIGKILL) in its second run, resumed, compared with the continual-learning figures; the report opened in a
real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.slow

RUNS = ("memory-off-seed1", "memory-on-seed1", "memory-off-seed2", "memory-on-seed2")
REPLAYS = {"memory-on-seed1-replay": "memory-on-seed1", "memory-on-seed2-replay": "memory-on-seed2"}


def journal(run: Path) -> list[dict]:
    path = run / "experiences.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_an_experiment_runs_resumes_after_a_kill_and_compares(awm_home, tmp_path, kill_after):
    folder = tmp_path / "exp"
    env = {**os.environ, "AWM_TUI_HOME": str(awm_home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    first = subprocess.Popen(cli("experiment", "specs/demo.yaml", "--arms", "memory=off,on", "--seeds", "2",
                                 "--limit", "2", "--order", "shuffle", "--replay", "--output-dir", str(folder),
                                 "--quiet"),
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    kill_after.append(first.pid)
    second_run = folder / "runs" / RUNS[1]
    deadline = time.monotonic() + 300
    while not journal(second_run) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, first.communicate()[0]
    os.killpg(first.pid, signal.SIGKILL)  # in the experiment's second run, with one of its issues finished
    first.wait()
    done_before = {r["instance_id"]: r["finished_at"] for r in journal(folder / "runs" / RUNS[0])}
    second_before = {r["instance_id"]: r["finished_at"] for r in journal(second_run)}
    assert len(done_before) == 2 and len(second_before) == 1

    resumed = subprocess.run(cli("experiment", "--resume", str(folder), "--quiet"), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    out = resumed.stdout
    assert f"{RUNS[0]} (memory=off, seed 1)" not in out  # completed: not run again
    assert f"{RUNS[1]} (memory=on, seed 1): resuming" in out and f"{RUNS[2]} (memory=off, seed 2): starting" in out
    assert "memory-on-seed1-replay (replay of memory=on, seed 1): starting" in out

    runs = {name: journal(folder / "runs" / name) for name in RUNS}
    assert all(sorted(r["instance_id"] for r in records) == sorted({r["instance_id"] for r in records})
               and len(records) == 2 for records in runs.values())
    assert {r["instance_id"]: r["finished_at"] for r in runs[RUNS[0]]} == done_before  # nothing finished is redone
    assert all(second_before[r["instance_id"]] == r["finished_at"] for r in runs[RUNS[1]]
               if r["instance_id"] in second_before)
    assert not any(r["workflow_ids"] for name in RUNS[0::2] for r in runs[name])  # the baseline arm: no memory

    order = {name: json.loads((folder / "runs" / name / "config.json").read_text())["provenance"]["dataset"]
             for name in RUNS}
    assert order[RUNS[0]]["instance_ids"] == order[RUNS[1]]["instance_ids"]  # a seed's arms: the same order
    assert order[RUNS[2]]["instance_ids"] == order[RUNS[3]]["instance_ids"]
    assert sorted(order[RUNS[0]]["instance_ids"]) == sorted(order[RUNS[2]]["instance_ids"])  # the same issues
    assert [order[n]["seed"] for n in RUNS] == [1, 1, 2, 2] and {order[n]["order"] for n in RUNS} == {"shuffle"}

    for name, source in REPLAYS.items():  # each memory run again, in its order, its final memory frozen
        replay = folder / "runs" / name
        config = json.loads((replay / "config.json").read_text())
        assert config["replay_of"]["run_dir"] == str((folder / "runs" / source).resolve())
        assert config["spec"]["memory"]["enabled"] == "frozen"
        online = sorted(runs[source], key=lambda r: r["position"])
        assert [r["instance_id"] for r in journal(replay)] == [r["instance_id"] for r in online]
        assert [r["kind"] for r in json.loads((replay / "memory.json").read_text())["rounds"]] == ["seed"]

    report = folder / "report"
    assert (report / "report.md").is_file() and (report / "report.html").is_file()
    assert list(report.glob("*.png"))
    comparison = json.loads((report / "comparison.json").read_text())
    text = json.dumps(comparison)
    assert "memory=on" in text and "memory=off" in text
    [figures] = comparison["continual"]
    assert figures["arm"] == "memory=on" and figures["reference"] == "memory=off" and figures["instances"] == 2
    for key in ("forward_transfer", "backward_transfer", "forgetting", "aulc"):
        assert figures[key]["ci"][0] <= figures[key]["value"] <= figures[key]["ci"][1]
    assert "## Continual learning" in (report / "report.md").read_text()
    assert "memory=off" in out and "report" in out

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Chromium here to open the report in (apt-get install chromium)")
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_report_html.py"), str(report / "report.html")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
