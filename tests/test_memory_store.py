"""Workflow memory: merging near-duplicates, stable ids and versions, usefulness and the capacity rule, warm start,
edits, and memory.json files of earlier versions."""

import json

import pytest

from awm.memory.store import WorkflowMemory, similarity, slug, wilson_lower_bound
from awm.records import PITFALL, WORKFLOW, Experience, Status, Workflow

# Workflows as the demo's scripted inducer writes them for its bug categories (own copies).
STRING_NORMALISATION = {
    "name": "String Normalisation v1a2b",
    "description": "Text input in a different form (case, punctuation, encoding) is rejected or kept as written.",
    "steps": [
        "Reproduce with the exact input from the issue — `python -c 'from {module} import {function}; "
        "print({function}({raw_input}))'`",
        "Locate where the input is cleaned before use — `grep -n '{cleaning_call}' {file_path}`",
        "Normalise the input once, before it is compared or split — `str_replace {file_path}: {old_line} -> "
        "{normalised_line}`",
        "Run the module's tests — `python -m pytest -q {test_file}`",
    ],
}
OFF_BY_ONE = {
    "name": "Off-By-One Boundary v9f00",
    "description": "A result is wrong exactly at a limit (an end date, an exact size, a width) while other inputs work.",
    "steps": [
        "Find the comparison or range that decides the limit — `grep -n '{bound_expression}' {file_path}`",
        "Reproduce with the exact boundary value — `python -c 'from {module} import {function}; "
        "print({function}({boundary_value}))'`",
        "Make the bound match the documented inclusive/exclusive rule — `str_replace {file_path}: {old_bound} -> "
        "{new_bound}`",
        "Run the module's tests — `python -m pytest -q {test_file}`",
    ],
}
COMPARISON = {
    "name": "Comparison Ordering v77c1",
    "description": "Sorting or comparing values gives the wrong order for some inputs.",
    "steps": [
        "Find the key the values are compared by — `grep -n 'def {key_function}' -A 8 {file_path}`",
        "Check each field of the key has the type and order the spec requires — `python -c 'from {module} import "
        "{key_function}; print({key_function}({example}))'`",
        "Change the key, not the comparison — `str_replace {file_path}: {old_key} -> {new_key}`",
    ],
}
PARSING = {
    "name": "Parsing Edge Case v0b3e",
    "description": "A parser handles the simple form but mishandles a legal variant of the input.",
    "steps": [
        "Read the parser's loop and how it splits each line or token — `sed -n '1,40p' {file_path}`",
        "Reproduce with the variant from the issue — `python -c 'from {module} import {parser}; "
        "print({parser}({variant_input}))'`",
        "Handle the variant where the token is split or classified — `str_replace {file_path}: {old_split} -> "
        "{new_split}`",
        "Run the parser's tests — `python -m pytest -q {test_file}`",
    ],
}
STALE_STATE = {
    "name": "Stale State Update v5e21",
    "description": "An object's internal order or bookkeeping is not updated on one of its operations.",
    "steps": [
        "List the operations that should update the state — `grep -n 'def \\|{state_attribute}' {file_path}`",
        "Update the state in the operation that forgets to — `str_replace {file_path}: {old_body} -> "
        "{body_with_update}`",
        "Run the class's tests — `python -m pytest -q {test_file}`",
    ],
}
LOOKUP = {
    "name": "Incomplete Lookup Table v3d3d",
    "description": "A conversion is right for most inputs but wrong for a few specific values.",
    "steps": [
        "Find the table the conversion walks through — `grep -n '{table_name}' {file_path}`",
        "Reproduce with one of the failing values — `python -c 'from {module} import {function}; "
        "print({function}({value}))'`",
        "Add the missing entry in its sorted position — `str_replace {file_path}: {old_row} -> {old_row_with_entry}`",
    ],
}
CATEGORIES = [STRING_NORMALISATION, OFF_BY_ONE, COMPARISON, PARSING, STALE_STATE, LOOKUP]


def renamed(item, name, **changes):
    return {**item, "name": name, **changes}


def exp(iid, status, ids):
    return Experience(instance_id=iid, problem_statement="p", status=Status(status), workflow_ids=list(ids))


# ---- similarity


