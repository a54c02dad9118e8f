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


def evaluate(tmp_path, monkeypatch, *args: str) -> int:
    from awm_tui.commands.cli import main

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return main(["evaluate", *args])


def pred(iid: str, patch: str = "") -> dict:
    return {"instance_id": iid, "model_name_or_path": "m", "model_patch": patch}


def test_duplicate_ids_are_refused_naming_them_and_the_file(tmp_path, monkeypatch, capsys):
    """The same id twice would be graded twice and land in two lists of the report (resolved and empty_patch)."""
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in (
        pred("awm-bench__tallyho-1", "diff"), pred("awm-bench__tallyho-2"), pred("awm-bench__tallyho-1"),
        pred("awm-bench__tallyho-3"), pred("awm-bench__tallyho-3"), pred("awm-bench__tallyho-3"))))
    assert evaluate(tmp_path, monkeypatch, str(path), "--dataset", "builtin:minibench", "--run-id", "r") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(path) in err
    assert "awm-bench__tallyho-1 (2 times)" in err and "awm-bench__tallyho-3 (3 times)" in err
    assert "awm-bench__tallyho-2" not in err and "one prediction per instance_id" in err
    assert not (tmp_path / "evaluation-r").exists()  # nothing graded, nothing written


@pytest.mark.parametrize("text", ["", "\n\n", "[]"])
def test_an_empty_predictions_file_is_refused(tmp_path, monkeypatch, capsys, text):
    path = tmp_path / "preds.jsonl"
    path.write_text(text)
    assert evaluate(tmp_path, monkeypatch, str(path), "--dataset", "builtin:minibench", "--run-id", "r") == 2
    err = capsys.readouterr().err
    assert f"{path} holds no predictions" in err and err.count("\n") == 1
    assert not (tmp_path / "evaluation-r").exists()


@pytest.mark.parametrize("where, problem", [
    ("taken", "is a file, not a folder"),
    ("taken/out", "which is a file"),
    ("o" * 300, "too long a name"),
])
def test_an_output_dir_that_cannot_be_written_is_refused_before_grading(tmp_path, monkeypatch, capsys, where,
                                                                        problem):
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps(pred("awm-bench__tallyho-1")) + "\n")
    (tmp_path / "taken").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert evaluate(tmp_path, monkeypatch, str(path), "--dataset", "builtin:minibench",
                    "--output-dir", str(tmp_path / where)) == 2
    err = capsys.readouterr().err
    assert err.startswith("awm-tui: evaluate: --output-dir ") and err.count("\n") == 1 and problem in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_harness_backends_refuse_repositories_they_do_not_know(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"instance_id": "acme__app-1", "repo": "acme/app", "base_commit": "0" * 40,
                                "problem_statement": "p", "version": "1.0", "FAIL_TO_PASS": "[]",
                                "PASS_TO_PASS": "[]"}) + "\n")
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps(pred("acme__app-1", "diff")) + "\n")
    assert evaluate(tmp_path, monkeypatch, str(path), "--dataset", str(data), "--backend", "swebench-docker") == 2
    err = capsys.readouterr().err
    assert "evaluate --backend swebench-docker" in err and "acme/app (any version)" in err
    assert "--backend local" in err and err.count("\n") == 1
