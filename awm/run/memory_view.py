"""A run's workflow memory read for display: every version of every entry, what each induction round added,
replaced and evicted, the entries' disabled/pinned flags, and how each entry fared in the issues it was given. The
app's memory browser and `awm-tui memory` read it through here; how it is shown is theirs.

The run folder's memory.json is the source when there is one (the engine writes it before it reports a round, and
keeps every version under `versions`): a pick of "after round r" must show each entry as round r left it, and a
follower of the engine's events (the app's RunModel.workflows) keeps only the latest version. It is read again only
when it changes on disk. Without a run folder (a run whose folder is not known, the tests' fake engine) the versions
are gathered from the follower as its events come: each version is kept the first time it is seen.

Usefulness is counted from the follower's finished issues (their test verdicts), so that it follows the run live;
with a baseline run linked (`memory.baseline_run` in the run's config.json), an entry helped an issue that passed
where the baseline did not (FAIL or ERROR there), and hurt one that failed or errored where the baseline passed: the
engine's own rule (WorkflowMemory.record_outcome)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from awm.errors import UserError
from awm.memory import ops
from awm.memory.store import WorkflowMemory, rates, tally
from awm.records import Experience, Workflow
from awm.run.store import RunStore, find_run


def read_memory(run_dir: Path) -> WorkflowMemory:
    """memory.json with the run's operation log (memory_ops.jsonl) applied over it: what the run's next issue sees.
    Read only: memory.json is written by the run's engine alone. A damaged file or log is a UserError."""
    memory = WorkflowMemory.load(10**9, RunStore(run_dir).memory_path)
    memory.path = None
    memory.apply_ops(ops.read(run_dir))
    return memory


class Finished(Protocol):
    """A finished issue as a follower of the engine's events keeps it (the app's IssueRow)."""

    @property
    def experience(self) -> Experience | None: ...


class Followed(Protocol):
    """A run followed through the engine's events (the app's RunModel): what the view gathers from it."""

    @property
    def workflows(self) -> Mapping[str, Workflow]: ...  # the latest version of every entry seen

    @property
    def rounds(self) -> Mapping[int, tuple[str, ...]]: ...  # the entries in memory after each round

    @property
    def history(self) -> Sequence[Finished]: ...  # the finished issues, in order


@dataclass
class EntryUsage:
    """How one entry fared in the issues it was given (injected into): the engine's counts (awm.memory.store.tally)
    for display."""

    uses: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    helped: int = 0
    hurt: int = 0

    @classmethod
    def of(cls, counts: dict[str, int]) -> EntryUsage:
        return cls(counts.get("injected", 0), counts.get("passed", 0), counts.get("failed", 0),
                   counts.get("errored", 0), counts.get("helped", 0), counts.get("hurt", 0))

    @property
    def pass_rate(self) -> float | None:
        return rates({"passed": self.passed, "failed": self.failed, "errored": self.errored})["pass_rate"]


class UsageCounter:
    """Each entry's usage over a run's finished issues, counted with the engine's rule (tally) and kept by the
    memory round each issue was given (its `memory_round`), so that the browser can show an entry's usage up to a
    picked round. Counted incrementally: the browser is refreshed on every engine event, and recounting thousands
    of issues each time would cost the UI its responsiveness."""

    def __init__(self) -> None:
        self.by_round: dict[int, dict[str, dict[str, int]]] = {}  # memory round -> entry id -> counts
        self.counted = 0  # how many of the history's issues are counted
        self.baseline: dict[str, str] | None = None
        self._sums: dict[int | None, dict[str, EntryUsage]] = {}

    def reset(self, baseline: dict[str, str] | None) -> None:
        self.by_round, self.counted, self.baseline, self._sums = {}, 0, baseline, {}

    def update(self, history: Sequence[Finished]) -> bool:
        """Count the finished issues (the follower's history) not counted yet; whether anything changed."""
        if len(history) < self.counted:  # another history: start over
            self.reset(self.baseline)
        new = history[self.counted:]
        for row in new:
            if row.experience is not None:
                self.add(row.experience)
        self.counted = len(history)
        return bool(new)

    def add(self, exp: Experience) -> None:
        outcomes = self.by_round.setdefault(exp.memory_round, {})
        tally(outcomes, exp.workflow_ids, exp.status, (self.baseline or {}).get(exp.instance_id))
        self._sums = {}

    def get(self, entry_id: str, up_to_round: int | None = None) -> EntryUsage:
        """The entry's usage in the issues given memory as of `up_to_round` or an earlier round (None: all)."""
        if up_to_round not in self._sums:
            totals: dict[str, dict[str, int]] = {}
            for round_number, outcomes in self.by_round.items():
                if up_to_round is None or round_number <= up_to_round:
                    for iid, counts in outcomes.items():
                        into = totals.setdefault(iid, {})
                        for name, value in counts.items():
                            into[name] = into.get(name, 0) + value
            self._sums[up_to_round] = {iid: EntryUsage.of(counts) for iid, counts in totals.items()}
        return self._sums[up_to_round].get(entry_id) or EntryUsage()