def test_identical_steps_under_another_name_are_near_duplicates():
    # the demo's pile-up: the same category induced again under a new suffix, and a renamed copy
    assert similarity(STRING_NORMALISATION, renamed(STRING_NORMALISATION, "String Normalisation v8e8e")) > 0.95
    other_name = renamed(STRING_NORMALISATION, "Canonicalise user text before use",
                         description="User text arrives in another case or encoding than the code expects.")
    assert similarity(STRING_NORMALISATION, other_name) > 0.75
    # slot names do not matter: {file_path} and {module-path} are both a slot
    reslotted = renamed(STRING_NORMALISATION, "Normalise text",
                        steps=[s.replace("{file_path}", "{module-path}").replace("{module}", "{package}")
                               for s in STRING_NORMALISATION["steps"]])
    assert similarity(STRING_NORMALISATION, reslotted) > 0.9


def test_different_categories_are_well_below_the_threshold():
    for i, a in enumerate(CATEGORIES):
        for b in CATEGORIES[i + 1:]:
            assert similarity(a, b) < 0.65, (a["name"], b["name"], similarity(a, b))
            assert similarity(a, b) == pytest.approx(similarity(b, a), abs=0.05)


def test_similarity_takes_workflows_and_dicts():
    wf = Workflow(id="wf-x", **STRING_NORMALISATION)
    assert similarity(wf, STRING_NORMALISATION) == 1.0
    assert 0.0 <= similarity(wf, {"name": "x", "description": "", "steps": ["y"]}) < 0.2


# ---- merging


def test_near_duplicates_merge_keeping_id_and_every_version(tmp_path):
    mem = WorkflowMemory(10, tmp_path / "memory.json")
    first = mem.add_round(1, [STRING_NORMALISATION, OFF_BY_ONE], ["i-1", "i-2"])
    assert [w.id for w in first] == ["wf-string-normalisation-v1a2b", "wf-off-by-one-boundary-v9f00"]
    assert all(w.version == 1 and w.created_round == 1 for w in first)
    # round 2: the same category again under another name, and a new category
    again = renamed(STRING_NORMALISATION, "Normalise text input",
                    steps=STRING_NORMALISATION["steps"][:3] + ["Run the tests of the module — `pytest -q {test_file}`"])
    touched = mem.add_round(2, [again, COMPARISON], ["i-3", "i-4"])
    assert [w.id for w in touched] == ["wf-string-normalisation-v1a2b", "wf-comparison-ordering-v77c1"]
    merged = mem.get("wf-string-normalisation-v1a2b")
    assert merged.version == 2 and merged.round == 2 and merged.created_round == 1
    assert merged.name == "Normalise text input"  # the newer content (no merger given)
    assert merged.source_instances == ["i-1", "i-2", "i-3", "i-4"]
    assert len(mem.active()) == 3  # merged, not piled up
    # both versions kept, and the memory as it was after each round
    assert mem.version("wf-string-normalisation-v1a2b", 1).name == "String Normalisation v1a2b"
    assert mem.version("wf-string-normalisation-v1a2b", 2).version == 2
    assert [w.version for w in mem.history("wf-string-normalisation-v1a2b")] == [1, 2]
    assert [w.name for w in mem.at_round(1)] == ["String Normalisation v1a2b", "Off-By-One Boundary v9f00"]
    assert mem.rounds[-1]["merged"] == ["wf-string-normalisation-v1a2b"]
    # all of it survives a reload
    loaded = WorkflowMemory.load(10, tmp_path / "memory.json")
    assert loaded.to_dict() == mem.to_dict()


def test_different_categories_do_not_merge():
    mem = WorkflowMemory(10)
    for n, item in enumerate(CATEGORIES, 1):
        mem.add_round(n, [item], [f"i-{n}"])
    assert len(mem.active()) == len(CATEGORIES)
    assert all(w.version == 1 for w in mem.workflows)


def test_duplicates_within_one_round_are_dropped():
    mem = WorkflowMemory(10)
    touched = mem.add_round(1, [STRING_NORMALISATION, renamed(STRING_NORMALISATION, "String Normalisation v2"),
                                PARSING], ["i-1"])
    assert [w.name for w in touched] == ["String Normalisation v1a2b", "Parsing Edge Case v0b3e"]
    assert [w.version for w in mem.workflows] == [1, 1]


