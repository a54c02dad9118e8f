"""The sandboxed agent (`agent.workspace: docker`): the agent works inside the instance's SWE-bench image, on the
repository at /testbed, through OpenHands' Docker workspace (package `openhands-workspace`, optional).

What that workspace needs (openhands-workspace 1.58.2):
- `DockerWorkspace(server_image=...)` runs `docker run <image> --host 0.0.0.0 --port 8000` with the `docker` CLI, so
  the image must be an OpenHands *agent-server* image: the SWE-bench image with the agent server added on top,
  the way OpenHands' own SWE-bench runner does it. Either such images exist (`server_image`, a name with slots), or
  they are built here from a checkout of OpenHands/software-agent-sdk (`sdk_root`). `DockerDevWorkspace(base_image=)`
  cannot do it from installed packages: its build module needs that checkout as its working directory.
- The agent server runs as user `openhands`; /testbed belongs to root in SWE-bench images, so it is handed over
  before the agent starts.
- The agent (and its LLM calls) run in the container: a model server on this machine's 127.0.0.1 is out of reach.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from awm import demo
from awm.errors import UserError
from awm.records import Issue
from awm.repos import JUNK

REPO_PATH = "/testbed"
AGENT_USER = "openhands"  # the user the SDK's agent-server Dockerfile creates and runs as
SERVER_TARGET = "source-minimal"  # the target OpenHands' SWE-bench runner builds
CONDA = "source /opt/miniconda3/bin/activate && conda activate testbed"  # the instance's Python, in every image
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
    instance_id = issue if isinstance(issue, str) else issue.instance_id
    return f"{namespace}/sweb.eval.x86_64.{instance_id.lower()}:latest".replace("__", "_1776_")


def check_available(spec, client=None, *, server_image: str | None = None, sdk_root: str | None = None) -> None:
    """Raise a UserError naming the field to change when the sandboxed agent cannot run here."""
    server_image = server_image or getattr(spec.agent, "server_image", None)
    sdk_root = sdk_root or getattr(spec.agent, "sdk_root", None)
    head = "`docker` runs the agent inside each instance's SWE-bench image"
    try:
        _import_workspace()
    except Exception as exc:  # noqa: BLE001
        raise UserError(
            f"{head} through OpenHands' Docker workspace, and the package `openhands.workspace` is not importable "
            f"({_short(exc)}). Install awm-tui's `docker` extra, which brings it and openhands-agent-server: "
            f"`AWM_TUI_EXTRAS=docker scripts/bootstrap.sh` in the awm-tui checkout, {LOCAL}.", field="agent.workspace"
        ) from None
    if shutil.which("docker") is None:
        raise UserError(f"{head}, which needs the `docker` command (the OpenHands Docker workspace runs it), and it "
                        f"is not on PATH. Install the Docker CLI, {LOCAL}.", field="agent.workspace")
    try:
        if client is None:
            import docker

            client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{head}, and no Docker engine is reachable ({_short(exc)}). Start Docker (or set "
                        f"DOCKER_HOST to a running engine), {LOCAL}.", field="agent.workspace") from None
    if not server_image and not sdk_root:
        raise UserError(
            f"{head}, with an OpenHands agent server added on top, and there is no way to get those images: set "
            "`agent.server_image` (prebuilt images, e.g. `my-registry/agent:{tag}`; slots {instance_id}, {image}, "
            "{tag}) or `agent.sdk_root` (a checkout of github.com/OpenHands/software-agent-sdk at tag v1.58.2, from "
            f"which they are built), {LOCAL}.", field="agent.workspace"
        )
    if not server_image:
        dockerfile = Path(sdk_root).expanduser() / "openhands-agent-server/openhands/agent_server/docker/Dockerfile"
        if not dockerfile.exists():
            raise UserError(f"{sdk_root} is not a checkout of "
                            "github.com/OpenHands/software-agent-sdk (no openhands-agent-server/.../Dockerfile). "
                            f"Clone it at tag v1.58.2 and give its path, {LOCAL}.", field="agent.sdk_root")
        if shutil.which("uv") is None:
            raise UserError(f"building agent-server images runs `uv "
                            f"build` in the checkout, and `uv` is not on PATH. Install uv, {LOCAL}.", field="agent.sdk_root")
    host = urlparse(spec.llm.base_url or "").hostname or ""
    if demo.is_scripted(spec.llm.model) or host == "localhost" or host.startswith("127.") or host == "::1":
        raise UserError(
            f"with `agent.workspace: docker` the model is called from inside "
            f"the container, where {host or '127.0.0.1'} is the container itself. Serve the model on an address the "
            f"container can reach (e.g. the docker0 address 172.17.0.1, listening there), {LOCAL}.",
            field="llm.base_url",
        )


def server_image_for(issue: Issue, server_image: str | None = None, sdk_root: str | Path | None = None,
                     run: Callable[..., Any] = subprocess.run) -> str:
    """The agent-server image for an issue: a prebuilt one named from the template, or one built (once; Docker keeps
    it) from the SWE-bench image with the SDK checkout."""
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


def open_for(spec, issue: Issue) -> Sandbox:
    """The sandbox for an issue as the spec asks: prebuilt images are kept, images built here are deleted after."""
    server_image = getattr(spec.agent, "server_image", None)
    image = server_image_for(issue, server_image, getattr(spec.agent, "sdk_root", None))
    return open_sandbox(issue, image, keep_image=bool(server_image))


@dataclass
class Sandbox:
    """A started container with the agent server, and the commit the agent starts from."""

    workspace: Any  # openhands.workspace.DockerWorkspace: what `Conversation(workspace=...)` takes
    start: str  # HEAD of /testbed at the start: the base commit plus the harness's own setup commit

    def patch(self) -> str:
        """Every change, new files included, against the start: the tree the harness applies the patch to has that
        same HEAD, so the harness's setup changes are never in the patch."""
        junk = " ".join(shlex.quote(x) for x in JUNK)
        result = self.workspace.execute_command(
            f"git add -A -- . {junk} && git -c core.fileMode=false diff --no-color --cached {self.start} -- . {junk}",
            cwd=REPO_PATH, timeout=120,
        )
        if result.exit_code != 0:
            raise RuntimeError(f"git diff in the container failed: {(result.stderr or result.stdout).strip()[:300]}")
        return result.stdout

    def close(self) -> None:
        self.workspace.cleanup()


