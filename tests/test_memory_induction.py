"""Induction parsing, workflow memory rules and the experience buffer."""

import json

from awm.memory.buffer import ExperienceBuffer
from awm.memory.induction import Completion, Inducer, build_messages, parse_workflows
from awm.memory.store import WorkflowMemory
from awm.records import Experience, Status, Step, Workflow

REPLY = """Here are the workflows.

## Workflow: Fix an off-by-one boundary
When to use: a range or limit check accepts or rejects the edge value wrongly.
Steps:
1. Find the comparison — `grep -n "<" {module-path}`
2. Change the operator and rerun the test — `python -m pytest {test-file}`

## Workflow: Too short
When to use: never
Steps:
1. only one step
"""


def exp(iid, status=Status.PASS):
    return Experience(instance_id=iid, problem_statement=f"problem of {iid}", status=status,
                      history=[Step(tool="terminal", action="$ ls", thought="look", observation="a.py")])


def test_parse_instructed_format_drops_workflows_with_one_step():
    wfs = parse_workflows(REPLY)
    assert [w["name"] for w in wfs] == ["Fix an off-by-one boundary"]
    assert wfs[0]["description"].startswith("a range or limit check")
    assert len(wfs[0]["steps"]) == 2 and "{module-path}" in wfs[0]["steps"][0]


def test_parse_loose_markdown_and_json():
    loose = "**Workflow 1: Normalise input**\nDescription: text compared before normalising\n- strip it\n- lower it\n"
    assert parse_workflows(loose) == [{"name": "Normalise input", "description": "text compared before normalising",
                                       "steps": ["strip it", "lower it"]}]
    as_json = "```json\n" + json.dumps([{"name": "A", "description": "d", "steps": ["x", "y"]}]) + "\n```"
    assert parse_workflows(as_json)[0]["name"] == "A"


def test_parse_nothing():
    assert parse_workflows("No new workflows.") == []
    assert parse_workflows("") == []


def test_inducer_saves_prompt_and_reply(tmp_path):
    seen = []

    def complete(messages):
        seen.append(messages)
        return Completion(REPLY, cost=0.5)

    existing = [Workflow(id="wf-old", name="Old one", description="d", steps=["a", "b"])]
    induced, reply = Inducer(complete, tmp_path).induce(3, [exp("x-1"), exp("x-2")], existing)
    assert [w["name"] for w in induced] == ["Fix an off-by-one boundary"]
    prompt = (tmp_path / "round_003.prompt.txt").read_text()
    assert "problem of x-1" in prompt and "Old one" in prompt and "$ ls" in prompt
    assert (tmp_path / "round_003.reply.txt").read_text() == REPLY
    assert seen[0][0]["role"] == "system"


def test_prompt_never_carries_gold_fields():
    messages = build_messages([exp("x-1")], [])
    text = json.dumps(messages)
    assert "FAIL_TO_PASS" not in text and "test_patch" not in text


def test_memory_merge_by_name_evicts_oldest_and_keeps_every_round(tmp_path):
    mem = WorkflowMemory(max_workflows=2, path=tmp_path / "memory.json")
    w = lambda name: {"name": name, "description": "d " + name, "steps": ["s1", "s2"]}  # noqa: E731
    mem.add_round(1, [w("Alpha"), w("Beta")], ["i-1", "i-2"])
    assert mem.ids() == ["wf-alpha", "wf-beta"]
    new = mem.add_round(2, [w("alpha"), w("Gamma")], ["i-3", "i-4"])
    # alpha re-induced: same id, newer round, sources merged; beta (round 1) evicted for gamma
    assert mem.ids() == ["wf-alpha", "wf-gamma"]
    assert {x.id for x in new} == {"wf-alpha", "wf-gamma"}
    alpha = mem.workflows[0]
    assert alpha.round == 2 and alpha.source_instances == ["i-1", "i-2", "i-3", "i-4"]
    assert [x.id for x in mem.at_round(1)] == ["wf-alpha", "wf-beta"]
    assert mem.at_round(1)[0].round == 1
    again = WorkflowMemory.load(2, tmp_path / "memory.json")
    assert again.ids() == mem.ids() and again.round == 2 and [x.id for x in again.at_round(1)] == ["wf-alpha", "wf-beta"]
    assert "## Workflow: alpha" in mem.render() and mem.render([]) == ""


def test_buffer_counts_successes_only(tmp_path):
    buf = ExperienceBuffer(trigger=2, path=tmp_path / "buffer.json")
    assert buf.add(exp("a", Status.FAIL)) is False
    assert buf.add(exp("b")) is False
    assert buf.add(exp("c", Status.ERROR)) is False
    assert buf.add(exp("d")) is True
    assert buf.rounds_due() == 1 and [e.instance_id for e in buf.batch(1)] == ["b", "d"]
    assert json.loads((tmp_path / "buffer.json").read_text())["successes"] == 2
