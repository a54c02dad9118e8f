"""The memory leak audit: which memory entries name, in their text, something of the run's gold data that the agent
must not be given. `awm-tui memory RUN audit` prints it; compare and export count its hits.

When memory learns from the hidden tests' verdicts (`induction.success: tests`), and even when it does not, an
induced workflow or pitfall can carry into later prompts what a leaderboard forbids the system to know: the names of
the SWE-bench tests (FAIL_TO_PASS, PASS_TO_PASS) or the files and functions of a later issue's gold fix. The audit
reads every kept version of every entry (name, "When to use" and steps) and flags:

- a test file or test name of FAIL_TO_PASS / PASS_TO_PASS of any of the run's issues (test knowledge is forbidden
  whoever it belongs to);
- a file or function changed by the gold patch (the `patch` field) of an issue that comes later in the run's order
  than the round that made that version (an earlier issue's fix may have been learned from the agent's own attempt
  at it; a later one's could not have been).

What counts as naming something, decided so that a shared word is not a leak:
- identifiers (test names, function names) match whole (not inside a longer identifier), case-sensitively, and
  only when they are specific: at least MIN_NAME characters and snake_case or camelCase (an underscore or an inner
  capital), never a dunder. `filter`, `save`, `as_sql` or `__init__` are common vocabulary of a code base; naming
  them says nothing about one issue, and every workflow would be flagged. `test_to_roman_4` or `get_prep_value`
  does say something.
- files match by their path or by a path suffix of at least two parts (`admin/options.py` for
  django/contrib/admin/options.py; not `x/admin/options.py`, another file), or by the dotted module
  (django.contrib.admin.options); a bare file name only when its stem is a specific identifier by the rule above
  (`test_roman.py`, not `options.py` or `tests.py`). Django's test ids (`test_x (admin_views.tests.Class)`) give
  their module, `admin_views.tests`, and its path form `admin_views/tests.py`.

What it cannot see: knowledge put in other words (a paraphrase of a test's assertion, "the subtractive form for
4"), a name shorter than the rule allows, and what the agent's own trajectory told it. A hit is a reason to read the
entry, not proof of a leak: a PASS_TO_PASS test exists in the repository before the fix, where the agent may have
read it, and two issues may change the same function."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from awm.records import Experience, Issue, Workflow

MIN_NAME = 8  # characters of a specific identifier
FIELDS = ("FAIL_TO_PASS", "PASS_TO_PASS", "patch")
TEST_FILE, TEST_NAME, CHANGED_FILE, CHANGED_FUNCTION = "test file", "test name", "changed file", "changed function"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INNER_CAPITAL = re.compile(r"[a-z0-9][A-Z]")
_DJANGO_TEST = re.compile(r"^(?P<name>[A-Za-z_]\w*) \((?P<where>[\w.]+)\)")
_PATHLIKE = re.compile(r"[\w./-]+")
_DEF = re.compile(r"\bdef\s+([A-Za-z_]\w*)\s*\(")
_DIFF_FILE = re.compile(r"^(?:diff --git a/(\S+) b/(\S+)|\+\+\+ b/(\S+)|--- a/(\S+))", re.M)


def specific(name: str) -> bool:
    """Whether an identifier names something particular (see the module docstring): at least MIN_NAME characters,
    an underscore or an inner capital, not a dunder."""
    if len(name) < MIN_NAME or not _IDENT.fullmatch(name) or (name.startswith("__") and name.endswith("__")):
        return False
    return "_" in name.strip("_") or bool(_INNER_CAPITAL.search(name))


def targets_of_test(test_id: str) -> list[tuple[str, str]]:
    """What a FAIL_TO_PASS / PASS_TO_PASS id names: [(TEST_FILE, path or module), (TEST_NAME, name)], as far as its
    form tells. pytest: `tests/test_x.py::Class::test_y[param]`; Django: `test_y (app.tests.Class)`; sympy and
    others: a bare `test_y`."""
    text = test_id.strip()
    out: list[tuple[str, str]] = []
    django = _DJANGO_TEST.match(text)
    if django:
        parts = django["where"].split(".")
        if len(parts) > 1 and parts[-1][:1].isupper():  # app.tests.Class: the module is what comes before
            parts = parts[:-1]
        if len(parts) > 1:
            out.append((TEST_FILE, ".".join(parts)))
        return out + [(TEST_NAME, django["name"])]
    if "::" in text:
        path, *rest = text.split("::")
        out.append((TEST_FILE, path))
        name = re.sub(r"\[.*$", "", rest[-1]) if rest else ""
        return out + ([(TEST_NAME, name)] if _IDENT.fullmatch(name) else [])
    name = re.sub(r"\[.*$", "", text)
    return [(TEST_NAME, name)] if _IDENT.fullmatch(name) else []


def targets_of_patch(patch: str) -> list[tuple[str, str]]:
    """The files a diff changes and the functions it changes: those its hunk headers name (git's enclosing
    function) and those whose `def` line it adds or removes."""
    files = []
    for match in _DIFF_FILE.finditer(patch):
        path = next(g for g in match.groups() if g)
        if path != "/dev/null" and path not in files:
            files.append(path)
    functions = []
    for line in patch.splitlines():
        if line.startswith("@@"):
            context = line.split("@@", 2)[-1]
        elif line[:1] in "+-" and not line.startswith(("+++", "---")):
            context = line[1:]
        else:
            continue
        for name in _DEF.findall(context):
            if name not in functions:
                functions.append(name)
    return [(CHANGED_FILE, f) for f in files] + [(CHANGED_FUNCTION, f) for f in functions]


def path_forms(path: str) -> list[str]:
    """The forms in which an entry's text names a file (see the module docstring): the path, its suffixes of two
    parts or more, the dotted module of a .py file, a bare file name with a specific stem. A dotted module (a Django
    test module) gives itself and its path form."""
    path = path.strip().lstrip("./")
    if "/" not in path and "." in path and not path.endswith(".py"):  # a dotted module: app.tests
        parts = path.split(".")
        return list(dict.fromkeys([path] + path_forms("/".join(parts) + ".py"))) if len(parts) > 1 else []
    parts = [p for p in path.split("/") if p]
    if not parts:
        return []
    forms = ["/".join(parts[i:]) for i in range(len(parts) - 1)]
    stem, dot, suffix = parts[-1].rpartition(".")
    if specific(stem if dot else parts[-1]):
        forms.append(parts[-1])
    if suffix == "py" and dot and len(parts) > 1:
        forms.append(".".join(parts[:-1] + [stem]))
    return list(dict.fromkeys(forms))


@dataclass(frozen=True)
class Hit:
    """One entry naming one thing of one issue's gold data."""

    entry: str  # the entry's id
    version: int  # the first version (of those kept) that named it
    round: int  # the round that made that version
    named: str  # the text found in the entry
    what: str  # TEST_FILE, TEST_NAME, CHANGED_FILE or CHANGED_FUNCTION
    target: str  # what the dataset row says (the full test id's file or name, the patch's path or function)
    instance_id: str
    field: str  # FAIL_TO_PASS, PASS_TO_PASS or patch


