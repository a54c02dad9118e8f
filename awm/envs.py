"""One Python environment per recipe: a uv venv under the user data dir with the recipe's requirements and pip
packages, built once (under a lock, so two processes never build the same one) and reused by every evaluation
that needs it. A changed recipe or requirements file gets a new environment (the hash in the folder name)."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from awm import atomic, locations
from awm.recipes import Recipe

DOCKER = "evaluation.backend: swebench-docker"
BUILD_TIMEOUT_S = 3600
_MARKER = ".awm-env.json"
_PROJECT = Path(__file__).resolve().parents[1]


class EnvError(RuntimeError):
    """What this machine cannot give an evaluation: the instance's verdict is ERROR with this reason."""


@dataclass
class Env:
    path: Path
    built: bool  # by this call (False: reused)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def variables(self) -> dict[str, str]:
        """The environment first on PATH, and awm-tui's own virtualenv off it (its pytest is not the recipe's)."""
        own = str(Path(sys.prefix) / "bin") if sys.prefix != sys.base_prefix else None
        rest = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and entry != own]
        return {"VIRTUAL_ENV": str(self.path), "PATH": os.pathsep.join([str(self.path / "bin"), *rest])}

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held while an evaluation installs the checkout into the environment and runs its tests."""
        with _flock(_lock_path(self.path)):
            yield


def root() -> Path:
    return locations.home() / "envs"


def env_path(recipe: Recipe, requirements: str) -> Path:
    key = json.dumps([recipe.python, requirements, list(recipe.pip_packages)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return root() / f"{recipe.repo.replace('/', '__')}-{recipe.version or 'any'}-py{recipe.python}-{digest}"


def ensure(recipe: Recipe, read_requirements: Callable[[], str]) -> Env:
    """The recipe's environment, built now if it is not there yet."""
    if recipe.conda_only:
        raise EnvError(
            f"{recipe.repo} {recipe.version} is set up with conda ({recipe.conda_only}), which a local pip "
            f"environment cannot reproduce; use {DOCKER}, or give a pip recipe under evaluation.recipes"
        )
    requirements = read_requirements()
    path = env_path(recipe, requirements)
    if (path / _MARKER).exists():
        return Env(path, built=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _flock(_lock_path(path)):
        if (path / _MARKER).exists():
            return Env(path, built=False)
        _build(recipe, requirements, path)
    return Env(path, built=True)


def _build(recipe: Recipe, requirements: str, path: Path) -> None:
    interpreter, version = find_python(recipe.python), recipe.python
    missing = f"which is not installed here (looked in {_pyenv_root() / 'versions'}, on PATH and among uv's Pythons)"
    if _version_tuple(version) < (3, 6):
        why = f"{missing}, and" if interpreter is None else "and"
        why += " uv makes environments for Python 3.6 or newer only"
        raise EnvError(f"{recipe.repo} {recipe.version} is tested on Python {version}, {why}; use {DOCKER}, or "
                       "give another Python under evaluation.recipes")
    if interpreter is None:
        raise EnvError(f"{recipe.repo} {recipe.version} is tested on Python {version}, {missing}; install it "
                       f"(`pyenv install {version}`), or use {DOCKER}")
    shutil.rmtree(path, ignore_errors=True)
    started = time.monotonic()
    _uv("venv", "--quiet", "--seed", "--python", interpreter, str(path), step="creating the virtualenv")
    python = str(path / "bin" / "python")
    if requirements.strip():
        (path / "requirements.txt").write_text(requirements)
        _uv("pip", "install", "--python", python, "-r", str(path / "requirements.txt"),
            step="installing its requirements")
    if recipe.pip_packages:
        _uv("pip", "install", "--python", python, *recipe.pip_packages, step="installing its pip packages")
    atomic.write_json(path / _MARKER, {
        "repo": recipe.repo, "version": recipe.version, "python": recipe.python, "interpreter": interpreter,
        "pip_packages": list(recipe.pip_packages), "requirements": requirements,
        "build_s": round(time.monotonic() - started, 1),
    })


@functools.cache
def uv() -> str:
    """A uv that runs: the project's own (`.tools/bin/uv`), then PATH's (a pyenv shim may not)."""
    for candidate in (os.environ.get("AWM_UV"), str(_PROJECT / ".tools" / "bin" / "uv"), shutil.which("uv")):
        if candidate and _runs([candidate, "--version"]):
            return candidate
    raise EnvError("uv is not installed, and local environments are made with it; install it "
                   "(https://docs.astral.sh/uv/) or use " + DOCKER)


def _uv(*args: str, step: str) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    try:
        proc = subprocess.run([uv(), *args], capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EnvError(f"{step} took more than {BUILD_TIMEOUT_S} s; use {DOCKER}") from None
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in proc.stderr.strip().splitlines()[-6:])
        raise EnvError(f"the local environment could not be built ({step}): {tail[-800:]}; use {DOCKER}")


def find_python(version: str) -> str | None:
    """An interpreter reporting `version` (X.Y): pyenv's versions first, then PATH's and uv's."""
    candidates = sorted((_pyenv_root() / "versions").glob(f"{version}.*/bin/python{version}"),
                        key=lambda p: _version_tuple(p.parts[-3]), reverse=True)
    for candidate in [*map(str, candidates), shutil.which(f"python{version}")]:
        if candidate and _runs([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], version):
            return candidate
    if _version_tuple(version) >= (3, 6):
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        proc = subprocess.run([uv(), "python", "find", "--system", version], capture_output=True, text=True, env=env)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    return None


def _runs(argv: list[str], expected: str | None = None) -> bool:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and (expected is None or proc.stdout.strip() == expected)


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or "~/.pyenv").expanduser()


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _lock_path(env: Path) -> Path:
    return env.with_name(env.name + ".lock")


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