def test_llm_merger_gives_the_content_and_a_failing_one_falls_back_to_the_new_item():
    mem = WorkflowMemory(10)
    mem.add_round(1, [STRING_NORMALISATION], ["i-1"])
    seen = []

    def merger(old, new):
        seen.append((old.name, new["name"]))
        return {"name": "Normalise text (merged)", "description": old.description, "steps": old.steps + ["Check"]}

    mem.add_round(2, [renamed(STRING_NORMALISATION, "String Normalisation v2")], ["i-2"], merger=merger)
    entry = mem.workflows[0]
    assert seen == [("String Normalisation v1a2b", "String Normalisation v2")]
    assert entry.name == "Normalise text (merged)" and entry.steps[-1] == "Check" and entry.version == 2

    def broken(old, new):
        raise RuntimeError("the model answered nonsense")

    mem.add_round(3, [renamed(STRING_NORMALISATION, "String Normalisation v3")], ["i-3"], merger=broken)
    entry = mem.workflows[0]
    assert entry.name == "String Normalisation v3" and entry.version == 3 and entry.id == "wf-string-normalisation-v1a2b"
    assert "the model answered nonsense" in mem.rounds[-1]["merge_errors"][0]["error"]


def test_ids_are_slugs_with_numbered_suffixes_never_random():
    mem = WorkflowMemory(10)
    mem.add_round(1, [{"name": "Fix it", "description": "a", "steps": ["grep -n x {f}", "edit {f}"]}], ["i-1"])
    mem.add_round(2, [{"name": "Fix it!", "description": "b", "steps": ["docker build .", "read the log"]}], ["i-2"])
    mem.add_round(3, [{"name": "FIX IT", "description": "c", "steps": ["mypy {pkg}", "annotate {f}"]}], ["i-3"])
    assert mem.ids() == ["wf-fix-it", "wf-fix-it-2", "wf-fix-it-3"]
    pitfalls = mem.add_round(4, [{"name": "Fix it", "description": "d", "steps": ["never"]}], ["i-4"], kind=PITFALL)
    assert pitfalls[0].id == "pf-fix-it" and pitfalls[0].kind == PITFALL
    assert slug("  Étude: a/b  ") == "wf-tude-a-b" and slug("", PITFALL) == "pf-unnamed"


def test_an_evicted_entrys_id_is_not_reused_by_a_different_entry():
    mem = WorkflowMemory(1)
    mem.add_round(1, [{"name": "Alpha", "description": "a", "steps": ["grep {x}", "edit {x}"]}], ["i-1"])
    mem.add_round(2, [{"name": "Beta", "description": "b", "steps": ["docker build", "read log"]}], ["i-2"])
    assert mem.ids() == ["wf-beta"]
    mem.add_round(3, [{"name": "Alpha", "description": "c", "steps": ["mypy {pkg}", "annotate"]}], ["i-3"])
    assert mem.ids() == ["wf-alpha-2"]  # wf-alpha's versions and counts belong to the evicted entry


def test_merge_keeps_flags_and_a_near_duplicate_of_a_disabled_entry_stays_disabled():
    mem = WorkflowMemory(10)
    mem.add_round(1, [STRING_NORMALISATION, PARSING], ["i-1"])
    mem.apply_ops([{"action": "disable", "id": "wf-string-normalisation-v1a2b"},
                   {"action": "pin", "id": "wf-parsing-edge-case-v0b3e"}])
    mem.add_round(2, [renamed(STRING_NORMALISATION, "String Normalisation v2"),
                      renamed(PARSING, "Parsing Edge Case v2")], ["i-2"])
    assert len(mem.workflows) == 2
    normalise, parsing = mem.workflows
    assert normalise.disabled and normalise.version == 2 and not parsing.disabled and parsing.pinned
    assert mem.active() == [parsing]


# ---- usefulness and the capacity rule