@dataclass
class Audit:
    """The audit of one memory against one run's dataset rows."""

    hits: list[Hit] = field(default_factory=list)
    versions: int = 0  # entry versions read
    entries: int = 0  # distinct entries read
    instances: int = 0  # dataset rows (issues) audited against
    note: str = ""  # why there was nothing to audit against ("" when the audit ran)

    @property
    def flagged(self) -> list[str]:
        return sorted({h.entry for h in self.hits})

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [asdict(h) for h in self.hits], "count": len(self.hits), "entries_flagged": self.flagged,
                "versions": self.versions, "entries": self.entries, "instances": self.instances, "note": self.note}


def _index(issues: list[Issue], position: dict[str, int]) -> tuple[dict, dict]:
    """form -> [(what, target, instance, field, position)]: identifiers and paths, separately."""
    names: dict[str, list[tuple]] = {}
    paths: dict[str, list[tuple]] = {}
    for issue in issues:
        where = position.get(issue.instance_id, 0)
        sources = [(f, t) for f in ("FAIL_TO_PASS", "PASS_TO_PASS") for test in getattr(issue, f)
                   for t in targets_of_test(test)] + [("patch", t) for t in targets_of_patch(issue.patch)]
        for source_field, (what, target) in sources:
            record = (what, target, issue.instance_id, source_field, where)
            if what in (TEST_NAME, CHANGED_FUNCTION):
                if specific(target):
                    names.setdefault(target, []).append(record)
            else:
                for form in path_forms(target):
                    paths.setdefault(form, []).append(record)
    return names, paths


