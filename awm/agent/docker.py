"""The agent in Docker (`agent.workspace: docker`): each issue's agent works inside a container of the instance's
image, on the repository at /testbed, through an OpenHands agent server running in that container.

How it runs here (no registry to pull from, no Docker bridge to publish ports through):
- the container uses host networking; its agent server listens on a free port of 127.0.0.1 (so a model server on
  this machine's loopback, such as the demo's scripted one, is reachable from inside), and is driven over that port
  by the remote-workspace path awm-tui already has (awm.agent.remote: the SDK's remote conversation, the patch
  taken with `git diff` in the container, processes ended by their tag);
- the image: for the demo's repository, the instance image built here (awm.images.build: the harness's own setup
  scripts), with the agent server (openhands-agent-server at the SDK's version) mounted read-only from a volume
  built once; for SWE-bench's repositories, an agent-server image made from the SWE-bench image as OpenHands' own
  SWE-bench runner makes them (`agent.server_image`, or built from a software-agent-sdk checkout, `agent.sdk_root`);
- the agent server's session key reaches it in a config file that is deleted once the server is up: it is in no
  process's environment in the container. The model's key goes to the server with the conversation, in memory.
- every container carries awm-tui's labels (awm.images.engine): closing the issue removes it, a resumed run removes
  what a killed process of the run left, and the watchdog of a process that died removes its containers.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from awm.errors import UserError
from awm.images import engine
from awm.records import Issue

REPO_PATH = "/testbed"
SERVER_TARGET = "source-minimal"  # the target OpenHands' SWE-bench runner builds
CONFIG_IN_CONTAINER = "/root/.awm-agent-server.json"  # the server's session key; deleted once it is up
SERVER_HOME = "/root/awm-agent-server"  # the server's working folder (its conversations), outside /testbed
START_TIMEOUT_S = 180.0
LOCAL = "or set `agent.workspace: local` (the agent's commands then run on this machine, in a checkout)"

# Run with the SDK checkout as working directory: the build module resolves the checkout from there at import.
_BUILD = """
import subprocess, sys
from openhands.agent_server.docker.build import BuildOptions, build
opts = BuildOptions(base_image=sys.argv[1], target=sys.argv[2], image="awm-agent-server", platforms=["linux/amd64"],
                    push=False, install_acp_providers="", install_capabilities="")
tag = opts.all_tags[0]
if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
    tag = build(opts)[0]
print(tag)
"""


def image_for(issue: Issue | str, namespace: str = "swebench") -> str:
    """The prebuilt SWE-bench image, named as swebench 4.1.0's `TestSpec.instance_image_key` names it."""
    return engine.swebench_image(issue if isinstance(issue, str) else issue.instance_id, namespace)


def check_available(spec, client=None, *, server_image: str | None = None, sdk_root: str | None = None,
                    repos: list[str] | None = None) -> None:
    """Raise a UserError naming the field to change when the agent cannot run in Docker here. `repos`: the run's
    repositories (the spec's repo_filter when not given)."""
    from awm.images.specs import builds_here

    server_image = server_image or getattr(spec.agent, "server_image", None)
    sdk_root = sdk_root or getattr(spec.agent, "sdk_root", None)
    head = "`docker` runs the agent inside each instance's image"
    why = engine.unreachable(client)
    if why:
        raise UserError(f"{head}, and no Docker engine is reachable ({why}). Start one (scripts/docker-up.sh in the "
                        f"awm-tui checkout sets Docker up on a Debian machine, or set DOCKER_HOST to a running "
                        f"engine), {LOCAL}.", field="agent.workspace")
    repos = repos if repos is not None else list(getattr(spec.dataset, "repo_filter", []) or [])
    pulled = [r for r in repos if not builds_here(r)] or ([] if repos else ["?"])
    if pulled and not server_image and not sdk_root:
        raise UserError(
            f"{head}: the demo's images are built here, but for {', '.join(pulled)} it needs SWE-bench's images with "
            "an OpenHands agent server added on top, and there is no way to get those: set `agent.server_image` "
            "(prebuilt images, e.g. `my-registry/agent:{tag}`; slots {instance_id}, {image}, {tag}) or "
            "`agent.sdk_root` (a checkout of github.com/OpenHands/software-agent-sdk at tag v1.58.2, from which they "
            f"are built), {LOCAL}.", field="agent.workspace")
    if pulled and not server_image and sdk_root:  # (sdk_root is set here: refused above otherwise)
        dockerfile = Path(sdk_root).expanduser() / "openhands-agent-server/openhands/agent_server/docker/Dockerfile"
        if not dockerfile.exists():
            raise UserError(f"{sdk_root} is not a checkout of github.com/OpenHands/software-agent-sdk (no "
                            f"openhands-agent-server/.../Dockerfile). Clone it at tag v1.58.2 and give its path, "
                            f"{LOCAL}.", field="agent.sdk_root")


