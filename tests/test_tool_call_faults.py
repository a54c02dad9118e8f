"""A model that calls the tools wrongly on every reply (project issue 19, item 1): a tool the agent does not have, or
arguments that are not JSON. The SDK logs each such call as an action with no action in it, then an error telling
the model what went wrong; that is no step. The agent is nudged on when the SDK's stuck detection ends the
conversation, a bounded number of times; then the issue ends as a protocol failure (`bad_tool_call`, the last
error as its detail), and a streak of them stops the run with exit status 2 and the message about the model's
setup. A few bad calls among good ones, or good ones and then bad ones, are no protocol failure. The real agent
against the scripted model server with injected faults (awm.demo.scripted FAULTS)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from test_agent_limits import make_checkout

from awm.agent.runner import NUDGES, AgentRunner
from awm.demo.scripted import ScriptedServer
from awm.records import Issue
from awm.run.diagnoses import PROTOCOL_CAUSES, protocol_failure
from awm.spec import AgentSpec, LLMSpec
from conftest import cli

pytestmark = pytest.mark.filterwarnings("ignore:Cost calculation failed")
slow = pytest.mark.slow  # the real agent: the stack's import, then seconds per issue


def sh(command: str) -> dict:
    return {"tool": "terminal", "args": {"command": command}}


FIX = {"tool": "file_editor", "args": {"command": "str_replace", "path": "{repo}/calc.py",
                                       "old_str": "return a - b", "new_str": "return a + b"}}
SCRIPTS = {
    "calls-warm": {"match": "WARM-UP", "steps": [sh("echo warm")]},
    # the first command in a fresh tmux pane can lose its output: a quick one first (see test_agent_limits)
    "calls-fix": {"match": "FIX-ADD", "steps": [sh("echo ready"), FIX, sh("cd {repo} && python -c 'import calc; "
                                                                          "print(calc.add(2, 3))'"),
                                                {"tool": "finish", "args": {"message": "Fixed add."}}]},
    "calls-weak": {"match": "LOOK-ONLY", "steps": [sh("echo ready"), sh("cat {repo}/calc.py"),
                                                   {"tool": "finish", "args": {"message": "Looks fine to me."}}]},
    "calls-then-stuck": {"match": "WORK-THEN-STUCK", "steps": [sh("echo ready"), sh("ls {repo}"),
                                                               *[sh(f"echo more-{i}") for i in range(10)]]},
}
# the most model calls an issue of a model whose every call is rejected may take: the SDK's stuck detection ends a
# conversation after 4 repeats of one rejected call, and each nudge starts one more
MAX_CALLS = 4 * (NUDGES + 1)
ERRORS = {"unknown_tool*": "Tool 'run_shell' not found", "bad_arguments*": "Error validating tool 'terminal'"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ScriptedServer(scripts=SCRIPTS) as running:
        tmp = tmp_path_factory.mktemp("warm-up")  # the stack's import and first model call, off the issues' clocks
        checkout = make_checkout(tmp)
        try:
            run_agent(running, checkout, tmp, "calls-warm", max_iterations=1)
        finally:
            checkout.close()
        yield running


@pytest.fixture
def workspace(tmp_path):
    checkout = make_checkout(tmp_path)
    yield checkout
    checkout.close()


def run_agent(server, workspace, tmp_path, instance_id: str, *, max_iterations: int = 30, on_event=None):
    llm = LLMSpec(model="openai/scripted", base_url=server.base_url, num_retries=0)
    issue = Issue(instance_id=instance_id, repo="acme/calc", base_commit=workspace.base_commit,
                  problem_statement=f"Please do this: {SCRIPTS[instance_id]['match']}.")
    events: list[tuple[str, str, str, object]] = []

    def record(kind, tool, text, progress=None) -> None:
        events.append((kind, tool, text, progress))
        if on_event is not None:
            on_event(kind, tool, text)

    before = len(agent_requests(server))
    result = AgentRunner(AgentSpec(max_iterations=max_iterations, timeout_minutes=3), llm).run(
        issue, workspace, "", record, tmp_path / "logs" / f"{instance_id}.log",
        tmp_path / "logs" / f"{instance_id}.trajectory.json")
    return result, events, len(agent_requests(server)) - before


def agent_requests(server) -> list[dict]:
    return [r for r in server.requests if r["kind"] == "agent"]


# ---------------------------------------------------------------- one issue, the real agent


@slow
@pytest.mark.parametrize("fault", list(ERRORS))
def test_a_model_whose_every_tool_call_is_rejected_ends_the_issue_as_bad_tool_call(server, workspace, tmp_path, fault):
    server.faults = {"agent": [fault]}
    try:
        result, events, calls = run_agent(server, workspace, tmp_path, "calls-fix")
    finally:
        server.faults = {}
    assert result.protocol == "bad_tool_call", (result.status, result.protocol, result.error)
    assert result.protocol_detail.startswith(ERRORS[fault]), result.protocol_detail  # the SDK's last tool error
    assert result.nudges == NUDGES and result.status == "stuck"
    assert NUDGES + 1 < calls <= MAX_CALLS, calls  # nudged on, and bounded
    assert result.steps == 0 and result.patch == ""  # a rejected call is no step
    assert all(p.steps == 0 for *_, p in events if p is not None)  # nor in the live progress
    assert protocol_failure(result) == "bad_tool_call"  # the loop takes the runner's verdict
    # the log shows each rejected call as the model made it, and the error after it
    log = (tmp_path / "logs" / "calls-fix.log").read_text()
    shown = '{"command": "ls"}' if fault == "unknown_tool*" else "(arguments that are not a JSON object)"
    assert log.count(shown) == calls and log.count(ERRORS[fault]) >= calls, log[-2000:]
    assert f"(nudged {NUDGES} times)" in log


@slow
def test_a_few_rejected_calls_among_good_ones_are_no_protocol_failure(server, workspace, tmp_path):
    server.faults = {"agent": ["unknown_tool", "bad_arguments", "unknown_tool"]}  # the first three replies only
    try:
        result, events, calls = run_agent(server, workspace, tmp_path, "calls-fix")
    finally:
        server.faults = {}
    assert result.status == "finished" and result.protocol == "" and result.protocol_detail == ""
    assert result.nudges == 0 and calls == 3 + 4
    assert result.steps == 4  # the script's four calls; the three rejected ones are no steps
    assert "return a + b" in result.patch
    assert sum(1 for kind, *_ in events if kind == "error") == 3
    assert protocol_failure(result) == ""


@slow
def test_a_model_that_uses_the_tools_but_fixes_nothing_is_a_plain_failure(server, workspace, tmp_path):
    result, _, calls = run_agent(server, workspace, tmp_path, "calls-weak")
    assert result.status == "finished" and result.patch == "" and result.steps == 3 and calls == 3
    assert result.protocol == "" and result.nudges == 0
    assert protocol_failure(result) == ""  # a weak model's FAIL, no protocol cause


@slow
def test_good_calls_then_rejected_ones_are_nudged_but_no_protocol_failure(server, workspace, tmp_path):
    def go_wrong_after_the_first_tool_runs(kind, tool, text):
        if kind == "observation" and not server.faults:
            server.faults = {"agent": ["unknown_tool*"]}

    try:
        result, _, calls = run_agent(server, workspace, tmp_path, "calls-then-stuck",
                                     on_event=go_wrong_after_the_first_tool_runs)
    finally:
        server.faults = {}
    assert result.status == "stuck" and result.nudges == NUDGES and calls <= 1 + MAX_CALLS
    assert result.steps == 1  # the one call that ran
    assert result.protocol == "" and protocol_failure(result) == ""  # it used the tools: not the model's setup


# ---------------------------------------------------------------- a whole headless run

SPEC = """name: tool-call-faults
llm:
  model: openai/faulty-tool-caller
  base_url: {base_url}
  num_retries: 0
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: 4
repos:
  awm-bench/tallyho: builtin:minibench
