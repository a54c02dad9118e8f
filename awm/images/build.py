"""The image chain, shaped like swebench 4.1.0's and named as it names them, built here from Debian packages and PyPI.

swebench builds three images per instance from Dockerfiles: a base (Ubuntu, apt packages, Miniconda), an environment
image (its setup_env.sh: `conda create`, pip installs) and an instance image (its setup_repo.sh: clone from GitHub,
reset to the base commit, drop the remote and later tags, install, one "SWE-bench" commit). Here:
- the base's root file system comes from `debootstrap` (Debian trixie, minbase), imported as `awm-tui/debian:trixie`;
  `sweb.base.py.x86_64:latest` adds the official base's apt packages and the conda stand-in (awm.images.stand_in);
- the environment image runs the harness's own setup_env.sh (TestSpec.setup_env_script) against the stand-in, and
  is named by the harness's own key (TestSpec.env_image_key: a hash of that script);
- the instance image runs the harness's own setup_repo.sh (TestSpec.install_repo_script) unchanged: its `git clone`
  of https://github.com/<repo> is answered, through git's `url.<bundle>.insteadOf` in the build's environment only,
  by a bundle of the repository's history up to the base commit (nothing later exists in the image, not even
  unreachable objects), and it is named TestSpec.instance_image_key.
Each step is a container from the previous image, with what it reads copied in (the script, the bundle, the machine's
CA bundle for PyPI) and removed again before it is committed with the official Dockerfile's settings (WORKDIR, ENV):
none of it is in the image, and no build-time variable is in its config. Every image carries a content key
(`awm-tui.key`: what it was built from); an image whose key differs is rebuilt, so a changed mini-benchmark, script
or package list rebuilds what depends on it, and an unchanged one costs one inspect.

The agent server (openhands-agent-server at the version of the SDK awm-tui runs, with the same versions of every
package both have) is installed once into a Docker volume from the base image, and mounted read-only at
/opt/awm-agent-server into each agent container (awm.agent.docker): no per-instance copy of its ~700 MB."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from awm.images import engine, stand_in

if TYPE_CHECKING:
    from docker import DockerClient

DEBIAN_SUITE = "trixie"  # Python 3.13 from Debian: the agent server needs 3.12 or later
DEBIAN_IMAGE = f"awm-tui/debian:{DEBIAN_SUITE}"
BASE_IMAGE = "sweb.base.py.x86_64:latest"  # TestSpec.base_image_key for a Python repository without docker_specs
# The official base's apt packages (swebench/harness/dockerfiles/python.py), Debian's names; tmux and procps for the
# agent's terminal; ca-certificates for git and pip over TLS.
BASE_PACKAGES = ("build-essential", "ca-certificates", "curl", "git", "jq", "libffi-dev", "locales", "patch",
                 "procps", "python-is-python3", "python3", "python3-pip", "python3-venv", "tmux", "tzdata", "wget")
KEY_LABEL = "awm-tui.key"
AGENT_SERVER_MOUNT = "/opt/awm-agent-server"
AGENT_SERVER_PACKAGE = "openhands-agent-server"
_COMPLETE = ".awm-complete"
BUILD_DIR = "/run/awm-build"  # what a build step reads, copied in and removed before the commit
CA_IN_BUILD = f"{BUILD_DIR}/ca.crt"
BUILD_TIMEOUT_S = 1800


class ImageError(RuntimeError):
    """An image could not be built here; the message says which step failed and its last lines."""


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt sources name (debootstrap's source), or Debian's own."""
    for path in sorted(sources.glob("sources.list.d/*.sources")) + [sources / "sources.list"]:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, flags=re.M):
            uri = match.group(1).rstrip("/")
            if uri.startswith("http") and "security" not in uri and uri.endswith("/debian"):
                return uri
    return "http://deb.debian.org/debian"


def ca_bundle() -> str | None:
    """The CA bundle this machine's pip trusts (PIP_CERT, then the usual variables): mounted into builds that reach
    PyPI, never copied into an image."""
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return value
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return str(default) if default.is_file() else None


CHAIN_VERSION = "2"  # raised when the steps below change what they build: every image is rebuilt


def key_of(*parts: str) -> str:
    return hashlib.sha256("\0".join((CHAIN_VERSION, *parts)).encode()).hexdigest()[:16]


