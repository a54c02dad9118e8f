"""The no-memory baseline switch, and the Django specs: their defaults, and refusal up front without Docker."""

import json
import os
import subprocess

import pytest

from awm.run.launch import prepare_engine
from awm.spec import load_spec
from conftest import ROOT, cli

DJANGO_SPECS = ["django.yaml", "django-judge.yaml", "django-lite.yaml", "django-verified.yaml", "django-local.yaml"]


@pytest.mark.slow
def test_memory_off_runs_the_same_issues_with_no_induction_and_no_injection(awm_home, tmp_path):
    out = tmp_path / "run"
    spec = load_spec(ROOT / "specs" / "demo.yaml", {"output_dir": str(out), "dataset.limit": 5, "memory.enabled": "off"})
    finished = prepare_engine(spec, [], output_dir=str(out)).run()
    assert finished.outcome == "completed" and finished.stats.passed >= 2  # enough successes to have induced
    assert finished.stats.induction_rounds == 0 and finished.stats.workflows == 0
    assert not (out / "induction").exists()
    requests = [json.loads(line) for line in (out / "scripted_requests.jsonl").read_text().splitlines()]
    assert requests and all(r["kind"] == "agent" for r in requests)
    assert all("Workflow memory" not in json.dumps(r["body"]["messages"][0]) for r in requests)
    config = json.loads((out / "config.json").read_text())
    assert config["spec"]["memory"]["enabled"] == "off" and config["fingerprint"]["memory"] == "off"


@pytest.mark.parametrize("name", DJANGO_SPECS)
def test_django_specs_carry_the_designs_defaults(name, tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text('[llm.eval]\nmodel = "openai/gpt-4o"\napi_key = "sk-x"\n')
    monkeypatch.chdir(tmp_path)
    spec = load_spec(ROOT / "specs" / name)
    assert spec.dataset.repo_filter == ["django/django"] and spec.dataset.split == "test"
    assert (spec.induction.trigger, spec.induction.max_workflows, spec.agent.max_iterations) == (10, 50, 100)
    assert spec.memory.enabled == "on" and spec.llm.model == "openai/gpt-4o"
    assert spec.dataset.name.startswith("princeton-nlp/SWE-bench")



def test_the_judge_spec_is_the_django_run_with_no_test_knowledge_entering_memory(tmp_path, monkeypatch):
    """specs/django-judge.yaml validates as a spec and is specs/django.yaml but for its name and
    `induction.success: judge` (the leaderboard's "no test knowledge" path); django.yaml keeps AWM's `tests`."""
    import dataclasses

    (tmp_path / "config.toml").write_text('[llm.eval]\nmodel = "openai/gpt-4o"\napi_key = "sk-x"\n')
    monkeypatch.chdir(tmp_path)
    judge, tests = load_spec(ROOT / "specs" / "django-judge.yaml"), load_spec(ROOT / "specs" / "django.yaml")
    assert judge.induction.success == "judge" and tests.induction.success == "tests"
    assert judge.name == "django-judge" and judge.fingerprint()["induction_success"] == "judge"
    same = dataclasses.replace(judge, name=tests.name, path=tests.path,
                               induction=dataclasses.replace(judge.induction, success="tests"))
    assert same.public() == tests.public()  # nothing else differs

def test_docker_spec_is_refused_up_front_without_a_docker_engine(awm_home, tmp_path):
    (tmp_path / "config.toml").write_text('[llm.eval]\nmodel = "openai/gpt-4o"\napi_key = "sk-x"\n')
    text = (ROOT / "specs" / "django.yaml").read_text().replace("workspace: docker", "workspace: local")
    (tmp_path / "spec.yaml").write_text(text)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    proc = subprocess.run(cli("--no-ui", "spec.yaml", "--output-dir", str(tmp_path / "out")), cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "evaluation.backend" in proc.stderr and "Docker" in proc.stderr and "local" in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written
