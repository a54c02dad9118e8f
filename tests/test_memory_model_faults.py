"""Memory's own model calls get induction's fault treatment: the judge, LLM merges, pitfall induction and the
embedding model. A failure is recorded (with the reply when there is one), counted in the statistics, and a few in a
row stop the run naming the model and the field, resumably: the memory arm never silently becomes the baseline.

In-process over the engine's stub parts (support.stubs) and the scripted model server on 127.0.0.1 (its injectable
faults); the last tests are whole runs through the command line with the real agent (slow)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess

import pytest

from conftest import cli
from support.stubs import WORKFLOW_REPLY, make_run

from awm.demo.scripted import INDUCE_PITFALLS, MERGE, ScriptedServer
from awm.errors import UserError
from awm.memory.induction import Inducer
from awm.memory.judge import Judge
from awm.memory.retrieval import EmbeddingFault, EmbeddingRetriever, check_vectors
from awm.model.client import Completion, completer
from awm.records import Workflow
from awm.run import loop, memory
from awm.run.parts import Parts
from awm.run.store import RunState
from awm.spec import LLMSpec, MemorySpec, RunSpec, load_spec
from awm_tui.commands.headless import summary

GARBAGE = "I like turtles. Nothing here follows any format."
VERDICT = "The patch fixes the cause.\nVerdict: success"


def faults(run) -> list[dict]:
    path = run.store.dir / memory.FAULTS_FILE
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class JudgeModel:
    """Answers each judge call with the next of `replies` (an exception is raised), then with a verdict."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.asked: list[str] = []

    def __call__(self, messages):
        self.asked.append(messages[-1]["content"].split("Instance: ", 1)[1].split()[0])
        reply = self.replies.pop(0) if self.replies else VERDICT
        if isinstance(reply, Exception):
            raise reply
        return Completion(reply, cost=0.01, prompt_tokens=10, completion_tokens=2)


def judged_run(tmp_path, n, model, *, rule="judge"):
    run = make_run(tmp_path, n)
    run.spec = dataclasses.replace(run.spec, induction=dataclasses.replace(run.spec.induction, success=rule))
    engine = run.engine()
    engine.parts.judge = Judge(model, run.store.dir)
    return run, engine


# ---------------------------------------------------------------------------------------------------- the judge

def test_a_judge_answering_500_then_garbage_stops_the_run_naming_the_field_and_model(tmp_path):
    model = JudgeModel(ConnectionError("Error code: 500 - injected fault"), GARBAGE, GARBAGE)
    run, engine = judged_run(tmp_path, 5, model)
    result = engine.run()
    assert result.outcome == RunState.ABORTED
    message = result.message
    assert "3 issues in a row whose judge call failed" in message and "`induction.success: judge`" in message
    assert "stub/model (field `llm` of" in message and "Verdict: success" in message
    assert f"--resume {run.store.dir}" in message and "those 3 issues will be redone" in message
    assert "judge/acme__app-3.reply.txt" in message  # the last garbage reply, kept
    assert run.journal() == []  # forgotten: redone on resume, with the judge
    assert result.stats.judge_failures == 3 and "3 failed judge calls" in summary(result.stats)
    recorded = faults(run)
    assert [(f["kind"], f["instance_id"], f["reply_path"]) for f in recorded] == [
        ("judge", "acme__app-1", None), ("judge", "acme__app-2", "judge/acme__app-2.reply.txt"),
        ("judge", "acme__app-3", "judge/acme__app-3.reply.txt")]
    assert "model call failed" in recorded[0]["reason"] and "no `Verdict" in recorded[1]["reason"]
    assert (run.store.dir / "judge/acme__app-2.reply.txt").read_text() == GARBAGE

    resumed = run.engine()  # the judge's model fixed
    resumed.parts.judge = Judge(JudgeModel(), run.store.dir)
    again = resumed.run()
    assert again.outcome == RunState.COMPLETED and again.stats.processed == 5 and again.stats.learned == 5
    assert again.stats.judge_failures == 3  # the failures stay counted
    assert again.stats.induction_rounds >= 1


