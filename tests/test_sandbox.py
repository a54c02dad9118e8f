"""The sandboxed agent, up to the Docker boundary: image names, the availability check and its messages, the
agent-server image, and the container set-up and patch commands (with a fake workspace)."""

from __future__ import annotations

import importlib.util
import subprocess
from types import SimpleNamespace

import pytest

from awm.agent import docker as sandbox
from awm.errors import UserError
from awm.agent.docker import Sandbox, check_available, image_for, open_sandbox, server_image_for
from awm.spec import AgentSpec, LLMSpec, RunSpec
from awm.records import Issue

SPEC = RunSpec(llm=LLMSpec(model="openai/gpt-4o"), agent=AgentSpec(workspace="docker"), path="specs/x.yaml")
ISSUE = Issue(instance_id="django__django-11099", repo="django/django", base_commit="d26b242", problem_statement="p")


@pytest.mark.parametrize("instance_id, image", [
    ("django__django-11099", "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"),
    ("sympy__sympy-20590", "swebench/sweb.eval.x86_64.sympy_1776_sympy-20590:latest"),
    ("scikit-learn__scikit-learn-13142", "swebench/sweb.eval.x86_64.scikit-learn_1776_scikit-learn-13142:latest"),
    ("psf__requests-2317", "swebench/sweb.eval.x86_64.psf_1776_requests-2317:latest"),
    ("pylint-dev__pylint-7080", "swebench/sweb.eval.x86_64.pylint-dev_1776_pylint-7080:latest"),
    ("Org__Repo-12", "swebench/sweb.eval.x86_64.org_1776_repo-12:latest"),
])
def test_image_names_match_the_harness(instance_id, image):
    from swebench.harness.test_spec.test_spec import TestSpec

    assert image_for(instance_id) == image
    assert image_for(Issue(instance_id=instance_id, repo="r", base_commit="c", problem_statement="")) == image
    spec = TestSpec(instance_id=instance_id, repo="django/django", version="3.0", repo_script_list=[],
                    eval_script_list=[], env_script_list=[], arch="x86_64", FAIL_TO_PASS=[], PASS_TO_PASS=[],
                    language="py", docker_specs={}, namespace="swebench")
    assert spec.instance_image_key == image


def test_check_available_here_names_the_missing_package():
    if importlib.util.find_spec("openhands.workspace") is not None:
        pytest.skip("openhands-workspace is installed here")
    with pytest.raises(UserError) as err:
        check_available(SPEC)
    assert err.value.field == "agent.workspace"
    message = str(err.value.at("specs/x.yaml"))
    assert message.startswith("specs/x.yaml, field `agent.workspace`:")
    assert "`openhands.workspace` is not importable" in message and "AWM_TUI_EXTRAS=docker scripts/bootstrap.sh" in message
    assert "`agent.workspace: local` (the agent's commands then run on this machine" in message
    assert "\n" not in message


class Ping:
    def __init__(self, error: Exception | None = None):
        self.error = error

    def ping(self):
        if self.error:
            raise self.error


@pytest.fixture
def with_package(monkeypatch):
    monkeypatch.setattr(sandbox, "_import_workspace", lambda: SimpleNamespace(DockerWorkspace=None))
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_check_available_without_an_engine(with_package):
    with pytest.raises(UserError) as err:
        check_available(SPEC, Ping(ConnectionError("connection refused")), server_image="x:{tag}")
    assert "field `agent.workspace`" in str(err.value)
    assert "no Docker engine is reachable (ConnectionError: connection refused)" in str(err.value)
    assert "DOCKER_HOST" in str(err.value) and "agent.workspace: local" in str(err.value)


def test_check_available_with_the_real_client_here(with_package):
    import docker

    try:
        docker.from_env().ping()
        pytest.skip("a Docker engine is reachable here")
    except Exception:  # noqa: BLE001
        pass
    with pytest.raises(UserError, match="no Docker engine is reachable"):
        check_available(SPEC, server_image="x:{tag}")


def test_check_available_without_the_docker_command(monkeypatch):
    monkeypatch.setattr(sandbox, "_import_workspace", lambda: None)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="needs the `docker` command"):
        check_available(SPEC, Ping(), server_image="x:{tag}")


def test_check_available_needs_a_way_to_the_agent_server_images(with_package, tmp_path):
    with pytest.raises(UserError) as err:
        check_available(SPEC, Ping())
    assert "`agent.server_image`" in str(err.value) and "`agent.sdk_root`" in str(err.value)
    with pytest.raises(UserError, match="field `agent.sdk_root`: .* is not a checkout"):
        check_available(SPEC, Ping(), sdk_root=str(tmp_path))
    dockerfile = tmp_path / "openhands-agent-server/openhands/agent_server/docker/Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    dockerfile.write_text("FROM x\n")
    check_available(SPEC, Ping(), sdk_root=str(tmp_path))
    check_available(SPEC, Ping(), server_image="registry/agent:{tag}")


@pytest.mark.parametrize("model, base_url", [
    ("openai/local", "http://127.0.0.1:8000/v1"),
    ("openai/local", "http://localhost:11434/v1"),
    ("scripted/demo", None),
])
def test_check_available_refuses_a_model_only_this_machine_can_reach(with_package, model, base_url):
    spec = RunSpec(llm=LLMSpec(model=model, base_url=base_url), agent=AgentSpec(workspace="docker"), path="s.yaml")
    with pytest.raises(UserError, match="field `llm.base_url`: .* called from inside the container"):
        check_available(spec, Ping(), server_image="x")
    remote = RunSpec(llm=LLMSpec(model=model, base_url="http://172.17.0.1:8000/v1"),
                     agent=AgentSpec(workspace="docker"))
    if not remote.llm.scripted:
        check_available(remote, Ping(), server_image="x")


