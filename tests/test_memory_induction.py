"""Induction parsing, workflow memory rules and the experience buffer."""

import json

from awm.memory.buffer import ExperienceBuffer
import pytest

from awm.memory.induction import (INSTRUCTION, Completion, Inducer, build_messages, failure, parse_pitfalls,
                                  parse_workflows)
from awm.records import PITFALL, WORKFLOW, Experience, Status, Step, Workflow

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


def test_buffer_counts_successes_only(tmp_path):
    buf = ExperienceBuffer(trigger=2, path=tmp_path / "buffer.json")
    assert buf.add(exp("a", Status.FAIL)) is False
    assert buf.add(exp("b")) is False
    assert buf.add(exp("c", Status.ERROR)) is False
    assert buf.add(exp("d")) is True
    assert buf.rounds_due() == 1 and [e.instance_id for e in buf.batch(1)] == ["b", "d"]
    assert json.loads((tmp_path / "buffer.json").read_text())["successes"] == 2


# --- condensed trajectories in the prompt -------------------------------------------------------------------

def long_exp(iid="x-9", status=Status.PASS, **extra):
    """A 100-step fix: 90 exploration steps, then the edits and test runs that matter, then the patch."""
    history = [Step(tool="file_editor", action=f"view /repo/pkg/mod{n}.py", thought=f"read module {n}",
                    observation="x = 1\n" * 50) for n in range(1, 91)]
    history += [Step(tool="file_editor", action="str_replace /repo/pkg/units.py\n- if n < 1000:\n+ if n < 1024:",
                     thought="LAST-EDIT", observation="edited"),
                Step(tool="terminal", action="$ cd /repo && python -m pytest -q tests/test_units.py",
                     thought="LAST-TEST-RUN", observation="3 passed in 0.02s")] * 5
    return Experience(instance_id=iid, problem_statement=f"problem of {iid}", status=status,
                      diff_patch="diff --git a/pkg/units.py b/pkg/units.py\n-        if n < 1000:\n+FINAL-PATCH-LINE\n",
                      history=history, test_output="FAIL_TO_PASS GOLD-TEST-OUTPUT", reason="GOLD-REASON", **extra)


def test_induction_prompt_carries_condensed_trajectories_not_gold_fields(tmp_path):
    seen = []

    def complete(messages):
        seen.append(messages)
        return Completion(REPLY)

    count = lambda text: len(text) // 4 + 1  # noqa: E731
    Inducer(complete, tmp_path, budget_tokens=1200, count=count).induce(1, [long_exp("x-9"), exp("x-2")], [])
    system, user = seen[0][0]["content"], seen[0][1]["content"]
    assert system.startswith("You are given a list of software-engineering tasks that a coding agent solved "
                             "successfully")
    assert "### Task 1 (x-9)" in user and "### Task 2 (x-2)" in user
    task1 = user.split("### Task 1 (x-9)")[1].split("### Task 2")[0]
    assert count(task1) <= 1200
    assert "LAST-EDIT" in task1 and "LAST-TEST-RUN" in task1 and "FINAL-PATCH-LINE" in task1
    assert "100. Reasoning: LAST-TEST-RUN" in task1  # the last step, under its own number
    assert "exploration steps omitted" in task1
    for gold in ("FAIL_TO_PASS", "GOLD-TEST-OUTPUT", "GOLD-REASON", "test_patch"):
        assert gold not in user


def test_instruction_keeps_repository_invariants_as_knowledge():
    assert INSTRUCTION.startswith("You are given a list of software-engineering tasks that a coding agent solved "
                                  "successfully in the same\nrepository.")
    flat = " ".join(INSTRUCTION.split())
    assert "test runner and exactly how it is invoked" in flat and "settings module" in flat
    assert "package layout" in flat and "slots in braces only for what changes from one issue to the next" in flat


