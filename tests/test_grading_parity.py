"""Local grading against what the SWE-bench harness (swebench 4.1.0) does for the same instance: the scripts its
test_spec builds (environment image, instance image, eval.sh), the container environment they run in, the tags its
clone keeps, and end to end on a small project built by git here, graded as the harness would grade it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from awm.demo.minibench.build import git
from awm.grading import envs, local
from awm.grading.base import run_step, run_tests
from awm.grading.local import LocalEvaluator
from awm.grading.recipes import HARNESS_DATE, Recipe, recipe_for
from awm.records import Issue, Status
from awm.repos import RepoCache

DATE = "2024-05-{:02d}T10:00:00+00:00"


def harness():
    """swebench.harness.test_spec.python, imported at the first test that uses it rather than at collection: swebench
    imports datasets and pandas (~3 s), which each test worker would pay for this file alone."""
    from swebench.harness.test_spec import python

    return python


def harness_specs() -> dict:
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    return MAP_REPO_VERSION_TO_SPECS


def swebench_recipe(repo: str, version: str, extra: dict | None = None) -> Recipe:
    return recipe_for(Issue("x", repo, "a", "x", version=version), extra)


def harness_env_script(repo: str, version: str, monkeypatch, requirements: str = "") -> list[str]:
    """The harness's setup_env.sh lines; its requirements come from GitHub, so they are given here."""
    monkeypatch.setattr(harness(), "get_requirements", lambda instance: requirements)
    instance = {"instance_id": f"{repo.replace('/', '__')}-1", "repo": repo, "version": version}
    return harness().make_env_script_list_py(instance, harness_specs()[repo][version], "testbed")


# The environment: what is installed, in which order, as of which date.

def test_swebench_recipes_resolve_as_of_the_harness_images_and_spec_packages_as_of_now():
    assert swebench_recipe("django/django", "3.0").exclude_newer == HARNESS_DATE
    assert swebench_recipe("django/django", "2.2", {"django/django": {"2.2": {"python": "3.6"}}}).exclude_newer \
        == HARNESS_DATE  # the spec changes the Python, not what is installed
    pinned = {"django/django": {"3.0": {"pip_packages": ["pytest==9.0.0"]}}}
    assert swebench_recipe("django/django", "3.0", pinned).exclude_newer == ""  # the spec's pins may be newer
    assert swebench_recipe("acme/x", "1", {"acme/x": {"*": {"python": "3.11", "test_cmd": "pytest"}}}).exclude_newer \
        == ""


def test_conda_packages_then_pip_packages_in_the_harness_order(tmp_path, monkeypatch):
    recipe = swebench_recipe("scikit-learn/scikit-learn", "0.20")
    script = harness_env_script("scikit-learn/scikit-learn", "0.20", monkeypatch)
    create = next(line for line in script if line.startswith("conda create"))
    pip = next(line for line in script if line.startswith("python -m pip install"))
    assert script.index(create) < script.index(pip)
    conda_packages = shlex.split(create)[shlex.split(create).index("python=3.6") + 1:-1]  # up to the final -y
    commands = envs.build_commands(recipe, "/usr/bin/python3.6", tmp_path / "env", requirements=False)
    python = str(tmp_path / "env" / "bin" / "python")
    cutoff = ["--exclude-newer", HARNESS_DATE]
    assert commands == [
        ("creating the virtualenv",
         ["venv", "--quiet", "--seed", *cutoff, "--python", "/usr/bin/python3.6", str(tmp_path / "env")]),
        ("installing its requirements", ["pip", "install", "--compile-bytecode", *cutoff, "--python", python,
                                         *conda_packages]),
        ("installing its pip packages",
         ["pip", "install", "--compile-bytecode", *cutoff, "--python", python, *shlex.split(pip)[4:]]),
    ]
    assert conda_packages == ["numpy", "scipy", "cython", "pytest", "pandas", "matplotlib"]
    assert shlex.split(pip)[4:] == ["cython", "numpy==1.19.2", "setuptools", "scipy==1.5.2"]