def test_server_image_from_a_template():
    assert server_image_for(ISSUE, "ghcr.io/me/agent:{tag}-source-minimal") == (
        "ghcr.io/me/agent:sweb.eval.x86_64.django_1776_django-11099-source-minimal")
    assert server_image_for(ISSUE, "{image}") == image_for(ISSUE)
    assert server_image_for(ISSUE, "x:{instance_id}") == "x:django__django-11099"


def test_server_image_built_from_the_sdk_checkout(tmp_path):
    calls = []

    def run(argv, **kw):
        calls.append((argv, kw))
        return subprocess.CompletedProcess(argv, 0, stdout="#1 building\nawm-agent-server:abc1234-x-source-minimal\n",
                                           stderr="")

    assert server_image_for(ISSUE, sdk_root=tmp_path, run=run) == "awm-agent-server:abc1234-x-source-minimal"
    argv, kw = calls[0]
    assert argv[-2:] == [image_for(ISSUE), "source-minimal"] and kw["cwd"] == str(tmp_path)

    def failing(argv, **kw):
        return subprocess.CompletedProcess(argv, 1, stdout="", stderr="step 3\nERROR: failed to solve: base image\n")

    with pytest.raises(RuntimeError, match="building the agent-server image on swebench/.* failed: ERROR: failed"):
        server_image_for(ISSUE, sdk_root=tmp_path, run=failing)
    with pytest.raises(ValueError):
        server_image_for(ISSUE)


def test_the_build_snippet_compiles():
    compile(sandbox._BUILD, "<build>", "exec")


class FakeWorkspace:
    def __init__(self, **kw):
        self.kw = kw
        self._container_id = "c0ffee"
        self.commands: list[tuple[str, str | None]] = []
        self.cleaned = False
        self.fail_on: str | None = None

    def execute_command(self, command, cwd=None, timeout=30.0):
        self.commands.append((command, cwd))
        failed = self.fail_on is not None and self.fail_on in command
        stdout = "1111111111111111111111111111111111111111\n" if "rev-parse" in command else "diff --git a/x b/x\n"
        return SimpleNamespace(command=command, exit_code=1 if failed else 0, stdout="" if failed else stdout,
                               stderr="fatal: boom" if failed else "")

    def cleanup(self):
        self.cleaned = True


def test_open_sandbox_hands_testbed_to_the_agent_and_notes_the_start():
    runs = []
    made = []

    def factory(**kw):
        made.append(FakeWorkspace(**kw))
        return made[-1]

    box = open_sandbox(ISSUE, "awm-agent-server:t", workspace_factory=factory,
                       run=lambda argv, **kw: runs.append(argv) or subprocess.CompletedProcess(argv, 0, "", ""))
    ws = made[0]
    assert ws.kw == {"server_image": "awm-agent-server:t", "working_dir": "/testbed", "detach_logs": False,
                     "cleanup_image": False}
    assert runs == [["docker", "exec", "--user", "root", "c0ffee", "chown", "-R", "openhands:", "/testbed"]]
    assert "conda activate testbed" in ws.commands[0][0] and ">> ~/.bashrc" in ws.commands[0][0]
    assert ws.commands[1] == ("git rev-parse HEAD", "/testbed")
    assert box.start == "1" * 40 and box.workspace is ws

    assert box.patch() == "diff --git a/x b/x\n"
    command, cwd = ws.commands[-1]
    assert cwd == "/testbed" and command.startswith("git add -A -- . ")
    assert f"diff --no-color --cached {'1' * 40} -- . " in command and "__pycache__" in command
    box.close()
    assert ws.cleaned


def test_a_failed_set_up_stops_the_container():
    made = []

    def factory(**kw):
        made.append(FakeWorkspace(**kw))
        made[-1].fail_on = "rev-parse"
        return made[-1]

    ok = lambda argv, **kw: subprocess.CompletedProcess(argv, 0, "", "")  # noqa: E731
    with pytest.raises(RuntimeError, match="`git rev-parse HEAD` failed in the container: fatal: boom"):
        open_sandbox(ISSUE, "img", workspace_factory=factory, run=ok)
    assert made[0].cleaned
    denied = lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", "permission denied")  # noqa: E731
    with pytest.raises(RuntimeError, match="could not hand /testbed to openhands: permission denied"):
        open_sandbox(ISSUE, "img", workspace_factory=factory, run=denied)


def test_a_failed_diff_is_an_error():
    ws = FakeWorkspace()
    ws.fail_on = "git add"
    with pytest.raises(RuntimeError, match="git diff in the container failed: fatal: boom"):
        Sandbox(ws, "abc").patch()


def test_open_for_reads_the_spec(monkeypatch):
    opened = []
    monkeypatch.setattr(sandbox, "open_sandbox", lambda issue, image, keep_image: opened.append((image, keep_image)))
    monkeypatch.setattr(sandbox, "server_image_for", lambda issue, image, root: image or f"built-from-{root}")
    sandbox.open_for(SimpleNamespace(agent=SimpleNamespace(server_image="pre:{tag}", sdk_root=None)), ISSUE)
    sandbox.open_for(SimpleNamespace(agent=SimpleNamespace(server_image=None, sdk_root="/sdk")), ISSUE)
    assert opened == [("pre:{tag}", True), ("built-from-/sdk", False)]