def test_workflow_prompt_lists_only_active_workflows_and_pitfall_prompt_only_pitfalls():
    entries = [Workflow(id="wf-a", name="Active flow", description="d", steps=["a", "b"]),
               Workflow(id="wf-b", name="Disabled flow", description="d", steps=["a", "b"], disabled=True),
               Workflow(id="pf-c", name="Known trap", description="d", steps=["a"], kind=PITFALL)]
    wf_user = build_messages([exp("x-1")], entries)[1]["content"]
    assert "Active flow" in wf_user and "Disabled flow" not in wf_user and "Known trap" not in wf_user
    from awm.memory.induction import build_pitfall_messages

    pf_user = build_pitfall_messages([exp("x-1", Status.FAIL)], entries)[1]["content"]
    assert "## Pitfall: Known trap" in pf_user and "Active flow" not in pf_user


# --- pitfalls from failures ---------------------------------------------------------------------------------

PITFALL_REPLY = """## Pitfall: Raising the limit instead of fixing the unit
When it bites: a size prints in the wrong unit and the code compares against a decimal bound.
How to avoid it:
1. Check which base the units use before touching the bound — `grep -n "1024\\|1000" {module-path}`

## Pitfall: Nothing to avoid
When it bites: never
How to avoid it:
"""


def test_pitfalls_induced_from_failures(tmp_path):
    seen = []

    def complete(messages):
        seen.append(messages)
        return Completion(PITFALL_REPLY, cost=0.1, prompt_tokens=50, completion_tokens=20)

    judged = long_exp("x-5", Status.SKIPPED, judge={"verdict": "FAIL", "reasoning": "It hides the symptom only."})
    inducer = Inducer(complete, tmp_path)
    existing = [Workflow(id="pf-old", name="Old trap", description="d", steps=["a"], kind=PITFALL)]
    pitfalls, reply = inducer.induce_pitfalls(2, [long_exp("x-4", Status.FAIL), judged], existing)
    assert pitfalls == [{"name": "Raising the limit instead of fixing the unit",
                         "description": "a size prints in the wrong unit and the code compares against a decimal "
                                        "bound.",
                         "steps": ["Check which base the units use before touching the bound — "
                                   "`grep -n \"1024\\|1000\" {module-path}`"]}]
    assert reply.cost == 0.1
    system, user = seen[0][0]["content"], seen[0][1]["content"]
    assert system.startswith("You are given a list of software-engineering tasks that a coding agent failed to solve")
    assert "### Task 1 (x-4)" in user and "### Task 2 (x-5)" in user and "## Pitfall: Old trap" in user
    assert "Reviewer's assessment: It hides the symptom only." in user
    assert "LAST-EDIT" in user and "GOLD-TEST-OUTPUT" not in user and "GOLD-REASON" not in user
    assert (tmp_path / "pitfalls_002.prompt.txt").read_text().startswith("=== system ===\nYou are given")
    assert (tmp_path / "pitfalls_002.reply.txt").read_text() == PITFALL_REPLY
    assert inducer.last_reply_path == tmp_path / "pitfalls_002.reply.txt"
    inducer.induce_pitfalls(2, [long_exp("x-4", Status.FAIL)], [], attempt=2)
    assert (tmp_path / "pitfalls_002.attempt2.reply.txt").exists()
    assert not (tmp_path / "round_002.prompt.txt").exists()  # the workflow round's files are apart


def test_parse_pitfalls_forms():
    assert parse_pitfalls("No new pitfalls.") == []
    loose = "**Pitfall 1: Editing the test**\nWhen it bites: a test fails\n- fix the code, not the test\n"
    assert parse_pitfalls(loose) == [{"name": "Editing the test", "description": "a test fails",
                                      "steps": ["fix the code, not the test"]}]
    as_json = json.dumps([{"name": "P", "when_it_bites": "w", "how_to_avoid": ["x"]}])
    assert parse_pitfalls(as_json) == [{"name": "P", "description": "w", "steps": ["x"]}]
    # a one-step pitfall is fine; a one-step workflow is not
    assert parse_workflows(PITFALL_REPLY) == []


