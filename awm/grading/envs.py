"""One Python environment per recipe: a uv venv under the user data dir with the recipe's requirements and pip
packages, built once (under a lock, so two processes never build the same one) and reused by every evaluation
that needs it. A changed recipe or requirements file gets a new environment (the hash in the folder name).

It is built as the harness builds its environment image, in the same order: the Python with its seed packages
(`conda create python=X.Y [packages]`), the requirement files (`pip install -r requirements.txt`), then the pip
packages (`pip install <pip_packages>`, which may replace what came before), all resolved as of the recipe's date."""

from __future__ import annotations

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

from awm import atomic, paths
from awm.grading.recipes import Recipe

DOCKER = "evaluation.backend: swebench-docker"
BUILD_TIMEOUT_S = 3600
_MARKER = ".awm-env.json"
_PROJECT = Path(__file__).resolve().parents[2]


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
        with atomic.locked(_lock_path(self.path)):
            yield


def root() -> Path:
    return paths.home() / "envs"


def env_path(recipe: Recipe, requirements: str) -> Path:
    key = json.dumps([recipe.python, requirements, list(recipe.packages), list(recipe.pip_packages),
                      recipe.exclude_newer, "compiled"])  # environments made before bytecode was compiled: anew
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
    with atomic.locked(_lock_path(path)):
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
    (step, args), *installs = build_commands(recipe, interpreter, path, bool(requirements.strip()))
    _uv(*args, step=step)  # the virtualenv, then the file its install reads
    if requirements.strip():
        (path / "requirements.txt").write_text(requirements)
    for step, args in installs:
        _uv(*args, step=step)
    atomic.write_json(path / _MARKER, {
        "repo": recipe.repo, "version": recipe.version, "python": recipe.python, "interpreter": interpreter,
        "packages": list(recipe.packages), "pip_packages": list(recipe.pip_packages), "requirements": requirements,
        "exclude_newer": recipe.exclude_newer, "build_s": round(time.monotonic() - started, 1),
    })


def build_commands(recipe: Recipe, interpreter: str, path: Path, requirements: bool) -> list[tuple[str, list[str]]]:
    """The uv commands that build the environment at `path`, in the harness's order, each with what it does.
    `requirements`: whether the requirements text (saved as `path`/requirements.txt) has anything to install."""
    # The date holds for the seed packages too: pip and setuptools decide how the install step builds the checkout.
    cutoff = ["--exclude-newer", recipe.exclude_newer] if recipe.exclude_newer else []
    python = str(path / "bin" / "python")
    # pip compiles every module it installs, uv does not unless asked: without it, a project whose pytest config
    # turns warnings into errors fails at import where a dependency has an invalid escape sequence (a SyntaxError
    # under `-W error` on its first compile), while the harness's pip-built environment passes
    install = ["pip", "install", "--compile-bytecode", *cutoff, "--python", python]
    commands = [("creating the virtualenv", ["venv", "--quiet", "--seed", *cutoff, "--python", interpreter, str(path)])]
    listed = [*(["-r", str(path / "requirements.txt")] if requirements else []), *recipe.packages]
    if listed:  # the harness installs one or the other: a requirements file, or conda packages with the Python
        commands.append(("installing its requirements", [*install, *listed]))
    if recipe.pip_packages:
        commands.append(("installing its pip packages", [*install, *recipe.pip_packages]))
    return commands


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
