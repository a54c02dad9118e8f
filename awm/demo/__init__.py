"""The demo: the bundled mini-benchmark (`minibench/`, the small real project `tallyho` with 24 real bugs of six
kinds, built by code into a git repository) and the scripted model server (`scripted.py`) that plays the agent's
model on it: `scripted/demo` replays fixed scripts, `scripted/learner` simulates a model that uses the workflow
memory in its prompt (a simulation of the mechanism, not evidence about real models).

Everything the rest of awm-tui knows about the demo is asked here: the dataset and repository source
`builtin:minibench`, the `scripted/NAME` model, and the demo repository's test recipe. Nothing heavy is imported
until it is used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BUILTIN = "builtin:minibench"  # as a dataset name: the bundled instances; as a repository source: built by code
SCRIPTED_PREFIX = "scripted/"  # a model named scripted/NAME is the bundled scripted server
REPO = "awm-bench/tallyho"  # the demo repository's name in the instances


def is_builtin(name: str | None) -> bool:
    return name == BUILTIN


def is_scripted(model: str) -> bool:
    return model.startswith(SCRIPTED_PREFIX)


def dataset_path() -> Path:
    """The bundled instances (SWE-bench format)."""
    from awm.demo.minibench import instances_path

    return instances_path()


def build_repo(dest: Path) -> Path:
    """The demo repository's history, built by code into `dest` (identical hashes everywhere)."""
    from awm.demo.minibench import build_repo as build

    return build(dest)


def recipe_fields(repo: str) -> dict[str, Any] | None:
    """How the demo repository is tested (the fields of a grading recipe), or None for any other repository."""
    if repo != REPO:
        return None
    import shlex

    from awm.demo.minibench import test_command

    # The project is tested with awm-tui's own interpreter; third-party pytest plugins installed there have nothing
    # to do with it.
    return {"python": "", "source": "minibench", "test_cmd": shlex.join(test_command([])), "log_parser": "pytest",
            "env": (("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1"),)}


HARNESS_PYTHON = "3.13"  # the Python of the images built here (awm.images.build: Debian trixie's)


def harness_specs() -> dict[str, dict[str, dict[str, Any]]]:
    """The demo repository's entry for swebench's MAP_REPO_VERSION_TO_SPECS, as swebench's own entries are written:
    what its harness needs to build the demo's images and grade them (awm.grading.harness registers it). The same
    test command and pytest as the local recipe; the stand-in conda's `conda create` makes the environment."""
    from importlib.metadata import version

    from awm.demo.minibench import load_instances

    spec = {
        "python": HARNESS_PYTHON,
        "pip_packages": [f"pytest=={version('pytest')}"],
        "test_cmd": "python -m pytest -rA -p no:cacheprovider",
        "eval_commands": ["export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1"],
    }
    return {REPO: {v: dict(spec) for v in sorted({row["version"] for row in load_instances()})}}


def start_model_server(record_path: Path | None = None, model: str = "scripted/demo", latency_s: float = 0.0):
    """The scripted model on 127.0.0.1, started; `.base_url` is its address, `.stop()` ends it. `model` (the run's
    `llm.model`) picks the mode: `scripted/learner` learns from the memory in its prompt, any other name replays.
    `latency_s`: how long it thinks before each chat reply (a model-bound run, for benchmarks). Every request is
    recorded (to `record_path` too, if given)."""
    from awm.demo.scripted import ScriptedServer, mode_for

    server = ScriptedServer(record_path=record_path, mode=mode_for(model), latency_s=latency_s)
    server.start()
    return server
