"""Faults that must not pass for a weak model or a quiet success, over the engine's stub parts (support.stubs):
a model that never calls the tools stops the run; a failing induction is recorded, retried and stops the run;
known secrets never reach the run folder; the files whose size grows with the run are not rewritten per issue."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from support.stubs import WORKFLOW_REPLY, make_run

from awm.agent.runner import AgentResult, AgentStatus
from awm.model.client import Completion
from awm.records import Status, Step
from awm.run import events as ev
from awm.run.store import RunState
from awm_tui.commands.headless import HeadlessPrinter, summary


# item 4: a broken model setup is not a weak model
def test_issues_ending_with_no_tool_call_stop_the_run_and_are_redone_on_resume(tmp_path):
    run = make_run(tmp_path, 6, script={2: "text", 3: "text", 4: "text"})
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED
    assert "3 issues in a row" in result.message and "broken model setup" in result.message
    assert "text and no tool call" in result.message and "tool (function) calling" in result.message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1"]  # the streak is forgotten
    assert run.checkpoint()["status"] == "aborted"
    preds = (run.store.dir / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(x)["instance_id"] for x in preds] == ["acme__app-1"]
    run.agent.script = {}
    resumed = run.engine().run()
    assert resumed.outcome == RunState.COMPLETED and resumed.stats.processed == 6 and resumed.stats.passed == 6


def test_stuck_on_malformed_tool_calls_counts_as_a_protocol_streak(tmp_path):
    run = make_run(tmp_path, 4, script={1: "stuck", 2: "stuck", 3: "stuck"})
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and "malformed or named an unknown tool" in result.message
    assert run.journal() == []


def test_the_runners_protocol_verdict_is_used_and_named_in_the_reason(tmp_path):
    run = make_run(tmp_path, 3)

    def agent_run(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        result = AgentResult(status=AgentStatus.STUCK, steps=2)  # some valid calls, then only broken ones
        result.protocol = "bad_tool_call"  # the field the runner is to add
        result.protocol_detail = "Tool 'bash' not found. Available: ['terminal']"
        return result

    run.agent.run = agent_run
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and "Tool 'bash' not found" in result.message


def test_a_weak_model_or_mixed_causes_never_stop_the_run(tmp_path):
    run = make_run(tmp_path, 7, script={1: "weak", 2: "weak", 3: "weak", 4: "text", 5: "stuck", 6: "text"})
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED
    reasons = [e["reason"] for e in run.journal()]
    assert reasons[0] == "the agent produced no patch"  # tools used: a weak model's FAIL, no protocol cause
    assert "text and no tool call" in reasons[3] and "malformed" in reasons[4]


# item 5: a failing induction is visible
def test_a_failing_induction_is_recorded_retried_and_stops_the_run(tmp_path):
    run = make_run(tmp_path, 8)
    bad = lambda messages: Completion("I think these fixes are all different.", cost=0.1,  # noqa: E731
                                      prompt_tokens=10, completion_tokens=5)
    engine = run.engine()
    engine.parts.inducer.complete = bad
    result = engine.run()
    assert result.outcome == RunState.ABORTED
    assert "3 failed attempts in a row at induction round 1" in result.message
    assert "no workflow in the expected format" in result.message
    assert str(run.store.induction / "round_001.attempt3.reply.txt") in result.message
    assert result.stats.induction_failures == 3 and result.stats.induction_rounds == 0
    assert result.stats.induction_cost == 0.3  # failed attempts cost money too
    memory = json.loads(run.store.memory_path.read_text())
    assert [(f["round"], f["attempt"], f["reply_path"]) for f in memory["failed_rounds"]] == [
        (1, 1, "induction/round_001.reply.txt"), (1, 2, "induction/round_001.attempt2.reply.txt"),
        (1, 3, "induction/round_001.attempt3.reply.txt")]
    assert all((run.store.dir / f["reply_path"]).read_text().startswith("I think") for f in memory["failed_rounds"])
    assert len(run.journal()) == 4  # induction due after 2; retried after issues 3 and 4
    assert run.checkpoint()["status"] == "aborted" and run.checkpoint()["stats"]["induction_failures"] == 3
    assert "(3 failed induction attempts)" in summary(result.stats)
    failed = [e for e in run.events if isinstance(e, ev.InductionFinished)]
    assert all(e.error.startswith(f"attempt {i}") and e.reply_path for i, e in enumerate(failed, 1))

    resumed = run.engine().run()  # the model fixed: the round is tried again first
    assert resumed.outcome == RunState.COMPLETED and resumed.stats.induction_rounds >= 1
    assert resumed.stats.induction_failures == 3
    assert (run.store.induction / "round_001.attempt4.reply.txt").read_text() == WORKFLOW_REPLY
    assert "Fix an off-by-one" in run.agent.prompts["acme__app-5"]


def test_an_induction_exception_is_a_failed_attempt_without_a_reply(tmp_path):
    run = make_run(tmp_path, 4, fail_induction=1)
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED and result.stats.induction_failures == 1
    failures = json.loads(run.store.memory_path.read_text())["failed_rounds"]
    assert len(failures) == 1 and "model down" in failures[0]["reason"] and failures[0]["reply_path"] is None


def test_a_reply_saying_nothing_recurs_is_a_round_not_a_failure(tmp_path):
    run = make_run(tmp_path, 2)
    engine = run.engine()
    engine.parts.inducer.complete = lambda messages: Completion("None.")
    result = engine.run()
    assert result.stats.induction_rounds == 1 and result.stats.induction_failures == 0


def test_a_last_round_that_failed_is_said_in_the_completed_message(tmp_path):
    run = make_run(tmp_path, 2)
    engine = run.engine()
    engine.parts.inducer.complete = lambda messages: Completion("")
    result = engine.run()
    assert result.outcome == RunState.COMPLETED and "induction round 1 failed (the induction reply was empty" in \
        result.message


def test_the_summary_line_shows_failed_induction_attempts(tmp_path):
    lines = []

    class Out:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    run = make_run(tmp_path, 4)
    engine = run.engine()
    engine.parts.inducer.complete = lambda messages: Completion("no idea")
    engine.subscribers.append(HeadlessPrinter(Out()))
    engine.run()
    text = "".join(lines)
    assert "induction round 1: attempt 1 failed" in text and "round_001.reply.txt" in text
    assert "(3 failed induction attempts)" in text and "awm-tui: aborted" in text


# item 3: known secrets never reach the run folder
KEY = "sk-test-SECRET-0123456789abcdef"


def test_the_models_key_never_reaches_a_file_of_the_run_folder(tmp_path):
    run = make_run(tmp_path, 4, verdicts={3: "FAIL"})
    run.spec = dataclasses.replace(run.spec, llm=dataclasses.replace(run.spec.llm, api_key=KEY))

    def agent_run(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        on_event("action", "terminal", f"$ echo {KEY}")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"$ env\nOPENAI_API_KEY={KEY}\n")
        trajectory_path.write_text(json.dumps([{"observation": f"key={KEY}\n\"{KEY}\""}]))
        return AgentResult(patch=f"diff --git a/k b/k\n+API_KEY = '{KEY}'\n", status=AgentStatus.FINISHED, steps=1,
                           history=[Step(tool="terminal", action=f"$ echo {KEY}", observation=KEY, thought=KEY)])

    def evaluate(issue, patch, out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "patch.diff").write_text(patch)
        (out_dir / "test_output.txt").write_text(f"leaked {KEY}")
        return run.evaluator.__class__.evaluate(run.evaluator, issue, patch, out_dir)

    run.agent.run = agent_run
    engine = run.engine()
    engine.parts.evaluator.evaluate = evaluate
    engine.parts.inducer.complete = lambda messages: Completion(WORKFLOW_REPLY + f"\n(seen {KEY})\n")
    controls_seen = []
    engine.subscribers.append(lambda e: controls_seen.append(e.text) if isinstance(e, ev.AgentEvent) else None)
    result = engine.run()
    assert result.outcome == RunState.COMPLETED and result.stats.induction_rounds >= 1
    files = [p for p in Path(run.store.dir).rglob("*") if p.is_file()]
    assert {"result.json", "predictions.jsonl", "experiences.jsonl", "checkpoint.json", "buffer.json"} <= {
        p.name for p in files}
    leaks = [str(p) for p in files if KEY.encode() in p.read_bytes()]
    assert leaks == []
    assert "<redacted>" in (run.store.dir / "predictions.jsonl").read_text()
    assert "<redacted>" in (run.store.dir / "logs" / "instance_acme__app-1.log").read_text()
    assert not any(KEY in text for text in controls_seen)  # nor the live log


# long runs: per-issue work proportional to the issue
def test_result_json_is_written_at_the_end_and_predictions_are_appended(tmp_path):
    run = make_run(tmp_path, 4)
    seen = []
    run.agent.on_run = lambda n: seen.append(((run.store.dir / "result.json").exists(),
                                              len((run.store.dir / "predictions.jsonl").read_text().splitlines())))
    run.engine().run()
    assert seen == [(False, 0), (False, 1), (False, 2), (False, 3)]
    result = json.loads((run.store.dir / "result.json").read_text())
    assert len(result["experiences"]) == 4 and result["statistics"]["processed"] == 4
    checkpoint = run.checkpoint()
    assert checkpoint["next"] is None and len(checkpoint["finished_ids"]) == 4


def test_a_torn_predictions_line_is_healed_on_resume(tmp_path):
    from awm.run.loop import Controls

    run = make_run(tmp_path, 4)
    controls = Controls()
    run.agent.on_run = lambda n: controls.pause() if n == 2 else None
    run.engine(controls).run()
    assert (run.store.dir / "result.json").exists()  # written on pause
    with open(run.store.dir / "predictions.jsonl", "a") as f:
        f.write('{"instance_id": "acme__app-3", "mod')  # a kill mid-append
    run.agent.on_run = None
    run.engine().run()
    preds = [json.loads(x) for x in (run.store.dir / "predictions.jsonl").read_text().splitlines()]
    assert [p["instance_id"] for p in preds] == [f"acme__app-{i}" for i in range(1, 5)]
    assert all(e["status"] == Status.PASS for e in run.journal())
