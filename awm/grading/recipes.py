"""How one repository at one version is installed and tested on this machine, without Docker.

A recipe comes from what the swebench package knows per repository and version (`MAP_REPO_VERSION_TO_SPECS`), from
the spec's `evaluation.recipes` (laid over swebench's entry, if any), or from the bundled mini-benchmark.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from awm import demo
from awm.records import Issue
from awm.repos import git

# Steps of swebench's recipes that configure the Docker image as root (apt, locales): not ours to run.
_SYSTEM_STEP = re.compile(r"\b(apt-get|apt|locale-gen|yum|apk)\b|/etc/")

# The harness's environments resolve whatever is unpinned (requirement files, its conda package lists, its own
# pip_packages, and pip/setuptools/wheel themselves) when its images are built. The environments exported from the
# official images (SWE-bench's swebench/resources/swebench-og, not shipped in the wheel) were resolved in October
# 2024: pip 24.2, setuptools 75.1.0, wheel 0.44.0, mypy 1.13.0 (out 2024-10-22), virtualenv 20.27.0 but not 20.27.1
# (out 2024-10-28). Resolving as of then gives what those images have, today and years from now; unconstrained, a
# 2026 resolution seeds pip 26 (no `--no-use-pep517`, which scikit-learn's install step passes) and setuptools 82
# (no `pkg_resources`), and brings black's 2025 style to Django's migration tests. The instance's created_at cannot
# stand in: the harness's own pins postdate most instances (attrs==23.1.0 for pytest's 2019 issues, tox==4.16.0 for
# Sphinx's), so they would not resolve, and what it would resolve the images never had.
HARNESS_DATE = "2024-10-25T00:00:00Z"


def test_files(test_patch: str) -> list[str]:
    return sorted(set(re.findall(r"^diff --git a/(\S+) b/", test_patch, flags=re.M)))


@dataclass(frozen=True)
class Recipe:
    repo: str
    version: str
    python: str  # "X.Y"; "" = awm-tui's own interpreter, and no environment is built
    requirements: tuple[str, ...] = ()  # files in the repository: the first present at environment_setup_commit
    packages: tuple[str, ...] = ()  # swebench's conda package list, installed from PyPI with the requirements
    pip_packages: tuple[str, ...] = ()  # installed after those, as the harness's `pip install` after `conda create`
    conda_only: str = ""  # what only conda installs; such an environment is not built
    exclude_newer: str = ""  # resolve the environment as of this date (uv's --exclude-newer); "" = as of now
    pre_install: tuple[str, ...] = ()  # shell steps in the checkout, before the patch
    install: str = ""  # shell step in the checkout: at the base commit, and again after the patch
    test_cmd: str = ""  # the test directives are appended
    eval_commands: tuple[str, ...] = ()  # shell steps before the tests (exports)
    log_parser: str = "pytest"  # a swebench parser name (parse_log_<name>) or a repository whose parser to use
    env: tuple[tuple[str, str], ...] = ()
    directives: Callable[[str], list[str]] = field(default=test_files, compare=False, repr=False)
    source: str = "swebench"  # swebench | spec | minibench | spec over swebench

    def parse(self, log: str) -> dict[str, str]:
        return parser(self.log_parser)(log, None)


class RecipeError(ValueError):
    """A recipe that cannot be used as written."""


def parser_names() -> list[str]:
    from swebench.harness.log_parsers import python

    return sorted(n.removeprefix("parse_log_") for n in dir(python) if n.startswith("parse_log_"))


def parser(name: str) -> Callable:
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER, python

    found = MAP_REPO_TO_PARSER.get(name) or getattr(python, f"parse_log_{name}", None)
    if found is None:
        raise RecipeError(f"unknown log parser `{name}`: use one of {', '.join(parser_names())}, or a repository "
                          "known to swebench such as django/django")
    return found


def recipe_for(issue: Issue, extra: dict | None = None) -> Recipe | None:
    """The recipe for `issue`, or None when nothing knows how to test its repository. `extra` is the spec's
    `evaluation.recipes`: its "*" entry, then its entry for the issue's version, are laid over swebench's."""
    bundled = demo.recipe_fields(issue.repo)
    if bundled is not None:
        return Recipe(repo=issue.repo, version=issue.version, **bundled)
    known = _from_swebench(issue.repo, issue.version)
    given = (extra or {}).get(issue.repo, {})
    overlay = {**given.get("*", {}), **given.get(issue.version, {})}
    if not known and not overlay:
        return None
    values = {**(known or {}), **overlay}
    spec_packages = "requirements" in overlay or "pip_packages" in overlay
    if spec_packages:
        values["conda_only"] = ""  # the spec says what to install instead
    missing = [k for k in ("python", "test_cmd") if not values.get(k)]
    if missing:
        raise RecipeError(f"the recipe for {issue.repo} {issue.version} under evaluation.recipes has no "
                          f"{' and no '.join(missing)}")
    style = str(values.get("log_parser")) if "/" in str(values.get("log_parser")) else issue.repo
    return Recipe(
        repo=issue.repo, version=issue.version, python=str(values["python"]),
        requirements=tuple(values.get("requirements") or ()), packages=tuple(values.get("packages") or ()),
        pip_packages=tuple(values.get("pip_packages") or ()), conda_only=values.get("conda_only", ""),
        # the harness's date for what the harness installs; what the spec names may be newer
        exclude_newer=HARNESS_DATE if known and not spec_packages else "",
        pre_install=tuple(values.get("pre_install") or ()),
        install=values.get("install") or "", test_cmd=values["test_cmd"],
        eval_commands=tuple(values.get("eval_commands") or ()), log_parser=values.get("log_parser") or "pytest",
        directives=lambda test_patch: _directives(style, test_patch),
        source=("spec over swebench" if known else "spec") if overlay else "swebench",
    )


def _from_swebench(repo: str, version: str) -> dict | None:
    from swebench.harness.constants import MAP_REPO_TO_REQS_PATHS, MAP_REPO_VERSION_TO_SPECS
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    specs = MAP_REPO_VERSION_TO_SPECS.get(repo, {}).get(version)
    if not specs or repo not in MAP_REPO_TO_PARSER_PY:
        return None
    packages = specs.get("packages", "")
    values = {
        "python": specs["python"], "requirements": [], "packages": [],
        "pip_packages": list(specs.get("pip_packages", [])),
        "conda_only": "", "install": specs.get("install", ""), "test_cmd": specs.get("test_cmd", ""),
        "pre_install": [s for s in specs.get("pre_install", []) if not _SYSTEM_STEP.search(s)],
        "eval_commands": [_local_locale(s) for s in specs.get("eval_commands", []) if not _SYSTEM_STEP.search(s)],
        "log_parser": repo,
    }
    if packages == "requirements.txt":
        values["requirements"] = MAP_REPO_TO_REQS_PATHS[repo]
    elif packages == "environment.yml":
        values["conda_only"] = "its environment.yml"
    elif packages:  # conda packages, all with the same names on PyPI
        values["packages"] = shlex.split(packages)
    return values


def _local_locale(step: str) -> str:
    """The image generates en_US.UTF-8; without it here Python 3.6 would fall back to ASCII, so C.UTF-8 stands in."""
    if "en_US.UTF-8" not in step:
        return step
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout
    except OSError:
        listed = ""
    available = {name.lower().replace("-", "") for name in listed.split()}
    return step if "en_us.utf8" in available else step.replace("en_US.UTF-8", "C.UTF-8")


def _directives(style_repo: str, test_patch: str) -> list[str]:
    from swebench.harness.test_spec.python import get_test_directives

    return get_test_directives({"repo": style_repo, "test_patch": test_patch})


def requirements_text(recipe: Recipe, mirror: Path, commit: str) -> str:
    """The recipe's requirements as the harness gathers them (first file found, `-r` files inlined, `-e .` and
    comments dropped), read from the local mirror instead of GitHub."""
    from swebench.harness.test_spec.python import clean_requirements

    for path in recipe.requirements:
        text = _show(mirror, commit, path)
        if text is None:
            continue
        folder, lines, included = posixpath.dirname(path), [], []
        for line in text.splitlines():
            if line.strip().startswith("-r"):
                nested_path = posixpath.normpath(posixpath.join(folder, line.strip()[2:].strip()))
                nested = _show(mirror, commit, nested_path) or ""
                included += [x for x in nested.splitlines() if not _excluded(x)]
            elif not _excluded(line):
                lines.append(line)
        return clean_requirements("\n".join(included + lines))
    if recipe.requirements:
        raise RecipeError(f"none of {', '.join(recipe.requirements)} exists in {recipe.repo} at {commit[:12]}")
    return ""


def _excluded(line: str) -> bool:
    return line.strip().startswith(("-e .", "#", ".[test"))


def _show(mirror: Path, commit: str, path: str) -> str | None:
    proc = git("show", f"{commit}:{path}", cwd=mirror, check=False)
    return proc.stdout if proc.returncode == 0 else None
