"""The agent's processes end with its issue: what it leaves running in the background (a server, `sleep 300 &`,
something it sent to another folder or session) is killed when the issue's workspace closes, and when the awm-tui
process running it is killed (`kill -9`). The real agent stack (terminal of the SDK, either backend) with the
scripted model server; seconds each."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from awm import processes as limits
from awm.agent.runner import AgentRunner
from awm.agent.workspace import LocalCheckout
from awm.demo.scripted import ScriptedServer
from awm.records import Issue
from awm.spec import AgentSpec, LLMSpec
from test_cleanup_procs import alive, wait_gone

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Cost calculation failed"),
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc"),
]

ROOT = Path(__file__).resolve().parents[1]
TERMINALS = ["subprocess", pytest.param("tmux", marks=pytest.mark.skipif(
    subprocess.run(["which", "tmux"], capture_output=True).returncode != 0, reason="no tmux"))]


def sh(command: str) -> dict:
    return {"tool": "terminal", "args": {"command": command}}


PIDS = "{repo}/../../pids"  # beside the checkout's folder, which closing it removes
SCRIPTS = {
    "cleanup-background": {
        "match": "LEAVE-THINGS-RUNNING", "outcome": "right", "category": "x",
        "steps": [
            sh("echo ready"),  # a fresh tmux pane can lose its first command's output
            sh(f"sleep 300 & echo $! >> {PIDS}"),  # a background job, in the checkout
            sh(f"cd /tmp && setsid sh -c 'sleep 301 & echo $! >> {PIDS}' </dev/null >/dev/null 2>&1; cd {{repo}}"),
            sh(f"nohup sleep 302 >/dev/null 2>&1 & disown; echo $! >> {PIDS}"),
            {"tool": "finish", "args": {"message": "Left three sleeps running."}},
        ],
    },
}


@pytest.fixture(scope="module")
def server():
    with ScriptedServer(scripts=SCRIPTS) as running:
        AgentRunner(AgentSpec(), LLMSpec(model="openai/scripted")).warm_up()
        yield running



@pytest.mark.parametrize("terminal", TERMINALS)
def test_what_the_agent_leaves_running_ends_when_its_workspace_closes(server, tmp_path, terminal, kill_after):
    repo = tmp_path / "checkout" / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "--allow-empty",
                    "-m", "base"], cwd=repo, check=True)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    checkout = LocalCheckout(repo, base, terminal)
    issue = Issue(instance_id="cleanup-background", repo="acme/calc", base_commit=base,
                  problem_statement="Please do this: LEAVE-THINGS-RUNNING.")
    llm = LLMSpec(model="openai/scripted", base_url=server.base_url, num_retries=0)
    try:
        result = AgentRunner(AgentSpec(max_iterations=10, terminal=terminal), llm).run(
            issue, checkout, "", lambda *_: None, tmp_path / "logs" / "a.log", tmp_path / "logs" / "a.json")
        assert result.status == "finished", result.error
        pids = [int(line) for line in (tmp_path / "pids").read_text().split()]
        kill_after.extend(pids)
        assert len(pids) == 3
        # the agent's terminal is closed by now (tmux's hang-up ends the jobs of its shell's session); what it
        # started elsewhere is not, and carries the issue's tag ...
        if terminal == "tmux":  # the hang-up reaches the shell's jobs a moment later on a loaded machine
            wait_gone(pids[:1], within=5)
        survivors = [pid for pid in pids if alive(pid)]
        assert pids[1] in survivors  # sleep 301: in /tmp, a session of its own, its parent gone
        tag = f"{limits.TAG_VAR}={checkout.shell_env[limits.TAG_VAR]}".encode()
        assert all(tag in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in survivors)
    finally:
        leftovers = checkout.close()
    # ... until the workspace closes, which reports it
    assert wait_gone(pids, within=3) == []
    assert sorted(int(k.split(":")[0].split()[1]) for k in leftovers if "sleep 30" in k) == sorted(survivors)
    assert not repo.exists()


CHILD = """
import subprocess, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from awm.agent.workspace import LocalCheckout
from openhands.tools.terminal.definition import TerminalAction
from openhands.tools.terminal.terminal.factory import create_terminal_session

