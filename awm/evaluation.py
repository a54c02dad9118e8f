"""Grading a patch at once: apply it with the instance's test patch to a clean checkout, run the tests, and grade
FAIL_TO_PASS / PASS_TO_PASS with the swebench package's own parsers and grading rules."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from awm import atomic
from awm.types import Issue, Status
from awm.workspace import RepoCache, git, remove

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

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult: ...


@dataclass
class TestProfile:
    """How one repository's tests are run and read."""

    command: Callable[[list[str]], list[str]]
    parser: Callable[[str], dict[str, str]]
    env: dict[str, str] = field(default_factory=dict)


def test_files(test_patch: str) -> list[str]:
    return sorted(set(re.findall(r"^diff --git a/(\S+) b/", test_patch, flags=re.M)))


def profile_for(issue: Issue) -> TestProfile | None:
    from awm import minibench

    if issue.repo == minibench.REPO:
        from swebench.harness.log_parsers.python import parse_log_pytest

        # Third-party pytest plugins in our own environment have nothing to do with the mini project.
        return TestProfile(command=minibench.test_command, parser=lambda log: parse_log_pytest(log, None),
                           env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    return None


class NoEvaluator:
    name = "none"

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult:
        return EvalResult(Status.SKIPPED, reason="evaluation is off (evaluation.backend: none)")


class LocalEvaluator:
    """Runs the tests on this machine, in a throwaway checkout made from the repository cache."""

    name = "local"

    def warm_up(self) -> None:
        import swebench.harness.grading  # noqa: F401 - seconds to import; not on the first issue's clock

    def __init__(self, cache: RepoCache, work_root: Path, timeout_s: float):
        self.cache = cache
        self.work_root = work_root
        self.timeout_s = timeout_s

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult:
        started = time.monotonic()
        result = self._evaluate(issue, patch, out_dir)
        result.duration_s = round(time.monotonic() - started, 3)
        atomic.write_text(out_dir / "patch.diff", patch)
        atomic.write_json(out_dir / "report.json", {issue.instance_id: result.report})
        return result

    def _evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult:
        report = {"patch_is_None": False, "patch_exists": bool(patch.strip()), "patch_successfully_applied": False,
                  "resolved": False}
        if not patch.strip():
            return EvalResult(Status.FAIL, reason="the agent produced no patch", report=report)
        profile = profile_for(issue)
        if profile is None:
            return EvalResult(
                Status.ERROR,
                reason=f"no local test recipe for {issue.repo} {issue.version}; use evaluation.backend "
                "swebench-docker, or none",
                report=report,
            )
        workdir = self.work_root / f"eval-{issue.instance_id}"
        try:
            self.cache.checkout(issue.repo, issue.base_commit, workdir)
            applied, why = apply_patch(workdir, patch)
            if not applied:
                return EvalResult(Status.FAIL, reason=f"the patch does not apply: {why}", report=report)
            report["patch_successfully_applied"] = True
            applied, why = apply_patch(workdir, issue.test_patch)
            if not applied:
                return EvalResult(Status.ERROR, reason=f"the instance's test patch does not apply: {why}",
                                  report=report)
            argv = profile.command(test_files(issue.test_patch))
            test_started = time.monotonic()
            output, timed_out = run_tests(argv, workdir, self.timeout_s, profile.env)
            test_s = time.monotonic() - test_started
            log = f"+ {' '.join(argv)}\n{START}\n{output}\n{END}\n"
            atomic.write_text(out_dir / "test_output.txt", log)
            if timed_out:
                return EvalResult(Status.ERROR, reason=f"the tests timed out after {self.timeout_s:.0f} s",
                                  test_output=excerpt(output), report=report, test_s=test_s)
            status_map = profile.parser(output)
            resolved, tests_status = grade(issue, status_map)
            report.update(resolved=resolved, tests_status=tests_status)
            if resolved:
                return EvalResult(Status.PASS, test_output=excerpt(output), report=report, test_s=test_s)
            return EvalResult(Status.FAIL, reason=failing_summary(tests_status), test_output=excerpt(output),
                              report=report, test_s=test_s)
        finally:
            remove(workdir)


def apply_patch(workdir: Path, patch: str) -> tuple[bool, str]:
    """The harness's order: `git apply`, then GNU patch with fuzz."""
    if not patch.strip():
        return True, ""
    proc = git("apply", "--verbose", "-", cwd=workdir, check=False, input=patch)
    if proc.returncode == 0:
        return True, ""
    fallback = subprocess.run(["patch", "--batch", "--fuzz=5", "-p1"], cwd=workdir, input=patch, text=True,
                              capture_output=True)
    if fallback.returncode == 0:
        return True, ""
    return False, (proc.stderr.strip().splitlines() or ["unknown error"])[-1][:300]


def run_tests(argv: list[str], workdir: Path, timeout_s: float, env: dict[str, str]) -> tuple[str, bool]:
    try:
        proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, env={**os.environ, **env})
        return proc.stdout + proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        return out.decode(errors="replace") if isinstance(out, bytes) else str(out), True


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


def make_evaluator(backend: str, cache: RepoCache, work_root: Path, timeout_s: float) -> Evaluator:
    if backend == "none":
        return NoEvaluator()
    if backend == "local":
        return LocalEvaluator(cache, work_root, timeout_s)
    from awm.errors import UserError

    raise UserError(f"evaluation backend `{backend}` is not available yet; use `local` or `none`.")


def load_report(path: Path) -> dict:
    return json.loads(path.read_text())
