"""The bundled mini-benchmark: reproducible history, instances that really fail before and pass after, scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import awm.demo.minibench as minibench
from awm.demo.minibench import derive
from awm.demo.minibench.build import expected_head, git, head
from awm.demo.minibench.scripts import CATEGORIES, SCRIPTS

INSTANCES = minibench.load_instances()
BY_ID = {instance["instance_id"]: instance for instance in INSTANCES}
SWE_BENCH_FIELDS = [
    "repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
    "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit",
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return minibench.build_repo(tmp_path_factory.mktemp("build") / "tallyho")


def checkout_with_tests(repo: Path, instance: dict, dest: Path, extra: list[str] | None = None) -> Path:
    return derive.checkout(repo, instance["base_commit"], dest, [instance["test_patch"], *(extra or [])])


def run(workdir: Path, instance: dict, fast: bool = True) -> dict[str, str]:
    return derive.run_tests(workdir, derive.patched_files(instance["test_patch"]), fast=fast)


def first_parent_history(repo: Path) -> list[str]:
    return git(repo, "rev-list", "--reverse", "--first-parent", "HEAD").split()


def test_builds_are_identical_and_match_the_shipped_instances(repo, tmp_path):
    again = minibench.build_repo(tmp_path / "elsewhere")
    assert head(repo) == head(again) == expected_head()
    history = first_parent_history(repo)
    assert history[:-1] == [instance["base_commit"] for instance in INSTANCES]
    assert {instance["environment_setup_commit"] for instance in INSTANCES} == {history[0]}
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%an <%ae> %aI %cI") == (
        "Tallyho Maintainers <maintainers@tallyho.invalid> 2024-04-02T18:00:00+00:00 2024-04-02T18:00:00+00:00\n"
    )


def test_build_keeps_a_good_repo_and_replaces_anything_else(repo, tmp_path):
    (repo / "untracked-marker").write_text("x")
    assert minibench.build_repo(repo) == repo
    assert (repo / "untracked-marker").exists()  # not rebuilt
    (repo / "untracked-marker").unlink()

    other = tmp_path / "other"
    other.mkdir()
    (other / "junk.txt").write_text("not a repo")
    assert minibench.build_repo(other) == other
    assert head(other) == expected_head()
    assert not (other / "junk.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["other"]  # no staging directories left behind


def test_instances_have_swe_bench_fields():
    assert len(INSTANCES) == 24
    for number, instance in enumerate(INSTANCES, start=1):
        assert list(instance) == SWE_BENCH_FIELDS
        assert instance["repo"] == minibench.REPO == "awm-bench/tallyho"
        assert instance["instance_id"] == f"awm-bench__tallyho-{number}"
        assert instance["version"] == "0.1"
        assert instance["created_at"].startswith(("2024-03-", "2024-04-"))
        fail_to_pass, pass_to_pass = json.loads(instance["FAIL_TO_PASS"]), json.loads(instance["PASS_TO_PASS"])
        assert fail_to_pass and pass_to_pass and not set(fail_to_pass) & set(pass_to_pass)
        test_files = derive.patched_files(instance["test_patch"])
        assert test_files and all(path.startswith("tests/test_") for path in test_files)
        assert all(node.split("::")[0] in test_files for node in fail_to_pass + pass_to_pass)
        assert all(not path.startswith("tests/") for path in derive.patched_files(instance["patch"]))


def test_problem_statements_do_not_give_the_fix_away():
    for instance in INSTANCES:
        added = [line[1:].strip() for line in instance["patch"].splitlines() if line.startswith("+") and not line.startswith("+++")]
        for line in filter(None, added):  # a blank line gives nothing away
            assert line not in instance["problem_statement"], instance["instance_id"]


def test_test_command():
    assert minibench.test_command(["tests/test_roman.py"]) == [
        sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "tests/test_roman.py",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("instance_id", list(BY_ID))
def test_instance_fails_before_and_passes_with_gold_patch(repo, tmp_path, instance_id):
    instance = BY_ID[instance_id]
    fail_to_pass, pass_to_pass = json.loads(instance["FAIL_TO_PASS"]), json.loads(instance["PASS_TO_PASS"])

    before = run(checkout_with_tests(repo, instance, tmp_path / "before"), instance)
    assert all(before.get(test) in ("FAILED", "ERROR") for test in fail_to_pass), before
    assert all(before.get(test) == "PASSED" for test in pass_to_pass), before

    after = run(checkout_with_tests(repo, instance, tmp_path / "after", [instance["patch"]]), instance)
    assert {test: after.get(test) for test in fail_to_pass + pass_to_pass} == dict.fromkeys(fail_to_pass + pass_to_pass, "PASSED")


@pytest.mark.slow
def test_evaluation_command_as_the_harness_runs_it(repo, tmp_path):
    """With every installed pytest plugin loaded, exactly as the evaluation runs it."""
    instance = INSTANCES[0]
    workdir = checkout_with_tests(repo, instance, tmp_path / "co", [instance["patch"]])
    statuses = run(workdir, instance, fast=False)
    expected = json.loads(instance["FAIL_TO_PASS"]) + json.loads(instance["PASS_TO_PASS"])
    assert statuses == dict.fromkeys(expected, "PASSED")


def edits_of(steps: list[dict]) -> list[dict]:
    return [step["args"] for step in steps if step["tool"] == "file_editor" and step["args"]["command"] == "str_replace"]


def test_every_instance_has_a_script():
    assert list(SCRIPTS) == list(BY_ID)
    outcomes = [script["outcome"] for script in SCRIPTS.values()]
    assert outcomes.count("right") == 17 and outcomes.count("wrong") == 7
    assert "wrong" in outcomes[: len(outcomes) // 2]  # wrong ones are spread out, not all at the end
    for instance_id, script in SCRIPTS.items():
        holders = [iid for iid, instance in BY_ID.items() if script["match"] in instance["problem_statement"]]
        assert holders == [instance_id]
        assert script["category"] in CATEGORIES
        plans = ["steps", "right", "naive"] + (["distracted"] if script["distractible"] else [])
        assert ("distracted" in script) == script["distractible"]
        for plan in plans:
            steps = script[plan]
            assert steps[-1]["tool"] == "finish"
            assert {step["tool"] for step in steps} <= {"terminal", "file_editor", "think", "finish"}
            assert edits_of(steps) and all(edit["path"].startswith("{repo}/") for edit in edits_of(steps))
        assert script["steps"] is (script["right"] if script["outcome"] == "right" else script["naive"]) or (
            script["outcome"] == "wrong" and not script["naive_wrong"])  # tallyho-3 replays a wrong fix of its own
        assert (edits_of(script["naive"]) != edits_of(script["right"])) == script["naive_wrong"]
        if script["distractible"]:
            assert edits_of(script["distracted"]) != edits_of(script["right"])
            assert script["distracted"] is script["naive"] or not script["naive_wrong"]


def test_categories_and_shares():
    """Six categories of four; naive fix wrong for half, distractible a third; in dataset order (by number) each
    category's first instance has a naive fix that works, so its workflow can be learned before it is needed."""
    by_category = {category: [iid for iid, s in SCRIPTS.items() if s["category"] == category] for category in CATEGORIES}
    assert {category: len(ids) for category, ids in by_category.items()} == dict.fromkeys(CATEGORIES, 4)
    assert sum(s["naive_wrong"] for s in SCRIPTS.values()) == 12
    assert sum(s["distractible"] for s in SCRIPTS.values()) == 8
    for ids in by_category.values():
        first, *later = sorted(ids, key=lambda iid: int(iid.rsplit("-", 1)[1]))
        assert not SCRIPTS[first]["naive_wrong"] and not SCRIPTS[first]["distractible"]
        assert sum(SCRIPTS[iid]["naive_wrong"] for iid in later) == 2
    # the first six instances are one of each category
    assert [SCRIPTS[f"awm-bench__tallyho-{n}"]["category"] for n in range(1, 7)] == list(CATEGORIES)


