"""The run's parts, assembled once from the spec: the issues, where the agent works, the agent, the grader, the
inducer, and (for the demo) the scripted model server. The loop only loops over them; tests hand it stub parts."""

from __future__ import annotations

import dataclasses
import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from awm import demo
from awm.agent.runner import AgentResult, AgentRunner
from awm.agent.workspace import OpenWorkspace, Workspace, make_workspace, remove_work_root, work_root
from awm.dataset import load_issues
from awm.errors import UserError
from awm.grading.backends import make_evaluator
from awm.grading.base import Evaluator
from awm.memory.induction import Inducer
from awm.model.client import completer
from awm.paths import repo_cache_root
from awm.records import Issue
from awm.repos import RepoCache
from awm.run.store import RunStore
from awm.spec import RunSpec


class Agent(Protocol):
    def warm_up(self) -> None:
        """Import or start what the first issue would otherwise wait for."""

    def run(self, issue: Issue, workspace: OpenWorkspace, memory_block: str,
            on_event: Callable[[str, str, str], None], log_path: Path, trajectory_path: Path,
            cancel: threading.Event | None = None) -> AgentResult: ...


@dataclass
class Parts:
    spec: RunSpec  # as run: the demo's model address filled in
    issues: list[Issue]
    workspace: Workspace
    agent: Agent
    evaluator: Evaluator
    inducer: Inducer
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def warm_up(self) -> None:
        self.agent.warm_up()
        self.evaluator.warm_up()

    def close(self) -> None:
        while self.on_close:
            self.on_close.pop()()


def assemble(spec: RunSpec, store: RunStore, issues: list[Issue] | None = None, *, check_model: bool = True) -> Parts:
    """Every part the spec asks for. A model that refuses its key or cannot be reached is refused here (field
    `llm`), before the first issue; the demo's scripted model is started here."""
    cache = RepoCache(repo_cache_root(), spec.repos)
    cache.clear_debris()
    root = work_root(store.dir)
    evaluator = make_evaluator(spec.evaluation, cache, root, run_dir=store.dir, run_tag=store.run_id,
                               model_name=spec.llm.model)
    issues = load_issues(spec.dataset) if issues is None else issues
    if not issues:
        raise UserError(f"no issues match (dataset {spec.dataset.name}, split {spec.dataset.split}, repo_filter "
                        f"{spec.dataset.repo_filter}). Check the filter, the split and the instance ids.",
                        field="dataset")
    on_close: list[Callable[[], None]] = []
    if demo.is_scripted(spec.llm.model):
        server = demo.start_model_server(store.dir / "scripted_requests.jsonl")
        on_close.append(server.stop)
        spec = dataclasses.replace(spec, llm=dataclasses.replace(spec.llm, base_url=server.base_url))
    elif check_model:
        from awm.model.check import check_model as check

        check(spec.llm)
    on_close.append(functools.partial(remove_work_root, root))  # the checkouts and grading folders go with the run
    return Parts(
        spec=spec,
        issues=issues,
        workspace=make_workspace(spec, cache, root),
        agent=AgentRunner(spec.agent, spec.llm, scrub=store.scrub),
        evaluator=evaluator,
        inducer=Inducer(completer(spec.llm), store.induction),
        on_close=on_close,
    )