def test_an_isolated_judge_fault_is_recorded_not_learned_and_no_failure_of_the_memory_it_was_given(tmp_path):
    # issues 1, 2 judged; a round; 3's judge fails, 4 is judged (the streak ends), 5 and 6 fail: 3 faults, no stop
    model = JudgeModel(VERDICT, VERDICT, GARBAGE, VERDICT, GARBAGE, RuntimeError("down"))
    run, engine = judged_run(tmp_path, 6, model)
    result = engine.run()
    assert result.outcome == RunState.COMPLETED and result.stats.judge_failures == 3
    journal = {e["instance_id"]: e for e in run.journal()}
    third = journal["acme__app-3"]
    assert third["status"] == "PASS" and not third["learned"]  # the tests' verdict stays; not learned from
    assert third["judge"]["verdict"] == "ERROR" and third["judge"]["reply_path"] == "judge/acme__app-3.reply.txt"
    assert third["workflow_ids"] == ["wf-fix-an-off-by-one"]
    counts = engine.memory.outcomes["wf-fix-an-off-by-one"]
    assert counts["injected"] == 4 and counts["failed"] == 0 and counts["passed"] == 1  # 4 passed; 3, 5, 6 unknown
    assert [f["instance_id"] for f in faults(run)] == ["acme__app-3", "acme__app-5", "acme__app-6"]


def test_the_judges_transient_500_is_retried_by_the_model_client_and_garbage_is_an_error_kept(tmp_path):
    from test_judge import experience, issue

    with ScriptedServer() as server:
        server.faults = {"judge": ["http500", "garbage"]}
        judge = Judge(completer(LLMSpec(model="openai/x", base_url=server.base_url, num_retries=1)), tmp_path)
        verdict = judge.judge(issue(), experience())
        assert [r.get("fault") for r in server.requests] == ["http500", "garbage"]  # asked again after the 500
        assert verdict["verdict"] == "ERROR" and "no `Verdict" in verdict["reasoning"]
        assert (tmp_path / verdict["reply_path"]).read_text() == GARBAGE
        assert judge.judge(issue(), experience())["verdict"] in ("PASS", "FAIL")  # the faults used up: a verdict


def test_under_tests_and_judge_a_judge_fault_on_a_failed_test_is_still_a_failure(tmp_path):
    run, engine = judged_run(tmp_path, 3, JudgeModel(VERDICT, VERDICT, GARBAGE), rule="tests+judge")
    engine.parts.evaluator.verdicts = {3: "FAIL"}
    engine.run()
    assert memory.outcome(engine.experiences[2], engine.spec.induction.success) == "FAIL"
    engine.parts.evaluator.verdicts = {}
    engine.experiences[2].status = "PASS"
    assert memory.outcome(engine.experiences[2], engine.spec.induction.success) == "SKIPPED"


# ---------------------------------------------------------------------------------------------------- merges

def merging_run(tmp_path, n, merge_reply):
    run = make_run(tmp_path, n)
    run.spec = dataclasses.replace(run.spec, memory=dataclasses.replace(run.spec.memory, merge="llm"))
    engine = run.engine()

    def complete(messages):
        if messages[0]["content"].startswith(MERGE):
            if isinstance(merge_reply, Exception):
                raise merge_reply
            return Completion(merge_reply, cost=0.02, prompt_tokens=20, completion_tokens=4)
        return Completion(WORKFLOW_REPLY, cost=0.25, prompt_tokens=1000, completion_tokens=50)

    engine.parts.inducer.complete = complete
    return run, engine


