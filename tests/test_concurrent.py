"""Runs started together share the machine's caches: the repository mirrors, the mini-benchmark build, local
grading's environments, and the run registry. Processes racing for each, started at one barrier, several times:
every one gets a whole result and nothing is lost."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from pathlib import Path

import pytest

from awm.repos import RepoCache
from support.git import git

REPO = "acme/widgets"
WORKERS = 4
ROUNDS = 3
_fork = multiprocessing.get_context("fork")  # the children see what the test set up (patches, environment)


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


# ---------------------------------------------------------------- local grading with several workers (threads)


def _fake_env_build(builds: list):
    def build(recipe, requirements, path):
        builds.append(path)
        (path / "bin").mkdir(parents=True)
        time.sleep(0.3)
        (path / ".awm-env.json").write_text("{}")

    return build


def test_threads_racing_for_one_environment_build_it_once(tmp_path, monkeypatch):
    """The environment lock is a file lock (flock): it holds between threads of one process as between processes."""
    import threading

    from awm.grading import envs
    from awm.grading.recipes import Recipe

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    builds: list[Path] = []
    monkeypatch.setattr(envs, "_build", _fake_env_build(builds))
    recipe = Recipe(repo="acme/widgets", version="2.0", python="3.11")
    barrier = threading.Barrier(WORKERS)
    got = []

    def ensure():
        barrier.wait(timeout=30)
        got.append(envs.ensure(recipe, lambda: "pytest\n"))

    threads = [threading.Thread(target=ensure) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(builds) == 1 and sorted(env.built for env in got) == [False] * (WORKERS - 1) + [True]
    assert {env.path for env in got} == {builds[0]}


CHECK = """\
echo "begin $1" >> {log}
sleep 0.4
if grep -q "A = 2" core.py; then verdict=PASSED; else verdict=FAILED; fi
echo "$verdict tests/check.sh::test_fixed"
echo "end $1" >> {log}
"""


def _local_grading(tmp_path: Path, monkeypatch, repo: Path, base: str):
    """A local evaluator with a spec recipe for acme/widgets (its environment built by a fake, quickly), the fix as a
    patch, and a test patch whose test logs when it begins and ends and takes a while."""
    from awm.grading import envs
    from awm.grading.local import LocalEvaluator
    from awm.records import Issue

    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    builds: list[Path] = []
    monkeypatch.setattr(envs, "_build", _fake_env_build(builds))
    log = tmp_path / "tests.log"
    check = CHECK.format(log=log).splitlines()
    test_patch = ("diff --git a/tests/check.sh b/tests/check.sh\nnew file mode 100644\n--- /dev/null\n"
                  f"+++ b/tests/check.sh\n@@ -0,0 +1,{len(check)} @@\n" + "".join(f"+{line}\n" for line in check))
    fix = "diff --git a/core.py b/core.py\n--- a/core.py\n+++ b/core.py\n@@ -1 +1 @@\n-A = 1\n+A = 2\n"
    recipes = {REPO: {"*": {"python": "3.11", "test_cmd": "bash tests/check.sh $(basename $PWD) #",
                            "log_parser": "pytest"}}}
    evaluator = LocalEvaluator(RepoCache(tmp_path / "cache", {REPO: str(repo)}), tmp_path / "work", 60, recipes)

    def issue(iid: str) -> Issue:
        return Issue(iid, REPO, base, "A should be 2", version="1.0", test_patch=test_patch,
                     FAIL_TO_PASS=["tests/check.sh::test_fixed"])

    return evaluator, issue, fix, log, builds


def _grade_at_once(evaluator, jobs: list[tuple], out: Path) -> list:
    import threading

    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def grade(n, issue, patch):
        barrier.wait(timeout=30)
        results[n] = evaluator.evaluate(issue, patch, out / str(n))

    threads = [threading.Thread(target=grade, args=(n, *job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def _windows(log: Path) -> list[str]:
    """The test runs the log records, each named by its checkout, in order; a run that began before the one before
    it ended (begin, begin) fails the test."""
    text = log.read_text()
    lines = [line.split() for line in text.splitlines()]
    begins, ends = lines[0::2], lines[1::2]
    assert len(begins) == len(ends), text
    assert all(b[0] == "begin" and e[0] == "end" and b[1] == e[1] for b, e in zip(begins, ends)), text
    return [b[1] for b in begins]


def test_threads_grading_two_instances_of_one_recipe_take_turns_with_its_environment(source, tmp_path, monkeypatch):
    """Two workers of one run grade two instances of one recipe at once: one environment is built, and each
    instance's set-up and tests (which install into it) run while the other's do not, each to a verdict."""
    from awm.records import Status

    repo, base, _ = source
    evaluator, issue, fix, log, builds = _local_grading(tmp_path, monkeypatch, repo, base)
    results = _grade_at_once(evaluator, [(issue("acme__widgets-1"), fix), (issue("acme__widgets-2"), fix)],
                             tmp_path / "out")
    assert [r.status for r in results] == [Status.PASS, Status.PASS], [r.reason for r in results]
    assert len(builds) == 1
    assert sorted(_windows(log)) == ["eval-acme__widgets-1", "eval-acme__widgets-2"]


def test_threads_grading_the_same_instance_at_once_each_get_a_whole_checkout(source, tmp_path, monkeypatch):
    """The same instance graded twice at once by one evaluator (nothing in a run does this today, but the checkout
    is named by the instance): the second must not replace the checkout the first is testing in, nor the first
    remove the second's. Without the instance's lock the second's checkout deletes the first's tree."""
    from awm.records import Status

    repo, base, _ = source
    evaluator, issue, fix, log, _ = _local_grading(tmp_path, monkeypatch, repo, base)
    for n in range(ROUNDS):
        log.unlink(missing_ok=True)
        results = _grade_at_once(evaluator, [(issue("acme__widgets-1"), fix)] * 2, tmp_path / f"out{n}")
        assert [r.status for r in results] == [Status.PASS, Status.PASS], [r.reason for r in results]
        assert _windows(log) == ["eval-acme__widgets-1"] * 2
    assert not list((tmp_path / "work").glob("eval-*/"))  # each checkout removed after its grading