def test_requirement_files_are_installed_like_the_harness_installs_its_requirements_txt(tmp_path, monkeypatch):
    script = harness_env_script("django/django", "3.0", monkeypatch, requirements="asgiref ~= 3.2\nsqlparse\n")
    assert "python=3.6" in next(line for line in script if line.startswith("conda create"))
    assert any(line.endswith("python -m pip install -r $HOME/requirements.txt") for line in script)
    assert not any("pip install" in line and "requirements" not in line for line in script)  # no pip_packages
    commands = envs.build_commands(swebench_recipe("django/django", "3.0"), "py", tmp_path, requirements=True)
    assert [step for step, _ in commands] == ["creating the virtualenv", "installing its requirements"]
    assert commands[1][1][-2:] == ["-r", str(tmp_path / "requirements.txt")]
    assert all(args[args.index("--exclude-newer") + 1] == HARNESS_DATE for _, args in commands)


def test_a_spec_recipe_resolves_as_of_now(tmp_path):
    recipe = Recipe(repo="acme/x", version="1", python="3.11", pip_packages=("pytest==8.3.3",))
    commands = envs.build_commands(recipe, "py", tmp_path, requirements=False)
    assert not any("--exclude-newer" in args for _, args in commands)


def test_the_date_is_part_of_the_environments_identity():
    recipe = swebench_recipe("django/django", "3.0")
    undated = Recipe(**{**recipe.__dict__, "exclude_newer": ""})
    assert envs.env_path(recipe, "sqlparse\n") != envs.env_path(undated, "sqlparse\n")


