"""Memory as a part of a run: what it gives an issue, what it records of the outcome, when it induces, what it
restores on resume. The loop asks it through `Memory` and never reads its files; `RunMemory` is memory on (and
frozen, a replay's: given as seeded, never written), `NoMemory` is `memory: off` (as grading has NoEvaluator).

Both keep the files every run has, memory or not (their Ledger): memory.json (written from the start: empty, or
as seeded), the buffers of successes and failures (what induction would learn from; the statistics count them) and
the failures of memory's own model calls (memory_faults.jsonl)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from awm import atomic, runfiles
from awm.errors import UserError
from awm.memory import ops
from awm.memory.buffer import ExperienceBuffer
from awm.memory.induction import Inducer
from awm.memory.induction import failure as induction_failure
from awm.memory.retrieval import EmbeddingFault, Retriever, Selection, make_retriever, retrieve
from awm.memory.store import WorkflowMemory
from awm.model.client import describe_fault
from awm.records import PITFALL, WORKFLOW, Experience, Issue, Status, Workflow
from awm.run import events as ev
from awm.run.diagnoses import Diagnoses, judge_fault, kept, relative
from awm.run.store import RunStore

if TYPE_CHECKING:
    from awm.spec import RunSpec

INDUCTION_ATTEMPTS = 3  # failed attempts in a row at one induction round (in one session) that stop the run
# Memory's other model calls get the same treatment (transient HTTP faults are first retried by the model client,
# llm.num_retries): each failure is recorded (memory_faults.jsonl, the reply kept) and counted in the statistics, and
# this many in a row (in one session) stop the run, resumably, naming the model and the field.
MERGE_ATTEMPTS = 3  # LLM merges in a row that failed (memory.merge: llm)
EMBEDDING_ATTEMPTS = 3  # embedding calls in a row that failed (memory.retrieval: embedding)
EMBEDDING_RETRY_WAIT_S = 2.0  # between two attempts at one issue's retrieval
FAULTS_FILE = runfiles.MEMORY_FAULTS

Emit = Callable[[ev.Event], None]


class MemoryParts(Protocol):
    """What the memory part takes from the assembled parts (awm.run.parts.Parts): named here, not imported, so the
    parts can name the memory part's factory without a cycle."""

    sources: MemorySources | None
    inducer: Inducer
    retriever: Retriever | None
    count: Callable[[str], int] | None


# what makes the memory part: (spec, store, parts, emit, the run's stop flag) -> Memory
MemoryFactory = Callable[["RunSpec", RunStore, MemoryParts, Emit, threading.Event], "Memory"]


@dataclass
class MemorySources:
    """What a run's memory starts from and is measured against, read once at the start."""

    seed: dict | None = None  # memory.from: another run's memory.json, parsed
    seed_label: str = ""  # where it came from (recorded in config.json and memory.json)
    baseline: dict[str, str] = field(default_factory=dict)  # memory.baseline_run: instance id -> its status there
    baseline_label: str = ""


class Memory(Protocol):
    """What the loop asks of memory. `memory` is memory.json as it stands, `buffer` buffer.json (the views and the
    Python API read them)."""

    memory: WorkflowMemory
    buffer: ExperienceBuffer  # the successes induction learns from

    def restore(self, experiences: list[Experience]) -> None:
        """Rebuild what memory keeps from a resumed run's finished issues, and write it (memory.json always).

        Args:
            experiences: the run's finished issues, in the journal's order.
        """

    def select(self, issue: Issue) -> Selection | str:
        """What memory gives this issue, in the main thread before it starts.

        Args:
            issue: the issue about to start.

        Returns:
            The Selection (an empty one when nothing is given), or the message to stop the run with when memory
            could not be retrieved ("" when a stop was asked for meanwhile): the issue is then not started.

        Raises:
            UserError: the run's memory operation log is damaged.
        """

    def record(self, experience: Experience) -> None:
        """A finished issue committed to the run: its faults, the buffers, its entries' usefulness.

        Args:
            experience: the issue's experience as journaled.
        """

    def induce_due(self) -> str:
        """Run every induction round the buffers call for that memory does not have yet.

        Returns:
            "" to go on (a failed attempt is retried after the next issue), or the message to stop the run with.
        """

    def forget(self, drop: set[str], experiences: list[Experience]) -> None:
        """Forget finished attempts (they are redone on resume).

        Args:
            drop: their instance ids.
            experiences: the run's finished issues that remain.
        """

    def usage(self) -> dict:
        """What memory's own model calls spent and how many failed (the run's statistics' share)."""

    def failed_round(self) -> str:
        """An induction round that failed last and is not in memory, said for the run's end line, or ""."""