def test_failed_llm_merges_are_recorded_with_the_reply_and_three_in_a_row_stop_the_run(tmp_path):
    run, engine = merging_run(tmp_path, 10, GARBAGE)  # every round re-induces the same workflow: one merge each
    result = engine.run()
    assert result.outcome == RunState.ABORTED
    assert "3 failed LLM merges in a row" in result.message and "`memory.merge: llm`" in result.message
    assert "stub/model (field `llm`" in result.message and "memory.merge: similarity" in result.message
    assert f"--resume {run.store.dir}" in result.message
    assert result.stats.merge_failures == 3 and "3 failed merges" in summary(result.stats)
    assert len(run.journal()) == 8  # rounds after issues 2 (new), 4, 6, 8 (three failed merges)
    errors = [e for r in engine.memory.rounds for e in r.get("merge_errors", [])]
    assert len(errors) == 3 and "kept in induction/merge_wf-fix-an-off-by-one_v2.reply.txt" in errors[0]["error"]
    assert (run.store.induction / "merge_wf-fix-an-off-by-one_v2.reply.txt").read_text() == GARBAGE
    assert engine.memory.get("wf-fix-an-off-by-one").version == 4  # each round went in, unmerged


def test_a_merge_that_raises_counts_and_a_good_merge_ends_the_streak(tmp_path):
    run, engine = merging_run(tmp_path, 6, RuntimeError("Error code: 500 - the merge model failed"))
    result = engine.run()
    assert result.outcome == RunState.COMPLETED and result.stats.merge_failures == 2
    assert "500" in engine.memory.rounds[1]["merge_errors"][0]["error"]
    assert engine.keeper.merge_failed == 2
    ok = engine.keeper.counted_merge(lambda old, new: new)
    ok(None, {"name": "x"})
    assert engine.keeper.merge_failed == 0


# ---------------------------------------------------------------------------------------------------- pitfalls

def test_failing_pitfall_induction_stops_naming_induction_from_failures_and_the_inducing_model(tmp_path):
    run = make_run(tmp_path, 8, verdicts={n: "FAIL" for n in range(1, 9)})
    run.spec = dataclasses.replace(
        run.spec, induction=dataclasses.replace(run.spec.induction, from_failures=True,
                                                llm=LLMSpec(model="openai/inducer")))
    engine = run.engine()
    engine.parts.inducer.complete = lambda messages: Completion(
        GARBAGE if messages[0]["content"].startswith(INDUCE_PITFALLS) else WORKFLOW_REPLY)
    result = engine.run()
    assert result.outcome == RunState.ABORTED
    assert "3 failed attempts in a row at induction round 1 (pitfall induction, field `induction.from_failures`)" \
        in result.message
    assert "openai/inducer (field `induction.llm` of" in result.message
    assert "induction/pitfalls_001.prompt.txt" in result.message and "pitfalls_001.attempt3.reply.txt" in result.message
    assert result.stats.induction_failures == 3


# ---------------------------------------------------------------------------------------------------- embeddings

def test_unusable_vectors_are_a_named_fault():
    assert check_vectors([[0.6, 0.8]], 1, 2) == [[0.6, 0.8]]
    cases = [([[math.nan, 1.0]], None, "NaN or infinite"), ([[math.inf, 1.0]], None, "NaN or infinite"),
             ([[1.0, 0.0]], 3, "size 2, and 3 before"), ([[1.0], [1.0, 2.0]], None, "different sizes"),
             ([[1.0]], None, "1 vectors for 2 texts"), ([["a"]], None, "not a list of vectors")]
    for vectors, dims, words in cases:
        with pytest.raises(EmbeddingFault, match=words.replace("(", r"\(")):
            check_vectors(vectors, 2 if "2 texts" in words else len(vectors), dims, "openai/emb")


class Embed:
    """Good vectors, except the calls `bad` names: "raise", "nan" or "short"."""

    def __init__(self, bad=None):
        self.bad = dict(bad or {})
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        what = self.bad.get(self.calls, self.bad.get("*", ""))
        if what == "raise":
            raise ConnectionError("Error code: 500 - injected fault: the embedding model failed")
        size = 2 if what == "short" else 4
        return [[math.nan] * size if what == "nan" else [1.0, float(len(t) % 3), 0.5, 0.25][:size] for t in texts]


