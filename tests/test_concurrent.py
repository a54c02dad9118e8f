"""Runs started together share the machine's caches: the repository mirrors, the mini-benchmark build, local
grading's environments, and the run registry. Processes racing for each, started at one barrier, several times:
every one gets a whole result and nothing is lost."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
import traceback
from pathlib import Path

import pytest

from awm.repos import RepoCache

REPO = "acme/widgets"
WORKERS = 4
ROUNDS = 3
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
_fork = multiprocessing.get_context("fork")  # the children see what the test set up (patches, environment)


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def race(target, args_per_worker: list[tuple], errors: Path) -> None:
    """Run `target(*args)` in one process per args, all released at once; fail with the children's tracebacks."""
    barrier = _fork.Barrier(len(args_per_worker))

    def child(*args):
        try:
            barrier.wait(timeout=60)
            target(*args)
        except BaseException:
            with open(errors, "a") as f:
                f.write(f"pid {os.getpid()}: {traceback.format_exc()}\n")
            os._exit(1)
        os._exit(0)

    procs = [_fork.Process(target=child, args=args) for args in args_per_worker]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    failed = errors.read_text() if errors.exists() else ""
    assert [p.exitcode for p in procs] == [0] * len(procs), failed
    assert failed == ""


@pytest.fixture
def source(tmp_path) -> tuple[Path, str, str]:
    repo = tmp_path / "source"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "core.py").write_text("A = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "core.py").write_text("A = 2\n")
    git(repo, "commit", "-qam", "fix")
    return repo, base, git(repo, "rev-parse", "HEAD").strip()


# ---------------------------------------------------------------- the repository cache


def _mirror_and_checkout(root: Path, source: str, commit: str, dest: Path) -> None:
    cache = RepoCache(root, {REPO: source})
    cache.clear_debris()  # what every run's start does: must not take a live process's clone away
    cache.checkout(REPO, commit, dest, isolated=True)
    assert git(dest, "rev-parse", "HEAD").strip() == commit


def test_runs_racing_to_clone_the_same_mirror_all_get_it(source, tmp_path):
    repo, base, fix = source
    for n in range(ROUNDS):
        root = tmp_path / f"cache{n}"
        race(_mirror_and_checkout, [(root, str(repo), base, tmp_path / f"co{n}-{i}") for i in range(WORKERS)],
             tmp_path / f"errors{n}")
        assert sorted(p.name for p in root.iterdir()) == ["acme__widgets.git", "acme__widgets.git.lock"]
        assert git(root / "acme__widgets.git", "rev-parse", "refs/heads/main").strip() == fix


def test_runs_racing_to_fetch_a_missing_commit_all_get_it(source, tmp_path):
    repo, base, fix = source
    root = tmp_path / "cache"
    RepoCache(root, {REPO: str(repo)}).mirror(REPO)
    for n in range(ROUNDS):
        (repo / "core.py").write_text(f"A = {10 + n}\n")
        git(repo, "commit", "-qam", f"later {n}")
        later = git(repo, "rev-parse", "HEAD").strip()
        race(_mirror_and_checkout, [(root, str(repo), later, tmp_path / f"co{n}-{i}") for i in range(WORKERS)],
             tmp_path / f"errors{n}")


def test_runs_racing_to_make_the_demos_mirror_build_it_once(tmp_path):
    from awm.demo.minibench.build import expected_head

    root = tmp_path / "cache"
    race(_mirror_and_checkout, [(root, "builtin:minibench", expected_head(), tmp_path / f"co{i}")
                                for i in range(3)], tmp_path / "errors")
    assert not [p for p in root.rglob(".scratch-*")]


# ---------------------------------------------------------------- the mini-benchmark's build


def _build(dest: Path) -> None:
    from awm.demo.minibench.build import build_repo, expected_head, head

    assert build_repo(dest) == dest
    assert head(dest) == expected_head()


def test_processes_racing_to_build_the_minibench_repository_all_get_it(tmp_path):
    from awm.demo.minibench.build import expected_head, head

    for n in range(2):
        dest = tmp_path / f"b{n}" / "tallyho"
        race(_build, [(dest,)] * 3, tmp_path / f"errors{n}")
        assert head(dest) == expected_head()
        assert [p.name for p in dest.parent.iterdir()] == ["tallyho"]  # no half builds, no lock file


# ---------------------------------------------------------------- local grading's environments


def _ensure(recipe, log: Path) -> None:
    from awm.grading import envs

    env = envs.ensure(recipe, lambda: "pytest\n")
    assert (env.path / ".awm-env.json").exists()
    with open(log, "a") as f:
        f.write(f"{'built' if env.built else 'reused'}\n")


def test_processes_racing_for_one_environment_build_it_once(tmp_path, monkeypatch):
    from awm.grading import envs
    from awm.grading.recipes import Recipe

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))

    def slow_build(recipe, requirements, path):
        path.mkdir(parents=True)
        time.sleep(0.3)
        (path / ".awm-env.json").write_text("{}")

    monkeypatch.setattr(envs, "_build", slow_build)
    for n in range(ROUNDS):
        recipe = Recipe(repo="acme/widgets", version=f"1.{n}", python="3.11")
        log = tmp_path / f"log{n}"
        race(_ensure, [(recipe, log)] * WORKERS, tmp_path / f"errors{n}")
        assert sorted(log.read_text().split()) == ["built"] + ["reused"] * (WORKERS - 1)


# ---------------------------------------------------------------- the run registry


def _create_runs(spec, dirs: list[Path]) -> None:
    from awm.run.store import RunStore

    for run_dir in dirs:
        RunStore.create(spec, str(run_dir))


def test_runs_created_at_once_outside_the_runs_folder_are_all_listed(tmp_path, monkeypatch):
    from awm.run.store import list_runs
    from awm.spec import load_spec

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    spec = load_spec(Path(__file__).parents[1] / "specs" / "demo.yaml")
    per_worker = 13
    for n in range(2):
        dirs = [[tmp_path / f"elsewhere{n}" / f"run-{w}-{i}" for i in range(per_worker)] for w in range(WORKERS)]
        race(_create_runs, [(spec, d) for d in dirs], tmp_path / f"errors{n}")
        listed = {r.run_dir for r in list_runs()}
        assert listed >= {d for group in dirs for d in group}
    assert len(list_runs()) == 2 * WORKERS * per_worker


def test_the_registry_of_earlier_versions_is_still_read(tmp_path, monkeypatch):
    from awm.run.store import list_runs

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    old = tmp_path / "old-run"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"spec": {"name": "old"}}))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "other_runs.json").write_text(json.dumps([str(old), str(tmp_path / "deleted")]))
    assert [r.run_dir for r in list_runs()] == [old]