def _mentions(text: str) -> tuple[set[str], set[str]]:
    """The identifiers of a text, and its path-like tokens (split at `::`, trailing punctuation cut)."""
    names = set(_IDENT.findall(text))
    paths = set()
    for token in _PATHLIKE.findall(text):
        for part in token.split("::"):
            part = part.strip(".-/")
            if part:
                paths.add(part)
    return names, paths


def entry_text(entry: Workflow) -> str:
    return "\n".join([entry.name, entry.description, *entry.steps])


def round_places(rounds: list[dict], order: list[str], experiences: Iterable[Experience] = ()) -> dict[int, int]:
    """Each round's place in the run's order: the position (1-based) of the last issue it learned from (its
    `source_instances`); a warm start's round 0 is at 0 (before every issue). A round that records no sources is
    placed just before the first issue that started with its memory (Experience.memory_round); 0 if none did."""
    position = {iid: k for k, iid in enumerate(order, 1)}
    started = sorted((e.position or position.get(e.instance_id, 0), e.memory_round) for e in experiences)
    places = {}
    for entry in rounds:
        number = int(entry.get("round", 0))
        sources = [position[i] for i in entry.get("source_instances") or [] if i in position]
        if sources:
            places[number] = max(sources)
        else:
            first = next((p for p, seen in started if seen >= number and number > 0), None)
            places[number] = max(0, first - 1) if first else 0
    return places


def audit(versions: Iterable[Workflow], issues: list[Issue], order: list[str],
          places: dict[int, int]) -> Audit:
    """The hits of these entry versions against these dataset rows (see the module docstring). `order`: the run's
    instance ids in its order (the test fields of every one of them count; patches only of those after the round);
    `places`: each round's place in that order (round_places). Issues not in `order` are left out (a dataset file
    may hold far more rows than the run took); an empty `order` audits every row, each as later than any round."""
    position = {iid: k for k, iid in enumerate(order, 1)}
    if order:
        issues = [i for i in issues if i.instance_id in position]
    else:
        position = {i.instance_id: 10**9 for i in issues}
    names, paths = _index(issues, position)
    result = Audit(instances=len(issues))
    seen: set[tuple] = set()
    entries: set[str] = set()
    for version in sorted(versions, key=lambda w: (w.round, w.version)):
        result.versions += 1
        entries.add(version.id)
        place = places.get(version.round, 0)
        mentioned_names, mentioned_paths = _mentions(entry_text(version))
        found = [(n, r) for n in sorted(mentioned_names) for r in names.get(n, ())]
        found += [(p, r) for p in sorted(mentioned_paths) for r in paths.get(p, ())]
        for named, (what, target, instance, source_field, where) in found:
            if source_field == "patch" and where <= place:
                continue  # an earlier issue's fix: the agent's own attempt may have taught it
            key = (version.id, what, target, instance, source_field)
            if key in seen:
                continue
            seen.add(key)
            result.hits.append(Hit(entry=version.id, version=version.version, round=version.round, named=named,
                                   what=what, target=target, instance_id=instance, field=source_field))
    result.entries = len(entries)
    return result


def memory_versions(memory) -> list[Workflow]:
    """Every kept version of every entry of a WorkflowMemory (the current ones, and those replaced or evicted since):
    each was in some issue's prompt."""
    found = {(w.id, w.round): w for w in memory.versions.values()}
    for w in memory.workflows:
        found.setdefault((w.id, w.round), w)
    return list(found.values())
