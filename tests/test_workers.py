"""Several issues in flight (workers), with stub parts whose agents wait at gates the test opens: start order, the
staleness bound, induction applying only to later starts, error streaks in completion order, pause and stop with
several in flight, and the run's budget. Milliseconds, deterministic."""

from __future__ import annotations

import dataclasses
import threading

from awm.run import events as ev
from awm.run.store import RunState
from awm.spec import BudgetSpec
from support.stubs import make_run

WAIT = 10


class Gates:
    """The stub agent of issue n waits until the test opens gate n."""

    def __init__(self, opened=()):
        self.started: list[int] = []
        self.gates: dict[int, threading.Event] = {}
        self.cv = threading.Condition()
        for n in opened:
            self.gate(n).set()

    def gate(self, n: int) -> threading.Event:
        with self.cv:
            return self.gates.setdefault(n, threading.Event())

    def __call__(self, n: int) -> None:
        with self.cv:
            self.started.append(n)
            self.cv.notify_all()
        assert self.gate(n).wait(WAIT), f"gate {n} never opened"

    def open(self, *ns: int) -> None:
        for n in ns:
            self.gate(n).set()

    def wait_started(self, count: int) -> list[int]:
        with self.cv:
            assert self.cv.wait_for(lambda: len(self.started) >= count, WAIT), self.started
            return list(self.started)


def concurrent(tmp_path, n: int, workers: int, staleness: int | None = None, **kw):
    run = make_run(tmp_path, n, **kw)
    run.spec = dataclasses.replace(run.spec, workers=workers, max_staleness=staleness)
    gates = Gates()
    run.agent.on_run = gates
    engine = run.engine()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("finished", engine.run()), daemon=True)
    return run, gates, engine, thread, result


def wait_finished(run, index: int) -> None:
    deadline = threading.Event()
    for _ in range(WAIT * 100):
        if any(isinstance(e, ev.IssueFinished) and e.index == index for e in list(run.events)):
            return
        deadline.wait(0.01)
    raise AssertionError(f"issue {index} never finished")


def order(events) -> list[str]:
    """Starts and finishes, in the order they were said: "s3", "f1"..."""
    out = []
    for e in events:
        if isinstance(e, ev.IssueStarted):
            out.append(f"s{e.index}")
        elif isinstance(e, ev.IssueFinished):
            out.append(f"f{e.index}")
    return out


def test_issues_start_in_order_and_no_further_ahead_than_the_staleness_bound(tmp_path):
    run, gates, engine, thread, result = concurrent(tmp_path, 6, workers=3)  # max_staleness defaults to 2
    thread.start()
    assert gates.wait_started(3) == [1, 2, 3]
    gates.open(2)  # issue 2 finishes, but 4 may not start while 1 (= 4 - 2 - 1) is in flight
    gates.open(3)
    with gates.cv:
        assert not gates.cv.wait_for(lambda: len(gates.started) > 3, 0.3)
    gates.open(1)
    assert gates.wait_started(6)[3:] == [4, 5, 6]
    gates.open(4, 5, 6)
    thread.join(WAIT)
    assert result["finished"].outcome == RunState.COMPLETED
    steps = order(run.events)
    assert steps.index("s4") > steps.index("f1") and steps.index("s4") > steps.index("f2")
    journal = {e["instance_id"]: e for e in run.journal()}
    assert [journal[f"acme__app-{n}"]["position"] for n in range(1, 7)] == [1, 2, 3, 4, 5, 6]
    assert journal["acme__app-1"]["staleness"] == 0 and journal["acme__app-3"]["staleness"] == 2
    assert max(e["staleness"] for e in journal.values()) <= 2


def test_a_tighter_bound_holds_fewer_in_flight(tmp_path):
    run, gates, engine, thread, result = concurrent(tmp_path, 4, workers=3, staleness=1)
    thread.start()
    assert gates.wait_started(2) == [1, 2]
    with gates.cv:  # 3 waits for 1 although a worker is free
        assert not gates.cv.wait_for(lambda: len(gates.started) > 2, 0.3)
    gates.open(1, 2, 3, 4)
    thread.join(WAIT)
    assert max(e["staleness"] for e in run.journal()) <= 1


def test_one_worker_is_one_issue_at_a_time(tmp_path):
    run, gates, engine, thread, result = concurrent(tmp_path, 4, workers=1)
    gates.open(1, 2, 3, 4)
    thread.start()
    thread.join(WAIT)
    assert order(run.events) == ["s1", "f1", "s2", "f2", "s3", "f3", "s4", "f4"]
    assert [e["staleness"] for e in run.journal()] == [0, 0, 0, 0]
    assert [e["memory_round"] for e in run.journal()] == [0, 0, 1, 1]


def test_induction_applies_only_to_issues_started_after_it(tmp_path):
    run, gates, engine, thread, result = concurrent(tmp_path, 5, workers=3)  # trigger 2
    thread.start()
    gates.wait_started(3)
    gates.open(1)  # 4 may start now (every issue before 4 - 2 has finished), before any induction
    assert gates.wait_started(4)[3] == 4
    gates.open(2)  # the second success: round 1, while 3 and 4 are in flight; 5 starts after it
    assert gates.wait_started(5)[4] == 5
    gates.open(3, 4, 5)
    thread.join(WAIT)
    journal = {e["instance_id"]: e for e in run.journal()}
    for n in (3, 4):
        assert journal[f"acme__app-{n}"]["memory_round"] == 0 and journal[f"acme__app-{n}"]["workflow_ids"] == []
        assert run.agent.prompts[f"acme__app-{n}"] == ""
    assert journal["acme__app-5"]["memory_round"] == 1 and journal["acme__app-5"]["workflow_ids"]
    assert "Fix an off-by-one" in run.agent.prompts["acme__app-5"]
    induced = next(i for i, e in enumerate(run.events) if isinstance(e, ev.InductionFinished))
    started = {e.index: i for i, e in enumerate(run.events) if isinstance(e, ev.IssueStarted)}
    assert started[4] < induced < started[5]
    assert journal["acme__app-5"]["staleness"] == 2  # 3 and 4 were in flight


