"""The online loop: issues one at a time — open a workspace, the agent with the memory's workflows, the patch,
grading, the experience committed at once, the buffer, induction when due — each step reported as an event.

The parts come assembled (awm.run.parts); this module only loops over them."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from awm import atomic
from awm.agent.remote import NoServerLeft, ServerLost
from awm.agent.runner import AgentResult, AgentStatus
from awm.errors import UserError, located
from awm.grading.base import EvalResult
from awm.memory import adherence, ops
from awm.memory.buffer import ExperienceBuffer
from awm.memory.induction import failure as induction_failure
from awm.memory.retrieval import EmbeddingFault, Selection, make_retriever, retrieve
from awm.memory.store import WorkflowMemory
from awm.model.client import describe_fault, is_model_fault
from awm.records import PITFALL, WORKFLOW, Experience, Issue, Status, Workflow
from awm.run import disk
from awm.run import events as ev
from awm.run.parts import MemorySources, Parts, success
from awm.run.stats import Stats, Tally
from awm.run.store import RunState, RunStore, design_statistics

INDUCTION_ATTEMPTS = 3  # failed attempts in a row at one induction round (in one session) that stop the run
LOST_LIMIT = 3  # agent servers lost under one issue (in one session) that stop the run
# Memory's other model calls get the same treatment (transient HTTP faults are first retried by the model client,
# llm.num_retries): each failure is recorded (memory_faults.jsonl, the reply kept) and counted in the statistics, and
# this many in a row (in one session) stop the run, resumably, naming the model and the field.
JUDGE_ATTEMPTS = 3  # issues in a row whose judge call failed (induction.success: judge | tests+judge)
MERGE_ATTEMPTS = 3  # LLM merges in a row that failed (memory.merge: llm)
EMBEDDING_ATTEMPTS = 3  # embedding calls in a row that failed (memory.retrieval: embedding)
EMBEDDING_RETRY_WAIT_S = 2.0  # between two attempts at one issue's retrieval
FAULTS_FILE = "memory_faults.jsonl"  # one line per failed judge or embedding call: kind, instance, reason, reply

# Why an issue ended with no patch when the model never used the tools as the agent's protocol wants: a broken
# model setup (no native tool calling, a wrong chat template or parser), not a weak model. AgentResult.protocol
# (set by the agent runner) names it; without it the loop infers it from the status and the step count.
PROTOCOL_CAUSES = {
    "no_tool_call": "the model answered with text and no tool call",
    "bad_tool_call": "every tool call the model made was malformed or named an unknown tool",
    "no_valid_tool_call": "the model made no valid tool call",
}


@dataclass(frozen=True)
class Interrupted:
    """An issue a stop interrupted: nothing of it is recorded (it is redone) but what its agent spent."""

    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Halt:
    """The cancel flag of an issue's agent on a watched agent server (awm.agent.remote): the run's stop, or the
    server lost (the workspace's `lost`)."""

    def __init__(self, stop: threading.Event, workspace) -> None:
        self.stop = stop
        self.workspace = workspace

    def is_set(self) -> bool:
        return self.stop.is_set() or bool(getattr(self.workspace, "lost", ""))

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.stop.wait(0.1)
        return True


class _LostServer(Protocol):
    """A workspace whose agent server stopped answering (awm.agent.remote.RemoteCheckout): not every workspace has
    these, so they stay off OpenWorkspace."""

    server: str  # the server's address
    lost: str  # why it counts as dead


class Controls:
    """What the outside asks of a run, from any thread, at any time (even before the engine exists): `pause()`
    stops after the issue in flight, `stop()` also interrupts the agent (the interrupted issue is redone)."""

    def __init__(self) -> None:
        self.pause_requested = threading.Event()
        self.stop_requested = threading.Event()

    def pause(self) -> None:
        self.pause_requested.set()

    def stop(self) -> None:
        self.pause_requested.set()
        self.stop_requested.set()

    def cancel_pause(self) -> bool:
        """Take back a pause that has not happened yet (the issues in flight are still finishing): the run goes on
        to the next issue. A stop cannot be taken back. Whether the pause was cancelled."""
        if self.stop_requested.is_set() or not self.pause_requested.is_set():
            return False
        self.pause_requested.clear()
        return True


class RequestPoller:
    """A watcher's pause or stop (`awm-tui watch`, from another process) reaching this engine: control.json in the
    run folder (RunStore.request_control) is read every POLL_S seconds by a thread of its own while the engine holds
    the run's lock, and turned into the same safe pause or stop the app's keys and the signals ask for (Controls),
    said once in the log (a Notice). A request meant for an earlier owner is removed unheeded (RunStore.take_request),
    so a stale file never stops a resumed run. Nothing is ever killed."""

    POLL_S = 0.5

    def __init__(self, store: RunStore, controls: Controls, emit, since: float) -> None:
        self.store, self.controls, self.emit, self.since = store, controls, emit, since
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RequestPoller:
        self._thread = threading.Thread(target=self._run, name="control-requests", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.POLL_S):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a watcher's file must never stop the run
                pass

    def poll(self) -> str | None:
        """Honour a pending request; the request honoured ("pause" | "stop"), or None."""
        record = self.store.take_request(os.getpid(), self.since)
        if record is None:
            return None
        by = f" ({record['by']})" if record.get("by") else ""
        if record["request"] == "stop":
            self.controls.stop()
            text = (f"stop asked for by a watcher{by}: stopping at the next safe point; the issue in flight is "
                    "redone on resume")
        else:
            self.controls.pause()
            text = f"pause asked for by a watcher{by}: pausing after the issue in flight"
        self.emit(ev.Notice(text))
        return record["request"]

    def close(self) -> None:
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)


