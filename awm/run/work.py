"""One issue's work, in a worker thread: a workspace, the agent with what memory gave it, grading, the adherence
score and the judge. It touches nothing the other issues share; the loop commits what it returns, in the main thread.

An agent server that stops answering under an issue (awm.agent.remote) is out of the run, and the issue starts
again on another; what the lost attempt spent is handed to the loop (`redone`) to count."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from awm.agent.remote import NoServerLeft, ServerLost
from awm.agent.runner import AgentResult, AgentStatus
from awm.errors import UserError
from awm.grading.base import EvalResult
from awm.memory import adherence
from awm.memory.retrieval import Selection
from awm.records import Experience, Issue, Status, Workflow
from awm.run import disk
from awm.run import events as ev
from awm.run.diagnoses import PROTOCOL_CAUSES, Diagnoses, protocol_failure
from awm.run.parts import Parts, success
from awm.run.store import RunStore

LOST_LIMIT = 3  # agent servers lost under one issue (in one session) that stop the run


@dataclass(frozen=True)
class Interrupted:
    """An issue a stop interrupted: nothing of it is recorded (it is redone) but what its agent spent."""

    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Start:
    """An issue as it started, in the main thread: what memory gave it, memory's round then, how many issues were
    in flight (its staleness), and when."""

    selection: Selection
    round: int
    staleness: int
    started: float


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


def _broke(agent: AgentResult) -> bool:
    """The attempt itself broke (an ERROR, not graded): the agent failed, or the issue's time ran out while the
    model did not answer (a hung model is the setup's fault, not the agent's, and its streak must stop the run)."""
    return agent.status == AgentStatus.ERROR or (agent.status == AgentStatus.TIMEOUT and agent.hung)


class Work:
    """Does issues' work for one run, any number at a time (each call keeps its state to itself)."""

    def __init__(self, parts: Parts, store: RunStore, emit: Callable[[ev.Event], None], stop: threading.Event,
                 diagnoses: Diagnoses) -> None:
        self.parts, self.spec, self.store, self.emit, self.stop = parts, parts.spec, store, emit, stop
        self.diagnoses = diagnoses
        self.redone: deque[tuple] = deque()  # attempts redone on another agent server: their spend, for the loop

    def __call__(self, issue: Issue, index: int, start: Start) -> tuple[Experience, float] | Interrupted:
        """One issue's work: workspace, agent, grading, the judge.

        Args:
            issue: the issue.
            index: its position in the run (1-based).
            start: what it started with (Start).

        Returns:
            The experience and when it ended, or Interrupted when a stop interrupted it (only its spend is recorded).

        Raises:
            UserError: no agent server is left, or one issue lost LOST_LIMIT of them (the issue is redone on
                resume); disk.DiskFull: the disk filled up (the run's pause, not the issue's ERROR).
        """
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
                    issue, workspace, start.selection.block,
                    lambda kind, tool, text, progress=None: self.emit(ev.AgentEvent(
                        issue.instance_id, kind, tool, self.store.scrub(text), *(
                            (progress.steps, progress.cost, progress.tokens) if progress is not None else ()))),
                    self.store.log_path(issue.instance_id), self.store.trajectory_path(issue.instance_id),
                    _Halt(self.stop, workspace) if getattr(workspace, "watch", False)
                    else self.stop,  # a watched agent server: also ended when the server is lost
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
                if self.stop.is_set():
                    return Interrupted()
            self._note_losses(issue, losses)
            if agent.status == AgentStatus.CANCELLED or (self.stop.is_set() and agent.status != AgentStatus.FINISHED):
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
            raise self.diagnoses.no_server_left(gone) from None
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
        return self._judged(issue, index, start, agent, evaluation, timings), time.monotonic()

    def _judged(self, issue: Issue, index: int, start: Start, agent: AgentResult | None,
                evaluation: EvalResult | None, timings: dict[str, float]) -> Experience:
        """The experience, with what memory gave it, how closely the agent followed it, and the judge's verdict."""
        selection = start.selection
        protocol = protocol_failure(agent)
        experience = self._experience(issue, agent, evaluation, selection.entries, start, timings, protocol)
        experience.position, experience.staleness = index, start.staleness
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
        return experience

    def _server_lost(self, issue: Issue, server: str, reason: str, losses: list[str], agent: AgentResult | None,
                     kept: bool = False) -> None:
        """An agent server stopped answering while `issue` was on it (it is out of the pool already): said in the
        log; what a redone attempt spent is counted (recorded by the main thread: `redone`). After LOST_LIMIT
        losses under one issue the run stops (a UserError): its agent may be what kills them."""
        iid = issue.instance_id
        if agent is not None and not kept:
            self.redone.append((iid, "redone: its agent server stopped answering", agent.cost, agent.prompt_tokens,
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
            raise self.diagnoses.servers_lost(iid, len(losses), server, reason, pooled=pool is not None)

    def _note_losses(self, issue: Issue, losses: list[str]) -> None:
        """The servers lost under the issue, at the end of its log (the attempt there is the last one)."""
        log = self.store.log_path(issue.instance_id)
        if losses and log.exists():
            with open(log, "a", encoding="utf-8") as f:
                f.writelines(f"# {text}\n" for text in losses)

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

    def _experience(self, issue: Issue, agent: AgentResult | None, evaluation: EvalResult | None,
                    workflows: list[Workflow], start: Start, timings: dict[str, float], protocol: str) -> Experience:
        if agent is not None and _broke(agent):
            status, reason = Status.ERROR, f"agent: {agent.error}"
        elif evaluation is None:
            status, reason = Status.ERROR, "no evaluation result"
        else:
            status, reason = evaluation.status, evaluation.reason
            if agent is not None and agent.status not in (AgentStatus.FINISHED, "") and status != Status.PASS:
                why = agent.error if agent.status == AgentStatus.BUDGET and agent.error else agent.status
                if agent.status == AgentStatus.BUDGET:
                    why = self.diagnoses.issue_overshoot(agent) or why
                reason = f"{reason} (the agent stopped: {why})".strip()
        if protocol:
            detail = (agent.protocol_detail if agent is not None else "")[:200]
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
            duration_s=round(time.monotonic() - start.started, 3),
            timings={k: round(v, 4) for k, v in timings.items()},
            workflow_ids=[w.id for w in workflows],
            memory_round=start.round,
            agent_status=str(agent.status),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
