"""Money is never dropped (issue 19, item 8): what an interrupted issue's agent spent, and what attempts forgotten
after a streak spent, stay in the run's totals (checkpoint.json, the summary, the budget) though no experience holds
them, across resumes; a budget cap that is passed says by how much and why. In-process over the engine's stub parts
(support.stubs), and once with the real agent and a real stop."""

from __future__ import annotations

import json
import signal
import time

import pytest
from support.stubs import make_run

from awm.agent.runner import AgentResult, AgentStatus
from awm.run.store import RunState
from awm.spec import BudgetSpec
from awm_tui.commands.headless import summary


def interrupting_agent(run, n_stop: int, cost: float = 0.3):
    """The stub agent, but issue `n_stop` is interrupted by a stop after spending `cost`."""
    plain = run.agent.run

    def agent_run(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        n = int(issue.instance_id.rsplit("-", 1)[1])
        if n != n_stop:
            return plain(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel)
        on_event("action", "terminal", "$ long work")
        del run.agent.run  # once: a resume runs the plain stub
        stopper.stop()
        assert cancel is not None and cancel.wait(5)
        return AgentResult(status=AgentStatus.CANCELLED, cost=cost, prompt_tokens=700, completion_tokens=70, steps=4)

    engine = run.engine()
    stopper = engine
    engine.parts.agent.run = agent_run
    return engine


def test_an_interrupted_issues_spend_stays_in_the_totals_and_survives_resume(tmp_path):
    run = make_run(tmp_path, 4, memory="off")
    result = interrupting_agent(run, 3).run()
    assert result.outcome == RunState.PAUSED and "acme__app-3" in result.message
    kept = sum(e["cost"] for e in run.journal())
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1", "acme__app-2"]
    assert result.stats.cost == pytest.approx(kept + 0.3)  # the finished issues' 1.0 and the interrupted 0.3
    assert result.stats.discarded_attempts == 1 and result.stats.discarded_cost == pytest.approx(0.3)
    assert result.stats.discarded_tokens == 770
    stats = run.checkpoint()["stats"]
    assert stats["cost"] == pytest.approx(1.3) and stats["discarded_cost"] == pytest.approx(0.3)
    assert stats["prompt_tokens"] == 2 * 100 + 700 and stats["completion_tokens"] == 2 * 10 + 70
    record = json.loads((run.store.dir / "discarded.jsonl").read_text())
    assert record["instance_id"] == "acme__app-3" and record["why"] == "interrupted"
    assert "$0.3000 spent on 1 attempt interrupted" in summary(result.stats)
    # per-issue figures stay those of the kept attempts
    assert all(e["cost"] == 0.5 for e in run.journal())

    resumed = run.engine().run()  # issue 3 is paid again; the first attempt's spend is still counted
    assert resumed.outcome == RunState.COMPLETED and resumed.stats.processed == 4
    assert resumed.stats.cost == pytest.approx(4 * 0.5 + 0.3)
    assert run.checkpoint()["stats"]["discarded_cost"] == pytest.approx(0.3)
    result_json = json.loads((run.store.dir / "result.json").read_text())
    assert result_json["statistics"]["cost"] == pytest.approx(2.3)


def test_an_interrupted_issues_spend_counts_against_the_run_budget(tmp_path):
    run = make_run(tmp_path, 6, memory="off")
    interrupting_agent(run, 2, cost=0.9).run()  # issue 1 kept (0.5), issue 2 interrupted (0.9): 1.4 spent
    run.spec.budget = BudgetSpec(max_cost_usd=1.5)
    resumed = run.engine().run()  # issue 2 redone (0.5): 1.9 >= 1.5, the run pauses at its budget
    assert resumed.outcome == RunState.PAUSED and "budget.max_cost_usd" in resumed.message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1", "acme__app-2"]
    assert "stopped at $1.90 of a $1.50 cap" in resumed.message
    assert "were finished, not cut" in resumed.message  # the overshoot is said, and why
    assert "$0.90 of it spent on 1 interrupted or redone attempt(s)" in resumed.message


def test_a_cap_reached_exactly_says_no_overshoot(tmp_path):
    run = make_run(tmp_path, 4, memory="off")
    run.spec.budget = BudgetSpec(max_cost_usd=1.0)
    result = run.engine().run()
    assert result.outcome == RunState.PAUSED and "stopped at $1.00 of a $1.00 cap" in result.message
    assert "not cut" not in result.message and "interrupted" not in result.message


def test_attempts_forgotten_after_a_streak_keep_their_spend(tmp_path):
    run = make_run(tmp_path, 5, script={2: "text", 3: "text", 4: "text"})
    result = run.engine().run()
    assert result.outcome == RunState.ABORTED and [e["instance_id"] for e in run.journal()] == ["acme__app-1"]
    assert result.stats.discarded_attempts == 3 and result.stats.discarded_cost == pytest.approx(0.03)
    assert result.stats.cost == pytest.approx(0.5 + 0.03)
    whys = [json.loads(x)["why"] for x in (run.store.dir / "discarded.jsonl").read_text().splitlines()]
    assert whys == ["forgotten"] * 3
    run.agent.script = {}
    resumed = run.engine().run()
    assert resumed.stats.processed == 5
    assert resumed.stats.cost == pytest.approx(5 * 0.5 + 0.03 + resumed.stats.induction_cost)


def test_a_torn_last_line_of_the_spend_record_is_not_fatal(tmp_path):
    run = make_run(tmp_path, 3, memory="off")
    interrupting_agent(run, 2).run()
    with open(run.store.dir / "discarded.jsonl", "a") as f:
        f.write('{"instance_id": "acme__app-2", "co')  # a kill mid-append
    resumed = run.engine().run()
    assert resumed.outcome == RunState.COMPLETED and resumed.stats.discarded_cost == pytest.approx(0.3)


def test_an_issue_cap_passed_by_the_step_in_flight_says_so(tmp_path):
    run = make_run(tmp_path, 1, memory="off", verdicts={1: "FAIL"})
    run.spec.budget = BudgetSpec(issue_max_cost_usd=0.1)

    def agent_run(issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        return AgentResult(patch="diff x", status=AgentStatus.BUDGET, cost=0.14, steps=3,
                           error="the issue's cost $0.10 reached budget.issue_max_cost_usd ($0.1)")

    engine = run.engine()
    engine.parts.agent.run = agent_run
    engine.run()
    reason = run.journal()[0]["reason"]
    assert "stopped at $0.14 of a $0.10 issue cap (budget.issue_max_cost_usd): the step in flight" in reason


# ------------------------------------------------------------------ the real agent, a real stop

@pytest.mark.slow
def test_a_stop_mid_issue_keeps_the_interrupted_agents_spend_in_checkpoint_json(awm_home, tmp_path):
    import subprocess

    from conftest import ROOT, cli

    spec = tmp_path / "demo.yaml"
    spec.write_text((ROOT / "specs" / "demo.yaml").read_text().replace(
        "  output_cost_per_token: 0.000002", "  output_cost_per_token: 0.000002\n  scripted_latency_s: 1.0", 1))
    assert "scripted_latency_s: 1.0" in spec.read_text()
    out = tmp_path / "run"
    proc = subprocess.Popen(cli("--no-ui", str(spec), "--output-dir", str(out), "--limit", "3"), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 150

        def in_flight() -> list:
            done = {json.loads(x)["instance_id"] for x in journal(out)}
            return [log for log in (out / "logs").glob("instance_*.log")
                    if log.name[len("instance_"):-len(".log")] not in done and log.read_text().count("] ACTION") >= 1]

        # one issue finished, the next has had a model call answered (and, a second apart, has more to make)
        while not (journal(out) and in_flight()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert len(journal(out)) == 1
    stats = json.loads((out / "checkpoint.json").read_text())["stats"]
    kept = sum(json.loads(x)["cost"] for x in journal(out))
    assert stats["discarded_attempts"] == 1 and stats["discarded_cost"] > 0 and stats["discarded_tokens"] > 0
    assert stats["cost"] == pytest.approx(kept + stats["induction_cost"] + stats["discarded_cost"], abs=1e-6)


def journal(out) -> list[str]:
    path = out / "experiences.jsonl"
    return [x for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
