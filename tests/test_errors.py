"""One issue's failure is that issue's ERROR; a run of same-cause errors stops the run, resumably."""

import dataclasses
import json

import pytest

from awm.run import events as ev
from awm.grading.local import LocalEvaluator
from awm.paths import repo_cache_root
from awm.run.launch import prepare_engine
from awm.spec import load_spec
from awm.records import Status
from awm.repos import RepoCache
from conftest import ROOT

pytestmark = pytest.mark.slow  # whole demo runs with the real agent

DEMO = ROOT / "specs" / "demo.yaml"


def demo_spec(out, limit):
    spec = load_spec(DEMO, {"output_dir": str(out), "dataset.limit": limit})
    return dataclasses.replace(spec, llm=dataclasses.replace(spec.llm, num_retries=0))


def test_dead_model_stops_the_run_after_three_same_errors_and_resume_redoes_them(awm_home, tmp_path):
    out = tmp_path / "run"
    spec = demo_spec(out, 6)
    events = []

    def kill_server_after_two(event):
        events.append(event)
        if isinstance(event, ev.IssueFinished) and event.index == 2:
            engine.parts.on_close[0]()  # the scripted model server's stop

    engine = prepare_engine(spec, [kill_server_after_two], output_dir=str(out))
    finished = engine.run()
    assert finished.outcome == "aborted" and "--resume" in finished.message
    # Whichever sees the dead model's streak first stops the run: three errors in a row, or induction round 1 (due
    # after issue 2) failing three times, once after each issue; either way the errors are forgotten, to be redone.
    assert "3 consecutive errors" in finished.message or "3 failed attempts in a row at induction round 1" in (
        finished.message)
    errors = [e for e in events if isinstance(e, ev.IssueFinished) and e.status == Status.ERROR]
    assert len(errors) >= 2 and all(e.reason.startswith("agent:") for e in errors)
    journal = [json.loads(x) for x in (out / "experiences.jsonl").read_text().splitlines()]
    assert [e["status"] for e in journal] == ["PASS", "PASS"]  # the streak is forgotten, to be redone
    assert json.loads((out / "checkpoint.json").read_text())["status"] == "aborted"

    resumed = prepare_engine(spec, [], resume=str(out)).run()
    assert resumed.outcome == "completed"
    assert resumed.stats.processed == 6 and resumed.stats.errors == 0


class CrashingEvaluator(LocalEvaluator):
    def evaluate(self, issue, patch, out_dir):
        if issue.instance_id.endswith("-2"):
            raise RuntimeError("evaluator exploded")
        return super().evaluate(issue, patch, out_dir)


def test_an_evaluator_crash_is_that_issues_error_and_the_loop_goes_on(awm_home, tmp_path):
    out = tmp_path / "run"
    spec = demo_spec(out, 3)
    cache = RepoCache(repo_cache_root(), spec.repos)
    evaluator = CrashingEvaluator(cache, tmp_path / "work", 300)
    (tmp_path / "work").mkdir()
    engine = prepare_engine(spec, [], output_dir=str(out))
    engine.parts.evaluator = evaluator
    finished = engine.run()
    assert finished.outcome == "completed"
    exps = json.loads((out / "result.json").read_text())["experiences"]
    assert [e["status"] for e in exps] == ["PASS", "ERROR", "PASS"]  # the learner's naive fixes of 1 and 3 work
    assert "evaluator exploded" in exps[1]["reason"]
    assert finished.stats.errors == 1 and finished.stats.passed == 2


def test_an_exception_in_brief_is_its_type_and_first_line_or_all_its_text_on_one_line():
    from awm.errors import brief

    exc = ValueError("the first line\n  the second line\n")
    assert brief(exc) == "ValueError: the first line"
    assert brief(exc, first_line=False) == "ValueError: the first line the second line"
    assert brief(RuntimeError()) == "RuntimeError" and brief(RuntimeError("  ")) == "RuntimeError"
    assert brief(OSError("x" * 500), limit=200) == ("OSError: " + "x" * 500)[:200]
