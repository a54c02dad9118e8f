"""Condensing a trajectory within a token budget: the edits, test runs and final patch survive, newest first."""

import re

import pytest

from awm.memory.condense import approx_tokens, condense, condense_steps, fit_text, step_kind, trim_patch
from awm.records import Experience, Status, Step

PATCH = """diff --git a/pkg/units.py b/pkg/units.py
--- a/pkg/units.py
+++ b/pkg/units.py
@@ -10,7 +10,7 @@ def human_size(n):
     units = ["B", "KiB", "MiB"]
     for unit in units:
-        if n < 1000:
+        if n < 1024:
             return f"{n:.1f} {unit}"
         n /= 1024
"""


def view(n):
    return Step(tool="file_editor", action=f"view /repo/pkg/mod{n}.py", thought=f"look at module {n}",
                observation="\n".join(f"{i}\tdef helper_{n}_{i}(): pass" for i in range(40)))


def grep(n):
    return Step(tool="terminal", action=f'$ grep -rn "needle{n}" /repo/pkg', thought="search",
                observation="\n".join(f"/repo/pkg/x{i}.py:{i}: needle{n}" for i in range(30)))


def edit(n):
    return Step(tool="file_editor", action=f"str_replace /repo/pkg/units.py\n- if n < {n}:\n+ if n <= {n}:",
                thought=f"change the bound to EDIT-{n}", observation="The file /repo/pkg/units.py has been edited.")


def pytest_step(n, outcome):
    noise = "\n".join(f"tests/test_units.py::test_case_{i} PASSED" for i in range(60))
    return Step(tool="terminal", action=f"$ cd /repo && python -m pytest -q tests/test_units.py  # TEST-{n}",
                thought="run the tests", observation=f"{noise}\n=== {outcome} in 0.{n}s ===")


def long_trajectory():
    """100 steps: exploration throughout, edits and test runs spread over it, the last ones near the end."""
    steps = []
    for n in range(1, 101):
        if n in (20, 45, 70, 88, 95):
            steps.append(edit(n))
        elif n in (30, 60, 75, 92, 98):
            steps.append(pytest_step(n, "3 passed" if n == 98 else "1 failed, 2 passed"))
        elif n == 85:
            steps.append(Step(tool="terminal", action="$ sed -i 's/1000/1024/' /repo/pkg/units.py  # SED-85"))
        elif n == 100:
            steps.append(Step(tool="finish", action="Bounds now use 1024. FINISH-MESSAGE"))
        else:
            steps.append(view(n) if n % 2 else grep(n))
    return steps


def experience(history, patch=PATCH):
    return Experience(instance_id="pkg__pkg-7", problem_statement="human_size(1000) prints 1000.0 B. ISSUE-TEXT",
                      status=Status.PASS, diff_patch=patch, history=history,
                      test_output="FAIL_TO_PASS tests/test_units.py::test_kib HIDDEN-EVAL-OUTPUT", reason="GOLD-REASON")


@pytest.mark.parametrize("budget", [900, 1500, 3000, 6000])
def test_hundred_steps_keep_the_last_edits_tests_and_patch_within_budget(budget):
    text = condense(experience(long_trajectory()), budget, approx_tokens)
    assert approx_tokens(text) <= budget
    assert "ISSUE-TEXT" in text and "Final patch:" in text and "+        if n < 1024:" in text
    for marker in ("EDIT-95", "TEST-98", "EDIT-88", "TEST-92", "SED-85", "FINISH-MESSAGE"):
        assert marker in text, (budget, marker)
    assert "98. Reasoning: run the tests Action (terminal)" in text  # steps keep their own numbers
    kept = {int(m) for m in re.findall(r"^(\d+)\. ", text, re.M)}
    omitted = re.findall(r"… (\d+) exploration steps? omitted …", text)
    assert sum(map(int, omitted)) == 100 - len(kept)
    if budget <= 1500:
        assert len(kept) < 50
    # what the agent never saw stays out
    assert "HIDDEN-EVAL-OUTPUT" not in text and "GOLD-REASON" not in text


def test_the_old_first_thirty_steps_rule_would_have_lost_the_fix():
    history = long_trajectory()
    text = condense(experience(history), 1500, approx_tokens)
    kept = {int(m) for m in re.findall(r"^(\d+)\. ", text, re.M)}
    assert {95, 98, 100} <= kept and max(kept) == 100
    # with this budget exploration does not all fit, and an exploration step is never preferred to an edit
    explored = kept - {20, 30, 45, 60, 70, 75, 85, 88, 92, 95, 98, 100}
    assert len(explored) < 88


