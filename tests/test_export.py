"""`awm-tui export RUN DIR`: a run as a submission folder of the SWE-bench experiments repository, checked on a
synthetic run folder written with the engine's own writers (RunStore.create, commit, write_predictions,
write_checkpoint; eval/<id>/ as GradingEvaluator and the harness backends leave it; logs as the agent runner writes
them)."""

from __future__ import annotations

import ast
import io
import json
import os
from datetime import date
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from awm.records import Experience, Status, Step
from awm.run.stats import Stats
from awm.run.store import RunStore
from awm.spec import DatasetSpec, LLMSpec, RunSpec
from awm_tui.commands.cli import main

MODEL = "openai/gpt-4o"
RESOLVED = "astropy__astropy-12907"  # graded by the SWE-bench harness (docker): eval.sh and run_instance.log too
UNRESOLVED = "django__django-11099"  # graded by the local backend: patch.diff, report.json, test_output.txt
EMPTY = "django__django-11133"  # an empty patch: failed without running anything
ERRORED = "sympy__sympy-20590"  # the agent broke after editing: a patch, never evaluated
UNFINISHED = "sympy__sympy-13480"  # in the run's issue list, not finished
MEMORY = "## Workflow: Reproduce first\nWhen to use: a bug report with an example\nSteps:\n1. Run the example"
PATCHES = {RESOLVED: "diff --git a/astropy/x.py b/astropy/x.py\n+fixed\n", UNRESOLVED: "diff --git a/d.py b/d.py\n+x\n",
           EMPTY: "", ERRORED: "diff --git a/s.py b/s.py\n+y\n"}
# what analysis/get_results.py keeps in a submission folder (it deletes everything else, then writes results/)
KEPT_BY_GET_RESULTS = {"preds.json", "all_preds.jsonl", "logs", "metadata.yaml", "metadata.yml", "trajs", "README.md"}


def report(iid: str, resolved: bool, applied: bool = True) -> dict:
    """report.json in the harness's shape."""
    return {iid: {"patch_is_None": False, "patch_exists": bool(PATCHES[iid]), "patch_successfully_applied": applied,
                  "resolved": resolved, "tests_status": {"FAIL_TO_PASS": {"success": [], "failure": []}}}}


def make_run(tmp_path: Path, monkeypatch, *, status: str = "completed", unfinished: bool = False,
             dataset: str = "princeton-nlp/SWE-bench_Lite") -> Path:
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    spec = RunSpec(llm=LLMSpec(model=MODEL), name="lite", dataset=DatasetSpec(name=dataset, repo_filter=[]))
    store = RunStore.create(spec, str(tmp_path / "run"))
    planned = [RESOLVED, UNRESOLVED, EMPTY, ERRORED] + ([UNFINISHED] if unfinished else [])
    store.update_config(provenance={"awm_tui": {"version": "0.1.0", "commit": "0123456789abcdef", "dirty": True},
                                    "python": "3.12.8", "packages": {"openhands-sdk": "1.58.2", "swebench": "4.1.0"},
                                    "dataset": {"name": dataset, "split": "test", "instance_ids": planned,
                                                "fingerprint": "f" * 64},
                                    "prompts": {"agent": "abc"}, "recorded_at": "2025-06-01T10:00:00"})
    statuses = {RESOLVED: Status.PASS, UNRESOLVED: Status.FAIL, EMPTY: Status.FAIL, ERRORED: Status.ERROR}
    experiences = []
    for position, (iid, status_) in enumerate(statuses.items(), 1):
        experience = Experience(
            instance_id=iid, problem_statement=f"problem of {iid}", status=status_, diff_patch=PATCHES[iid],
            history=[Step(tool="terminal", action="$ ls", thought="look", observation="a.py")], cost=0.25,
            prompt_tokens=1000, completion_tokens=100, steps=1, duration_s=12.0, position=position,
            workflow_ids=["wf-reproduce-first"] if iid == RESOLVED else [], memory_round=1,
            reason="" if status_ == Status.PASS else "not resolved")
        store.commit(experience)
        experiences.append(experience)
    store.write_predictions(experiences, MODEL)
    store.write_checkpoint(Stats(total=len(planned), processed=4), planned, list(statuses), status, "lite", MODEL)
    write_agent_files(store, RESOLVED, memory=MEMORY, events=True)
    write_agent_files(store, UNRESOLVED, memory="", events=False)
    # eval/<id>/ as GradingEvaluator leaves it; the harness backend adds its own log folder under harness/
    for iid, resolved in ((RESOLVED, True), (UNRESOLVED, False)):
        folder = store.eval / iid
        folder.mkdir(parents=True)
        (folder / "patch.diff").write_text(PATCHES[iid])
        (folder / "report.json").write_text(json.dumps(report(iid, resolved)))
        (folder / "test_output.txt").write_text(f">>>>> Start Test Output\ntests of {iid}\n>>>>> End Test Output\n")
    harness = store.eval / RESOLVED / "harness" / "awm-lite-1a2b3c4d" / MODEL.replace("/", "__") / RESOLVED
    harness.mkdir(parents=True)
    for name, text in (("eval.sh", "#!/bin/bash\npytest\n"), ("run_instance.log", "2025-06-01 10:00:00,000 - x\n"),
                       ("patch.diff", PATCHES[RESOLVED]), ("test_output.txt", "tests"),
                       ("report.json", json.dumps(report(RESOLVED, True)))):
        (harness / name).write_text(text)
    empty = store.eval / EMPTY
    empty.mkdir(parents=True)
    (empty / "patch.diff").write_text("")
    (empty / "report.json").write_text(json.dumps(report(EMPTY, False, applied=False)))
    return store.dir


