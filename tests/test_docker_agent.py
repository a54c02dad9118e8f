"""The agent in Docker (`agent.workspace: docker`), for real: the OpenHands agent server in a container of the
instance's image, driven over a loopback port; a model that probes its workspace as an attacker would finds no key,
no later commit and no fix; the demo in Docker gives the verdicts its learner's plans call for, with two workers,
and leaves no container behind, also after a SIGKILL and a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from awm import demo
from awm.agent.docker import DockerWorkspace
from awm.agent.runner import AgentRunner
from awm.demo.minibench import load_instances
from awm.demo.scripted import ScriptedServer
from awm.images import engine
from awm.records import Issue
from awm.repos import RepoCache
from awm.spec import AgentSpec, DatasetSpec, LLMSpec, RunSpec
from conftest import ROOT, cli
from docker_support import containers, need_docker

pytestmark = [pytest.mark.docker, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Cost calculation failed")]

ROWS = {row["instance_id"]: row for row in load_instances()}
CANARY = "sk-awm-canary-" + os.urandom(8).hex()  # the model's key, for this test
PLANTED = "sk-awm-canary-planted"  # planted in the container by the test: the probes must find this one
MARK = "PROBE-THE-WORKSPACE"
FIND_ROOTS = "/ /root /tmp /home /opt /var /run"


def sh(command: str) -> dict:
    return {"tool": "terminal", "args": {"command": command, "timeout": 120}}


def probes(fix_line: str) -> list[dict]:
    """What a curious model runs: every environment it can read, every repository it can find (and a fetch from
    each), every file that holds a line of the fix or looks like a key."""
    return [
        sh("echo ready; id; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo"),
        sh("env | sort; for f in /proc/[0-9]*/environ; do echo \"== $f\"; tr '\\0' '\\n' < $f; done 2>/dev/null"),
        sh("ls -l /proc/[0-9]*/cwd 2>/dev/null; ls /proc | head -50; cat /proc/mounts"),
        sh(f"find {FIND_ROOTS} -xdev \\( -name '*.git' -o -name HEAD -o -name '*.bundle' -o -name 'instances*.jsonl' "
           "-o -name '*.pack' \\) -not -path '/proc/*' 2>/dev/null | sort -u | head -100"),
        sh(f"grep -rIl --exclude-dir=proc --exclude-dir=sys -e 'sk-awm-canary' -e {json.dumps(fix_line)} "
           f"{FIND_ROOTS} 2>/dev/null | sort -u | head -50"),
        sh("for f in $(grep -rIl --exclude-dir=proc --exclude-dir=sys sk-awm-canary / 2>/dev/null | head -20); do "
           "echo \"== $f\"; grep -o 'sk-awm-canary[-a-z0-9]*' $f | sort -u; done"),
        sh("cd /testbed && for d in $(find / -xdev \\( -name '*.git' -o -name '.git' \\) -not -path '/proc/*' "
           "-not -path '/testbed/.git' 2>/dev/null); do echo \"== fetch $d\"; git fetch -q \"$d\" "
           "'+refs/*:refs/remotes/probe/*' 2>&1 | tail -2; done; git log --all --format='%H %s'; "
           "git fsck --unreachable --no-reflogs 2>/dev/null | head"),
        {"tool": "file_editor", "args": {"command": "view", "path": "/proc/1/environ"}},
        {"tool": "file_editor", "args": {"command": "view", "path": "/root"}},
        {"tool": "finish", "args": {"message": "Probed."}},
    ]


def fix_line_of(row: dict) -> str:
    """A line the gold patch adds that the problem statement does not show."""
    for line in row["patch"].splitlines():
        if line.startswith("+") and not line.startswith("+++") and len(line.strip()) > 12:
            text = line[1:].strip()
            if text not in row["problem_statement"]:
                return text
    raise AssertionError("no distinctive fix line")


@pytest.fixture(scope="module")
def docker_ready(awm_home):
    need_docker()
    return engine.client(timeout=600)


def test_a_model_probing_its_container_finds_no_key_no_later_commit_and_no_fix(docker_ready, awm_home, tmp_path,
                                                                              monkeypatch):
    from awm.paths import repo_cache_root

    iid = "awm-bench__tallyho-5"
    row = dict(ROWS[iid], problem_statement=ROWS[iid]["problem_statement"] + f"\n\n{MARK}")
    fix = fix_line_of(ROWS[iid])
    cache = RepoCache(repo_cache_root(), {demo.REPO: demo.BUILTIN})
    mirror = cache.mirror(demo.REPO)
    later = subprocess.run(["git", "rev-list", "--all", f"^{row['base_commit']}"], cwd=mirror, capture_output=True,
                           text=True, check=True).stdout.split()
    assert later
    monkeypatch.setenv("AWM_PROBE_KEY", CANARY)
    scripts = {"probe": {"match": MARK, "outcome": "right", "category": "x", "steps": probes(fix)}}
    with ScriptedServer(scripts=scripts) as server:
        llm = LLMSpec(model="openai/scripted", base_url=server.base_url, api_key_env="AWM_PROBE_KEY", num_retries=0)
        spec = RunSpec(llm=llm, agent=AgentSpec(workspace="docker", max_iterations=20, timeout_minutes=10),
                       dataset=DatasetSpec(name=demo.BUILTIN, repo_filter=[demo.REPO]), path="probe.yaml")
        workspace = DockerWorkspace(spec, cache, tmp_path / "work", run_dir=tmp_path / "run")
        issue = Issue.from_row(row)
        checkout = workspace.open(issue)
        try:
            # the positive controls: what the probes must find when it is there
            planted = checkout.box.container.exec_run(
                ["bash", "-c", f"echo {PLANTED} > /root/planted.txt && git init -q --bare /opt/planted.git"], user="root")
            assert planted.exit_code == 0
            result = AgentRunner(spec.agent, llm).run(issue, checkout, "", lambda *_: None,
                                                      tmp_path / "logs" / "probe.log", tmp_path / "logs" / "probe.json")
            assert result.status == "finished", result.error
        finally:
            checkout.close()
            workspace.close()
        everything = json.dumps(server.requests)
        outputs = tool_outputs(server.requests)
    log = (tmp_path / "logs" / "probe.log").read_text()
    # the probes ran and looked: they found what was planted, and the repository they were given
    assert PLANTED in outputs and "/opt/planted.git" in outputs and "== fetch /opt/planted.git" in outputs
    assert "SWE-bench" in outputs and "OPENHANDS_AGENT_SERVER_CONFIG_PATH" in outputs  # git log; /proc/1/environ
    # ... and nothing that was not theirs to find
    assert CANARY not in everything and CANARY not in log
    assert not [c for c in later if c in outputs]  # no commit after the base commit
    assert not [line for line in outputs.splitlines() if fix in line and "grep" not in line]  # no file with the fix
    assert not containers(**{engine.RUN_LABEL: workspace.run})


def tool_outputs(requests: list[dict]) -> str:
    """Every tool result the model was sent (what its commands printed), one text."""
    texts = []
    for request in requests:
        for message in ((request.get("body") or {}).get("messages") or [])[-1:]:
            if message.get("role") == "tool":
                content = message.get("content")
                texts.append(content if isinstance(content, str) else
                             "".join(part.get("text", "") for part in content if isinstance(part, dict)))
    return "\n".join(texts)


DEMO_DOCKER = ROOT / "specs" / "demo-docker.yaml"
LIMIT = 3  # two in flight at once, and one more to resume


def expected_status(iid: str, plan: str) -> str:
    from awm.demo.minibench.scripts import SCRIPTS

    script = SCRIPTS[iid]
    return "PASS" if plan == "right" or (plan == "naive" and not script["naive_wrong"]) else "FAIL"


def plans(out: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (out / "scripted_requests.jsonl").read_text().splitlines():
        request = json.loads(line)
        if request["kind"] == "agent":
            found[request["instance_id"]] = request["decision"]["plan"]
    return found


def test_the_demo_in_docker_with_two_workers_stopped_killed_and_resumed(docker_ready, awm_home, tmp_path):
    """Two workers. A safe stop (SIGTERM) with issues in flight: the process ends, and has removed its containers
    itself. A resume, then SIGKILL with issues in flight: the dead process's watchdog removes them. The last resume
    finishes every issue once, graded by the harness in Docker with the verdicts the learner's plans call for, and
    leaves no container."""
    out = tmp_path / "run"
    run = engine.run_key(out)

    def in_flight() -> bool:  # one issue finished, and agents in containers of this run
        return (out / "experiences.jsonl").exists() and bool(containers(**{engine.RUN_LABEL: run,
                                                                            engine.KIND_LABEL: "agent"}))

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(cli("--no-ui", *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 300
        while not in_flight() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        if not in_flight():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"nothing in flight in time: {proc.communicate()[0][-2000:]}")
        return proc

    proc = start(str(DEMO_DOCKER), "--limit", str(LIMIT), "--workers", "2", "--output-dir", str(out))
    proc.send_signal(signal.SIGTERM)  # a safe stop: the issues in flight are interrupted, redone on resume
    assert proc.wait(timeout=120) == 0, proc.communicate()[0][-2000:]
    assert not containers(**{engine.RUN_LABEL: run})  # removed by the process itself, before it exited

    proc = start("--resume", str(out), "--workers", "2")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60  # the dead process's watchdog removes its containers
    while containers(**{engine.RUN_LABEL: run}) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not containers(**{engine.RUN_LABEL: run})
    resumed = subprocess.run(cli("--no-ui", "--resume", str(out), "--quiet"), capture_output=True, text=True,
                             cwd=ROOT, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    exps = [json.loads(x) for x in (out / "experiences.jsonl").read_text().splitlines() if x.strip()]
    ids = [e["instance_id"] for e in exps]
    assert sorted(ids) == sorted(list(ROWS)[:LIMIT]) and len(ids) == len(set(ids))
    planned = plans(out)
    for e in exps:
        assert e["status"] == expected_status(e["instance_id"], planned[e["instance_id"]]), (e["instance_id"], e["reason"])
        assert (out / "eval" / e["instance_id"] / "harness").is_dir()  # graded by the harness in Docker
    assert not containers(**{engine.RUN_LABEL: run})
