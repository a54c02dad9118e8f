"""Local grading: the harness's scripts run on this machine, without Docker, in a throwaway checkout made from the
repository cache, with the instance's recipe (awm.grading.recipes) and its Python environment (awm.grading.envs).

What the harness does for one instance, and what stands in for it here:
- its environment image (`conda create`, `pip install -r requirements.txt`, `pip install <pip_packages>`): the
  recipe's cached uv environment, resolved as of the harness's date (awm.grading.envs);
- its instance image (setup_repo.sh, `set -euxo pipefail`): the clone at the base commit with the tags older than
  it, then the recipe's pre_install steps and install step in one shell; a failure there is an ERROR, as a failed
  image build is;
- its evaluation (`git apply` of the patch, then eval.sh): the eval commands and the install step again in one
  shell (whatever the patch changed is rebuilt on top of the base commit's build, not from scratch), test files
  reset, test patch, and the tests with stdout and stderr in one stream, as `docker exec` gives them;
- its container: a clean environment (TZ=Etc/UTC, no locale unless the eval commands export one, none of this
  shell's PYTHON*, PYTEST_*, DISPLAY...), keeping only what this machine needs to reach the package index and
  compile, and a temp dir of each step's own under the run's work root (TMPDIR; awm.grading.base.private_tmp), as a
  container's /tmp is its own."""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from pathlib import Path

from awm import atomic
from awm.errors import UserError
from awm.grading import envs
from awm.grading.base import (
    END,
    START,
    EvalResult,
    GradingEvaluator,
    apply_patch,
    excerpt,
    failing_summary,
    grade,
    reset_test_files,
    run_step,
    run_tests,
)
from awm.grading.recipes import Recipe, RecipeError, parser, recipe_for, requirements_text
from awm.records import Issue, Status
from awm.repos import GitError, RepoCache, git, remove

# The harness's base image sets this (`ENV TZ=Etc/UTC`); nothing else of its container's environment is ours to copy.
HARNESS_VARIABLES = {"TZ": "Etc/UTC"}
# Taken from this machine: where its files are, how it reaches the package index (the install steps download build
# dependencies, as the harness's do) and how it compiles extensions. PATH is this machine's, with the recipe's
# environment first and awm-tui's own virtualenv off it (envs.Env.variables).
KEPT_VARIABLES = frozenset({
    "HOME", "USER", "LOGNAME", "TMPDIR", "PATH",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH",
    "PKG_CONFIG_PATH",
})
KEPT_PREFIXES = ("PIP_",)


class LocalEvaluator(GradingEvaluator):
    """Runs the tests on this machine, in a throwaway checkout made from the repository cache, with the instance's
    recipe (awm.grading.recipes): its Python environment (awm.grading.envs), steps, test command and parser."""

    name = "local"

    def __init__(self, cache: RepoCache, work_root: Path, timeout_s: float, recipes: dict | None = None):
        self.cache = cache
        self.work_root = work_root
        self.timeout_s = timeout_s
        self.recipes = recipes or {}  # the spec's evaluation.recipes

    def warm_up(self) -> None:
        import swebench.harness.grading  # noqa: F401 - seconds to import; not on the first issue's clock

        check_recipes(self.recipes)

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
        # One grading of an instance at a time in its checkout (the work root is the run's, so threads of one
        # process are all that can meet here): a second would replace the checkout under the first's tests, and the
        # first remove the second's. Then the environment's lock, held while the checkout is installed and tested.
        with _instance_lock(self.work_root, issue.instance_id):
            try:
                self.cache.checkout(issue.repo, issue.base_commit, workdir)
                add_harness_tags(self.cache.mirror(issue.repo), workdir, issue.base_commit)
                with env.lock() if env else contextlib.nullcontext():
                    return self._test(issue, patch, recipe, env, workdir, out_dir, report)
            finally:
                remove(workdir)

    def _test(self, issue: Issue, patch: str, recipe: Recipe, env: envs.Env | None, workdir: Path, out_dir: Path,
              report: dict) -> EvalResult:
        """The harness's set-up and eval script in `workdir` (see the module's docstring), the test output saved as
        test_output.txt, then graded."""
        environment = harness_environment(recipe, env)
        log = ""
        setup = setup_script(recipe)
        if setup:
            output, code = run_step(shlex.join(clean_argv(setup, environment)), workdir, self.timeout_s, environment,
                                    self.work_root)
            log += output
            if code:
                atomic.write_text(out_dir / "test_output.txt", log)
                return EvalResult(Status.ERROR, reason=f"setting up the checkout at the base commit failed (exit "
                                  f"{code}), as building the harness's instance image would",
                                  test_output=excerpt(output), report=report)
        applied, why = apply_patch(workdir, patch)
        if not applied:
            return EvalResult(Status.FAIL, reason=f"the patch does not apply: {why}", report=report)
        report["patch_successfully_applied"] = True
        install_failed = ""
        if recipe.install:  # a failed install does not stop the harness's eval script either: the tests decide
            output, code = run_step(shlex.join(clean_argv(reinstall_script(recipe), environment)), workdir,
                                    self.timeout_s, environment, self.work_root)
            log += f"+ {recipe.install}\n{output}"
            install_failed = f"; the install step `{recipe.install}` failed (exit {code})" if code else ""
        reset_test_files(workdir, issue.base_commit, issue.test_patch)
        applied, why = apply_patch(workdir, issue.test_patch)
        if not applied:
            return EvalResult(Status.ERROR, reason=f"the instance's test patch does not apply: {why}", report=report)
        command = " ".join([recipe.test_cmd, *map(shlex.quote, recipe.directives(issue.test_patch))])
        started = time.monotonic()
        output, timed_out = run_tests(clean_argv(testing_script(recipe, command), environment), workdir,
                                      self.timeout_s, environment, self.work_root)
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