def server_image_for(issue: Issue, server_image: str | None = None, sdk_root: str | Path | None = None,
                     run: Callable[..., Any] = subprocess.run) -> str:
    """The agent-server image for a SWE-bench issue: a prebuilt one named from the template, or one built (once;
    Docker keeps it) from the SWE-bench image with the SDK checkout."""
    base = image_for(issue)
    if server_image:
        return server_image.format(instance_id=issue.instance_id, image=base, tag=base.split("/")[-1].split(":")[0])
    if not sdk_root:
        raise ValueError("give server_image or sdk_root")
    proc = run([sys.executable, "-c", _BUILD, base, SERVER_TARGET], cwd=str(Path(sdk_root).expanduser()),
               capture_output=True, text=True)
    lines = [x for x in (proc.stdout or "").splitlines() if x.strip()]
    if proc.returncode != 0 or not lines:
        detail = [x for x in (proc.stderr or "").splitlines() if x.strip()][-1:] or ["no output"]
        raise RuntimeError(f"building the agent-server image on {base} failed: {detail[0][:300]}")
    return lines[-1].strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ContainerError(RuntimeError):
    """The issue's container or its agent server could not be started (the issue's ERROR)."""


class AgentContainer:
    """One issue's container: started with its agent server on a loopback port, removed by `remove`."""

    def __init__(self, client, image: str, command: list[str], *, labels: dict[str, str],
                 volumes: dict | None = None, name_hint: str = "agent"):
        self.client = client
        self.image = image
        self.port = free_port()
        self.session_key = secrets.token_urlsafe(24)  # memory only; in the container only until the server is up
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"session_api_keys": [self.session_key], "secret_key": secrets.token_urlsafe(24)}
        name = f"awm-{name_hint}-{secrets.token_hex(4)}".lower()
        from awm.images.build import tar_of

        self.container = client.containers.create(
            image, [*command, "--host", "127.0.0.1", "--port", str(self.port)], name=name,
            network_mode=engine.HOST_NETWORK, labels=labels, volumes=volumes or {}, working_dir=SERVER_HOME,
            environment={"OPENHANDS_AGENT_SERVER_CONFIG_PATH": CONFIG_IN_CONTAINER, "OH_ENABLE_VSCODE": "false",
                         "OPENHANDS_SUPPRESS_BANNER": "1", "OH_PRELOAD_TOOLS": "false",
                         # litellm would fetch its price table from GitHub at import (seconds, offline)
                         "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
            stop_signal="SIGKILL", detach=True,
        )
        try:
            self.container.put_archive("/", tar_of({CONFIG_IN_CONTAINER.lstrip("/"): json.dumps(config).encode()}))
            self.container.start()
        except BaseException:
            self.remove()
            raise

    def wait_ready(self, timeout: float = START_TIMEOUT_S, cancelled: Callable[[], bool] | None = None) -> float:
        """Wait until the server answers /health; then delete its config file. Seconds waited."""
        import httpx

        started = time.monotonic()
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            self.container.reload()
            if self.container.status not in ("created", "running"):
                logs = self.container.logs(tail=5).decode("utf-8", errors="replace").strip().replace("\n", " | ")
                raise ContainerError(f"the agent server in {self.image} exited ({self.container.status}): "
                                     f"{logs[-400:] or 'no output'}")
            if time.monotonic() - started > timeout:
                raise ContainerError(f"the agent server in {self.image} did not answer within {timeout:.0f} s")
            if cancelled is not None and cancelled():
                raise ContainerError("stopped while the agent server was starting")
            time.sleep(0.2)
        result = self.container.exec_run(["rm", "-f", CONFIG_IN_CONTAINER], user="root")
        if result.exit_code != 0:
            raise ContainerError("could not delete the agent server's config in the container: "
                                 f"{result.output[:200]!r}")
        return time.monotonic() - started

    def head(self) -> str:
        result = self.container.exec_run(["git", "-C", REPO_PATH, "rev-parse", "HEAD"], user="root")
        text = result.output.decode("utf-8", errors="replace").strip()
        if result.exit_code != 0 or len(text) < 40:
            raise ContainerError(f"{REPO_PATH} in {self.image} is not a git repository: {text[:200]}")
        return text.splitlines()[-1]

    def remove(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001 - removed already (the watchdog, a sweep)
            pass


def _checkout_class():
    from awm.agent.remote import RemoteCheckout, diff_script

    class ContainerCheckout(RemoteCheckout):
        """The remote checkout protocol on the agent server in the issue's container; the repository is the image's
        /testbed, and closing removes the container (everything the agent started in it ends with it)."""

        def __init__(self, box: AgentContainer, start: str, terminal: str, hide_env, on_close):
            super().__init__(box.url, box.session_key, start, terminal, hide_env, on_close=on_close)
            self.box = box
            self.folder = REPO_PATH  # where the reaper looks for the agent's processes
            self.repo_path = REPO_PATH

        def __repr__(self) -> str:
            return f"ContainerCheckout({self.box.image!r}, {self.server!r})"

        def patch(self) -> str:
            out = "/tmp/awm-patch.diff"
            self._run(diff_script(self.repo_path, self.base_commit, out), 300, "taking the patch")
            result = self.box.container.exec_run(["cat", out], user="root")
            if result.exit_code != 0:
                raise RuntimeError(f"reading the patch in the container failed: {result.output[:200]!r}")
            return result.output.decode("utf-8", errors="replace")

        def close(self) -> list[str]:
            if self.closed:
                return []
            self.closed = True
            try:
                self._reset_clients()
                self.box.remove()
            finally:
                self._hand_back()
            return []

    return ContainerCheckout


class DockerWorkspace:
    """`agent.workspace: docker`: each issue in a container of its image (see the module's docstring). Made once
    per run; removes what a killed process of the run left."""

    name = "docker"

    def __init__(self, spec, cache, root: Path, *, run_dir: Path | None = None, client=None,
                 cancelled: Callable[[], bool] | None = None):
        self.spec = spec
        self.cache = cache
        self.client = client or engine.client(timeout=600)
        self.run = engine.run_key(run_dir or root)  # the label of the run's containers (its grading's too)
        self.terminal = spec.agent.terminal
        self.hide_env = [spec.llm.api_key_env] if getattr(spec.llm, "api_key_env", None) else []
        self.cancelled = cancelled
        self._volume: str | None = None
        self._lock = threading.Lock()
        self.open_boxes: set[AgentContainer] = set()
        self._prepared: dict[str, Future] = {}  # instance id -> its container starting (prepare)
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="awm-docker-prepare")
        self._closed_all = False
        # per issue: seconds from `docker create` to the agent server answering, and how long `open` waited for it
        # (less when the container was started ahead, `prepare`): what bench/overhead.py reports
        self.start_s: dict[str, float] = {}
        self.waited_s: dict[str, float] = {}
        self.stale = engine.remove_containers(self.client, run=self.run, kind="agent")

    def agent_server_volume(self) -> str:
        with self._lock:
            if self._volume is None:
                from awm.images.build import Builder

                self._volume = Builder(self.client).agent_server()
            return self._volume

    def warm_up(self) -> None:
        """The agent server's volume, built now if missing (minutes, once per machine), not on the first issue."""
        if any(_builds_here(r) for r in (getattr(self.spec.dataset, "repo_filter", None) or [])):
            self.agent_server_volume()

    def _container_for(self, issue: Issue) -> AgentContainer:
        from awm.images.build import AGENT_SERVER_MOUNT

        labels = engine.labels("agent", self.run)
        hint = f"agent-{issue.instance_id[-40:]}".replace("/", "-")
        if _builds_here(issue.repo):
            from awm.images.specs import build_test_spec, instance_image

            image = instance_image(build_test_spec(issue.to_row(), None), self.cache, self.client)
            volumes = {self.agent_server_volume(): {"bind": AGENT_SERVER_MOUNT, "mode": "ro"}}
            command = [f"{AGENT_SERVER_MOUNT}/bin/python", "-m", "openhands.agent_server"]
            return AgentContainer(self.client, image, command, labels=labels, volumes=volumes, name_hint=hint)
        image = server_image_for(issue, self.spec.agent.server_image, self.spec.agent.sdk_root)
        entry = self.client.images.get(image).attrs.get("Config", {})
        command = [*(entry.get("Entrypoint") or []), *(entry.get("Cmd") or [])] or ["openhands-agent-server"]
        command = [c for c in command if c not in ("--host", "0.0.0.0", "--port", "8000")]
        return AgentContainer(self.client, image, command, labels=labels, name_hint=hint)

    def _start_box(self, issue: Issue) -> AgentContainer:
        for attempt in range(3):  # a free port taken meanwhile by another process: another port
            started = time.monotonic()
            box = self._container_for(issue)
            with self._lock:
                self.open_boxes.add(box)
                closed = self._closed_all
            try:
                if closed:
                    raise ContainerError("the run's workspace is closed")
                box.wait_ready(cancelled=self._stopping)
                self.start_s[issue.instance_id] = round(time.monotonic() - started, 3)
                return box
            except BaseException as exc:
                box.remove()
                self._closed(box)
                if "address already in use" not in str(exc).lower() or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _stopping(self) -> bool:
        return self._closed_all or (self.cancelled is not None and self.cancelled())

    def prepare(self, issue: Issue) -> None:
        """Start the container of the issue that comes next, in the background, while the current one runs (its
        agent server takes seconds to start): `open` takes it. Started one after another (a thread of its own);
        nothing runs in it until then."""
        with self._lock:
            if self._closed_all or issue.instance_id in self._prepared:
                return
            self._prepared[issue.instance_id] = self._starter.submit(self._start_box, issue)

    def open(self, issue: Issue):
        opened = time.monotonic()
        with self._lock:
            prepared = self._prepared.pop(issue.instance_id, None)
        box = None
        if prepared is not None:
            try:
                box = prepared.result()
            except Exception:  # noqa: BLE001 - started afresh below, where its failure is the issue's
                box = None
        if box is None:
            box = self._start_box(issue)
        self.waited_s[issue.instance_id] = round(time.monotonic() - opened, 3)
        try:
            start = box.head()
            checkout = _checkout_class()(box, start, self.terminal, self.hide_env, lambda: self._closed(box))
        except BaseException:
            box.remove()
            self._closed(box)
            raise
        return checkout

    def _closed(self, box: AgentContainer) -> None:
        with self._lock:
            self.open_boxes.discard(box)

    def close(self) -> None:
        """Every container still open (a run ending mid-issue, one prepared for an issue that did not come) removed."""
        with self._lock:
            self._closed_all = True
            prepared = list(self._prepared.values())
            self._prepared.clear()
        for future in prepared:
            future.cancel()
        self._starter.shutdown(wait=True)  # a container starting now is removed as it sees the workspace closed
        with self._lock:
            boxes = list(self.open_boxes)
            self.open_boxes.clear()
        for box in boxes:
            box.remove()


def _builds_here(repo: str) -> bool:
    from awm.images.specs import builds_here

    return builds_here(repo)

