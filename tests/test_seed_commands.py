"""The design's command line as it was written (the seed's section 4.1, and its run_awm.sh of section 3.4): no spec,
the flags on awm-tui's packaged defaults (specs/django.yaml), the model from --llm-config's table of ./config.toml,
and that file's [awm] tables for what a machine must change that no flag reaches. Here the machine has no Docker,
so config.toml says `[awm.agent] workspace = "local"` and `[awm.evaluation] backend = "local"`; its model is the
scripted one (`scripted/learner`, the bundled server, started by the run), and the dataset a local copy of a few
mini-benchmark issues: the only changes to the design's commands are that dataset (for the hub's SWE-bench_Lite and
django/django) and --no-ui (headless)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, cli

SCRIPTED_TOML = """[llm.eval_gpt4]
model = "scripted/learner"
"""
NO_DOCKER = """
[awm.agent]
workspace = "local"

[awm.evaluation]
backend = "local"

[awm.repos]
"awm-bench/tallyho" = "builtin:minibench"
"""
ISSUES = 3  # mini-benchmark issues in the local dataset


def seed_folder(tmp_path: Path) -> Path:
    """A working folder as the design's user has one: config.toml (the model, and the [awm] tables of a machine
    without Docker) and a local SWE-bench-format dataset."""
    from awm.demo import dataset_path

    (tmp_path / "config.toml").write_text(SCRIPTED_TOML + NO_DOCKER)
    rows = dataset_path().read_text().splitlines()[:ISSUES]
    (tmp_path / "swe-local.jsonl").write_text("\n".join(rows) + "\n")
    return tmp_path


def journal(out: Path) -> list[str]:
    return [json.loads(line)["instance_id"] for line in (out / "experiences.jsonl").read_text().splitlines() if line]


def env() -> dict:
    # the awm-tui on PATH is this environment's (as with an activated .venv), which run_awm.sh runs
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


# ---------------------------------------------------------------- the defaults, in-process

def test_flags_without_a_spec_run_on_the_packaged_defaults_with_config_toml_under_them(tmp_path, monkeypatch):
    """Packaged defaults < config.toml's [awm] < the flags; what came from [awm] is recorded with the flags (a
    resume runs with it, from anywhere), the spec path is the packaged file (a resume finds it)."""
    from awm.run.launch import launch_spec
    from awm.spec import load_spec, packaged_spec

    folder = seed_folder(tmp_path)
    with (folder / "config.toml").open("a") as f:
        f.write("\n[awm.induction]\ntrigger = 3\nmax_workflows = 20\n")
    monkeypatch.chdir(folder)
    spec = launch_spec(None, None, {"llm": "llm.eval_gpt4", "dataset.name": "swe-local.jsonl",
                                    "induction.trigger": 5, "output_dir": "out"})
    defaults = load_spec(packaged_spec(), {"llm": "llm.eval_gpt4"})
    assert spec.path == str(packaged_spec()) == str(ROOT / "specs" / "django.yaml") and spec.packaged
    assert spec.llm.model == "scripted/learner" and spec.llm.source.startswith("config.toml:[llm.eval_gpt4]")
    assert (spec.agent.workspace, spec.evaluation.backend) == ("local", "local")  # [awm]
    assert (spec.induction.trigger, spec.induction.max_workflows) == (5, 20)  # the flag over [awm] over defaults
    assert spec.dataset.name == str(folder / "swe-local.jsonl")
    assert spec.repos == {**defaults.repos, "awm-bench/tallyho": "builtin:minibench"}  # added to, not replaced
    for same in ("agent.max_iterations", "agent.timeout_minutes", "dataset.split", "dataset.repo_filter",
                 "checkpoint_interval", "max_consecutive_errors", "memory.enabled", "induction.success"):
        section, _, key = same.partition(".")
        assert (getattr(getattr(spec, section), key) if key else getattr(spec, section)) == (
            getattr(getattr(defaults, section), key) if key else getattr(defaults, section)), same
    assert spec.flags == {"agent.workspace": "local", "evaluation.backend": "local",
                          "repos": spec.repos, "induction.trigger": 5, "induction.max_workflows": 20,
                          "llm_config_file": str(folder / "config.toml"), "llm": "llm.eval_gpt4",
                          "dataset.name": str(folder / "swe-local.jsonl")}  # output_dir is not carried


def test_the_packaged_defaults_travel_inside_the_installed_package(tmp_path):
    """The wheel carries specs/ as awm/specs/ (pyproject's force-include), byte for byte, and an installed awm finds
    its defaults there; a checkout reads specs/ itself (the test above)."""
    from awm.grading.envs import uv

    built = subprocess.run([uv(), "build", "--wheel", "--offline", "-o", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=240)
    if built.returncode != 0:  # no build backend (hatchling) in uv's cache: fetch it
        built = subprocess.run([uv(), "build", "--wheel", "-o", str(tmp_path / "dist"), str(ROOT)],
                               capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("awm/specs/django.yaml") == (ROOT / "specs" / "django.yaml").read_bytes()
        zf.extractall(tmp_path / "site")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import awm.spec; "
             "print(awm.spec.__file__); print(awm.spec.packaged_spec())")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "site")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert out == [str(tmp_path / "site" / "awm" / "spec.py"), str(tmp_path / "site" / "awm" / "specs" / "django.yaml")]


@pytest.mark.parametrize("argv, launched", [
    ([], None),  # no argument: the run picker
    (["--llm-config", "llm.eval_gpt4", "--limit", "5"], (None, None, {"llm": "llm.eval_gpt4", "dataset.limit": 5})),
    (["--limit", "5"], (None, None, {"dataset.limit": 5})),  # the app says what is missing, as --no-ui does
])
def test_the_app_starts_the_design_command_without_a_spec(monkeypatch, argv, launched):
    """The design's commands without --no-ui open the app on that run (flags were ignored for the picker before)."""
    import awm_tui.app
    from awm_tui.commands import cli as cli_mod

    seen = []

    class App:
        return_code = 0

        def __init__(self, launch):
            seen.append(launch)

        def install_signal_handlers(self, pending=()):
            pass

        def run(self):
            pass

        def exit_summary(self):
            return []

    monkeypatch.setattr(awm_tui.app, "AwmApp", App)
    assert cli_mod.run_app(cli_mod.parser().parse_args(argv)) == 0
    (launch,) = seen
    assert (launch if launch is None else (launch.spec_path, launch.resume, launch.overrides)) == launched


# ---------------------------------------------------------------- the design's commands, as written

@pytest.mark.slow
def test_run_awm_sh_then_the_resume_from_its_checkpoint(awm_home, tmp_path):
    """`./evaluation/awm/scripts/run_awm.sh llm.eval_gpt4` (the design's first command; REPO_FILTER is its own knob),
    then its third: `--llm-config llm.eval_gpt4 --resume-from evaluation/evaluation_outputs/awm/checkpoint.json`,
    the run run_awm.sh wrote where the design's script writes it."""
    folder = seed_folder(tmp_path)
    first = subprocess.run([str(ROOT / "scripts" / "run_awm.sh"), "llm.eval_gpt4", "--no-ui", "--dataset",
                            "swe-local.jsonl"], cwd=folder, env={**env(), "REPO_FILTER": "awm-bench/tallyho"},
                           capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.startswith("Running AWM Online Learning with LLM config: llm.eval_gpt4\n")
    assert f"completed: {ISSUES}/{ISSUES} processed" in first.stdout and "Traceback" not in first.stderr
    out = folder / "evaluation" / "evaluation_outputs" / "awm"
    config = json.loads((out / "config.json").read_text())
    assert config["spec_path"] == str(ROOT / "specs" / "django.yaml")
    assert (config["spec"]["induction"]["trigger"], config["spec"]["agent"]["max_iterations"]) == (10, 100)
    assert config["spec"]["dataset"]["repo_filter"] == ["awm-bench/tallyho"]
    done = journal(out)
    assert len(done) == ISSUES

    elsewhere = folder / "later"  # the checkpoint given relative to here, config.toml recorded with the run
    elsewhere.mkdir()
    resumed = subprocess.run(cli("--no-ui", "--llm-config", "llm.eval_gpt4", "--resume-from",
                                 "../evaluation/evaluation_outputs/awm/checkpoint.json"),
                             cwd=elsewhere, env=env(), capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{ISSUES} issues, {ISSUES} already done" in resumed.stdout and "Traceback" not in resumed.stderr
    assert journal(out) == done  # nothing redone


@pytest.mark.slow
def test_the_designs_command_with_flags(awm_home, tmp_path):
    """The design's second command, its flags as written but the dataset (a local file of the mini-benchmark's
    issues for princeton-nlp/SWE-bench_Lite's django/django)."""
    folder = seed_folder(tmp_path)
    proc = subprocess.run(cli("--no-ui", "--llm-config", "llm.eval_gpt4", "--dataset", "swe-local.jsonl",
                              "--repo-filter", "awm-bench/tallyho", "--limit", "50", "--induction-trigger", "5",
                              "--output-dir", "evaluation/evaluation_outputs/awm_experiment_1"),
                          cwd=folder, env=env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"completed: {ISSUES}/{ISSUES} processed" in proc.stdout and "Traceback" not in proc.stderr
    out = folder / "evaluation" / "evaluation_outputs" / "awm_experiment_1"
    spec = json.loads((out / "config.json").read_text())["spec"]
    assert (spec["induction"]["trigger"], spec["dataset"]["limit"], spec["llm"]["model"]) == (5, 50, "scripted/learner")
    assert (spec["agent"]["workspace"], spec["evaluation"]["backend"]) == ("local", "local")
    assert len(journal(out)) == ISSUES