def embedding_run(tmp_path, n, embed, monkeypatch):
    monkeypatch.setattr(memory, "EMBEDDING_RETRY_WAIT_S", 0.0)
    run = make_run(tmp_path, n)
    run.spec = dataclasses.replace(run.spec, memory=dataclasses.replace(
        run.spec.memory, retrieval="embedding", embedding_model="openai/emb", min_score=0.0))
    return run, embedding_engine(run, embed)


def embedding_engine(run, embed) -> loop.Engine:
    parts = Parts(run.spec, run.issues, run.workspace, run.agent, run.evaluator,
                  Inducer(run.complete, run.store.induction), retriever=EmbeddingRetriever("openai/emb", embed))
    return loop.Engine(parts, run.store, [run.events.append])


@pytest.mark.parametrize("fault, words", [("raise", "failed: "), ("nan", "NaN"), ("short", "size 2, and 4 before")])
def test_an_embedding_model_failing_three_times_in_a_row_stops_before_the_issue_starts(tmp_path, monkeypatch,
                                                                                         fault, words):
    embed = Embed({1: "", "*": fault})  # the first retrieval (issue 3) works, then every call fails
    run, engine = embedding_run(tmp_path, 6, embed, monkeypatch)
    result = engine.run()
    assert result.outcome == RunState.ABORTED
    message = result.message
    assert "3 failed embedding calls in a row (retrieval for acme__app-4" in message and words in message
    assert "openai/emb (field `memory.embedding_model` of" in message and "memory.retrieval: bm25" in message
    assert "acme__app-4 has not started" in message and f"--resume {run.store.dir}" in message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1", "acme__app-2", "acme__app-3"]
    assert "acme__app-4" not in run.agent.prompts  # never run without its memory
    assert result.stats.embedding_failures == 3 and "3 failed embedding calls" in summary(result.stats)
    assert [f["kind"] for f in faults(run)] == ["embedding"] * 3

    again = embedding_engine(run, Embed()).run()  # the endpoint fixed
    assert again.outcome == RunState.COMPLETED and again.stats.processed == 6
    assert "Fix an off-by-one" in run.agent.prompts["acme__app-4"]
    assert again.stats.embedding_failures == 3


def test_a_transient_embedding_fault_is_asked_again_and_the_issue_gets_its_memory(tmp_path, monkeypatch):
    run, engine = embedding_run(tmp_path, 4, Embed({2: "nan"}), monkeypatch)
    result = engine.run()
    assert result.outcome == RunState.COMPLETED and result.stats.embedding_failures == 1
    assert "Fix an off-by-one" in run.agent.prompts["acme__app-4"]
    assert faults(run)[0]["instance_id"] == "acme__app-4" and "NaN" in faults(run)[0]["reason"]


def test_the_scripted_servers_embedding_faults_through_litellm_are_named():
    from awm.run.parts import make_parts_retriever

    entries = [Workflow(id="wf-a", name="Fix a date", description="an end date is off", steps=["a", "b"])]
    with ScriptedServer() as server:
        spec = RunSpec(llm=LLMSpec(model="openai/x", base_url=server.base_url, num_retries=0),
                       memory=MemorySpec(retrieval="embedding", embedding_model="openai/emb"))
        retriever = make_parts_retriever(spec)
        server.faults = {"embedding": ["http500*"]}  # the client's own retries get 500s too
        with pytest.raises(EmbeddingFault, match="openai/emb failed: .*500"):
            retriever.rank("an end date", entries)
        server.faults = {"embedding": ["nan"]}
        with pytest.raises(EmbeddingFault, match="NaN"):
            retriever.rank("an end date", entries)
        assert retriever.rank("an end date", entries)[0][0].id == "wf-a"
        server.faults = {"embedding": ["wrong_size"]}
        with pytest.raises(EmbeddingFault, match="size 128, and 256 before"):
            retriever.rank("another text", entries)


