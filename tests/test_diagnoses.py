"""The streaks that stop a run (awm.run.diagnoses.Streaks) and memory off's stand-in (awm.run.memory.NoMemory), in
process: what the engine's whole runs (test_engine, test_memory_model_faults) rely on, one rule at a time."""

from __future__ import annotations

import json

from awm.records import Experience, Issue, Status
from awm.run.diagnoses import JUDGE_ATTEMPTS, Streaks, cause
from awm.run.memory import NoMemory, outcome
from awm.run.store import RunStore
from awm.spec import LLMSpec, MemorySpec, RunSpec


def attempt(n: int, status: str = "PASS", reason: str = "", *, protocol: str = "", judge: dict | None = None):
    return Experience(instance_id=f"acme__app-{n}", problem_statement="", status=Status(status), reason=reason,
                      protocol=protocol, judge=dict(judge or {}))


def test_errors_of_one_cause_in_a_row_stop_and_their_ids_and_numbers_do_not_tell_them_apart():
    assert cause("sandbox 3f2b9c1e-0000-4000-8000-00000000abcd died after 12 s") == "sandbox <id> died after # s"
    streaks = Streaks(limit=3)
    assert streaks.add(attempt(1, "ERROR", "agent: timed out after 30 s")) is None
    assert streaks.add(attempt(2, "ERROR", "agent: timed out after 31 s")) is None
    kind, streak = streaks.add(attempt(3, "ERROR", "agent: timed out after 32 s"))
    assert kind == "errors" and [e.instance_id for e in streak] == ["acme__app-1", "acme__app-2", "acme__app-3"]


def test_a_verdict_or_another_cause_ends_an_error_streak():
    streaks = Streaks(limit=2)
    assert streaks.add(attempt(1, "ERROR", "agent: boom")) is None
    assert streaks.add(attempt(2, "FAIL", "tests failed")) is None  # graded: not an error
    assert streaks.errors == [] and streaks.add(attempt(3, "ERROR", "agent: boom")) is None
    assert streaks.add(attempt(4, "ERROR", "agent: another cause")) is None  # a new streak of one
    assert [e.instance_id for e in streaks.errors] == ["acme__app-4"]
    assert streaks.add(attempt(5, "ERROR", "agent: another cause"))[0] == "errors"


def test_protocol_failures_of_one_kind_are_one_streak_whatever_the_verdict():
    streaks = Streaks(limit=2)
    assert streaks.add(attempt(1, "FAIL", "empty patch", protocol="no_tool_call")) is None
    kind, streak = streaks.add(attempt(2, "FAIL", "empty patch again", protocol="no_tool_call"))
    assert kind == "errors" and len(streak) == 2 and streaks.protocol["acme__app-2"] == "no_tool_call"


def test_failed_judge_calls_in_a_row_stop_and_a_verdict_ends_them():
    fault, verdict = {"verdict": "ERROR", "reasoning": "no verdict"}, {"verdict": "PASS", "reply_path": "judge/x"}
    streaks = Streaks(limit=10)
    for n in range(1, JUDGE_ATTEMPTS):
        assert streaks.add(attempt(n, judge=fault)) is None
    assert streaks.add(attempt(JUDGE_ATTEMPTS, judge=verdict)) is None and streaks.judge == []
    assert streaks.add(attempt(9, judge={})) is None  # not judged: the streak is left as it is
    for n in range(10, 10 + JUDGE_ATTEMPTS - 1):
        assert streaks.add(attempt(n, judge=fault)) is None
    kind, streak = streaks.add(attempt(20, judge=fault))
    assert kind == "judge" and len(streak) == JUDGE_ATTEMPTS


def test_memorys_outcome_is_a_status_and_a_failed_judge_is_no_verdict():
    judged_fault = {"verdict": "ERROR"}
    learned = attempt(1)
    learned.learned = True
    assert outcome(learned, "judge") is Status.PASS
    assert outcome(attempt(2, "ERROR"), "judge") is Status.ERROR
    assert outcome(attempt(3, "PASS", judge=judged_fault), "judge") is Status.SKIPPED
    assert outcome(attempt(4, "FAIL", judge=judged_fault), "tests+judge") is Status.FAIL  # the tests failed it
    assert outcome(attempt(5, "FAIL"), "tests") is Status.FAIL


def test_memory_off_gives_nothing_learns_nothing_and_keeps_the_files_every_run_has(tmp_path):
    spec = RunSpec(llm=LLMSpec(model="stub/model"), name="t", memory=MemorySpec(enabled="off"))
    store = RunStore.create(spec, str(tmp_path / "run"))
    memory = NoMemory(spec, store, None)
    memory.restore([])
    assert json.loads(store.memory_path.read_text())["rounds"] == [] and store.buffer_path.exists()
    selection = memory.select(Issue(instance_id="acme__app-1", repo="acme/app", base_commit="0" * 40,
                                    problem_statement="x"))
    assert selection.block == "" and "memory.enabled: off" in selection.reason
    passed = attempt(1)
    passed.learned, passed.workflow_ids = True, ["wf-x"]
    memory.record(passed)
    assert memory.induce_due() == "" and len(memory.buffer.experiences) == 1
    assert json.loads(store.memory_path.read_text())["usefulness"] == {}  # nothing counted with memory off
    assert memory.usage()["judge_failures"] == 0
