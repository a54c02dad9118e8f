"""The online loop: issues one at a time — open a workspace, the agent with the memory's workflows, the patch,
grading, the experience committed at once, the buffer, induction when due — each step reported as an event.

The parts come assembled (awm.run.parts); this module only loops over them."""

from __future__ import annotations

import re
import threading
import time

from awm.agent.runner import AgentResult, AgentStatus
from awm.errors import UserError, located
from awm.grading.base import EvalResult
from awm.memory.buffer import ExperienceBuffer
from awm.memory.store import WorkflowMemory
from awm.model.client import describe_fault
from awm.records import Experience, Issue, Status
from awm.run import events as ev
from awm.run.parts import Parts
from awm.run.stats import Stats
from awm.run.store import RunState, RunStore


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


class Engine:
    """Runs assembled parts in one run folder."""

    def __init__(self, parts: Parts, store: RunStore, subscribers: list[ev.Subscriber] | None = None,
                 controls: Controls | None = None):
        self.parts = parts
        self.spec = parts.spec
        self.store = store
        self.subscribers = list(subscribers or [])
        self.controls = controls or Controls()
        self.issues: list[Issue] = parts.issues
        self.memory = WorkflowMemory.load(self.spec.induction.max_workflows, store.memory_path)
        self.buffer = ExperienceBuffer(self.spec.induction.trigger, store.buffer_path)
        self.experiences: list[Experience] = []
        self._elapsed_base = 0.0
        self._started = time.monotonic()

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
        for subscriber in self.subscribers:
            subscriber(event)

    # the run
    def run(self) -> ev.RunFinished:
        with located(self.spec.path), self.store.lock():
            try:
                self._restore()
                if not self.pause_requested.is_set():  # a stop asked for during start-up: nothing will use them
                    self.parts.warm_up()
                self._started = time.monotonic()  # elapsed counts the run's work, not this process's start-up
                self._announce()
                self._catch_up_induction()
                outcome, message = self._loop()
            except UserError:
                self._write_views(RunState.PAUSED, "stopped by a problem to fix; see the message", snapshot=True)
                raise
            except BaseException as exc:
                self._write_views(RunState.CRASHED, f"the engine stopped: {type(exc).__name__}: {exc}"[:500],
                                  snapshot=True)
                raise
            finally:
                self.parts.close()
            self._write_views(outcome, message, snapshot=True)
        finished = ev.RunFinished(outcome=outcome, message=message, stats=self.stats(), run_dir=str(self.store.dir))
        self.emit(finished)
        return finished

    def _restore(self) -> None:
        """What a resumed run already has: its finished issues, the buffer, the memory (written from the start, so
        a run folder always has one)."""
        self.store.clear_debris()
        wanted = {i.instance_id for i in self.issues}
        self.experiences = [e for e in self.store.finished() if e.instance_id in wanted]
        self.buffer.experiences = [e for e in self.experiences if e.status == Status.PASS]
        self.buffer.save()
        self.memory.save()
        self._elapsed_base = self.store.elapsed()

    def _announce(self) -> None:
        self.emit(ev.RunStarted(
            run_id=self.store.run_id,
            run_dir=str(self.store.dir),
            name=self.spec.name,
            model=self.spec.llm.model,
            instance_ids=tuple(i.instance_id for i in self.issues),
            finished_ids=tuple(e.instance_id for e in self.experiences),
            resumed=bool(self.experiences) or bool(self.memory.rounds),
            stats=self.stats(),
        ))

    def _loop(self) -> tuple[RunState, str]:
        done = {e.instance_id for e in self.experiences}
        streak: list[Experience] = []
        for index, issue in enumerate(self.issues, 1):
            if issue.instance_id in done:
                continue
            if self.pause_requested.is_set():
                return RunState.PAUSED, "paused by request; resume to continue"
            experience = self._attempt(issue, index)
            if experience is None:
                return RunState.PAUSED, f"stopped during {issue.instance_id}; it will be redone on resume"
            streak = streak + [experience] if _same_cause(streak, experience) else (
                [experience] if experience.status == Status.ERROR else [])
            if len(streak) >= self.spec.max_consecutive_errors:
                return RunState.ABORTED, self._abort(streak)
            self._catch_up_induction()
        return RunState.COMPLETED, "all issues processed"

    def _attempt(self, issue: Issue, index: int) -> Experience | None:
        """One issue, start to commit; None when a stop interrupted it (nothing is recorded)."""
        started = time.monotonic()
        workflows = list(self.memory.workflows) if self.spec.memory == "on" else []
        self.emit(ev.IssueStarted(issue.instance_id, index, len(self.issues), tuple(w.id for w in workflows),
                                  self.memory.round))
        timings: dict[str, float] = {}
        agent: AgentResult | None = None
        evaluation: EvalResult | None = None
        workspace = None
        try:
            t = time.monotonic()
            workspace = self.parts.workspace.open(issue)
            timings["workspace"] = time.monotonic() - t
            agent = self.parts.agent.run(
                issue, workspace, self.memory.render(workflows),
                lambda kind, tool, text: self.emit(ev.AgentEvent(issue.instance_id, kind, tool, text)),
                self.store.log_path(issue.instance_id), self.store.trajectory_path(issue.instance_id),
                self.stop_requested,
            )
            timings["agent_setup"], timings["model_wait"], timings["tool"] = agent.setup_s, agent.model_wait_s, agent.tool_s
            t = time.monotonic()
            self._report_leftovers(issue, workspace.close())
            timings["workspace"] += time.monotonic() - t
            if agent.status == AgentStatus.CANCELLED or (self.stop_requested.is_set()
                                                         and agent.status != AgentStatus.FINISHED):
                return None
            if agent.status != AgentStatus.ERROR:
                evaluation = self.parts.evaluator.evaluate(issue, agent.patch, self.store.eval / issue.instance_id)
                timings["tests"] = evaluation.test_s
                timings["evaluation"] = max(0.0, evaluation.duration_s - evaluation.test_s)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - one issue's crash is that issue's ERROR, not the run's end
            evaluation = EvalResult(Status.ERROR, reason=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            if workspace is not None:
                self._report_leftovers(issue, workspace.close())
        experience = self._experience(issue, agent, evaluation, workflows, started, timings)
        self.store.commit(experience)
        self.experiences.append(experience)
        self.buffer.add(experience)
        t = time.monotonic()
        self._write_views(RunState.RUNNING, "", snapshot=len(self.experiences) % self.spec.checkpoint_interval == 0)
        timings["bookkeeping"] = time.monotonic() - t
        timings["bookkeeping"] += max(0.0, (time.monotonic() - started) - sum(timings.values()))
        self.emit(ev.IssueFinished(
            instance_id=issue.instance_id, index=index, total=len(self.issues), status=experience.status,
            reason=experience.reason, cost=experience.cost, steps=experience.steps,
            duration_s=experience.duration_s, stats=self.stats(), timings={k: round(v, 4) for k, v in timings.items()},
            experience=experience,
        ))
        return experience

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

    def _experience(self, issue, agent, evaluation, workflows, started, timings) -> Experience:
        if agent is not None and agent.status == AgentStatus.ERROR:
            status, reason = Status.ERROR, f"agent: {agent.error}"
        elif evaluation is None:
            status, reason = Status.ERROR, "no evaluation result"
        else:
            status, reason = evaluation.status, evaluation.reason
            if agent is not None and agent.status not in (AgentStatus.FINISHED, "") and status != Status.PASS:
                reason = f"{reason} (the agent stopped: {agent.status})".strip()
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

    def _catch_up_induction(self) -> None:
        """Run every induction round the successes call for and memory does not have yet (after a kill
        during induction, this is where the missing round is redone)."""
        while (self.spec.memory == "on" and self.memory.round < self.buffer.rounds_due()
               and not self.stop_requested.is_set()):
            round_number = self.memory.round + 1
            batch = self.buffer.batch(round_number)
            ids = [e.instance_id for e in batch]
            self.emit(ev.InductionStarted(round_number, tuple(ids)))
            started = time.monotonic()
            try:
                induced, reply = self.parts.inducer.induce(round_number, batch, self.memory.workflows)
            except Exception as exc:  # noqa: BLE001 - a failed round is retried after the next issue
                self.emit(ev.InductionFinished(round_number, (), tuple(self.memory.ids()),
                                               error=describe_fault(exc)[:300],
                                               duration_s=round(time.monotonic() - started, 4)))
                return
            new = self.memory.add_round(round_number, induced, ids, usage={
                "cost": round(reply.cost, 6), "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens})
            self.emit(ev.InductionFinished(
                round_number, tuple(new), tuple(self.memory.ids()),
                error="" if induced else "the reply held no workflows; memory unchanged",
                duration_s=round(time.monotonic() - started, 4),
            ))

    def _abort(self, streak: list[Experience]) -> str:
        """Too many errors of one cause in a row: forget those attempts (they are redone on resume) and stop."""
        drop = {e.instance_id for e in streak}
        self.experiences = [e for e in self.experiences if e.instance_id not in drop]
        self.store.rewrite_journal(self.experiences)
        spec_file = self.store.spec_path() or "the spec"
        return (
            f"stopped after {len(streak)} consecutive errors with the same cause: {streak[-1].reason}. "
            f"Fix the cause (the model's address and key: field `llm` of {spec_file}; or the environment) and "
            f"resume with `awm-tui --no-ui --resume {self.store.dir}`; those {len(streak)} issues will be redone."
        )

    # views
    def stats(self) -> Stats:
        return Stats.compute(self.experiences, len(self.issues), len(self.memory.workflows), self.memory.round,
                             self._elapsed_base + time.monotonic() - self._started, self.memory.induction_usage())

    def _write_views(self, status: RunState, message: str, snapshot: bool) -> None:
        stats = self.stats()
        model = self.spec.llm.model
        self.store.write_predictions(self.experiences, model)
        path = self.store.write_checkpoint(stats, [i.instance_id for i in self.issues],
                                           [e.instance_id for e in self.experiences], status, self.spec.name,
                                           model, message)
        if snapshot:
            self.store.write_result(self.experiences, self.memory.workflows, stats)
            self.emit(ev.CheckpointSaved(str(path), stats.processed))


def _cause(reason: str) -> str:
    """A reason with its ids and numbers blanked, so the same failure on two issues compares equal."""
    reason = re.sub(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "<id>", reason)
    return re.sub(r"\d+", "#", reason)[:160]


def _same_cause(streak: list[Experience], experience: Experience) -> bool:
    return bool(streak) and experience.status == Status.ERROR and _cause(streak[-1].reason) == _cause(experience.reason)
