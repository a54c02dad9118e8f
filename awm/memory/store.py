"""Workflow memory: the workflows and pitfalls the agent may be given, every version of each, how useful each was,
and the prompt block.

Entries are of two kinds, workflows (how to do something) and pitfalls (what went wrong before, how to avoid it).
Induction rounds of both kinds share one sequence of round numbers (`round` is the last, of any kind).

Merging: an induced item that nearly duplicates an entry of the same kind already in memory (`similarity()` at
least `merge_threshold`) updates that entry instead of adding one: same id, version + 1, sources merged, the older
version kept in `versions`. The new content is the newer item's, or what the `merger` (an LLM merge) makes of the
two. Ids are "wf-"/"pf-" and the name in lower case with dashes; a name whose id belongs to another entry, now or
in the past, gets -2, -3, ...; never a random suffix.

Usefulness: for each entry, the issues it was injected into and how many of them passed, failed, errored; with a
baseline run (the same instances with memory off), how many it helped (passed where the baseline did not) and hurt
(failed or errored where the baseline passed).

Capacity rule (each kind holds at most `max_workflows` active entries): when a round leaves more, entries are
evicted one at a time. Pinned entries are never evicted, and disabled ones neither (they are kept, never injected,
and count against no limit). Among the others, those injected into fewer than `grace` issues so far are protected
while any unprotected entry remains. The entry evicted first is the one with the lowest usefulness: the lower bound
of the 95% Wilson interval of its pass rate over the issues it was injected into (passed / (passed + failed +
errored); 0 when it has no evaluated issue yet); ties go to the entry from the oldest round, then to the one listed
first."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypedDict

from awm import atomic
from awm.errors import UserError
from awm.records import PITFALL, WORKFLOW, Status, Workflow

HEADER = """# Workflow memory
The workflows below were induced from issues in this repository that were solved earlier. Each one is a reusable
procedure; `{slots}` stand for values to fill in from the current issue. Follow a workflow when its "When to use"
matches the issue in front of you; ignore the ones that do not apply.
"""
PITFALLS_HEADER = """# Pitfalls
The pitfalls below were induced from earlier attempts in this repository that failed. When one applies to the issue
in front of you, do what its steps say to avoid it.
"""
KINDS = (WORKFLOW, PITFALL)
_PREFIX = {WORKFLOW: "wf-", PITFALL: "pf-"}
_COUNTS = ("injected", "passed", "failed", "errored", "helped", "hurt")
Merger = Callable[[Workflow, Mapping[str, Any]], dict]


def slug(name: str, kind: str = WORKFLOW) -> str:
    """The id a name gets (before any -2, -3 suffix): "wf-" or "pf-" and the name in lower case with dashes."""
    return _PREFIX[kind] + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "unnamed")


_SLOT = re.compile(r"\{[^{}\n]*\}")


def _words(text: str) -> list[str]:
    """Lower-case words; every `{slot}` is the same word, whatever its name."""
    return re.findall(r"[a-z0-9]+|\{\}", _SLOT.sub(" {} ", text.lower()))


def _ratio(a: list[str], b: list[str]) -> float:
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _fields(entry: Workflow | Mapping[str, Any]) -> tuple[str, str, list[str]]:
    if isinstance(entry, Workflow):
        return entry.name, entry.description, list(entry.steps)
    return str(entry.get("name", "")), str(entry.get("description", "")), [str(s) for s in entry.get("steps", [])]


def similarity(a: Workflow | Mapping[str, Any], b: Workflow | Mapping[str, Any]) -> float:
    """How alike two entries are, in [0, 1]: the larger of their steps' similarity and the mean of their names',
    descriptions' and steps' similarities. Each is difflib's ratio over the lower-case words, with every `{slot}`
    counted as the same word (so "{file}" and "{module-path}" match). The steps carry the procedure, so near-identical
    steps make a duplicate whatever the name; a shared name and description lift moderately similar steps."""
    (name_a, desc_a, steps_a), (name_b, desc_b, steps_b) = _fields(a), _fields(b)
    steps = _ratio(_words("\n".join(steps_a)), _words("\n".join(steps_b)))
    name = _ratio(_words(name_a), _words(name_b))
    desc = _ratio(_words(desc_a), _words(desc_b))
    return max(steps, (name + desc + steps) / 3)


def wilson_lower_bound(successes: int, trials: int, z: float = 1.96) -> float:
    """The lower bound of the Wilson score interval (95% by default) of a pass rate; 0 with no trials."""
    if trials <= 0:
        return 0.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / denominator)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")



def tally(outcomes: dict[str, dict[str, int]], ids: Iterable[str], status: str,
          baseline_status: str | None = None) -> None:
    """Count one finished issue in `outcomes` (entry id -> counts) for each entry injected into it: status PASS,
    FAIL, ERROR or SKIPPED; `baseline_status` is the same instance's status in the baseline run (None: no baseline,
    or not in it). helped: PASS where the baseline failed or errored; hurt: FAIL or ERROR where the baseline passed.
    The one rule for usefulness: the memory's capacity rule and the app's memory browser both count with it."""
    status = str(status)
    baseline = None if baseline_status is None else str(baseline_status)
    for workflow_id in dict.fromkeys(ids):
        counts = outcomes.setdefault(workflow_id, dict.fromkeys(_COUNTS, 0))
        counts["injected"] += 1
        if status == Status.PASS:
            counts["passed"] += 1
            counts["helped"] += baseline in (Status.FAIL, Status.ERROR)
        elif status in (Status.FAIL, Status.ERROR):
            counts["failed" if status == Status.FAIL else "errored"] += 1
            counts["hurt"] += baseline == Status.PASS


def rates(counts: dict[str, int]) -> dict[str, Any]:
    """An entry's counts (missing ones 0), its pass rate when injected (None before any evaluated issue) and
    `lcb`, the lower bound of that rate's 95% Wilson interval (what the capacity rule ranks by)."""
    out: dict[str, Any] = {name: int(counts.get(name, 0) or 0) for name in _COUNTS}
    evaluated = out["passed"] + out["failed"] + out["errored"]
    out["pass_rate"] = out["passed"] / evaluated if evaluated else None
    out["lcb"] = wilson_lower_bound(out["passed"], evaluated)
    return out