class Engine:
    """Runs assembled parts in one run folder."""

    def __init__(self, parts: Parts, store: RunStore, subscribers: list[ev.Subscriber] | None = None,
                 controls: Controls | None = None):
        self.parts = parts
        self.spec = parts.spec
        self.store = store
        self.subscribers = list(subscribers or [])
        self._emit_lock = threading.RLock()  # emit serialised (a subscriber emitting again is let through)
        self.controls = controls or Controls()
        self.issues: list[Issue] = parts.issues
        # every file the run reads back, checked before anything is written (RunStore.verify): damage is refused
        # here (a UserError, before the lock and the views are taken, so a refusal rewrites nothing), or repaired
        # from the journal as the run restores, with a line on the run's start line (RunStarted.notices)
        notices = store.verify(seeded=bool(self.spec.memory.start_from))
        parts.notices.extend(n for n in notices if n not in parts.notices)
        self.memory = WorkflowMemory.load(self.spec.induction.max_workflows, store.memory_path,
                                          merge_threshold=self.spec.memory.merge_threshold,
                                          grace=self.spec.memory.grace)
        self.buffer = ExperienceBuffer(self.spec.induction.trigger, store.buffer_path)  # what workflows come from
        self.failures = ExperienceBuffer(self.spec.induction.trigger, store.dir / "failures.json")  # pitfalls'
        self.sources = parts.sources or MemorySources()
        # memory off gets no retriever from the parts (none is called): one from the spec, never asked
        self.retriever = parts.retriever or make_retriever(self.spec.memory.retrieval,
                                                           self.spec.memory.embedding_model)
        self.count = parts.count or (lambda text: len(text) // 4 + 1)
        self.experiences: list[Experience] = []
        self._tally = Tally()  # the experiences' counts and sums, kept up to date (stats() stays O(1))
        self._redone: deque[tuple] = deque()  # attempts redone on another agent server: their spend, for _discard
        self._elapsed_base = 0.0
        self._started = time.monotonic()
        self._protocol: dict[str, str] = {}  # instance id -> its protocol failure's kind (PROTOCOL_CAUSES)
        self._induction_failed: dict[tuple[str, int], int] = {}  # (kind, round) -> failed attempts in this session
        self._merge_failed = 0  # LLM merges that failed in a row (this session)
        self._embedding_failed = 0  # embedding calls that failed in a row (this session)
        self._faults = {"judge": 0, "embedding": 0}  # failed calls over the whole run (memory_faults.jsonl)
        self._design_config: tuple[dict, str | None] | None = None  # the spec as run, the run's start: read once
        self._versions: dict[str, list[Workflow]] | None = None  # frozen memory: the source's versions by entry id
        store.secrets = secret_values(self.spec)
        if hasattr(parts.inducer, "scrub"):
            parts.inducer.scrub = store.scrub
        if parts.judge is not None and hasattr(parts.judge, "scrub"):
            parts.judge.scrub = store.scrub
        if parts.adherence is not None:
            parts.adherence.scrub = store.scrub

    # controls (any thread)
    @property
    def pause_requested(self) -> threading.Event:
        return self.controls.pause_requested

    @property
    def stop_requested(self) -> threading.Event:
        return self.controls.stop_requested

    def pause(self) -> None:
        self.controls.pause()

    def stop(self) -> None:
        self.controls.stop()

    def emit(self, event: ev.Event) -> None:
        """Each subscriber gets the event, from the thread that emits it (the run's, a worker's with workers > 1, the
        control-request poller's): one event at a time, in the order emitted (awm.run.events.Subscriber)."""
        with self._emit_lock:
            for subscriber in self.subscribers:
                subscriber(event)

    # the run
    def run(self) -> ev.RunFinished:
        since = time.time()  # before the lock: a watcher's request to this session comes after it (take_request)
        with located(self.spec.label), self.store.lock():
            requests = RequestPoller(self.store, self.controls, self.emit, since).start()
            try:
                disk.reserve(self.store.dir)  # the room to record a pause in if the disk fills up
                self._restore()
                if not self.pause_requested.is_set():  # a stop asked for during start-up: nothing will use them
                    self.parts.warm_up()
                self._started = time.monotonic()  # elapsed counts the run's work, not this process's start-up
                self._announce()
                outcome, message = self._loop()
            except disk.DiskFull as full:
                self._paused_on_full(full)
                raise
            except UserError as problem:  # recorded with its message: the picker and `watch` show why it stopped
                self._write_views(RunState.PAUSED, self.store.scrub(problem.message)[:2000], snapshot=True)
                raise
            except BaseException as exc:
                if disk.is_full(exc):  # anywhere in the engine: a safe stop
                    stopped = disk.stopped(self.store.dir, exc)
                    self._paused_on_full(stopped)
                    raise stopped from None
                self._write_views(RunState.CRASHED, f"the engine stopped: {type(exc).__name__}: {exc}"[:500],
                                  snapshot=True)
                raise
            finally:
                requests.close()
                self.parts.close()
            self._write_views(outcome, message, snapshot=True)
        finished = ev.RunFinished(outcome=outcome, message=message, stats=self.stats(), run_dir=str(self.store.dir))
        self.emit(finished)
        return finished

    def _paused_on_full(self, full: disk.DiskFull) -> None:
        """Record the pause on a full disk, in the room the reserve file gives back (result.json and the
        predictions, which grow with the run, are written whole when it resumes)."""
        disk.release(self.store.dir)
        try:
            self._write_views(RunState.PAUSED, full.text, snapshot=False)
        except OSError:
            pass  # checkpoint.json is as the last issue left it; the journal is whole either way

    def _restore(self) -> None:
        """What a resumed run already has: its finished issues, the buffer, the memory (written from the start, so
        a run folder always has one)."""
        self.store.clear_debris()
        wanted = {i.instance_id for i in self.issues}
        self.experiences = [e for e in self.store.finished() if e.instance_id in wanted]
        self._retally()
        self.buffer.experiences = [e for e in self.experiences if e.learned]
        self.buffer.save()
        self.failures.experiences = [e for e in self.experiences if self._teaches_pitfall(e)]
        self.failures.save()
        if self.sources.seed is not None and not self.memory.rounds and not self.memory.workflows:
            self.memory.seed(self.sources.seed, self.sources.seed_label)  # memory.from: a warm start
        if self.spec.memory.on:  # frozen memory keeps no usefulness counts: it stays as seeded
            self.memory.recount(self.experiences, self.sources.baseline)
        self.memory.save()  # written from the start (memory off: empty; frozen: as seeded)
        self.store.write_predictions(self.experiences, self.spec.llm.model)  # whole: heals a torn last line
        self._elapsed_base = self.store.elapsed()
        self._faults = {"judge": 0, "embedding": 0}
        for record in _read_faults(self.store.dir / FAULTS_FILE):
            if record.get("kind") in self._faults:
                self._faults[record["kind"]] += 1

    def _announce(self) -> None:
        self.emit(ev.RunStarted(
            run_id=self.store.run_id,
            run_dir=str(self.store.dir),
            name=self.spec.name,
            model=self.spec.llm.model,
            instance_ids=tuple(i.instance_id for i in self.issues),
            finished_ids=tuple(e.instance_id for e in self.experiences),
            # resumed: it has finished issues or rounds of its own (a warm start's seed round is not one)
            resumed=bool(self.experiences) or any(r.get("kind") != "seed" for r in self.memory.rounds),
            stats=self.stats(),
            order={"id": "", "chronological": "chronological"}.get(
                self.spec.dataset.order, f"shuffled (seed {self.spec.dataset.seed or 0})"),
            notices=tuple(self.parts.notices),
            warm_from=str(getattr(self.memory, "seeded_from", "") or ""),
        ))

    def _loop(self) -> tuple[RunState, str]:
        """Up to `workers` issues in flight, started in dataset order; issue i starts only once every issue before
        position i - max_staleness is finished and the induction rounds it made due are done (induction runs here,
        between finishes, while the other issues' agents go on). Finished issues are committed in the order they
        finish; error streaks (and judge faults in a row, JUDGE_ATTEMPTS) count in that order. Pause: nothing new
        starts, the issues in flight finish. Stop: they are interrupted (and redone on resume)."""
        done = {e.instance_id for e in self.experiences}
        stopped = self._catch_up_induction()
        if stopped:
            return RunState.ABORTED, stopped
        over = self._over_budget()
        if over:
            return RunState.PAUSED, over
        workers = self.spec.workers
        staleness = workers - 1 if self.spec.max_staleness is None else self.spec.max_staleness
        pending = [(index, issue) for index, issue in enumerate(self.issues, 1) if issue.instance_id not in done]
        in_flight: dict[Future, tuple[int, Issue]] = {}
        interrupted: list[tuple[int, str]] = []
        streak: list[Experience] = []
        judge_streak: list[Experience] = []  # issues in a row whose judge call failed
        cause = ""
        outcome: tuple[RunState, str] | None = None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="issue") as pool:
            while True:
                while (outcome is None and pending and len(in_flight) < workers and not self.pause_requested.is_set()
                       and min((i for i, _ in in_flight.values()), default=pending[0][0]) >= pending[0][0] - staleness):
                    index, issue = pending.pop(0)
                    start = self._start(issue, index, staleness=len(in_flight))
                    if isinstance(start, str):  # memory's embedding model failed (or a stop came meanwhile):
                        pending.insert(0, (index, issue))  # the issue is not started
                        if start:
                            outcome = RunState.ABORTED, start
                        break
                    in_flight[pool.submit(self._work, issue, index, start)] = (index, issue)
                    if pending and (prepare := getattr(self.parts.workspace, "prepare", None)):
                        prepare(pending[0][1])  # a container workspace starts the next issue's meanwhile
                if not in_flight:
                    break
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                while self._redone:  # what attempts lost with their agent server spent (their issues are redone)
                    self._discard(*self._redone.popleft())
                results = []
                for future in finished:
                    place = in_flight.pop(future)
                    try:
                        results.append((place, future.result()))
                    except BaseException:  # a problem to fix (UserError) or a crash: the others are stopped too
                        self.controls.stop()
                        raise
                for (index, issue), result in sorted(
                        results, key=lambda r: 0.0 if isinstance(r[1], Interrupted) else r[1][1]):
                    if isinstance(result, Interrupted):
                        self._discard(issue.instance_id, "interrupted", result.cost, result.prompt_tokens,
                                      result.completion_tokens)
                        interrupted.append((index, issue.instance_id))
                        continue
                    experience = self._commit(result[0], index)
                    if outcome is not None:
                        continue
                    key = self._streak_key(experience)
                    streak = (streak + [experience] if key and key == cause else [experience] if key else [])
                    cause = key
                    if len(streak) >= self.spec.max_consecutive_errors:
                        outcome = RunState.ABORTED, self._abort(streak)
                    elif _judge_fault(experience) or (experience.judge or {}).get("reply_path"):
                        # a judge call: a failed one lengthens the streak, a verdict ends it
                        judge_streak = judge_streak + [experience] if _judge_fault(experience) else []
                        if len(judge_streak) >= JUDGE_ATTEMPTS:
                            outcome = RunState.ABORTED, self._abort_judge(judge_streak)
                if outcome is None:
                    stopped = self._catch_up_induction()
                    if stopped:
                        errors = [e for e in streak if e.status == Status.ERROR]
                        if errors:  # most likely the same fault (a dead model): those attempts are redone too
                            self._forget(errors)
                            stopped += (f" The {len(errors)} issue(s) that ended in errors just before are forgotten "
                                        "and will be redone.")
                        outcome = RunState.ABORTED, stopped
                if outcome is None:
                    over = self._over_budget()
                    if over:  # nothing new starts; the issues in flight finish
                        outcome = RunState.PAUSED, over
                if outcome is not None and outcome[0] == RunState.ABORTED and in_flight:
                    self.controls.stop()  # an aborted run's issues in flight are interrupted, and redone on resume
        if outcome is not None:
            return outcome
        if interrupted:
            ids = [iid for _, iid in sorted(interrupted)]
            return RunState.PAUSED, f"stopped during {', '.join(ids)}; {_it(ids)} redone on resume"
        if pending:
            return RunState.PAUSED, "paused by request; resume to continue"
        failed = [e for e in self.memory.failed_rounds if e["round"] > self.memory.round]
        if failed:
            last = failed[-1]
            return RunState.COMPLETED, (f"all issues processed; induction round {last['round']} failed "
                                        f"({last['reason']}{_kept(self.store, last.get('reply_path'))})")
        return RunState.COMPLETED, "all issues processed"

    def _over_budget(self) -> str:
        """The message to pause with when the run has spent its budget (budget.max_cost_usd, budget.max_tokens)."""
        budget, stats = self.spec.budget, self.stats()
        spent = []
        over = ("the issues in flight when it was reached were finished, not cut: a cap is checked between issues")
        if budget.max_cost_usd is not None and stats.cost >= budget.max_cost_usd:
            spent.append(f"it stopped at ${stats.cost:.2f} of a ${budget.max_cost_usd:.2f} cap (budget.max_cost_usd"
                         f"{f'; {over}' if stats.cost > budget.max_cost_usd else ''})")
        tokens = stats.prompt_tokens + stats.completion_tokens
        if budget.max_tokens is not None and tokens >= budget.max_tokens:
            spent.append(f"it stopped at {tokens:,} of a {budget.max_tokens:,}-token cap (budget.max_tokens"
                         f"{f'; {over}' if tokens > budget.max_tokens else ''})")
        if not spent:
            return ""
        spec_file = self.store.spec_path() or "the spec"
        discarded = (f" (${stats.discarded_cost:.2f} of it spent on {stats.discarded_attempts} interrupted or redone "
                     "attempt(s))" if stats.discarded_cost else "")
        return (f"stopped at the run's budget: {' and '.join(spent)}{discarded}. Nothing is lost; to go on, raise the "
                f"limit in {spec_file} (section `budget`) and resume with `awm-tui --no-ui --resume {self.store.dir}`.")

    def _streak_key(self, experience: Experience) -> str:
        """What makes issues in a row one streak: the same protocol failure, or errors of the same cause."""
        if experience.instance_id in self._protocol:
            return "protocol:" + self._protocol[experience.instance_id]
        if experience.status == Status.ERROR:
            return "error:" + _cause(experience.reason)
        return ""

    def _select(self, issue: Issue) -> Selection | str:
        """The memory entries for this issue: ranked against it, under the token budget (memory.retrieval), the
        operation log (`awm-tui memory RUN disable|pin ...`) applied first; nothing when memory is off. An embedding
        fault (memory.retrieval: embedding) is recorded and the retrieval asked again; after EMBEDDING_ATTEMPTS in a
        row, the message to stop the run with (the issue is not started: it never runs without its memory)."""
        if not self.spec.memory.retrieves:
            return Selection([], {}, 0, "", reason="memory is off for this run (memory.enabled: off)")
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
                                     replace=self._before_learning(issue.instance_id) if m.frozen else None)
            except EmbeddingFault as fault:
                reason = self.store.scrub(str(fault))[:500]
                self._record_fault("embedding", issue.instance_id, reason, None)
                self._embedding_failed += 1
                self.emit(ev.AgentEvent(issue.instance_id, "system", "",
                                        f"retrieval attempt {self._embedding_failed} failed: {reason}"))
                if self._embedding_failed >= EMBEDDING_ATTEMPTS:
                    return self._abort_embedding(issue, reason)
                if self.stop_requested.wait(EMBEDDING_RETRY_WAIT_S):
                    return ""  # a stop asked for meanwhile: the issue is not started (and runs on resume)
                continue
            self._embedding_failed = 0
            now = getattr(self.retriever, "usage", None) or {}
            if now.get("calls", 0) != spent.get("calls", 0):  # this issue's share: counted in the run's statistics
                selection.embedding = {"calls": int(now["calls"] - spent.get("calls", 0)),
                                       "prompt_tokens": int(now.get("prompt_tokens", 0)
                                                            - spent.get("prompt_tokens", 0)),
                                       "cost": round(float(now.get("cost", 0.0) - spent.get("cost", 0.0)), 8)}
            return selection

    def _before_learning(self, instance_id: str) -> dict[str, Workflow]:
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
            kept = [v for v in self._versions.get(entry.id, []) if instance_id not in v.source_instances]
            if kept:
                version = max(kept, key=lambda v: v.round)
                earlier[entry.id] = dataclasses.replace(version, pinned=entry.pinned, disabled=False)
        return earlier

    def _outcome(self, experience: Experience) -> str:
        """The attempt's verdict as memory's usefulness counts it: solved by induction.success's rule, an error, a
        failure, or SKIPPED (no verdict) when the judge the rule needs failed (awm.memory.judge)."""
        if experience.learned:
            return "PASS"
        if experience.status == Status.ERROR:
            return "ERROR"
        if _judge_fault(experience) and not (self.spec.induction.success == "tests+judge"
                                             and experience.status == Status.FAIL):
            return "SKIPPED"  # the judge failed: no verdict, so neither a success nor a failure of the entries
        return "FAIL"

    def _teaches_pitfall(self, experience: Experience) -> bool:
        """A failed attempt that pitfalls are induced from (induction.from_failures): graded or judged a failure;
        an error (the attempt broke) teaches nothing about the task."""
        return (self.spec.induction.from_failures and not experience.learned
                and experience.status != Status.ERROR and not (experience.judge or {}).get("verdict") == "ERROR")

    def _start(self, issue: Issue, index: int, staleness: int) -> dict | str:
        """An issue about to start (here, between finishes): what memory gives it, said in IssueStarted; or, when
        its memory could not be retrieved, the message to stop the run with ("": a stop was asked for meanwhile)."""
        selection = self._select(issue)
        if isinstance(selection, str):
            return selection
        self.emit(ev.IssueStarted(issue.instance_id, index, len(self.issues), tuple(selection.ids),
                                  self.memory.round))
        return {"selection": selection, "round": self.memory.round, "staleness": staleness,
                "started": time.monotonic()}

    def _work(self, issue: Issue, index: int, start: dict) -> tuple[Experience, float] | Interrupted:
        """One issue's work, in a worker thread: workspace, agent, grading, the judge. The experience and when it
        ended, or Interrupted when a stop interrupted it (only its spend is recorded). An agent server that stops
        answering under it (awm.agent.remote) is out of the run, and the issue starts again on another; with none
        left, a UserError stops the run (the issue is redone on resume). Touches nothing the other issues share."""
        selection, started = start["selection"], start["started"]
        timings: dict[str, float] = {}
        agent: AgentResult | None = None
        evaluation: EvalResult | None = None
        workspace = None
        try:
            losses: list[str] = []  # what became of the agent servers (awm.agent.remote) lost under this issue
            while True:
                t = time.monotonic()
                try:
                    workspace = self.parts.workspace.open(issue)
                except ServerLost as gone:  # dead before the agent started: out of the pool; opened again elsewhere
                    self._server_lost(issue, gone.server, gone.reason, losses, None)
                    continue
                timings["workspace"] = time.monotonic() - t
                agent = self.parts.agent.run(
                    issue, workspace, selection.block,
                    lambda kind, tool, text, progress=None: self.emit(ev.AgentEvent(
                        issue.instance_id, kind, tool, self.store.scrub(text), *(
                            (progress.steps, progress.cost, progress.tokens) if progress is not None else ()))),
                    self.store.log_path(issue.instance_id), self.store.trajectory_path(issue.instance_id),
                    _Halt(self.stop_requested, workspace) if getattr(workspace, "watch", False)
                    else self.stop_requested,  # a watched agent server: also ended when the server is lost
                )
                timings["agent_setup"], timings["model_wait"] = agent.setup_s, agent.model_wait_s
                timings["tool"] = agent.tool_s
                if agent.status == AgentStatus.ERROR and disk.is_full(agent.error):
                    raise disk.stopped(self.store.dir, agent.error)
                t = time.monotonic()
                self._report_leftovers(issue, workspace.close())
                timings["workspace"] += time.monotonic() - t
                if not getattr(workspace, "lost", ""):
                    break
                # its server stopped answering (and is out of the run): the attempt is redone unless it was complete
                kept = agent.status == AgentStatus.FINISHED
                remote = cast(_LostServer, workspace)  # a `lost` that is set: a remote checkout (awm.agent.remote)
                self._server_lost(issue, remote.server, remote.lost, losses, agent, kept)
                if kept:
                    break
                workspace = None
                if self.stop_requested.is_set():
                    return Interrupted()
            self._note_losses(issue, losses)
            if agent.status == AgentStatus.CANCELLED or (self.stop_requested.is_set()
                                                         and agent.status != AgentStatus.FINISHED):
                return Interrupted(agent.cost, agent.prompt_tokens, agent.completion_tokens)
            if not _broke(agent):
                evaluation = self.parts.evaluator.evaluate(issue, agent.patch, self.store.eval_dir(issue.instance_id))
                timings["tests"] = evaluation.test_s
                timings["evaluation"] = max(0.0, evaluation.duration_s - evaluation.test_s)
                if evaluation.status == Status.ERROR and disk.is_full(evaluation.reason):
                    raise disk.stopped(self.store.dir, evaluation.reason)
        except UserError:
            raise
        except NoServerLeft as gone:  # the issue is not recorded: redone on resume, once servers answer again
            raise self._no_server_left(gone) from None
        except Exception as exc:  # noqa: BLE001 - one issue's crash is that issue's ERROR, not the run's end
            if disk.is_full(exc):  # a full disk is the run's pause, not this issue's ERROR
                raise disk.stopped(self.store.dir, exc) from None
            evaluation = EvalResult(Status.ERROR, reason=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            if workspace is not None:
                self._report_leftovers(issue, workspace.close())
            self.store.scrub_files([self.store.log_path(issue.instance_id),
                                    self.store.trajectory_path(issue.instance_id),
                                    self.store.eval_dir(issue.instance_id)])
        protocol = protocol_failure(agent)
        experience = self._experience(issue, agent, evaluation, selection.entries, started, timings, protocol)
        experience.memory_round, experience.position, experience.staleness = start["round"], index, start["staleness"]
        experience.retrieved = selection.records()
        experience.embedding = dict(selection.embedding)
        experience.memory_tokens = selection.tokens
        experience.passed_over, experience.why_none = list(selection.passed_over), selection.reason
        adherence.record(experience, issue, selection.entries, self.spec.memory.adherence, self.parts.adherence)
        if self.parts.judge is not None and experience.status != Status.ERROR:
            t = time.monotonic()
            experience.judge = self.parts.judge.judge(issue, experience)
            experience.timings["judge"] = round(time.monotonic() - t, 4)
        experience.learned = success(experience.status, experience.judge, self.spec.induction.success)
        if protocol:
            experience.protocol = protocol
        return experience, time.monotonic()

    def _commit(self, experience: Experience, index: int) -> Experience:
        """A finished issue into the run, in the main thread: the journal, predictions, buffers, memory's counts,
        checkpoint.json, IssueFinished."""
        t = time.monotonic()
        if experience.protocol:
            self._protocol[experience.instance_id] = experience.protocol
        if self.store.secrets:
            experience = Experience.from_dict(self.store.scrub(experience.to_dict()))
        self.store.commit(experience)
        if _judge_fault(experience):
            self._record_fault("judge", experience.instance_id, str(experience.judge.get("reasoning", "")),
                               experience.judge.get("reply_path") or None)
        if (experience.adherence_judge or {}).get("error"):  # no score: said, never the issue's failure
            self._record_fault("adherence", experience.instance_id, experience.adherence_judge["error"],
                               experience.adherence_judge.get("reply_path") or None)
        self.store.write_predictions([experience], self.spec.llm.model, append=True)
        self.experiences.append(experience)
        self._tally.add(experience)
        self.buffer.add(experience, keep=experience.learned)
        self.failures.add(experience, keep=self._teaches_pitfall(experience))
        if self.spec.memory.on:  # frozen memory is not written during the run (no usefulness counts)
            self.memory.record_outcome(experience.workflow_ids, self._outcome(experience),
                                       self.sources.baseline.get(experience.instance_id))
            self.memory.save()
        self._write_views(RunState.RUNNING, "", snapshot=False)
        if len(self.experiences) % self.spec.checkpoint_interval == 0:
            self.emit(ev.CheckpointSaved(str(self.store.dir / "checkpoint.json"), len(self.experiences)))
        timings = dict(experience.timings)
        timings["bookkeeping"] = time.monotonic() - t
        timings["bookkeeping"] += max(0.0, experience.duration_s - sum(timings.values()))
        self.emit(ev.IssueFinished(
            instance_id=experience.instance_id, index=index, total=len(self.issues), status=experience.status,
            reason=experience.reason, cost=experience.cost, steps=experience.steps,
            duration_s=experience.duration_s, stats=self.stats(), timings={k: round(v, 4) for k, v in timings.items()},
            experience=experience,
        ))
        return experience

    def _server_lost(self, issue: Issue, server: str, reason: str, losses: list[str], agent: AgentResult | None,
                     kept: bool = False) -> None:
        """An agent server stopped answering while `issue` was on it (it is out of the pool already): said in the
        log; what a redone attempt spent is counted (recorded by the main thread: `_redone`). In a worker thread.
        After LOST_LIMIT losses under one issue the run stops (a UserError): its agent may be what kills them."""
        iid = issue.instance_id
        if agent is not None and not kept:
            self._redone.append((iid, "redone: its agent server stopped answering", agent.cost, agent.prompt_tokens,
                                 agent.completion_tokens))
        pool = getattr(self.parts.workspace, "pool", None)  # `agent.workspace: remote`'s servers
        left = None if pool is None else len(pool.servers)
        text = f"the agent server {server} stopped answering ({reason}) while {iid} was on it: taken out of the run"
        if left is not None:
            text += f", {left} of `agent.servers` left" if left else ", none of `agent.servers` is left"
        text += (f"; {iid}'s result was in before, and is kept" if kept else
                 f"; {iid} is not recorded, and will be redone on resume" if left == 0 else f"; {iid} is started again")
        text = self.store.scrub(text)
        losses.append(text)
        self.emit(ev.Notice(text, iid))
        if len(losses) >= LOST_LIMIT and not kept and left != 0:
            self._note_losses(issue, losses)
            raise UserError(
                f"{iid}: its agent server stopped answering {len(losses)} times (last: {server}, {reason}). The "
                f"issue's agent may be what brings its server down: see its log {self.store.log_path(iid)}. Nothing "
                f"of {iid} is recorded; check the servers, then resume with `awm-tui --no-ui --resume "
                f"{self.store.dir}` (it will be redone).",
                field="agent.servers" if pool is not None else "agent.runtime_api_url")

    def _note_losses(self, issue: Issue, losses: list[str]) -> None:
        """The servers lost under the issue, at the end of its log (the attempt there is the last one)."""
        log = self.store.log_path(issue.instance_id)
        if losses and log.exists():
            with open(log, "a", encoding="utf-8") as f:
                f.writelines(f"# {text}\n" for text in losses)

    def _no_server_left(self, gone: NoServerLeft) -> UserError:
        """The message to stop with when every agent server stopped answering."""
        servers = "; ".join(f"{server} ({why})" for server, why in gone.lost.items())
        return UserError(
            f"every agent server stopped answering and is out of the run: {servers}. The issues in flight are not "
            "recorded and will be redone. Start the servers again (or fix their addresses), then resume with "
            f"`awm-tui --no-ui --resume {self.store.dir}`.", field="agent.servers")

    def _report_leftovers(self, issue: Issue, leftovers: list[str]) -> None:
        """Processes the agent left running (a server, `sleep 300 &`) were ended with its workspace: said in the live
        log and at the end of the issue's log."""
        if not leftovers:
            return
        text = f"ended {len(leftovers)} process(es) the agent left running: " + "; ".join(leftovers)[:1000]
        self.emit(ev.AgentEvent(issue.instance_id, "system", "", text))
        log = self.store.log_path(issue.instance_id)
        if log.exists():
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"# {text}\n")

    def _experience(self, issue, agent, evaluation, workflows, started, timings, protocol: str = "") -> Experience:
        if agent is not None and _broke(agent):
            status, reason = Status.ERROR, f"agent: {agent.error}"
        elif evaluation is None:
            status, reason = Status.ERROR, "no evaluation result"
        else:
            status, reason = evaluation.status, evaluation.reason
            if agent is not None and agent.status not in (AgentStatus.FINISHED, "") and status != Status.PASS:
                why = agent.error if agent.status == AgentStatus.BUDGET and agent.error else agent.status
                if agent.status == AgentStatus.BUDGET:
                    why = self._issue_overshoot(agent) or why
                reason = f"{reason} (the agent stopped: {why})".strip()
        if protocol:
            detail = str(getattr(agent, "protocol_detail", "") or "")[:200]
            reason = f"{reason}; {PROTOCOL_CAUSES.get(protocol, protocol)}{f': {detail}' if detail else ''}"
        agent = agent or AgentResult()
        return Experience(
            instance_id=issue.instance_id,
            problem_statement=issue.problem_statement,
            status=status,
            diff_patch=agent.patch,
            history=agent.history,
            test_output=evaluation.test_output if evaluation else "",
            reason=reason,
            cost=round(agent.cost, 6),
            prompt_tokens=agent.prompt_tokens,
            completion_tokens=agent.completion_tokens,
            steps=agent.steps,
            duration_s=round(time.monotonic() - started, 3),
            timings={k: round(v, 4) for k, v in timings.items()},
            workflow_ids=[w.id for w in workflows],
            memory_round=self.memory.round,
            agent_status=str(agent.status),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )

    def _catch_up_induction(self) -> str:
        """Run every induction round the buffers call for and memory does not have yet (after a kill during
        induction, this is where the missing round is redone): workflows from successes, and with
        induction.from_failures pitfalls from failures. A failed attempt (no reply, or a reply with nothing in it)
        is recorded in memory.json (`failed_rounds`, its reply kept under induction/) and retried after the next
        issue; after INDUCTION_ATTEMPTS failures in a row, the message to stop with."""
        if not self.spec.memory.on:
            return ""
        inducer = self.parts.inducer
        kinds = [(WORKFLOW, self.buffer, inducer.induce)]
        if self.spec.induction.from_failures:
            kinds.append((PITFALL, self.failures, inducer.induce_pitfalls))
        for kind, buffer, induce in kinds:
            while self.memory.rounds_done(kind) < buffer.rounds_due() and not self.stop_requested.is_set():
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
        inducer = self.parts.inducer
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
            reply_path = getattr(inducer, "last_reply_path", None) if usage else None
            relative = _relative(self.store, reply_path)
            self.memory.add_failure(round_number, reason, relative, usage, kind=kind)
            key = (kind, kind_round)
            failures = self._induction_failed[key] = self._induction_failed.get(key, 0) + 1
            kept = _kept(self.store, relative)
            self.emit(ev.InductionFinished(
                round_number, (), tuple(self.memory.ids()),
                error=f"attempt {attempt} failed: {reason}{kept}; retried after the next issue"[:600],
                duration_s=round(time.monotonic() - started, 4), reply_path=relative or "", kind=kind,
            ))
            if failures >= INDUCTION_ATTEMPTS:
                return self._abort_induction(round_number, failures, reason, relative, kind)
            return None
        merger = None
        before = dict(getattr(inducer, "merge_usage", {}) or {})
        if self.spec.memory.merge == "llm" and hasattr(inducer, "merge"):
            merger = self._counted_merge(inducer.merge)
        new = self.memory.add_round(round_number, induced, ids, usage=usage, kind=kind, merger=merger)
        after = dict(getattr(inducer, "merge_usage", {}) or {})
        if after != before:  # what merging cost counts with the round, and is kept apart too (merge_*)
            entry = self.memory.rounds[-1]
            for field in ("cost", "prompt_tokens", "completion_tokens"):
                spent = after.get(field, 0) - before.get(field, 0)
                entry[field] = round(entry.get(field, 0) + spent, 6)
                entry[f"merge_{field}"] = round(entry.get(f"merge_{field}", 0) + spent, 6)
            self.memory.save()
        merge_errors = self.memory.rounds[-1].get("merge_errors", []) if self.memory.rounds else []
        self.emit(ev.InductionFinished(
            round_number, tuple(new), tuple(self.memory.ids()),
            error="" if induced else f"the reply said no {kind} recurs; memory unchanged",
            duration_s=round(time.monotonic() - started, 4), kind=kind,
            evicted=tuple(self.memory.rounds[-1].get("evicted", ())) if self.memory.rounds else (),
        ))
        if merge_errors and self._merge_failed >= MERGE_ATTEMPTS:
            return self._abort_merge(round_number, merge_errors[-1])
        return ""

    def _counted_merge(self, merge):
        """memory.merge: llm's merger, counting the merges that fail in a row (a failed merge keeps the newer item
        as induced, recorded in the round's `merge_errors` with where the reply is kept)."""

        def merged(old, new):
            try:
                result = merge(old, new)
            except Exception:
                self._merge_failed += 1
                raise
            self._merge_failed = 0
            return result

        return merged

    def _inducing_model(self) -> tuple[str, str]:
        """The model memory's own calls (induction, merging, the judge) go to, and the field that sets it."""
        if self.spec.induction.llm is not None:
            return self.spec.induction.llm.model, "induction.llm"
        return self.spec.llm.model, "llm"

    def _resume_hint(self) -> str:
        return f"resume with `awm-tui --no-ui --resume {self.store.dir}`"

    def _abort_induction(self, round_number: int, failures: int, reason: str, reply_path: str | None,
                         kind: str = WORKFLOW) -> str:
        spec_file = self.store.spec_path() or "the spec"
        model, field = self._inducing_model()
        what = "pitfall induction, field `induction.from_failures`" if kind == PITFALL else "workflow induction"
        prompt = (f"induction/pitfalls_{round_number:03d}.prompt.txt" if kind == PITFALL
                  else f"induction/round_{round_number:03d}.prompt.txt")
        return (
            f"stopped after {failures} failed attempts in a row at induction round {round_number} ({what}): "
            f"{reason}{_kept(self.store, reply_path)}. Without induction the memory arm would silently run as the "
            f"baseline. Check the model that induces, {model} (field `{field}` of {spec_file}: does it answer, and "
            f"in the format of {prompt}?) and {self._resume_hint()}; the round will be tried again."
        )

    def _abort_merge(self, round_number: int, last: dict) -> str:
        spec_file = self.store.spec_path() or "the spec"
        model, field = self._inducing_model()
        return (
            f"stopped after {self._merge_failed} failed LLM merges in a row (field `memory.merge: llm`; last, in "
            f"induction round {round_number}, of {last.get('id')}: {last.get('error')}). A failed merge keeps the "
            f"newly induced version as it is, so memory no longer merges as the spec says. Check the model that "
            f"merges, {model} (field `{field}` of {spec_file}: does it answer in the format of the "
            f"induction/merge_*.prompt.txt files?), or set `memory.merge: similarity`, and {self._resume_hint()}; "
            "the round is in memory (memory.json records its merge errors)."
        )

    def _abort_judge(self, streak: list[Experience]) -> str:
        """JUDGE_ATTEMPTS issues in a row whose judge call failed: forget them (their agents' work is redone on
        resume, with the judge) and stop."""
        self._forget(streak)
        spec_file = self.store.spec_path() or "the spec"
        model, field = self._inducing_model()
        last = streak[-1]
        reason = str((last.judge or {}).get("reasoning", "")) or "no verdict"
        rule = self.spec.induction.success
        return (
            f"stopped after {len(streak)} issues in a row whose judge call failed (field `induction.success: "
            f"{rule}`; last: {last.instance_id}: {reason}{_kept(self.store, (last.judge or {}).get('reply_path'))})."
            f" Without the judge's verdicts nothing is learned and the memory arm would silently run as the baseline."
            f" Check the model that judges, {model} (field `{field}` of {spec_file}: does it answer, and end its "
            f"reply with `Verdict: success` or `Verdict: failure`?) and {self._resume_hint()}; those "
            f"{len(streak)} issues will be redone."
        )

    def _abort_embedding(self, issue: Issue, reason: str) -> str:
        spec_file = self.store.spec_path() or "the spec"
        where = self.spec.llm.base_url or "the provider's default address"
        return (
            f"stopped after {self._embedding_failed} failed embedding calls in a row (retrieval for "
            f"{issue.instance_id}, field `memory.retrieval: embedding`): {reason}. An issue run without its memory "
            f"would count as the baseline's. Check the embedding model, {self.spec.memory.embedding_model} (field "
            f"`memory.embedding_model` of {spec_file}; it is asked at {where} with the key of `llm`), or use "
            f"`memory.retrieval: bm25`, and {self._resume_hint()}; {issue.instance_id} has not started and will "
            "run then."
        )

    def _record_fault(self, kind: str, instance_id: str, reason: str, reply_path: str | None) -> None:
        """A failed call of memory's own models (the judge, the embedding model): a line in memory_faults.jsonl,
        counted in the statistics (judge_failures, embedding_failures)."""
        atomic.append_line(self.store.dir / FAULTS_FILE, {
            "kind": kind, "instance_id": instance_id, "reason": self.store.scrub(reason)[:500],
            "reply_path": reply_path, "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self._faults[kind] = self._faults.get(kind, 0) + 1

    def _forget(self, attempts: list[Experience]) -> None:
        """Drop these finished attempts from the run (journal, buffer, memory's counts): they are redone on resume.
        What they spent stays in the totals (discarded.jsonl)."""
        drop = {e.instance_id for e in attempts}
        for e in attempts:
            calls = [e.judge or {}, e.adherence_judge or {}]  # memory's own calls for this issue
            self.store.record_discarded(e.instance_id, "forgotten",
                                        e.cost + sum(float(c.get("cost", 0) or 0) for c in calls),
                                        e.prompt_tokens + sum(int(c.get("prompt_tokens", 0) or 0) for c in calls),
                                        e.completion_tokens + sum(int(c.get("completion_tokens", 0) or 0)
                                                                  for c in calls))
        self.experiences = [e for e in self.experiences if e.instance_id not in drop]
        self.store.rewrite_journal(self.experiences)
        self._retally()
        self.buffer.experiences = [e for e in self.buffer.experiences if e.instance_id not in drop]
        self.buffer.save()
        self.failures.experiences = [e for e in self.failures.experiences if e.instance_id not in drop]
        self.failures.save()
        if self.spec.memory.on:
            self.memory.recount(self.experiences, self.sources.baseline)
            self.memory.save()

    def _abort(self, streak: list[Experience]) -> str:
        """Too many issues in a row ended by one cause (an error, or a protocol failure): forget those attempts
        (they are redone on resume) and stop."""
        self._forget(streak)
        spec_file = self.store.spec_path() or "the spec"
        resume = (f"resume with `awm-tui --no-ui --resume {self.store.dir}`; those {len(streak)} issues will be "
                  "redone.")
        protocol = self._protocol.get(streak[-1].instance_id)
        if protocol:
            return (
                f"stopped after {len(streak)} issues in a row ended with no patch because "
                f"{PROTOCOL_CAUSES.get(protocol, protocol)} (last: {streak[-1].instance_id}: {streak[-1].reason}). "
                f"This looks like a broken model setup, not a weak model: check that the model and its server "
                f"support native tool (function) calling (an OpenAI-compatible server must have it enabled, e.g. "
                f"vLLM's --enable-auto-tool-choice and --tool-call-parser), and the model name and provider "
                f"(field `llm` of {spec_file}); the agent's log in {self.store.logs} shows the replies. Then {resume}"
            )
        reason = streak[-1].reason
        if is_model_fault(reason):
            where = f"the model's address and key: field `llm` of {spec_file}"
        elif "is not in" in reason and "commit" in reason:
            where = f"the repository's source: field `repos` of {spec_file}, or the dataset's base_commit"
        else:
            where = "see the issue's log and eval/ folder; the machine, a disk or a tool the issue needs"
        return (
            f"stopped after {len(streak)} consecutive errors with the same cause: {reason}. "
            f"Fix the cause ({where}) and "
            f"{resume}"
        )

    def _retally(self) -> None:
        """The totals from the kept experiences and the spend of the attempts not kept (discarded.jsonl)."""
        self._tally = Tally(self.experiences)
        for record in self.store.discarded():
            self._tally.discard(record.get("cost", 0.0), record.get("prompt_tokens", 0),
                                record.get("completion_tokens", 0))

    def _discard(self, instance_id: str, why: str, cost: float, prompt_tokens: int, completion_tokens: int) -> None:
        """An attempt not kept: its spend recorded (a line in discarded.jsonl) and counted in the totals."""
        if not (cost or prompt_tokens or completion_tokens):
            return
        self.store.record_discarded(instance_id, why, cost, prompt_tokens, completion_tokens)
        self._tally.discard(cost, prompt_tokens, completion_tokens)

    def _issue_overshoot(self, agent: AgentResult) -> str:
        """Why an issue stopped at its spending cap, with what it finally spent: the step in flight when the cap
        was reached finished, so the figure may pass the cap."""
        budget = self.spec.budget
        tokens = agent.prompt_tokens + agent.completion_tokens
        if budget.issue_max_cost_usd is not None and agent.cost >= budget.issue_max_cost_usd:
            return (f"stopped at ${agent.cost:.2f} of a ${budget.issue_max_cost_usd:.2f} issue cap "
                    f"(budget.issue_max_cost_usd){_step_finished(agent.cost > budget.issue_max_cost_usd)}")
        if budget.issue_max_tokens is not None and tokens >= budget.issue_max_tokens:
            return (f"stopped at {tokens:,} of a {budget.issue_max_tokens:,}-token issue cap "
                    f"(budget.issue_max_tokens){_step_finished(tokens > budget.issue_max_tokens)}")
        return ""

    # views
    def stats(self) -> Stats:
        usage = self.memory.induction_usage()  # with the failures of memory's other model calls
        usage["merge_failures"] = sum(len(r.get("merge_errors", ())) for r in self.memory.rounds)
        usage["judge_failures"], usage["embedding_failures"] = self._faults["judge"], self._faults["embedding"]
        return self._tally.stats(len(self.issues), len(self.memory.workflows), self.memory.round,
                                 self._elapsed_base + time.monotonic() - self._started, usage)

    def _write_views(self, status: RunState, message: str, snapshot: bool) -> None:
        """checkpoint.json after every issue; with `snapshot` (the run's end, a pause, a stop, an abort) also
        result.json and predictions.jsonl whole: the files whose size grows with the run."""
        stats = self.stats()
        model = self.spec.llm.model
        if snapshot:
            self.store.write_predictions(self.experiences, model)
        if self._design_config is None:
            self._design_config = (self.spec.public(), self.store.config().get("created_at"))
        design = design_statistics(stats, len(self.buffer.experiences), *self._design_config)
        path = self.store.write_checkpoint(stats, [i.instance_id for i in self.issues],
                                           [e.instance_id for e in self.experiences], status, self.spec.name,
                                           model, message, design)
        if snapshot:
            self.store.write_result(self.experiences, self.memory.workflows, stats, design)
            self.emit(ev.CheckpointSaved(str(path), stats.processed))


def _step_finished(over: bool) -> str:
    return ": the step in flight when it was reached finished" if over else ""


def _judge_fault(experience: Experience) -> bool:
    """The judge was asked and gave no verdict (its call failed, or its reply held none): an ERROR verdict."""
    return (experience.judge or {}).get("verdict") == "ERROR"


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


def _it(ids: list[str]) -> str:
    return "it will be" if len(ids) == 1 else "they will be"


def _cause(reason: str) -> str:
    """A reason with its ids and numbers blanked, so the same failure on two issues compares equal."""
    reason = re.sub(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "<id>", reason)
    return re.sub(r"\d+", "#", reason)[:160]


def protocol_failure(agent: AgentResult | None) -> str:
    """The kind of protocol failure (a key of PROTOCOL_CAUSES) an issue without a patch ended with, or "": the
    runner's verdict (AgentResult.protocol) when it gives one, else inferred: no valid tool call at all (no step)
    and the agent finished (a text reply), got stuck (malformed or unknown tool calls) or ran out of steps."""
    if agent is None or agent.patch.strip():
        return ""
    kind = str(getattr(agent, "protocol", "") or "")
    if kind:
        return kind
    if agent.steps > 0:
        return ""
    causes: dict[str, str] = {AgentStatus.FINISHED: "no_tool_call", AgentStatus.STUCK: "bad_tool_call",
                              AgentStatus.MAX_ITERATIONS: "no_valid_tool_call"}  # a StrEnum: its str looks it up
    return causes.get(agent.status, "")


def secret_values(spec) -> tuple[str, ...]:
    """The values that must never reach the run folder: the keys of the agent's model and of the model that induces
    (as resolved, and as their variables hold them). Values shorter than 6 characters are not scrubbed (they would
    blank ordinary text)."""
    values = []
    for llm in (spec.llm, spec.induction.llm):
        if llm is not None:
            values += [llm.api_key, os.environ.get(llm.api_key_env) if llm.api_key_env else None]
    for variable in (spec.agent.server_key_env, spec.agent.runtime_api_key_env):  # the agent servers' keys
        if variable:
            values.append(os.environ.get(variable))
    return tuple(sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True))


def _relative(store: RunStore, path) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).relative_to(store.dir))
    except ValueError:
        return str(path)


def _kept(store: RunStore, relative: str | None) -> str:
    return f"; the reply is kept in {store.dir / relative}" if relative else ""


def _broke(agent: AgentResult) -> bool:
    """The attempt itself broke (an ERROR, not graded): the agent failed, or the issue's time ran out while the
    model did not answer (a hung model is the setup's fault, not the agent's, and its streak must stop the run)."""
    return agent.status == AgentStatus.ERROR or (agent.status == AgentStatus.TIMEOUT and agent.hung)