def locks_dir() -> Path:
    from platformdirs import user_cache_path

    path = user_cache_path("awm-tui", appauthor=False) / "image-locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """One build of an image at a time across processes (the test workers, runs side by side)."""
    from awm import atomic

    with atomic.locked(locks_dir() / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")):
        yield


@dataclass
class Builder:
    """Builds (or finds, by content key) the images of the chain. `say` gets a line per step built."""

    client: DockerClient
    say: Callable[[str], None] = field(default=lambda text: None)
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds, for what was built now

    # ------------------------------------------------------------------ images

    def image_key(self, tag: str) -> str | None:
        """The content key of an image, or None when there is no such image."""
        import docker

        try:
            image = self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return None
        return (image.labels or {}).get(KEY_LABEL, "")

    def image_id(self, tag: str) -> str:
        image_id = self.client.images.get(tag).id
        assert image_id is not None  # (the SDK's model allows none; an image the engine lists has one)
        return image_id

    def _current(self, tag: str, key: str, build: Callable[[], None]) -> str:
        """`tag`, built by `build` unless an image of that content key exists (checked again under the lock: another
        process may have built it meanwhile)."""
        if self.image_key(tag) == key:
            return tag
        with build_lock(tag):
            if self.image_key(tag) != key:
                build()
        return tag

    def debian(self) -> str:
        """awm-tui/debian:trixie, from debootstrap (as root, with the debootstrap package) when missing."""
        if self.image_key(DEBIAN_IMAGE) is not None:
            return DEBIAN_IMAGE
        with build_lock(DEBIAN_IMAGE):
            if self.image_key(DEBIAN_IMAGE) is not None:
                return DEBIAN_IMAGE
            debootstrap = shutil.which("debootstrap")
            if debootstrap is None or os.geteuid() != 0:
                raise ImageError(f"the base image {DEBIAN_IMAGE} is made with debootstrap, as root: "
                                 + ("install it (apt-get install debootstrap)" if debootstrap is None
                                    else "run scripts/docker-up.sh as root"))
            started = time.monotonic()
            self.say(f"debootstrap {DEBIAN_SUITE} (minbase) from {debian_mirror()} ...")
            with tempfile.TemporaryDirectory(prefix="awm-debootstrap-") as tmp:
                root = Path(tmp) / "root"
                proc = subprocess.run([debootstrap, "--variant=minbase", DEBIAN_SUITE, str(root), debian_mirror()],
                                      capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
                if proc.returncode != 0:
                    raise ImageError(f"debootstrap failed: {_tail(proc.stdout + proc.stderr)}")
                tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
                imported = subprocess.run(["docker", "import", "--change", "CMD [\"/bin/bash\"]", "-", DEBIAN_IMAGE],
                                          stdin=tar.stdout, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
                tar.wait()
                if imported.returncode != 0 or tar.returncode != 0:
                    raise ImageError(f"docker import of the debootstrapped root failed: {_tail(imported.stderr)}")
            self.timings["debian"] = round(time.monotonic() - started, 1)
            return DEBIAN_IMAGE

    def base(self) -> str:
        """sweb.base.py.x86_64:latest: the official base's packages, the conda stand-in, a `nonroot` user."""
        debian = self.debian()
        files = json.dumps(stand_in.FILES, sort_keys=True)
        key = key_of("base", self.image_id(debian), " ".join(BASE_PACKAGES), files)

        def build() -> None:
            script = "\n".join([
                "set -euxo pipefail",
                "export DEBIAN_FRONTEND=noninteractive",
                "apt-get update -qq",
                f"apt-get install -y -qq --no-install-recommends {' '.join(BASE_PACKAGES)}",
                "rm -rf /var/lib/apt/lists/*",
                f"mkdir -p {stand_in.ROOT}/bin {stand_in.ROOT}/etc/profile.d {stand_in.ROOT}/envs",
                f"cp -r {BUILD_DIR}/stand-in/. {stand_in.ROOT}/",
                f"chmod 755 {stand_in.ROOT}/bin/conda",
                # what `conda init --all` leaves in ~/.bashrc: the function in every interactive shell
                f"echo '. {stand_in.ROOT}/etc/profile.d/conda.sh' >> /root/.bashrc",
                "useradd --create-home --comment dog nonroot",
            ])
            files = {f"stand-in/{name}": text.encode() for name, text in stand_in.FILES.items()}
            self._commit_run("base", debian, script, BASE_IMAGE, key, files=files, network=engine.HOST_NETWORK,
                             changes=["ENV TZ=Etc/UTC", f"ENV PATH={stand_in.ROOT}/bin:/usr/local/sbin:"
                                      "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "WORKDIR /"])

        return self._current(BASE_IMAGE, key, build)

    def env(self, test_spec) -> str:
        """The environment image: the harness's setup_env.sh, run as its Dockerfile runs it."""
        base = self.base()
        tag = test_spec.env_image_key
        key = key_of("env", self.image_id(base), test_spec.setup_env_script)

        def build() -> None:
            script = "\n".join([
                "set -euo pipefail",
                *_pip_trust(),
                f"cp {BUILD_DIR}/setup_env.sh /root/setup_env.sh",
                "sed -i -e 's/\\r$//' /root/setup_env.sh",
                "chmod +x /root/setup_env.sh",
                '/bin/bash -c "source ~/.bashrc && /root/setup_env.sh"',
                # the official env Dockerfile's last step
                f'echo "source {stand_in.ROOT}/etc/profile.d/conda.sh && conda activate testbed" > /root/.bashrc',
            ])
            self._commit_run(f"env {tag}", base, script, tag, key,
                             files=_with_ca({"setup_env.sh": test_spec.setup_env_script.encode()}),
                             network=engine.HOST_NETWORK, changes=["WORKDIR /testbed/"])

        return self._current(tag, key, build)

    def instance(self, test_spec, mirror: Path) -> str:
        """The instance image: the harness's setup_repo.sh, its clone answered by a bundle of the history up to the
        base commit (read from `mirror`, the repository cache's bare mirror)."""
        env = self.env(test_spec)
        tag = test_spec.instance_image_key
        base_commit = base_commit_of(test_spec)
        key = key_of("instance", self.image_id(env), test_spec.install_repo_script, base_commit)

        def build() -> None:
            url = f"https://github.com/{test_spec.repo}"
            script = "\n".join([
                "set -euo pipefail",
                *_pip_trust(),
                f"cp {BUILD_DIR}/setup_repo.sh /root/setup_repo.sh",
                "sed -i -e 's/\\r$//' /root/setup_repo.sh",
                # the clone of GitHub answered by the bundle, for this shell and its children only
                "export GIT_CONFIG_COUNT=1",
                f"export GIT_CONFIG_KEY_0=url.{BUILD_DIR}/repo.bundle.insteadOf",
                f"export GIT_CONFIG_VALUE_0={shlex.quote(url)}",
                "/bin/bash /root/setup_repo.sh",
            ])
            with tempfile.TemporaryDirectory(prefix="awm-image-") as tmp:
                bundle = Path(tmp) / "repo.bundle"
                bundle_history(mirror, base_commit, bundle)
                files = {"setup_repo.sh": test_spec.install_repo_script.encode(), "repo.bundle": bundle.read_bytes()}
                self._commit_run(f"instance {tag}", env, script, tag, key, files=_with_ca(files),
                                 network=engine.HOST_NETWORK, changes=["WORKDIR /testbed/"])

        return self._current(tag, key, build)

    def agent_server(self, version: str | None = None) -> str:
        """The Docker volume holding the agent server's virtual environment (built from the base image's Python,
        with this environment's versions of every package it shares with awm-tui); its name."""
        import docker

        version = version or _installed_version(AGENT_SERVER_PACKAGE)
        base = self.base()
        constraints = pinned_constraints()
        key = key_of("agent-server", version, self.image_id(base), constraints)
        volume = f"awm-agent-server-{version}-{key[:10]}"
        if self._volume_complete(volume, base):
            return volume
        with build_lock(volume):
            if self._volume_complete(volume, base):
                return volume
            try:
                self.client.volumes.get(volume).remove(force=True)
            except docker.errors.NotFound:
                pass
            self.client.volumes.create(volume, labels={KEY_LABEL: key})
            script = "\n".join([
                "set -euo pipefail",
                *_pip_trust(),
                f"python3 -m venv {AGENT_SERVER_MOUNT}",
                f"{AGENT_SERVER_MOUNT}/bin/python -m pip install -q --disable-pip-version-check "
                f"-c {BUILD_DIR}/constraints.txt {AGENT_SERVER_PACKAGE}=={version}",
                f"{AGENT_SERVER_MOUNT}/bin/python -c 'import openhands.agent_server, openhands.tools.terminal'",
                f"touch {AGENT_SERVER_MOUNT}/{_COMPLETE}",
            ])
            self._run(f"agent server {version}", base, script,
                      files=_with_ca({"constraints.txt": constraints.encode()}), network=engine.HOST_NETWORK,
                      volumes={volume: {"bind": AGENT_SERVER_MOUNT, "mode": "rw"}}, commit=None)
            return volume

    # ------------------------------------------------------------------ helpers

    def _volume_complete(self, volume: str, base: str) -> bool:
        import docker

        try:
            self.client.volumes.get(volume)
        except docker.errors.NotFound:
            return False
        try:
            self.client.containers.run(base, ["test", "-f", f"{AGENT_SERVER_MOUNT}/{_COMPLETE}"], remove=True,
                                       network_mode="none", labels=engine.labels("build"),
                                       volumes={volume: {"bind": AGENT_SERVER_MOUNT, "mode": "ro"}})
            return True
        except docker.errors.ContainerError:
            return False

    def _commit_run(self, step: str, image: str, script: str, tag: str, key: str, *, files: dict[str, bytes],
                    network: str, changes: list[str]) -> None:
        changes = [*changes, f"LABEL {KEY_LABEL}={key}", 'CMD ["/bin/bash"]',
                   # the build container's own labels are not the image's
                   *(f"LABEL {label}=" for label in (engine.OWNER_LABEL, engine.KIND_LABEL))]
        self._run(step, image, script, files=files, network=network, commit=(tag, changes))

    def _run(self, step: str, image: str, script: str, *, files: dict[str, bytes], network: str,
             commit: tuple[str, list[str]] | None, volumes: dict | None = None) -> None:
        """`script` in a container of `image`, with `files` under BUILD_DIR (copied in, not mounted: a mount point
        would stay in the image; the script's last step removes them, so the commit never holds them)."""
        started = time.monotonic()
        self.say(f"building {step} ...")
        container = self.client.containers.create(
            image, ["/bin/bash", "-c", f"{script}\nrm -rf {BUILD_DIR}"], network_mode=network,
            labels=engine.labels("build"), volumes=volumes or {}, working_dir="/",
        )
        try:
            archive = tar_of({f"{BUILD_DIR.lstrip('/')}/{name}": data for name, data in files.items()})
            container.put_archive("/", archive)
            container.start()
            status = container.wait(timeout=BUILD_TIMEOUT_S).get("StatusCode", 1)
            if status != 0:
                logs = container.logs().decode("utf-8", errors="replace")
                raise ImageError(f"building {step} failed (exit {status}): {_tail(logs)}")
            if commit is not None:
                repository, _, version = commit[0].rpartition(":")
                container.commit(repository=repository, tag=version or "latest", changes=commit[1])
        finally:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001
                pass
        self.timings[step.split()[0]] = round(self.timings.get(step.split()[0], 0) + time.monotonic() - started, 1)


def _pip_trust() -> list[str]:
    """Shell lines that make pip trust the machine's CA bundle when one is mounted (build time only)."""
    return [f"if [ -f {CA_IN_BUILD} ]; then export PIP_CERT={CA_IN_BUILD} SSL_CERT_FILE={CA_IN_BUILD}; fi"]


def base_commit_of(test_spec) -> str:
    """The base commit the harness's setup_repo.sh resets to."""
    match = re.search(r"git reset --hard (\S+)", test_spec.install_repo_script)
    if not match:
        raise ImageError(f"no base commit in the harness's setup_repo.sh for {test_spec.instance_id}")
    return match.group(1)


def bundle_history(mirror: Path, commit: str, out: Path) -> None:
    """A git bundle of `commit` and its history (nothing after it), its branch `main` and HEAD at `commit`: what
    the harness's `git clone --single-branch` of GitHub is answered with. Made in a scratch repository that borrows
    the mirror's objects, so the mirror is not touched."""
    from awm.repos import git

    with tempfile.TemporaryDirectory(prefix="awm-bundle-") as tmp:
        scratch = Path(tmp) / "scratch.git"
        git("init", "-q", "--bare", str(scratch), cwd=Path(tmp))
        (scratch / "objects" / "info" / "alternates").write_text(str(Path(mirror).resolve() / "objects") + "\n")
        git("update-ref", "refs/heads/main", commit, cwd=scratch)
        git("symbolic-ref", "HEAD", "refs/heads/main", cwd=scratch)
        git("bundle", "create", "-q", str(out), "HEAD", "refs/heads/main", cwd=scratch)


def pinned_constraints() -> str:
    """`name==version` for every distribution in this environment (but awm-tui itself): the agent server in the
    container gets the versions the SDK runs with here (uv.lock's)."""
    import importlib.metadata as metadata

    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name and name != "awm-tui":
            found[name] = dist.version
    return "".join(f"{name}=={version}\n" for name, version in sorted(found.items()))


def _installed_version(package: str) -> str:
    import importlib.metadata as metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return metadata.version("openhands-sdk")  # the server is released with the SDK, at the same version


def _tail(text: str, lines: int = 6) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-800:] or "no output"


def _with_ca(files: dict[str, bytes]) -> dict[str, bytes]:
    """`files` and the machine's CA bundle (as ca.crt), for a build step that reaches PyPI."""
    bundle = ca_bundle()
    return {**files, "ca.crt": Path(bundle).read_bytes()} if bundle else files


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar archive of files (name -> bytes), for put_archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
