"""What retrieval's embedding calls cost (memory.retrieval: embedding) is counted: each call's tokens and price
(litellm's usage and response_cost), kept with the issue it was made for (Experience.embedding), summed into the
run's statistics (embedding_cost/_tokens/_calls, and memory's own cost, the total cost and prompt tokens), the same
after a resume."""

from __future__ import annotations

import dataclasses

import pytest

from awm.memory.retrieval import EmbeddingRetriever, Vectors, embedding_usage, litellm_embedder
from awm.records import Workflow
from awm.run import loop
from awm.run.parts import Parts
from awm.run.stats import Stats
from awm.memory.induction import Inducer
from support.stubs import make_run

TOKENS_PER_TEXT, PRICE_PER_TEXT = 10, 0.0005


class PricedEmbed:
    """Vectors of four numbers; each call reports TOKENS_PER_TEXT tokens and PRICE_PER_TEXT dollars per text."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        vectors = Vectors([1.0, float(len(t) % 3), 0.5, 0.25] for t in texts)
        vectors.prompt_tokens, vectors.cost = TOKENS_PER_TEXT * len(texts), PRICE_PER_TEXT * len(texts)
        return vectors


def test_the_retriever_sums_what_its_calls_report_and_a_plain_list_counts_a_call():
    embed = PricedEmbed()
    retriever = EmbeddingRetriever("openai/emb", embed)
    a = Workflow(id="wf-a", name="A", description="a", steps=["a"])
    b = Workflow(id="wf-b", name="B", description="b", steps=["b"])
    retriever.rank("first query", [a, b])  # 3 texts
    retriever.rank("second query", [a, b])  # 1 text: the entries are cached
    assert retriever.usage == {"calls": 2, "prompt_tokens": 40, "cost": pytest.approx(0.002)}
    retriever.embed = lambda texts: [[1.0, 0.0, 0.0, 0.0] for _ in texts]  # an embed that knows no usage
    retriever.rank("third query", [a, b])
    assert retriever.usage == {"calls": 3, "prompt_tokens": 40, "cost": pytest.approx(0.002)}


def test_litellm_embedder_reads_the_usage_and_the_price(monkeypatch):
    class Response:
        data = [{"index": 0, "embedding": [1.0, 0.0]}]
        usage = type("Usage", (), {"prompt_tokens": 12, "total_tokens": 12})()
        _hidden_params = {"response_cost": 0.00024}

    class FakeLitellm:
        @staticmethod
        def embedding(model, input, **kwargs):
            return Response()

    monkeypatch.setattr("awm.model.client.import_litellm", lambda: FakeLitellm)
    vectors = litellm_embedder("openai/emb")(["a text"])
    assert vectors == [[1.0, 0.0]] and (vectors.prompt_tokens, vectors.cost) == (12, 0.00024)
    assert embedding_usage({"usage": {"total_tokens": 5}}, ["x"])[0] == 5  # a dict answer, total only


def engine(run, embed) -> loop.Engine:
    parts = Parts(run.spec, run.issues, run.workspace, run.agent, run.evaluator,
                  Inducer(run.complete, run.store.induction), retriever=EmbeddingRetriever("openai/emb", embed))
    return loop.Engine(parts, run.store, [run.events.append])


def test_each_issue_keeps_its_embedding_calls_and_the_statistics_count_them(tmp_path):
    run = make_run(tmp_path, 4)
    run.spec = dataclasses.replace(run.spec, memory=dataclasses.replace(
        run.spec.memory, retrieval="embedding", embedding_model="openai/emb", min_score=0.0))
    embed = PricedEmbed()
    result = engine(run, embed).run()
    journal = run.journal()
    # issues 1 and 2 start with an empty memory: no call; a round after issue 2 (trigger 2) gives issue 3 its
    # entries and query in one call, issue 4 its query alone (the entries' vectors are cached)
    texts = [len(call) for call in embed.calls]
    assert [e.get("embedding") or {} for e in journal] == [
        {}, {}, *({"calls": 1, "prompt_tokens": TOKENS_PER_TEXT * n, "cost": pytest.approx(PRICE_PER_TEXT * n)}
                  for n in texts)]
    assert len(texts) == 2 and texts[1] == 1
    stats = result.stats
    tokens = TOKENS_PER_TEXT * sum(texts)
    assert (stats.embedding_calls, stats.embedding_tokens) == (2, tokens)
    assert stats.embedding_cost == pytest.approx(PRICE_PER_TEXT * sum(texts))
    agent = sum(e["cost"] for e in journal)
    induction = run.store.dir / "memory.json"
    assert stats.cost == pytest.approx(agent + stats.induction_cost)
    assert stats.induction_cost >= stats.embedding_cost > 0
    assert stats.induction_tokens == _induction_tokens(induction) + tokens  # no judge: induction.success tests
    assert stats.prompt_tokens + stats.completion_tokens == sum(
        e["prompt_tokens"] + e["completion_tokens"] for e in journal) + stats.induction_tokens
    # derived from the journal: a reader of the folder counts the same
    again = Stats.compute(run.store.finished(repair=False), 4, 0, 0, 0.0)
    assert (again.embedding_calls, again.embedding_tokens) == (2, tokens)


def _induction_tokens(memory_path) -> int:
    import json

    memory = json.loads(memory_path.read_text())
    return sum(int(r.get("prompt_tokens", 0) or 0) + int(r.get("completion_tokens", 0) or 0)
               for r in memory.get("rounds", []) + memory.get("failed_rounds", []))


@pytest.mark.slow  # imports litellm (~10 s)
def test_the_scripted_models_embedding_tokens_count_through_litellm():
    from awm.demo.scripted import ScriptedServer
    from awm.run.parts import make_parts_retriever
    from awm.spec import LLMSpec, MemorySpec, RunSpec

    with ScriptedServer() as server:
        spec = RunSpec(llm=LLMSpec(model="scripted/learner", base_url=server.base_url),
                       memory=MemorySpec(retrieval="embedding", embedding_model="openai/scripted-embed"))
        entry = Workflow(id="wf-a", name="Fix a date", description="an end date is off", steps=["grep days"])
        retriever = make_parts_retriever(spec)
        retriever.rank("the end date is off by one day", [entry])
    # the scripted server counts a text's words (at least 1): the entry's text and the query's
    from awm.memory.retrieval import entry_text
    import re

    words = sum(max(1, len(re.findall(r"\w+", t))) for t in (entry_text(entry), "the end date is off by one day"))
    assert retriever.usage["calls"] == 1 and retriever.usage["prompt_tokens"] == words
    assert retriever.usage["cost"] == 0.0  # a model litellm has no price for: free, its tokens still counted


def test_a_rounds_merge_cost_is_kept_apart_within_its_cost(tmp_path):
    """memory.merge: llm: the merge's calls count with the round (cost, tokens) and are kept apart (merge_*), so
    compare can show memory's merge cost beside induction's."""
    from support.stubs import WORKFLOW_REPLY
    from test_memory_model_faults import merging_run

    run, engine = merging_run(tmp_path, 4, WORKFLOW_REPLY)  # round 2 re-induces the same workflow: one merge
    engine.run()
    first, second = engine.memory.rounds
    assert "merge_cost" not in first and first["cost"] == 0.25
    assert (second["merge_cost"], second["merge_prompt_tokens"], second["merge_completion_tokens"]) == (0.02, 20, 4)
    assert second["cost"] == pytest.approx(0.27) and second["prompt_tokens"] == 1020


def test_a_memory_off_run_with_embedding_retrieval_in_its_spec_runs(tmp_path):
    """`experiment --arms memory=off,on` on a spec with `retrieval: embedding`: the off arm gets no retriever from
    its parts and must not fail making one it never asks (it did: "embedding needs memory.embedding_model")."""
    run = make_run(tmp_path, 2, memory="off")
    run.spec = dataclasses.replace(run.spec, memory=dataclasses.replace(
        run.spec.memory, retrieval="embedding", embedding_model="openai/emb"))
    result = run.engine().run()
    assert result.stats.processed == 2 and result.stats.embedding_calls == 0
