"""The online loop: issues one at a time (or `workers` at a time) in dataset order — what memory gives the issue,
its work in a worker thread (awm.run.work), the experience committed at once, memory's bookkeeping and induction
when due (awm.run.memory) — each step reported as an event (awm.run.events).

The parts come assembled (awm.run.parts); this module only schedules them, commits what they return and says why a
run stops (awm.run.diagnoses)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from awm.errors import UserError, located
from awm.memory.buffer import ExperienceBuffer
from awm.memory.store import WorkflowMemory
from awm.records import Experience, Issue
from awm.run import disk
from awm.run import events as ev
from awm.run.controls import Controls, RequestPoller
from awm.run.diagnoses import Diagnoses, Streaks, them
from awm.run.memory import Memory, make_memory
from awm.run.parts import Parts
from awm.run.stats import Stats, Tally
from awm.run.store import RunState, RunStore, design_statistics
from awm.run.work import Interrupted, Start, Work

__all__ = ["Controls", "Engine", "RequestPoller", "secret_values"]


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
        self.keeper: Memory = (parts.memory or make_memory)(self.spec, store, parts, self.emit,
                                                              self.controls.stop_requested)
        self.diagnoses = Diagnoses(self.spec, store)
        self.work = Work(parts, store, self.emit, self.controls.stop_requested, self.diagnoses)
        self.experiences: list[Experience] = []
        self._tally = Tally()  # the experiences' counts and sums, kept up to date (stats() stays O(1))
        self._elapsed_base = 0.0
        self._started = time.monotonic()
        self._design_config: tuple[dict, str | None] | None = None  # the spec as run, the run's start: read once
        store.secrets = secret_values(self.spec)
        for judge in (parts.judge, parts.adherence):  # memory's inducer gets it from the memory part
            if judge is not None:
                judge.scrub = store.scrub

    # what memory keeps, as the views and the Python API (awm.api) read it
    @property
    def memory(self) -> WorkflowMemory:
        return self.keeper.memory

    @property
    def buffer(self) -> ExperienceBuffer:
        return self.keeper.buffer

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
        """Run the issues not finished yet, under the run folder's lock, until they are all done, a pause or stop is
        asked for, the budget is spent or a streak of failures stops the run; every state written as it changes.

        Returns:
            RunFinished (also emitted): the outcome (a RunState), the message saying why, the statistics.

        Raises:
            UserError: something the user must fix (recorded as the pause's message first); disk.DiskFull: the
                disk filled up (a pause, recorded in the room the reserve file gives back); anything else that
                stops the engine, recorded as a crash. Each is resumable.
        """
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
        """What a resumed run already has: its finished issues, what memory keeps (written from the start, so a run
        folder always has a memory.json)."""
        self.store.clear_debris()
        wanted = {i.instance_id for i in self.issues}
        self.experiences = [e for e in self.store.finished() if e.instance_id in wanted]
        self._retally()
        self.keeper.restore(self.experiences)
        self.store.write_predictions(self.experiences, self.spec.llm.model)  # whole: heals a torn last line
        self._elapsed_base = self.store.elapsed()

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
            warm_from=str(self.memory.seeded_from or ""),
        ))

    def _loop(self) -> tuple[RunState, str]:
        """Up to `workers` issues in flight, started in dataset order; issue i starts only once every issue before
        position i - max_staleness is finished and the induction rounds it made due are done (induction runs here,
        between finishes, while the other issues' agents go on). Finished issues are committed in the order they
        finish; streaks (awm.run.diagnoses.Streaks) count in that order. Pause: nothing new starts, the issues in
        flight finish. Stop: they are interrupted (and redone on resume)."""
        done = {e.instance_id for e in self.experiences}
        streaks = Streaks(self.spec.max_consecutive_errors)
        outcome = self._between_issues(streaks)  # a round a kill interrupted; a budget spent before
        if outcome is not None:
            return outcome
        workers = self.spec.workers
        staleness = workers - 1 if self.spec.max_staleness is None else self.spec.max_staleness
        pending = [(index, issue) for index, issue in enumerate(self.issues, 1) if issue.instance_id not in done]
        in_flight: dict[Future, tuple[int, Issue]] = {}
        interrupted: list[tuple[int, str]] = []
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
                    in_flight[pool.submit(self.work, issue, index, start)] = (index, issue)
                    if pending and (prepare := getattr(self.parts.workspace, "prepare", None)):
                        prepare(pending[0][1])  # a container workspace starts the next issue's meanwhile
                if not in_flight:
                    break
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                while self.work.redone:  # what attempts lost with their agent server spent (their issues are redone)
                    self._discard(*self.work.redone.popleft())
                for (index, issue), result in _in_finish_order(finished, in_flight, self.controls):
                    if isinstance(result, Interrupted):
                        self._discard(issue.instance_id, "interrupted", result.cost, result.prompt_tokens,
                                      result.completion_tokens)
                        interrupted.append((index, issue.instance_id))
                        continue
                    experience = self._commit(result[0], index)
                    if outcome is None:
                        outcome = self._streak_ended(streaks, experience)
                if outcome is None:
                    outcome = self._between_issues(streaks)
                if outcome is not None and outcome[0] == RunState.ABORTED and in_flight:
                    self.controls.stop()  # an aborted run's issues in flight are interrupted, and redone on resume
        return outcome or _ended(interrupted, pending, self.keeper.failed_round())

    def _streak_ended(self, streaks: Streaks, experience: Experience) -> tuple[RunState, str] | None:
        """A committed issue counted in the streaks; when one stops the run, its issues are forgotten (redone on
        resume) and the run aborts with why."""
        ended = streaks.add(experience)
        if ended is None:
            return None
        self._forget(ended[1])
        return RunState.ABORTED, self.diagnoses.stopped_by(*ended, streaks.protocol)

    def _between_issues(self, streaks: Streaks) -> tuple[RunState, str] | None:
        """Induction when due, then the budget: the run's outcome when either stops it, or None to go on."""
        stopped = self.keeper.induce_due()
        if stopped:
            errors = streaks.ended_in_errors()
            if errors:  # most likely the same fault (a dead model): those attempts are redone too
                self._forget(errors)
                stopped += (f" The {len(errors)} issue(s) that ended in errors just before are forgotten and will be "
                            "redone.")
            return RunState.ABORTED, stopped
        over = self.diagnoses.over_budget(self.stats())
        return (RunState.PAUSED, over) if over else None  # nothing new starts; the issues in flight finish

    def _start(self, issue: Issue, index: int, staleness: int) -> Start | str:
        """An issue about to start (here, between finishes): what memory gives it, said in IssueStarted; or, when
        its memory could not be retrieved, the message to stop the run with ("": a stop was asked for meanwhile)."""
        selection = self.keeper.select(issue)
        if isinstance(selection, str):
            return selection
        self.emit(ev.IssueStarted(issue.instance_id, index, len(self.issues), tuple(selection.ids),
                                  self.memory.round))
        return Start(selection, self.memory.round, staleness, time.monotonic())

    def _commit(self, experience: Experience, index: int) -> Experience:
        """A finished issue into the run, in the main thread: the journal, memory's bookkeeping, predictions,
        checkpoint.json, IssueFinished."""
        t = time.monotonic()
        if self.store.secrets:
            experience = Experience.from_dict(self.store.scrub(experience.to_dict()))
        self.store.commit(experience)
        self.keeper.record(experience)
        self.store.write_predictions([experience], self.spec.llm.model, append=True)
        self.experiences.append(experience)
        self._tally.add(experience)
        self._write_views(RunState.RUNNING, "", snapshot=False)
        if len(self.experiences) % self.spec.checkpoint_interval == 0:
            self.emit(ev.CheckpointSaved(str(self.store.checkpoint_path), len(self.experiences)))
        self.emit(ev.IssueFinished(
            instance_id=experience.instance_id, index=index, total=len(self.issues), status=experience.status,
            reason=experience.reason, cost=experience.cost, steps=experience.steps,
            duration_s=experience.duration_s, stats=self.stats(), timings=_timings(experience, time.monotonic() - t),
            experience=experience,
        ))
        return experience

    def _forget(self, attempts: list[Experience]) -> None:
        """Drop these finished attempts from the run (journal, memory's bookkeeping): they are redone on resume.
        What they spent stays in the totals (discarded.jsonl)."""
        drop = {e.instance_id for e in attempts}
        for e in attempts:
            self.store.record_discarded(e.instance_id, "forgotten", *_spent(e))
        self.experiences = [e for e in self.experiences if e.instance_id not in drop]
        self.store.rewrite_journal(self.experiences)
        self._retally()
        self.keeper.forget(drop, self.experiences)

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

    # views
    def stats(self) -> Stats:
        return self._tally.stats(len(self.issues), len(self.memory.workflows), self.memory.round,
                                 self._elapsed_base + time.monotonic() - self._started, self.keeper.usage())

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


def _in_finish_order(finished, in_flight: dict[Future, tuple[int, Issue]], controls: Controls) -> list:
    """The finished issues' results, in the order their work ended (an interruption first). A worker's exception
    (a problem to fix, a UserError, or a crash) stops the other issues too, and is raised."""
    results = []
    for future in finished:
        place = in_flight.pop(future)
        try:
            results.append((place, future.result()))
        except BaseException:
            controls.stop()
            raise
    return sorted(results, key=lambda r: 0.0 if isinstance(r[1], Interrupted) else r[1][1])


def _ended(interrupted: list[tuple[int, str]], pending: list, failed_round: str) -> tuple[RunState, str]:
    """The outcome of a loop nothing stopped: a stop, a pause, or every issue processed (and an induction round
    that failed last, if one did)."""
    if interrupted:
        ids = [iid for _, iid in sorted(interrupted)]
        return RunState.PAUSED, f"stopped during {', '.join(ids)}; {them(ids)} redone on resume"
    if pending:
        return RunState.PAUSED, "paused by request; resume to continue"
    return RunState.COMPLETED, f"all issues processed; {failed_round}" if failed_round else "all issues processed"


def _timings(experience: Experience, bookkeeping: float) -> dict[str, float]:
    """An issue's timings for IssueFinished: its work's, and the bookkeeping (the rest of its duration)."""
    timings = dict(experience.timings)
    timings["bookkeeping"] = bookkeeping
    timings["bookkeeping"] += max(0.0, experience.duration_s - sum(timings.values()))
    return {k: round(v, 4) for k, v in timings.items()}


def _spent(e: Experience) -> tuple[float, int, int]:
    """What an attempt spent, with memory's own calls for it (the judge, the adherence judge)."""
    calls = [e.judge or {}, e.adherence_judge or {}]
    return (e.cost + sum(float(c.get("cost", 0) or 0) for c in calls),
            e.prompt_tokens + sum(int(c.get("prompt_tokens", 0) or 0) for c in calls),
            e.completion_tokens + sum(int(c.get("completion_tokens", 0) or 0) for c in calls))


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
