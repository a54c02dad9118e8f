"""The Docker engine as awm-tui uses it: whether one is reachable, the labels on every container awm-tui starts, and
their removal when their issue, run or process is gone.

Every container awm-tui starts (an agent's, the harness's grading containers, an image build's) carries two labels:
`awm-tui.owner`, the token of the awm-tui process that started it (awm.processes.owner_token: its watchdog removes
them when that process dies, `kill -9` included), and `awm-tui.run`, the run's key (a resumed run removes what a
killed one left). Containers use host networking or none, never Docker's default bridge (HOST_NETWORK)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from awm.processes import CONTAINER_LABEL as OWNER_LABEL  # noqa: E402 - the watchdog's, which removes them

RUN_LABEL = "awm-tui.run"
KIND_LABEL = "awm-tui.kind"  # agent | grading | build
HOST_NETWORK = "host"  # with host networking, a server in a container is on this machine's 127.0.0.1


def swebench_image(instance_id: str, namespace: str = "swebench") -> str:
    """The prebuilt SWE-bench image of an instance, named as swebench 4.1.0's `TestSpec.instance_image_key` names it."""
    return f"{namespace}/sweb.eval.x86_64.{instance_id.lower()}:latest".replace("__", "_1776_")


def run_key(run_dir: Path | str) -> str:
    """The run's label value: the same for every process that runs the run (a resume included)."""
    return hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:12]


def client(timeout: int = 120):
    """A client of the engine DOCKER_HOST names (the default socket otherwise)."""
    import docker

    return docker.from_env(timeout=timeout)


def unreachable(docker_client=None) -> str:
    """'' when an engine answers, else why not (one line)."""
    if shutil.which("docker") is None and docker_client is None:
        try:
            import docker  # noqa: F401 - the SDK alone can reach an engine
        except ImportError:
            return "neither the docker command nor the docker Python package is installed"
    try:
        (docker_client or client(timeout=10)).ping()
        return ""
    except Exception as exc:  # noqa: BLE001 - any failure means no engine
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:300]


def labels(kind: str, run: str = "") -> dict[str, str]:
    from awm.processes import owner_token

    found = {OWNER_LABEL: owner_token(), KIND_LABEL: kind}
    if run:
        found[RUN_LABEL] = run
    return found


def remove_containers(docker_client, *, owner: str | None = None, run: str | None = None,
                      kind: str | None = None) -> list[str]:
    """Remove (forcibly) every container with these label values; their names."""
    filters = [f"{label}={value}" for label, value in ((OWNER_LABEL, owner), (RUN_LABEL, run), (KIND_LABEL, kind))
               if value]
    if not filters:
        raise ValueError("give at least one label to match")
    removed = []
    for container in docker_client.containers.list(all=True, filters={"label": filters}):
        try:
            container.remove(force=True)
            removed.append(container.name)
        except Exception:  # noqa: BLE001 - removed meanwhile (auto-remove, another sweep)
            continue
    return removed


class ContainerDefaults:
    """A docker client whose containers are created with host networking, awm-tui's labels and SIGKILL as their stop
    signal unless the caller says otherwise: what the SWE-bench harness is given (its `build_container` names no
    network, and Docker's default is a bridge; with the engine docker-up.sh starts, there is none). Everything else
    is the client's own."""

    def __init__(self, docker_client, container_labels: dict[str, str], network_mode: str = HOST_NETWORK):
        self._client = docker_client
        self._labels = container_labels
        self._network = network_mode

    @property
    def containers(self):
        return _Containers(self._client.containers, self._labels, self._network)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Containers:
    def __init__(self, containers, container_labels: dict[str, str], network_mode: str):
        self._containers = containers
        self._labels = container_labels
        self._network = network_mode

    def _defaults(self, kwargs: dict) -> dict:
        kwargs = dict(kwargs)
        kwargs["labels"] = {**self._labels, **(kwargs.get("labels") or {})}
        if not kwargs.get("network_mode") and not kwargs.get("network"):
            kwargs["network_mode"] = self._network
        # the harness's containers run `tail -f /dev/null` as pid 1, which ignores SIGTERM: its `stop` would wait out
        # 15 s per instance before killing; they are thrown away, so the stop kills at once
        kwargs.setdefault("stop_signal", "SIGKILL")
        return kwargs

    def create(self, *args, **kwargs):
        return self._containers.create(*args, **self._defaults(kwargs))

    def run(self, *args, **kwargs):
        return self._containers.run(*args, **self._defaults(kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._containers, name)
