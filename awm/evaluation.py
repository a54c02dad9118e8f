"""Grading a patch at once: apply it with the instance's test patch to a clean checkout, run the tests, and grade
FAIL_TO_PASS / PASS_TO_PASS with the swebench package's own parsers and grading rules."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from awm import atomic, envs
from awm.recipes import Recipe, RecipeError, parser, recipe_for, requirements_text, test_files
from awm.spec import EvaluationSpec
from awm.types import Issue, Status
from awm.workspace import GitError, RepoCache, git, remove

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


class NoEvaluator:
    name = "none"

    def evaluate(self, issue: Issue, patch: str, out_dir: Path) -> EvalResult:
        return EvalResult(Status.SKIPPED, reason="evaluation is off (evaluation.backend: none)")


class GradingEvaluator:
    """What every grading backend does around its own grading: time it, keep the patch and the report (the
    harness's shape) in the issue's folder, and fail an empty patch without running anything."""

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


class LocalEvaluator(GradingEvaluator):
    """Runs the tests on this machine, in a throwaway checkout made from the repository cache, with the
    instance's recipe (awm.recipes): its Python environment (awm.envs), install step, test command and parser."""

    name = "local"

    def __init__(self, cache: RepoCache, work_root: Path, timeout_s: float, recipes: dict | None = None):
        self.cache = cache
        self.work_root = work_root
        self.timeout_s = timeout_s
        self.recipes = recipes or {}  # the spec's evaluation.recipes

    def warm_up(self) -> None:
        import swebench.harness.grading  # noqa: F401 - seconds to import; not on the first issue's clock

        check_recipes(self.recipes, self.cache.spec_path)

    def _grade(self, issue: Issue, patch: str, out_dir: Path, report: dict) -> EvalResult:
        try:
            recipe = recipe_for(issue, self.recipes)
            if recipe is None:
                return EvalResult(
                    Status.ERROR,
                    reason=f"no local test recipe for {issue.repo} {issue.version}; add one under "
                    "evaluation.recipes, or use evaluation.backend: swebench-docker (or none)",
                    report=report,
                )
            env = self._env(issue, recipe)
        except (RecipeError, envs.EnvError, GitError) as exc:
            return EvalResult(Status.ERROR, reason=str(exc), report=report)
        workdir = self.work_root / f"eval-{issue.instance_id}"
        try:
            self.cache.checkout(issue.repo, issue.base_commit, workdir)
            with env.lock() if env else contextlib.nullcontext():
                return self._test(issue, patch, recipe, env, workdir, out_dir, report)
        finally:
            remove(workdir)

    def _test(self, issue: Issue, patch: str, recipe: Recipe, env: envs.Env | None, workdir: Path, out_dir: Path,
              report: dict) -> EvalResult:
        """The harness's eval script, in `workdir`: pre-install steps, patch, install, test files reset and test
        patch, the tests between the markers (saved as test_output.txt), grading."""
        variables = {**dict(recipe.env), **(env.variables() if env else {})}
        log = ""
        for step in recipe.pre_install:
            output, code = run_step(step, workdir, self.timeout_s, variables)
            log += f"+ {step}\n{output}"
            if code:
                atomic.write_text(out_dir / "test_output.txt", log)
                return EvalResult(Status.ERROR, reason=f"the recipe's step `{step}` failed (exit {code})",
                                  test_output=excerpt(output), report=report)
        applied, why = apply_patch(workdir, patch)
        if not applied:
            return EvalResult(Status.FAIL, reason=f"the patch does not apply: {why}", report=report)
        report["patch_successfully_applied"] = True
        install_failed = ""
        if recipe.install:  # a failed install does not stop the harness either: the tests decide
            output, code = run_step(recipe.install, workdir, self.timeout_s, variables)
            log += f"+ {recipe.install}\n{output}"
            install_failed = f"; the install step `{recipe.install}` failed (exit {code})" if code else ""
        reset_test_files(workdir, issue.base_commit, issue.test_patch)
        applied, why = apply_patch(workdir, issue.test_patch)
        if not applied:
            return EvalResult(Status.ERROR, reason=f"the instance's test patch does not apply: {why}", report=report)
        command = " ".join([recipe.test_cmd, *map(shlex.quote, recipe.directives(issue.test_patch))])
        started = time.monotonic()
        output, timed_out = run_tests(["bash", "-c", "\n".join([*recipe.eval_commands, command])], workdir,
                                      self.timeout_s, variables)
        test_s = time.monotonic() - started
        atomic.write_text(out_dir / "test_output.txt", f"{log}+ {command}\n{START}\n{output}\n{END}\n")
        if timed_out:
            return EvalResult(Status.ERROR, reason=f"the tests timed out after {self.timeout_s:.0f} s",
                              test_output=excerpt(output), report=report, test_s=test_s)
        resolved, tests_status = grade(issue, recipe.parse(output))
        report.update(resolved=resolved, tests_status=tests_status)
        if resolved:
            return EvalResult(Status.PASS, test_output=excerpt(output), report=report, test_s=test_s)
        return EvalResult(Status.FAIL, reason=failing_summary(tests_status) + install_failed,
                          test_output=excerpt(output), report=report, test_s=test_s)

    def _env(self, issue: Issue, recipe: Recipe) -> envs.Env | None:
        """The recipe's environment (None: awm-tui's own interpreter), built from the requirement files at the
        instance's environment_setup_commit, read from the local mirror."""
        if not recipe.python:
            return None
        commit = issue.environment_setup_commit or issue.base_commit
        return envs.ensure(recipe, lambda: requirements_text(recipe, self.cache.mirror(issue.repo, commit), commit))


def check_recipes(recipes: dict, spec_path: str | None = None) -> None:
    """What the spec could not check without importing swebench (seconds): the recipes' log parsers exist, and a
    recipe for a repository swebench does not know is complete."""
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    from awm.errors import UserError

    for repo, versions in recipes.items():
        for version, recipe in versions.items():
            field = f"{spec_path or '<spec>'}, field `evaluation.recipes.{repo}.{version}"
            try:
                parser(recipe.get("log_parser", "pytest"))
            except RecipeError as exc:
                raise UserError(f"{field}.log_parser`: {exc}.") from None
            merged = {**versions.get("*", {}), **recipe}
            missing = [key for key in ("python", "test_cmd") if not merged.get(key)]
            if missing and repo not in MAP_REPO_VERSION_TO_SPECS:
                raise UserError(f"{field}`: swebench has no recipe for {repo} to complete this one, which has no "
                                f"{' and no '.join(missing)}. Add e.g. `python: \"3.11\"` and `test_cmd: pytest -rA`.")


def reset_test_files(workdir: Path, base_commit: str, test_patch: str) -> None:
    """The test patch's files as they were at the base commit (the harness's `git checkout <base> <files>`):
    whatever the candidate patch did to them is not what is graded."""
    for path in test_files(test_patch):
        if git("cat-file", "-e", f"{base_commit}:{path}", cwd=workdir, check=False).returncode == 0:
            git("checkout", base_commit, "--", path, cwd=workdir)
        else:
            (workdir / path).unlink(missing_ok=True)


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
    """The output (stdout, then stderr) and whether the time ran out; then the whole process group is killed."""
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", stdin=subprocess.DEVNULL, env={**os.environ, **env},
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return out + err, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return out + err, True


def run_step(command: str, workdir: Path, timeout_s: float, env: dict[str, str]) -> tuple[str, int]:
    """A recipe's shell step (pre_install, install), output interleaved; exit status -1 if it timed out."""
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", **env}
    proc = subprocess.Popen(["bash", "-c", command], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", stdin=subprocess.DEVNULL, env={**os.environ, **env},
                            start_new_session=True)
    try:
        return proc.communicate(timeout=timeout_s)[0], proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()[0] + f"\n(timed out after {timeout_s:.0f} s)\n", -1


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


def make_evaluator(evaluation: EvaluationSpec, cache: RepoCache, work_root: Path, *, run_dir: Path,
                   run_tag: str, model_name: str, spec_path: str | None = None) -> Evaluator:
    """The evaluator the spec asks for; a backend that cannot work here (no Docker engine) is refused now,
    before the first issue."""
    timeout_s = evaluation.timeout_minutes * 60
    if evaluation.backend == "none":
        return NoEvaluator()
    if evaluation.backend == "local":
        return LocalEvaluator(cache, work_root, timeout_s, evaluation.recipes)
    from awm.harness import HarnessEvaluator

    harness = HarnessEvaluator(run_dir, run_tag, timeout_s, model_name, keep_images=evaluation.keep_images,
                               min_free_gb=evaluation.min_free_gb)
    harness.check_available(spec_path)
    return harness
