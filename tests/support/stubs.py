"""The engine's stub parts and a run built from them, for the tests that run the real loop (awm.run.loop.Engine)
in-process and in milliseconds: a workspace, an agent and an evaluator scripted per issue number, a model that
answers induction with one workflow (WORKFLOW_REPLY), and `make_run` putting them in a run folder of the test's own
(`Run.engine()` builds the Engine over them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from awm.agent.runner import AgentResult, AgentStatus
from awm.grading.base import EvalResult
from awm.memory.induction import Inducer
from awm.model.client import Completion
from awm.records import Issue, Status
from awm.run import events as ev
from awm.run.loop import Controls, Engine
from awm.run.parts import Parts
from awm.run.store import RunStore
from awm.spec import InductionSpec, LLMSpec, MemorySpec, RunSpec

WORKFLOW_REPLY = """## Workflow: Fix an off-by-one
When to use: a range or index is one off.
Steps:
1. Find the loop — `grep -n "range(" {file}`
2. Run the tests — `pytest {test}`
"""


def issue(n: int) -> Issue:
    """Issue number `n` of the stub repository acme/app."""
    return Issue(instance_id=f"acme__app-{n}", repo="acme/app", base_commit="abc", problem_statement=f"bug {n}")


@dataclass
class Checkout:
    instance_id: str
    closed: int = 0
    repo_path: str = "/work/app"
    terminal: str = "subprocess"
    shell_env: dict = field(default_factory=dict)

    def conversation_workspace(self):
        return self.repo_path

    def interrupt(self, hard):
        pass

    def patch(self):
        return f"diff {self.instance_id}"

    def close(self):
        self.closed += 1
        return ["pid 42: sleep 300"] if self.closed == 1 and self.instance_id.endswith("-1") else []


@dataclass
class StubWorkspace:
    name: str = "stub"
    opened: list[Checkout] = field(default_factory=list)

    def open(self, issue):
        checkout = Checkout(issue.instance_id)
        self.opened.append(checkout)
        return checkout


@dataclass
class StubAgent:
    """Per instance number: "crash" raises, "error" is an agent error with that reason, "hang" waits for the cancel
    flag (returns cancelled), "text" and "stuck" end with no tool call (a protocol failure), "weak" ends with tool
    calls and no patch; anything else finishes with a patch. `on_run(n)` runs first (to pause or stop)."""

    script: dict[int, str] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    on_run: object = None
    warmed: int = 0

    def warm_up(self):
        self.warmed += 1

    def run(self, issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        n = int(issue.instance_id.rsplit("-", 1)[1])
        self.prompts[issue.instance_id] = memory_block
        if self.on_run:
            self.on_run(n)
        on_event("action", "terminal", f"$ fix {n}")
        what = self.script.get(n, "")
        if what == "crash":
            raise RuntimeError("agent exploded")
        if what.startswith("error"):
            return AgentResult(status=AgentStatus.ERROR, error=what, cost=0.01)
        if what == "hang":
            assert cancel is not None and cancel.wait(5), "the stop request never reached the agent"
            return AgentResult(status=AgentStatus.CANCELLED)
        if what == "text":  # a reply with no tool call: the SDK ends the conversation, nothing done
            return AgentResult(status=AgentStatus.FINISHED, steps=0, cost=0.01)
        if what == "stuck":  # every tool call malformed or unknown: the stuck detector ends it
            return AgentResult(status=AgentStatus.STUCK, steps=0, cost=0.01)
        if what == "weak":  # used the tools, found nothing to change
            return AgentResult(status=AgentStatus.FINISHED, steps=7, cost=0.2)
        return AgentResult(patch=workspace.patch(), status=AgentStatus.FINISHED, steps=3, cost=0.5,
                           prompt_tokens=100, completion_tokens=10)


@dataclass
class StubEvaluator:
    """Per instance number: the verdict (default PASS), or "crash"."""

    verdicts: dict[int, str] = field(default_factory=dict)
    name: str = "stub"
    graded: list[str] = field(default_factory=list)

    def warm_up(self):
        pass

    def evaluate(self, issue, patch, out_dir):
        n = int(issue.instance_id.rsplit("-", 1)[1])
        self.graded.append(issue.instance_id)
        if not patch.strip():  # as every real backend says it
            return EvalResult(Status.FAIL, reason="the agent produced no patch")
        verdict = self.verdicts.get(n, "PASS")
        if verdict == "crash":
            raise RuntimeError("grader exploded")
        return EvalResult(Status(verdict), reason="" if verdict == "PASS" else "tests fail")


class Complete:
    """The model induction asks: WORKFLOW_REPLY each time, after `fail_times` connection failures."""

    def __init__(self, fail_times: int = 0):
        self.calls = 0
        self.fail_times = fail_times

    def __call__(self, messages):
        self.calls += 1
        if self.calls <= self.fail_times:
            raise ConnectionError("model down")
        return Completion(WORKFLOW_REPLY, cost=0.25, prompt_tokens=1000, completion_tokens=50)


@dataclass
class Run:
    """A run folder and the stub parts over it; `engine()` is a new Engine on them (a resume, after the first)."""

    spec: RunSpec
    store: RunStore
    workspace: StubWorkspace
    agent: StubAgent
    evaluator: StubEvaluator
    complete: Complete
    issues: list[Issue]
    events: list = field(default_factory=list)

    def engine(self, controls: Controls | None = None, subscribers: list[ev.Subscriber] | None = None) -> Engine:
        """An Engine over the parts, telling `subscribers` (default: `events`, which keeps every event)."""
        parts = Parts(self.spec, self.issues, self.workspace, self.agent, self.evaluator,
                      Inducer(self.complete, self.store.induction))
        return Engine(parts, self.store, [self.events.append] if subscribers is None else subscribers, controls)

    def journal(self) -> list[dict]:
        if not self.store.journal.exists():
            return []
        return [json.loads(x) for x in self.store.journal.read_text().splitlines()]

    def checkpoint(self) -> dict:
        return json.loads((self.store.dir / "checkpoint.json").read_text())


def make_run(tmp_path: Path, n: int = 6, *, memory: str = "on", trigger: int = 2, script=None, verdicts=None,
             fail_induction: int = 0) -> Run:
    """`n` issues (acme__app-1..n) in a new run folder under `tmp_path`; `script` and `verdicts` per issue number
    (StubAgent, StubEvaluator), an induction round every `trigger` successes, the first `fail_induction` failing."""
    spec = RunSpec(llm=LLMSpec(model="stub/model"), name="t",
                   induction=InductionSpec(trigger=trigger, max_workflows=10),
                   memory=MemorySpec(enabled=memory, retrieval="all"), checkpoint_interval=1, max_consecutive_errors=3)
    store = RunStore.create(spec, str(tmp_path / "run"))
    return Run(spec, store, StubWorkspace(), StubAgent(script=dict(script or {})),
               StubEvaluator(verdicts=dict(verdicts or {})), Complete(fail_induction),
               [issue(i) for i in range(1, n + 1)])


def finished(events) -> list[ev.IssueFinished]:
    """The IssueFinished events among `events`."""
    return [e for e in events if isinstance(e, ev.IssueFinished)]