def test_when_even_edits_and_tests_do_not_fit_the_newest_win():
    history = long_trajectory()
    text = condense_steps(history, 200, approx_tokens)
    assert approx_tokens(text) <= 200
    kept = [int(m) for m in re.findall(r"^(\d+)\. ", text, re.M)]
    assert kept and kept[-1] == 100 and 98 in kept
    assert 20 not in kept  # the oldest edit went first
    assert re.search(r"… \d+ steps omitted \(\d+ edits?, \d+ test runs?, \d+ exploration steps\) …", text)


def test_test_output_keeps_its_tail_summary():
    text = condense_steps([pytest_step(1, "3 passed")], 400, approx_tokens)
    assert "=== 3 passed in 0.1s ===" in text and "test_case_0 PASSED" not in text


def test_a_generous_budget_keeps_every_step_with_no_marker():
    history = long_trajectory()[:12]
    text = condense_steps(history, 100_000, approx_tokens)
    assert [int(m) for m in re.findall(r"^(\d+)\. ", text, re.M)] == list(range(1, 13))
    assert "omitted" not in text


def test_budget_holds_with_another_tokenizer():
    words = lambda text: len(text.split()) + text.count("\n")  # noqa: E731 - a different, non-additive count
    exp = experience(long_trajectory())
    for budget in (300, 700, 1200, 2500, 5000):
        text = condense(exp, budget, words)
        assert words(text) <= budget
        assert "FINISH-MESSAGE" in text


def test_empty_history_and_empty_patch():
    text = condense(experience([], patch=""), 500, approx_tokens)
    assert "(no steps recorded)" in text and "(empty: no change made)" in text


@pytest.mark.parametrize("step, kind", [
    (Step("terminal", "$ cd /repo && python -m pytest -q tests/a.py"), "test"),
    (Step("terminal", "$ ./tests/runtests.py admin_views --settings=test_sqlite"), "test"),
    (Step("terminal", "$ python tests/runtests.py utils_tests"), "test"),
    (Step("terminal", "$ python -m unittest discover -s tests"), "test"),
    (Step("terminal", "$ tox -e py312"), "test"),
    (Step("terminal", "$ python manage.py test app"), "test"),
    (Step("terminal", "$ timeout 60 pytest -x"), "test"),
    (Step("terminal", "$ PYTHONPATH=. python test_repro.py"), "test"),
    (Step("terminal", "$ sed -i 's/a/b/' pkg/x.py"), "edit"),
    (Step("terminal", "$ cd /repo && git apply fix.diff"), "edit"),
    (Step("terminal", "$ cat > /repo/repro.py << 'EOF'\nimport pytest\nEOF"), "edit"),
    (Step("terminal", "$ python repro.py > out.txt 2>&1"), "explore"),
    (Step("terminal", "$ grep -rn pytest setup.cfg"), "explore"),
    (Step("terminal", "$ cat tox.ini"), "explore"),
    (Step("terminal", "$ python repro.py"), "explore"),
    (Step("file_editor", "str_replace /repo/a.py\n- x\n+ y"), "edit"),
    (Step("file_editor", "create /repo/new.py\n+ x = 1"), "edit"),
    (Step("file_editor", "insert /repo/a.py\n+ y"), "edit"),
    (Step("file_editor", "view /repo/a.py"), "explore"),
    (Step("finish", "done"), "finish"),
    (Step("think", '{"thought": "hmm"}'), "explore"),
])
def test_step_kinds(step, kind):
    assert step_kind(step) == kind


def test_patch_trimming_drops_context_first_then_cuts():
    big = PATCH + "".join(f" context line {i}\n" for i in range(400))
    small = trim_patch(big, 120, approx_tokens)
    assert approx_tokens(small) <= 120 and "+        if n < 1024:" in small and "context line 5" not in small
    assert "context lines dropped" in small
    assert trim_patch(PATCH, 10_000, approx_tokens) == PATCH.strip("\n")
    tiny = trim_patch(big, 30, approx_tokens)
    assert approx_tokens(tiny) <= 30 and tiny.startswith("diff --git")


def test_fit_text_keeps_head_and_tail():
    text = "START " + "x" * 4000 + " END"
    cut = fit_text(text, 100, approx_tokens)
    assert approx_tokens(cut) <= 100 and cut.startswith("START") and cut.endswith("END") and "characters cut" in cut


