"""What every grading backend shares: the result, the protocol, the steps around grading (timing, patch and report
kept, an empty patch failed at once), patch application in the harness's order, test runs in their own process
group with a private temp dir, and grading FAIL_TO_PASS / PASS_TO_PASS with the swebench package's own rules."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from awm import atomic
from awm.grading.recipes import test_files
from awm.processes import group_env, new_token, wait_ended
from awm.records import Issue, Status
from awm.repos import git, remove

# The harness's markers, so a saved test log reads like one of its own.
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"
EXCERPT = 3000


@dataclass
class EvalResult:
    status: Status
    reason: str = ""
    test_output: str = ""
    report: dict = field(default_factory=dict)
    test_s: float = 0.0  # time spent running the tests
    duration_s: float = 0.0


class Evaluator(Protocol):
    name: str

    def warm_up(self) -> None:
        """Import what grading needs (seconds), so the first issue's timings are its own."""

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult: ...


class NoEvaluator:
    name = "none"

    def warm_up(self) -> None:
        pass

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult:
        return EvalResult(Status.SKIPPED, reason="evaluation is off (evaluation.backend: none)")


class GradingEvaluator:
    """What every grading backend does around its own grading: time it, keep the patch and the report (the
    harness's shape) in the issue's folder, and fail an empty patch without running anything."""

    def warm_up(self) -> None:
        pass

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult:
        started = time.monotonic()
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out_dir / "patch.diff", patch)
        report = {"patch_is_None": False, "patch_exists": bool(patch.strip()), "patch_successfully_applied": False,
                  "resolved": False}
        if patch.strip():
            result = self._grade(issue, patch, out_dir, report)
        else:
            result = EvalResult(Status.FAIL, reason="the agent produced no patch", report=report)
        result.duration_s = round(time.monotonic() - started, 3)
        atomic.write_json(out_dir / "report.json", {issue.instance_id: result.report})
        return result

    def _grade(self, issue: Issue, patch: str, out_dir: Path, report: dict) -> EvalResult:
        raise NotImplementedError


def reset_test_files(workdir: Path, base_commit: str, test_patch: str) -> None:
    """The test patch's files as they were at the base commit (the harness's `git checkout <base> <files>`):
    whatever the candidate patch did to them is not what is graded."""
    for path in test_files(test_patch):
        if git("cat-file", "-e", f"{base_commit}:{path}", cwd=workdir, check=False).returncode == 0:
            git("checkout", base_commit, "--", path, cwd=workdir)
        else:
            (workdir / path).unlink(missing_ok=True)


def apply_patch(workdir: Path, patch: str) -> tuple[bool, str]:
    """The harness's commands in its order (swebench's GIT_APPLY_CMDS), each on the tree the one before left:
    `git apply`, `git apply --reject` (applies the hunks that fit, and fails if any does not), then GNU patch with
    fuzz. The first that succeeds wins."""
    if not patch.strip():
        return True, ""
    first = git("apply", "--verbose", "-", cwd=workdir, check=False, input=patch)
    if first.returncode == 0:
        return True, ""
    if git("apply", "--verbose", "--reject", "-", cwd=workdir, check=False, input=patch).returncode == 0:
        return True, ""
    fallback = subprocess.run(["patch", "--batch", "--fuzz=5", "-p1"], cwd=workdir, input=patch, text=True,
                              capture_output=True)
    if fallback.returncode == 0:
        return True, ""
    return False, (first.stderr.strip().splitlines() or ["unknown error"])[-1][:300]


TMP_VARIABLES = ("TMPDIR", "TMP", "TEMP")


@contextmanager
def private_tmp(root: Path) -> Iterator[dict[str, str]]:
    """A temp folder of one grading command's own under `root` (the run's work root), removed afterwards; yields
    the variables that point the command at it. Pytest keeps its `<temp dir>/pytest-of-<user>` there, so test runs
    of other processes on this machine, which clean up old folders in theirs, never remove this run's (nor it
    theirs)."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="tmp-", dir=root))
    try:
        yield {name: str(path) for name in TMP_VARIABLES}
    finally:
        remove(path)


def run_tests(argv: list[str], workdir: Path, timeout_s: float, env: dict[str, str],
              tmp_root: Path | None = None) -> tuple[str, bool]:
    """The output (stdout, then stderr) and whether the time ran out. It runs in a session of its own, tagged: past
    the time, when this thread is interrupted or when awm-tui dies (its watchdog), everything it started is killed,
    and so is what it leaves in the background (awm.processes). Its temp dir is a private one under `tmp_root`
    (default: the folder `workdir` is in), removed once it has ended."""
    token = new_token("g")
    with private_tmp(tmp_root or workdir.parent) as tmp:
        proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", stdin=subprocess.DEVNULL,
                                env={**os.environ, **env, **tmp, **group_env(token)}, start_new_session=True)
        out, err, timed_out = wait_ended(proc, timeout_s, token)
    return out + err, timed_out


def run_step(command: str, workdir: Path, timeout_s: float, env: dict[str, str],
             tmp_root: Path | None = None) -> tuple[str, int]:
    """A recipe's shell step (pre_install, install), output interleaved; exit status -1 if it timed out. Its
    processes end with it, and its temp dir is private, as run_tests' are."""
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", **env}
    token = new_token("g")
    with private_tmp(tmp_root or workdir.parent) as tmp:
        proc = subprocess.Popen(["bash", "-c", command], cwd=workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", stdin=subprocess.DEVNULL,
                                env={**os.environ, **env, **tmp, **group_env(token)}, start_new_session=True)
        out, _, timed_out = wait_ended(proc, timeout_s, token)
    if timed_out:
        return out + f"\n(timed out after {timeout_s:.0f} s)\n", -1
    return out, proc.returncode


def grade(issue: Issue, status_map: dict[str, str]) -> tuple[bool, dict]:
    from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS
    from swebench.harness.grading import ResolvedStatus, get_eval_tests_report, get_resolution_status

    gold = {FAIL_TO_PASS: issue.FAIL_TO_PASS, PASS_TO_PASS: issue.PASS_TO_PASS}
    tests_status = get_eval_tests_report(status_map, gold)
    return get_resolution_status(tests_status) == ResolvedStatus.FULL.value, tests_status


def failing_summary(tests_status: dict) -> str:
    failing = tests_status.get("FAIL_TO_PASS", {}).get("failure", [])
    broken = tests_status.get("PASS_TO_PASS", {}).get("failure", [])
    parts = []
    if failing:
        parts.append(f"{len(failing)} FAIL_TO_PASS test(s) still fail ({', '.join(failing[:3])})")
    if broken:
        parts.append(f"{len(broken)} PASS_TO_PASS test(s) now fail ({', '.join(broken[:3])})")
    return "; ".join(parts) or "not resolved"


def excerpt(output: str) -> str:
    return output if len(output) <= EXCERPT else "…\n" + output[-EXCERPT:]