class WorkflowMemory:
    def __init__(self, max_workflows: int, path: Path | None = None, *, merge_threshold: float = 0.75,
                 grace: int = 3):
        self.max_workflows = max_workflows
        self.path = path
        self.merge_threshold = merge_threshold
        self.grace = grace
        self.workflows: list[Workflow] = []  # every entry in memory, both kinds, disabled ones included
        self.versions: dict[str, Workflow] = {}  # "<id>@<round>" -> that version, for every round ever
        self.rounds: list[dict] = []
        self.failed_rounds: list[dict] = []  # each failed induction attempt: round, kind, attempt, time, reason, ...
        self.outcomes: dict[str, dict[str, int]] = {}  # id -> injected, passed, failed, errored, helped, hurt
        self.seeded_from: str | None = None  # warm start: where round 0's entries came from

    # ---- rounds

    @property
    def round(self) -> int:
        return max((e["round"] for e in self.rounds), default=0)

    def rounds_done(self, kind: str = WORKFLOW) -> int:
        """How many induction rounds of this kind made it into memory."""
        return sum(1 for e in self.rounds if e.get("kind", WORKFLOW) == kind)

    def ids(self) -> list[str]:
        return [w.id for w in self.workflows]

    def active(self, kind: str | None = None) -> list[Workflow]:
        """The entries that may be injected (not disabled), of one kind or both, in memory order."""
        return [w for w in self.workflows if not w.disabled and (kind is None or w.kind == kind)]

    def get(self, workflow_id: str) -> Workflow | None:
        return next((w for w in self.workflows if w.id == workflow_id), None)

    def add_round(self, round_number: int, induced: list[dict], source_ids: list[str], usage: dict | None = None,
                  *, kind: str = WORKFLOW, merger: Merger | None = None) -> list[Workflow]:
        """Merge one induction round's items ({name, description, steps}) into memory (see the module docstring);
        returns the new or updated entries that remain after the capacity rule. An item that nearly duplicates one
        already taken in this same round is dropped."""
        if kind not in KINDS:
            raise ValueError(f"unknown memory entry kind {kind!r} (expected one of {', '.join(KINDS)})")
        touched: dict[str, Workflow] = {}
        merged: list[str] = []
        merge_errors: list[dict] = []
        for raw in induced:
            item: _Content = {"name": str(raw["name"]).strip(), "description": str(raw.get("description", "")).strip(),
                    "steps": [str(s) for s in raw.get("steps", [])]}
            target = self._most_similar(item, kind)
            if target is not None and target.id in touched:
                continue  # a duplicate within the round
            if target is None:
                entry = Workflow(id=self._new_id(item["name"], kind), name=item["name"],
                                 description=item["description"], steps=item["steps"],
                                 source_instances=list(dict.fromkeys(source_ids)), round=round_number, kind=kind,
                                 version=1, created_round=round_number)
                self.workflows.append(entry)
            else:
                content = item
                if merger is not None:
                    try:
                        content = _content(merger(target, item))
                    except Exception as exc:  # noqa: BLE001 - an unusable merge keeps the newer item as it is
                        merge_errors.append({"id": target.id, "error": f"{type(exc).__name__}: {exc}"[:300]})
                        content = item
                entry = dataclasses.replace(
                    target, name=content["name"], description=content["description"], steps=content["steps"],
                    source_instances=list(dict.fromkeys(target.source_instances + list(source_ids))),
                    round=round_number, version=target.version + 1)
                self.workflows[self.workflows.index(target)] = entry
                merged.append(entry.id)
            touched[entry.id] = entry
        evicted = self._evict(kind)
        kept = [w for w in touched.values() if w.id not in evicted]
        for wf in kept:
            self.versions[f"{wf.id}@{wf.round}"] = dataclasses.replace(wf)
        self.rounds.append({
            "round": round_number,
            "kind": kind,
            "time": _now(),
            "source_instances": list(source_ids),
            "induced": [w.id for w in kept],
            "merged": [i for i in merged if i not in evicted],
            "evicted": evicted,
            "active": [f"{w.id}@{w.round}" for w in self.workflows],
            **({"merge_errors": merge_errors} if merge_errors else {}),
            **(usage or {}),  # the round's cost, prompt_tokens, completion_tokens
        })
        self.save()
        return kept

    def _most_similar(self, item: Mapping[str, Any], kind: str) -> Workflow | None:
        """The entry of this kind most like `item`, if it reaches the merge threshold. Disabled entries count: a
        re-induced near-duplicate of a disabled workflow updates it and stays disabled, instead of coming back."""
        best, best_score = None, self.merge_threshold
        for entry in self.workflows:
            if entry.kind != kind:
                continue
            score = similarity(entry, item)
            if score >= best_score and (best is None or score > best_score):
                best, best_score = entry, score
        return best

    def _new_id(self, name: str, kind: str) -> str:
        taken = set(self.ids()) | {key.rsplit("@", 1)[0] for key in self.versions} | set(self.outcomes)
        base = slug(name, kind)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _evict(self, kind: str) -> list[str]:
        evicted: list[str] = []
        while len(self.active(kind)) > self.max_workflows:
            candidates = [w for w in self.active(kind) if not w.pinned]
            if not candidates:
                break
            seasoned = [w for w in candidates if self.count(w.id, "injected") >= self.grace]
            pool = seasoned or candidates
            order = {w.id: i for i, w in enumerate(self.workflows)}
            victim = min(pool, key=lambda w: (self.usefulness(w.id)["lcb"], w.round, order[w.id]))
            self.workflows.remove(victim)
            evicted.append(victim.id)
        return evicted

    def add_failure(self, round_number: int, reason: str, reply_path: str | None, usage: dict | None = None,
                    *, kind: str = WORKFLOW) -> dict:
        """Record a failed attempt at round `round_number` of this kind (no reply, or a reply with nothing usable in
        it); memory is unchanged. Returns the entry (its `attempt` counts this round's failures so far)."""
        entry = {
            "round": round_number,
            "kind": kind,
            "attempt": self.attempts(round_number, kind=kind) + 1,
            "time": _now(),
            "reason": reason,
            "reply_path": reply_path,
            **(usage or {}),  # what the failed call cost: counted in the run's totals
        }
        self.failed_rounds.append(entry)
        self.save()
        return entry

    def attempts(self, round_number: int, kind: str = WORKFLOW) -> int:
        """How many attempts at round `round_number` of this kind failed (over every session of the run)."""
        return sum(1 for e in self.failed_rounds if e["round"] == round_number and e.get("kind", WORKFLOW) == kind)

    def at_round(self, round_number: int) -> list[Workflow]:
        """The memory as it was after round `round_number` (0: empty, or what a warm start seeded)."""
        for entry in self.rounds:
            if entry["round"] == round_number:
                return [self.versions[key] for key in entry["active"] if key in self.versions]
        return []

    def version(self, workflow_id: str, round_number: int) -> Workflow | None:
        """An entry as it was made in a round (None if that round did not make or remake it)."""
        return self.versions.get(f"{workflow_id}@{round_number}")

    def history(self, workflow_id: str) -> list[Workflow]:
        """Every kept version of an entry, oldest first."""
        return sorted((w for key, w in self.versions.items() if key.rsplit("@", 1)[0] == workflow_id),
                      key=lambda w: w.round)

    def round_entries(self) -> list[dict]:
        """Each round: its number and kind, the entry ids active after it and those it induced."""
        return [{"round": e["round"], "kind": e.get("kind", WORKFLOW),
                 "active": [key.rsplit("@", 1)[0] for key in e["active"]],
                 "induced": list(e.get("induced", [])), "merged": list(e.get("merged", [])),
                 "evicted": list(e.get("evicted", [])), "source_instances": list(e.get("source_instances", []))}
                for e in self.rounds]

    def induction_usage(self) -> dict[str, float]:
        """What induction cost so far: cost, prompt_tokens, completion_tokens summed over the rounds and the failed
        attempts; and failures, how many attempts failed."""
        usage = {key: sum(e.get(key, 0) or 0 for e in self.rounds + self.failed_rounds)
                 for key in ("cost", "prompt_tokens", "completion_tokens")}
        usage["failures"] = len(self.failed_rounds)
        return usage

    # ---- usefulness

    def count(self, workflow_id: str, name: str) -> int:
        return self.outcomes.get(workflow_id, {}).get(name, 0)

    def record_outcome(self, ids: Iterable[str], status: str, baseline_status: str | None = None, *,
                       save: bool = True) -> None:
        """One issue finished with `status` with these entries injected (see `tally`)."""
        tally(self.outcomes, ids, status, baseline_status)
        if save:
            self.save()

    def usefulness(self, workflow_id: str) -> dict[str, Any]:
        """The entry's counts, its pass rate when injected and `lcb` (see `rates`)."""
        return rates(self.outcomes.get(workflow_id, {}))

    def recount(self, experiences: Iterable[Any], baseline: dict[str, str] | None = None) -> None:
        """Rebuild every entry's counts from the finished issues (Experience: instance_id, status, workflow_ids),
        with `baseline` the baseline run's status by instance id: what a resumed run does."""
        baseline = baseline or {}
        self.outcomes = {}
        for exp in experiences:
            self.record_outcome(exp.workflow_ids, exp.status, baseline.get(exp.instance_id), save=False)
        self.save()

    # ---- edits and warm start

    def apply_ops(self, ops: Iterable[dict]) -> int:
        """Set disabled/pinned from the memory operation log (awm.memory.ops), replayed in order; ops naming an id
        not in memory are ignored. Returns how many entries changed."""
        before = {w.id: (w.disabled, w.pinned) for w in self.workflows}
        for op in ops:
            entry = self.get(str(op.get("id", "")))
            if entry is None:
                continue
            action = op.get("action")
            if action in ("disable", "enable"):
                entry.disabled = action == "disable"
            elif action in ("pin", "unpin"):
                entry.pinned = action == "pin"
        changed = sum(1 for w in self.workflows if before[w.id] != (w.disabled, w.pinned))
        if changed:
            self.save()
        return changed

    def seed(self, other: dict, label: str) -> list[Workflow]:
        """Warm start: copy the active entries of another run's memory (a parsed memory.json) into this empty
        memory as round 0, ids, versions, sources and pins kept (usefulness is not carried: it is evidence about
        the other run's issues). `label` (the run or file it came from) is kept as `seeded_from`."""
        if self.workflows or self.rounds:
            raise ValueError("a warm start needs an empty memory; this one already has entries or rounds")
        seeded = []
        for data in other.get("workflows", []):
            entry = Workflow.from_dict(data)
            if entry.disabled or entry.kind not in KINDS:
                continue
            entry = dataclasses.replace(entry, round=0, created_round=0,
                                        source_instances=list(entry.source_instances))
            self.workflows.append(entry)
            self.versions[f"{entry.id}@0"] = dataclasses.replace(entry)
            seeded.append(entry)
        evicted = self._evict(WORKFLOW) + self._evict(PITFALL)  # another run's memory may hold more than ours
        seeded = [w for w in seeded if w.id not in evicted]
        self.seeded_from = label
        self.rounds.append({"round": 0, "kind": "seed", "time": _now(), "seeded_from": label, "source_instances": [],
                            "induced": [w.id for w in seeded], "merged": [], "evicted": evicted,
                            "active": [f"{w.id}@0" for w in self.workflows]})
        self.save()
        return seeded

    # ---- the prompt block and the file

    def render(self, workflows: list[Workflow] | None = None) -> str:
        """The memory block of the agent's system prompt: the workflows, then the pitfalls under their own header,
        each in the order given ("" when there is nothing). Default: every active entry."""
        entries = self.active() if workflows is None else workflows
        plain = [w for w in entries if w.kind != PITFALL]
        pitfalls = [w for w in entries if w.kind == PITFALL]
        parts = []
        if plain:
            parts.append(HEADER + "\n" + "\n\n".join(w.render() for w in plain) + "\n")
        if pitfalls:
            parts.append(PITFALLS_HEADER + "\n" + "\n\n".join(w.render() for w in pitfalls) + "\n")
        return "\n".join(parts)

    def to_dict(self) -> dict:
        return {
            "max_workflows": self.max_workflows,
            "merge_threshold": self.merge_threshold,
            "grace": self.grace,
            "round": self.round,
            "seeded_from": self.seeded_from,
            "workflows": [w.to_dict() for w in self.workflows],
            "rounds": self.rounds,
            "failed_rounds": self.failed_rounds,
            "versions": {k: w.to_dict() for k, w in self.versions.items()},
            "usefulness": {i: self.usefulness(i) for i in self.outcomes},
        }

    def save(self) -> None:
        if self.path is not None:
            atomic.write_json(self.path, self.to_dict())

    @classmethod
    def load(cls, max_workflows: int, path: Path, *, merge_threshold: float = 0.75, grace: int = 3) -> WorkflowMemory:
        """A memory.json as saved, also one from before kinds and versions (a round without a kind is a workflow
        round; an entry without a version is version 1, first made in the earliest round that kept it). No file is
        an empty memory (whether that may be is the run's to say: RunStore.verify); a damaged one (not JSON, or not
        the shape saved) is a UserError naming the file and the fix: it holds the induced workflows, which nothing
        else can rebuild, so it is never replaced by an empty memory."""
        memory = cls(max_workflows, path, merge_threshold=merge_threshold, grace=grace)
        try:
            data = read_memory(path)
        except atomic.Unreadable as exc:
            raise UserError(damaged_message(path, str(exc))) from None
        if data:
            try:
                memory.versions = {k: Workflow.from_dict(v) for k, v in (data.get("versions") or {}).items()}
                memory.rounds = [{**e, "kind": e.get("kind", WORKFLOW)} for e in data.get("rounds") or []]
                memory.failed_rounds = [{**e, "kind": e.get("kind", WORKFLOW)} for e in data.get("failed_rounds") or []]
                memory.workflows = [memory._upgraded(w) for w in data.get("workflows") or []]
                memory.outcomes = {i: {name: int(counts.get(name, 0) or 0) for name in _COUNTS}
                                   for i, counts in (data.get("usefulness") or {}).items()}
                memory.seeded_from = data.get("seeded_from")
            except (TypeError, ValueError, KeyError, AttributeError) as exc:  # what shape_problem did not foresee
                raise UserError(damaged_message(path, f"not the memory awm-tui writes: {exc}")) from None
        return memory

    def _upgraded(self, data: dict) -> Workflow:
        entry = Workflow.from_dict(data)
        if "created_round" not in data:
            rounds = [w.round for key, w in self.versions.items() if key.rsplit("@", 1)[0] == entry.id]
            entry.created_round = min(rounds, default=entry.round)
        return entry


