"""The loop's own logic over stub parts, in-process and in milliseconds (as mini-swe-agent tests its loop with a
deterministic model): verdicts and the journal, induction and injection, same-cause error streaks, pause, stop,
one issue's crash, induction catch-up after a kill, memory off, the run's states."""

from __future__ import annotations

import json
import threading

import pytest

from awm.agent.runner import AgentResult, AgentStatus
from awm.errors import UserError
from awm.run import events as ev
from awm.run.loop import Controls
from awm.run.store import RunState
from support.stubs import make_run


def test_a_run_records_every_verdict_in_order_and_closes_every_workspace(tmp_path):
    run = make_run(tmp_path, 4, verdicts={2: "FAIL"})
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED
    assert [(e["instance_id"], e["status"]) for e in run.journal()] == [
        ("acme__app-1", "PASS"), ("acme__app-2", "FAIL"), ("acme__app-3", "PASS"), ("acme__app-4", "PASS")]
    assert all(c.closed >= 1 for c in run.workspace.opened) and len(run.workspace.opened) == 4
    assert run.checkpoint()["status"] == "completed" and run.store.state() == RunState.COMPLETED
    assert run.agent.warmed == 1
    predictions = [json.loads(x) for x in (run.store.dir / "predictions.jsonl").read_text().splitlines()]
    assert predictions[1] == {"instance_id": "acme__app-2", "model_name_or_path": "stub/model",
                              "model_patch": "diff acme__app-2"}


def test_induction_every_trigger_successes_and_its_workflows_reach_later_prompts(tmp_path):
    run = make_run(tmp_path, 4)
    run.engine().run()
    assert run.complete.calls == 2  # 4 successes, trigger 2
    assert run.agent.prompts["acme__app-1"] == "" and run.agent.prompts["acme__app-2"] == ""
    assert "Fix an off-by-one" in run.agent.prompts["acme__app-3"]
    journal = run.journal()
    assert [e["memory_round"] for e in journal] == [0, 0, 1, 1]
    assert journal[2]["workflow_ids"] == ["wf-fix-an-off-by-one"]
    memory = json.loads(run.store.memory_path.read_text())
    assert [r["round"] for r in memory["rounds"]] == [1, 2]


def test_induction_cost_and_tokens_count_in_the_run_totals(tmp_path):
    run = make_run(tmp_path, 2)
    result = run.engine().run()
    assert result.stats.induction_cost == 0.25 and result.stats.induction_tokens == 1050
    assert result.stats.cost == pytest.approx(0.5 * 2 + 0.25)
    assert result.stats.prompt_tokens == 200 + 1000 and result.stats.completion_tokens == 20 + 50
    assert run.checkpoint()["stats"]["cost"] == pytest.approx(1.25)


def test_memory_json_is_written_from_the_start_even_with_memory_off(tmp_path):
    run = make_run(tmp_path, 3, memory="off")
    seen_memory = []
    run.agent.on_run = lambda n: seen_memory.append(run.store.memory_path.exists())
    run.engine().run()
    assert seen_memory == [True, True, True]
    assert json.loads(run.store.memory_path.read_text())["rounds"] == []
    assert run.complete.calls == 0 and set(run.agent.prompts.values()) == {""}


def test_same_cause_errors_stop_the_run_and_are_redone_on_resume(tmp_path):
    run = make_run(tmp_path, 6, script={3: "error: connection refused to 10.0.0.1:8000",
                                        4: "error: connection refused to 10.0.0.1:8001",
                                        5: "error: connection refused to 10.0.0.1:8002"})
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and "3 consecutive errors" in result.message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1", "acme__app-2"]  # the streak is forgotten
    assert run.checkpoint()["status"] == "aborted"
    run.agent.script = {}
    resumed = run.engine().run()
    assert resumed.outcome == RunState.COMPLETED and resumed.stats.processed == 6 and resumed.stats.errors == 0


def test_errors_of_different_causes_do_not_stop_the_run(tmp_path):
    run = make_run(tmp_path, 5, script={2: "error: disk full", 3: "error: model said no", 4: "crash"})
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED
    assert [e["status"] for e in run.journal()] == ["PASS", "ERROR", "ERROR", "ERROR", "PASS"]


