"""The online loop: issues one at a time — memory snapshot, agent, patch, evaluation, experience, buffer,
induction when due — with every step reported as an event and every finished issue committed at once."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
import threading
import time
from pathlib import Path

from awm import events as ev
from awm.agent import AgentResult, AgentRunner
from awm.buffer import ExperienceBuffer
from awm.dataset import load_issues
from awm.errors import UserError
from awm.evaluation import EvalResult, Evaluator, make_evaluator
from awm.induction import Complete, Inducer, litellm_complete
from awm.locations import repo_cache_root
from awm.memory import WorkflowMemory
from awm.runstore import RunStore
from awm.spec import RunSpec
from awm.stats import Stats
from awm.types import Experience, Issue, Status
from awm.workspace import RepoCache, remove


class Engine:
    """Runs one run spec in one run folder. Thread-safe controls: `pause()` stops after the issue in flight,
    `stop()` also interrupts the agent (the interrupted issue is redone on resume)."""

    def __init__(
        self,
        spec: RunSpec,
        store: RunStore,
        subscribers: list[ev.Subscriber] | None = None,
        *,
        issues: list[Issue] | None = None,
        agent: AgentRunner | None = None,
        evaluator: Evaluator | None = None,
        complete: Complete | None = None,
        cache: RepoCache | None = None,
    ):
        self.spec = spec
        self.store = store
        self.subscribers = list(subscribers or [])
        self._issues = issues
        self._agent = agent
        self._evaluator = evaluator
        self._complete = complete
        self.cache = cache or RepoCache(repo_cache_root(), spec.repos, spec.path)
        self.pause_requested = threading.Event()
        self.stop_requested = threading.Event()
        self.experiences: list[Experience] = []
        self.memory = WorkflowMemory.load(spec.induction.max_workflows, store.memory_path)
        self.buffer = ExperienceBuffer(spec.induction.trigger, store.buffer_path)
        self.issues: list[Issue] = []
        self._elapsed_base = 0.0
        self._started = time.monotonic()
        self._server = None

    # controls (any thread)
    def pause(self) -> None:
        self.pause_requested.set()

    def stop(self) -> None:
        self.pause_requested.set()
        self.stop_requested.set()

    def emit(self, event: ev.Event) -> None:
        for subscriber in self.subscribers:
            subscriber(event)

    # the run
    def run(self) -> ev.RunFinished:
        with self.store.lock():
            try:
                self._prepare()
                outcome, message = self._loop()
            finally:
                if self._server is not None:
                    self._server.stop()
            self._write_views(outcome, message, snapshot=True)
        finished = ev.RunFinished(outcome=outcome, message=message, stats=self.stats(), run_dir=str(self.store.dir))
        self.emit(finished)
        return finished

    def _prepare(self) -> None:
        self._evaluator = self._evaluator or make_evaluator(
            self.spec.evaluation, self.cache, self._work_root(), run_dir=self.store.dir, run_tag=self.store.run_id,
            model_name=self.spec.llm.model, spec_path=self.spec.path)
        self.issues = self._issues if self._issues is not None else load_issues(self.spec.dataset, self.spec.path)
        if not self.issues:
            raise UserError(
                f"{self.spec.path or '<spec>'}, field `dataset`: no issues match (dataset {self.spec.dataset.name}, "
                f"split {self.spec.dataset.split}, repo_filter {self.spec.dataset.repo_filter}). Check the filter, "
                "the split and the instance ids."
            )
        wanted = {i.instance_id for i in self.issues}
        self.experiences = [e for e in self.store.finished() if e.instance_id in wanted]
        for exp in self.experiences:
            self.buffer.experiences.append(exp) if exp.status == Status.PASS else None
        self.buffer.save()
        self._elapsed_base = self.store.elapsed()
        if self.spec.llm.scripted:
            from awm.scripted import ScriptedServer

            self._server = ScriptedServer(record_path=self.store.dir / "scripted_requests.jsonl")
            base_url = self._server.start()
            self.spec = dataclasses.replace(self.spec, llm=dataclasses.replace(self.spec.llm, base_url=base_url))
        elif self._agent is None:
            from awm.model_check import check_model

            check_model(self.spec)
        self._agent = self._agent or AgentRunner(self.spec)
        self._complete = self._complete or litellm_complete(self.spec.llm)
        self._inducer = Inducer(self._complete, self.store.induction)
        for part in (self._agent, self._evaluator):
            getattr(part, "warm_up", lambda: None)()
        self._started = time.monotonic()  # elapsed counts the run's work, not this process's start-up
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
        self._catch_up_induction()

    def _loop(self) -> tuple[str, str]:
        done = {e.instance_id for e in self.experiences}
        streak: list[Experience] = []
        for index, issue in enumerate(self.issues, 1):
            if issue.instance_id in done:
                continue
            if self.pause_requested.is_set():
                return "paused", "paused by request; resume to continue"
            experience = self._attempt(issue, index)
            if experience is None:
                return "paused", f"stopped during {issue.instance_id}; it will be redone on resume"
            streak = streak + [experience] if _same_cause(streak, experience) else (
                [experience] if experience.status == Status.ERROR else [])
            if len(streak) >= self.spec.max_consecutive_errors:
                return "aborted", self._abort(streak)
            self._catch_up_induction()
        return "completed", "all issues processed"

    def _attempt(self, issue: Issue, index: int) -> Experience | None:
        started = time.monotonic()
        workflows = list(self.memory.workflows) if self.spec.memory == "on" else []
        self.emit(ev.IssueStarted(issue.instance_id, index, len(self.issues), tuple(w.id for w in workflows),
                                  self.memory.round))
        timings: dict[str, float] = {}
        workdir = self._work_root() / issue.instance_id / issue.repo.split("/")[-1]
        agent: AgentResult | None = None
        evaluation: EvalResult | None = None
        try:
            t = time.monotonic()
            if self.spec.agent.workspace == "local":  # a docker workspace has the repository in its image
                self.cache.checkout(issue.repo, issue.base_commit, workdir, isolated=True)
            timings["workspace"] = time.monotonic() - t
            agent = self._agent.run(
                issue, workdir, self.memory.render(workflows),
                lambda kind, tool, text: self.emit(ev.AgentEvent(issue.instance_id, kind, tool, text)),
                self.store.log_path(issue.instance_id), self.store.trajectory_path(issue.instance_id),
                self.stop_requested,
            )
            timings["agent_setup"], timings["model_wait"], timings["tool"] = agent.setup_s, agent.model_wait_s, agent.tool_s
            t = time.monotonic()
            remove(workdir.parent)
            timings["workspace"] += time.monotonic() - t
            if agent.status == "cancelled" or (self.stop_requested.is_set() and agent.status != "finished"):
                return None
            if agent.status != "error":
                evaluation = self._evaluator.evaluate(issue, agent.patch, self.store.eval / issue.instance_id)
                timings["tests"] = evaluation.test_s
                timings["evaluation"] = max(0.0, evaluation.duration_s - evaluation.test_s)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - one issue's crash is that issue's ERROR, not the run's end
            evaluation = EvalResult(Status.ERROR, reason=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            remove(workdir.parent)
        experience = self._experience(issue, agent, evaluation, workflows, started, timings)
        self.store.commit(experience)
        self.experiences.append(experience)
        self.buffer.add(experience)
        t = time.monotonic()
        self._write_views("running", "", snapshot=len(self.experiences) % self.spec.checkpoint_interval == 0)
        timings["bookkeeping"] = time.monotonic() - t
        timings["bookkeeping"] += max(0.0, (time.monotonic() - started) - sum(timings.values()))
        self.emit(ev.IssueFinished(
            instance_id=issue.instance_id, index=index, total=len(self.issues), status=experience.status,
            reason=experience.reason, cost=experience.cost, steps=experience.steps,
            duration_s=experience.duration_s, stats=self.stats(), timings={k: round(v, 4) for k, v in timings.items()},
            experience=experience,
        ))
        return experience

    def _experience(self, issue, agent, evaluation, workflows, started, timings) -> Experience:
        if agent is not None and agent.status == "error":
            status, reason = Status.ERROR, f"agent: {agent.error}"
        elif evaluation is None:
            status, reason = Status.ERROR, "no evaluation result"
        else:
            status, reason = evaluation.status, evaluation.reason
            if agent is not None and agent.status not in ("finished", "") and status != Status.PASS:
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
            agent_status=agent.status,
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
                induced, _ = self._inducer.induce(round_number, batch, self.memory.workflows)
            except Exception as exc:  # noqa: BLE001 - a failed round is retried after the next issue
                self.emit(ev.InductionFinished(round_number, (), tuple(self.memory.ids()),
                                               error=f"{type(exc).__name__}: {str(exc)[:300]}",
                                               duration_s=round(time.monotonic() - started, 4)))
                return
            new = self.memory.add_round(round_number, induced, ids)
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
        return (
            f"stopped after {len(streak)} consecutive errors with the same cause: {streak[-1].reason}. "
            f"Fix the cause (the model's address and key in {self.spec.path or 'the spec'}, field `llm`, or the "
            f"environment) and resume with `awm-tui --no-ui --resume {self.store.dir}`; those "
            f"{len(streak)} issues will be redone."
        )

    # views
    def stats(self) -> Stats:
        return Stats.compute(self.experiences, len(self.issues), len(self.memory.workflows),
                             self.memory.round, self._elapsed_base + time.monotonic() - self._started)

    def _write_views(self, status: str, message: str, snapshot: bool) -> None:
        stats = self.stats()
        model = self.spec.llm.model
        self.store.write_predictions(self.experiences, model)
        path = self.store.write_checkpoint(stats, [i.instance_id for i in self.issues],
                                           [e.instance_id for e in self.experiences], status, self.spec.name,
                                           model, message)
        if snapshot:
            self.store.write_result(self.experiences, self.memory.workflows, stats)
            self.emit(ev.CheckpointSaved(str(path), stats.processed))

    def _work_root(self) -> Path:
        # Same length for every run, so prompts (and their token counts) do not depend on the run's name.
        tag = hashlib.sha1(str(self.store.dir).encode()).hexdigest()[:10]
        root = Path(tempfile.gettempdir()) / f"awm-{tag}"
        root.mkdir(parents=True, exist_ok=True)
        return root


def _cause(reason: str) -> str:
    """A reason with its ids and numbers blanked, so the same failure on two issues compares equal."""
    reason = re.sub(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "<id>", reason)
    return re.sub(r"\d+", "#", reason)[:160]


def _same_cause(streak: list[Experience], experience: Experience) -> bool:
    return bool(streak) and experience.status == Status.ERROR and _cause(streak[-1].reason) == _cause(experience.reason)


def preflight(spec: RunSpec) -> None:
    """What can be refused before anything is written: a Docker backend with no Docker engine is a message now,
    not an ERROR at issue 1."""
    if spec.agent.workspace == "docker":
        from awm import sandbox

        sandbox.check_available(spec)
    if spec.evaluation.backend == "swebench-docker":
        from awm.harness import HarnessEvaluator

        HarnessEvaluator(Path("."), "preflight", 1, spec.llm.model).check_available(spec.path)


def prepare_engine(spec: RunSpec, subscribers: list[ev.Subscriber], resume: str | None = None,
                   output_dir: str | None = None) -> Engine:
    """An engine for a new or resumed run, with everything that can be refused (no Docker engine, an unreadable
    dataset, a resume that changes the run) refused before a run folder is made or touched."""
    preflight(spec)
    issues = load_issues(spec.dataset, spec.path)
    return Engine(spec, open_run(spec, resume, output_dir), subscribers, issues=issues)


def open_run(spec: RunSpec, resume: str | None = None, output_dir: str | None = None) -> RunStore:
    """The store for a new run, or for the run being resumed (refused if the spec changes its meaning)."""
    preflight(spec)
    if resume:
        store = RunStore.open(resume)
        store.check_resumable(spec)
        return store
    return RunStore.create(spec, output_dir)

