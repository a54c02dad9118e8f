"""Loading SWE-bench-format issues (local files, the bundled mini-benchmark, the hub when it cannot be reached),
selecting them, and the prompt the agent is given: never the gold patch, the test patch or the test lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from awm.agent.prompt import build_prompt
from awm.dataset import load_rows, select
from awm.errors import UserError
from awm.demo.minibench import load_instances
from awm.spec import DatasetSpec
from awm.records import Issue
from conftest import ROOT

MINI = {row["instance_id"]: row for row in load_instances()}


def row(instance_id: str, repo: str = "acme/widgets", **extra) -> dict:
    """A SWE-bench row as the hub datasets have it: test lists JSON-encoded strings."""
    data = {
        "repo": repo,
        "instance_id": instance_id,
        "base_commit": "0" * 40,
        "patch": "diff --git a/w.py b/w.py\n",
        "test_patch": "diff --git a/tests/test_w.py b/tests/test_w.py\n",
        "problem_statement": f"Problem of {instance_id}.",
        "hints_text": "",
        "created_at": "2024-01-01T00:00:00Z",
        "version": "1.0",
        "FAIL_TO_PASS": json.dumps([f"tests/test_w.py::test_{instance_id.replace('-', '_')}"]),
        "PASS_TO_PASS": json.dumps(["tests/test_w.py::test_old"]),
        "environment_setup_commit": "1" * 40,
    }
    data.update(extra)
    return data


ROWS = [
    row("acme__widgets-10"),
    row("acme__widgets-2"),
    row("other__lib-7", repo="other/lib"),
    row("acme__widgets-1"),
    row("acme__widgets-33"),
    row("other__lib-12", repo="other/lib"),
]


def spec(**kw) -> DatasetSpec:
    kw.setdefault("repo_filter", [])  # the spec's default filter is django/django
    return DatasetSpec(name="local.jsonl", **kw)


def ids(issues: list[Issue]) -> list[str]:
    return [i.instance_id for i in issues]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------- load_rows


def without_created_at(rows: list[dict]) -> list[dict]:
    # `datasets` reads an ISO date in a JSON file as a timestamp: see the xfail test below.
    return [{k: v for k, v in r.items() if k != "created_at"} for r in rows]


def test_load_rows_reads_a_local_jsonl_file(tmp_path):
    path = write_jsonl(tmp_path / "issues.jsonl", ROWS)
    rows = load_rows(str(path), "test")
    # every field, every row, in file order; the split is ignored for a local file
    assert without_created_at(rows) == without_created_at(ROWS)
    assert all(r["FAIL_TO_PASS"] == json.dumps([f"tests/test_w.py::test_{r['instance_id'].replace('-', '_')}"])
               for r in rows)


def test_an_issue_from_a_jsonl_file_keeps_its_fields_as_written(tmp_path):
    path = write_jsonl(tmp_path / "issues.jsonl", ROWS[:1])
    issue = Issue.from_row(load_rows(str(path), "test")[0])
    assert issue.created_at == "2024-01-01T00:00:00Z"
    assert json.loads(json.dumps(issue.to_row()))["created_at"] == "2024-01-01T00:00:00Z"


def test_load_rows_reads_a_local_parquet_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "issues.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    rows = load_rows(str(path), "dev")
    assert rows == ROWS
    issues = [Issue.from_row(r) for r in rows]
    assert issues[0].FAIL_TO_PASS == ["tests/test_w.py::test_acme__widgets_10"]


def test_load_rows_reads_the_bundled_minibench():
    rows = load_rows("builtin:minibench", "test")
    assert [r["instance_id"] for r in rows] == list(MINI)
    assert len(rows) == 24
    assert without_created_at(rows) == without_created_at(list(MINI.values()))


def test_a_missing_local_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError) as err:
        load_rows(str(tmp_path / "nope.jsonl"), "test")
    assert err.value.field == "dataset.name"
    assert str(err.value.at("specs/x.yaml")).startswith("specs/x.yaml, field `dataset.name`: ")
    assert "does not exist" in str(err.value)


@pytest.mark.parametrize("name, content", [
    ("broken.jsonl", '{"instance_id": "a-1", "repo": "x/y"}\nthis is not json\n'),
    ("broken.json", "[{]"),
    ("broken.parquet", "PAR1 but not really a parquet file"),
])
def test_a_malformed_local_file_is_a_user_error_not_a_traceback(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError) as err:
        load_rows(str(path), "test")
    message = str(err.value)
    assert str(path) in message and "could not be read" in message and "dataset.name" in message
    assert "\n" not in message  # one paragraph
    assert err.value.__suppress_context__  # `from None`: no chained traceback behind the message


_OFFLINE_PROBE = """
import json, os, sys, time
{before}
from awm.dataset import load_rows
from awm.errors import UserError
started = time.monotonic()
try:
    load_rows("nobody-here/no-such-dataset", "test")