def test_record_outcome_counts_and_baseline_helped_hurt():
    mem = WorkflowMemory(10)
    mem.record_outcome(["a", "b"], Status.PASS, baseline_status="FAIL")
    mem.record_outcome(["a"], "FAIL", baseline_status="PASS")
    mem.record_outcome(["a", "a"], "ERROR")  # an id listed twice counts once
    mem.record_outcome(["a"], "SKIPPED", baseline_status="PASS")
    mem.record_outcome(["b"], "PASS", baseline_status="PASS")
    a, b = mem.usefulness("a"), mem.usefulness("b")
    assert {k: a[k] for k in ("injected", "passed", "failed", "errored", "helped", "hurt")} == \
        {"injected": 4, "passed": 1, "failed": 1, "errored": 1, "helped": 1, "hurt": 1}
    assert a["pass_rate"] == pytest.approx(1 / 3)
    assert b["passed"] == 2 and b["helped"] == 1 and b["hurt"] == 0 and b["pass_rate"] == 1.0
    assert mem.usefulness("never")["pass_rate"] is None and mem.usefulness("never")["lcb"] == 0.0
    assert a["lcb"] == pytest.approx(wilson_lower_bound(1, 3))


def test_wilson_lower_bound():
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(10, 10) == pytest.approx(0.7225, abs=1e-3)  # known value for 10/10 at 95%
    assert wilson_lower_bound(5, 10) == pytest.approx(0.2366, abs=1e-3)
    # more evidence for the same rate gives a higher bound
    assert wilson_lower_bound(3, 3) < wilson_lower_bound(30, 30)


def test_recount_from_experiences_equals_incremental_counts():
    import random

    rng = random.Random(7)
    ids = [f"wf-{n}" for n in range(6)]
    experiences = [exp(f"i-{n}", rng.choice(["PASS", "FAIL", "ERROR", "SKIPPED"]), rng.sample(ids, rng.randint(0, 3)))
                   for n in range(60)]
    baseline = {f"i-{n}": rng.choice(["PASS", "FAIL", "ERROR"]) for n in range(0, 60, 2)}
    live = WorkflowMemory(10)
    for e in experiences:
        live.record_outcome(e.workflow_ids, e.status, baseline.get(e.instance_id))
    resumed = WorkflowMemory(10)
    resumed.record_outcome(["wf-0"], "PASS")  # stale counts are replaced, not added to
    resumed.recount(experiences, baseline)
    assert resumed.outcomes == live.outcomes
    assert {i: resumed.usefulness(i) for i in ids} == {i: live.usefulness(i) for i in ids}
    assert sum(live.count(i, "helped") + live.count(i, "hurt") for i in ids) > 0  # the baseline mattered


def _item(n):
    return {"name": f"Procedure {n}", "description": f"case {n}", "steps": [f"step {n} {'x' * n}", f"uniq{n} run"]}


def test_eviction_goes_by_usefulness_after_the_grace_period():
    mem = WorkflowMemory(3, grace=3)
    mem.add_round(1, [_item(1), _item(2), _item(3)], ["i-1"])
    a, b, c = mem.ids()
    for status in ("PASS", "PASS", "PASS", "PASS"):
        mem.record_outcome([a], status)  # 4/4
    for status in ("FAIL", "FAIL", "ERROR", "FAIL"):
        mem.record_outcome([b], status)  # 0/4
    for status in ("PASS", "FAIL", "PASS", "FAIL"):
        mem.record_outcome([c], status)  # 2/4
    mem.add_round(2, [_item(4)], ["i-2"])
    assert mem.rounds[-1]["evicted"] == [b]  # the least useful goes, not the oldest (all three are from round 1)
    mem.add_round(3, [_item(5)], ["i-3"])
    assert mem.rounds[-1]["evicted"] == [c]  # the new ones (injected into fewer than `grace` issues) are protected
    assert [w.name for w in mem.active()] == ["Procedure 1", "Procedure 4", "Procedure 5"]


def test_grace_protects_new_entries_until_every_candidate_is_new():
    mem = WorkflowMemory(2, grace=3)
    mem.add_round(1, [_item(1), _item(2)], ["i-1"])
    one, two = mem.ids()
    for _ in range(3):
        mem.record_outcome([one], "PASS")  # seasoned and perfect
    mem.record_outcome([two], "FAIL")  # one failure, but still in its grace period
    mem.add_round(2, [_item(3)], ["i-2"])
    # one is the only seasoned candidate: it goes, although it is the most useful so far
    assert one not in mem.ids() and two in mem.ids()
    mem.add_round(3, [_item(4)], ["i-3"])
    # all candidates new: lowest lcb (all 0), then the oldest round goes
    assert two not in mem.ids() and [w.name for w in mem.active()] == ["Procedure 3", "Procedure 4"]