def test_one_issues_crash_is_its_error_and_the_loop_goes_on(tmp_path):
    run = make_run(tmp_path, 3, script={1: "crash"}, verdicts={2: "crash"})
    result = run.engine().run()
    journal = run.journal()
    assert result.outcome == RunState.COMPLETED
    assert [e["status"] for e in journal] == ["ERROR", "ERROR", "PASS"]
    assert "agent exploded" in journal[0]["reason"] and "grader exploded" in journal[1]["reason"]
    assert all(c.closed >= 1 for c in run.workspace.opened)


def test_pause_finishes_the_issue_in_flight_then_stops_and_resume_goes_on(tmp_path):
    run = make_run(tmp_path, 4)
    controls = Controls()
    run.agent.on_run = lambda n: controls.pause() if n == 2 else None
    result = run.engine(controls).run()
    assert result.outcome == RunState.PAUSED and "paused by request" in result.message
    assert len(run.journal()) == 2 and run.checkpoint()["status"] == "paused"
    run.agent.on_run = None
    resumed = run.engine().run()
    assert resumed.outcome == RunState.COMPLETED and len(run.journal()) == 4


def test_stop_interrupts_the_agent_and_the_issue_is_redone_on_resume(tmp_path):
    run = make_run(tmp_path, 3, script={2: "hang"})
    controls = Controls()
    run.agent.on_run = lambda n: threading.Timer(0.05, controls.stop).start() if n == 2 else None
    result = run.engine(controls).run()
    assert result.outcome == RunState.PAUSED and "acme__app-2" in result.message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1"]  # the interrupted one is not recorded
    assert run.evaluator.graded == ["acme__app-1"]
    run.agent.script, run.agent.on_run = {}, None
    assert run.engine().run().stats.processed == 3


def test_a_stop_before_the_first_issue_starts_nothing(tmp_path):
    run = make_run(tmp_path, 3)
    controls = Controls()
    controls.stop()
    result = run.engine(controls).run()
    assert result.outcome == RunState.PAUSED and run.journal() == [] and run.workspace.opened == []


def test_an_induction_round_lost_to_a_kill_is_redone_before_the_next_issue(tmp_path):
    run = make_run(tmp_path, 4)
    run.agent.on_run = lambda n: (_ for _ in ()).throw(KeyboardInterrupt()) if n == 3 else None
    with pytest.raises(KeyboardInterrupt):  # a kill right after issue 2: its induction round was made due ...
        engine = run.engine()
        engine.parts.inducer.complete = lambda messages: (_ for _ in ()).throw(KeyboardInterrupt())
        engine.run()
    assert len(run.journal()) == 2 and not json.loads(run.store.memory_path.read_text())["rounds"]
    run.agent.on_run = None
    run.engine().run()  # ... and is run on resume, before issue 3
    assert run.complete.calls == 2
    assert "Fix an off-by-one" in run.agent.prompts["acme__app-3"]
    assert [e["memory_round"] for e in run.journal()] == [0, 0, 1, 1]


def test_a_failed_induction_round_is_retried_after_the_next_issue(tmp_path):
    run = make_run(tmp_path, 4, fail_induction=1)
    run.engine().run()
    failed = [e for e in run.events if isinstance(e, ev.InductionFinished) and e.error]
    assert len(failed) == 1 and "model down" in failed[0].error
    assert [e["memory_round"] for e in run.journal()] == [0, 0, 0, 1]


def test_an_unexpected_engine_failure_leaves_the_run_crashed_not_running(tmp_path):
    run = make_run(tmp_path, 3)

    def boom(event):
        if isinstance(event, ev.IssueFinished) and event.index == 2:
            raise RuntimeError("subscriber bug")

    engine = run.engine()
    engine.subscribers.append(boom)
    with pytest.raises(RuntimeError):
        engine.run()
    assert run.checkpoint()["status"] == "crashed" and "subscriber bug" in run.checkpoint()["message"]
    assert len(run.journal()) == 2  # what finished is kept
    assert run.engine().run().stats.processed == 3


def test_a_run_recorded_running_that_no_engine_holds_reads_as_interrupted(tmp_path):
    run = make_run(tmp_path, 2)
    seen = []
    run.agent.on_run = lambda n: seen.append(run.store.state())
    run.engine().run()
    assert seen[1] == RunState.RUNNING  # held by this engine
    data = run.checkpoint()
    data["status"] = "running"  # as a kill -9 mid-run leaves it
    (run.store.dir / "checkpoint.json").write_text(json.dumps(data))
    assert run.store.state() == RunState.INTERRUPTED


