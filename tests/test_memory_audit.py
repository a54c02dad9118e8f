"""The memory leak audit (awm.memory.audit, `awm-tui memory RUN audit`): a hand-made memory and hand-made dataset
rows with known hits, and the near-misses that must not hit (a common word that is a function name, a name inside a
longer one, a bare `options.py`, an earlier issue's fix, a version made after the issue it names)."""

from __future__ import annotations

import json

from awm.experiment.leaks import audit_run
from awm.memory.audit import (CHANGED_FILE, CHANGED_FUNCTION, TEST_FILE, TEST_NAME, audit, memory_versions,
                              targets_of_patch, path_forms, round_places, specific, targets_of_test)
from awm.memory.store import WorkflowMemory
from awm.records import Issue, Workflow
from awm_tui.commands.cli import main
from compare_fixtures import write_run


def diff(path: str, *functions: str) -> str:
    """A gold patch changing `path`: one hunk per function, named in the hunk header (git's enclosing function)."""
    hunks = "".join(f"@@ -1,3 +1,3 @@ def {name}(self, value):\n-    old\n+    new\n" for name in functions)
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n{hunks}"


ROWS = [
    {"instance_id": "acme__lib-1", "repo": "acme/lib", "base_commit": "0" * 40, "problem_statement": "headers",
     "patch": diff("pkg/core/parser.py", "parse_header"),
     "FAIL_TO_PASS": json.dumps(["tests/test_parser.py::test_parse_header_empty"]),
     "PASS_TO_PASS": json.dumps(["tests/test_parser.py::TestParser::test_basic[utf-8]"])},
    {"instance_id": "acme__lib-2", "repo": "acme/lib", "base_commit": "0" * 40, "problem_statement": "lookups",
     "patch": diff("pkg/core/options.py", "filter", "resolve_lookup_path"),
     "FAIL_TO_PASS": ["test_resolve_lookup (core_tests.tests.LookupTests)"], "PASS_TO_PASS": []},
    {"instance_id": "acme__lib-3", "repo": "acme/lib", "base_commit": "0" * 40, "problem_statement": "spaces",
     "patch": diff("pkg/util/text.py", "normalise_spaces"),
     "FAIL_TO_PASS": ["test_normalise_spaces_tabs"], "PASS_TO_PASS": []},
]
ORDER = ["acme__lib-1", "acme__lib-2", "acme__lib-3"]

# round 1 learned from issue 1 (place 1), round 2 from issue 2 (place 2), round 3 from issue 3 (place 3)
ROUNDS = [{"round": 1, "kind": "workflow", "source_instances": ["acme__lib-1"], "active": ["wf-headers@1"]},
          {"round": 2, "kind": "pitfall", "source_instances": ["acme__lib-2"],
           "active": ["wf-headers@1", "pf-lookups@2"]},
          {"round": 3, "kind": "workflow", "source_instances": ["acme__lib-3"],
           "active": ["wf-headers@3", "pf-lookups@2"]}]
HEADERS_V1 = Workflow(
    id="wf-headers", name="Fix header parsing", description="a header is parsed wrongly", round=1, version=1,
    steps=["Open pkg/core/parser.py and fix parse_header",  # issue 1's own fix, learned at its round: no hit
           "Run tests/test_parser.py::test_parse_header_empty",  # a test file (F2P and P2P) and a test name: 3 hits
           "Call filter on the queryset; options.py holds it",  # a common word, a bare common file name: no hit
           "Keep resolve_lookup_path_cache warm",  # a later fix's function inside a longer name: no hit
           "Then look in core/options.py"])  # a later issue's file by a two-part suffix: 1 hit
HEADERS_V3 = Workflow(
    id="wf-headers", name="Fix header parsing", description="a header is parsed wrongly", round=3, version=2,
    steps=["Open pkg/core/parser.py and fix parse_header", "Use normalise_spaces first"])  # issue 3 is not later
LOOKUPS = Workflow(
    id="pf-lookups", name="Lookups break", description="when core_tests.tests fails", round=2, kind="pitfall",
    steps=["resolve_lookup_path was the culprit before",  # issue 2's own fix, at its own round: no hit
           "use normalise_spaces from pkg.util.text"])  # issue 3 (later): a function and a dotted module, 2 hits


def hand_memory() -> WorkflowMemory:
    memory = WorkflowMemory(10)
    memory.workflows = [HEADERS_V3, LOOKUPS]
    memory.versions = {"wf-headers@1": HEADERS_V1, "pf-lookups@2": LOOKUPS, "wf-headers@3": HEADERS_V3}
    memory.rounds = ROUNDS
    return memory


def found(result) -> set[tuple]:
    return {(h.entry, h.version, h.what, h.named, h.instance_id, h.field) for h in result.hits}


