"""Every malformed input a user can give, through every command (`--no-ui SPEC` and its flags, evaluate, memory,
compare, export, experiment): exit status 2, no traceback, one paragraph that names the problem. The cases fail
before any agent or model is touched (a closed port for the model, never reached), so the whole table runs in the
fast lane: every case in-process (`awm_tui.commands.cli.main`, the user data dir in the case's folder), and a representative
subset (`process=True`) also as its own `awm-tui` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import cli

GOOD = """name: t
llm:
  model: openai/test-model
  base_url: http://127.0.0.1:{port}/v1
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: 2
repos:
  awm-bench/tallyho: builtin:minibench
"""
SEED_TOML = '[llm.eval_gpt4]\nmodel = "openai/test-model"\nbase_url = "http://127.0.0.1:9/v1"\n'  # never reached
LOCAL_DATA = GOOD.replace("builtin:minibench\n  repo_filter", "data.jsonl\n  repo_filter")


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def record(instance_id: str = "awm-bench__tallyho-901", **extra) -> dict:
    return {"instance_id": instance_id, "repo": "awm-bench/tallyho", "base_commit": "0" * 40,
            "problem_statement": "it breaks", "version": "0.1", "FAIL_TO_PASS": '["t.py::a"]',
            "PASS_TO_PASS": "[]", **extra}


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def without(rec: dict, key: str) -> dict:
    return {k: v for k, v in rec.items() if k != key}


@dataclass
class Case:
    expect: list[str]  # words the message must hold
    spec: str | None = GOOD  # None: no spec file written
    files: dict[str, str] = field(default_factory=dict)  # more files next to the spec
    # the command line after `awm-tui`: `--no-ui` is put first unless it starts with a subcommand; {spec} (the spec
    # file), {tmp} (the case's folder) and {unwritable} (a folder that cannot be written) are filled in
    args: list[str] = field(default_factory=lambda: ["{spec}"])
    setup: Callable[[Path, dict], None] | None = None  # makes what the case needs (a run folder), in-process
    names_spec: bool = True  # the message names the spec file
    process: bool = False  # also run as its own `awm-tui` process (a representative subset: each takes ~0.5 s)
    absent: list[str] = field(default_factory=list)  # words the message must not hold
    engines_up: bool = False  # the Docker engine and Modal answer (in-process): what is checked after them is reached


SUBCOMMANDS = ("evaluate", "memory", "compare", "export", "experiment", "replay")
# root passes every permission check: a pseudo file system is what it cannot write to
UNWRITABLE = "/sys/awm-tui-no-such" if os.geteuid() == 0 else "{tmp}/locked"


# ---------------------------------------------------------------- cases that need a run folder or a mirror

def made_run(tmp: Path, env: dict) -> Path:
    """A run folder as `awm-tui --no-ui spec.yaml --output-dir run` makes it (nothing run yet)."""
    from awm.run.store import RunStore
    from awm.spec import load_spec

    spec = load_spec(tmp / "spec.yaml")
    return RunStore.create(spec, str(tmp / "run")).dir


def damaged_config(tmp: Path, env: dict) -> None:
    (made_run(tmp, env) / "config.json").write_text('{"format": 1, "run_id": "run", "spec": {')


def moved_spec(tmp: Path, env: dict) -> None:
    made_run(tmp, env)
    (tmp / "spec.yaml").rename(tmp / "moved.yaml")


def damaged_journal(tmp: Path, env: dict) -> None:
    run = made_run(tmp, env)
    good = {"instance_id": "awm-bench__tallyho-{}", "problem_statement": "p", "status": "FAIL"}
    lines = [json.dumps({**good, "instance_id": f"awm-bench__tallyho-{n}"}) for n in range(1, 13)]
    lines[2] = lines[2][:40]  # line 3 cut short, 9 good records after it
    (run / "experiences.jsonl").write_text("\n".join(lines) + "\n")


def mirror_without_the_commit(tmp: Path, env: dict) -> None:
    """A local repository as `repos` source, already mirrored into the cache, that lacks the dataset's commit."""
    src = tmp / "src"
    src.mkdir()
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(["git", *args], cwd=src, check=True, env=git_env, capture_output=True)
    from awm.repos import RepoCache

    RepoCache(Path(env["AWM_TUI_HOME"]) / "repos", {"acme/app": str(src)}).mirror("acme/app")


def two_runs(tmp: Path, env: dict) -> None:
    """Two run folders made from the spec (nothing run yet): `compare`'s arms."""
    from awm.run.store import RunStore
    from awm.spec import load_spec

    made_run(tmp, env)
    RunStore.create(load_spec(tmp / "spec.yaml"), str(tmp / "run2"))


PRED = json.dumps({"instance_id": "awm-bench__tallyho-1", "model_name_or_path": "m", "model_patch": ""}) + "\n"

MISSING_COMMIT_SPEC = """name: t
llm: {model: openai/test-model, base_url: "http://127.0.0.1:{port}/v1"}
dataset: {name: data.jsonl, repo_filter: acme/app}
repos: {acme/app: src}
"""

# ---- damaged state files: a run folder with state files written as given (tests/test_damaged_state.py has the
# full table, in-process)

def damaged_state(files: dict[str, str]) -> Callable[[Path, dict], None]:
    def setup(tmp: Path, env: dict) -> None:
        run = made_run(tmp, env)
        for name, text in files.items():
            (run / name).write_text(text)
    return setup


def _finished(n: int, **extra) -> str:
    return json.dumps({"instance_id": f"awm-bench__tallyho-{n}", "problem_statement": "p", "status": "PASS",
                       **extra}) + "\n"


TWO_FINISHED = json.dumps({"status": "paused", "finished_ids": ["awm-bench__tallyho-1", "awm-bench__tallyho-2"],
                           "stats": {}})
CUT_MEMORY = '{"workflows": [{"id": "wf-a", "name": "A", "ste'
BAD_OPS = "oops\n" + json.dumps({"time": "t", "action": "pin", "id": "wf-a", "note": ""}) + "\n"


