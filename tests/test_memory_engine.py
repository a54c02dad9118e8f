"""Memory in the loop, with stub parts (no agent, no model: milliseconds): retrieval decides what each prompt gets
and is recorded; a judge decides what enters memory; failures induce pitfalls; a warm start; the operation log; the
usefulness counts and a baseline run's helped/hurt."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from awm.memory import ops
from awm.memory.induction import Inducer
from awm.memory.judge import Judge
from awm.memory.retrieval import BM25Retriever
from awm.model.client import Completion
from awm.records import Issue
from awm.run.loop import Engine
from awm.run.parts import MemorySources, Parts
from awm.spec import MemorySpec
from support.stubs import make_run

CATEGORIES = {  # a workflow per kind of bug, worded as the issues of that kind are
    "date": ("Fix a date boundary", "an end date, a month end or a leap day is off by one day",
             ["Find the date comparison — `grep -n 'days' {file}`",
              "Run the date tests — `pytest tests/test_dates.py`"]),
    "text": ("Normalise text input", "text with different case, punctuation or whitespace is rejected",
             ["Find where the text is cleaned — `grep -n 'lower' {file}`", "Run the text tests — `pytest {test}`"]),
}
PITFALL_REPLY = """## Pitfall: Editing the test instead of the code
When it bites: the agent changes a test so it passes.
How to avoid it:
1. Leave tests alone; change the library code.
"""


def reply_for(messages) -> Completion:
    system = messages[0]["content"]
    if system.startswith("You are given a list of software-engineering tasks that a coding agent failed"):
        return Completion(PITFALL_REPLY, cost=0.1, prompt_tokens=100, completion_tokens=10)
    user = messages[-1]["content"]
    chosen = [key for key in CATEGORIES if f"({key}-" in user or f"about {key}" in user] or ["date"]
    text = "\n\n".join(f"## Workflow: {name}\nWhen to use: {when}\nSteps:\n" + "\n".join(
        f"{i}. {step}" for i, step in enumerate(steps, 1)) for name, when, steps in (CATEGORIES[k] for k in chosen))
    return Completion(text, cost=0.25, prompt_tokens=1000, completion_tokens=50)


class Model:
    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, messages):
        self.calls.append(messages[0]["content"][:60])
        return reply_for(messages)


def themed_issues() -> list[Issue]:
    """Alternating date and text bugs."""
    out = []
    for n in range(1, 9):
        if n % 2:
            text = f"about date: the end date of a month is off by one day for leap day {n}"
        else:
            text = f"about text: slugify rejects text with upper case and punctuation, whitespace {n}"
        out.append(Issue(instance_id=f"acme__app-{n}", repo="acme/app", base_commit="abc", problem_statement=text))
    return out


def engine_for(run, *, memory: MemorySpec | None = None, induction: dict | None = None, judge=None,
               sources: MemorySources | None = None, retriever=None, model=None) -> Engine:
    spec = run.spec
    if memory is not None:
        spec = dataclasses.replace(spec, memory=memory)
    if induction:
        spec = dataclasses.replace(spec, induction=dataclasses.replace(spec.induction, **induction))
    run.spec = spec
    model = model or Model()
    parts = Parts(spec, run.issues, run.workspace, run.agent, run.evaluator, Inducer(model, run.store.induction),
                  retriever=retriever, judge=judge, sources=sources, count=lambda text: len(text.split()))
    return Engine(parts, run.store, [run.events.append])


def test_bm25_retrieval_gives_each_issue_its_own_kinds_workflow_and_records_it(tmp_path):
    run = make_run(tmp_path, 8)
    run.issues = themed_issues()
    engine = engine_for(run, memory=MemorySpec(retrieval="bm25", min_score=0.05, budget_tokens=400),
                        retriever=BM25Retriever())
    engine.run()
    journal = {e["instance_id"]: e for e in run.journal()}
    # round 1 after issues 1-2 learned both kinds; from issue 3 on, each prompt carries its own kind first
    for n in range(3, 9):
        entry = journal[f"acme__app-{n}"]
        own = "wf-fix-a-date-boundary" if n % 2 else "wf-normalise-text-input"
        assert entry["workflow_ids"][:1] == [own], (n, entry["retrieved"])
        assert [r["id"] for r in entry["retrieved"]] == entry["workflow_ids"]
        assert all(r["score"] >= 0.05 for r in entry["retrieved"])
        assert 0 < entry["memory_tokens"] <= 400
        assert entry["memory_tokens"] == len(run.agent.prompts[entry["instance_id"]].split())
        assert "## Workflow: " + ("Fix a date boundary" if n % 2 else "Normalise text input") in \
            run.agent.prompts[entry["instance_id"]]
    assert journal["acme__app-1"]["workflow_ids"] == [] and journal["acme__app-1"]["memory_tokens"] == 0


def test_a_workflow_is_never_given_to_an_issue_it_was_learned_from(tmp_path):
    run = make_run(tmp_path, 4)
    run.issues = themed_issues()[:4]
    run.evaluator.verdicts.update({3: "FAIL"})
    engine = engine_for(run, memory=MemorySpec(retrieval="all"))
    engine.run()
    memory = engine.memory
    assert memory.rounds_done() == 1
    for wf in memory.workflows:
        learned_from = set(wf.source_instances)
        for entry in run.journal():
            if entry["instance_id"] in learned_from:
                assert wf.id not in entry["workflow_ids"]


def test_the_judge_decides_what_enters_memory(tmp_path):
    asked = []

    def judge_model(messages):  # a scripted judge: success for issues 1, 2 and 5
        instance = re.search(r"Instance: (\S+)", messages[-1]["content"]).group(1)
        asked.append(instance)
        verdict = "success" if instance.rsplit("-", 1)[1] in ("1", "2", "5") else "failure"
        return Completion(f"The patch looks at the reported case.\nVerdict: {verdict}", cost=0.01, prompt_tokens=10,
                          completion_tokens=2)

    run = make_run(tmp_path, 6, verdicts={2: "FAIL"})  # tests: 1 PASS, 2 FAIL, 3-6 PASS
    judge = Judge(judge_model, run.store.dir)
    engine = engine_for(run, memory=MemorySpec(retrieval="all"), induction={"success": "judge"}, judge=judge)
    finished = engine.run()
    journal = run.journal()
    assert asked == [f"acme__app-{n}" for n in range(1, 7)]
    assert [e["instance_id"] for e in journal if e["learned"]] == ["acme__app-1", "acme__app-2", "acme__app-5"]
    assert json.loads(run.store.buffer_path.read_text())["instance_ids"] == ["acme__app-1", "acme__app-2",
                                                                            "acme__app-5"]
    assert engine.memory.rounds[0]["source_instances"] == ["acme__app-1", "acme__app-2"]  # the judge's, not the tests'
    assert journal[0]["judge"]["verdict"] == "PASS" and "reported case" in journal[0]["judge"]["reasoning"]
    assert (run.store.dir / journal[0]["judge"]["reply_path"]).read_text().endswith("Verdict: success")
    # the judge agreed with the tests on 1 (PASS/PASS), 5 (PASS/PASS), and disagreed on 2, 3, 4, 6
    assert (finished.stats.judged, finished.stats.judge_agreed) == (6, 2)
    assert finished.stats.induction_cost == pytest.approx(0.25 + 6 * 0.01)


def test_tests_and_judge_both_must_say_solved(tmp_path):
    class Judge:
        def judge(self, issue, experience):
            return {"verdict": "FAIL" if issue.instance_id.endswith("-1") else "PASS"}

    run = make_run(tmp_path, 4, verdicts={3: "FAIL"})
    engine_for(run, memory=MemorySpec(retrieval="all"), induction={"success": "tests+judge"}, judge=Judge()).run()
    assert [e["instance_id"] for e in run.journal() if e["learned"]] == ["acme__app-2", "acme__app-4"]


def test_failures_induce_pitfalls_that_later_prompts_carry(tmp_path):
    run = make_run(tmp_path, 6, verdicts={1: "FAIL", 2: "FAIL"})
    model = Model()
    engine = engine_for(run, memory=MemorySpec(retrieval="all"), induction={"from_failures": True}, model=model)
    engine.run()
    pitfalls = engine.memory.active("pitfall")
    assert [p.name for p in pitfalls] == ["Editing the test instead of the code"]
    assert pitfalls[0].source_instances == ["acme__app-1", "acme__app-2"]
    assert "## Pitfall: Editing the test instead of the code" in run.agent.prompts["acme__app-3"]
    assert "# Pitfalls" in run.agent.prompts["acme__app-3"]
    assert (run.store.induction / "pitfalls_001.prompt.txt").exists()
    kinds = [r["kind"] for r in engine.memory.rounds]
    assert kinds[0] == "pitfall" and "workflow" in kinds


def test_a_warm_start_gives_the_first_issue_the_other_runs_memory(tmp_path):
    first = make_run(tmp_path / "a", 4)
    first.issues = themed_issues()[:4]
    engine_for(first, memory=MemorySpec(retrieval="all")).run()
    other = json.loads(first.store.memory_path.read_text())
    assert other["workflows"]

    second = make_run(tmp_path / "b", 2)
    second.issues = [dataclasses.replace(i, instance_id=f"other__x-{n}") for n, i in enumerate(themed_issues()[:2], 1)]
    engine = engine_for(second, memory=MemorySpec(retrieval="all"),
                        sources=MemorySources(seed=other, seed_label=str(first.store.memory_path)))
    engine.run()
    assert "## Workflow: Fix a date boundary" in second.agent.prompts["other__x-1"]
    saved = json.loads(second.store.memory_path.read_text())
    assert saved["seeded_from"] and str(first.store.memory_path) in json.dumps(saved["seeded_from"])


def test_the_operation_log_disables_and_pins_from_the_next_issue(tmp_path):
    run = make_run(tmp_path, 6)
    run.issues = themed_issues()[:6]
    disabled = []

    def edit(n):
        if n == 4:  # while issue 4 is running, the user disables the date workflow: issue 5 no longer gets it
            ops.append(run.store.dir, "disable", "wf-fix-a-date-boundary", "wrong advice")
            disabled.append(n)

    run.agent.on_run = edit
    engine = engine_for(run, memory=MemorySpec(retrieval="all"))
    engine.run()
    journal = {e["instance_id"]: e for e in run.journal()}
    assert "wf-fix-a-date-boundary" in journal["acme__app-3"]["workflow_ids"]
    assert "wf-fix-a-date-boundary" in journal["acme__app-4"]["workflow_ids"]
    assert "wf-fix-a-date-boundary" not in journal["acme__app-5"]["workflow_ids"]
    assert "wf-fix-a-date-boundary" not in journal["acme__app-6"]["workflow_ids"]
    assert engine.memory.get("wf-fix-a-date-boundary").disabled
    assert [o["action"] for o in ops.read(run.store.dir)] == ["disable"]


def test_usefulness_counts_and_the_baseline_runs_helped_and_hurt(tmp_path):
    run = make_run(tmp_path, 6, verdicts={4: "FAIL"})
    run.issues = themed_issues()[:6]
    baseline = {"acme__app-3": "FAIL", "acme__app-4": "PASS", "acme__app-5": "PASS", "acme__app-6": "FAIL"}
    engine = engine_for(run, memory=MemorySpec(retrieval="all"), sources=MemorySources(baseline=baseline))
    engine.run()
    use = engine.memory.usefulness("wf-fix-a-date-boundary")
    given = [e for e in run.journal() if "wf-fix-a-date-boundary" in e["workflow_ids"]]
    assert use["injected"] == len(given) == 4  # issues 3-6
    assert (use["passed"], use["failed"]) == (3, 1)
    assert (use["helped"], use["hurt"]) == (2, 1)  # 3 and 6 passed where the baseline failed; 4 the reverse
    # a resumed run recounts from the journal: the same figures
    again = engine_for(run, memory=MemorySpec(retrieval="all"), sources=MemorySources(baseline=baseline))
    again.run()
    assert again.memory.usefulness("wf-fix-a-date-boundary") == use


def test_warm_start_and_baseline_are_found_by_folder_name_or_file_and_mistakes_name_the_field(tmp_path):
    from awm.errors import UserError
    from awm.run.parts import memory_sources

    first = make_run(tmp_path / "a", 4, verdicts={4: "FAIL"})
    first.issues = themed_issues()[:4]
    engine_for(first, memory=MemorySpec(retrieval="all")).run()
    folder = first.store.dir
    for given in (str(folder), str(folder / "memory.json")):
        spec = dataclasses.replace(first.spec, memory=MemorySpec(start_from=given, baseline_run=str(folder)))
        sources = memory_sources(spec)
        assert sources.seed["workflows"] and sources.seed_label == str((folder / "memory.json").resolve())
        assert sources.baseline == {"acme__app-1": "PASS", "acme__app-2": "PASS", "acme__app-3": "PASS",
                                    "acme__app-4": "FAIL"}
    for field, memory in (("memory.from", MemorySpec(start_from=str(tmp_path / "nothing"))),
                          ("memory.baseline_run", MemorySpec(baseline_run="no-such-run"))):
        with pytest.raises(UserError) as caught:
            memory_sources(dataclasses.replace(first.spec, memory=memory))
        assert caught.value.field == field


@pytest.mark.slow  # imports litellm (~10 s)
def test_embedding_retrieval_calls_litellms_embedding_api_at_the_models_address():
    from awm.demo.scripted import ScriptedServer
    from awm.records import Workflow
    from awm.run.parts import make_parts_retriever
    from awm.spec import LLMSpec, RunSpec

    with ScriptedServer() as server:
        spec = RunSpec(llm=LLMSpec(model="scripted/learner", base_url=server.base_url),
                       memory=MemorySpec(retrieval="embedding", embedding_model="openai/scripted-embed"))
        entries = [Workflow(id=f"wf-{k}", name=name, description=when, steps=steps)
                   for k, (name, when, steps) in CATEGORIES.items()]
        ranked = make_parts_retriever(spec).rank("the end date of a month is off by one day", entries)
        assert [w.id for w, _ in ranked][0] == "wf-date" and all(-1 <= s <= 1 for _, s in ranked)
        assert [r["kind"] for r in server.requests] == ["embedding"]  # the query and both entries in one call