def write_agent_files(store: RunStore, iid: str, memory: str, events: bool) -> None:
    """logs/instance_<id>.log as awm.agent.runner writes it, and (`events`) its trajectory.json: the SDK events'
    model_dump(mode="json")."""
    store.logs.mkdir(parents=True, exist_ok=True)
    head = f"# {iid}  repo x/y  base abc\n# workspace /tmp/ws\n"
    if memory:
        head += f"# workflow memory in the system prompt:\n{memory}\n"
    store.log_path(iid).write_text(head + "[10:00:01] ACTION terminal\n$ ls\n\n[10:00:02] OBSERVATION terminal\n"
                                   "a.py\n\n# agent status: finished \n")
    if not events:
        return
    text = lambda t: [{"cache_prompt": False, "type": "text", "text": t}]  # noqa: E731 - the SDK's content shape
    trajectory = [
        {"kind": "SystemPromptEvent", "source": "agent", "system_prompt": text("You are OpenHands agent.")[0],
         "tools": [], "dynamic_context": text(f"<REPO_CONTEXT/>\n{memory}")[0]},
        {"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": text("Fix issue 12907")}},
        {"kind": "ActionEvent", "source": "agent", "thought": text("Reproduce it first."), "reasoning_content": None,
         "action": {"command": "python -c 'import astropy'", "is_input": False, "timeout": None, "reset": False,
                    "kind": "TerminalAction"}, "tool_name": "terminal", "tool_call_id": "c1"},
        {"kind": "ObservationEvent", "source": "environment", "tool_name": "terminal", "tool_call_id": "c1",
         "observation": {"content": text("\x1b[?2004lTraceback ```nested fence```\x1b[0m"), "is_error": False,
                         "exit_code": 1,
                         "kind": "TerminalObservation"}},
        {"kind": "ActionEvent", "source": "agent", "thought": [], "action": {
            "command": "str_replace", "path": "/ws/astropy/x.py", "old_str": "broken\nline", "new_str": "fixed\nline",
            "kind": "FileEditorAction"}, "tool_name": "file_editor", "tool_call_id": "c2"},
        {"kind": "AgentErrorEvent", "source": "agent", "tool_name": "terminal", "error": "bad arguments"},
        {"kind": "ConversationStateUpdateEvent", "source": "environment", "key": "x", "value": 1},
    ]
    store.trajectory_path(iid).write_text(json.dumps(trajectory))


def export(run: Path, out: Path, *flags: str) -> int:
    return main(["export", str(run), str(out), *flags])


