"""`evaluation: local` without Docker on SWE-bench-format instances: recipes from swebench's maps or the spec, one
cached environment per recipe (uv, the recipe's Python), install, test patch, the repository's parser, grading.

The end-to-end part builds a small real-world-like project (a package importing `six`, pinned in its
requirements.txt, tested with pytest) and tests it on Python 3.11, not the 3.12 awm-tui runs on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from awm.demo import minibench
from awm.demo.minibench.build import git
from awm.errors import UserError
from awm.grading import envs
from awm.grading.backends import make_evaluator
from awm.grading.local import LocalEvaluator
from awm.grading.recipes import Recipe, recipe_for, requirements_text
from awm.paths import repo_cache_root
from awm.records import Issue, Status
from awm.repos import RepoCache
from awm.spec import load_spec

REPO = "acme/slugkit"
PY = "3.11"  # not awm-tui's 3.12: the test output must show this one
DATE = "2024-05-0{}T10:00:00+00:00"

SOURCE = '''\
import re

import six


def slugify(text):
    """"Hello World" -> "hello-world"."""
    if isinstance(text, six.binary_type):
        text = text.decode("utf-8")
    text = re.sub(r"[^a-z0-9 ]", "", text.lower())
    return text.strip().replace(" ", "-")
'''
TESTS = '''\
from slugkit import slugify


def test_lowercases():
    assert slugify("Hello World") == "hello-world"


def test_accepts_bytes():
    assert slugify(b"Caf Menu") == "caf-menu"
'''
GOLD = SOURCE.replace('return text.strip().replace(" ", "-")', 'return "-".join(text.split())')
WRONG = SOURCE.replace('replace(" ", "-")', 'replace("  ", " ").replace(" ", "-")')  # runs of 3 stay 2
MORE_TESTS = TESTS + '''

def test_collapses_runs_of_spaces():
    assert slugify("Hello   big  World") == "hello-big-world"
'''
F2P = ["tests/test_slug.py::test_collapses_runs_of_spaces"]
P2P = ["tests/test_slug.py::test_lowercases", "tests/test_slug.py::test_accepts_bytes"]


def commit(repo: Path, files: dict[str, str], message: str, day: int) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=DATE.format(day))
    return git(repo, "rev-parse", "HEAD").strip()


def diff(repo: Path, files: dict[str, str]) -> str:
    """The patch that writes `files` over HEAD (which is left as it was)."""
    for name, text in files.items():
        (repo / name).write_text(text)
    patch = git(repo, "diff", "--no-color")
    git(repo, "checkout", "--", *files)
    return patch


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project's git history and one SWE-bench-format instance (plus its patches)."""
    root = tmp_path_factory.mktemp("slugkit")
    repo = root / "slugkit"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    setup_commit = commit(repo, {
        "setup.py": "from setuptools import setup\n\nsetup(name='slugkit', version='1.0', packages=['slugkit'])\n",
        "requirements.txt": "-r requirements/base.txt\n-e .\n",
        "requirements/base.txt": "# runtime\nsix==1.16.0\n",
        "slugkit/__init__.py": SOURCE,
        "tests/test_slug.py": TESTS,
    }, "slugkit 1.0", 1)
    base = commit(repo, {"README.md": "slugkit: URL slugs.\n"}, "Add a README", 2)
    gold = diff(repo, {"slugkit/__init__.py": GOLD})
    test_patch = diff(repo, {"tests/test_slug.py": MORE_TESTS})
    wrong = diff(repo, {"slugkit/__init__.py": WRONG})
    issue = Issue(
        instance_id="acme__slugkit-1", repo=REPO, base_commit=base, environment_setup_commit=setup_commit,
        version="1.0", problem_statement="slugify keeps runs of spaces as runs of dashes",
        patch=gold, test_patch=test_patch, FAIL_TO_PASS=F2P, PASS_TO_PASS=P2P,
    )
    return repo, issue, wrong


@pytest.fixture(scope="module")
def evaluator(awm_home, project, tmp_path_factory):
    """A local evaluator made from a spec, as a run makes it, with the project's recipe in evaluation.recipes."""
    if envs.find_python(PY) is None:
        pytest.skip(f"Python {PY} is not installed")
    repo = project[0]
    folder = tmp_path_factory.mktemp("spec")
    (folder / "spec.yaml").write_text(textwrap.dedent(f"""\
        llm: {{model: scripted/demo}}
        repos: {{{REPO}: {repo}}}
        evaluation:
          backend: local
          recipes:
            {REPO}:
              "*":
                python: "{PY}"
                requirements: [requirements.txt]
                pip_packages: [pytest==8.3.3]
                install: python -m pip install --no-build-isolation -e .
                test_cmd: pytest -rA -p no:cacheprovider
                log_parser: pytest
              "0.1": {{python: "2.6"}}
        """))
    spec = load_spec(folder / "spec.yaml")
    work = tmp_path_factory.mktemp("work")
    made = make_evaluator(spec.evaluation, RepoCache(repo_cache_root(), spec.repos), work,
                          run_dir=work, run_tag="t", model_name="m")
    made.warm_up()
    return made


