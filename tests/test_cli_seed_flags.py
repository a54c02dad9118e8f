"""The design's command line (section 3.3 of the seed): --dataset, --split, --repo-filter, --agent-class,
--max-iterations and --resume-from, on top of the spec. Each flag on a short demo run, recorded in config.json; a bad
value is one paragraph naming the flag, exit status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from awm.errors import UserError
from conftest import ROOT, cli

DEMO = ROOT / "specs" / "demo.yaml"


def run(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cli("--no-ui", *args), cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def recorded(out: Path) -> dict:
    return json.loads((out / "config.json").read_text())["spec"]


def journal(out: Path) -> list[str]:
    return [json.loads(line)["instance_id"] for line in (out / "experiences.jsonl").read_text().splitlines() if line]


def instances_file(tmp_path: Path) -> Path:
    from awm.demo import dataset_path

    copy = tmp_path / "mini.jsonl"
    shutil.copy(dataset_path(), copy)
    return copy


def spec_without_the_demo_repo(tmp_path: Path) -> Path:
    """The demo spec, filtered to a repository it has no issue of: only --repo-filter makes it run."""
    text = DEMO.read_text()
    assert "  repo_filter: awm-bench/tallyho\n" in text
    spec = tmp_path / "demo-other-repo.yaml"
    spec.write_text(text.replace("  repo_filter: awm-bench/tallyho\n", "  repo_filter: django/django\n"))
    return spec


# flag, its value, where config.json records it, the value recorded (None: the value as given)
CASES = {
    "dataset": ("--dataset", "mini.jsonl", ("dataset", "name"), "<tmp>/mini.jsonl"),
    "split": ("--split", "dev", ("dataset", "split"), None),
    "repo-filter": ("--repo-filter", "awm-bench/tallyho", ("dataset", "repo_filter"), ["awm-bench/tallyho"]),
    "agent-class": ("--agent-class", "ApplyPatchAgent", ("agent", "kind"), None),
    "max-iterations": ("--max-iterations", "12", ("agent", "max_iterations"), 12),
}


@pytest.mark.slow
def test_the_seed_flags_reach_the_run_and_its_resume_from_a_checkpoint(awm_home, tmp_path):
    """All five flags on one short run (one demo run, not five): each recorded in config.json, and the run ran with
    them. Then `--resume-from` its checkpoint with a bigger limit and no other flag goes on from there: the flags
    the run was started with are not asked again (the spec file alone names another repository, and would be
    refused as another run)."""
    instances_file(tmp_path)
    spec = spec_without_the_demo_repo(tmp_path)  # only --repo-filter makes it run
    out = tmp_path / "out"
    flags = [arg for flag, value, _, _ in CASES.values() for arg in (flag, value)]
    proc = run(tmp_path, str(spec), *flags, "--limit", "1", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for case, (flag, value, (section, key), expected) in CASES.items():
        if case == "dataset":
            expected = str((tmp_path / "mini.jsonl").resolve())
        assert recorded(out)[section][key] == (value if expected is None else expected), case
    assert len(journal(out)) == 1  # the run ran with them
    assert "completed: 1/1 processed" in proc.stdout

    limit = 2
    elsewhere = tmp_path / "elsewhere"  # another directory: the recorded --dataset mini.jsonl still resolves
    elsewhere.mkdir()
    again = run(elsewhere, "--resume-from", str(out / "checkpoint.json"), "--limit", str(limit))
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert (f"resuming run out (scripted/learner), {limit} issues, {limit - 1} already done; folder {out.resolve()}"
            in again.stdout)
    ids = journal(out)
    assert len(ids) == limit and len(set(ids)) == limit  # the earlier issues kept, not redone
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    assert checkpoint["status"] == "completed" and len(checkpoint["finished_ids"]) == limit


def test_resume_from_takes_a_checkpoint_or_its_run_folder(tmp_path):
    """The run --resume-from names, in either form (the run itself is resumed as --resume resumes it, above)."""
    from awm_tui.commands.cli import parser, resume_target

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "run" / "checkpoint.json").write_text("{}")
    for given in (tmp_path / "run" / "checkpoint.json", tmp_path / "run"):
        assert resume_target(parser().parse_args(["--resume-from", str(given)])) == str(tmp_path / "run")
    assert resume_target(parser().parse_args(["--resume", "name"])) == "name"


# ------------------------------------------------------------------ refused, in one paragraph

BAD = {
    "unknown agent": (["--agent-class", "OpenHandsAgent"], ["option `--agent-class`", "CodeActAgent",
                                                           "ApplyPatchAgent", "GeminiAgent"]),
    "iterations not a number": (["--max-iterations", "ten"], ["option `--max-iterations`", "whole number",
                                                              "`--max-iterations 100`"]),
    "iterations zero": (["--max-iterations", "0"], ["option `--max-iterations`", "at least 1"]),
    "limit not a number": (["--limit", "ten"], ["option `--limit`", "whole number"]),
    "missing dataset file": (["--dataset", "./missing.jsonl"], ["option `--dataset`", "missing.jsonl",
                                                                "does not exist"]),
    "empty split": (["--split", " "], ["option `--split`", "empty"]),
    "empty repo filter": (["--repo-filter", ""], ["option `--repo-filter`"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_flag_value_is_one_paragraph_naming_the_flag(awm_home, tmp_path, case):
    args, expected = BAD[case]
    proc = run(tmp_path, str(DEMO), *args, "--output-dir", str(tmp_path / "out"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: ") and "\n" not in message, message
    for part in expected:
        assert part in message, (part, message)
    assert not (tmp_path / "out").exists()


RESUME_BAD = {
    "no such file": (lambda t: ["--resume-from", str(t / "nope" / "checkpoint.json")],
                     "no such file or folder"),
    "not a run folder": (lambda t: ["--resume-from", str(t / "stray.json")], "is not a run folder"),
    "both forms": (lambda t: ["--resume", "x", "--resume-from", str(t / "stray.json")], "give one"),
}


@pytest.mark.parametrize("case", list(RESUME_BAD))
def test_resume_from_refuses_what_is_not_a_run(awm_home, tmp_path, case):
    (tmp_path / "stray.json").write_text("{}")
    make, expected = RESUME_BAD[case]
    proc = run(tmp_path, *make(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert "Traceback" not in message and "\n" not in message and message.startswith("awm-tui: --resume")
    assert expected in message, message


def test_help_lists_the_seed_flags_and_the_exit_statuses():
    proc = subprocess.run(cli("--help"), capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert proc.returncode == 0
    for flag in ("--dataset", "--split", "--repo-filter", "--agent-class", "--max-iterations", "--resume-from",
                 "--resume RUN"):
        assert flag in proc.stdout, flag
    assert "0 the run completed, or was stopped safely (paused)" in proc.stdout
    assert "130 quit at once by a second Ctrl-C" in proc.stdout


def test_a_resume_runs_with_the_flags_its_run_was_started_with_and_a_flag_given_now_wins(awm_home, tmp_path,
                                                                                          monkeypatch):
    from awm.run.launch import launch_spec, open_run

    mini = instances_file(tmp_path)
    spec_file = spec_without_the_demo_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = launch_spec(str(spec_file), None, {
        "dataset.name": "mini.jsonl", "dataset.repo_filter": "awm-bench/tallyho", "agent.max_iterations": 12,
        "output_dir": str(tmp_path / "out"), "verbose": False})
    # recorded absolute; where and how it is shown are not what the run is
    assert spec.flags == {"dataset.name": str(mini.resolve()), "dataset.repo_filter": "awm-bench/tallyho",
                          "agent.max_iterations": 12}
    store = open_run(spec, output_dir=str(tmp_path / "out"))
    assert json.loads((store.dir / "config.json").read_text())["flags"] == spec.flags
    assert "flags" not in recorded(store.dir)  # not a spec field

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = launch_spec(None, str(store.dir), {"agent.max_iterations": 20})
    assert again.dataset.name == str(mini.resolve()) and again.dataset.repo_filter == ["awm-bench/tallyho"]
    assert again.agent.max_iterations == 20 and again.verbose is True
    assert open_run(again, resume=str(store.dir)).dir == store.dir  # the same run: not refused

    # without them (a run made before flags were recorded), the spec alone is another run: refused, as before
    config = json.loads((store.dir / "config.json").read_text())
    del config["flags"]
    (store.dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="changes what the run means"):
        open_run(launch_spec(None, str(store.dir), {}), resume=str(store.dir))