def load_yaml(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def get_results(folder: Path, instance_ids: list[str]) -> dict[str, list[str]]:
    """analysis/get_results.py's classification of a submission folder, by the files it looks at (the resolved
    verdict from report.json instead of its re-grading of test_output.txt, which needs the dataset)."""
    lists: dict[str, list[str]] = {"no_generation": [], "no_logs": [], "resolved": []}
    for iid in instance_ids:
        logs = folder / "logs" / iid
        if not logs.is_dir() or not (logs / "patch.diff").exists():
            lists["no_generation"].append(iid)
        elif not (logs / "test_output.txt").exists():
            lists["no_logs"].append(iid)
        elif json.loads((logs / "report.json").read_text())[iid]["resolved"]:
            lists["resolved"].append(iid)
    return {k: sorted(v) for k, v in lists.items()}


def test_the_folder_has_every_file_and_field_the_experiments_repository_documents(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, monkeypatch)
    out = tmp_path / f"{date.today():%Y%m%d}_awm-openhands_gpt-4o"
    assert export(run, out, "--org", "Acme Lab", "--site", "https://acme.example") == 0
    printed = capsys.readouterr()
    assert "resolved 1, no_generation 1, no_logs 1" in printed.out and "evaluation/lite/" in printed.out
    assert "info.report" in printed.out and "tags.org" not in printed.out
    assert printed.err == ("awm-tui export: warning: the run covers 4 of the split's 300 instances. The leaderboard "
                           "scores the whole split: get_results.py counts every instance without logs as "
                           "no_generation.\n")

    assert {p.name for p in out.iterdir()} == {"all_preds.jsonl", "metadata.yaml", "README.md", "logs", "trajs",
                                              "results"}
    assert {p.name for p in out.iterdir()} - {"results"} <= KEPT_BY_GET_RESULTS  # nothing get_results.py deletes
    predictions = [json.loads(line) for line in (out / "all_preds.jsonl").read_text().splitlines()]
    assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} for p in predictions)
    assert {p["instance_id"]: p["model_patch"] for p in predictions} == PATCHES  # one per instance, the empty one too
    assert {p["model_name_or_path"] for p in predictions} == {MODEL}

    assert {p.name for p in (out / "logs" / RESOLVED).iterdir()} == {"patch.diff", "report.json", "test_output.txt",
                                                                     "eval.sh", "run_instance.log"}
    assert {p.name for p in (out / "logs" / UNRESOLVED).iterdir()} == {"patch.diff", "report.json", "test_output.txt"}
    assert not (out / "logs" / EMPTY).exists()  # the harness never runs an empty patch: no_generation
    assert {p.name for p in (out / "logs" / ERRORED).iterdir()} == {"patch.diff"}  # no evaluation: no_logs
    assert (out / "logs" / RESOLVED / "patch.diff").read_text() == PATCHES[RESOLVED]
    assert {p.name for p in (out / "trajs").iterdir()} == {f"{iid}.md" for iid in PATCHES}

    results = json.loads((out / "results" / "results.json").read_text())
    assert results == {"no_generation": [EMPTY], "no_logs": [ERRORED], "resolved": [RESOLVED]}
    assert results == get_results(out, list(PATCHES))
    assert json.loads((out / "results" / "resolved_by_repo.json").read_text()) == {
        "astropy/astropy": {"resolved": 1, "total": 1}, "django/django": {"resolved": 0, "total": 2},
        "sympy/sympy": {"resolved": 0, "total": 1}}
    assert not (out / "results" / "resolved_by_time.json").exists()  # a hub dataset: created_at unknown
    assert "resolved_by_time.json is not written" in printed.out and "--dataset princeton-nlp/SWE-bench_Lite" in \
        printed.out

    meta = load_yaml(out / "metadata.yaml")
    assert set(meta) == {"info", "assets", "tags"}
    assert set(meta["info"]) == {"name", "site", "report", "authors", "logo"}
    assert meta["info"]["site"] == "https://acme.example" and meta["info"]["report"].startswith("TODO")
    folder = f"{date.today():%Y%m%d}_awm-openhands_gpt-4o"  # the suggested name: today, system, model
    assert meta["assets"] == {"logs": f"s3://swe-bench-submissions/lite/{folder}/logs",
                              "trajs": f"s3://swe-bench-submissions/lite/{folder}/trajs"}
    assert f"evaluation/lite/{folder} (named {folder})" not in printed.out  # DIR already has the name
    assert meta["tags"] == {"checked": False, "model": ["gpt-4o"], "org": ["Acme Lab"], "os_model": False,
                            "os_system": False, "system": {"attempts": 1}}
    text = (out / "metadata.yaml").read_text()
    assert "awm-tui 0.1.0, commit 0123456789ab with uncommitted changes" in text  # provenance, as a comment

    readme = (out / "README.md").read_text()
    assert "| Resolved | 1 of 4 (25.00%) |" in readme and "| astropy/astropy | 1 | 1 |" in readme
    assert "Does not use SWE-bench test knowledge (`PASS_TO_PASS`, `FAIL_TO_PASS`): **not as run**" in readme
    assert "Not a complete submission" in readme  # 4 of Lite's 300