@pytest.fixture(scope="module")
def verdicts(evaluator, project, tmp_path_factory):
    """Each patch evaluated once; `builds` counts the environments built meanwhile."""
    _, issue, wrong = project
    builds = []
    real_build = envs._build

    def counting_build(recipe, requirements, path):
        builds.append(path)
        real_build(recipe, requirements, path)

    envs._build = counting_build
    try:
        out = tmp_path_factory.mktemp("eval")
        broken = issue.patch.replace("-    return text.strip()", "-    return text.rstrip()")  # a line not there
        assert broken != issue.patch
        patches = {"gold": issue.patch, "again": issue.patch, "empty": "", "wrong": wrong, "broken": broken}
        results = {name: evaluator.evaluate(issue, patch, out / name) for name, patch in patches.items()}
    finally:
        envs._build = real_build
    return results, out, builds


@pytest.mark.slow  # builds a real environment with uv (from PyPI)
def test_gold_patch_resolves_with_the_recipes_python_and_requirements(verdicts):
    results, out, _ = verdicts
    gold = results["gold"]
    assert gold.status == results["again"].status == Status.PASS, gold.reason + gold.test_output
    log = (out / "gold" / "test_output.txt").read_text()
    assert f"Python {PY}." in log and "pytest-8.3.3" in log  # the header pytest prints: the env's interpreter
    assert "python -m pip install --no-build-isolation -e ." in log.split(">>>>> Start Test Output")[0]
    report = json.loads((out / "gold" / "report.json").read_text())["acme__slugkit-1"]
    assert report["resolved"] and report["tests_status"]["FAIL_TO_PASS"]["success"] == F2P


@pytest.mark.slow  # builds a real environment with uv (from PyPI)
def test_wrong_empty_and_broken_patches_fail(verdicts):
    results, _, _ = verdicts
    assert results["empty"].status == Status.FAIL and "no patch" in results["empty"].reason
    assert results["wrong"].status == Status.FAIL
    assert "1 FAIL_TO_PASS test(s) still fail (tests/test_slug.py::test_collapses_runs_of_spaces)" in \
        results["wrong"].reason
    assert results["broken"].status == Status.FAIL and "does not apply" in results["broken"].reason


@pytest.mark.slow  # builds a real environment with uv (from PyPI)
def test_the_environment_is_built_once_and_reused(verdicts):
    _, _, builds = verdicts
    assert len(builds) == 1
    path = builds[0]
    assert path.parent == envs.root() and path.name.startswith(f"acme__slugkit-1.0-py{PY}-")
    marker = json.loads((path / ".awm-env.json").read_text())
    assert marker["requirements"].split() == ["six==1.16.0"] and marker["python"] == PY