def test_pinned_entries_are_never_evicted_and_disabled_ones_count_against_no_limit():
    mem = WorkflowMemory(2, grace=1)
    mem.add_round(1, [_item(1), _item(2)], ["i-1"])
    first, second = mem.ids()
    for _ in range(5):
        mem.record_outcome([first], "FAIL")
        mem.record_outcome([second], "PASS")
    mem.apply_ops([{"action": "pin", "id": first}])
    mem.add_round(2, [_item(3)], ["i-2"])
    assert first in mem.ids() and second not in mem.ids()  # the worst one is pinned: the next worst goes
    mem.apply_ops([{"action": "pin", "id": first}, {"action": "disable", "id": mem.ids()[1]}])
    mem.add_round(3, [_item(4)], ["i-3"])
    assert len(mem.workflows) == 3 and len(mem.active()) == 2  # the disabled one is kept, outside the limit


def test_capacity_is_per_kind():
    mem = WorkflowMemory(1)
    mem.add_round(1, [_item(1)], ["i-1"])
    mem.add_round(2, [_item(2)], ["i-2"], kind=PITFALL)
    assert [w.kind for w in mem.workflows] == [WORKFLOW, PITFALL]
    mem.add_round(3, [_item(3)], ["i-3"], kind=PITFALL)
    assert [(w.kind, w.name) for w in mem.workflows] == [(WORKFLOW, "Procedure 1"), (PITFALL, "Procedure 3")]


# ---- rounds, failures, rendering


def test_rounds_are_one_sequence_counted_by_kind():
    mem = WorkflowMemory(10)
    mem.add_round(1, [_item(1)], ["i-1"])
    mem.add_failure(2, "no pitfall in the reply", "induction/pitfalls_002.reply.txt", kind=PITFALL)
    mem.add_failure(2, "again", None, kind=PITFALL)
    mem.add_round(2, [_item(2)], ["i-2"], kind=PITFALL)
    mem.add_failure(3, "empty reply", None)
    assert mem.round == 2 and mem.rounds_done(WORKFLOW) == 1 and mem.rounds_done(PITFALL) == 1
    assert mem.attempts(2, kind=PITFALL) == 2 and mem.attempts(2) == 0 and mem.attempts(3) == 1
    assert [e["kind"] for e in mem.round_entries()] == [WORKFLOW, PITFALL]
    assert mem.induction_usage()["failures"] == 3


def test_render_puts_pitfalls_in_their_own_section():
    mem = WorkflowMemory(10)
    mem.add_round(1, [STRING_NORMALISATION], ["i-1"])
    mem.add_round(2, [{"name": "Editing the test instead of the code", "description": "the fix changes a test",
                       "steps": ["Leave the tests as they are"]}], ["i-2"], kind=PITFALL)
    text = mem.render()
    assert text.startswith("# Workflow memory")
    assert text.index("## Workflow: String Normalisation v1a2b") < text.index("# Pitfalls") < text.index(
        "## Pitfall: Editing the test instead of the code")
    assert "How to avoid it:\n1. Leave the tests as they are" in text
    only_pitfall = mem.render([mem.workflows[1]])
    assert only_pitfall.startswith("# Pitfalls") and "## Workflow" not in only_pitfall
    assert mem.render([]) == ""
    mem.apply_ops([{"action": "disable", "id": mem.workflows[0].id}])
    assert "## Workflow" not in mem.render()  # the default is what may be injected


# ---- warm start and files of earlier versions