CASES: dict[str, Case] = {
    # ---- the spec (already handled: they stay handled)
    "unknown key": Case(["line 8", "dataset.limt", "Did you mean `limit`"], GOOD.replace("limit: 2", "limt: 2")),
    "bad type": Case(["line 8", "dataset.limit", "whole number"], GOOD.replace("limit: 2", "limit: ten")),
    "missing spec file": Case(["nope.yaml", "does not exist"], None, args=["{tmp}/nope.yaml"], names_spec=False),
    "invalid yaml": Case(["line 3", "not valid YAML"], GOOD.replace("llm:\n", "llm:\n\t")),
    "api key in spec": Case(["llm.api_key", "secret", "api_key_env"],
                            GOOD.replace("  base_url", "  api_key: sk-abc123\n  base_url")),
    "missing env var": Case(["AWM_TEST_NO_SUCH_KEY", "export AWM_TEST_NO_SUCH_KEY="],
                            GOOD.replace("  base_url", "  api_key_env: AWM_TEST_NO_SUCH_KEY\n  base_url")),
    "bad dataset path": Case(["dataset.name", "missing.jsonl", "does not exist"],
                             GOOD.replace("builtin:minibench\n  repo", "./missing.jsonl\n  repo")),
    "unknown instance id": Case(["dataset.instance_ids", "awm-bench__tallyho-999", "not found"],
                                GOOD.replace("  limit: 2", "  instance_ids: [awm-bench__tallyho-999]")),
    "bad --limit": Case(["--limit", "at least 1"], args=["{spec}", "--limit", "0"]),
    "bad --limit word": Case(["--limit", "whole number"], args=["{spec}", "--limit", "many"]),
    "unknown agent kind": Case(["agent.kind", "CodeActAgent"], GOOD + "agent:\n  kind: SuperAgent\n"),
    # ---- the run name
    "name with a slash": Case(["field `name`", "'/'", "letters, digits"], GOOD.replace("name: t", "name: a/b")),
    "name with dot-dot": Case(["field `name`", "letters, digits"], GOOD.replace("name: t", "name: ../escape")),
    "name starting with a dot": Case(["field `name`", "starts with `.`"], GOOD.replace("name: t", "name: .hidden")),
    "name too long": Case(["field `name`", "300 characters", "shorter"], GOOD.replace("name: t", "name: " + "n" * 300)),
    # ---- the dataset
    "record missing a field": Case(["dataset.name", "record 2", "awm-bench__tallyho-902", "`base_commit`"],
                                   LOCAL_DATA, {"data.jsonl": jsonl(record(), without(record("awm-bench__tallyho-902"),
                                                                                     "base_commit"))}),
    "one JSON object": Case(["dataset.name", "one JSON object", "list of records"],
                            LOCAL_DATA.replace("data.jsonl", "data.json"),
                            {"data.json": json.dumps({"instances": [record()]}, indent=2)}),
    "FAIL_TO_PASS not JSON": Case(["dataset.name", "record 1", "`FAIL_TO_PASS`", "not a JSON list"],
                                  LOCAL_DATA, {"data.jsonl": jsonl(record(FAIL_TO_PASS="t.py::a, t.py::b"))}),
    "broken JSONL record": Case(["dataset.name", "line 3", "not a JSON record"], LOCAL_DATA,
                                {"data.jsonl": jsonl(record("awm-bench__tallyho-901"), record("awm-bench__tallyho-902"))
                                 + '{"instance_id": "awm-bench__tallyho-903", "repo": "awm-bench/tallyho", oops}\n'}),
    "duplicate instance ids": Case(["dataset.name", "awm-bench__tallyho-901", "more than once"], LOCAL_DATA,
                                   {"data.jsonl": jsonl(record(), record("awm-bench__tallyho-902"), record())}),
    "duplicate ids in instance_ids": Case(["dataset.instance_ids", "awm-bench__tallyho-1", "more than once"],
                                          GOOD.replace("  limit: 2", "  instance_ids: [awm-bench__tallyho-1, "
                                                                     "awm-bench__tallyho-1]")),
    # ---- the run folder
    "output_dir is a file": Case(["output_dir", "is a file"], GOOD + "output_dir: taken\n", {"taken": "x"}),
    "output_dir under a file": Case(["output_dir", "taken", "a file"], GOOD + "output_dir: taken/run\n",
                                    {"taken": "x"}),
    "--output-dir under a file": Case(["--output-dir", "taken", "a file"], files={"taken": "x"},
                                      args=["{spec}", "--output-dir", "{tmp}/taken/run"], names_spec=False),
    "output_dir unwritable": Case(["output_dir", "cannot be made or written"],
                                  GOOD + ("output_dir: /sys/awm-tui-no-such/run\n" if os.geteuid() == 0 else
                                          "output_dir: locked/run\n")),
    "output_dir name too long": Case(["output_dir", "too long"], GOOD + f"output_dir: {'o' * 300}/run\n"),
    # ---- resuming
    "resume with a damaged config.json": Case(["--resume", "config.json", "damaged", "not valid JSON"],
                                              args=["--resume", "{tmp}/run"], setup=damaged_config,
                                              names_spec=False),
    "resume of a run whose spec moved": Case(["spec.yaml", "config.json", "no longer there",
                                              "awm-tui --no-ui --resume", "SPEC"],
                                             args=["--resume", "{tmp}/run"], setup=moved_spec),
    "resume of an unknown run": Case(["--resume", "no run found"], None, args=["--resume", "{tmp}/nothing"],
                                     names_spec=False),
    "resume with a damaged journal line": Case(["experiences.jsonl", "line 3", "nothing was changed",
                                                "delete it"],
                                               args=["--resume", "{tmp}/run"], setup=damaged_journal,
                                               names_spec=False),
    # ---- the repository
    "base commit missing from the repository": Case(["repos.acme/app", "acme__app-1", "not in the repository",
                                                     "src"],
                                                    MISSING_COMMIT_SPEC,
                                                    {"data.jsonl": jsonl({**record("acme__app-1"),
                                                                          "repo": "acme/app", "base_commit": "1" * 40})},
                                                    setup=mirror_without_the_commit),
    # ---- the spec file itself
    "empty spec file": Case(["empty", "spec"], ""),
    "spec is a folder": Case(["folder"], None, args=["{tmp}"], names_spec=False),
    "spec is a YAML list": Case(["mapping"], "- name: t\n- llm: x\n"),
    "spec is a scalar": Case(["mapping"], "just words\n"),
    "spec not UTF-8": Case(["UTF-8"], "name: t\nllm: \xff\xfe\n"),
    "unclosed bracket": Case(["not valid YAML"], GOOD.replace("limit: 2", "limit: [2")),
    "duplicate key": Case(["name"], GOOD + "name: again\n"),
    "unknown top-level key": Case(["nmae", "Did you mean `name`"], GOOD + "nmae: x\n"),
    "alias and field both": Case(["agent_class", "agent.kind"], GOOD + "agent_class: CodeActAgent\nagent:\n"
                                                                         "  kind: CodeActAgent\n"),
    "section not a mapping": Case(["agent", "mapping"], GOOD + "agent: [CodeActAgent]\n"),
    "name empty": Case(["name"], GOOD.replace("name: t", 'name: ""')),
    # ---- the spec: llm
    "no llm": Case(["llm"], GOOD.replace("llm:\n  model: openai/test-model\n  base_url: http://127.0.0.1:{port}/v1\n",
                                           "")),
    "llm without a model": Case(["llm.model"], GOOD.replace("  model: openai/test-model\n", "")),
    "llm a number": Case(["llm", "mapping"], GOOD.replace("llm:\n  model: openai/test-model\n  base_url: "
                                                          "http://127.0.0.1:{port}/v1\n", "llm: 5\n")),
    "llm table without config.toml": Case(["field `llm`", "no config.toml found"], GOOD.replace(
        "llm:\n  model: openai/test-model\n  base_url: http://127.0.0.1:{port}/v1\n", "llm: eval_gpt4\n")),
    "llm_config_file missing": Case(["llm_config_file", "nope.toml"], GOOD + "llm_config_file: nope.toml\n"),
    "llm unknown key": Case(["llm.modle", "model"], GOOD.replace("  base_url", "  modle: x\n  base_url")),
    "temperature a word": Case(["llm.temperature", "number"], GOOD.replace("  base_url", "  temperature: hot\n"
                                                                                        "  base_url")),
    "temperature negative": Case(["llm.temperature"], GOOD.replace("  base_url", "  temperature: -1\n  base_url")),
    "top_p above 1": Case(["llm.top_p"], GOOD.replace("  base_url", "  top_p: 2\n  base_url")),
    "max_output_tokens 0": Case(["llm.max_output_tokens", "at least 1"],
                                GOOD.replace("  base_url", "  max_output_tokens: 0\n  base_url")),
    "timeout 0": Case(["llm.timeout"], GOOD.replace("  base_url", "  timeout: 0\n  base_url")),
    "num_retries negative": Case(["llm.num_retries"], GOOD.replace("  base_url", "  num_retries: -1\n  base_url")),
    "cost per token negative": Case(["llm.input_cost_per_token"],
                                    GOOD.replace("  base_url", "  input_cost_per_token: -1\n  base_url")),
    "latency for a real model": Case(["llm.scripted_latency_s", "scripted"],
                                     GOOD.replace("  base_url", "  scripted_latency_s: 1\n  base_url")),
    "induction llm a number": Case(["induction.llm"], GOOD + "induction:\n  llm: 5\n"),
    # ---- the spec: agent
    "max_iterations 0": Case(["agent.max_iterations", "at least 1"], GOOD + "agent:\n  max_iterations: 0\n"),
    "agent timeout 0": Case(["agent.timeout_minutes"], GOOD + "agent:\n  timeout_minutes: 0\n"),
    "include_hints a word": Case(["agent.include_hints"], GOOD + "agent:\n  include_hints: sometimes\n"),
    "unknown workspace": Case(["agent.workspace", "local"], GOOD + "agent:\n  workspace: cloud\n"),
    "remote without servers": Case(["agent.servers"], GOOD + "agent:\n  workspace: remote\n"),
    "unknown terminal": Case(["agent.terminal", "tmux"], GOOD + "agent:\n  terminal: bash\n"),
    "unknown sandbox": Case(["agent.sandbox", "bwrap"], GOOD + "agent:\n  sandbox: jail\n"),
    "servers not a list": Case(["agent.servers"], GOOD + "agent:\n  servers: 5\n"),
    "agent unknown key": Case(["agent.kinds", "kind"], GOOD + "agent:\n  kinds: CodeActAgent\n"),
    # ---- the spec: dataset
    "limit negative": Case(["dataset.limit", "at least 1"], GOOD.replace("limit: 2", "limit: -1")),
    "limit a fraction": Case(["dataset.limit", "whole number"], GOOD.replace("limit: 2", "limit: 1.5")),
    "unknown order": Case(["dataset.order", "chronological"], GOOD.replace("limit: 2", "limit: 2\n  order: random")),
    "seed negative": Case(["dataset.seed"], GOOD.replace("limit: 2", "limit: 2\n  seed: -1")),
    "instance_ids a string": Case(["dataset.instance_ids", "list"],
                                  GOOD.replace("limit: 2", "instance_ids: awm-bench__tallyho-1")),
    "repo_filter a number": Case(["dataset.repo_filter"], GOOD.replace("repo_filter: awm-bench/tallyho",
                                                                       "repo_filter: 5")),
    "repo_filter matches nothing": Case(["dataset", "acme/none", "Check the filter"],
                                        GOOD.replace("repo_filter: awm-bench/tallyho", "repo_filter: acme/none")),
    "dataset file missing (parquet)": Case(["dataset.name", "does not exist"],
                                           GOOD.replace("builtin:minibench\n  repo", "./gone.parquet\n  repo")),
    "dataset file empty": Case(["dataset", "data.jsonl"], LOCAL_DATA, {"data.jsonl": ""}),
    "dataset file a folder": Case(["dataset.name"], GOOD.replace("builtin:minibench\n  repo", "./data.jsonl\n  repo"),
                                  setup=lambda tmp, env: (tmp / "data.jsonl").mkdir()),
    "record not an object": Case(["dataset.name", "record"], LOCAL_DATA, {"data.jsonl": "[1, 2]\n"}),
    # ---- the spec: evaluation
    "unknown backend": Case(["evaluation.backend", "swebench-docker"], GOOD + "evaluation:\n  backend: docker\n"),
    "evaluation timeout 0": Case(["evaluation.timeout_minutes"], GOOD + "evaluation:\n  timeout_minutes: 0\n"),
    "min_free_gb negative": Case(["evaluation.min_free_gb"], GOOD + "evaluation:\n  min_free_gb: -1\n"),
    "keep_images a word": Case(["evaluation.keep_images"], GOOD + "evaluation:\n  keep_images: later\n"),
    "recipes not a mapping": Case(["evaluation.recipes"], GOOD + "evaluation:\n  recipes: [x]\n"),
    "recipe unknown field": Case(["evaluation.recipes", "pyhton"], GOOD + "evaluation:\n  recipes:\n"
                                 "    awm-bench/tallyho:\n      \"0.1\": {pyhton: \"3.11\"}\n"),
    "skip_evaluation and a backend": Case(["skip_evaluation", "evaluation.backend"],
                                          GOOD + "skip_evaluation: true\nevaluation:\n  backend: local\n"),
    "harness does not know the repo": Case(["evaluation.backend", "swebench-docker", "acme/app", "backend: local"],
                                           LOCAL_DATA.replace("awm-bench/tallyho", "acme/app")
                                           + "evaluation:\n  backend: swebench-docker\n",
                                           {"data.jsonl": jsonl({**record("acme__app-1"), "repo": "acme/app"})},
                                           engines_up=True),
    "harness does not know the version": Case(["evaluation.backend", "swebench-modal", "django/django",
                                               "version 9.9"],
                                              LOCAL_DATA.replace("awm-bench/tallyho", "django/django")
                                              + "evaluation:\n  backend: swebench-modal\n",
                                              {"data.jsonl": jsonl({**record("django__django-1"),
                                                                    "repo": "django/django", "version": "9.9"})},
                                              engines_up=True),
    # ---- the spec: induction, budget, memory, run settings
    "trigger 0": Case(["induction.trigger", "at least 1"], GOOD + "induction:\n  trigger: 0\n"),
    "max_workflows 0": Case(["induction.max_workflows", "at least 1"], GOOD + "induction:\n  max_workflows: 0\n"),
    "unknown success": Case(["induction.success", "tests"], GOOD + "induction:\n  success: vibes\n"),
    "induction budget too small": Case(["induction.budget_tokens", "200"], GOOD + "induction:\n  budget_tokens: 10\n"),
    "from_failures a word": Case(["induction.from_failures"], GOOD + "induction:\n  from_failures: sometimes\n"),
    "max_cost_usd 0": Case(["budget.max_cost_usd"], GOOD + "budget:\n  max_cost_usd: 0\n"),
    "max_tokens negative": Case(["budget.max_tokens"], GOOD + "budget:\n  max_tokens: -5\n"),
    "issue cost a word": Case(["budget.issue_max_cost_usd"], GOOD + "budget:\n  issue_max_cost_usd: free\n"),
    "memory maybe": Case(["memory", "on"], GOOD + "memory: maybe\n"),
    "unknown retrieval": Case(["memory.retrieval", "bm25"], GOOD + "memory:\n  retrieval: magic\n"),
    "embedding without a model": Case(["memory.retrieval", "embedding_model"],
                                      GOOD + "memory:\n  retrieval: embedding\n"),
    "memory budget too small": Case(["memory.budget_tokens", "50"], GOOD + "memory:\n  budget_tokens: 10\n"),
    "top_k 0": Case(["memory.top_k", "at least 1"], GOOD + "memory:\n  top_k: 0\n"),
    "unknown merge": Case(["memory.merge", "similarity"], GOOD + "memory:\n  merge: never\n"),
    "merge_threshold above 1": Case(["memory.merge_threshold"], GOOD + "memory:\n  merge_threshold: 1.5\n"),
    "merge_threshold 0": Case(["memory.merge_threshold"], GOOD + "memory:\n  merge_threshold: 0\n"),
    "grace negative": Case(["memory.grace"], GOOD + "memory:\n  grace: -1\n"),
    "min_score negative": Case(["memory.min_score"], GOOD + "memory:\n  min_score: -1\n"),
    "memory.from names nothing": Case(["memory.from", "no-such-run"], GOOD + "memory:\n  from: no-such-run\n"),
    "memory.from not a memory": Case(["memory.from", "notes.json"], GOOD + "memory:\n  from: notes.json\n",
                                     {"notes.json": '{"hello": 1}'}),
    "memory.from a relative path from the spec's folder": Case(
        ["memory.from", "missing/memory.json"], GOOD + "memory:\n  from: missing/memory.json\n"),
    "baseline_run names nothing": Case(["memory.baseline_run", "no-such-run"],
                                       GOOD + "memory:\n  baseline_run: no-such-run\n"),
    "memory unknown key": Case(["memory.retreival", "retrieval"], GOOD + "memory:\n  retreival: bm25\n"),
    "unknown adherence": Case(["memory.adherence", "lexical", "judge", "off"], GOOD + "memory:\n  adherence: vibes\n"),
    "workers 0": Case(["workers", "at least 1"], GOOD + "workers: 0\n"),
    "workers a word": Case(["workers", "whole number"], GOOD + "workers: many\n"),
    "max_staleness negative": Case(["max_staleness"], GOOD + "max_staleness: -1\n"),
    "checkpoint_interval 0": Case(["checkpoint_interval", "at least 1"], GOOD + "checkpoint_interval: 0\n"),
    "max_consecutive_errors 0": Case(["max_consecutive_errors", "at least 1"], GOOD + "max_consecutive_errors: 0\n"),
    "verbose a word": Case(["verbose"], GOOD + "verbose: loud\n"),
    "repos not a mapping": Case(["repos"], GOOD.replace("repos:\n  awm-bench/tallyho: builtin:minibench\n",
                                                        "repos: [awm-bench/tallyho]\n")),
    "repos entry a number": Case(["repos"], GOOD.replace("tallyho: builtin:minibench", "tallyho: 5")),
    "output_dir holds a run": Case(["already holds a run", "--resume"], GOOD + "output_dir: run\n",
                                   setup=lambda tmp, env: made_run(tmp, env) and None, names_spec=False),
    # ---- the headless command's flags
    "--workers 0": Case(["--workers", "at least 1"], args=["{spec}", "--workers", "0"], process=True),
    "--workers a word": Case(["--workers", "whole number"], args=["{spec}", "--workers", "x"]),
    "--workers without a value": Case(["--workers", "expected one argument", "--help"], args=["{spec}", "--workers"],
                                      names_spec=False, process=True),
    "--limit -1": Case(["--limit", "at least 1"], args=["{spec}", "--limit", "-1"]),
    "--max-iterations 0": Case(["--max-iterations", "at least 1"], args=["{spec}", "--max-iterations", "0"]),
    "--induction-trigger 0": Case(["--induction-trigger", "at least 1"], args=["{spec}", "--induction-trigger", "0"]),
    "--max-workflows 0": Case(["--max-workflows", "at least 1"], args=["{spec}", "--max-workflows", "0"]),
    "--memory maybe": Case(["--memory", "on"], args=["{spec}", "--memory", "maybe"]),
    "--agent-class unknown": Case(["--agent-class", "CodeActAgent"], args=["{spec}", "--agent-class", "Bot"]),
    "--dataset missing file": Case(["--dataset", "gone.jsonl", "does not exist"],
                                   args=["{spec}", "--dataset", "./gone.jsonl"]),
    "--repo-filter matches nothing": Case(["acme/none", "Check the filter"],
                                          args=["{spec}", "--repo-filter", "acme/none"]),
    "--llm-config without config.toml": Case(["--llm-config", "no config.toml found"],
                                             args=["{spec}", "--llm-config", "nope"]),
    "--output-dir is a file": Case(["--output-dir", "taken", "a file"], files={"taken": "x"},
                                   args=["{spec}", "--output-dir", "{tmp}/taken"], names_spec=False),
    "--output-dir unwritable": Case(["--output-dir", "cannot be made or written"],
                                    args=["{spec}", "--output-dir", "{unwritable}/run"], names_spec=False),
    "--resume and --resume-from": Case(["--resume", "--resume-from", "give one"], None,
                                       args=["--resume", "{tmp}/a", "--resume-from", "{tmp}/b"], names_spec=False),
    "--resume-from nothing": Case(["--resume-from", "no such file"], None, args=["--resume-from", "{tmp}/gone"],
                                  names_spec=False),
    "--resume-from a folder that is no run": Case(["--resume-from", "not a run folder"], None,
                                                  args=["--resume-from", "{tmp}"], names_spec=False),
    "unknown flag": Case(["unrecognized arguments", "--bogus"], args=["{spec}", "--bogus"], names_spec=False,
                         process=True),
    "no spec": Case(["spec"], None, args=[], names_spec=False),
    # ---- the design's command line: no spec, the flags on the packaged defaults, the model from ./config.toml
    "no spec, flags but no --llm-config": Case(["no run spec given", "--llm-config", "specs/django.yaml"], None,
                                               args=["--limit", "5"], names_spec=False, process=True),
    "no spec, --llm-config without config.toml": Case(["--llm-config eval_gpt4", "no config.toml found",
                                                       "[llm.eval_gpt4]", "or give a run spec"], None,
                                                      args=["--llm-config", "eval_gpt4", "--limit", "5"],
                                                      names_spec=False, process=True),
    "no spec, --llm-config names no table": Case(["option `--llm-config`", "no table [llm.eval_gpt4]", "[llm.eval]",
                                                  "defaults for a run without a spec"], None,
                                                 files={"config.toml": SEED_TOML.replace("eval_gpt4", "eval")},
                                                 args=["--llm-config", "llm.eval_gpt4"], names_spec=False),
    "no spec, an unknown flag": Case(["unrecognized arguments", "--induction-triger"], None,
                                     args=["--llm-config", "llm.eval_gpt4", "--induction-triger", "5"],
                                     files={"config.toml": SEED_TOML}, names_spec=False, process=True),
    "no spec, [awm] a bad value": Case(["config.toml [awm]", "field `agent.workspace`", "must be one of", "local"],
                                       None, files={"config.toml": SEED_TOML + '[awm.agent]\nworkspace = "vm"\n'},
                                       args=["--llm-config", "llm.eval_gpt4"], names_spec=False),
    "no spec, [awm] an unknown key": Case(["config.toml [awm]", "unknown key `trigger`", "induction.trigger"], None,
                                          files={"config.toml": SEED_TOML + "[awm]\ntrigger = 3\n"},
                                          args=["--llm-config", "llm.eval_gpt4"], names_spec=False),
    "no spec, [awm] names the model": Case(["config.toml [awm]", "--llm-config", "Remove it from [awm]"], None,
                                           files={"config.toml": SEED_TOML + '[awm.llm]\nmodel = "openai/x"\n'},
                                           args=["--llm-config", "llm.eval_gpt4"], names_spec=False),
    "no spec, [awm] not a table": Case(["config.toml [awm]", "must be a table", "[awm.agent]"], None,
                                       files={"config.toml": "awm = 3\n" + SEED_TOML},
                                       args=["--llm-config", "llm.eval_gpt4"], names_spec=False),
    # ---- evaluate
    "evaluate: no predictions file": Case(["predictions", "required"], None, args=["evaluate"], names_spec=False,
                                          process=True),
    "evaluate: missing predictions file": Case(["gone.jsonl", "cannot read"], None,
                                               args=["evaluate", "{tmp}/gone.jsonl", "--dataset", "builtin:minibench"],
                                               names_spec=False),
    "evaluate: predictions a folder": Case(["folder", "predictions"], None,
                                           args=["evaluate", "{tmp}", "--dataset", "builtin:minibench"],
                                           names_spec=False),
    "evaluate: not JSON": Case(["preds.jsonl", "not valid JSON"], None,
                               {"preds.jsonl": PRED + "oops\n"}, args=["evaluate", "{tmp}/preds.jsonl", "--dataset",
                                                                        "builtin:minibench"], names_spec=False),
    "evaluate: record without a patch": Case(["preds.jsonl", "record 1", "model_patch"], None,
                                             {"preds.jsonl": '{"instance_id": "awm-bench__tallyho-1"}\n'},
                                             args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench"],
                                             names_spec=False),
    "evaluate: duplicate ids": Case(["preds.jsonl", "awm-bench__tallyho-1 (2 times)", "once"], None,
                                    {"preds.jsonl": PRED + PRED.replace("tallyho-1", "tallyho-2") + PRED},
                                    args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench"],
                                    names_spec=False, process=True),
    "evaluate: empty file": Case(["preds.jsonl", "no predictions"], None, {"preds.jsonl": ""},
                                 args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench"],
                                 names_spec=False, process=True),
    "evaluate: empty list": Case(["preds.json", "no predictions"], None, {"preds.json": "[]"},
                                 args=["evaluate", "{tmp}/preds.json", "--dataset", "builtin:minibench"],
                                 names_spec=False),
    "evaluate: instance_id not text": Case(["preds.json", "record 1", "instance_id"], None,
                                           {"preds.json": '[{"instance_id": [1], "model_patch": ""}]'},
                                           args=["evaluate", "{tmp}/preds.json", "--dataset", "builtin:minibench"],
                                           names_spec=False),
    "evaluate: no dataset": Case(["--spec", "--dataset"], None, {"preds.jsonl": PRED},
                                 args=["evaluate", "{tmp}/preds.jsonl"], names_spec=False),
    "evaluate: unknown backend": Case(["--backend", "invalid choice", "docker"], None, {"preds.jsonl": PRED},
                                      args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                            "--backend", "docker"], names_spec=False),
    "evaluate: unknown instance": Case(["--dataset builtin:minibench", "awm-bench__tallyho-999", "not found"], None,
                                       {"preds.jsonl": PRED.replace("tallyho-1", "tallyho-999")},
                                       args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench"],
                                       names_spec=False, absent=["<spec>"]),
    "evaluate: output dir is a file": Case(["--output-dir", "taken", "is a file"], None,
                                           {"preds.jsonl": PRED, "taken": "x"},
                                           args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                                 "--output-dir", "{tmp}/taken"], names_spec=False, process=True),
    "evaluate: output dir under a file": Case(["--output-dir", "taken", "which is a file"], None,
                                              {"preds.jsonl": PRED, "taken": "x"},
                                              args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                                    "--output-dir", "{tmp}/taken/out"], names_spec=False),
    "evaluate: output dir unwritable": Case(["--output-dir", "cannot be made or written"], None,
                                            {"preds.jsonl": PRED},
                                            args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                                  "--output-dir", "{unwritable}/out"], names_spec=False),
    "evaluate: output dir name too long": Case(["--output-dir", "too long"], None, {"preds.jsonl": PRED},
                                               args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                                     "--output-dir", "{tmp}/" + "o" * 300], names_spec=False),
    "evaluate: timeout 0": Case(["--timeout-minutes", "above 0"], None, {"preds.jsonl": PRED},
                                args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                      "--timeout-minutes", "0"], names_spec=False),
    "evaluate: timeout a word": Case(["--timeout-minutes", "invalid float"], None, {"preds.jsonl": PRED},
                                     args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                           "--timeout-minutes", "long"], names_spec=False),
    "evaluate: run id with a slash": Case(["--run-id", "'/'"], None, {"preds.jsonl": PRED},
                                          args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "builtin:minibench",
                                                "--run-id", "a/b"], names_spec=False),
    "evaluate: missing dataset file": Case(["gone.jsonl"], None, {"preds.jsonl": PRED},
                                           args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "./gone.jsonl"],
                                           names_spec=False),
    "evaluate: bad spec": Case(["dataset.limit", "whole number"], GOOD.replace("limit: 2", "limit: ten"),
                               {"preds.jsonl": PRED}, args=["evaluate", "{tmp}/preds.jsonl", "--spec", "{spec}"]),
    "evaluate: the harness does not know the repo": Case(
        ["--backend swebench-docker", "acme/app", "--backend local"], None,
        {"preds.jsonl": PRED.replace("awm-bench__tallyho-1", "acme__app-1"),
         "data.jsonl": jsonl({**record("acme__app-1"), "repo": "acme/app"})},
        args=["evaluate", "{tmp}/preds.jsonl", "--dataset", "./data.jsonl", "--backend", "swebench-docker"],
        names_spec=False),
    # ---- memory
    "memory: nothing given": Case(["memory", "required"], None, args=["memory"], names_spec=False, process=True),
    "memory: unknown run": Case(["no run found", "gone"], None, args=["memory", "{tmp}/gone", "list"],
                                names_spec=False, process=True),
    "memory: unknown action": Case(["invalid choice", "frob"], None, args=["memory", "{tmp}/run", "frob"],
                                   names_spec=False),
    "memory: show without an id": Case(["which entry"], args=["memory", "{tmp}/run", "show"], setup=made_run,
                                       names_spec=False),
    "memory: show an unknown id": Case(["wf-nope", "no such entry"], args=["memory", "{tmp}/run", "show", "wf-nope"],
                                       setup=made_run, names_spec=False, process=True),
    "memory: disable an unknown id": Case(["wf-nope", "no such entry"],
                                          args=["memory", "{tmp}/run", "disable", "wf-nope"], setup=made_run,
                                          names_spec=False),
    "memory: enable an unknown id": Case(["wf-nope", "no such entry"],
                                         args=["memory", "{tmp}/run", "enable", "wf-nope"], setup=made_run,
                                         names_spec=False),
    "memory: pin an unknown id": Case(["wf-nope", "no such entry"], args=["memory", "{tmp}/run", "pin", "wf-nope"],
                                      setup=made_run, names_spec=False),
    "memory: unpin without an id": Case(["which entry"], args=["memory", "{tmp}/run", "unpin"], setup=made_run,
                                        names_spec=False),
    "memory: export into a folder": Case(["export", "is a folder, not a file", "nothing was written"],
                                         args=["memory", "{tmp}/run", "export", "{tmp}"], setup=made_run,
                                         names_spec=False, process=True),
    "memory: export under a file": Case(["export", "taken", "which is a file"], files={"taken": "x"},
                                        args=["memory", "{tmp}/run", "export", "{tmp}/taken/memory.json"],
                                        setup=made_run, names_spec=False),
    "memory: export unwritable": Case(["export", "cannot be made or written"],
                                      args=["memory", "{tmp}/run", "export", "{unwritable}/memory.json"],
                                      setup=made_run, names_spec=False),
    "memory: export name too long": Case(["export", "too long"],
                                         args=["memory", "{tmp}/run", "export", "{tmp}/" + "m" * 300 + ".json"],
                                         setup=made_run, names_spec=False),
    "memory: audit against a missing dataset file": Case(
        ["audit --dataset", "missing.jsonl", "does not exist"],
        args=["memory", "{tmp}/run", "audit", "--dataset", "{tmp}/missing.jsonl"], setup=made_run, names_spec=False),
    "memory: unknown option": Case(["unrecognized arguments", "--force"], None,
                                   args=["memory", "{tmp}/run", "list", "--force"], names_spec=False),
    # ---- compare
    "compare: nothing given": Case(["RUN", "required"], None, args=["compare"], names_spec=False),
    "compare: one run": Case(["one run given", "at least two"], None, args=["compare", "{tmp}/run"],
                             names_spec=False, process=True),
    "compare: unknown runs": Case(["gone"], None, args=["compare", "{tmp}/gone", "{tmp}/gone2"], names_spec=False,
                                  process=True),
    "compare: labels miscounted": Case(["--names", "2 runs"], None, args=["compare", "{tmp}/a", "{tmp}/b", "--names",
                                                                           "x,y,z"], names_spec=False),
    "compare: empty label": Case(["--names", "label 2 is empty"], None,
                                 args=["compare", "{tmp}/a", "{tmp}/b", "--names", "x,"], names_spec=False),
    "compare: output dir is a file": Case(["--output-dir", "taken", "is a file"], files={"taken": "x"},
                                          args=["compare", "{tmp}/run", "{tmp}/run2", "--output-dir", "{tmp}/taken"],
                                          setup=lambda tmp, env: two_runs(tmp, env), names_spec=False, process=True),
    "compare: output dir under a file": Case(["--output-dir", "which is a file"], files={"taken": "x"},
                                             args=["compare", "{tmp}/run", "{tmp}/run2", "--output-dir",
                                                   "{tmp}/taken/report"], setup=lambda tmp, env: two_runs(tmp, env),
                                             names_spec=False),
    "compare: output dir unwritable": Case(["--output-dir", "cannot be made or written"],
                                           args=["compare", "{tmp}/run", "{tmp}/run2", "--output-dir",
                                                 "{unwritable}/report"], setup=lambda tmp, env: two_runs(tmp, env),
                                           names_spec=False),
    "compare: bootstrap a word": Case(["--bootstrap", "invalid int"], None,
                                      args=["compare", "{tmp}/a", "{tmp}/b", "--bootstrap", "many"],
                                      names_spec=False),
    "compare: too few resamples": Case(["--bootstrap", "too few"],
                                       args=["compare", "{tmp}/run", "{tmp}/run2", "--bootstrap", "5",
                                             "--output-dir", "{tmp}/report"], setup=lambda tmp, env: two_runs(tmp, env),
                                       names_spec=False),
    "compare: rolling 0": Case(["--rolling", "at least 1"],
                               args=["compare", "{tmp}/run", "{tmp}/run2", "--rolling", "0", "--output-dir",
                                     "{tmp}/report"], setup=lambda tmp, env: two_runs(tmp, env), names_spec=False),
    # ---- export
    "export: nothing given": Case(["RUN", "DIR", "required"], None, args=["export"], names_spec=False),
    "export: unknown run": Case(["no run found", "gone"], None, args=["export", "{tmp}/gone", "{tmp}/out"],
                                names_spec=False, process=True),
    "export: DIR is a file": Case(["DIR", "taken", "is a file, not a folder"], files={"taken": "x"},
                                  args=["export", "{tmp}/run", "{tmp}/taken"], setup=made_run, names_spec=False),
    "export: DIR under a file": Case(["DIR", "taken", "which is a file", "nothing was written"], files={"taken": "x"},
                                     args=["export", "{tmp}/run", "{tmp}/taken/sub"], setup=made_run,
                                     names_spec=False, process=True),
    "export: DIR not empty": Case(["not empty", "notes.txt", "--force"], files={"out/notes.txt": "x"},
                                  args=["export", "{tmp}/run", "{tmp}/out"], setup=made_run, names_spec=False),
    "export: DIR unwritable": Case(["DIR", "cannot be made or written"],
                                   args=["export", "{tmp}/run", "{unwritable}/out"], setup=made_run,
                                   names_spec=False, process=True),
    "export: DIR inside the run": Case(["inside the run folder"], args=["export", "{tmp}/run", "{tmp}/run/out"],
                                       setup=made_run, names_spec=False),
    "export: DIR name too long": Case(["DIR", "too long"], args=["export", "{tmp}/run", "{tmp}/" + "x" * 300],
                                      setup=made_run, names_spec=False),
    "export: DIR name too long for its staging folder": Case(["DIR", "too long", ".partial"],
                                                             args=["export", "{tmp}/run", "{tmp}/" + "x" * 250],
                                                             setup=made_run, names_spec=False),
    # ---- experiment
    "experiment: no spec": Case(["give a run spec", "--arms"], None, args=["experiment"], names_spec=False,
                                process=True),
    "experiment: no arms": Case(["give the arms", "memory=off,on"], args=["experiment", "{spec}"],
                                names_spec=False),
    "experiment: arm without values": Case(["--arms", "memory"], args=["experiment", "{spec}", "--arms", "memory"],
                                           names_spec=False),
    "experiment: unknown arm field": Case(["--arms", "colour", "not a spec field"],
                                          args=["experiment", "{spec}", "--arms", "colour=red,blue"],
                                          names_spec=False, process=True),
    "experiment: one arm": Case(["one arm", "two or more"], args=["experiment", "{spec}", "--arms", "memory=on"],
                                names_spec=False),
    "experiment: a value twice": Case(["given twice"], args=["experiment", "{spec}", "--arms", "memory=on,on"],
                                      names_spec=False),
    "experiment: a bad arm value": Case(["--arms", "memory=maybe", "not a valid run"],
                                        args=["experiment", "{spec}", "--arms", "memory=off,maybe"]),
    "experiment: seeds 0": Case(["--seeds", "1 or more"], args=["experiment", "{spec}", "--arms", "memory=off,on",
                                                                "--seeds", "0"], names_spec=False),
    "experiment: seeds a word": Case(["--seeds", "invalid int"], args=["experiment", "{spec}", "--seeds", "x"],
                                     names_spec=False),
    "experiment: --replay with no memory arm": Case(
        ["--replay", "memory on"], GOOD + "memory: off\n",
        args=["experiment", "{spec}", "--arms", "retrieval=bm25,all", "--replay"], names_spec=False),
    "experiment: --ablate top:0": Case(["--ablate top:0", "at least 1"],
                                       args=["experiment", "{spec}", "--arms", "memory=off,on", "--ablate", "top:0"],
                                       names_spec=False),
    "experiment: --ablate a bad id": Case(["--ablate", "entry ids"],
                                          args=["experiment", "{spec}", "--arms", "memory=off,on", "--ablate", "a b"],
                                          names_spec=False),
    "experiment: --ablate headless without --yes": Case(
        ["--ablate top:2", "--yes", "no terminal"],
        args=["experiment", "{spec}", "--arms", "memory=off,on", "--ablate", "top:2", "--output-dir", "{tmp}/exp"],
        names_spec=False),
    "experiment: --resume with --replay": Case(["--resume", "give only --resume"], None,
                                               args=["experiment", "--resume", "{tmp}", "--replay"],
                                               names_spec=False),
    # ---- replay
    "memory frozen without memory.from": Case(["memory.enabled", "`memory.from` names none"],
                                              GOOD + "memory:\n  enabled: frozen\n"),
    "replay: no run there": Case(["replay", "no run found there", "nothing to replay"], None,
                                 args=["replay", "{tmp}/nowhere"], names_spec=False, process=True),
    "replay: a folder that is no run": Case(["is not a run folder", "no config.json"], None,
                                            args=["replay", "{tmp}"], names_spec=False),
    "replay: a run not finished": Case(["is new", "not completed", "--resume"], args=["replay", "{tmp}/run"],
                                       setup=made_run, names_spec=False),
    "replay: no run given": Case(["RUN"], None, args=["replay"], names_spec=False),
    "experiment: limit 0": Case(["--limit", "at least 1"], args=["experiment", "{spec}", "--arms", "memory=off,on",
                                                                 "--limit", "0"], absent=["--arms"]),
    "experiment: workers 0": Case(["--workers", "at least 1"], args=["experiment", "{spec}", "--arms",
                                                                     "memory=off,on", "--workers", "0"]),
    "experiment: unknown order": Case(["--order", "invalid choice"], args=["experiment", "{spec}", "--order", "random"],
                                      names_spec=False),
    "experiment: bad spec": Case(["dataset.limit", "whole number"], GOOD.replace("limit: 2", "limit: ten"),
                                 args=["experiment", "{spec}", "--arms", "memory=off,on"]),
    "experiment: missing spec": Case(["gone.yaml", "does not exist"], None,
                                     args=["experiment", "{tmp}/gone.yaml", "--arms", "memory=off,on"],
                                     names_spec=False),
    "experiment: resume with a spec": Case(["--resume", "give only"], args=["experiment", "{spec}", "--resume",
                                                                             "{tmp}/exp"], names_spec=False),
    "experiment: resume of nothing": Case(["gone"], None, args=["experiment", "--resume", "{tmp}/gone"],
                                          names_spec=False),
    "experiment: output dir is a file": Case(["--output-dir", "taken"], files={"taken": "x"},
                                             args=["experiment", "{spec}", "--arms", "memory=off,on", "--output-dir",
                                                   "{tmp}/taken"], names_spec=False),
    "experiment: output dir under a file": Case(["--output-dir", "taken", "which is a file"], files={"taken": "x"},
                                                args=["experiment", "{spec}", "--arms", "memory=off,on",
                                                      "--output-dir", "{tmp}/taken/exp"], names_spec=False),
    "experiment: output dir not empty": Case(["--output-dir", "not empty (notes.txt)", "new (or empty) folder"],
                                             files={"exp/notes.txt": "x"},
                                             args=["experiment", "{spec}", "--arms", "memory=off,on", "--output-dir",
                                                   "{tmp}/exp"], names_spec=False),
    "experiment: output dir unwritable": Case(["--output-dir", "cannot be made or written"],
                                              args=["experiment", "{spec}", "--arms", "memory=off,on", "--output-dir",
                                                    "{unwritable}/exp"], names_spec=False),
    # ---- damaged state files
    "resume with a truncated memory.json": Case(["memory.json", "damaged", "cut short", "echo '{}'"],
                                                args=["--resume", "{tmp}/run"], names_spec=False, process=True,
                                                setup=damaged_state({"memory.json": CUT_MEMORY})),
    "resume with a memory.json of the wrong shape": Case(["memory.json", "not the memory awm-tui writes",
                                                          "a JSON list"], args=["--resume", "{tmp}/run"],
                                                         setup=damaged_state({"memory.json": "[]"}),
                                                         names_spec=False),
    "resume with memory.json deleted after rounds": Case(
        ["memory.json", "is missing", "rounds up to 1", "echo '{}'"], args=["--resume", "{tmp}/run"],
        setup=damaged_state({"experiences.jsonl": _finished(1) + _finished(2, memory_round=1)}), names_spec=False),
    "resume with an emptied journal": Case(["experiences.jsonl", "(it is empty)", "checkpoint.json", "lists 2",
                                            "awm-bench__tallyho-1"], args=["--resume", "{tmp}/run"],
                                           setup=damaged_state({"experiences.jsonl": "", "memory.json": "{}",
                                                                "checkpoint.json": TWO_FINISHED}),
                                           names_spec=False, process=True),
    "resume with a journal cut short": Case(["experiences.jsonl", "holds 1 finished", "cut short",
                                             "awm-bench__tallyho-2", "delete"], args=["--resume", "{tmp}/run"],
                                            setup=damaged_state({"experiences.jsonl": _finished(1) + _finished(2)[:30],
                                                                 "memory.json": "{}",
                                                                 "checkpoint.json": TWO_FINISHED}),
                                            names_spec=False),
    "resume with a journal whose last line is no issue": Case(
        ["experiences.jsonl", "line 2", "the journal's last line", "sed -i '2d'"], args=["--resume", "{tmp}/run"],
        setup=damaged_state({"experiences.jsonl": _finished(1) + '{"status": "PASS"}\n'}), names_spec=False,
        absent=["lines after it"]),
    "resume with a damaged memory operation log": Case(["memory_ops.jsonl", "line 1", "sed -i '1d'"],
                                                       args=["--resume", "{tmp}/run"], names_spec=False,
                                                       setup=damaged_state({"memory.json": "{}",
                                                                            "memory_ops.jsonl": BAD_OPS})),
    "resume with config.json deleted": Case(["--resume", "has a journal", "no config.json", "Restore config.json"],
                                            args=["--resume", "{tmp}/run"], names_spec=False,
                                            setup=lambda tmp, env: (damaged_state({"experiences.jsonl": _finished(1)})(
                                                tmp, env), (tmp / "run" / "config.json").unlink())),
    "memory: list with a truncated memory.json": Case(["memory.json", "damaged", "cut short", "echo '{}'"],
                                                      args=["memory", "{tmp}/run", "list"], names_spec=False,
                                                      setup=damaged_state({"memory.json": CUT_MEMORY}), process=True),
    "memory: pin with a memory.json of the wrong shape": Case(["memory.json", "`workflows` is dict"],
                                                              args=["memory", "{tmp}/run", "pin", "wf-a"],
                                                              names_spec=False,
                                                              setup=damaged_state({"memory.json": '{"workflows": {}}'})),
    "memory: list with a damaged operation log": Case(["memory_ops.jsonl", "line 1", "not JSON"],
                                                      args=["memory", "{tmp}/run", "list"], names_spec=False,
                                                      setup=damaged_state({"memory.json": "{}",
                                                                           "memory_ops.jsonl": BAD_OPS})),
}


