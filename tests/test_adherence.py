"""Adherence (awm.memory.adherence): the lexical score of hand-made trajectories against hand-made entries, each
worked out by hand below; the record's round trip with and without scores; compare's followed / not followed figure
on synthetic run folders; and the engine storing scores when an issue finishes, over the stub parts of
support.stubs. In-process, milliseconds."""

from __future__ import annotations

import json
import math

import pytest

from awm.agent.runner import AgentResult, AgentStatus
from awm.experiment.compare import compare, load_arm
from awm.experiment.report import _adherence_section, to_markdown
from awm.memory import adherence
from awm.memory.induction import Inducer
from awm.model.client import Completion
from awm.records import Experience, Issue, Status, Step, Workflow
from awm.run.loop import Engine
from awm.run.parts import Parts
from awm.run.store import RunState
from compare_fixtures import write_run
from support.stubs import StubAgent, make_run

# The instructed shape of a workflow's steps: "<reasoning> — `<action with {slots}>`". Compared words, the code's
# without its plumbing (python): 1. grep, rn, def, src, calc   2. reproduce (the prose's: the code has no word left)
# 3. str, replace   4. pytest, tests
ENTRY = Workflow(id="wf-fix-a-bound", name="Fix a bound", description="a result is wrong at the edge", steps=[
    'Find the function — `grep -rn "def {function}" src/calc`',
    "Reproduce it — `python {repro-script}`",
    "Fix the comparison — `str_replace {file}`",
    "Run the module's tests — `python -m pytest -q tests/{test-module}`",
])
GREP = Step("terminal", "$ grep -rn 'def edge' src/calc")  # step 1 (its five words)
REPRO = Step("terminal", "$ python repro.py")  # step 2 (repro begins reproduce)
# step 3; of step 1's words, 2 of 5 (src, calc)
EDIT = Step("file_editor", "str_replace src/calc/edge.py\n- return value < n\n+ return value <= n")
TESTS = Step("terminal", "$ python -m pytest -q tests/test_edge.py")  # step 4 (2 of 2)


def test_the_compared_words_are_the_steps_code_with_slots_and_stopwords_left_out():
    assert [adherence.step_words(s) for s in ENTRY.steps] == [
        ["grep", "rn", "def", "src", "calc"], ["reproduce"], ["str", "replace"], ["pytest", "tests"]]
    # a step without code: all its words, stopwords, single letters and plumbing out
    assert adherence.step_words("Run the tests of {module} with -q in python") == ["run", "tests"]
    # code of symbols only: the prose's words; slots only, and no prose: nothing to compare
    assert adherence.step_words("Change `<` to `<=`") == ["change"]
    assert adherence.step_words("`{command}`") == []


def test_every_step_done_in_order_scores_1():
    assert adherence.align(ENTRY.steps, [GREP, REPRO, EDIT, TESTS]) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert adherence.score(ENTRY.steps, [GREP, REPRO, EDIT, TESTS]) == 1.0
    # unrelated actions between the steps change nothing
    noise = Step("terminal", "$ ls")
    assert adherence.score(ENTRY.steps, [noise, GREP, noise, REPRO, EDIT, noise, TESTS, noise]) == 1.0


def test_steps_done_in_reverse_order_count_only_as_far_as_the_order_allows():
    # actions TESTS, EDIT, REPRO, GREP: each step matches only its own action, now in reverse order, so the longest
    # in-order pairing is one pair (the walk keeps step 4 -> TESTS): 1 of 4.
    assert adherence.align(ENTRY.steps, [TESTS, EDIT, REPRO, GREP]) == [(3, 0)]
    assert adherence.score(ENTRY.steps, [TESTS, EDIT, REPRO, GREP]) == 0.25
    # two swapped, two in place: grep, edit, reproduce, tests pairs 3 of 4
    assert adherence.score(ENTRY.steps, [GREP, EDIT, REPRO, TESTS]) == 0.75
    # three steps with nothing in common, done backwards: one of three
    steps = ["`grep {x}`", "`sed -n {range} {file}`", "`git diff`"]
    backwards = [Step("terminal", "$ git diff"), Step("terminal", "$ sed -n 1,9p a.py"), Step("terminal", "$ grep x")]
    assert adherence.score(steps, backwards) == pytest.approx(1 / 3)