agent:
  max_iterations: 30
max_consecutive_errors: 2
"""


@slow
@pytest.mark.parametrize("fault", list(ERRORS))
def test_a_run_of_a_model_whose_tool_calls_are_rejected_stops_with_exit_2(awm_home, tmp_path, fault):
    with ScriptedServer() as faulty:  # the bundled instances' scripts, every agent reply the fault
        faulty.faults = {"agent": [fault]}
        spec = tmp_path / "spec.yaml"
        spec.write_text(SPEC.format(base_url=faulty.base_url))
        env = {**os.environ, "AWM_TUI_HOME": str(awm_home), "HF_HUB_OFFLINE": "1"}  # the bundled repository once
        proc = subprocess.run(cli("--no-ui", str(spec), "--output-dir", str(tmp_path / "run")), cwd=tmp_path,
                              capture_output=True, text=True, timeout=600, env=env)
        calls = len(agent_requests(faulty))
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: stopped after 2 issues in a row") and "\n" not in message, message
    for words in (PROTOCOL_CAUSES["bad_tool_call"], ERRORS[fault], "broken model setup", "native tool",
                  f"field `llm` of {spec}", "--resume"):
        assert words in message, (words, message)
    assert "stopped after" not in proc.stdout  # the stop message once, on stderr
    assert "awm-tui: aborted: " in proc.stdout
    issue_lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(issue_lines) == 2 and all(" FAIL " in line for line in issue_lines), proc.stdout
    assert calls <= 2 * MAX_CALLS
    # the streak is forgotten: redone on resume, not kept in the journal
    run = tmp_path / "run"
    assert (run / "experiences.jsonl").read_text().strip() == ""
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert checkpoint["status"] == "aborted" and checkpoint["finished_ids"] == []
    assert ERRORS[fault] in (run / "logs" / "instance_awm-bench__tallyho-1.log").read_text()


def test_the_faults_are_told_apart_by_the_scripted_server():
    """The scripted server's tool-call faults are no step of its script: the next good reply plays the step the
    fault replaced (what the mix test above relies on)."""
    from awm.demo.scripted import _faulted

    fault = {"role": "assistant", "tool_calls": [{"id": "call_fault_7", "function": {"name": "run_shell"}}]}
    good = {"role": "assistant", "tool_calls": [{"id": "call_ab12_0", "function": {"name": "terminal"}}]}
    assert _faulted(fault) and not _faulted(good) and not _faulted({"role": "assistant", "content": "hi"})
    with ScriptedServer(scripts=SCRIPTS) as running:
        messages = [{"role": "user", "content": "Please do this: FIX-ADD. Repository path: /r"}, fault, good]
        reply = running.agent_message("calls-fix", messages, 1)
    assert reply["tool_calls"][0]["function"]["name"] == "file_editor"  # step 1 (the fix), not step 2