def prepare(tmp_path: Path, c: Case, monkeypatch) -> list[str]:
    """The case's files, folders and setup in `tmp_path` (also the working folder and the user data dir's parent):
    its command line after `awm-tui`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, text in c.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    if c.spec is not None:
        (tmp_path / "spec.yaml").write_bytes(c.spec.replace("{port}", str(closed_port())).encode("utf-8",
                                                                                                 "surrogateescape")
                                             if "\xff" not in c.spec else c.spec.encode("latin-1"))
    unwritable = UNWRITABLE.replace("{tmp}", str(tmp_path))
    if "locked" in (c.spec or "") + unwritable:
        (tmp_path / "locked").mkdir(mode=0o500)
    if c.setup:
        c.setup(tmp_path, {"AWM_TUI_HOME": str(tmp_path / "home")})
    if c.engines_up:
        from awm.grading.harness import HarnessEvaluator
        from awm.grading.modal import ModalEvaluator

        for evaluator in (HarnessEvaluator, ModalEvaluator):
            monkeypatch.setattr(evaluator, "check_available", lambda self: None)
    args = [a.replace("{spec}", str(tmp_path / "spec.yaml")).replace("{tmp}", str(tmp_path))
            .replace("{unwritable}", unwritable) for a in c.args]
    return args if args[:1] and args[0] in SUBCOMMANDS else ["--no-ui", *args]


def check(case: str, c: Case, code: int, stderr: str, tmp_path: Path) -> None:
    assert code == 2, (code, stderr[-3000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    message = stderr.strip()
    assert message.startswith("awm-tui: ") and "\n" not in message, message  # one paragraph
    if c.names_spec:
        assert "spec.yaml" in message or "moved.yaml" in message, message
    for word in c.expect:
        assert word in message, (word, message)
    for word in c.absent:
        assert word not in message, (word, message)
    assert "sk-abc123" not in message
    if case.startswith("resume with a damaged journal"):  # the records are kept, nothing cut off
        assert len((tmp_path / "run" / "experiences.jsonl").read_text().splitlines()) == 12


@pytest.fixture
def signals_kept():
    """The commands install signal handlers (a stop at the next safe point): the test process gets its own back."""
    from awm_tui.commands import cli as cli_mod

    saved = {s: signal.getsignal(s) for s in cli_mod.SIGNALS}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
    cli_mod._pending.clear()


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_one_paragraph_and_exit_2(tmp_path, monkeypatch, capsys, signals_kept, case):
    """In-process: `awm_tui.commands.cli.main(argv)` returns 2 (nothing raised), its stderr one paragraph."""
    from awm_tui.commands.cli import main

    c = CASES[case]
    argv = prepare(tmp_path, c, monkeypatch)
    capsys.readouterr()
    code = main(argv)
    check(case, c, code, capsys.readouterr().err, tmp_path)


@pytest.mark.parametrize("case", [name for name, c in CASES.items() if c.process])
def test_a_bad_input_through_the_command(tmp_path, monkeypatch, case):
    """The same through an `awm-tui` process, for a representative subset of the table."""
    c = CASES[case]
    argv = prepare(tmp_path, c, monkeypatch)
    proc = subprocess.run(cli(*argv), cwd=tmp_path, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    check(case, c, proc.returncode, proc.stderr, tmp_path)


def test_the_table_covers_every_command():
    """The issue's bar: well over 125 bad inputs, through every command."""
    assert len(CASES) >= 125
    commands = {(a.args[0] if a.args and a.args[0] in SUBCOMMANDS else "--no-ui") for a in CASES.values()}
    assert commands == {"--no-ui", *SUBCOMMANDS}
    assert not any(c.process and c.engines_up for c in CASES.values())  # a process has no patched engines
    processed = {(a.args[0] if a.args and a.args[0] in SUBCOMMANDS else "--no-ui") for a in CASES.values()
                 if a.process}
    assert processed == commands
