"""The local evaluator on the mini-benchmark: real checkouts, real test runs, the swebench package's grading, and
the files it leaves (patch.diff, test_output.txt, report.json in the harness's shape)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from awm.grading import base as evaluation
from awm.grading.base import END, START, NoEvaluator
from awm.grading.local import LocalEvaluator
from awm.paths import repo_cache_root
from awm.demo.minibench import load_instances
from awm.records import Issue, Status
from awm.repos import RepoCache, diff_against

ISSUES = {row["instance_id"]: Issue.from_row(row) for row in load_instances()}
ROMAN = ISSUES["awm-bench__tallyho-1"]  # to_roman(4); tests in tests/test_roman.py
REPORT_KEYS = {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status"}


@pytest.fixture(scope="module")
def cache(awm_home) -> RepoCache:
    cache = RepoCache(repo_cache_root(), {"awm-bench/tallyho": "builtin:minibench"})
    cache.mirror("awm-bench/tallyho")  # built once per session, into the shared cache
    return cache


@pytest.fixture
def work(tmp_path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


@pytest.fixture
def evaluator(cache, work) -> LocalEvaluator:
    return LocalEvaluator(cache, work, timeout_s=60)


def agent_patch(cache: RepoCache, issue: Issue, tmp_path: Path, edits: dict[str, tuple[str, str]],
                gold: bool = True, append: dict[str, str] | None = None) -> str:
    """A patch made the way the agent's is: edit a checkout at the base commit, then diff it."""
    dest = cache.checkout(issue.repo, issue.base_commit, tmp_path / "agent")
    if gold:
        subprocess.run(["git", "apply", "-"], cwd=dest, input=issue.patch, text=True, check=True)
    for name, (old, new) in edits.items():
        text = (dest / name).read_text()
        assert old in text, (name, old)
        (dest / name).write_text(text.replace(old, new, 1))
    for name, extra in (append or {}).items():
        with open(dest / name, "a") as f:
            f.write(extra)
    return diff_against(dest, issue.base_commit)


def report_of(out: Path, issue: Issue) -> dict:
    data = json.loads((out / "report.json").read_text())
    assert list(data) == [issue.instance_id]
    return data[issue.instance_id]


def test_the_gold_patch_passes_with_harness_shaped_outputs(evaluator, work, tmp_path):
    out = tmp_path / "eval"
    result = evaluator.evaluate(ROMAN, ROMAN.patch, out)
    assert result.status == Status.PASS and result.reason == ""
    report = report_of(out, ROMAN)
    assert set(report) == REPORT_KEYS and report == result.report
    assert report["patch_is_None"] is False and report["patch_exists"] is True
    assert report["patch_successfully_applied"] is True and report["resolved"] is True
    status = report["tests_status"]
    assert set(status) == {"FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"}
    assert status["FAIL_TO_PASS"] == {"success": ROMAN.FAIL_TO_PASS, "failure": []}
    assert status["PASS_TO_PASS"] == {"success": ROMAN.PASS_TO_PASS, "failure": []}
    log = (out / "test_output.txt").read_text()
    assert log.startswith("+ ") and "-m pytest" in log.splitlines()[0] and "tests/test_roman.py" in log.splitlines()[0]
    assert START in log and END in log and log.index(START) < log.index(END)
    assert "short test summary info" in log and "PASSED tests/test_roman.py::test_to_roman_4" in log
    assert (out / "patch.diff").read_text() == ROMAN.patch
    assert "passed" in result.test_output and result.test_s > 0 and result.duration_s >= result.test_s
    assert list(work.iterdir()) == []  # the throwaway checkout is gone


@pytest.mark.parametrize("issue_id", ["awm-bench__tallyho-5", "awm-bench__tallyho-13"])
def test_other_gold_patches_pass(evaluator, tmp_path, issue_id):
    issue = ISSUES[issue_id]
    assert evaluator.evaluate(issue, issue.patch, tmp_path / "eval").status == Status.PASS


def test_an_empty_patch_fails_without_running_tests(evaluator, tmp_path):
    for patch in ("", "  \n"):
        out = tmp_path / f"eval{len(patch)}"
        result = evaluator.evaluate(ROMAN, patch, out)
        assert result.status == Status.FAIL and "no patch" in result.reason
        report = report_of(out, ROMAN)
        assert report["patch_exists"] is False and report["resolved"] is False
        assert report["patch_successfully_applied"] is False
        assert not (out / "test_output.txt").exists() and (out / "patch.diff").read_text() == patch