@dataclass
class RoundChanges:
    """What one induction round did to memory."""

    round: int
    kind: str = "workflow"  # workflow | pitfall | seed
    added: list[Workflow] = field(default_factory=list)
    merged: list[Workflow] = field(default_factory=list)  # the new version of an entry the round re-learned
    evicted: list[Workflow] = field(default_factory=list)  # the last version of each entry it evicted
    sources: list[str] = field(default_factory=list)


@dataclass
class Baseline:
    """The run's `memory.baseline_run`, as read (once, off the UI thread)."""

    name: str = ""  # as the spec gives it; "" when the run names none
    path: str = ""
    statuses: dict[str, str] | None = None  # instance id -> status; None until read (or when unreadable)
    problem: str = ""  # why it could not be read


def read_baseline(run_dir: str) -> Baseline:
    """The run's `memory.baseline_run` (config.json's spec) and that run's verdicts. Runs in a thread: a journal of
    thousands of issues takes a while to parse."""
    name = ((RunStore(Path(run_dir)).recorded_spec().get("memory") or {}).get("baseline_run") or "")
    if not name:
        return Baseline()
    path = find_run(str(name))
    if path is None:
        return Baseline(str(name), problem="no such run (no folder with a config.json, nor a run of that name)")
    try:
        statuses = {e.instance_id: str(e.status) for e in RunStore(path).finished(repair=False)}
    except UserError as exc:
        return Baseline(str(name), str(path), problem=exc.message)
    return Baseline(str(name), str(path), statuses)


_BASELINES: dict[Path, tuple[tuple[int, int] | None, dict[str, str]]] = {}  # folder -> (journal's stamp, statuses)