def test_a_second_engine_on_the_same_run_is_refused(tmp_path):
    run = make_run(tmp_path, 2)
    errors = []

    def second(n):
        if n == 1:
            with pytest.raises(UserError) as err:
                run.engine().run()
            errors.append(str(err.value))

    run.agent.on_run = second
    run.engine().run()
    assert errors and "is being run right now" in errors[0]


def test_resume_clears_half_written_files_a_kill_left(tmp_path):
    run = make_run(tmp_path, 2)
    debris = [run.store.dir / ".result.json.abc.tmp", run.store.dir / "induction" / ".round_001.reply.txt.x.tmp"]
    for path in debris:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    run.engine().run()
    assert not any(p.exists() for p in debris)


def test_elapsed_time_carries_over_a_resume(tmp_path):
    run = make_run(tmp_path, 3)
    controls = Controls()
    run.agent.on_run = lambda n: controls.pause() if n == 1 else None
    first = run.engine(controls).run()
    run.agent.on_run = None
    second = run.engine().run()
    assert second.stats.elapsed_s >= first.stats.elapsed_s > 0


def test_events_come_in_the_loops_order(tmp_path):
    run = make_run(tmp_path, 2)
    run.engine().run()
    kinds = [type(e).__name__ for e in run.events if not isinstance(e, ev.CheckpointSaved)]
    assert kinds == ["RunStarted", "IssueStarted", "AgentEvent", "AgentEvent", "IssueFinished", "IssueStarted",
                     "AgentEvent", "IssueFinished", "InductionStarted", "InductionFinished", "RunFinished"]
    leftovers = [e for e in run.events if isinstance(e, ev.AgentEvent) and e.kind == "system"]
    assert len(leftovers) == 1 and "pid 42: sleep 300" in leftovers[0].text  # reported once, for its issue


@pytest.mark.parametrize("fault, meaning", [
    ("BadRequestError: litellm.BadRequestError: OpenAIException - Error code: 401 - invalid api key",
     "the model refused the API key"),
    ("ConversationErrorEvent: LLMAuthenticationError: Incorrect API key provided", "the model refused the API key"),
    ("APIConnectionError: Connection refused", "the model could not be reached"),
    ("RateLimitError: Error code: 429 - quota exceeded", "the model's rate limit or quota was hit"),
    ("Timeout: Request timed out after 300 s", "the model did not answer in time"),
])
def test_model_faults_are_named_in_words(fault, meaning):
    from awm.model.client import describe_fault

    text = describe_fault(fault)
    assert text.startswith(meaning + " (") and fault.split(":")[0] in text
    assert describe_fault(text) == text  # said once
    assert describe_fault("ValueError: something else") == "ValueError: something else"


@pytest.mark.parametrize("reason, blamed", [
    ("error: the model could not be reached (APIConnectionError: Connection refused)", "field `llm`"),
    ("error: OSError: [Errno 5] Input/output error", "the machine, a disk"),
    ("error: GitError: commit abc123 is not in /src/app", "field `repos`"),
])
def test_the_streak_message_points_where_the_cause_is(tmp_path, reason, blamed):
    run = make_run(tmp_path, 4, script={1: reason, 2: reason, 3: reason})
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and blamed in result.message
    if blamed != "field `llm`":
        assert "field `llm`" not in result.message


def test_a_hung_model_is_an_error_not_graded_and_its_streak_stops_the_run(tmp_path):
    run = make_run(tmp_path, 4)

    def hung(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        return AgentResult(status=AgentStatus.TIMEOUT, hung=True, model_calls=0,
                           error="the model did not answer in time: no reply within the issue's time limit (60 s)")

    run.agent.run = hung
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and "field `llm`" in result.message
    assert run.evaluator.graded == [] and run.journal() == []  # the streak is forgotten, to be redone


def test_a_dead_model_stopping_induction_also_forgets_the_errors_before_it(tmp_path):
    dead = "error: the model could not be reached (APIConnectionError: Connection refused)"
    run = make_run(tmp_path, 6, script={3: dead, 4: dead, 5: dead, 6: dead}, fail_induction=99)
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and "induction round 1" in result.message
    assert [e["status"] for e in run.journal()] == ["PASS", "PASS"]  # the errors are redone on resume
    run.agent.script, run.complete.fail_times = {}, 0
    assert run.engine().run().stats.processed == 6
