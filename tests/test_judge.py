"""The judge (AWM's autoeval for coding), with a scripted model: its prompt, its verdicts, its failures."""

import pytest

from awm.memory.judge import Judge, parse_verdict
from awm.model.client import Completion
from awm.records import Experience, Issue, Status, Step

PATCH = ("diff --git a/pkg/units.py b/pkg/units.py\n--- a/pkg/units.py\n+++ b/pkg/units.py\n@@ -1 +1 @@\n"
         "-x = 1000\n+x = 1024\n")


def issue():
    return Issue(instance_id="awm-bench__tallyho-3", repo="awm-bench/tallyho", base_commit="abc",
                 problem_statement="One KiB should print as `1.0 KiB`. ISSUE-TEXT", hints_text="HINTS-TEXT",
                 patch="GOLD-PATCH", test_patch="GOLD-TEST-PATCH", FAIL_TO_PASS=["tests/test_units.py::GOLD_F2P"],
                 PASS_TO_PASS=["tests/test_units.py::GOLD_P2P"])


def experience(patch=PATCH):
    history = [Step("terminal", "$ grep -n 1000 pkg/units.py", "find the bound", "3: x = 1000"),
               Step("file_editor", "str_replace /repo/pkg/units.py\n- x = 1000\n+ x = 1024", "fix it", "edited"),
               Step("terminal", "$ python -m pytest -q tests/test_units.py", "run tests", "3 passed in 0.01s")]
    return Experience(instance_id="awm-bench__tallyho-3", problem_statement="One KiB ... ISSUE-TEXT",
                      status=Status.SKIPPED, diff_patch=patch, history=history, test_output="HIDDEN-EVAL-OUTPUT")


class Scripted:
    def __init__(self, text="The patch changes the bound the issue is about.\nVerdict: success", error=None):
        self.text, self.error, self.calls = text, error, []

    def __call__(self, messages):
        self.calls.append(messages)
        if self.error:
            raise self.error
        return Completion(self.text, cost=0.25, prompt_tokens=900, completion_tokens=40)