@pytest.mark.parametrize("text, kind, reason", [
    ("No new pitfalls.", PITFALL, ""),
    ("None", PITFALL, ""),
    ("", PITFALL, "the induction reply was empty"),
    ("## Pitfall: X\nWhen it bites: y\n", PITFALL, "1 pitfall heading(s) but none with a name and a numbered step"),
    ("I think the agent was unlucky.", PITFALL, "no pitfall in the expected format (`## Pitfall: <name>`"),
    ("No recurring workflows.", WORKFLOW, ""),
    ("## Workflow: X\n1. only one", WORKFLOW, "1 workflow heading(s) but none with a name and at least two"),
])
def test_failure_reasons(text, kind, reason):
    parsed = parse_pitfalls(text) if kind == PITFALL else parse_workflows(text)
    got = failure(text, parsed, kind)
    assert (got == "") if not reason else reason in got


# --- LLM merge ----------------------------------------------------------------------------------------------

MERGED = """## Workflow: Fix a unit boundary
When to use: a size or unit conversion is off at a boundary value.
Steps:
1. Find the comparison — `grep -n "<" {module-path}`
2. Fix it and run the unit tests — `python -m pytest -q tests/test_units.py`
"""


def test_merge_prompt_parse_and_usage(tmp_path):
    seen = []
    replies = iter([Completion(MERGED, cost=0.5, prompt_tokens=300, completion_tokens=60),
                    Completion("I would rather not.", cost=0.25, prompt_tokens=200, completion_tokens=5)])

    def complete(messages):
        seen.append(messages)
        return next(replies)

    inducer = Inducer(complete, tmp_path)
    old = Workflow(id="wf-fix-boundary", name="Fix boundary", description="off by one", steps=["find <", "fix it"],
                   source_instances=["i-1", "i-2"], version=2)
    new = {"name": "Fix unit boundary", "description": "unit off at edge", "steps": ["grep <", "run tests"]}
    merged = inducer.merge(old, new)
    assert merged == {"name": "Fix a unit boundary", "description": "a size or unit conversion is off at a boundary "
                                                                    "value.",
                      "steps": ["Find the comparison — `grep -n \"<\" {module-path}`",
                                "Fix it and run the unit tests — `python -m pytest -q tests/test_units.py`"]}
    system, user = seen[0][0]["content"], seen[0][1]["content"]
    assert system.startswith("You are merging two versions of a workflow")
    assert "## Workflow: Fix boundary\nWhen to use: off by one" in user
    assert "## Workflow: Fix unit boundary\nWhen to use: unit off at edge" in user
    assert (tmp_path / "merge_wf-fix-boundary_v3.prompt.txt").exists()
    assert (tmp_path / "merge_wf-fix-boundary_v3.reply.txt").read_text() == MERGED
    assert inducer.merge_usage == {"cost": 0.5, "prompt_tokens": 300, "completion_tokens": 60, "calls": 1}
    with pytest.raises(ValueError, match="no usable item"):
        inducer.merge(old, new)
    # an unusable reply was still paid for
    assert inducer.merge_usage == {"cost": 0.75, "prompt_tokens": 500, "completion_tokens": 65, "calls": 2}


def test_merge_of_a_pitfall_reads_a_pitfall(tmp_path):
    reply = "## Pitfall: Merged trap\nWhen it bites: always\nHow to avoid it:\n1. look first — `ls`\n"
    seen = []

    def complete(messages):
        seen.append(messages)
        return Completion(reply)

    old = Workflow(id="pf-trap", name="Trap", description="w", steps=["a"], kind=PITFALL)
    merged = Inducer(complete, tmp_path).merge(old, {"name": "Trap 2", "description": "w2", "steps": ["b"]})
    assert merged == {"name": "Merged trap", "description": "always", "steps": ["look first — `ls`"]}
    assert "## Pitfall: Trap\nWhen it bites: w" in seen[0][1]["content"]
    assert "## Pitfall: Trap 2" in seen[0][1]["content"]


def test_merge_propagates_a_failing_call(tmp_path):
    def complete(messages):
        raise RuntimeError("model down")

    inducer = Inducer(complete, tmp_path)
    with pytest.raises(RuntimeError):
        inducer.merge(Workflow(id="wf-a", name="A", description="d", steps=["a", "b"]), {"name": "A", "steps": []})
    assert inducer.merge_usage["calls"] == 0