def test_a_trajectory_shows_the_workflows_the_model_saw_and_every_step(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, monkeypatch)
    out = tmp_path / "sub"
    assert export(run, out) == 0
    full = (out / "trajs" / f"{RESOLVED}.md").read_text()
    assert "| Verdict | PASS (the run's grading) |\n| In results.json | resolved |" in full
    assert "wf-reproduce-first" in full
    injected = full.split("## Workflows injected into the prompt", 1)[1].split("## System prompt", 1)[0]
    assert MEMORY in injected
    assert "You are OpenHands agent." in full and "Fix issue 12907" in full and "Reproduce it first." in full
    assert "```bash\npython -c 'import astropy'\n```" in full and "Observation (exit code 1):" in full
    assert "````\nTraceback ```nested fence```\n````" in full  # a fence longer than the text's own backticks
    assert "old_str:\n\n```\nbroken\nline\n```" in full and "- path: `/ws/astropy/x.py`" in full
    assert "Error (terminal):" in full and "ConversationStateUpdateEvent" not in full
    assert full.rstrip().endswith(f"```diff\n{PATCHES[RESOLVED].rstrip()}\n```")
    # no trajectory.json: the readable log; no log at all: the journal's condensed steps
    from_log = (out / "trajs" / f"{UNRESOLVED}.md").read_text()
    assert "## Agent log" in from_log and "None: the memory was empty" in from_log
    from_journal = (out / "trajs" / f"{ERRORED}.md").read_text()
    assert "## Steps" in from_journal and "### Step 1: terminal" in from_journal
    empty = (out / "trajs" / f"{EMPTY}.md").read_text()
    assert "| In results.json | no_generation |" in empty and "(empty: the agent changed nothing)" in empty
    assert "| In results.json | not resolved |" in from_log and "| In results.json | no_logs |" in from_journal


def test_resolved_by_time_from_a_local_dataset_file(tmp_path, monkeypatch, capsys):
    rows = tmp_path / "lite.jsonl"
    years = {RESOLVED: "2022-03-01T10:00:00Z", UNRESOLVED: "2019-02-01T10:00:00Z", EMPTY: "2019-05-01T00:00:00Z",
             ERRORED: "2020-12-01T00:00:00Z"}
    rows.write_text("".join(json.dumps({"instance_id": iid, "repo": "custom/" + iid.split("__")[0],
                                        "created_at": when}) + "\n" for iid, when in years.items()))
    run = make_run(tmp_path, monkeypatch, dataset=str(rows))
    out = tmp_path / "sub"
    assert export(run, out) == 0
    assert json.loads((out / "results" / "resolved_by_time.json").read_text()) == {
        "2019": {"resolved": 0, "total": 2}, "2020": {"resolved": 0, "total": 1}, "2022": {"resolved": 1, "total": 1}}
    assert "custom/astropy" in json.loads((out / "results" / "resolved_by_repo.json").read_text())
    printed = capsys.readouterr()
    assert "not a SWE-bench leaderboard split" in printed.err and "evaluation/<split>/" in printed.out
    assert load_yaml(out / "metadata.yaml")["assets"]["logs"].startswith("s3://swe-bench-submissions/TODO-split/")