def open_sandbox(issue: Issue, server_image: str, *, keep_image: bool = True,
                 workspace_factory: Callable[..., Any] | None = None,
                 run: Callable[..., Any] = subprocess.run) -> Sandbox:
    """Start the agent-server container for an issue, give /testbed to the agent's user, and note where it starts.
    `keep_image=False` deletes the image when the sandbox closes (for images built per issue)."""
    factory = workspace_factory or _import_workspace().DockerWorkspace
    # detach_logs=False: otherwise the container's log is streamed onto this process's stdout.
    workspace = factory(server_image=server_image, working_dir=REPO_PATH, detach_logs=False,
                        cleanup_image=not keep_image)
    try:
        container = workspace._container_id  # the workspace exposes no public handle; a root exec needs it
        proc = run(["docker", "exec", "--user", "root", container, "chown", "-R", f"{AGENT_USER}:", REPO_PATH],
                   capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"could not hand {REPO_PATH} to {AGENT_USER}: {(proc.stderr or '').strip()[:300]}")
        _check(workspace.execute_command(f"echo {shlex.quote(CONDA)} >> ~/.bashrc", timeout=30))
        start = _check(workspace.execute_command("git rev-parse HEAD", cwd=REPO_PATH, timeout=30)).stdout.strip()
    except BaseException:
        workspace.cleanup()
        raise
    return Sandbox(workspace, start)


def _check(result):
    if result.exit_code != 0:
        detail = (result.stderr or result.stdout).strip()[:300]
        raise RuntimeError(f"`{result.command}` failed in the container: {detail}")
    return result


def _import_workspace():
    from awm.model.client import setup_environment

    setup_environment()
    import openhands.workspace

    return openhands.workspace


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:300]