def outcome(experience: Experience, rule: str) -> Status:
    """The attempt's verdict as memory's usefulness counts it: solved by induction.success's `rule`, an error, a
    failure, or SKIPPED (no verdict) when the judge the rule needs failed (awm.memory.judge)."""
    if experience.learned:
        return Status.PASS
    if experience.status == Status.ERROR:
        return Status.ERROR
    if judge_fault(experience) and not (rule == "tests+judge" and experience.status == Status.FAIL):
        return Status.SKIPPED  # the judge failed: no verdict, so neither a success nor a failure of the entries
    return Status.FAIL


class Ledger:
    """What every run keeps, memory or not: memory.json (empty with `memory: off`, or as seeded by `memory.from`),
    the buffers (counted in the statistics), the usefulness counts (memory on) and the faults of the judges (which
    `induction.success` may ask with memory off too). Its subclasses say what memory gives and learns."""

    def __init__(self, spec: RunSpec, store: RunStore, sources: MemorySources | None) -> None:
        self.spec, self.store = spec, store
        self.sources = sources or MemorySources()
        self.memory = WorkflowMemory.load(spec.induction.max_workflows, store.memory_path,
                                          merge_threshold=spec.memory.merge_threshold, grace=spec.memory.grace)
        self.buffer = ExperienceBuffer(spec.induction.trigger, store.buffer_path)  # what workflows come from
        self.failures = ExperienceBuffer(spec.induction.trigger, store.failures_path)  # pitfalls'
        self.faults = {"judge": 0, "embedding": 0}  # failed calls over the whole run (memory_faults.jsonl)
        self.diagnoses = Diagnoses(spec, store)

    def restore(self, experiences: list[Experience]) -> None:
        self.buffer.experiences = [e for e in experiences if e.learned]
        self.buffer.save()
        self.failures.experiences = [e for e in experiences if self.teaches_pitfall(e)]
        self.failures.save()
        if self.sources.seed is not None and not self.memory.rounds and not self.memory.workflows:
            self.memory.seed(self.sources.seed, self.sources.seed_label)  # memory.from: a warm start
        if self.spec.memory.on:  # frozen memory keeps no usefulness counts: it stays as seeded
            self.memory.recount(experiences, self.sources.baseline)
        self.memory.save()  # written from the start (memory off: empty; frozen: as seeded)
        self.faults = {"judge": 0, "embedding": 0}
        for record in _read_faults(self.store.dir / FAULTS_FILE):
            if record.get("kind") in self.faults:
                self.faults[record["kind"]] += 1

    def record(self, experience: Experience) -> None:
        if judge_fault(experience):
            judge = experience.judge or {}
            self.record_fault("judge", experience.instance_id, str(judge.get("reasoning", "")),
                              judge.get("reply_path") or None)
        adherence = experience.adherence_judge or {}
        if adherence.get("error"):  # no score: said, never the issue's failure
            self.record_fault("adherence", experience.instance_id, adherence["error"],
                              adherence.get("reply_path") or None)
        self.buffer.add(experience, keep=experience.learned)
        self.failures.add(experience, keep=self.teaches_pitfall(experience))
        if self.spec.memory.on:  # frozen memory is not written during the run (no usefulness counts)
            self.memory.record_outcome(experience.workflow_ids, outcome(experience, self.spec.induction.success),
                                       self.sources.baseline.get(experience.instance_id))
            self.memory.save()

    def forget(self, drop: set[str], experiences: list[Experience]) -> None:
        self.buffer.experiences = [e for e in self.buffer.experiences if e.instance_id not in drop]
        self.buffer.save()
        self.failures.experiences = [e for e in self.failures.experiences if e.instance_id not in drop]
        self.failures.save()
        if self.spec.memory.on:
            self.memory.recount(experiences, self.sources.baseline)
            self.memory.save()

    def usage(self) -> dict:
        usage = self.memory.induction_usage()  # with the failures of memory's other model calls
        usage["merge_failures"] = sum(len(r.get("merge_errors", ())) for r in self.memory.rounds)
        usage["judge_failures"], usage["embedding_failures"] = self.faults["judge"], self.faults["embedding"]
        return usage

    def failed_round(self) -> str:
        failed = [e for e in self.memory.failed_rounds if e["round"] > self.memory.round]
        if not failed:
            return ""
        last = failed[-1]
        return f"induction round {last['round']} failed ({last['reason']}{kept(self.store, last.get('reply_path'))})"

    def teaches_pitfall(self, experience: Experience) -> bool:
        """A failed attempt that pitfalls are induced from (induction.from_failures): graded or judged a failure;
        an error (the attempt broke) teaches nothing about the task."""
        return (self.spec.induction.from_failures and not experience.learned
                and experience.status != Status.ERROR and not (experience.judge or {}).get("verdict") == "ERROR")

    def record_fault(self, kind: str, instance_id: str, reason: str, reply_path: str | None) -> None:
        """A failed call of memory's own models (the judge, the embedding model): a line in memory_faults.jsonl,
        counted in the statistics (judge_failures, embedding_failures)."""
        atomic.append_line(self.store.dir / FAULTS_FILE, {
            "kind": kind, "instance_id": instance_id, "reason": self.store.scrub(reason)[:500],
            "reply_path": reply_path, "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.faults[kind] = self.faults.get(kind, 0) + 1


class NoMemory(Ledger):
    """`memory: off` (as grading has NoEvaluator): nothing given, nothing learned; the ledger kept as every run's."""

    def select(self, issue: Issue) -> Selection | str:
        return Selection([], {}, 0, "", reason="memory is off for this run (memory.enabled: off)")

    def induce_due(self) -> str:
        return ""


class RunMemory(Ledger):
    """Memory on: entries retrieved for each issue (the operation log applied first), usefulness counted, rounds
    induced from the buffers when due, merged (memory.merge); frozen: retrieved only, as seeded. Failures of
    memory's model calls are counted in a row, per session, and a few stop the run (induction, merges,
    embeddings; the judge's streak is the loop's, in commit order)."""

    def __init__(self, spec: RunSpec, store: RunStore, sources: MemorySources | None, emit: Emit, *,
                 inducer: Inducer, retriever: Retriever | None, count: Callable[[str], int] | None,
                 stop: threading.Event) -> None:
        super().__init__(spec, store, sources)
        self.emit, self.inducer, self.stop = emit, inducer, stop
        inducer.scrub = store.scrub
        # parts made by hand (the tests') may give none: the one memory.retrieval names
        self.retriever = retriever or make_retriever(spec.memory.retrieval, spec.memory.embedding_model)
        self.count = count or (lambda text: len(text) // 4 + 1)
        self.induction_failed: dict[tuple[str, int], int] = {}  # (kind, round) -> failed attempts in this session
        self.merge_failed = 0  # LLM merges that failed in a row (this session)
        self.embedding_failed = 0  # embedding calls that failed in a row (this session)
        self._versions: dict[str, list[Workflow]] | None = None  # frozen memory: the source's versions by entry id

    def select(self, issue: Issue) -> Selection | str:
        """The memory entries for this issue: ranked against it, under the token budget (memory.retrieval), the
        operation log (`awm-tui memory RUN disable|pin ...`) applied first. An embedding fault (memory.retrieval:
        embedding) is recorded and the retrieval asked again; after EMBEDDING_ATTEMPTS in a row, the message to
        stop the run with (the issue is not started: it never runs without its memory)."""
        try:
            if self.spec.memory.on:  # frozen memory takes no edits: it is given as it was seeded
                self.memory.apply_ops(ops.read(self.store.dir))
        except atomic.DamagedLine as bad:
            raise UserError(f"the run's memory operation log {bad.path} is damaged at line {bad.line}: {bad.problem}. "
                            "Remove or fix that line (each line is one `awm-tui memory` edit), then resume.") from None
        m = self.spec.memory
        query = f"{issue.repo}\n{issue.problem_statement}"
        spent = dict(getattr(self.retriever, "usage", None) or {})  # embedding calls so far (memory.retrieval)
        while True:
            try:
                selection = retrieve(self.memory, query, issue.instance_id, self.retriever,
                                     budget_tokens=m.budget_tokens, min_score=m.threshold, top_k=m.top_k,
                                     count=self.count, budget=m.retrieval != "all", withheld=m.withhold,
                                     replace=self.before_learning(issue.instance_id) if m.frozen else None)
            except EmbeddingFault as fault:
                reason = self.store.scrub(str(fault))[:500]
                self.record_fault("embedding", issue.instance_id, reason, None)
                self.embedding_failed += 1
                self.emit(ev.AgentEvent(issue.instance_id, "system", "",
                                        f"retrieval attempt {self.embedding_failed} failed: {reason}"))
                if self.embedding_failed >= EMBEDDING_ATTEMPTS:
                    return self.diagnoses.embedding(issue, self.embedding_failed, reason)
                if self.stop.wait(EMBEDDING_RETRY_WAIT_S):
                    return ""  # a stop asked for meanwhile: the issue is not started (and runs on resume)
                continue
            self.embedding_failed = 0
            now = getattr(self.retriever, "usage", None) or {}
            if now.get("calls", 0) != spent.get("calls", 0):  # this issue's share: counted in the run's statistics
                selection.embedding = {"calls": int(now["calls"] - spent.get("calls", 0)),
                                       "prompt_tokens": int(now.get("prompt_tokens", 0)
                                                            - spent.get("prompt_tokens", 0)),
                                       "cost": round(float(now.get("cost", 0.0) - spent.get("cost", 0.0)), 8)}
            return selection

    def before_learning(self, instance_id: str) -> dict[str, Workflow]:
        """Frozen memory (a replay): each entry that learned from this issue (its sources name it) as it was before
        it did, from the source memory's kept versions. An entry learned from an issue is never given to that issue
        (its own fix would leak into its prompt); without this, a replay would also lose the earlier version the
        issue was given online. An entry first made from this issue has no such version and stays left out."""
        if self._versions is None:
            self._versions = {}
            for key, data in ((self.sources.seed or {}).get("versions") or {}).items():
                try:
                    self._versions.setdefault(key.rsplit("@", 1)[0], []).append(Workflow.from_dict(data))
                except (TypeError, ValueError, KeyError, AttributeError):
                    continue  # a damaged version: that entry is left out as it would be without this
        earlier = {}
        for entry in self.memory.active():
            if instance_id not in entry.source_instances:
                continue
            kept_versions = [v for v in self._versions.get(entry.id, []) if instance_id not in v.source_instances]
            if kept_versions:
                version = max(kept_versions, key=lambda v: v.round)
                earlier[entry.id] = dataclasses.replace(version, pinned=entry.pinned, disabled=False)
        return earlier

    def induce_due(self) -> str:
        """Run every induction round the buffers call for and memory does not have yet (after a kill during
        induction, this is where the missing round is redone): workflows from successes, and with
        induction.from_failures pitfalls from failures. A failed attempt (no reply, or a reply with nothing in it)
        is recorded in memory.json (`failed_rounds`, its reply kept under induction/) and retried after the next
        issue; after INDUCTION_ATTEMPTS failures in a row, the message to stop with."""
        if not self.spec.memory.on:
            return ""
        kinds = [(WORKFLOW, self.buffer, self.inducer.induce)]
        if self.spec.induction.from_failures:
            kinds.append((PITFALL, self.failures, self.inducer.induce_pitfalls))
        for kind, buffer, induce in kinds:
            while self.memory.rounds_done(kind) < buffer.rounds_due() and not self.stop.is_set():
                kind_round = self.memory.rounds_done(kind) + 1
                stopped = self._induce(kind, kind_round, buffer.batch(kind_round), induce)
                if stopped is None:
                    break  # failed: retried after the next issue
                if stopped:
                    return stopped
        return ""

    def _induce(self, kind: str, kind_round: int, batch: list[Experience], induce) -> str | None:
        """One induction round of `kind` from `batch`: "" when it went in, None when the attempt failed (retried
        later), or the message to stop the run with."""
        round_number = self.memory.round + 1
        ids = [e.instance_id for e in batch]
        self.emit(ev.InductionStarted(round_number, tuple(ids), kind))
        started = time.monotonic()
        attempt = self.memory.attempts(round_number, kind=kind) + 1
        usage: dict = {}
        existing = self.memory.active(kind)
        try:
            induced, reply = induce(round_number, batch, existing, attempt=attempt)
            usage = {"cost": round(reply.cost, 6), "prompt_tokens": reply.prompt_tokens,
                     "completion_tokens": reply.completion_tokens}
            reason = induction_failure(reply.text, induced, kind)
            induced = self.store.scrub(induced)  # workflows go into memory.json and every later prompt
        except Exception as exc:  # noqa: BLE001 - a failed round is retried after the next issue
            induced, reason = [], self.store.scrub(describe_fault(exc)[:300])
        if reason:
            return self._failed(kind, kind_round, round_number, attempt, reason, usage, started)
        merger = self.counted_merge(self.inducer.merge) if self.spec.memory.merge == "llm" else None
        before = dict(self.inducer.merge_usage)
        new = self.memory.add_round(round_number, induced, ids, usage=usage, kind=kind, merger=merger)
        after = dict(self.inducer.merge_usage)
        if after != before:  # what merging cost counts with the round, and is kept apart too (merge_*)
            entry = self.memory.rounds[-1]
            for name in ("cost", "prompt_tokens", "completion_tokens"):
                spent = after.get(name, 0) - before.get(name, 0)
                entry[name] = round(entry.get(name, 0) + spent, 6)
                entry[f"merge_{name}"] = round(entry.get(f"merge_{name}", 0) + spent, 6)
            self.memory.save()
        merge_errors = self.memory.rounds[-1].get("merge_errors", []) if self.memory.rounds else []
        self.emit(ev.InductionFinished(
            round_number, tuple(new), tuple(self.memory.ids()),
            error="" if induced else f"the reply said no {kind} recurs; memory unchanged",
            duration_s=round(time.monotonic() - started, 4), kind=kind,
            evicted=tuple(self.memory.rounds[-1].get("evicted", ())) if self.memory.rounds else (),
        ))
        if merge_errors and self.merge_failed >= MERGE_ATTEMPTS:
            return self.diagnoses.merge(round_number, self.merge_failed, merge_errors[-1])
        return ""

    def _failed(self, kind: str, kind_round: int, round_number: int, attempt: int, reason: str, usage: dict,
                started: float) -> str | None:
        """A failed induction attempt, recorded (memory.json's failed_rounds) and said: None (retried after the
        next issue), or after INDUCTION_ATTEMPTS in a row the message to stop with."""
        reply_path = self.inducer.last_reply_path if usage else None
        relative_path = relative(self.store, reply_path)
        self.memory.add_failure(round_number, reason, relative_path, usage, kind=kind)
        key = (kind, kind_round)
        failures = self.induction_failed[key] = self.induction_failed.get(key, 0) + 1
        self.emit(ev.InductionFinished(
            round_number, (), tuple(self.memory.ids()),
            error=f"attempt {attempt} failed: {reason}{kept(self.store, relative_path)}; retried after the next "
                  "issue"[:600],
            duration_s=round(time.monotonic() - started, 4), reply_path=relative_path or "", kind=kind,
        ))
        if failures >= INDUCTION_ATTEMPTS:
            return self.diagnoses.induction(round_number, failures, reason, relative_path, kind)
        return None

    def counted_merge(self, merge):
        """memory.merge: llm's merger, counting the merges that fail in a row (a failed merge keeps the newer item
        as induced, recorded in the round's `merge_errors` with where the reply is kept)."""

        def merged(old, new):
            try:
                result = merge(old, new)
            except Exception:
                self.merge_failed += 1
                raise
            self.merge_failed = 0
            return result

        return merged


def make_memory(spec: RunSpec, store: RunStore, parts: MemoryParts, emit: Emit, stop: threading.Event) -> Memory:
    """The memory part the spec asks for: RunMemory (memory on or frozen) or NoMemory (`memory: off`). Made once the
    run's files are verified (RunStore.verify): it reads memory.json and the buffers' folder."""
    if not spec.memory.retrieves:
        return NoMemory(spec, store, parts.sources)
    return RunMemory(spec, store, parts.sources, emit, inducer=parts.inducer, retriever=parts.retriever,
                     count=parts.count, stop=stop)


def _read_faults(path: Path) -> list[dict]:
    """memory_faults.jsonl's records; an unreadable line (a kill mid-append) is skipped: they only count."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