def test_the_hand_made_memory_hits_what_it_names_and_nothing_else():
    memory = hand_memory()
    places = round_places(memory.rounds, ORDER)
    assert places == {1: 1, 2: 2, 3: 3}
    result = audit(memory_versions(memory), [Issue.from_row(r) for r in ROWS], ORDER, places)
    assert found(result) == {
        ("wf-headers", 1, TEST_FILE, "tests/test_parser.py", "acme__lib-1", "FAIL_TO_PASS"),
        ("wf-headers", 1, TEST_FILE, "tests/test_parser.py", "acme__lib-1", "PASS_TO_PASS"),
        ("wf-headers", 1, TEST_NAME, "test_parse_header_empty", "acme__lib-1", "FAIL_TO_PASS"),
        ("wf-headers", 1, CHANGED_FILE, "core/options.py", "acme__lib-2", "patch"),
        ("pf-lookups", 1, TEST_FILE, "core_tests.tests", "acme__lib-2", "FAIL_TO_PASS"),
        ("pf-lookups", 1, CHANGED_FUNCTION, "normalise_spaces", "acme__lib-3", "patch"),
        ("pf-lookups", 1, CHANGED_FILE, "pkg.util.text", "acme__lib-3", "patch"),
    }
    assert result.flagged == ["pf-lookups", "wf-headers"]
    assert (result.versions, result.entries, result.instances) == (3, 2, 3)
    assert result.to_dict()["count"] == 7


def test_a_version_is_judged_by_the_round_that_made_it():
    """wf-headers v2 (round 3, after issue 3) names issue 3's function: no hit; the same text in a round placed
    before issue 3 is one."""
    issues = [Issue.from_row(r) for r in ROWS]
    assert audit([HEADERS_V3], issues, ORDER, {3: 3}).hits == []
    early = audit([HEADERS_V3], issues, ORDER, {3: 2}).hits
    assert [(h.named, h.instance_id) for h in early] == [("normalise_spaces", "acme__lib-3")]


def test_a_warm_start_and_a_round_without_sources_are_placed():
    from awm.records import Experience, Status

    rounds = [{"round": 0, "kind": "seed"}, {"round": 1, "kind": "workflow"}]
    started = [Experience("acme__lib-1", "", Status.PASS, position=1, memory_round=0),
               Experience("acme__lib-2", "", Status.PASS, position=2, memory_round=0),
               Experience("acme__lib-3", "", Status.PASS, position=3, memory_round=1)]
    assert round_places(rounds, ORDER, started) == {0: 0, 1: 2}


def test_the_naming_rules():
    assert specific("get_prep_value") and specific("QuerySetIter") and specific("test_basic")
    assert not any(specific(w) for w in ("filter", "as_sql", "to_dict", "__init__", "__getattr__", "Queryset",
                                         "_private", "a-b_cdefgh"))
    assert targets_of_test("tests/test_x.py::TestX::test_y[a-1]") == [(TEST_FILE, "tests/test_x.py"),
                                                                    (TEST_NAME, "test_y")]
    assert targets_of_test("test_y (app.tests.ClassTests)") == [(TEST_FILE, "app.tests"), (TEST_NAME, "test_y")]
    assert targets_of_test("test_y") == [(TEST_NAME, "test_y")]
    assert targets_of_test("A docstring describing the test.") == []
    assert targets_of_patch(diff("a/b.py", "one_thing") + "+def added_helper(x):\n") == [
        (CHANGED_FILE, "a/b.py"), (CHANGED_FUNCTION, "one_thing"), (CHANGED_FUNCTION, "added_helper")]
    assert path_forms("django/contrib/admin/options.py") == [
        "django/contrib/admin/options.py", "contrib/admin/options.py", "admin/options.py",
        "django.contrib.admin.options"]
    assert path_forms("tests/test_roman.py") == ["tests/test_roman.py", "test_roman.py", "tests.test_roman"]
    assert path_forms("app.tests") == ["app.tests", "app/tests.py"]


def test_the_command_prints_the_hits_and_exits_0(tmp_path, capsys):
    run = write_run(tmp_path / "run", {i: "PASS" for i in ORDER})
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    config = json.loads((run / "config.json").read_text())
    config["spec"]["dataset"] = {"name": str(data), "split": "test"}
    (run / "config.json").write_text(json.dumps(config))
    memory = hand_memory()
    memory.path = run / "memory.json"
    memory.save()
    assert main(["memory", str(run), "audit"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("audit of run's memory: 3 version(s) of 2 entries against 3 issue(s) of "
                                   f"{data}: 7 hit(s) in 2 entries")
    assert "pf-lookups  v1       changed function  normalise_spaces" in out
    assert "tests/test_parser.py" in out and "acme__lib-3" in out
    assert audit_run(run).to_dict()["count"] == 7
    # the rows gone: one paragraph naming the fix, status 2; given with --dataset, the audit runs
    data.rename(tmp_path / "elsewhere.jsonl")
    assert main(["memory", str(run), "audit"]) == 2
    err = capsys.readouterr().err
    assert "is gone" in err and "--dataset FILE" in err and "Traceback" not in err
    assert audit_run(run).note.startswith("the run's dataset file") and audit_run(run).hits == []
    assert main(["memory", str(run), "audit", "--dataset", str(tmp_path / "elsewhere.jsonl")]) == 0
    assert "7 hit(s)" in capsys.readouterr().out


def test_a_clean_memory_has_no_hits(tmp_path, capsys):
    run = write_run(tmp_path / "run", {i: "PASS" for i in ORDER}, entries={"wf-generic": "Read the traceback"})
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(ROWS))
    assert main(["memory", str(run), "audit", "--dataset", str(data)]) == 0
    out = capsys.readouterr().out
    assert "0 hit(s) in 0 entries" in out and "entry  version" not in out