def test_error_streaks_count_in_the_order_issues_finish(tmp_path):
    # 1, 3 and 4 fail the same way; 2 succeeds but finishes last: in finish order the three errors are in a row
    run, gates, engine, thread, result = concurrent(
        tmp_path, 6, workers=3, script={1: "error: model down", 3: "error: model down", 4: "error: model down"})
    thread.start()
    gates.wait_started(3)
    for n in (1, 3):
        gates.open(n)
        wait_finished(run, n)
    assert gates.wait_started(4)[3] == 4
    gates.open(4)
    wait_finished(run, 4)
    gates.open(2, 5, 6)
    thread.join(WAIT)
    finished = result["finished"]
    assert finished.outcome == RunState.ABORTED and "3 consecutive errors" in finished.message
    assert order(run.events)[-1] == "f2" and 5 not in gates.started  # nothing new started after the abort
    # the errors are forgotten, to be redone; the success that finished after them is kept
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-2"]


def test_pause_lets_the_issues_in_flight_finish_and_starts_nothing_new(tmp_path):
    run, gates, engine, thread, result = concurrent(tmp_path, 6, workers=3)
    thread.start()
    gates.wait_started(3)
    engine.pause()
    gates.open(1, 2, 3, 4, 5, 6)
    thread.join(WAIT)
    finished = result["finished"]
    assert finished.outcome == RunState.PAUSED and finished.message == "paused by request; resume to continue"
    assert sorted(e["instance_id"] for e in run.journal()) == ["acme__app-1", "acme__app-2", "acme__app-3"]
    assert gates.started == [1, 2, 3]


def test_stop_interrupts_every_issue_in_flight_and_resume_redoes_them(tmp_path):
    run = make_run(tmp_path, 5, script={1: "hang", 2: "hang", 3: "hang"})
    run.spec = dataclasses.replace(run.spec, workers=3)
    engine = run.engine()
    started = threading.Event()

    def seen(event):
        if isinstance(event, ev.IssueStarted) and event.index == 3:
            started.set()

    engine.subscribers.append(seen)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("finished", engine.run()), daemon=True)
    thread.start()
    assert started.wait(WAIT)
    engine.stop()
    thread.join(WAIT)
    finished = result["finished"]
    assert finished.outcome == RunState.PAUSED
    assert "acme__app-1, acme__app-2, acme__app-3" in finished.message and "they will be redone" in finished.message
    assert run.journal() == []
    run.agent.script.clear()
    again = run.engine().run()
    assert again.outcome == RunState.COMPLETED
    assert sorted(e["instance_id"] for e in run.journal()) == [f"acme__app-{n}" for n in range(1, 6)]


def test_the_run_stops_resumably_at_its_cost_budget(tmp_path):
    run = make_run(tmp_path, 6)  # each issue costs $0.50, each induction round $0.25
    run.spec = dataclasses.replace(run.spec, budget=BudgetSpec(max_cost_usd=1.2))
    finished = run.engine().run()
    assert finished.outcome == RunState.PAUSED
    assert "budget.max_cost_usd" in finished.message and "$1.25" in finished.message and "resume" in finished.message
    assert len(run.journal()) == 2 and run.checkpoint()["status"] == "paused"
    again = run.engine().run()  # still over: says so before starting anything
    assert again.outcome == RunState.PAUSED and len(run.journal()) == 2
    run.spec = dataclasses.replace(run.spec, budget=BudgetSpec(max_cost_usd=100))
    assert run.engine().run().outcome == RunState.COMPLETED and len(run.journal()) == 6


def test_the_run_stops_at_its_token_budget_with_issues_in_flight_finishing(tmp_path):
    run, gates, engine, thread, result = concurrent(tmp_path, 6, workers=2)
    run.spec = dataclasses.replace(run.spec, budget=BudgetSpec(max_tokens=100))  # one issue: 110 tokens
    engine = run.engine()
    run.agent.on_run = gates
    thread = threading.Thread(target=lambda: result.setdefault("finished", engine.run()), daemon=True)
    thread.start()
    gates.wait_started(2)
    gates.open(1)
    gates.open(2)
    thread.join(WAIT)
    finished = result["finished"]
    assert finished.outcome == RunState.PAUSED and "budget.max_tokens" in finished.message
    assert sorted(e["instance_id"] for e in run.journal()) == ["acme__app-1", "acme__app-2"]  # 2 finished, not cut
    assert gates.started == [1, 2]


def test_subscribers_are_called_one_event_at_a_time_from_the_workers_threads(tmp_path):
    """Engine.emit's contract (awm.run.events.Subscriber): with several workers each subscriber still gets one event
    at a time, whichever thread emits it (the run screen's subscriber counts and queues without a lock of its own)."""
    run, gates, engine, thread, result = concurrent(tmp_path, 6, workers=3)
    guard = threading.Lock()
    inside, most, threads = [0], [0], set()

    def slow_subscriber(event: ev.Event) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            threads.add(threading.current_thread().name)
        threading.Event().wait(0.003)  # long enough for another worker's event to arrive meanwhile
        with guard:
            inside[0] -= 1

    engine.subscribers.append(slow_subscriber)
    gates.open(1, 2, 3, 4, 5, 6)
    thread.start()
    thread.join(WAIT * 3)
    assert result["finished"].outcome == RunState.COMPLETED
    assert len(threads) > 1 and most[0] == 1, (threads, most)
