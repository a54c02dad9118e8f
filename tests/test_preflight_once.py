"""What a run checks before it starts is checked once (project issue 22): the preflight (a Docker engine, agent
servers, Modal's credentials: each a request or more) is not repeated by the store's opening nor by the parts'
assembly, and the repository cache is made once for the base-commit check and the parts. In-process, the checks
counted (stand-ins: no servers, Docker or Modal needed), the rest of the start-up real; seconds."""

from __future__ import annotations

from collections import Counter

import pytest

from awm.agent import remote
from awm.grading.harness import HarnessEvaluator
from awm.grading.modal import ModalEvaluator
from awm.repos import RepoCache
from awm.run import launch
from awm.spec import load_spec

KEY_ENV = "AWM_TEST_PREFLIGHT_KEY"

SPEC = """\
name: checked-once
llm:
  model: scripted/demo
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: 1
repos:
  awm-bench/tallyho: builtin:minibench
agent:
  workspace: remote
  servers: [http://127.0.0.1:9]
  server_key_env: {key_env}
evaluation:
  backend: {backend}
"""


@pytest.mark.parametrize("backend, grader", [("swebench-modal", ModalEvaluator),
                                             ("swebench-docker", HarnessEvaluator)])
def test_a_remote_run_graded_by_the_harness_is_checked_once_and_its_repository_cache_made_once(
        backend, grader, awm_home, tmp_path, monkeypatch):
    calls: Counter[str] = Counter()
    real_assemble = launch.assemble

    def counted(name, real):
        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(launch, "preflight", counted("preflight", launch.preflight))
    monkeypatch.setattr(remote, "check_available", counted("agent servers", lambda spec: "the-key"))
    monkeypatch.setattr(grader, "check_available", counted("grader", lambda self: None))
    monkeypatch.setattr(HarnessEvaluator, "remove_leftovers", lambda self: [])  # (it asks the Docker engine)
    monkeypatch.setattr(RepoCache, "__init__", counted("repository cache", RepoCache.__init__))
    monkeypatch.setattr(launch, "check_harness_knows", lambda backend, issues: None)  # tallyho is no SWE-bench repo
    assembled = []
    monkeypatch.setattr(launch, "assemble", counted("assemble", lambda *a, **kw: assembled.append(
        real_assemble(*a, **kw)) or assembled[-1]))
    monkeypatch.setenv(KEY_ENV, "the-key")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC.format(key_env=KEY_ENV, backend=backend))
    launch.prepare_engine(load_spec(spec_file), [], output_dir=str(tmp_path / "run"), check_model=False)
    for parts in assembled:
        parts.close()  # the scripted model's server
    assert calls == {"preflight": 1, "agent servers": 1, "grader": 1, "repository cache": 1, "assemble": 1}