@pytest.mark.slow
def test_the_seed_packages_are_the_harness_images(awm_home):
    """pip and setuptools decide how the install step builds the checkout: as of the harness's date, not today's."""
    if envs.find_python("3.9") is None:
        pytest.skip("Python 3.9 is not installed")
    env = envs.ensure(Recipe(repo="acme/seeds", version="1", python="3.9", exclude_newer=HARNESS_DATE), lambda: "")
    pip = subprocess.run([str(env.python), "-m", "pip", "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert pip.startswith("pip 24.2 ")  # the images' (conda's pip=24.2); today's has no --no-use-pep517
    assert json.loads((env.path / ".awm-env.json").read_text())["exclude_newer"] == HARNESS_DATE


# The scripts: the instance image's set-up, eval.sh's install and test run.

def harness_setup_steps(repo: str, version: str) -> list[str]:
    """setup_repo.sh's steps after the clone and activation, before its closing commit."""
    script = harness().make_repo_script_list_py(harness_specs()[repo][version], repo, "/testbed",
                                                "0" * 40, "testbed")
    start = next(i for i, line in enumerate(script) if "Current environment" in line) + 1
    end = next(i for i, line in enumerate(script) if line.startswith("git config --global user.email"))
    return script[start:end]


@pytest.mark.parametrize("repo,version", [("sphinx-doc/sphinx", "3.0"), ("pytest-dev/pytest", "6.3"),
                                          ("django/django", "3.0"), ("matplotlib/matplotlib", "3.1")])
def test_the_set_up_is_the_instance_images_in_one_failing_fast_shell(repo, version):
    recipe = swebench_recipe(repo, version)
    ours = local.setup_script(recipe).splitlines()
    assert ours[0] == "set -euxo pipefail"  # setup_repo.sh's own header
    steps = [s for s in harness_setup_steps(repo, version) if not s.startswith("apt-get")]  # root's, not ours
    assert ours[1:] == steps and steps[-1] == harness_specs()[repo][version]["install"]


def test_pre_install_steps_share_one_shell_and_stop_at_the_first_failure(tmp_path):
    # matplotlib 3.1's: QHULL_* variables set by one step are used by the next ones
    recipe = Recipe(repo="acme/x", version="1", python="", pre_install=(
        'BUILD_DIR="$PWD/build"', 'mkdir -p "$BUILD_DIR"', "false", "touch after"), install="touch installed")
    environment = {"PATH": "/usr/bin:/bin"}
    output, code = run_step(shlex.join(local.clean_argv(local.setup_script(recipe), environment)), tmp_path, 10,
                            environment)
    assert code == 1 and (tmp_path / "build").is_dir()
    assert not (tmp_path / "after").exists() and not (tmp_path / "installed").exists()
    assert "+ mkdir -p " in output  # traced, as setup_repo.sh is


def test_eval_exports_precede_the_install_and_the_tests_as_in_eval_sh():
    repo, version = "django/django", "3.0"
    instance = {"repo": repo, "version": version,
                "test_patch": "diff --git a/tests/a/tests.py b/tests/a/tests.py\n"}
    script = harness().make_eval_script_list_py(instance, harness_specs()[repo][version], "testbed",
                                                "/testbed", "0" * 40, instance["test_patch"])
    specs = harness_specs()[repo][version]
    exports = [i for i, line in enumerate(script) if line.startswith("export ")]
    install, tests = script.index(specs["install"]), script.index(f"{specs['test_cmd']} a.tests")
    assert max(exports) < install < tests
    recipe = swebench_recipe(repo, version)
    assert len(recipe.eval_commands) == len(exports) == 3 and all(c.startswith("export ") for c in recipe.eval_commands)
    assert local.reinstall_script(recipe).splitlines() == [*recipe.eval_commands, specs["install"]]
    assert local.testing_script(recipe, "T").splitlines() == ["exec 2>&1", *recipe.eval_commands, "T"]


def test_the_tests_write_one_stream_in_the_order_written(tmp_path):
    """`docker exec` gives the harness stdout and stderr as one stream; Django's parser expects the interleaving."""
    writes = "import sys\nfor s in (sys.stdout, sys.stderr, sys.stdout):\n    s.write(s.name + '\\n'); s.flush()"
    command = shlex.join([sys.executable, "-c", writes])
    recipe = Recipe(repo="acme/x", version="1", python="")
    environment = {"PATH": "/usr/bin:/bin"}
    output, _ = run_tests(local.clean_argv(local.testing_script(recipe, command), environment), tmp_path, 10,
                          environment)
    assert output == "<stdout>\n<stderr>\n<stdout>\n"


def test_the_scripts_get_the_harness_containers_environment_not_this_shells(monkeypatch, tmp_path):
    for name, value in {"PYTHONPATH": "/elsewhere", "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "-x",
                        "PY_COLORS": "1", "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8", "TZ": "America/New_York",
                        "DISPLAY": ":0", "BASH_ENV": "/etc/profile", "DJANGO_SETTINGS_MODULE": "site.settings",
                        "https_proxy": "http://proxy:3128", "PIP_INDEX_URL": "http://mirror/simple"}.items():
        monkeypatch.setenv(name, value)
    env = envs.Env(tmp_path / "env", built=False)
    recipe = Recipe(repo="acme/x", version="1", python="3.11", env=(("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1"),))
    environment = local.harness_environment(recipe, env)
    argv = local.clean_argv("env", environment)
    assert "http://mirror/simple" not in " ".join(argv)  # values go through the environment, not the command line
    output, _ = run_tests(argv, tmp_path, 10, environment)
    seen = dict(line.split("=", 1) for line in output.splitlines())
    assert seen["TZ"] == "Etc/UTC"  # the harness's base image: ENV TZ=Etc/UTC
    assert not {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS", "PY_COLORS", "LANG", "LC_ALL", "DISPLAY",
                "BASH_ENV", "DJANGO_SETTINGS_MODULE"} & set(seen)
    assert seen["https_proxy"] == "http://proxy:3128" and seen["PIP_INDEX_URL"] == "http://mirror/simple"
    assert seen["PATH"].split(":")[0] == str(tmp_path / "env" / "bin") and seen["VIRTUAL_ENV"] == str(env.path)
    assert seen["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1"  # the recipe's own


# The clone: the tags the harness's keeps.

@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """v1.0 (lightweight) on the first commit; v1.5 (annotated) on a commit whose date was rewritten past the base
    commit's; the base commit; v2.0 after it."""
    repo = tmp_path_factory.mktemp("tagged") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for day, name, tag in [(1, "a", "v1.0"), (9, "b", "v1.5"), (3, "c", None), (4, "d", "v2.0")]:
        (repo / name).write_text(name)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", name, date=DATE.format(day))
        if tag:
            git(repo, "tag", *(["-a", "-m", tag] if tag == "v1.5" else []), tag, date=DATE.format(day))
        if name == "c":
            base = git(repo, "rev-parse", "HEAD").strip()
    return repo, base


def test_the_checkout_has_the_tags_the_harness_clone_keeps(tagged, tmp_path):
    repo, base = tagged
    clone = tmp_path / "testbed"  # setup_repo.sh: clone, reset to the base commit, its tag loop
    git(tmp_path, "clone", "-q", "--single-branch", str(repo), str(clone))
    git(clone, "reset", "-q", "--hard", base)
    steps = harness().make_repo_script_list_py({}, "acme/x", "/testbed", base, "testbed")
    loop = [line for line in steps if line.startswith(("TARGET_TIMESTAMP=", "git tag -l"))]
    subprocess.run(["bash", "-c", "\n".join(loop)], cwd=clone, check=True, capture_output=True)

    cache = RepoCache(tmp_path / "cache", {"acme/x": str(repo)})
    checkout = cache.checkout("acme/x", base, tmp_path / "checkout")
    assert git(checkout, "tag").split() == []  # what the evaluator's checkout had
    local.add_harness_tags(cache.mirror("acme/x"), checkout, base)
    assert git(checkout, "tag").split() == ["v1.0"] == git(clone, "tag").split()
    assert git(checkout, "describe", "--tags").strip() == git(clone, "describe", "--tags").strip()
    assert git(checkout, "describe", "--tags").startswith("v1.0-2-g")


# End to end: a project whose tests pass in the harness's container and, before these changes, failed here.

WRITE_VERSION = '''\
# The version from git, as setuptools_scm's write_to does (0.1.dev0 without a tag); records when it ran.
tag=$(git describe --tags --abbrev=0 2>/dev/null || echo v0.1.dev0)
printf 'version = "%s"\\n' "${tag#v}" > stamps/_version.py
if git diff --quiet HEAD -- stamps; then echo base; else echo patched; fi >> "$INSTALL_LOG"
'''
SOURCE = '''\
import time

from stamps._version import version as __version__


def clock(seconds):
    """The wall-clock time of a Unix timestamp on this machine: "HH:MM"."""
    return time.strftime("%H:%M", time.localtime(seconds))


def release():
    return tuple(int(part) for part in __version__.split(".")[:2])
'''
GOLD = SOURCE.replace("def clock(seconds):", "def clock(seconds, precise=False):").replace(
    'time.strftime("%H:%M", ', 'time.strftime("%H:%M:%S" if precise else "%H:%M", ')
WRONG = SOURCE.replace("def clock(seconds):", "def clock(seconds, precise=False):")
TESTS = '''\
import stamps


def test_epoch():  # written for CI machines in UTC, as the harness's containers are
    assert stamps.clock(0) == "00:00"


def test_release_is_tagged():
    assert stamps.release() >= (1, 0)
'''
NEW_TEST = TESTS + '''

def test_precise():
    assert stamps.clock(3661, precise=True) == "01:01:01"
'''


def diff(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    patch = git(repo, "diff", "--no-color")
    git(repo, "checkout", "--", name)
    return patch


@pytest.fixture(scope="module")
def stamps(tmp_path_factory):
    root = tmp_path_factory.mktemp("stamps")
    repo = root / "stamps"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    files = {"conftest.py": "", ".gitignore": "_version.py\n", "write_version.sh": WRITE_VERSION,
             "stamps/__init__.py": SOURCE, "tests/test_stamps.py": TESTS}
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "stamps 1.0", date=DATE.format(1))
    git(repo, "tag", "v1.0", date=DATE.format(1))
    (repo / "README").write_text("stamps\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "README", date=DATE.format(2))
    base = git(repo, "rev-parse", "HEAD").strip()
    issue = Issue(instance_id="acme__stamps-1", repo="acme/stamps", base_commit=base, problem_statement="seconds",
                  version="1.0", created_at=DATE.format(3), patch=diff(repo, "stamps/__init__.py", GOLD),
                  test_patch=diff(repo, "tests/test_stamps.py", NEW_TEST),
                  FAIL_TO_PASS=["tests/test_stamps.py::test_precise"],
                  PASS_TO_PASS=["tests/test_stamps.py::test_epoch", "tests/test_stamps.py::test_release_is_tagged"])
    return repo, issue, diff(repo, "stamps/__init__.py", WRONG)


@pytest.fixture
def evaluator(stamps, tmp_path, monkeypatch):
    """A local evaluator on the project, with awm-tui's interpreter, from a shell unlike the harness's container."""
    log = tmp_path / "installs.log"
    recipe = Recipe(repo="acme/stamps", version="1.0", python="", install="sh write_version.sh",
                    test_cmd=f"{sys.executable} -m pytest -rA -p no:cacheprovider",
                    env=(("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1"), ("INSTALL_LOG", str(log))))
    monkeypatch.setattr(local, "recipe_for", lambda issue, extra: recipe)
    for name, value in {"TZ": "America/New_York", "PY_COLORS": "1", "PYTHONDONTWRITEBYTECODE": "1"}.items():
        monkeypatch.setenv(name, value)
    cache = RepoCache(tmp_path / "cache", {"acme/stamps": str(stamps[0])})
    (tmp_path / "work").mkdir()
    return LocalEvaluator(cache, tmp_path / "work", 60), log


@pytest.mark.slow
def test_end_to_end_the_verdicts_are_the_harness_ones(stamps, evaluator, tmp_path):
    _, issue, wrong = stamps
    grader, installs = evaluator
    gold = grader.evaluate(issue, issue.patch, tmp_path / "gold")
    assert gold.status == Status.PASS, gold.reason + gold.test_output
    report = json.loads((tmp_path / "gold" / "report.json").read_text())[issue.instance_id]
    assert report["tests_status"]["PASS_TO_PASS"]["success"] == issue.PASS_TO_PASS
    assert installs.read_text().split() == ["base", "patched"]  # at the base commit, then again after the patch
    log = (tmp_path / "gold" / "test_output.txt").read_text()
    assert log.split(local.START)[0].count("sh write_version.sh") == 2
    bad = grader.evaluate(issue, wrong, tmp_path / "wrong")
    assert bad.status == Status.FAIL and bad.reason.startswith("1 FAIL_TO_PASS test(s) still fail")


def test_a_failed_set_up_is_an_error_as_a_failed_image_build_is(stamps, evaluator, tmp_path, monkeypatch):
    _, issue, _ = stamps
    grader, _ = evaluator
    broken = Recipe(repo="acme/stamps", version="1.0", python="", pre_install=("exit 3",), install="sh x.sh",
                    test_cmd="true")
    monkeypatch.setattr(local, "recipe_for", lambda issue, extra: broken)
    result = grader.evaluate(issue, issue.patch, tmp_path / "out")
    assert result.status == Status.ERROR and "base commit failed (exit 3)" in result.reason
    assert "+ exit 3" in (tmp_path / "out" / "test_output.txt").read_text()


# ---------------------------------------------------------------- applying the patch: the harness's three commands


def _tree(tmp_path: Path, text: str) -> Path:
    work = tmp_path / "tree"
    work.mkdir()
    (work / "f.txt").write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    return work


def test_apply_patch_tries_the_harness_commands_in_its_order(tmp_path):
    from swebench.harness.run_evaluation import GIT_APPLY_CMDS

    from awm.grading.base import apply_patch

    assert [c.split()[:3] for c in GIT_APPLY_CMDS] == [["git", "apply", "--verbose"], ["git", "apply", "--verbose"],
                                                       ["patch", "--batch", "--fuzz=5"]]
    lines = [f"line {i}" for i in range(1, 13)]
    work = _tree(tmp_path, "\n".join(lines) + "\n")
    # context that no longer matches exactly: git apply refuses, GNU patch with fuzz applies it (as the harness does)
    fuzzy = ("--- a/f.txt\n+++ b/f.txt\n@@ -4,7 +4,7 @@\n line 4\n line 5\n line six\n-line 7\n+line seven\n"
             " line 8\n line 9\n line 10\n")
    assert apply_patch(work, fuzzy) == (True, "")
    assert "line seven" in (work / "f.txt").read_text()
    # a hunk that fits nowhere: every command fails and the first one's reason is given
    wrong = "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n nothing\n-like\n+this\n here\n"
    applied, why = apply_patch(work, wrong)
    assert not applied and why


def test_the_test_runs_environment_carries_no_model_key(monkeypatch):
    from awm.grading.local import clean_argv, harness_environment

    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-the-tests")
    monkeypatch.setenv("AWM_TEST_MODEL_KEY", "sk-not-for-the-tests-either")
    environment = harness_environment(Recipe(repo="acme/app", version="1", python=""), None)
    assert "OPENAI_API_KEY" not in environment and "AWM_TEST_MODEL_KEY" not in environment
    argv = clean_argv("env", environment)
    shown = subprocess.run(argv, env={**os.environ, **environment}, capture_output=True, text=True).stdout
    assert "sk-not-for-the-tests" not in shown and "PATH=" in shown