def test_an_unfinished_run_exports_what_is_finished_and_says_so(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, monkeypatch, status="paused", unfinished=True)
    out = tmp_path / "sub"
    assert export(run, out) == 0
    err = capsys.readouterr().err
    assert "warning: the run is paused: 4 of its 5 issues are finished" in err
    results = json.loads((out / "results" / "results.json").read_text())
    assert results["no_generation"] == sorted([EMPTY, UNFINISHED])
    assert results == get_results(out, list(PATCHES) + [UNFINISHED])
    assert UNFINISHED not in (out / "all_preds.jsonl").read_text()
    readme = (out / "README.md").read_text()
    assert "run paused" in readme and "the run is paused: 4 of its 5 issues are finished" in readme


def test_a_folder_that_is_not_empty_is_refused_unless_forced(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, monkeypatch)
    out = tmp_path / "sub"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert export(run, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("awm-tui: export: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "not empty (notes.txt)" in err and "--force" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    (out / "logs" / "stale__stale-1").mkdir(parents=True)  # a previous export's, of another run
    (out / "logo.png").write_bytes(b"png")
    assert export(run, out, "--force") == 0
    assert not (out / "logs" / "stale__stale-1").exists() and (out / "logo.png").read_bytes() == b"png"
    assert (out / "notes.txt").exists() and (out / "all_preds.jsonl").exists()
    assert not list(tmp_path.glob(".sub.partial"))


def test_unknown_runs_and_folders_inside_the_run_are_refused(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path, monkeypatch)
    assert export(tmp_path / "nowhere", tmp_path / "sub") == 2
    err = capsys.readouterr().err
    assert "no run found there" in err and err.count("\n") == 1 and not (tmp_path / "sub").exists()
    assert export(run, run / "export") == 2
    assert "inside the run folder" in capsys.readouterr().err and not (run / "export").exists()


def test_help_is_quick_and_the_module_imports_only_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--help"])
    assert exit_.value.code == 0 and "usage: awm-tui export" in capsys.readouterr().out
    source = (Path(__file__).resolve().parents[1] / "awm_tui" / "commands" / "export.py").read_text()
    top = [n for n in ast.parse(source).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {a.name for n in top for a in n.names} == {"annotations", "argparse", "sys"}


def test_metadata_is_the_yaml_a_third_party_ci_check_expects(tmp_path, monkeypatch, capsys):
    """The checks a submitter's guide runs before opening the PR (info/assets/tags; name, authors; logs, trajs;
    model, checked) and one prediction per unique instance."""
    run = make_run(tmp_path, monkeypatch)
    out = tmp_path / "sub"
    assert export(run, out, "--authors", "Ada Lovelace", "--name", "AWM Test") == 0
    meta = load_yaml(out / "metadata.yaml")
    assert "name" in meta["info"] and meta["info"]["authors"] == "Ada Lovelace" and meta["info"]["name"] == "AWM Test"
    assert {"logs", "trajs"} <= set(meta["assets"]) and {"model", "checked"} <= set(meta["tags"])
    ids = [json.loads(line)["instance_id"] for line in io.StringIO((out / "all_preds.jsonl").read_text())]
    assert len(ids) == len(set(ids)) == 4


UNWRITABLE = "/sys/awm-tui-no-such" if os.geteuid() == 0 else None  # root passes every permission check


@pytest.mark.parametrize("where, problem", [
    ("taken", "is a file, not a folder"),  # DIR is a regular file
    ("taken/sub", "is under {tmp}/taken, which is a file"),  # DIR's parent is a regular file
    ("locked/sub", "cannot be made or written"),  # a folder that cannot be written
    ("x" * 300, "too long a name"),
    ("x" * 250, "builds it beside as .DIR.partial"),  # fits, but its staging folder would not
])
def test_a_destination_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch, capsys, where,
                                                                         problem):
    run = make_run(tmp_path, monkeypatch)
    (tmp_path / "taken").write_text("mine")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    out = (Path(UNWRITABLE) / "sub") if where == "locked/sub" and UNWRITABLE else tmp_path / where
    before = sorted(p.name for p in tmp_path.iterdir())
    assert export(run, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("awm-tui: export: DIR ") and err.count("\n") == 1 and "Traceback" not in err
    assert problem.replace("{tmp}", str(tmp_path)) in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging folder, nothing half-made
    assert (tmp_path / "taken").read_text() == "mine" and not any(locked.iterdir())
