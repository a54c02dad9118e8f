"""The agent's limits and outputs, with the real OpenHands agent (terminal, file editor) driven by the scripted
model server: iteration limit, wall-clock timeout, cancellation, the patch, the log, the trajectory, live events
and metrics."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from awm.agent.runner import AgentRunner
from awm.agent.workspace import LocalCheckout
from awm.demo.scripted import ScriptedServer
from awm.spec import AgentSpec, LLMSpec, RunSpec
from awm.records import Issue
from support.git import git

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Cost calculation failed")]


def sh(command: str) -> dict:
    return {"tool": "terminal", "args": {"command": command}}


def script(match: str, *steps: dict) -> dict:
    return {"match": match, "outcome": "right", "category": "x", "steps": list(steps)}


# The first command in the agent's fresh tmux pane can be reported done before it has even run (its output is
# lost) when it comes at once, as the scripted model's does; so scripts whose first command matters start with a
# quick one.
READY = sh("echo ready")

SCRIPTS = {
    "limits-warm": script("WARM-UP", sh("echo warm")),
    "limits-echo": script("ECHO-SIX-TIMES", *[sh(f"echo step-{i}") for i in range(6)]),
    "limits-sleep": script("SLEEP-FIRST", READY, sh("sleep 5; echo slept"),
                           *[sh(f"echo after-{i}") for i in range(4)]),
    "limits-cancel": script("CANCEL-ME", READY, *[sh(f"sleep 1; echo slow-{i}") for i in range(5)]),
    "limits-edit": script(
        "EDIT-AND-CREATE",
        READY,
        {"tool": "file_editor", "args": {"command": "view", "path": "{repo}/calc.py"}},
        {"tool": "file_editor", "args": {"command": "str_replace", "path": "{repo}/calc.py",
                                         "old_str": "return a - b", "new_str": "return a + b"}},
        {"tool": "file_editor", "args": {"command": "create", "path": "{repo}/pkg/helpers.py",
                                         "file_text": "def double(x):\n    return 2 * x\n"}},
        sh("cd {repo} && python -m py_compile calc.py pkg/helpers.py && "
           "python -c 'import calc, pkg.helpers; print(calc.add(2, 3), pkg.helpers.double(4))'"),
        {"tool": "finish", "args": {"message": "Fixed add and added a helper."}},
    ),
    "limits-talks-then-works": script(
        "TALK-FIRST",
        {"text": "I would change calc.py so that add adds."},
        {"tool": "file_editor", "args": {"command": "str_replace", "path": "{repo}/calc.py",
                                         "old_str": "return a - b", "new_str": "return a + b"}},
        {"tool": "finish", "args": {"message": "Fixed add."}},
    ),
    # the whole `env` would be cut in the middle when long (observations are shortened): its lines are searched
    "limits-env": script("SHOW-ENV", READY, sh("env | grep -F sk-test-not-for-the-agent || echo no-key-in-env; "
                                               "echo path-set=${PATH:+yes} vars=$(env | wc -l)")),
    "limits-only-talks": script("ONLY-TALK", *[{"text": f"Here is my plan, part {i}."} for i in range(6)]),
    "limits-loop": script("PRINT-FOR-SIX-SECONDS", READY,
                          sh("for i in $(seq 1 12); do echo tick-$i; sleep 0.5; done"),
                          *[sh(f"echo later-{i}") for i in range(3)]),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ScriptedServer(scripts=SCRIPTS) as running:
        # One agent step, off the clock: the stack's import, and the first conversation's and first model call's own
        # start-up (the HTTP client stack is imported on the first call: 1 s, 5 s and more on a loaded machine).
        # A step waiting on the model cannot be cut short: a deadline falling on that start-up let a 6 s command
        # then run to its end.
        tmp = tmp_path_factory.mktemp("warm-up")
        checkout = make_checkout(tmp)
        try:
            run_agent(running, checkout, tmp, "limits-warm", max_iterations=1)
        finally:
            checkout.close()
        yield running


def make_checkout(tmp_path: Path, hide_env: tuple[str, ...] = ()) -> LocalCheckout:
    """A local checkout, as LocalWorkspace opens one (a folder of its own, which closing it removes)."""
    repo = tmp_path / "checkout" / "repo"
    repo.mkdir(parents=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "base")
    return LocalCheckout(repo, git(repo, "rev-parse", "HEAD").strip(), AgentSpec().terminal, hide_env=hide_env)


@pytest.fixture
def workspace(tmp_path):
    checkout = make_checkout(tmp_path)
    yield checkout
    checkout.close()


PROGRESS: list = []  # the progress passed with each event of the last run_agent


def run_agent(server, workspace, tmp_path, instance_id: str, *, max_iterations: int = 30,
              timeout_minutes: float = 2.0, cancel: threading.Event | None = None, memory: str = "",
              on_event=None, **llm):
    spec = RunSpec(llm=LLMSpec(model="openai/scripted", base_url=llm.pop("base_url", server.base_url),
                               num_retries=0, **llm),
                   agent=AgentSpec(max_iterations=max_iterations, timeout_minutes=timeout_minutes))
    issue = Issue(instance_id=instance_id, repo="acme/calc", base_commit=workspace.base_commit,
                  problem_statement=f"Please do this: {SCRIPTS.get(instance_id, {}).get('match', 'nothing')}.")
    events: list[tuple[float, str, str, str]] = []
    PROGRESS.clear()
    started = time.monotonic()

    def record(kind: str, tool: str, text: str, progress=None) -> None:
        events.append((time.monotonic() - started, kind, tool, text))
        PROGRESS.append(progress)
        if on_event is not None:
            on_event(kind, tool, text)

    result = AgentRunner(spec.agent, spec.llm).run(issue, workspace, memory, record,
                                                   tmp_path / "logs" / f"{instance_id}.log",
                                                   tmp_path / "logs" / f"{instance_id}.trajectory.json", cancel=cancel)
    return result, events, time.monotonic() - started


def actions(events) -> list[str]:
    return [text for _, kind, _, text in events if kind == "action"]


def observations(events) -> list[str]:
    return [text for _, kind, _, text in events if kind == "observation"]


def agent_requests(server, instance_id: str) -> list[dict]:
    return [r for r in server.requests if r["kind"] == "agent" and r["instance_id"] == instance_id]


# ---------------------------------------------------------------- limits


def test_iteration_limit_stops_the_agent(server, workspace, tmp_path):
    result, events, _ = run_agent(server, workspace, tmp_path, "limits-echo", max_iterations=3)
    assert result.status == "max_iterations", result.error
    assert result.steps == 3 and actions(events) == ["$ echo step-0", "$ echo step-1", "$ echo step-2"]
    assert any("MaxIterationsReached" in text for _, kind, _, text in events if kind == "error")
    assert len(agent_requests(server, "limits-echo")) <= 3  # the model was not asked for a 4th step
    assert result.patch == ""


def test_wall_clock_timeout_stops_the_agent_after_the_running_step(server, workspace, tmp_path):
    # 3.6 s deadline: well after the agent's start-up (~1 s), well before the long step (5 s) ends.
    result, events, elapsed = run_agent(server, workspace, tmp_path, "limits-sleep", timeout_minutes=0.06)
    assert result.status == "timeout"
    assert actions(events) == ["$ echo ready", "$ sleep 5; echo slept"]  # no step after the deadline
    assert not any("after-" in text for _, _, _, text in events)
    assert elapsed < 10


def test_cancel_stops_the_agent_between_steps(server, workspace, tmp_path):
    cancel = threading.Event()

    def cancel_on_first_slow_step(kind, tool, text):
        if kind == "action" and "slow-0" in text:
            cancel.set()

    result, events, elapsed = run_agent(server, workspace, tmp_path, "limits-cancel", cancel=cancel,
                                        on_event=cancel_on_first_slow_step)
    assert result.status == "cancelled"
    assert actions(events) == ["$ echo ready", "$ sleep 1; echo slow-0"]
    assert observations(events)[1:] == ["slow-0"]  # the step in flight ends; no new one starts
    assert elapsed < 10


def test_a_cancel_already_set_runs_no_step(server, workspace, tmp_path):
    cancel = threading.Event()
    cancel.set()
    result, events, _ = run_agent(server, workspace, tmp_path, "limits-echo", cancel=cancel)
    assert actions(events) == []
    assert result.status == "cancelled"


def test_a_deadline_passed_during_start_up_runs_no_more_steps(server, workspace, tmp_path):
    result, events, _ = run_agent(server, workspace, tmp_path, "limits-echo", timeout_minutes=0.0002)  # 12 ms
    assert result.status == "timeout"
    assert len(actions(events)) <= 1


def test_the_deadline_interrupts_a_long_running_command(server, workspace, tmp_path):
    # 2.4 s deadline, a command that prints for 6 s; Ctrl-C comes GRACE_S after the deadline
    result, events, elapsed = run_agent(server, workspace, tmp_path, "limits-loop", timeout_minutes=0.04)
    assert result.status == "timeout"
    assert actions(events)[-1].startswith("$ for i in"), actions(events)  # the deadline fell on the command ...
    assert "tick-12" not in observations(events)[-1]  # ... which Ctrl-C cut short
    assert elapsed < 5.5, f"returned after {elapsed:.1f} s"


# ---------------------------------------------------------------- outputs


def test_patch_log_trajectory_events_and_metrics(server, workspace, tmp_path):
    repo, base = workspace.path, workspace.base_commit
    memory = "## Workflow: Check the sign\nWhen to use: arithmetic is wrong.\nSteps:\n1. look — `grep`"
    result, events, _ = run_agent(server, workspace, tmp_path, "limits-edit", memory=memory,
                                  input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    assert result.status == "finished", result.error

    # the edits are on disk, and the patch is exactly them: applied to a fresh clone at the base it gives the same tree
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (repo / "pkg" / "helpers.py").read_text() == "def double(x):\n    return 2 * x\n"
    assert list(repo.rglob("__pycache__/*.pyc"))  # the python step left bytecode behind ...
    files = sorted(line.split(" b/")[-1] for line in result.patch.splitlines() if line.startswith("diff --git"))
    assert files == ["calc.py", "pkg/helpers.py"]  # ... which is not part of the patch
    assert "-    return a - b\n+    return a + b\n" in result.patch and "new file mode" in result.patch
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(repo), str(fresh))
    git(fresh, "checkout", "-q", base)
    subprocess.run(["git", "apply", "-"], cwd=fresh, input=result.patch, text=True, check=True)
    for name in ("calc.py", "pkg/helpers.py", "pkg/__init__.py"):
        assert (fresh / name).read_text() == (repo / name).read_text()

    # live events: the prompt, then action/observation pairs in the script's order, then finish
    kinds = [kind for _, kind, _, _ in events]
    assert kinds[:2] == ["system", "message"] and "EDIT-AND-CREATE" in events[1][3]
    steps = [(kind, tool) for _, kind, tool, _ in events if kind in ("action", "observation")]
    expected_tools = ["terminal", "file_editor", "file_editor", "file_editor", "terminal", "finish"]
    assert steps == [pair for tool in expected_tools for pair in (("action", tool), ("observation", tool))]
    times = [t for t, *_ in events]
    assert times == sorted(times)
    assert actions(events)[2].startswith("str_replace ") and str(repo / "calc.py") in actions(events)[2]
    assert observations(events)[4] == "5 8"
    assert result.steps == 6 and [s.tool for s in result.history] == expected_tools
    assert result.history[4].observation == "5 8"

    # the log and the trajectory
    log = (tmp_path / "logs" / "limits-edit.log").read_text()
    assert log.startswith("# limits-edit  repo acme/calc  base " + base)
    assert memory in log and "ACTION terminal" in log and "OBSERVATION terminal" in log
    assert log.rstrip().endswith("# agent status: finished")
    trajectory = json.loads((tmp_path / "logs" / "limits-edit.trajectory.json").read_text())
    assert isinstance(trajectory, list) and len(trajectory) >= len(events)
    assert sum(1 for e in trajectory if e.get("kind") == "ActionEvent") == 6
    assert sum(1 for e in trajectory if e.get("kind") == "ObservationEvent") == 6

    # the memory reached the model in the system prompt; the agent never saw anything but the issue
    first = agent_requests(server, "limits-edit")[0]["body"]["messages"]
    system = first[0]["content"] if isinstance(first[0]["content"], str) else "".join(
        part.get("text", "") for part in first[0]["content"])
    assert "## Workflow: Check the sign" in system

    # the progress each event carries: actions so far, cost and tokens so far, never going back; the last is the total
    steps = [p.steps for p in PROGRESS]
    assert steps == sorted(steps) and steps[-1] == 6 and steps[kinds.index("action")] == 1
    assert [p.cost for p in PROGRESS] == sorted(p.cost for p in PROGRESS) and PROGRESS[-1].cost > 0
    assert PROGRESS[-1].tokens == result.prompt_tokens + result.completion_tokens

    # metrics
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.cost == pytest.approx(result.prompt_tokens * 1e-6 + result.completion_tokens * 2e-6, rel=0.01)
    assert result.setup_s > 0 and result.model_wait_s > 0 and result.tool_s > 0


def test_no_cost_without_prices_and_tokens_still_counted(server, workspace, tmp_path):
    result, _, _ = run_agent(server, workspace, tmp_path, "limits-echo", max_iterations=2)
    assert result.prompt_tokens > 0 and result.cost == 0.0


def test_an_unreachable_model_is_an_error_with_the_outputs_still_written(server, workspace, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result, events, elapsed = run_agent(server, workspace, tmp_path, "limits-echo",
                                        base_url=f"http://127.0.0.1:{port}/v1", timeout=5)
    assert result.status == "error" and result.error
    assert actions(events) == [] and result.steps == 0 and result.patch == ""
    assert (tmp_path / "logs" / "limits-echo.log").read_text().rstrip().splitlines()[-1].startswith(
        "# agent status: error")
    json.loads((tmp_path / "logs" / "limits-echo.trajectory.json").read_text())
    assert elapsed < 30


# ---------------------------------------------------------------- replies with no tool call


def test_a_reply_in_words_gets_a_nudge_and_the_agent_goes_on(server, workspace, tmp_path):
    result, events, _ = run_agent(server, workspace, tmp_path, "limits-talks-then-works")
    assert result.status == "finished" and result.nudges == 1 and result.protocol == ""
    assert "return a + b" in result.patch


def test_a_model_that_only_talks_is_a_protocol_failure_after_the_nudges(server, workspace, tmp_path):
    result, events, _ = run_agent(server, workspace, tmp_path, "limits-only-talks")
    assert result.nudges == 3 and result.protocol == "no_tool_call" and result.patch == ""
    assert "part 3" in result.protocol_detail  # the last reply, after three nudges


def test_the_agents_env_shows_no_model_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("AWM_TEST_MODEL_KEY", "sk-test-not-for-the-agent-123")
    checkout = make_checkout(tmp_path, hide_env=("AWM_TEST_MODEL_KEY",))
    try:
        result, events, _ = run_agent(server, checkout, tmp_path, "limits-env")
    finally:
        checkout.close()
    shown = "\n".join(observations(events))
    assert "path-set=yes" in shown  # the agent's shell ran with its environment ...
    assert "no-key-in-env" in shown and "sk-test-not-for-the-agent-123" not in shown  # ... without the key