def test_a_patch_that_does_not_apply_fails_and_says_so(evaluator, work, tmp_path):
    patch = (
        "diff --git a/tallyho/roman.py b/tallyho/roman.py\n"
        "--- a/tallyho/roman.py\n"
        "+++ b/tallyho/roman.py\n"
        "@@ -1,3 +1,3 @@\n"
        " this line is not in the file\n"
        "-neither is this one\n"
        "+so nothing can be replaced\n"
        " the end\n"
    )
    out = tmp_path / "eval"
    result = evaluator.evaluate(ROMAN, patch, out)
    assert result.status == Status.FAIL
    assert "does not apply" in result.reason
    report = report_of(out, ROMAN)
    assert report["patch_exists"] is True and report["patch_successfully_applied"] is False
    assert report["resolved"] is False and "tests_status" not in report
    assert not (out / "test_output.txt").exists()
    assert list(work.iterdir()) == []


def test_a_patch_for_a_missing_file_does_not_apply(evaluator, tmp_path):
    patch = ROMAN.patch.replace("tallyho/roman.py", "tallyho/no_such_module.py")
    result = evaluator.evaluate(ROMAN, patch, tmp_path / "eval")
    assert result.status == Status.FAIL and "does not apply" in result.reason


def test_a_fix_that_breaks_a_pass_to_pass_test_fails_naming_it(evaluator, cache, tmp_path):
    # the gold fix, plus from_roman("") no longer raising: test_from_roman_invalid is a PASS_TO_PASS test
    patch = agent_patch(cache, ROMAN, tmp_path, {"tallyho/roman.py": ("text = text.strip()\n",
                                                                      'text = text.strip() or "I"\n')})
    out = tmp_path / "eval"
    result = evaluator.evaluate(ROMAN, patch, out)
    assert result.status == Status.FAIL
    assert "PASS_TO_PASS" in result.reason and "tests/test_roman.py::test_from_roman_invalid" in result.reason
    assert "FAIL_TO_PASS" not in result.reason
    status = report_of(out, ROMAN)["tests_status"]
    assert status["PASS_TO_PASS"]["failure"] == ["tests/test_roman.py::test_from_roman_invalid"]
    assert status["FAIL_TO_PASS"]["failure"] == []
    assert "FAILED tests/test_roman.py::test_from_roman_invalid" in (out / "test_output.txt").read_text()


def test_a_wrong_fix_fails_naming_the_fail_to_pass_tests(evaluator, cache, tmp_path):
    # adds (4, "IIII")-free output for 4 only: 1994 and the round trip still fail
    patch = agent_patch(cache, ROMAN, tmp_path, {"tallyho/roman.py": (
        '    if not 0 < number < 4000:\n',
        '    if number == 4:\n        return "IV"\n    if not 0 < number < 4000:\n')}, gold=False)
    out = tmp_path / "eval"
    result = evaluator.evaluate(ROMAN, patch, out)
    assert result.status == Status.FAIL
    assert result.reason.startswith("2 FAIL_TO_PASS test(s) still fail")
    assert "test_to_roman_1994" in result.reason and "test_to_roman_round_trip" in result.reason
    assert "PASS_TO_PASS" not in result.reason
    status = report_of(out, ROMAN)["tests_status"]
    assert status["FAIL_TO_PASS"]["success"] == ["tests/test_roman.py::test_to_roman_4"]
    assert report_of(out, ROMAN)["patch_successfully_applied"] is True