def test_success_verdict_prompt_and_files(tmp_path):
    model = Scripted()
    verdict = Judge(model, tmp_path).judge(issue(), experience())
    assert verdict == {"verdict": "PASS", "reasoning": "The patch changes the bound the issue is about.",
                       "cost": 0.25, "prompt_tokens": 900, "completion_tokens": 40,
                       "reply_path": "judge/awm-bench__tallyho-3.reply.txt"}
    system, user = model.calls[0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are judging whether a coding agent's patch resolves an issue")
    assert "Instance: awm-bench__tallyho-3" in user["content"]
    assert f"<patch>\n{PATCH.strip()}\n</patch>" in user["content"]
    assert "ISSUE-TEXT" in user["content"] and "str_replace /repo/pkg/units.py" in user["content"]
    assert "3 passed" in user["content"]
    prompt = (tmp_path / "judge" / "awm-bench__tallyho-3.prompt.txt").read_text()
    assert prompt.startswith("=== system ===\nYou are judging") and "<patch>" in prompt
    assert (tmp_path / verdict["reply_path"]).read_text() == model.text


def test_judge_sees_nothing_the_agent_did_not(tmp_path):
    model = Scripted()
    Judge(model, tmp_path).judge(issue(), experience())
    text = repr(model.calls[0])
    for secret in ("GOLD-PATCH", "GOLD-TEST-PATCH", "GOLD_F2P", "GOLD_P2P", "HIDDEN-EVAL-OUTPUT", "HINTS-TEXT"):
        assert secret not in text


def test_failure_verdict(tmp_path):
    verdict = Judge(Scripted("It only silences the error.\n\nVerdict: failure\n"), tmp_path).judge(issue(),
                                                                                                 experience())
    assert verdict["verdict"] == "FAIL" and verdict["reasoning"] == "It only silences the error."


@pytest.mark.parametrize("reply, expected", [
    ("Looks right.\nVerdict: success", "PASS"),
    ("Looks wrong.\nVerdict: Failure.", "FAIL"),
    ("**Verdict:** success", "PASS"),
    ("Thoughts: fine\nStatus: \"success\"", "PASS"),
    ("Verdict: resolved", "PASS"),
    ("Verdict: not resolved", "FAIL"),
    ("Verdict: NOT  RESOLVED", "FAIL"),
    ("Verdict - unresolved", "FAIL"),
    ("Verdict: PASS", "PASS"),
    ("Verdict: FAIL", "FAIL"),
    ("Verdict: `failure`", "FAIL"),
    ("I first thought Verdict: success, but the test still fails.\nVerdict: failure", "FAIL"),
    ("The patch is complete.\n\n**PASS**", "PASS"),
    ("The patch is partial.\nfailure", "FAIL"),
    ("I cannot tell.", ""),
    ("", ""),
    ("The tests passed after the edit, but I am unsure.", ""),
])
def test_parse_verdict_lenient_forms(reply, expected):
    assert parse_verdict(reply) == expected


def test_unparseable_reply_is_an_error_with_its_reason(tmp_path):
    verdict = Judge(Scripted("I cannot tell from this."), tmp_path).judge(issue(), experience())
    assert verdict["verdict"] == "ERROR" and "no `Verdict: success|failure` line" in verdict["reasoning"]
    assert "I cannot tell" in verdict["reasoning"]
    assert verdict["cost"] == 0.25 and verdict["reply_path"]  # the call was made and paid for; its reply is kept


def test_raising_call_is_an_error_not_a_crash(tmp_path):
    verdict = Judge(Scripted(error=RuntimeError("Connection refused")), tmp_path).judge(issue(), experience())
    assert verdict["verdict"] == "ERROR" and "could not be reached" in verdict["reasoning"]
    assert verdict["reply_path"] == "" and verdict["cost"] == 0.0
    assert (tmp_path / "judge" / "awm-bench__tallyho-3.prompt.txt").exists()
    assert not (tmp_path / "judge" / "awm-bench__tallyho-3.reply.txt").exists()


@pytest.mark.parametrize("patch", ["", "  \n"])
def test_empty_patch_fails_without_a_call(tmp_path, patch):
    model = Scripted(error=AssertionError("the judge must not be called"))
    verdict = Judge(model, tmp_path).judge(issue(), experience(patch))
    assert verdict["verdict"] == "FAIL" and "empty patch" in verdict["reasoning"]
    assert model.calls == [] and verdict["cost"] == 0.0 and verdict["reply_path"] == ""
    assert not (tmp_path / "judge").exists()


def test_scrub_hides_secrets_in_files_and_reasoning(tmp_path):
    judge = Judge(Scripted("The key sk-SECRET leaked.\nVerdict: success"), tmp_path)
    judge.scrub = lambda text: text.replace("sk-SECRET", "***")
    exp = experience()
    exp.history[0].observation = "token sk-SECRET"
    verdict = judge.judge(issue(), exp)
    assert "sk-SECRET" not in verdict["reasoning"]
    for path in (tmp_path / "judge").iterdir():
        assert "sk-SECRET" not in path.read_text()


def test_long_trajectory_and_patch_stay_within_budget(tmp_path):
    model = Scripted()
    exp = experience(PATCH + "".join(f"+line {i}\n" for i in range(3000)))
    exp.history = exp.history * 80 + [Step("finish", "LAST-MESSAGE")]
    count = lambda text: len(text) // 4 + 1  # noqa: E731
    Judge(model, tmp_path, budget_tokens=2000, count=count).judge(issue(), exp)
    user = model.calls[0][1]["content"]
    assert count(user) < 2000 + 600  # the trajectory and the patch within budget; the issue and framing apart
    assert "LAST-MESSAGE" in user and "<patch>\ndiff --git" in user