def test_none_of_the_steps_done_scores_0():
    assert adherence.score(ENTRY.steps, [Step("terminal", "$ ls"), Step("terminal", "$ cat README.md")]) == 0.0
    assert adherence.score(ENTRY.steps, []) == 0.0
    # half a step's words is a match, less is not: step 1 has 5 words, EDIT holds 2 of them (src, calc)
    assert adherence.score([ENTRY.steps[0]], [EDIT]) == 0.0
    step = "`git diff src/calc`"  # git, diff, src, calc
    assert [adherence.score([step], [Step("terminal", f"$ {c}")]) for c in ("git status src/calc", "ls src/calc",
                                                                           "ls src")] == [1.0, 1.0, 0.0]
    # `python -m pytest` is not half done by any python script, and `pytest` alone does it
    assert adherence.score(["`python -m pytest -q {test}`"], [Step("terminal", "$ python -c 'print(1)'")]) == 0.0
    assert adherence.score(["`python -m pytest -q {test}`"], [Step("terminal", "$ pytest tests/")]) == 1.0


def test_slots_match_whatever_the_issue_put_there():
    steps = ["Read the loop — `sed -n '{start},{end}p' {file_path}`", "Run the test — `pytest {failing-test}`"]
    actions = [Step("terminal", "$ sed -n '1,40p' src/calc/parse.py"),
               Step("terminal", "$ pytest tests/test_parse.py::test_quoted")]
    assert [adherence.step_words(s) for s in steps] == [["sed"], ["pytest"]]
    assert adherence.score(steps, actions) == 1.0
    # a step of slots only is not scored: 1 scored step, done
    assert adherence.score(["`{command}`", "`pytest {test}`"], actions[1:]) == 1.0
    # no step with a word: no score, and the entry is left out of the issue's scores
    assert adherence.score(["`{command}`"], actions) is None
    empty = Workflow(id="wf-empty", name="Empty", description="", steps=["`{command}`"])
    assert adherence.scores([ENTRY, empty], [GREP]) == {"wf-fix-a-bound": 0.25}


def test_steps_in_words_meet_the_tools_actions_and_words_share_stems():
    steps = ["Open the file", "Edit the function", "Run the tests"]  # open, file | edit, function | run, tests
    actions = [Step("file_editor", "view src/calc/edge.py"),  # view: open, read... (1 of 2: a match)
               Step("file_editor", "str_replace src/calc/edge.py\n- a\n+ b"),  # edit (1 of 2)
               Step("terminal", "$ python -m pytest -q")]  # run, and a test runner: test, tests (2 of 2)
    assert adherence.score(steps, actions) == 1.0
    assert adherence.score(steps, list(reversed(actions))) == pytest.approx(1 / 3)
    # reproduce ~ reproduction (first 6 letters), test ~ testing (a 3+ letter start), but not str ~ sort
    assert adherence.score(["Reproduce the failure"], [Step("terminal", "$ python reproduction.py")]) == 1.0
    assert adherence.same_word("test", "testing") and adherence.same_word("normalise", "normalize")
    assert not adherence.same_word("str", "sort") and not adherence.same_word("py", "pytest")


def test_measure_is_off_when_asked_and_never_raises():
    assert adherence.measure("lexical", [ENTRY], [GREP, REPRO]) == {"wf-fix-a-bound": 0.5}
    assert adherence.measure("off", [ENTRY], [GREP, REPRO]) == {}
    assert adherence.measure("lexical", [], [GREP]) == {}
    broken = Workflow(id="wf-broken", name="Broken", description="", steps=None)  # type: ignore[arg-type]
    assert adherence.measure("lexical", [broken], [GREP]) == {}


