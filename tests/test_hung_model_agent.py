"""The real OpenHands agent on a local checkout, its model a server that never answers (project issue 8): the issue's
wall-clock limit and a stop request end the issue in seconds, whatever the model's own timeout (300 s) and retries
(3) would take, and the outputs are still written."""

from __future__ import annotations

import json
import threading
import time

import pytest
from test_agent_limits import make_checkout
from test_hung_model import HungServer

from awm.agent.runner import AgentRunner
from awm.records import Issue
from awm.spec import AgentSpec, LLMSpec

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Cost calculation failed")]


@pytest.fixture(scope="module")
def hung():
    AgentRunner(AgentSpec(), LLMSpec(model="openai/scripted")).warm_up()  # the stack's imports, off the issues' clocks
    with HungServer() as server:
        yield server


@pytest.fixture
def workspace(tmp_path):
    checkout = make_checkout(tmp_path)
    yield checkout
    checkout.close()


def run_hung(server, workspace, tmp_path, *, timeout_minutes: float, cancel: threading.Event | None = None):
    # the spec's defaults: the SDK's 300 s per attempt, 3 attempts
    spec_llm = LLMSpec(model="openai/scripted", base_url=server.base_url, num_retries=3)
    spec_agent = AgentSpec(timeout_minutes=timeout_minutes)
    issue = Issue(instance_id="hung-1", repo="acme/calc", base_commit=workspace.base_commit,
                  problem_statement="Please fix add().")
    events: list[tuple[str, str, str]] = []
    started = time.monotonic()
    result = AgentRunner(spec_agent, spec_llm).run(issue, workspace, "", lambda *e: events.append(e),
                                                   tmp_path / "logs" / "hung-1.log",
                                                   tmp_path / "logs" / "hung-1.trajectory.json", cancel=cancel)
    return result, events, time.monotonic() - started


def test_the_issue_limit_ends_an_issue_whose_model_never_answers(hung, workspace, tmp_path):
    before = hung.requests
    result, events, elapsed = run_hung(hung, workspace, tmp_path, timeout_minutes=0.05)  # 3 s
    assert elapsed < 3 + 3, f"returned after {elapsed:.1f} s"
    assert hung.requests > before  # the model was asked, and never answered
    assert result.status == "timeout"
    assert result.hung and result.model_calls == 0 and result.steps == 0 and result.patch == ""
    assert result.error.startswith("the model did not answer in time"), result.error
    log = (tmp_path / "logs" / "hung-1.log").read_text()
    assert log.rstrip().splitlines()[-1].startswith("# agent status: timeout the model did not answer in time")
    json.loads((tmp_path / "logs" / "hung-1.trajectory.json").read_text())


def test_a_stop_request_ends_an_issue_whose_model_never_answers(hung, workspace, tmp_path):
    cancel = threading.Event()
    before = hung.requests
    asked = {}

    def stop_once_the_model_is_asked() -> None:
        end = time.monotonic() + 60
        while hung.requests == before and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.5)  # well into the wait for an answer
        asked["at"] = time.monotonic()
        cancel.set()

    threading.Thread(target=stop_once_the_model_is_asked, daemon=True).start()
    result, _, elapsed = run_hung(hung, workspace, tmp_path, timeout_minutes=5, cancel=cancel)
    assert "at" in asked, "the model was never asked"
    after_stop = time.monotonic() - asked["at"]
    assert after_stop < 3, f"returned {after_stop:.1f} s after the stop (after {elapsed:.1f} s)"
    assert result.status == "cancelled" and result.hung and result.model_calls == 0
    assert result.error.startswith("stopped while waiting for the model"), result.error