def read_memory(path: Path) -> dict | None:
    """A memory.json (this run's, or another's for a warm start) parsed and checked: None when there is none;
    atomic.Unreadable saying what is wrong when it is not JSON or not the shape WorkflowMemory saves."""
    try:
        data = atomic.load_json(path)
    except FileNotFoundError:
        return None
    problem = shape_problem(data)
    if problem:
        raise atomic.Unreadable(f"not the memory awm-tui writes: {problem}")
    return data


def damaged_message(path: Path, problem: str) -> str:
    """The one paragraph for a run's damaged memory.json: what is wrong, why it is not replaced, and the fix."""
    return (f"the run's memory {path} is damaged ({problem}). It holds the workflows the run induced, which its "
            "journal cannot rebuild, so it is not replaced by an empty memory; nothing was changed. Restore "
            "memory.json from a backup; or, to start the memory over (a resumed run induces its rounds again from "
            f"the journal's successes), replace it with an empty memory: `echo '{{}}' > {path}`.")


_ENTRY_TYPES = {"id": str, "name": str, "description": str, "steps": list, "source_instances": list, "round": int,
                "kind": str, "version": int, "created_round": int, "disabled": bool, "pinned": bool}


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"is {type(entry).__name__}, not an entry"
    for key in ("id", "name", "steps"):
        if key not in entry:
            return f"has no `{key}`"
    for key, kind in _ENTRY_TYPES.items():
        value = entry.get(key)
        if key in entry and not (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
            return f"has a `{key}` that is {type(value).__name__}, not {kind.__name__}"
    return None


def shape_problem(data: Any) -> str | None:
    """What makes parsed JSON not a memory.json WorkflowMemory can load (None: it can). `{}` is an empty memory."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    containers = {"workflows": list, "rounds": list, "failed_rounds": list, "versions": dict, "usefulness": dict}
    for key, kind in containers.items():
        if data.get(key) is not None and not isinstance(data[key], kind):
            return f"`{key}` is {type(data[key]).__name__}, not {'a list' if kind is list else 'an object'}"
    for i, entry in enumerate(data.get("workflows") or []):
        problem = _entry_problem(entry)
        if problem:
            return f"`workflows[{i}]` {problem}"
    for key, entry in (data.get("versions") or {}).items():
        problem = _entry_problem(entry)
        if problem:
            return f"`versions.{key}` {problem}"
    for key in ("rounds", "failed_rounds"):
        for i, entry in enumerate(data.get(key) or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("round"), int):
                return f"`{key}[{i}]` is not a round (no whole-number `round`)"
            if key == "rounds" and not isinstance(entry.get("active", []), list):
                return f"`rounds[{i}].active` is not a list"
    for key, counts in (data.get("usefulness") or {}).items():
        if not isinstance(counts, dict) or not all(isinstance(counts.get(n, 0) or 0, (int, float)) for n in _COUNTS):
            return f"`usefulness.{key}` is not a set of counts"
    if data.get("seeded_from") is not None and not isinstance(data["seeded_from"], str):
        return "`seeded_from` is not text"
    return None


class _Content(TypedDict):
    """An entry's content as induction or a merge gives it."""
    name: str
    description: str
    steps: list[str]


def _content(data: Any) -> _Content:
    """A merger's answer as {name, description, steps}; ValueError if it is not usable."""
    if not isinstance(data, dict):
        raise ValueError(f"the merge gave {type(data).__name__}, not an entry")
    name = str(data.get("name", "")).strip()
    steps = [str(s) for s in data.get("steps", []) if str(s).strip()]
    if not name or not steps:
        raise ValueError("the merge gave an entry without a name or steps")
    return {"name": name, "description": str(data.get("description", "")).strip(), "steps": steps}