def apply_script_edits(steps: list[dict], workdir: Path) -> None:
    """What OpenHands' file_editor does with the str_replace calls of `steps`."""
    for step in steps:
        args = step["args"]
        if step["tool"] == "file_editor" and args["command"] == "str_replace":
            path = Path(args["path"].replace("{repo}", str(workdir)))
            text = path.read_text(encoding="utf-8")
            assert text.count(args["old_str"]) == 1, (path, args["old_str"])
            path.write_text(text.replace(args["old_str"], args["new_str"]), encoding="utf-8")


@pytest.mark.slow  # real test runs per instance (tests/test_learner.py checks every plan's edits the same way)
@pytest.mark.parametrize("instance_id", list(SCRIPTS))
def test_script_outcome(repo, tmp_path, instance_id):
    instance, script = BY_ID[instance_id], SCRIPTS[instance_id]
    workdir = checkout_with_tests(repo, instance, tmp_path / "co")
    apply_script_edits(script["steps"], workdir)
    assert git(workdir, "diff", "--name-only", "--", "tallyho").split() == derive.patched_files(instance["patch"])
    statuses = run(workdir, instance)
    fail_to_pass = json.loads(instance["FAIL_TO_PASS"])
    if script["outcome"] == "right":
        expected = fail_to_pass + json.loads(instance["PASS_TO_PASS"])
        assert {test: statuses.get(test) for test in expected} == dict.fromkeys(expected, "PASSED")
    else:
        assert any(statuses.get(test) != "PASSED" for test in fail_to_pass), statuses


@pytest.mark.slow
def test_regenerating_gives_the_shipped_files(tmp_path):
    subprocess.run([sys.executable, "-m", "awm.demo.minibench", "--out-dir", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "instances.jsonl").read_text() == minibench.instances_path().read_text()
    assert (tmp_path / "final_head.txt").read_text().strip() == expected_head()