def test_the_record_round_trips_with_and_without_scores():
    exp = Experience(instance_id="a-1", problem_statement="", status=Status.PASS, workflow_ids=["wf-x"],
                     adherence={"wf-x": 0.75})
    again = Experience.from_dict(json.loads(json.dumps(exp.to_dict())))
    assert again.adherence == {"wf-x": 0.75} and again == exp
    old = exp.to_dict()
    del old["adherence"]  # a journal line from before scores were kept
    assert Experience.from_dict(old).adherence == {}
    assert adherence.followed({}) is None and adherence.followed({"a": 0.4, "b": 0.5}) is True
    assert adherence.followed({"a": 0.49}) is False


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out (what statsmodels computes)."""
    p = k / n
    centre, margin = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n), (centre + margin) / (1 + z * z / n)


def test_compare_reports_resolved_when_followed_vs_not_per_arm(tmp_path):
    ids = [f"a-{k}" for k in range(1, 9)]
    base = write_run(tmp_path / "base", dict.fromkeys(ids, "FAIL"))
    # memory arm: (status, entries given, adherence)
    issues = {
        "a-1": ("PASS", ["wf-a", "wf-b"], {"wf-a": 0.25, "wf-b": 0.75}),  # best 0.75: followed, resolved
        "a-2": ("FAIL", ["wf-a"], {"wf-a": 0.25}),  # not followed
        "a-3": ("PASS", ["wf-a"], {"wf-a": 1.0}),  # followed, resolved
        "a-4": ("FAIL", ["wf-b"], {"wf-b": 0.5}),  # followed (0.5 is the threshold), unresolved
        "a-5": ("PASS", ["wf-b"], {"wf-b": 0.0}),  # not followed, resolved
        "a-6": ("PASS", [], {}),  # given nothing: not counted
        "a-7": ("FAIL", ["wf-a"], {}),  # given, unscored (adherence off / an old journal)
        "a-8": ("ERROR", ["wf-a"], {"wf-a": 0.6}),  # followed, unresolved
    }
    memory = write_run(tmp_path / "memory", {i: s for i, (s, _, _) in issues.items()},
                       workflows={i: w for i, (_, w, _) in issues.items()},
                       fields={i: {"adherence": a} for i, (_, _, a) in issues.items()})
    comparison = compare([load_arm("off", base), load_arm("on", memory)], bootstrap=200)
    off, on = comparison.adherence
    assert off["arm"] == "off" and off["given"] == 0 and off["followed"]["issues"] == 0
    assert on["threshold"] == 0.5 and on["given"] == 7 and on["unscored"] == 1
    assert on["mean_score"] == pytest.approx((0.75 + 0.25 + 1.0 + 0.5 + 0.0 + 0.6) / 6)
    assert (on["followed"]["issues"], on["followed"]["resolved"]) == (4, 2)
    assert (on["not_followed"]["issues"], on["not_followed"]["resolved"]) == (2, 1)
    assert on["followed"]["rate"] == 0.5 and on["not_followed"]["rate"] == 0.5
    assert on["followed"]["ci"] == pytest.approx(wilson(2, 4))
    assert on["not_followed"]["ci"] == pytest.approx(wilson(1, 2))
    data = comparison.to_dict()["adherence"]
    assert data[1]["followed"] == {"issues": 4, "resolved": 2, "rate": 0.5, "ci": pytest.approx(list(wilson(2, 4)))}
    assert math.isnan(off["followed"]["rate"]) and data[0]["followed"]["rate"] is None  # nan is null in JSON

    text = to_markdown(_adherence_section(comparison))
    assert "## Adherence: resolved when an entry was followed" in text
    assert "at least 0.5" in text and "not proof of use" in text
    row = next(line for line in text.splitlines() if line.startswith("| on "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["on", "7", "1", "0.52", "2/4"] and cells[7] == "1/2"
    assert not any(line.startswith("| off ") for line in text.splitlines())  # no memory given: no row


class FollowingAgent(StubAgent):
    """The stub agent, with a trajectory: a grep for a range, then the tests (support.stubs' workflow, in order)."""

    def run(self, issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        result: AgentResult = super().run(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel)
        if result.status == AgentStatus.FINISHED:
            n = int(issue.instance_id.rsplit("-", 1)[1])
            result.history = [Step("terminal", '$ grep -n "range(" app/core.py')] * (n != 4) + [
                Step("terminal", "$ pytest tests/test_core.py")]
        return result


def test_the_engine_stores_each_given_entrys_score_when_the_issue_finishes(tmp_path):
    # support.stubs' workflow: 1. `grep -n "range(" {file}` (grep, range), 2. `pytest {test}` (pytest); induced after
    # issues 1-2, given to 3 and 4. Issue 3 greps then tests: 1.0; issue 4 only tests: 0.5.
    run = make_run(tmp_path, 4)
    run.agent = FollowingAgent()
    run.engine().run()
    journal = run.journal()
    assert [e["workflow_ids"] for e in journal] == [[], [], ["wf-fix-an-off-by-one"], ["wf-fix-an-off-by-one"]]
    assert [e["adherence"] for e in journal] == [{}, {}, {"wf-fix-an-off-by-one": 1.0}, {"wf-fix-an-off-by-one": 0.5}]


def test_the_engine_stores_no_score_with_adherence_off(tmp_path):
    run = make_run(tmp_path, 3)
    run.agent = FollowingAgent()
    run.spec.memory.adherence = "off"
    run.engine().run()
    assert [e["adherence"] for e in run.journal()] == [{}, {}, {}]
    assert run.journal()[2]["workflow_ids"] == ["wf-fix-an-off-by-one"]


# ---- the judge (memory.adherence: judge)

class Scripted:
    """A model that answers every call with `text` (or raises `error`), as the judge's tests script one."""

    def __init__(self, text="", error=None):
        self.text, self.error, self.calls = text, error, []

    def __call__(self, messages):
        self.calls.append(messages)
        if self.error:
            raise self.error
        return Completion(self.text, cost=0.05, prompt_tokens=700, completion_tokens=20)


PITFALL = Workflow(id="pf-skip-the-tests", name="Skipping the tests", description="a fix is submitted untested",
                   steps=["Run the module's tests before finishing — `pytest -q {test}`"], kind="pitfall")


def judged_issue() -> tuple[Issue, Experience]:
    issue = Issue(instance_id="acme__calc-3", repo="acme/calc", base_commit="abc",
                  problem_statement="edge(3) is wrong. ISSUE-TEXT", patch="GOLD-PATCH", test_patch="GOLD-TESTS",
                  FAIL_TO_PASS=["tests/test_edge.py::GOLD_F2P"])
    exp = Experience(instance_id=issue.instance_id, problem_statement=issue.problem_statement, status=Status.PASS,
                     diff_patch="diff --git a/src/calc/edge.py b/src/calc/edge.py\n", history=[GREP, EDIT, TESTS],
                     test_output="HIDDEN-EVAL-OUTPUT")
    return issue, exp


@pytest.mark.parametrize("reply, expected", [
    ("wf-fix-a-bound: 0.75\npf-skip-the-tests: 1", {"wf-fix-a-bound": 0.75, "pf-skip-the-tests": 1.0}),
    ("Reasoning first.\n- **wf-fix-a-bound**: 0.5\n`pf-skip-the-tests` = .25", {"wf-fix-a-bound": 0.5,
                                                                               "pf-skip-the-tests": 0.25}),
    ("wf-fix-a-bound: 50%", {"wf-fix-a-bound": 0.5}),  # a percentage
    ("wf-fix-a-bound: 0.2\nwf-fix-a-bound: 0.4", {"wf-fix-a-bound": 0.4}),  # the last line of an id
    ("wf-fix-a-bound: 3\nwf-other: 0.5", {}),  # out of range; an id not given
    ("I think the agent mostly followed it.", {}),
])
def test_the_judges_reply_is_read_for_a_score_per_entry(reply, expected):
    assert adherence.parse_scores(reply, ["wf-fix-a-bound", "pf-skip-the-tests"]) == expected


def test_the_judge_sees_the_entries_and_the_trajectory_not_the_hidden_tests(tmp_path):
    model = Scripted("wf-fix-a-bound: 0.75\npf-skip-the-tests: 1.0")
    issue, exp = judged_issue()
    judge = adherence.AdherenceJudge(model, tmp_path, budget_tokens=3000)
    scores, call = judge.score(issue, exp, [ENTRY, PITFALL])
    assert scores == {"wf-fix-a-bound": 0.75, "pf-skip-the-tests": 1.0}
    assert call == {"cost": 0.05, "prompt_tokens": 700, "completion_tokens": 20,
                    "reply_path": "adherence/acme__calc-3.reply.txt", "error": ""}
    system, user = model.calls[0]
    assert system["content"].startswith("You are rating how closely a coding agent followed the memory entries")
    text = user["content"]
    assert "Entry id: wf-fix-a-bound\n## Workflow: Fix a bound" in text
    assert "Entry id: pf-skip-the-tests\n## Pitfall: Skipping the tests" in text
    assert "$ grep -rn 'def edge' src/calc" in text and "ISSUE-TEXT" in text
    assert not any(secret in text for secret in ("GOLD-PATCH", "GOLD-TESTS", "GOLD_F2P", "HIDDEN-EVAL-OUTPUT"))
    assert (tmp_path / "adherence" / "acme__calc-3.prompt.txt").read_text().startswith("=== system ===")
    assert (tmp_path / "adherence" / "acme__calc-3.reply.txt").read_text() == model.text


def test_a_judge_that_fails_leaves_no_score_and_says_why(tmp_path):
    issue, exp = judged_issue()
    scores, call = adherence.AdherenceJudge(Scripted(error=ConnectionError("model down")), tmp_path).score(
        issue, exp, [ENTRY])
    assert scores == {} and call["cost"] == 0.0 and call["reply_path"] == ""
    assert call["error"].startswith("the adherence judge's model call failed: ") and "model down" in call["error"]
    scores, call = adherence.AdherenceJudge(Scripted("I like turtles."), tmp_path).score(issue, exp, [ENTRY])
    assert scores == {} and call["cost"] == 0.05
    assert call["error"] == ("the adherence judge's reply had no `<entry id>: <score>` line for the entries given: "
                             "'I like turtles.'")
    # a judge whose own code breaks: the record says so, the caller is never raised at
    broken = adherence.AdherenceJudge(Scripted("wf-fix-a-bound: 1"), tmp_path)
    broken.score = None  # type: ignore[assignment]
    adherence.record(exp, issue, [ENTRY], "judge", broken)
    assert exp.adherence == {} and exp.adherence_judge["error"].startswith("TypeError")


def judged_run(tmp_path, model: Scripted):
    """support.stubs' run over its stub parts, with the adherence judge answering from `model`."""
    run = make_run(tmp_path, 4)
    run.agent = FollowingAgent()
    run.spec.memory.adherence = "judge"
    parts = Parts(run.spec, run.issues, run.workspace, run.agent, run.evaluator,
                  Inducer(run.complete, run.store.induction),
                  adherence=adherence.AdherenceJudge(model, run.store.dir))
    engine = Engine(parts, run.store, [run.events.append])
    return run, engine


def test_the_engine_stores_the_judges_scores_and_counts_its_cost(tmp_path):
    model = Scripted("wf-fix-an-off-by-one: 0.9")
    run, engine = judged_run(tmp_path, model)
    result = engine.run()
    journal = run.journal()
    assert len(model.calls) == 2  # issues 3 and 4, the ones given an entry
    assert [e["adherence"] for e in journal] == [{}, {}, {"wf-fix-an-off-by-one": 0.9}, {"wf-fix-an-off-by-one": 0.9}]
    assert journal[2]["adherence_judge"]["reply_path"] == "adherence/acme__app-3.reply.txt"
    # memory's own cost: 2 induction rounds at 0.25, 2 adherence calls at 0.05
    assert result.stats.induction_cost == pytest.approx(2 * 0.25 + 2 * 0.05)


def test_a_failing_adherence_judge_never_fails_the_issue(tmp_path):
    run, engine = judged_run(tmp_path, Scripted(error=ConnectionError("model down")))
    result = engine.run()
    assert result.outcome == RunState.COMPLETED
    journal = run.journal()
    assert [e["status"] for e in journal] == ["PASS"] * 4 and [e["adherence"] for e in journal] == [{}] * 4
    faults = [json.loads(line) for line in (run.store.dir / "memory_faults.jsonl").read_text().splitlines()]
    assert [(f["kind"], f["instance_id"]) for f in faults] == [("adherence", "acme__app-3"),
                                                               ("adherence", "acme__app-4")]
    assert "model down" in faults[0]["reason"]


def test_the_judge_against_the_scripted_model_server(tmp_path):
    """Through the model client to the demo's scripted server: the learner's entry rated 1, a distractor 0; a
    transient 500 retried by the client; garbage left unscored with the reply kept."""
    from awm.demo.scripted import LEARNER, WORKFLOW_NAMES, ScriptedServer
    from awm.model.client import completer
    from awm.spec import LLMSpec

    own = Workflow(id="wf-own", name=WORKFLOW_NAMES["off-by-one boundary"], description="", steps=["`grep x`"])
    other = Workflow(id="wf-other", name=WORKFLOW_NAMES["comparison ordering"], description="", steps=["`sort`"])
    issue, exp = judged_issue()
    issue.instance_id = exp.instance_id = "awm-bench__tallyho-3"  # an off-by-one boundary instance, not distractible
    with ScriptedServer(mode=LEARNER) as server:
        judge = adherence.AdherenceJudge(completer(LLMSpec(model="openai/x", base_url=server.base_url,
                                                           num_retries=1)), tmp_path)
        assert judge.score(issue, exp, [other, own])[0] == {"wf-other": 0.0, "wf-own": 1.0}
        server.faults = {"adherence": ["http500", "garbage"]}
        scores, call = judge.score(issue, exp, [other, own])
        assert [r.get("fault") for r in server.requests[-2:]] == ["http500", "garbage"]  # asked again after the 500
        assert scores == {} and "no `<entry id>: <score>` line" in call["error"]
        assert (tmp_path / call["reply_path"]).read_text().startswith("I like turtles.")


def test_a_wilson_interval_holds_its_rate_at_0_and_100_percent():
    """Found with adherence's groups (a group that resolved everything): statsmodels' upper bound at 10/10 is
    0.9999999999999999, below the rate, which made compare's rates figure fail (a negative error bar)."""
    from awm.experiment.stats import wilson

    assert wilson(10, 10)[1] == 1.0 and wilson(0, 10)[0] == 0.0
    assert wilson(10, 10)[0] == pytest.approx(0.7224672) and wilson(0, 10)[1] == pytest.approx(1 - 0.7224672)