def baseline_statuses(run_dir: Path) -> tuple[dict[str, str] | None, str]:
    """read_baseline's statuses and folder, or (None, "") when there is none or it cannot be read (helped/hurt are
    then unknown). A baseline's journal can be large (thousands of issues, each with its steps): it is read once per
    process while it does not change, not each time a browser or a detail opens."""
    try:
        name = ((RunStore(run_dir).recorded_spec().get("memory") or {}).get("baseline_run") or "").strip()
        found = find_run(name) if name else None
        if found is None:
            return None, ""
        stamp = _stamp(RunStore(found.resolve()).journal)
        cached = _BASELINES.get(found.resolve())
        if cached is None or cached[0] != stamp:
            baseline = read_baseline(str(run_dir))
            if baseline.statuses is None:
                return None, ""
            cached = (stamp, baseline.statuses)
            _BASELINES[found.resolve()] = cached
        return cached[1], str(found.resolve())
    except Exception:  # noqa: BLE001 - see the docstring
        return None, ""


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class MemoryView:
    """A run's memory for display (see the module docstring). `sync(run_dir, followed)` brings it up to date and
    says whether anything changed; `version` counts the changes, for callers that redraw only when it moves."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self.memory: WorkflowMemory | None = None  # memory.json, when the run folder has one
        self.flags: dict[str, tuple[bool, bool]] = {}  # id -> (disabled, pinned), the ops log replayed
        self.operations: list[dict] = []  # the ops log as read (for the flags as they stood after a past round)
        self.usage = UsageCounter()
        self.baseline_label = ""
        self.version = 0
        self.problem = ""  # why memory.json or the ops log was not read (damaged: UserError's paragraph), or ""
        self._stamps: tuple = ()
        self._seen: dict[str, Workflow] = {}  # "<id>@<round>" -> that version, gathered from the follower
        self._model_rounds: dict[int, tuple[str, ...]] = {0: ()}
        self._current: dict[str, Workflow] = {}  # the follower's latest version of each entry
        self._at: dict[int, list[Workflow]] = {}  # round -> memory after it (versions as of that round)

    # ---- keeping up

    @property
    def known_folder(self) -> bool:
        """Whether the run folder exists: the memory operations are logged there, so without it none can be made."""
        return self.run_dir is not None and RunStore(self.run_dir).config_path.is_file()

    def sync(self, run_dir: str | Path | None, model: Followed | None = None) -> bool:
        changed = False
        folder = Path(run_dir) if run_dir else None
        if folder != self.run_dir:
            self.run_dir, self.memory, self._stamps, self._at = folder, None, (), {}
            baseline, self.baseline_label = baseline_statuses(folder) if folder else (None, "")
            self.usage.reset(baseline)
            changed = True
        if self.run_dir is not None:
            changed |= self._read_folder()
        if model is not None:
            changed |= self._gather(model)
            changed |= self.usage.update(model.history)
        if changed:
            self.version += 1
        return changed

    def _read_folder(self) -> bool:
        """memory.json and the ops log, read again only when either changed on disk."""
        assert self.run_dir is not None
        memory_path, ops_path = RunStore(self.run_dir).memory_path, ops.path(self.run_dir)
        stamps = (_stamp(memory_path), _stamp(ops_path))
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        if stamps[0] is None:
            self.memory = None
        else:
            try:
                memory = WorkflowMemory.load(10**9, memory_path)
                memory.path = None  # read only: memory.json is the engine's alone
                self.memory = memory
                self.problem = ""
            except UserError as exc:  # a damaged file: keep what was read before, and say why it is not new
                self.problem = exc.message
            except OSError as exc:  # removed or unreadable meanwhile
                self.problem = f"{memory_path} cannot be read ({exc.strerror})"
        self._at = {}
        self.flags = {}
        self.operations = []
        if self.memory is not None:
            try:
                operations = ops.read(self.run_dir)
            except UserError as exc:  # a damaged ops log: the flags memory.json has
                operations = []
                self.problem = exc.message
            self.memory.apply_ops(operations)  # what `awm-tui memory RUN ...` shows: the log over memory.json
            self.operations = operations
            self.flags = {entry.id: (entry.disabled, entry.pinned) for entry in self.memory.workflows}
        return True

    def _gather(self, model: Followed) -> bool:
        """Keep each version the follower shows the first time it is seen, and its rounds."""
        changed = False
        for entry in model.workflows.values():
            key = f"{entry.id}@{entry.round}"
            if key not in self._seen:
                self._seen[key] = entry
                changed = True
            self._current[entry.id] = entry
        if model.rounds != self._model_rounds:
            self._model_rounds = dict(model.rounds)
            changed = True
        if changed and self.memory is None:
            self._at = {}
        return changed

    # ---- reading

    def rounds(self) -> list[int]:
        """The rounds that made memory what it is, oldest first (0: a warm start's seed)."""
        if self.memory is not None:
            return sorted({e["round"] for e in self.memory.rounds})
        return sorted(r for r, ids in self._model_rounds.items() if r > 0 or ids)

    @property
    def latest(self) -> int:
        return max(self.rounds(), default=0)

    def at(self, round_number: int | None = None) -> list[Workflow]:
        """The memory after a round (None: the latest), each entry as that round left it."""
        r = self.latest if round_number is None else round_number
        if r not in self._at:
            if self.memory is not None:
                self._at[r] = self.memory.at_round(r)
            else:
                self._at[r] = [v for v in (self._gathered(i, r) for i in self._model_rounds.get(r, ()))
                               if v is not None]
        return self._at[r]

    def _gathered(self, entry_id: str, round_number: int) -> Workflow | None:
        versions = [w for w in self._seen.values() if w.id == entry_id and w.round <= round_number]
        return max(versions, key=lambda w: w.round) if versions else self._current.get(entry_id)

    def history(self, entry_id: str) -> list[Workflow]:
        """Every version of an entry, oldest first."""
        if self.memory is not None:
            found = self.memory.history(entry_id)
            if found:
                return found
        return sorted((w for w in self._seen.values() if w.id == entry_id), key=lambda w: w.round)

    def entry(self, entry_id: str, round_number: int | None = None) -> Workflow | None:
        """An entry as it was after a round (None: its latest version)."""
        versions = self.history(entry_id)
        if round_number is not None:
            versions = [w for w in versions if w.round <= round_number] or versions
        return versions[-1] if versions else self._current.get(entry_id)

    def name(self, entry_id: str, round_number: int | None = None) -> str:
        entry = self.entry(entry_id, round_number)
        return entry.name if entry is not None else entry_id

    def in_memory(self, entry_id: str) -> bool:
        """Whether the entry is in memory now (not evicted)."""
        if self.memory is not None:
            return entry_id in self.flags
        return entry_id in self._model_rounds.get(max(self._model_rounds), ())

    def state(self, entry_id: str, round_number: int | None = None) -> str:
        """on | pinned | off (disabled) | off, pinned | evicted (not in memory any more). With a past round: as the
        entry stood while that round's memory was in use (see `flags_at`), never today's flags."""
        if round_number is None or round_number >= self.latest:
            if not self.in_memory(entry_id):
                return "evicted"
            disabled, pinned = self.flags.get(entry_id, (False, False))
        else:
            disabled, pinned = self.flags_at(entry_id, round_number)
        return ("off, pinned" if pinned else "off") if disabled else "pinned" if pinned else "on"

    def flags_at(self, entry_id: str, round_number: int) -> tuple[bool, bool]:
        """(disabled, pinned) of an entry as they stood when the memory after `round_number` gave way to the next
        round's: its first version's flags (a seed keeps its pins), then the ops log replayed up to the next
        round's time (a past round's entry was in memory then, whatever became of it since)."""
        versions = self.history(entry_id)
        first = versions[0] if versions else None
        disabled, pinned = (first.disabled, first.pinned) if first is not None else (False, False)
        rounds = self.memory.rounds if self.memory is not None else []
        cutoff = min((str(e["time"]) for e in rounds if int(e.get("round", 0)) > round_number and e.get("time")),
                     default=None)
        for op in self.operations:
            if op.get("id") != entry_id or (cutoff is not None and str(op.get("time", "")) > cutoff):
                continue
            action = op.get("action")
            if action in ("disable", "enable"):
                disabled = action == "disable"
            elif action in ("pin", "unpin"):
                pinned = action == "pin"
        return disabled, pinned

    def changes(self, round_number: int) -> RoundChanges:
        """What a round added, replaced (a new version of an entry already in memory) and evicted."""
        if self.memory is not None:
            entry = next((e for e in self.memory.round_entries() if e["round"] == round_number), None)
            if entry is None:
                return RoundChanges(round_number)
            versions = (self.memory.version(i, round_number) for i in entry["induced"])
            made = [w for w in versions if w is not None]
            merged = set(entry["merged"])
            evicted = [w for w in (self.entry(i, round_number - 1) for i in entry["evicted"]) if w is not None]
            return RoundChanges(round_number, entry["kind"], [w for w in made if w.id not in merged],
                                [w for w in made if w.id in merged], evicted, entry["source_instances"])
        before = max((r for r in self._model_rounds if r < round_number), default=None)
        previous = set(self._model_rounds.get(before, ())) if before is not None else set()
        now = self._model_rounds.get(round_number, ())
        made = [w for w in self._seen.values() if w.round == round_number]
        kind = made[0].kind if made else "workflow"
        gone = [w for w in (self._gathered(i, round_number - 1) for i in sorted(previous - set(now)))
                if w is not None]
        return RoundChanges(round_number, kind, [w for w in made if w.version <= 1],
                            [w for w in made if w.version > 1], gone)

    def induction_files(self, round_number: int) -> list[Path]:
        """The prompt and reply files of a round under induction/ (workflows: round_NNN.*, pitfalls:
        pitfalls_NNN.*; a retried round's later replies: *.attemptK.reply.txt): prompts first."""
        if self.run_dir is None:
            return []
        folder = RunStore(self.run_dir).induction
        files = [p for p in folder.glob(f"*_{round_number:03d}.*txt") if p.is_file()]
        return sorted(files, key=lambda p: (p.name.split("_")[0] != "round", not p.name.endswith(".prompt.txt"),
                                            p.name))

    # ---- the memory operations

    def toggle(self, entry_id: str, flag: str) -> str:
        """The operation that flips `flag` ("disabled" or "pinned") of the entry: disable/enable, pin/unpin."""
        disabled, pinned = self.flags.get(entry_id, (False, False))
        if flag == "disabled":
            return "enable" if disabled else "disable"
        return "unpin" if pinned else "pin"

    def log(self, entry_id: str, action: str, note: str) -> None:
        """`awm-tui memory RUN disable|enable|pin|unpin ID`: the operation logged in the run folder
        (memory_ops.jsonl; the engine applies it before the run's next issue), and the flags read again as the log
        now has them. An OSError when the log cannot be written; a UserError when memory takes no edits (a frozen
        memory: a replay)."""
        assert self.run_dir is not None
        ops.append(self.run_dir, action, entry_id, note=note)
        self._read_folder()
        self.version += 1