def test_concurrent_builders_build_one_environment(awm_home):
    """Two builders of one missing environment: one builds under the lock, the other waits and reuses it."""
    recipe = Recipe(repo="acme/lockcheck", version="1", python=PY)
    if envs.find_python(PY) is None:
        pytest.skip(f"Python {PY} is not installed")
    got: list[envs.Env] = []
    threads = [threading.Thread(target=lambda: got.append(envs.ensure(recipe, lambda: ""))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(env.built for env in got) == [False, True] and got[0].path == got[1].path
    assert subprocess.run([str(got[0].python), "-c", "import sys; print(sys.version[:4])"], capture_output=True,
                          text=True).stdout.strip() == PY


def test_a_python_this_machine_lacks_is_an_error_that_says_so(evaluator, project, tmp_path):
    issue = project[1]
    old = Issue(**{**issue.__dict__, "instance_id": "acme__slugkit-0", "version": "0.1"})
    result = evaluator.evaluate(old, issue.patch, tmp_path)
    assert result.status == Status.ERROR
    assert "Python 2.6, which is not installed here" in result.reason
    assert "evaluation.backend: swebench-docker" in result.reason


def test_uv_cannot_make_environments_before_python_3_6(awm_home):
    if envs.find_python("2.7") is None:
        pytest.skip("Python 2.7 is not installed")
    with pytest.raises(envs.EnvError, match="Python 2.7, and uv makes environments for Python 3.6 or newer only"):
        envs.ensure(Recipe(repo="acme/legacy", version="1", python="2.7"), lambda: "")


def test_spec_recipes_with_an_unknown_parser_or_missing_fields_stop_the_run_at_warm_up(tmp_path):
    def warm_up(recipes):
        LocalEvaluator(RepoCache(tmp_path), tmp_path, 10, recipes).warm_up()

    with pytest.raises(UserError) as parser_error:
        warm_up({"acme/x": {"*": {"python": "3.11", "test_cmd": "pytest", "log_parser": "nose"}}})
    assert parser_error.value.field == "evaluation.recipes.acme/x.*.log_parser"
    assert re.match(r"unknown log parser `nose`: use one of .*pytest", parser_error.value.text)
    assert str(parser_error.value.at("spec.yaml")).startswith(
        "spec.yaml, field `evaluation.recipes.acme/x.*.log_parser`: unknown log parser")
    with pytest.raises(UserError) as missing:
        warm_up({"acme/x": {"1.0": {"python": "3.11"}}})
    assert missing.value.field == "evaluation.recipes.acme/x.1.0"
    assert "swebench has no recipe for acme/x" in missing.value.text and "has no test_cmd" in missing.value.text
    assert "`test_cmd: pytest -rA`" in missing.value.text  # the fix
    warm_up({"django/django": {"2.2": {"python": "3.6"}}})  # swebench completes it


def test_requirements_are_read_from_the_mirror_like_the_harness(awm_home, project):
    repo, issue, _ = project
    mirror = RepoCache(repo_cache_root(), {REPO: str(repo)}).mirror(REPO)
    recipe = Recipe(repo=REPO, version="1.0", python=PY, requirements=("missing.txt", "requirements.txt"))
    text = requirements_text(recipe, mirror, issue.environment_setup_commit)
    assert text.split() == ["six==1.16.0"]  # the -r file inlined, comments and `-e .` dropped


def test_django_recipes_come_from_swebench():
    test_patch = "diff --git a/tests/utils_tests/test_validators.py b/tests/utils_tests/test_validators.py\n"
    issue = Issue("django__django-11099", "django/django", "ef082ebb", "x", version="3.0", test_patch=test_patch)
    recipe = recipe_for(issue)
    assert recipe.python == "3.6" and recipe.requirements == ("tests/requirements/py3.txt",)
    assert recipe.test_cmd == "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
    assert recipe.install == "python -m pip install -e ."
    assert recipe.directives(issue.test_patch) == ["utils_tests.test_validators"]
    assert not any("locale-gen" in step for step in recipe.eval_commands)  # the image's business, not ours
    log = "test_a (utils_tests.test_validators.T) ... ok\ntest_b (utils_tests.test_validators.T) ... FAIL\n"
    assert recipe.parse(log) == {"test_a (utils_tests.test_validators.T)": "PASSED",
                                 "test_b (utils_tests.test_validators.T)": "FAILED"}
    assert recipe_for(Issue("x", "django/django", "a", "x", version="5.0")).python == "3.11"
    assert recipe_for(Issue("x", "django/django", "a", "x", version="2.2")).python == "3.5"


def test_spec_recipes_lay_over_swebench_and_cover_other_repositories():
    spec = {"django/django": {"2.2": {"python": "3.6"}}, "acme/x": {"*": {"python": "3.10", "test_cmd": "pytest"}}}
    django = recipe_for(Issue("x", "django/django", "a", "x", version="2.2"), spec)
    assert django.python == "3.6" and django.test_cmd.startswith("./tests/runtests.py")
    assert django.source == "spec over swebench"
    other = recipe_for(Issue("x", "acme/x", "a", "x", version="7"), spec)
    assert other.python == "3.10" and other.log_parser == "pytest" and other.source == "spec"
    assert other.directives("diff --git a/t/test_a.py b/t/test_a.py\ndiff --git a/d.json b/d.json\n") == ["t/test_a.py"]
    assert recipe_for(Issue("x", "acme/unknown", "a", "x", version="1")) is None


def test_conda_only_recipes_are_not_built():
    recipe = recipe_for(Issue("x", "pydata/xarray", "a", "x", version="0.12"))
    with pytest.raises(envs.EnvError, match="conda .*environment.yml.*swebench-docker"):
        envs.ensure(recipe, lambda: pytest.fail("requirements are not read for a conda recipe"))


def test_the_minibench_is_one_recipe_run_with_awm_tuis_own_interpreter(awm_home, tmp_path):
    inst = minibench.load_instances()[0]
    issue = Issue.from_row(inst)
    recipe = recipe_for(issue)
    assert recipe.python == "" and recipe.source == "minibench"
    cache = RepoCache(repo_cache_root(), {minibench.REPO: "builtin:minibench"})
    result = LocalEvaluator(cache, tmp_path, 300).evaluate(issue, issue.patch, tmp_path / "out")
    assert result.status == Status.PASS, result.reason
    first = (tmp_path / "out" / "test_output.txt").read_text().splitlines()[0]
    assert first == "+ " + " ".join(minibench.test_command(recipe.directives(issue.test_patch)))
    assert first.startswith(f"+ {sys.executable} -m pytest")
