"""`awm-tui evaluate` on a predictions file made by hand: gold patches resolve, empty and wrong ones do not."""

import json
import subprocess

import pytest

from awm.demo.minibench import load_instances
from conftest import ROOT, cli


@pytest.mark.slow
def test_gold_empty_and_broken_predictions(awm_home, tmp_path):
    instances = load_instances()[:3]
    preds = [{"instance_id": i["instance_id"], "model_name_or_path": "gold", "model_patch": i["patch"]}
             for i in instances[:2]]
    preds.append({"instance_id": instances[2]["instance_id"], "model_name_or_path": "gold", "model_patch": ""})
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds))
    proc = subprocess.run(cli("evaluate", str(path), "--dataset", "builtin:minibench", "--repo",
                              "awm-bench/tallyho=builtin:minibench", "--run-id", "r1"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "evaluation-r1" / "gold.r1.json").read_text())
    assert report["resolved_ids"] == sorted(i["instance_id"] for i in instances[:2])
    assert report["empty_patch_ids"] == [instances[2]["instance_id"]]
    assert report["total_instances"] == 3 and report["unresolved_instances"] == 0


def test_bad_predictions_file_is_a_clear_error(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"instance_id": "x"\n')
    proc = subprocess.run(cli("evaluate", str(path), "--dataset", "builtin:minibench"), cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "line 1" in proc.stderr