def test_seed_copies_another_runs_active_entries_as_round_zero(tmp_path):
    source = WorkflowMemory(10, tmp_path / "a" / "memory.json")
    source.add_round(1, [STRING_NORMALISATION, PARSING], ["a-1", "a-2"])
    source.add_round(2, [renamed(STRING_NORMALISATION, "String Normalisation v2"), LOOKUP], ["a-3"])
    source.record_outcome(["wf-string-normalisation-v1a2b"], "PASS")
    source.apply_ops([{"action": "disable", "id": "wf-incomplete-lookup-table-v3d3d"},
                      {"action": "pin", "id": "wf-parsing-edge-case-v0b3e"}])
    other = json.loads((tmp_path / "a" / "memory.json").read_text())

    mem = WorkflowMemory(10, tmp_path / "b" / "memory.json")
    seeded = mem.seed(other, "run a")
    assert [w.id for w in seeded] == ["wf-string-normalisation-v1a2b", "wf-parsing-edge-case-v0b3e"]
    normalise, parsing = mem.workflows
    assert normalise.version == 2 and normalise.round == 0 and normalise.source_instances == ["a-1", "a-2", "a-3"]
    assert parsing.pinned and mem.round == 0 and mem.rounds_done(WORKFLOW) == 0
    assert mem.outcomes == {}  # usefulness is evidence about the other run's issues
    assert [w.id for w in mem.at_round(0)] == mem.ids()
    # later rounds merge into the seeded entries
    mem.add_round(1, [renamed(PARSING, "Parsing Edge Case again")], ["b-1"])
    assert mem.workflows[1].version == 2 and mem.workflows[1].source_instances == ["a-1", "a-2", "b-1"]
    loaded = WorkflowMemory.load(10, tmp_path / "b" / "memory.json")
    assert loaded.seeded_from == "run a" and loaded.to_dict()["seeded_from"] == "run a"
    with pytest.raises(ValueError, match="empty memory"):
        loaded.seed(other, "again")


def test_seed_respects_this_runs_capacity():
    source = WorkflowMemory(10)
    source.add_round(1, [_item(n) for n in range(1, 6)], ["a-1"])
    mem = WorkflowMemory(3)
    mem.seed(source.to_dict(), "big run")
    assert len(mem.active()) == 3 and len(mem.rounds[0]["evicted"]) == 2


def test_load_reads_a_memory_json_written_before_kinds_and_versions(tmp_path):
    old_entry = {"id": "wf-alpha", "name": "alpha", "description": "d", "steps": ["s1", "s2"],
                 "source_instances": ["i-1", "i-3"], "round": 2}
    old = {
        "max_workflows": 2, "round": 2,
        "workflows": [old_entry, {"id": "wf-gamma", "name": "Gamma", "description": "d", "steps": ["a", "b"],
                                  "source_instances": ["i-4"], "round": 2}],
        "rounds": [{"round": 1, "time": "2024-01-01T00:00:00", "source_instances": ["i-1"], "induced": ["wf-alpha"],
                    "active": ["wf-alpha@1"], "cost": 0.5},
                   {"round": 2, "time": "2024-01-01T00:01:00", "source_instances": ["i-3", "i-4"],
                    "induced": ["wf-alpha", "wf-gamma"], "active": ["wf-alpha@2", "wf-gamma@2"], "cost": 0.25}],
        "failed_rounds": [{"round": 3, "attempt": 1, "time": "t", "reason": "empty", "reply_path": None}],
        "versions": {"wf-alpha@1": {**old_entry, "round": 1, "source_instances": ["i-1"]}, "wf-alpha@2": old_entry,
                     "wf-gamma@2": {"id": "wf-gamma", "name": "Gamma", "description": "d", "steps": ["a", "b"],
                                    "source_instances": ["i-4"], "round": 2}},
    }
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(old))
    mem = WorkflowMemory.load(2, path)
    assert mem.ids() == ["wf-alpha", "wf-gamma"] and mem.round == 2
    alpha = mem.workflows[0]
    assert alpha.kind == WORKFLOW and alpha.version == 1 and alpha.created_round == 1 and not alpha.disabled
    assert mem.rounds_done(WORKFLOW) == 2 and mem.attempts(3) == 1
    assert [w.id for w in mem.at_round(1)] == ["wf-alpha"] and mem.induction_usage()["cost"] == 0.75
    assert "## Workflow: alpha" in mem.render()
    # the next round merges into the old entries as into any
    mem.add_round(4, [{"name": "alpha", "description": "d", "steps": ["s1", "s2"]}], ["i-5"])
    assert mem.workflows[0].version == 2 and mem.workflows[0].created_round == 1
