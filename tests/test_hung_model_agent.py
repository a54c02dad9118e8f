"""The real OpenHands agent on a local checkout, its model a server that never answers (project issue 8): the issue's
wall-clock limit and a stop request end the issue in seconds, whatever the model's own timeout (300 s) and retries
(3) would take, and the outputs are still written. And a whole headless run on a model that never answers the agent
stops on the streak, and its process ends promptly, its stop line printed once (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from test_agent_limits import make_checkout
from conftest import cli
from test_hung_model import HungServer

from awm.agent.runner import AgentRunner
from awm.demo.scripted import ScriptedServer
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


# ---------------------------------------------------------------- a whole headless run on a hung model (issue 19)

HUNG_SPEC = """name: hung
llm:
  model: openai/hung-model
  base_url: {base_url}
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: 3
repos:
  awm-bench/tallyho: builtin:minibench
agent:
  timeout_minutes: 0.1
max_consecutive_errors: 2
"""


def test_a_run_aborted_on_a_hung_model_exits_promptly_with_one_stop_line(awm_home, tmp_path):
    """The scripted server answers the start-up model check, and never the agent (`hang`): two issues time out, the
    run stops on the streak, and the process ends within seconds of its last line (it took 3 to 17 s here, more on a
    busier machine: the interpreter's final garbage collections over the agent stack; well under 1 s now), its stop
    message printed once, on stderr."""
    with ScriptedServer() as server:
        server.faults = {"agent": ["hang*"]}
        spec = tmp_path / "spec.yaml"
        spec.write_text(HUNG_SPEC.format(base_url=server.base_url))
        env = {**os.environ, "AWM_TUI_HOME": str(awm_home), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(cli("--no-ui", str(spec), "--output-dir", str(tmp_path / "run")), cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[tuple[float, str, str]] = []  # (when, stream, line)

        def read(stream, name: str) -> None:
            for line in stream:
                lines.append((time.monotonic(), name, line.rstrip("\n")))

        readers = [threading.Thread(target=read, args=(proc.stdout, "out"), daemon=True),
                   threading.Thread(target=read, args=(proc.stderr, "err"), daemon=True)]
        for reader in readers:
            reader.start()
        try:
            code = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        ended = time.monotonic()
        for reader in readers:
            reader.join(timeout=10)
    text = "\n".join(f"{name}: {line}" for _, name, line in lines)
    assert code == 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    issues = [line for _, name, line in lines if name == "out" and line.startswith("[")]
    assert len(issues) == 2 and all("ERROR" in line and "the model did not answer in time" in line
                                    for line in issues), text
    stops = [(name, line) for _, name, line in lines if "stopped after" in line]
    assert len(stops) == 1 and stops[0][0] == "err", stops  # once, on stderr
    assert stops[0][1].startswith("awm-tui: stopped after 2 consecutive errors with the same cause: agent: the model "
                                  "did not answer in time") and "field `llm`" in stops[0][1]
    last = max(when for when, _, _ in lines)
    assert ended - last < 5, f"the process ended {ended - last:.1f} s after its last line"


def test_the_stop_message_is_printed_once_on_stderr_by_the_headless_command_else_with_the_summary():
    import io

    from awm.run import events as ev
    from awm.run.stats import Stats
    from awm_tui.commands.headless import HeadlessPrinter

    finished = ev.RunFinished(outcome="aborted", message="stopped after 2 consecutive errors with the same cause: x",
                              stats=Stats(), run_dir="/runs/r1")
    out, err = io.StringIO(), io.StringIO()
    HeadlessPrinter(out, err=err)(finished)  # the headless command's printer
    assert err.getvalue() == "awm-tui: stopped after 2 consecutive errors with the same cause: x\n"
    assert "stopped after" not in out.getvalue() and "awm-tui: aborted: " in out.getvalue()
    alone = io.StringIO()
    HeadlessPrinter(alone)(finished)  # the experiment command's: all in one stream, once
    assert alone.getvalue().count("stopped after") == 1
    paused = io.StringIO()
    HeadlessPrinter(paused, err=err)(ev.RunFinished(outcome="paused", message="paused by request", stats=Stats(),
                                                    run_dir="/runs/r1"))
    assert "awm-tui: paused by request" in paused.getvalue() and err.getvalue().count("\n") == 1