except UserError as exc:
    print(json.dumps({{"message": str(exc.at("specs/x.yaml")), "elapsed": time.monotonic() - started}}))
"""


# Nothing listens there: whether this machine can reach the real hub does not change what these tests see.
UNREACHABLE_HUB = "http://127.0.0.1:9"


def _offline_probe(before: str, env: dict, timeout: float) -> dict:
    proc = subprocess.run([sys.executable, "-c", _OFFLINE_PROBE.format(before=before)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_hub_name_offline_is_a_quick_user_error_that_points_to_a_local_file(monkeypatch):
    # In its own process: the hub client reads HF_HUB_OFFLINE when it is imported, so this is the user's case
    # of `HF_HUB_OFFLINE=1 awm-tui ...` (the in-process case is the xfail test below).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE_HUB)
    out = _offline_probe("", dict(os.environ), timeout=30)
    assert out["elapsed"] < 10  # `datasets` imported and the hub refused (the online retries alone take ~23 s)
    message = out["message"]
    assert "nobody-here/no-such-dataset" in message and "dataset.name" in message and "specs/x.yaml" in message
    assert "local .jsonl or .parquet path" in message and "to_json" in message


@pytest.mark.slow
def test_hf_hub_offline_set_after_datasets_was_imported_is_still_honoured():
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {"HF_ENDPOINT": UNREACHABLE_HUB}
    # What monkeypatch.setenv does in a process where an earlier load (any local file) imported `datasets`.
    before = "import datasets\nos.environ['HF_HUB_OFFLINE'] = '1'"
    try:
        out = _offline_probe(before, env, timeout=12)
    except subprocess.TimeoutExpired:
        pytest.fail("load_rows kept retrying the hub although HF_HUB_OFFLINE=1 was set before the call")
    assert out["elapsed"] < 5 and "local .jsonl or .parquet path" in out["message"]


# ---------------------------------------------------------------- select


def test_select_orders_by_instance_id_naturally_and_stably():
    issues = select(ROWS, spec())
    assert ids(issues) == ["acme__widgets-1", "acme__widgets-2", "acme__widgets-10", "acme__widgets-33",
                           "other__lib-7", "other__lib-12"]
    assert ids(select(list(reversed(ROWS)), spec())) == ids(issues)  # the input order does not matter


def test_select_orders_ids_without_a_number_too():
    rows = [row("zeta"), row("x-10"), row("x-2"), row("x-beta"), row("x-alpha"), row("alpha")]
    assert ids(select(rows, spec())) == ["alpha", "x-2", "x-10", "x-alpha", "x-beta", "zeta"]


def test_select_filters_by_repo():
    assert ids(select(ROWS, spec(repo_filter=["other/lib"]))) == ["other__lib-7", "other__lib-12"]
    both = select(ROWS, spec(repo_filter=["other/lib", "acme/widgets"]))
    assert len(both) == len(ROWS)
    assert select(ROWS, spec(repo_filter=["nobody/none"])) == []


def test_select_keeps_instance_ids_in_the_given_order():
    wanted = ["other__lib-12", "acme__widgets-1", "acme__widgets-33"]
    assert ids(select(ROWS, spec(instance_ids=wanted))) == wanted


def test_select_applies_the_limit_after_ordering():
    assert ids(select(ROWS, spec(limit=3))) == ["acme__widgets-1", "acme__widgets-2", "acme__widgets-10"]
    assert ids(select(ROWS, spec(instance_ids=["other__lib-12", "acme__widgets-2", "acme__widgets-1"], limit=2))) == [
        "other__lib-12", "acme__widgets-2"]
    assert ids(select(ROWS, spec(repo_filter=["other/lib"], limit=1))) == ["other__lib-7"]
    assert len(select(ROWS, spec(limit=100))) == len(ROWS)


def test_a_missing_instance_id_is_a_user_error_naming_it():
    with pytest.raises(UserError) as err:
        select(ROWS, spec(instance_ids=["acme__widgets-1", "acme__widgets-999"]))
    message = str(err.value.at("specs/x.yaml"))
    assert "acme__widgets-999" in message and "dataset.instance_ids" in message and "specs/x.yaml" in message
    assert "acme__widgets-1," not in message  # only the missing one is named


def test_an_id_outside_the_repo_filter_counts_as_missing():
    with pytest.raises(UserError) as err:
        select(ROWS, spec(repo_filter=["acme/widgets"], instance_ids=["other__lib-7"]))
    assert "other__lib-7" in str(err.value) and "acme/widgets" in str(err.value)


# ---------------------------------------------------------------- Issue.from_row


def test_issue_from_row_decodes_json_encoded_test_lists():
    issue = Issue.from_row(row("a-1", FAIL_TO_PASS='["t::a", "t::b"]', PASS_TO_PASS="[]", hints_text=None,
                               version=3.1, extra_column="ignored"))
    assert issue.FAIL_TO_PASS == ["t::a", "t::b"] and issue.PASS_TO_PASS == []
    assert issue.hints_text == "" and issue.version == "3.1"
    assert Issue.from_row(row("a-2", FAIL_TO_PASS=["x"], PASS_TO_PASS="")).FAIL_TO_PASS == ["x"]
    assert Issue.from_row(row("a-2", FAIL_TO_PASS=["x"], PASS_TO_PASS="")).PASS_TO_PASS == []
    # and back to the hub's shape
    assert Issue.from_row(issue.to_row()) == issue
    assert json.loads(issue.to_row()["FAIL_TO_PASS"]) == ["t::a", "t::b"]


def test_minibench_rows_become_issues_with_test_lists():
    for r in MINI.values():
        issue = Issue.from_row(r)
        assert issue.FAIL_TO_PASS == json.loads(r["FAIL_TO_PASS"]) and issue.FAIL_TO_PASS
        assert issue.PASS_TO_PASS == json.loads(r["PASS_TO_PASS"])
        assert issue.patch == r["patch"] and issue.test_patch == r["test_patch"]


# ---------------------------------------------------------------- the prompt


def test_prompt_holds_the_issue_path_and_base_commit_and_hints_only_when_asked(tmp_path):
    issue = Issue.from_row(MINI["awm-bench__tallyho-3"])
    assert issue.hints_text.strip()
    without = build_prompt(issue, tmp_path / "ws", include_hints=False)
    with_hints = build_prompt(issue, tmp_path / "ws", include_hints=True)
    for prompt in (without, with_hints):
        assert issue.problem_statement.strip() in prompt
        assert str(tmp_path / "ws") in prompt and f"Repository path: {tmp_path / 'ws'}" in prompt
        assert issue.base_commit in prompt and issue.repo in prompt
    assert issue.hints_text.strip() not in without and "<hints>" not in without
    assert issue.hints_text.strip() in with_hints and "<hints>" in with_hints


def test_prompt_without_hints_text_has_no_hints_block_even_when_asked(tmp_path):
    issue = Issue.from_row(MINI["awm-bench__tallyho-1"])
    assert not issue.hints_text.strip()
    assert "<hints>" not in build_prompt(issue, tmp_path, include_hints=True)


@pytest.mark.parametrize("instance_id", sorted(MINI))
def test_prompt_never_holds_the_answer(instance_id, tmp_path):
    issue = Issue.from_row(MINI[instance_id])
    for include_hints in (False, True):
        prompt = build_prompt(issue, tmp_path / "repo", include_hints)
        assert issue.patch.strip() and issue.patch not in prompt
        assert issue.test_patch.strip() and issue.test_patch not in prompt
        for tests in (issue.FAIL_TO_PASS, issue.PASS_TO_PASS):
            for name in tests:
                assert name not in prompt and name.rpartition("::")[2] not in prompt, name
        # nor the test file the test patch adds to (the problem statement may quote code, not the tests)
        for header in [line for line in issue.test_patch.splitlines() if line.startswith("diff --git")]:
            assert header not in prompt
        assert "FAIL_TO_PASS" not in prompt and "PASS_TO_PASS" not in prompt


# ---------------------------------------------------------------- malformed records and duplicates

@pytest.mark.parametrize("bad, expected", [
    ({"base_commit": None}, "`base_commit`"),
    ({"problem_statement": ""}, "`problem_statement`"),
    ({"FAIL_TO_PASS": "t::a, t::b"}, "`FAIL_TO_PASS` that is not a JSON list"),
    ({"PASS_TO_PASS": '"t::a"'}, "`PASS_TO_PASS` that is not a list"),
    ({"FAIL_TO_PASS": 3}, "`FAIL_TO_PASS` that is not a list"),
])
def test_a_record_the_engine_cannot_use_is_a_user_error_naming_it(bad, expected):
    with pytest.raises(UserError) as err:
        select([row("a-1"), row("a-2", **bad)], spec(repo_filter=[]))
    message = str(err.value)
    assert err.value.field == "dataset.name" and "record 2 (a-2)" in message and expected in message


def test_duplicate_instance_ids_are_refused_naming_them():
    with pytest.raises(UserError) as err:
        select([row("a-1"), row("a-2"), row("a-1"), row("a-2"), row("a-3")], spec(repo_filter=[]))
    assert err.value.field == "dataset.name"
    assert "a-1, a-2 are listed more than once" in str(err.value)


def test_duplicates_in_a_filtered_out_repo_do_not_matter():
    rows = [row("a-1"), row("b-1", repo="other/x"), row("b-1", repo="other/x")]
    assert ids(select(rows, spec(repo_filter=["acme/widgets"]))) == ["a-1"]


def test_an_id_given_twice_in_instance_ids_is_refused():
    with pytest.raises(UserError) as err:
        select([row("a-1")], spec(repo_filter=[], instance_ids=["a-1", "a-1"]))
    assert err.value.field == "dataset.instance_ids" and "a-1 is listed more than once" in str(err.value)


def test_a_broken_jsonl_line_is_reported_by_its_line_number(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row("a-1")) + "\n\n" + json.dumps(row("a-2")) + "\n" + '{"instance_id": "a-3", x}\n')
    with pytest.raises(UserError) as err:
        load_rows(str(path), "test")
    assert f"{path}, line 4 could not be read" in str(err.value) and "column 1" not in str(err.value)


def test_a_json_file_holding_one_object_is_refused(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"rows": [row("a-1")]}, indent=2))
    with pytest.raises(UserError) as err:
        load_rows(str(path), "test")
    assert "one JSON object" in str(err.value) and err.value.field == "dataset.name"


def test_a_json_file_holding_one_record_is_that_record(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(row("a-1"), indent=2))
    assert [r["instance_id"] for r in load_rows(str(path), "test")] == ["a-1"]