def test_a_hanging_test_run_is_an_error_after_the_timeout(cache, work, tmp_path):
    patch = agent_patch(cache, ROMAN, tmp_path, {"tallyho/roman.py": (
        "from __future__ import annotations\n", "from __future__ import annotations\nimport time; time.sleep(30)\n")})
    out = tmp_path / "eval"
    started = time.monotonic()
    result = LocalEvaluator(cache, work, timeout_s=2).evaluate(ROMAN, patch, out)
    assert time.monotonic() - started < 15
    assert result.status == Status.ERROR and "timed out" in result.reason and "2 s" in result.reason
    report = report_of(out, ROMAN)
    assert report["patch_successfully_applied"] is True and report["resolved"] is False
    log = (out / "test_output.txt").read_text()
    assert START in log and END in log
    assert list(work.iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie is dead; only its parent's wait is missing


def test_the_timeout_holds_and_kills_what_the_tests_started(cache, work, tmp_path):
    pidfile = tmp_path / "child.pid"
    patch = agent_patch(cache, ROMAN, tmp_path, {"tallyho/roman.py": (
        "from __future__ import annotations\n",
        "from __future__ import annotations\nimport pathlib, subprocess\n"
        "_child = subprocess.Popen(['sleep', '30'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(_child.pid))\n"
        "_child.wait()\n")})
    # 1 s is enough for the tests to start their child on a quiet machine; on a loaded one pytest may not have
    # imported roman.py by then (no child, nothing to check), so the limit grows until the child was started.
    for timeout_s in (1, 4, 15):
        started = time.monotonic()
        result = LocalEvaluator(cache, work, timeout_s=timeout_s).evaluate(ROMAN, patch, tmp_path / f"eval-{timeout_s}")
        elapsed = time.monotonic() - started
        if pidfile.exists():
            break
    pid = int(pidfile.read_text())
    try:
        assert result.status == Status.ERROR and "timed out" in result.reason
        assert elapsed < timeout_s + 7, f"evaluation took {elapsed:.1f} s with a {timeout_s} s timeout"
        deadline = time.monotonic() + 3
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the tests' child process outlived the evaluation"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_agents_edits_to_test_files_do_not_count(evaluator, cache, tmp_path):
    # As the harness does (`git checkout <base> <test files>` before the test patch): the P2P break above, with
    # the agent also dropping the failing case from the test, still fails.
    patch = agent_patch(cache, ROMAN, tmp_path, {
        "tallyho/roman.py": ("text = text.strip()\n", 'text = text.strip() or "I"\n'),
        "tests/test_roman.py": ('for text in ("", "ABC", "12"):', 'for text in ("ABC", "12"):'),
    })
    result = evaluator.evaluate(ROMAN, patch, tmp_path / "eval")
    assert result.status == Status.FAIL and "test_from_roman_invalid" in result.reason


def test_a_test_file_the_agent_added_where_the_test_patch_adds_one_is_replaced(evaluator, cache, tmp_path):
    # The test patch creates tests/test_extra_roman.py; the agent's own file of that name must not stop it.
    extra = ("diff --git a/tests/test_extra_roman.py b/tests/test_extra_roman.py\nnew file mode 100644\n"
             "--- /dev/null\n+++ b/tests/test_extra_roman.py\n@@ -0,0 +1,5 @@\n"
             "+from tallyho.roman import to_roman\n+\n+\n+def test_fourteen():\n+    assert to_roman(14) == \"XIV\"\n")
    issue = Issue.from_row({**ROMAN.to_row(), "test_patch": ROMAN.test_patch + extra,
                            "FAIL_TO_PASS": json.dumps(ROMAN.FAIL_TO_PASS + ["tests/test_extra_roman.py::test_fourteen"])})
    dest = cache.checkout(issue.repo, issue.base_commit, tmp_path / "agent")
    subprocess.run(["git", "apply", "-"], cwd=dest, input=issue.patch, text=True, check=True)
    (dest / "tests" / "test_extra_roman.py").write_text("def test_agents_own():\n    assert True\n")
    result = evaluator.evaluate(issue, diff_against(dest, issue.base_commit), tmp_path / "eval")
    assert result.status == Status.PASS, result.reason
    assert "tests/test_extra_roman.py::test_fourteen" in report_of(tmp_path / "eval", issue)["tests_status"][
        "FAIL_TO_PASS"]["success"]


def test_an_agents_new_test_in_a_test_file_does_not_stop_the_test_patch(evaluator, cache, tmp_path):
    patch = agent_patch(cache, ROMAN, tmp_path, {}, append={
        "tests/test_roman.py": "\n\ndef test_mine():\n    assert to_roman(14) == \"XIV\"\n"})
    result = evaluator.evaluate(ROMAN, patch, tmp_path / "eval")
    assert result.status == Status.PASS, result.reason


def test_a_repository_without_a_local_recipe_is_an_error(evaluator, tmp_path):
    issue = Issue(instance_id="acme__unknown-1", repo="acme/unknown", base_commit="0" * 40,
                  problem_statement="x", version="4.0", patch=ROMAN.patch, test_patch=ROMAN.test_patch)
    result = evaluator.evaluate(issue, issue.patch, tmp_path / "eval")
    assert result.status == Status.ERROR and "no local test recipe for acme/unknown 4.0" in result.reason
    assert report_of(tmp_path / "eval", issue)["patch_successfully_applied"] is False


def test_no_evaluator_skips(tmp_path):
    result = NoEvaluator().evaluate(ROMAN, ROMAN.patch, tmp_path / "eval")
    assert result.status == Status.SKIPPED and "evaluation.backend: none" in result.reason
    assert not (tmp_path / "eval").exists()
    assert NoEvaluator.name == "none" and LocalEvaluator.name == "local"


def test_test_files_lists_the_files_a_test_patch_touches():
    test_files = evaluation.test_files
    assert test_files(ROMAN.test_patch) == ["tests/test_roman.py"]
    two = ISSUES["awm-bench__tallyho-5"].test_patch + (
        "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+x = 1\n"
        "diff --git a/tests/test_duration.py b/tests/test_duration.py\n")
    assert test_files(two) == ["tests/test_duration.py", "tests/test_new.py"]  # sorted, once each
    assert test_files("") == []
    assert test_files(" diff --git a/x.py b/x.py\n") == []  # only at a line start
    for issue in ISSUES.values():
        assert test_files(issue.test_patch) == sorted({t.split("::")[0] for t in issue.FAIL_TO_PASS})
