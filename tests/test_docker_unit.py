"""The Docker paths in-process, with a fake engine (milliseconds): image names as the harness's, what is refused up
front and how, the agent container's start (host networking, labels, the session key in a file deleted once the
server is up, never in its environment), the harness's client defaults, the Debian mirror and the base's key."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from types import SimpleNamespace

import pytest

from awm.agent import docker as sandbox
from awm.agent.docker import AgentContainer, ContainerError, check_available, image_for, server_image_for
from awm.errors import UserError
from awm.images import build, engine
from awm.records import Issue
from awm.spec import AgentSpec, DatasetSpec, LLMSpec, RunSpec

DJANGO = RunSpec(llm=LLMSpec(model="openai/gpt-4o"), agent=AgentSpec(workspace="docker"), path="specs/x.yaml")
DEMO = RunSpec(llm=LLMSpec(model="scripted/learner"), agent=AgentSpec(workspace="docker"),
               dataset=DatasetSpec(name="builtin:minibench", repo_filter=["awm-bench/tallyho"]), path="specs/d.yaml")
ISSUE = Issue(instance_id="django__django-11099", repo="django/django", base_commit="d26b242", problem_statement="p")


@pytest.mark.parametrize("instance_id, image", [
    ("django__django-11099", "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"),
    ("sympy__sympy-20590", "swebench/sweb.eval.x86_64.sympy_1776_sympy-20590:latest"),
    ("scikit-learn__scikit-learn-13142", "swebench/sweb.eval.x86_64.scikit-learn_1776_scikit-learn-13142:latest"),
    ("Org__Repo-12", "swebench/sweb.eval.x86_64.org_1776_repo-12:latest"),
])
def test_image_names_match_the_harness(instance_id, image):
    from swebench.harness.test_spec.test_spec import TestSpec

    assert image_for(instance_id) == image
    spec = TestSpec(instance_id=instance_id, repo="django/django", version="3.0", repo_script_list=[],
                    eval_script_list=[], env_script_list=[], arch="x86_64", FAIL_TO_PASS=[], PASS_TO_PASS=[],
                    language="py", docker_specs={}, namespace="swebench")
    assert spec.instance_image_key == image


def test_the_demo_images_are_named_as_the_harness_names_local_ones():
    from awm.demo.minibench import load_instances
    from awm.images.specs import build_test_spec

    spec = build_test_spec(load_instances()[0], None)
    assert spec.instance_image_key == "sweb.eval.x86_64.awm-bench__tallyho-1:latest"
    assert spec.base_image_key == build.BASE_IMAGE and spec.env_image_key.startswith("sweb.env.py.x86_64.")
    # the harness's own scripts: the conda stand-in's commands, the clone the bundle answers, the eval's activation
    assert "conda create -n testbed python=3.13" in spec.setup_env_script
    assert "git clone -o origin  --single-branch https://github.com/awm-bench/tallyho /testbed" in \
        spec.install_repo_script
    assert "source /opt/miniconda3/bin/activate" in spec.eval_script and "conda activate testbed" in spec.eval_script


class Ping:
    def __init__(self, error: Exception | None = None):
        self.error = error

    def ping(self):
        if self.error:
            raise self.error


def test_no_engine_is_refused_naming_the_field_and_the_script():
    with pytest.raises(UserError) as err:
        check_available(DEMO, Ping(ConnectionError("connection refused")))
    message = str(err.value.at("specs/d.yaml"))
    assert message.startswith("specs/d.yaml, field `agent.workspace`:") and "\n" not in message
    assert "no Docker engine is reachable (ConnectionError: connection refused)" in message
    assert "scripts/docker-up.sh" in message and "agent.workspace: local" in message


def test_the_demo_needs_nothing_more_and_a_model_on_this_machine_is_fine():
    check_available(DEMO, Ping())  # its images are built here; the scripted model is reached over host networking
    spec = RunSpec(llm=LLMSpec(model="openai/local", base_url="http://127.0.0.1:8000/v1"),
                   agent=AgentSpec(workspace="docker"), dataset=DEMO.dataset)
    check_available(spec, Ping())


def test_swebench_repositories_need_a_way_to_agent_server_images(tmp_path):
    with pytest.raises(UserError) as err:
        check_available(DJANGO, Ping())
    assert "for django/django" in str(err.value) and "`agent.server_image`" in str(err.value)
    assert "`agent.sdk_root`" in str(err.value)
    with pytest.raises(UserError, match="field `agent.sdk_root`: .* is not a checkout"):
        check_available(DJANGO, Ping(), sdk_root=str(tmp_path))
    dockerfile = tmp_path / "openhands-agent-server/openhands/agent_server/docker/Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    dockerfile.write_text("FROM x\n")
    check_available(DJANGO, Ping(), sdk_root=str(tmp_path))
    check_available(DJANGO, Ping(), server_image="registry/agent:{tag}")


def test_server_image_from_a_template_or_built_from_the_sdk_checkout(tmp_path):
    assert server_image_for(ISSUE, "ghcr.io/me/agent:{tag}-source-minimal") == (
        "ghcr.io/me/agent:sweb.eval.x86_64.django_1776_django-11099-source-minimal")
    assert server_image_for(ISSUE, "x:{instance_id}") == "x:django__django-11099"
    calls = []

    def run(argv, **kw):
        calls.append((argv, kw))
        return subprocess.CompletedProcess(argv, 0, stdout="#1 building\nawm-agent-server:abc-source-minimal\n",
                                           stderr="")

    assert server_image_for(ISSUE, sdk_root=tmp_path, run=run) == "awm-agent-server:abc-source-minimal"
    assert calls[0][0][-2:] == [image_for(ISSUE), "source-minimal"] and calls[0][1]["cwd"] == str(tmp_path)
    failing = lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", "ERROR: failed to solve\n")  # noqa: E731
    with pytest.raises(RuntimeError, match="building the agent-server image on swebench/.* failed: ERROR"):
        server_image_for(ISSUE, sdk_root=tmp_path, run=failing)
    compile(sandbox._BUILD, "<build>", "exec")


class FakeContainer:
    def __init__(self, **kw):
        self.kw = kw
        self.archives: dict[str, bytes] = {}
        self.status = "created"
        self.execs: list[list[str]] = []
        self.removed = False
        self.exit_logs = b""

    def put_archive(self, path, data):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                self.archives[member.name] = tar.extractfile(member).read()
        return True

    def start(self):
        self.status = "running"

    def reload(self):
        pass

    def logs(self, tail=None):
        return self.exit_logs

    def exec_run(self, cmd, user=None):
        self.execs.append(cmd)
        return SimpleNamespace(exit_code=0, output=b"")

    def remove(self, force=False):
        self.removed = True


class FakeClient:
    def __init__(self):
        self.created: list[FakeContainer] = []
        self.containers = self

    def create(self, image, command, **kw):
        self.created.append(FakeContainer(image=image, command=command, **kw))
        return self.created[-1]


def test_the_agent_container_gets_its_session_key_in_a_file_not_in_its_environment(monkeypatch):
    client = FakeClient()
    box = AgentContainer(client, "img:1", ["/opt/awm-agent-server/bin/python", "-m", "openhands.agent_server"],
                         labels={"awm-tui.owner": "o-1"}, volumes={"vol": {"bind": "/opt/x", "mode": "ro"}})
    made = client.created[0]
    assert made.kw["network_mode"] == "host" and made.kw["labels"] == {"awm-tui.owner": "o-1"}
    assert made.kw["command"][-4:] == ["--host", "127.0.0.1", "--port", str(box.port)]
    assert box.url == f"http://127.0.0.1:{box.port}" and made.status == "running"
    config = json.loads(made.archives[sandbox.CONFIG_IN_CONTAINER.lstrip("/")])
    assert config["session_api_keys"] == [box.session_key] and config["secret_key"] != box.session_key
    assert box.session_key not in json.dumps(made.kw)  # not in the container's environment or command

    import httpx

    monkeypatch.setattr(httpx, "get", lambda url, timeout: SimpleNamespace(status_code=200))
    box.wait_ready(timeout=5)
    assert made.execs == [["rm", "-f", sandbox.CONFIG_IN_CONTAINER]]
    box.remove()
    assert made.removed


def test_an_agent_server_that_exits_is_an_error_with_its_last_lines(monkeypatch):
    import httpx

    client = FakeClient()
    box = AgentContainer(client, "img:1", ["server"], labels={})
    made = client.created[0]
    made.status, made.exit_logs = "exited", b"Traceback\nModuleNotFoundError: No module named 'openhands'\n"

    def refused(url, timeout):
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(httpx, "get", refused)
    with pytest.raises(ContainerError, match="exited \\(exited\\): Traceback | ModuleNotFoundError"):
        box.wait_ready(timeout=5)
    made.status = "running"
    with pytest.raises(ContainerError, match="stopped while the agent server was starting"):
        box.wait_ready(timeout=5, cancelled=lambda: True)


def test_the_harness_client_defaults_to_host_networking_labels_and_a_quick_stop():
    created = []
    raw = SimpleNamespace(containers=SimpleNamespace(create=lambda *a, **kw: created.append(kw) or "c"),
                          images="images")
    client = engine.ContainerDefaults(raw, {"awm-tui.owner": "o-1", "awm-tui.kind": "grading"})
    client.containers.create(image="i", name="n", labels={"x": "1"})
    client.containers.create(image="i", network_mode="none")
    assert created[0]["network_mode"] == "host" and created[0]["stop_signal"] == "SIGKILL"
    assert created[0]["labels"] == {"awm-tui.owner": "o-1", "awm-tui.kind": "grading", "x": "1"}
    assert created[1]["network_mode"] == "none"
    assert client.images == "images"  # everything else is the client's own


def test_the_debian_mirror_is_the_one_apt_names(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: x\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n")
    assert build.debian_mirror(tmp_path) == "http://mirror.example/debian"
    empty = tmp_path / "none"
    empty.mkdir()
    assert build.debian_mirror(empty) == "http://deb.debian.org/debian"
    (empty / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert build.debian_mirror(empty) == "http://other.example/debian"


def test_content_keys_change_with_what_an_image_is_built_from():
    assert build.key_of("a", "b") == build.key_of("a", "b") != build.key_of("a", "c")
    constraints = build.pinned_constraints()
    assert "openhands-agent-server==" in constraints and "awm-tui==" not in constraints