sessions = []  # kept: a session's terminal closes when it is collected
for terminal in {terminals!r}:
    checkout = LocalCheckout(Path({tmp!r}) / terminal / "repo", "base", terminal)
    checkout.path.mkdir(parents=True)
    session = create_terminal_session(checkout.repo_path, terminal_type=terminal, env=checkout.shell_env)
    session.initialize()
    sessions.append(session)
    session.execute(TerminalAction(command="echo ready"))
    out = session.execute(TerminalAction(command="cd /tmp && sleep 300 & echo SHELL=$$ BG=$!")).text
    # the numbers only: a terminal may echo the command line (its `SHELL=$$ BG=$!`) before the output
    pids = [w.split("=")[1] for w in out.split() if w.startswith(("SHELL=", "BG=")) and w.split("=")[1].isdigit()]
    if terminal == "tmux":  # its server: started by the SDK, not tagged; it must end with its last pane
        server = session.terminal.server
        pids.append(server.cmd("display-message", "-p", "#{{pid}}").stdout[0])
    print(terminal, *pids, flush=True)
time.sleep(300)
"""


def test_what_the_agent_leaves_running_ends_when_awm_tui_is_killed(tmp_path, kill_after):
    terminals = [t if isinstance(t, str) else t.values[0] for t in TERMINALS
                 if isinstance(t, str) or not any(m.args[0] for m in t.marks)]
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), tmp=str(tmp_path),
                                                                 terminals=terminals)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env={**os.environ, "OPENHANDS_SUPPRESS_BANNER": "1"})
    kill_after.append(child.pid)
    pids: dict[str, list[int]] = {}
    for _ in terminals:
        terminal, *numbers = child.stdout.readline().split()
        pids[terminal] = [int(n) for n in numbers]
        kill_after.extend(pids[terminal])
    assert sorted(pids) == sorted(terminals)
    everything = [pid for numbers in pids.values() for pid in numbers]
    assert all(alive(pid) for pid in everything), {pid: alive(pid) for pid in everything}
    started = time.monotonic()
    child.kill()  # SIGKILL: nothing of awm-tui's own runs
    child.wait()
    # the agent's shells and their background jobs (and tmux's server with them)
    assert wait_gone(everything, within=5) == [], "the watchdog did not end the agent's processes"
    assert time.monotonic() - started < 5


def test_ctrl_c_goes_to_a_running_command_never_to_the_shell_at_its_prompt(tmp_path):
    from openhands.tools.terminal.definition import TerminalAction
    from openhands.tools.terminal.terminal.factory import create_terminal_session

    checkout = LocalCheckout(tmp_path / "checkout" / "repo", "base", "subprocess")
    checkout.path.mkdir(parents=True)
    session = create_terminal_session(checkout.repo_path, terminal_type="subprocess", env=checkout.shell_env)
    session.initialize()
    try:
        assert "ready" in session.execute(TerminalAction(command="echo ready")).text
        assert limits.interrupt_commands([checkout.token]) == 0  # at the prompt: no ^C to garble the next command
        text = session.execute(TerminalAction(command="echo still-here")).text
        assert "still-here" in text and "^C" not in text
        session.terminal.send_keys("sleep 30; echo not-interrupted")
        deadline = time.monotonic() + 5
        while not any(p.tpgid != p.sid and p.tpgid > 0 for p in limits.find([checkout.token])):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        assert limits.interrupt_commands([checkout.token]) == 1
        while session.terminal.is_running():
            assert time.monotonic() - started < 3, "Ctrl-C did not stop the command"
            time.sleep(0.05)
        assert "not-interrupted" not in session.terminal.read_screen().split("sleep 30; echo not-interrupted")[-1]
    finally:
        session.close()
        checkout.close()