def test_the_embedding_model_is_checked_before_the_first_issue():
    from awm.model.check import check_embedding_model

    with ScriptedServer() as server:
        llm = LLMSpec(model="openai/x", base_url=server.base_url)
        assert check_embedding_model("openai/emb", llm) == 256
        with pytest.raises(UserError) as info:
            check_embedding_model("nomic-embed-text", llm)
        assert info.value.field == "memory.embedding_model" and "openai/nomic-embed-text" in info.value.message
        server.faults = {"embedding": ["nan"]}
        with pytest.raises(UserError, match="NaN") as info:
            check_embedding_model("openai/emb", llm)
        assert info.value.field == "memory.embedding_model"
        server.faults = {"embedding": ["http500*"]}
        assert check_embedding_model("openai/emb", llm) is None  # a server error: left to the run's treatment


SPEC = """name: t
llm:
  model: openai/x
  base_url: {base_url}
  num_retries: 1
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: 4
repos:
  awm-bench/tallyho: builtin:minibench
induction:
  trigger: 1
"""


def test_a_provider_less_embedding_model_is_refused_by_the_spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(base_url="http://127.0.0.1:9/v1")
                    + "memory:\n  retrieval: embedding\n  embedding_model: text-embedding-3-small\n")
    with pytest.raises(UserError) as info:
        load_spec(path)
    message = info.value.message
    assert "spec.yaml" in message and "field `memory.embedding_model`" in message and "line " in message
    assert "`embedding_model: openai/text-embedding-3-small`" in message
    path.write_text(SPEC.format(base_url="http://127.0.0.1:9/v1")
                    + "memory:\n  retrieval: bm25\n  embedding_model: text-embedding-3-small\n")
    assert load_spec(path).memory.embedding_model == "text-embedding-3-small"  # not used: not checked


# ---------------------------------------------------------------------------------------------------- whole runs

def run_cli(tmp_path, spec_text):
    (tmp_path / "spec.yaml").write_text(spec_text)
    env = {**os.environ, "AWM_TUI_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cli("--no-ui", str(tmp_path / "spec.yaml"), "--output-dir", str(tmp_path / "run")),
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)


def test_a_provider_less_embedding_model_exits_2_before_anything_runs(tmp_path):
    proc = run_cli(tmp_path, SPEC.format(base_url="http://127.0.0.1:9/v1")
                   + "memory:\n  retrieval: embedding\n  embedding_model: text-embedding-3-small\n")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: ") and "\n" not in message
    assert "spec.yaml" in message and "field `memory.embedding_model`" in message and "openai/" in message
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_whole_run_whose_judge_answers_500_then_garbage_exits_2_naming_the_field_and_model(tmp_path):
    with ScriptedServer() as server:
        server.faults = {"judge": ["http500", "garbage*"]}
        proc = run_cli(tmp_path, SPEC.format(base_url=server.base_url) + "  success: judge\n")
        judged = [r for r in server.requests if r["kind"] == "judge"]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "3 issues in a row whose judge call failed" in proc.stderr and "induction.success: judge" in proc.stderr
    assert "openai/x (field `llm` of" in proc.stderr and "--resume" in proc.stderr
    assert "(3 failed judge calls)" in proc.stdout + proc.stderr
    assert len(judged) == 4  # the 500 retried by the model client, then garbage three times
    checkpoint = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert checkpoint["status"] == "aborted" and checkpoint["stats"]["judge_failures"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("fault, words", [("http500*", "500"), ("nan*", "NaN")])
def test_a_whole_run_whose_embedding_model_fails_exits_2_naming_the_fault_and_field(tmp_path, fault, words):
    with ScriptedServer() as server:
        server.faults = {"embedding": ["", fault]}  # the start-up probe is answered, every later request fails
        proc = run_cli(tmp_path, SPEC.format(base_url=server.base_url)
                       + "memory:\n  retrieval: embedding\n  embedding_model: openai/emb\n  min_score: 0\n")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "3 failed embedding calls in a row" in proc.stderr and words in proc.stderr
    assert "openai/emb (field `memory.embedding_model` of" in proc.stderr
    journal = (tmp_path / "run" / "experiences.jsonl").read_text().splitlines()
    assert len(journal) == 1  # the first issue ran with no memory yet; the second never started
    checkpoint = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert checkpoint["status"] == "aborted" and checkpoint["stats"]["embedding_failures"] == 3
