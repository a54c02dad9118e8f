"""Derive SWE-bench instances from the built repository, running the tests the way the evaluation does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from awm.demo.minibench.bugs import BUGS
from awm.demo.minibench.build import git

REPO = "awm-bench/tallyho"


def test_command(test_files: list[str]) -> list[str]:
    """The argv the evaluation runs in a checkout (its output is read with swebench's parse_log_pytest)."""
    return [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *test_files]


def checkout(repo: Path, commit: str, dest: Path, patches: list[str] | None = None) -> Path:
    """A clone of `repo` at `commit` in `dest` with `patches` (git diff text) applied."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", "--no-checkout", str(repo), str(dest))
    git(dest, "checkout", "-q", "--detach", commit)
    for patch in patches or []:
        if patch:
            git(dest, "apply", "--whitespace=nowarn", "-", input=patch)
    return dest


def run_tests(workdir: Path, test_files: list[str], fast: bool = True) -> dict[str, str]:
    """Test statuses by pytest node id. `fast` skips third-party pytest plugins, which only cost start-up time."""
    from swebench.harness.log_parsers.python import parse_log_pytest

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if fast:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run(
        test_command(test_files), cwd=workdir, env=env, capture_output=True, encoding="utf-8", errors="replace",
        timeout=300,
    )
    return parse_log_pytest(result.stdout, None)


def patched_files(patch: str) -> list[str]:
    """The files a git diff touches (new side)."""
    return [line[len("+++ b/"):] for line in patch.splitlines() if line.startswith("+++ b/")]


def derive_instances(repo: Path) -> list[dict]:
    commits = git(repo, "rev-list", "--reverse", "--first-parent", "HEAD").split()
    if len(commits) != len(BUGS) + 1:
        raise RuntimeError(f"{repo}: expected {len(BUGS) + 1} commits, found {len(commits)}")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = [pool.submit(_instance, repo, number, commits) for number in range(1, len(BUGS) + 1)]
        return [job.result() for job in jobs]


def _instance(repo: Path, number: int, commits: list[str]) -> dict:
    bug, base, fixed = BUGS[number - 1], commits[number - 1], commits[number]
    changed = git(repo, "diff", "--name-only", base, fixed).split()
    tests = [path for path in changed if path.startswith("tests/")]
    sources = [path for path in changed if not path.startswith("tests/")]
    patch = git(repo, "diff", base, fixed, "--", *sources)
    test_patch = git(repo, "diff", base, fixed, "--", *tests)
    with tempfile.TemporaryDirectory() as tmp:
        before = run_tests(checkout(repo, base, Path(tmp) / "before", [test_patch]), tests)
        after = run_tests(checkout(repo, base, Path(tmp) / "after", [test_patch, patch]), tests)
    fail_to_pass = [test for test, status in after.items() if status == "PASSED" and before.get(test) != "PASSED"]
    pass_to_pass = [test for test, status in after.items() if status == "PASSED" and before.get(test) == "PASSED"]
    if not fail_to_pass or len(fail_to_pass) + len(pass_to_pass) != len(after):
        raise RuntimeError(f"bug {number}: the gold patch does not make exactly the new tests pass: {after}")
    return {
        "repo": REPO,
        "instance_id": f"awm-bench__tallyho-{number}",
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": bug.problem_statement,
        "hints_text": bug.hints_text,
        "created_at": bug.created_at,
        "version": "0.1",
        "FAIL_TO_PASS": json.dumps(fail_to_pass),
        "PASS_TO_PASS": json.dumps(pass_to_pass),
        "environment_setup_commit": commits[0],
    }