def setup_script(recipe: Recipe) -> str:
    """The harness's setup_repo.sh after its clone: the pre_install steps and the install step at the base commit,
    in one shell that stops at the first failure ("" when there is nothing to run)."""
    steps = [*recipe.pre_install, *([recipe.install] if recipe.install else [])]
    return "\n".join(["set -euxo pipefail", *steps]) if steps else ""


def reinstall_script(recipe: Recipe) -> str:
    """eval.sh's install after the patch: its eval commands (exports) come first, in the same shell."""
    return "\n".join([*recipe.eval_commands, recipe.install])


def testing_script(recipe: Recipe, command: str) -> str:
    """eval.sh's test run: the eval commands, then the test command, stderr into stdout (one stream, in the order
    written, as `docker exec` gives the harness its log; the parsers expect that interleaving)."""
    return "\n".join(["exec 2>&1", *recipe.eval_commands, command])


def harness_environment(recipe: Recipe, env: envs.Env | None) -> dict[str, str]:
    """The variables the recipe's scripts get, and nothing else: the harness's container's, this machine's paths,
    index access and compilers, the environment first on PATH, the recipe's own."""
    kept = {k: v for k, v in os.environ.items() if k in KEPT_VARIABLES or k.startswith(KEPT_PREFIXES)}
    return {**kept, **HARNESS_VARIABLES, **(env.variables() if env else {}), **dict(recipe.env)}


def clean_argv(script: str, environment: dict[str, str]) -> list[str]:
    """bash running `script`, to be started with `environment`: every other variable of awm-tui's process is unset
    by name (`env -u`; values on a command line would be anyone's to read)."""
    unset = [arg for name in sorted(set(os.environ) - set(environment)) for arg in ("-u", name)]
    return ["env", *unset, "bash", "-c", script]


def add_harness_tags(mirror: Path, workdir: Path, base_commit: str) -> None:
    """The tags the harness's clone keeps (setup_repo.sh deletes those whose commit's `%ci` sorts after the base
    commit's), as far as the base commit can reach them. Versions computed from git (setuptools_scm: pytest,
    astropy) then come out as in the harness's image, not as 0.1.devN: pytest's own `minversion = 2.0` refuses to
    run its suite under such a version."""
    target = git("show", "-s", "--format=%ci", base_commit, cwd=workdir).stdout.strip()
    listed = git("for-each-ref", f"--merged={base_commit}", "--format=%(refname)%09%(objectname)%09"
                 "%(committerdate:iso)%(*committerdate:iso)", "refs/tags", cwd=mirror).stdout
    kept = [line.split("\t") for line in listed.splitlines()]
    creates = "".join(f"create {ref} {sha}\n" for ref, sha, date in kept if date <= target)
    if creates:
        git("update-ref", "--stdin", cwd=workdir, input=creates)


def check_recipes(recipes: dict) -> None:
    """What the spec could not check without importing swebench (seconds): the recipes' log parsers exist, and a
    recipe for a repository swebench does not know is complete."""
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    for repo, versions in recipes.items():
        for version, recipe in versions.items():
            field = f"evaluation.recipes.{repo}.{version}"
            try:
                parser(recipe.get("log_parser", "pytest"))
            except RecipeError as exc:
                raise UserError(f"{exc}.", field=f"{field}.log_parser") from None
            merged = {**versions.get("*", {}), **recipe}
            missing = [key for key in ("python", "test_cmd") if not merged.get(key)]
            if missing and repo not in MAP_REPO_VERSION_TO_SPECS:
                raise UserError(f"swebench has no recipe for {repo} to complete this one, which has no "
                                f"{' and no '.join(missing)}. Add e.g. `python: \"3.11\"` and `test_cmd: pytest -rA`.",
                                field=field)


_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _instance_lock(work_root: Path, instance_id: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((str(work_root), instance_id), threading.Lock())
