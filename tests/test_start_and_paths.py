"""Issue 19's smaller defects: a warm-started fresh run says it starts (not "resuming … 0 already done"); relative
`memory.from` / `memory.baseline_run` are read from the spec's folder, whatever the working folder; the official
harness backends refuse repositories and versions the harness has no test spec for, before any agent runs; the
django specs' comments say what eviction and result.json really do."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from awm.errors import UserError
from awm.memory.store import WorkflowMemory
from awm.records import Issue
from awm.run import events as ev
from awm.run.parts import MemorySources
from awm.spec import MemorySpec, load_spec
from awm_tui.commands.headless import HeadlessPrinter
from support.stubs import make_run
from test_memory_engine import engine_for, themed_issues

ROOT = Path(__file__).resolve().parents[1]


def started(events) -> ev.RunStarted:
    return next(e for e in events if isinstance(e, ev.RunStarted))


def start_line(event: ev.RunStarted) -> str:
    out = io.StringIO()
    HeadlessPrinter(out=out)(event)
    return out.getvalue().splitlines()[0]


def test_a_fresh_warm_started_run_says_it_starts_and_from_what(tmp_path):
    first = make_run(tmp_path / "a", 4)
    first.issues = themed_issues()[:4]
    engine_for(first, memory=MemorySpec(retrieval="all")).run()
    other = json.loads(first.store.memory_path.read_text())

    second = make_run(tmp_path / "b", 2)
    second.issues = [dataclasses.replace(i, instance_id=f"other__x-{n}") for n, i in enumerate(themed_issues()[:2], 1)]
    engine_for(second, memory=MemorySpec(retrieval="all"),
               sources=MemorySources(seed=other, seed_label=str(first.store.memory_path))).run()
    event = started(second.events)
    assert event.resumed is False and event.warm_from == str(first.store.memory_path)
    line = start_line(event)
    assert line.startswith("awm-tui: starting run ") and f"memory warm-started from {first.store.memory_path}" in line
    assert "resuming" not in line and "already done" not in line

    second.events.clear()  # the same run again: it has finished issues of its own now, so it resumes
    engine_for(second, memory=MemorySpec(retrieval="all"),
               sources=MemorySources(seed=other, seed_label=str(first.store.memory_path))).run()
    line = start_line(started(second.events))
    assert line.startswith("awm-tui: resuming run ") and "2 already done" in line and "warm-started" not in line


def test_a_fresh_run_without_memory_from_says_it_starts(tmp_path):
    run = make_run(tmp_path, 1)
    engine_for(run).run()
    event = started(run.events)
    assert event.resumed is False and event.warm_from == ""
    line = start_line(event)
    assert line.startswith("awm-tui: starting run ") and "warm" not in line and "resuming" not in line


def test_relative_memory_paths_are_read_from_the_specs_folder(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    (specs / "mem").mkdir(parents=True)
    (specs / "base-run").mkdir()
    (specs / "spec.yaml").write_text("llm: {model: openai/x}\nmemory:\n  from: mem/memory.json\n"
                                     "  baseline_run: base-run\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec(specs / "spec.yaml")
    assert spec.memory.start_from == str(specs / "mem" / "memory.json")
    assert spec.memory.baseline_run == str(specs / "base-run")  # a folder the spec's folder holds
    (specs / "spec.yaml").write_text("llm: {model: openai/x}\nmemory:\n  from: ./train.json\n"
                                     "  baseline_run: demo-baseline\n")
    spec = load_spec(specs / "spec.yaml")
    assert spec.memory.start_from == str(specs / "train.json")
    assert spec.memory.baseline_run == "demo-baseline"  # a run's name: looked up under the runs folder
    (specs / "spec.yaml").write_text("llm: {model: openai/x}\nmemory:\n  from: /abs/memory.json\n")
    assert load_spec(specs / "spec.yaml").memory.start_from == "/abs/memory.json"


def test_a_relative_memory_from_names_the_resolved_path_when_it_finds_nothing(tmp_path, monkeypatch):
    from awm.run.parts import memory_sources

    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "spec.yaml").write_text("llm: {model: openai/x}\nmemory:\n  from: mem/memory.json\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mem").mkdir()  # a memory.json next to the working folder is not the one the spec means
    (tmp_path / "mem" / "memory.json").write_text(json.dumps(WorkflowMemory(5).to_dict()))
    with pytest.raises(UserError) as caught:
        memory_sources(load_spec(tmp_path / "specs" / "spec.yaml"))
    assert str(tmp_path / "specs" / "mem" / "memory.json") in caught.value.message


# ---------------------------------------------------------------- the official harness's known repositories

def issue(repo: str, version: str) -> Issue:
    return Issue(instance_id=f"{repo.replace('/', '__')}-1", repo=repo, base_commit="0" * 40, problem_statement="p",
                 version=version)


def test_the_harness_backends_accept_what_swebench_knows_and_the_demo_repository():
    from awm.dataset import load_issues
    from awm.run.launch import check_harness_knows

    for backend in ("swebench-docker", "swebench-modal"):
        check_harness_knows(backend, [issue("django/django", "3.0"), issue("astropy/astropy", "4.3")])
    demo = load_spec(ROOT / "specs" / "demo-docker.yaml")
    assert demo.evaluation.backend == "swebench-docker"
    check_harness_knows(demo.evaluation.backend, load_issues(demo.dataset))  # registered by awm: stays accepted


def test_unknown_repositories_and_versions_are_refused_naming_them_and_the_fix():
    from awm.run.launch import check_harness_knows

    issues = [issue("acme/app", "1.0"), issue("django/django", "9.9"), issue("django/django", "3.0")]
    for backend in ("local", "none"):
        check_harness_knows(backend, issues)  # tests run here: any repository with a recipe
    with pytest.raises(UserError) as caught:
        check_harness_knows("swebench-docker", issues)
    message = caught.value.message
    assert caught.value.field == "evaluation.backend" and "`swebench-docker`" in message
    assert "acme/app (any version)" in message and "django/django (version 9.9)" in message
    assert "3.0" not in message and "2 of the 3 issue(s)" in message
    assert "`evaluation.backend: local`" in message and "a dataset of repositories and versions" in message


def test_the_run_is_refused_before_its_folder_is_made(tmp_path, monkeypatch, capsys):
    """Through the headless command, in-process: exit 2, one paragraph naming the spec and the field, no run
    folder, no agent."""
    from awm_tui.commands import cli

    from awm.grading.harness import HarnessEvaluator

    monkeypatch.setattr(HarnessEvaluator, "check_available", lambda self: None)  # the Docker engine answers
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    record = {"instance_id": "acme__app-1", "repo": "acme/app", "base_commit": "0" * 40, "problem_statement": "p",
              "version": "1.0", "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[]"}
    (tmp_path / "data.jsonl").write_text(json.dumps(record) + "\n")
    (tmp_path / "spec.yaml").write_text("name: t\nllm: {model: openai/x, base_url: 'http://127.0.0.1:9/v1'}\n"
                                        "dataset: {name: data.jsonl, repo_filter: acme/app}\nrepos: {acme/app: src}\n"
                                        "evaluation: {backend: swebench-docker}\noutput_dir: run\n")
    import signal

    saved = {s: signal.getsignal(s) for s in cli.SIGNALS}
    try:
        assert cli.main(["--no-ui", "spec.yaml"]) == 2
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    err = capsys.readouterr().err.strip()
    assert err.startswith("awm-tui: spec.yaml, field `evaluation.backend`: ") and "\n" not in err
    assert "acme/app" in err and not (tmp_path / "run").exists()


# ---------------------------------------------------------------- the django specs' comments

@pytest.mark.parametrize("name", ["django.yaml", "django-judge.yaml", "django-lite.yaml", "django-verified.yaml"])
def test_the_django_specs_comments_say_what_the_code_does(name):
    text = (ROOT / "specs" / name).read_text()
    assert "oldest rounds" not in text and "result.json every 5 issues" not in text
    assert "the least useful unpinned entry goes first" in text and "memory.grace" in text
    assert "checkpoint.json is written after every issue" in text
    assert "result.json at the run's end, pause or stop" in text
    from ruamel.yaml import YAML

    assert YAML(typ="safe").load(text)["induction"]["max_workflows"] == 50  # still the spec it was
