"""Every malformed input a user can give, through the headless command: exit status 2, no traceback, one paragraph
that names the problem. The cases fail before any agent or model is touched (a closed port for the model, never
reached), so the whole table runs in the fast lane."""

from __future__ import annotations

import json
import os
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
    args: list[str] = field(default_factory=lambda: ["{spec}"])  # {spec}, {tmp}, {run} are filled in
    setup: Callable[[Path, dict], None] | None = None  # makes what the case needs (a run folder), in-process
    names_spec: bool = True  # the message names the spec file


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


MISSING_COMMIT_SPEC = """name: t
llm: {model: openai/test-model, base_url: "http://127.0.0.1:{port}/v1"}
dataset: {name: data.jsonl, repo_filter: acme/app}
repos: {acme/app: src}
"""

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
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_one_paragraph_and_exit_2(tmp_path, case):
    c = CASES[case]
    env = {**os.environ, "AWM_TUI_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    for name, text in c.files.items():
        (tmp_path / name).write_text(text)
    if c.spec is not None:
        (tmp_path / "spec.yaml").write_text(c.spec.replace("{port}", str(closed_port())))
    if "locked/run" in (c.spec or ""):
        (tmp_path / "locked").mkdir(mode=0o500)
    if c.setup:
        before = os.environ.get("AWM_TUI_HOME")
        os.environ["AWM_TUI_HOME"] = env["AWM_TUI_HOME"]
        try:
            c.setup(tmp_path, env)
        finally:
            if before is None:
                os.environ.pop("AWM_TUI_HOME")
            else:
                os.environ["AWM_TUI_HOME"] = before
    args = [a.format(spec=tmp_path / "spec.yaml", tmp=tmp_path) for a in c.args]
    proc = subprocess.run(cli("--no-ui", *args), cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: ") and "\n" not in message, message  # one paragraph
    if c.names_spec:
        assert "spec.yaml" in message or "moved.yaml" in message, message
    for word in c.expect:
        assert word in message, (word, message)
    assert "sk-abc123" not in message
    if case.startswith("resume with a damaged journal"):  # the records are kept, nothing cut off
        assert len((tmp_path / "run" / "experiences.jsonl").read_text().splitlines()) == 12
