"""The run's parts, assembled once from the spec: the issues, where the agent works, the agent, the grader, the
inducer, memory (awm.run.memory: made by the engine once the run's files are verified), and (for the demo) the
scripted model server. The loop only loops over them; tests hand it stub parts."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from awm import demo
from awm.agent.limits import Cancel
from awm.agent.runner import AgentResult, AgentRunner
from awm.agent.workspace import OpenWorkspace, Workspace, make_workspace, remove_work_root, work_root
from awm.dataset import load_issues
from awm.errors import UserError
from awm.grading.backends import make_evaluator
from awm.grading.base import Evaluator
from awm.memory.adherence import AdherenceJudge
from awm.memory.induction import Inducer
from awm.memory.judge import Judge
from awm.memory.retrieval import EmbeddingRetriever, Retriever, litellm_embedder, make_retriever
from awm.model.client import completer, completion_kwargs, count_tokens
from awm.paths import repo_cache_root
from awm.records import Issue, Status
from awm.repos import RepoCache
from awm.run.memory import MemoryFactory, MemorySources, make_memory
from awm.run.store import RunStore
from awm.spec import LLMSpec, RunSpec


class Agent(Protocol):
    def warm_up(self) -> None:
        """Import or start what the first issue would otherwise wait for."""

    def run(self, issue: Issue, workspace: OpenWorkspace, memory_block: str,
            on_event: Callable[..., None], log_path: Path, trajectory_path: Path,
            cancel: Cancel | None = None) -> AgentResult:
        """`on_event(kind, tool, text, progress=None)` for each of the agent's events; `progress` (an
        awm.agent.recorder.Progress: steps, cost and tokens so far) when the agent knows it."""


@dataclass
class Parts:
    spec: RunSpec  # as run: the demo's model address filled in
    issues: list[Issue]
    workspace: Workspace
    agent: Agent
    evaluator: Evaluator
    inducer: Inducer
    on_close: list[Callable[[], None]] = field(default_factory=list)
    retriever: Retriever | None = None  # None: from the spec (memory.retrieval)
    count: Callable[[str], int] | None = None  # tokens of a text for the agent's model; None: litellm's counter
    judge: Judge | None = None  # induction.success with a judge
    sources: MemorySources | None = None  # warm start and baseline run, read once
    notices: list[str] = field(default_factory=list)  # warnings for the run's start line (an unconfined agent)
    adherence: AdherenceJudge | None = None  # memory.adherence: judge
    memory: MemoryFactory | None = None  # None: awm.run.memory.make_memory (what memory.enabled asks for)

    def warm_up(self) -> None:
        self.agent.warm_up()
        self.evaluator.warm_up()
        warm_workspace = getattr(self.workspace, "warm_up", None)  # the Docker agent server's volume, built once
        if warm_workspace is not None:
            warm_workspace()

    def close(self) -> None:
        while self.on_close:
            self.on_close.pop()()


def memory_sources(spec: RunSpec, this_run: Path | None = None) -> MemorySources:
    """`memory.from` (a run by name or folder, or a memory.json) and `memory.baseline_run` (a run), read; a name
    that finds nothing, or a memory.json that is damaged (not JSON, not the shape a run writes), is a UserError
    naming the field and the file (never rebuilt: it is another run's)."""
    from awm import atomic
    from awm.memory.store import read_memory
    from awm.run.store import find_run

    sources = MemorySources()
    given = spec.memory.start_from
    if given:
        path = Path(given).expanduser()
        if not (path.is_file() and path.suffix == ".json"):
            run = find_run(given)
            path = RunStore(run).memory_path if run else path
        try:
            data = read_memory(path) if path.is_file() else None
        except atomic.Unreadable as exc:
            raise UserError(f"`memory.from: {given}`: its memory {path} is damaged ({exc}), so the run cannot start "
                            "from it. Restore that file, or give another run (its folder or name) or memory.json.",
                            field="memory.from") from None
        if not isinstance(data, dict) or not isinstance(data.get("workflows"), list):
            raise UserError(f"`memory.from: {given}` names no memory: neither a memory.json of a run nor a run (by "
                            "folder or name) with one. Give a run's folder or name, or the path of its memory.json.",
                            field="memory.from")
        sources.seed, sources.seed_label = data, str(path.resolve())
    baseline = spec.memory.baseline_run
    if baseline:
        run = find_run(baseline)
        if run is None or (this_run is not None and run.resolve() == this_run.resolve()):
            raise UserError(f"`memory.baseline_run: {baseline}` names no other run (looked for a folder with "
                            "config.json, and a run of that name). Give the folder or name of a `memory: off` run "
                            "on the same instances.", field="memory.baseline_run")
        store = RunStore(run)
        sources.baseline = {e.instance_id: str(e.status) for e in store.finished(repair=False)}
        sources.baseline_label = str(run.resolve())
    return sources


def model_counter(llm: LLMSpec) -> Callable[[str], int]:
    """Tokens of a text as the model counts them (litellm's tokenizer for the model; the scripted demo model: the
    OpenAI default)."""
    from awm.model.client import model_name

    name = model_name(llm)
    return lambda text: count_tokens(text, name)


def make_parts_retriever(spec: RunSpec) -> Retriever:
    """The ranker memory.retrieval names; `embedding` calls litellm's embedding API at the model's address, key
    (transient faults retried by litellm, `llm.num_retries`, as the model's completions are)."""
    embed = None
    if spec.memory.retrieval == "embedding" and spec.memory.embedding_model:  # (make_retriever refuses none)
        llm = spec.llm
        kwargs = {"api_key": completion_kwargs(llm)["api_key"], "api_base": llm.base_url,
                  "api_version": llm.api_version, "timeout": llm.timeout,
                  "custom_llm_provider": llm.custom_llm_provider, "num_retries": llm.num_retries}
        embed = litellm_embedder(spec.memory.embedding_model, **{k: v for k, v in kwargs.items() if v is not None})
    return make_retriever(spec.memory.retrieval, spec.memory.embedding_model, embed)


def assemble(spec: RunSpec, store: RunStore, issues: list[Issue] | None = None, *, check_model: bool = True,
             sources: MemorySources | None = None, cache: RepoCache | None = None, checked: bool = False) -> Parts:
    """Every part the spec asks for. A model that refuses its key or cannot be reached is refused here (field
    `llm`), before the first issue; the demo's scripted model is started here. `cache`: the run's repository cache
    (made from the spec when not given); `checked`: awm.run.launch.preflight has checked the agent's workspace and
    the grader (Docker, agent servers, Modal), so they are not asked again."""
    cache = cache or RepoCache(repo_cache_root(), spec.repos)
    cache.clear_debris()
    root = work_root(store.dir)
    evaluator = make_evaluator(spec.evaluation, cache, root, run_dir=store.dir, run_tag=store.run_id,
                               model_name=spec.llm.model, check=not checked)
    issues = load_issues(spec.dataset) if issues is None else issues
    if not issues:
        raise UserError(f"no issues match (dataset {spec.dataset.name}, split {spec.dataset.split}, repo_filter "
                        f"{spec.dataset.repo_filter}). Check the filter, the split and the instance ids.",
                        field="dataset")
    on_close: list[Callable[[], None]] = []
    sources = memory_sources(spec, store.dir) if sources is None else sources
    if demo.is_scripted(spec.llm.model):
        server = demo.start_model_server(store.scripted_requests_path, model=spec.llm.model,
                                         latency_s=spec.llm.scripted_latency_s)
        on_close.append(server.stop)
        spec = dataclasses.replace(spec, llm=dataclasses.replace(spec.llm, base_url=server.base_url))
        if spec.induction.llm is not None and demo.is_scripted(spec.induction.llm.model):
            spec = dataclasses.replace(spec, induction=dataclasses.replace(
                spec.induction, llm=dataclasses.replace(spec.induction.llm, base_url=server.base_url)))
    elif check_model:
        from awm.model.check import check_model as check

        check(spec.llm)
        if spec.induction.llm is not None and spec.induction.llm != spec.llm:
            check(spec.induction.llm)
    on_close.append(functools.partial(remove_work_root, root))  # the checkouts and grading folders go with the run
    inducing = spec.induction.llm or spec.llm  # the model that induces, merges and judges
    count = model_counter(inducing)
    judge = None
    if spec.induction.success != "tests" and not spec.memory.frozen:  # frozen memory learns nothing from a verdict
        judge = Judge(completer(inducing), store.dir, budget_tokens=spec.induction.budget_tokens, count=count)
    retriever = make_parts_retriever(spec) if spec.memory.retrieves else None
    if check_model and spec.memory.retrieves and spec.memory.retrieval == "embedding" and spec.memory.embedding_model:
        from awm.model.check import check_embedding_model

        dims = check_embedding_model(spec.memory.embedding_model, spec.llm)  # field memory.embedding_model
        if dims is not None and isinstance(retriever, EmbeddingRetriever):
            retriever.dims = dims  # later answers of another size are a fault
    workspace = make_workspace(spec, cache, root, run_dir=store.dir, check=not checked)
    if hasattr(workspace, "close"):  # a pool of agent servers, a runtime API client
        on_close.append(workspace.close)
    return Parts(
        spec=spec,
        issues=issues,
        workspace=workspace,
        agent=AgentRunner(spec.agent, spec.llm, scrub=store.scrub, budget=spec.budget),
        evaluator=evaluator,
        inducer=Inducer(completer(inducing), store.induction, budget_tokens=spec.induction.budget_tokens, count=count),
        on_close=on_close,
        retriever=retriever,
        count=model_counter(spec.llm),
        judge=judge,
        sources=sources,
        notices=[notice] if (notice := getattr(workspace, "notice", "")) else [],
        adherence=AdherenceJudge(completer(inducing), store.dir, budget_tokens=spec.induction.budget_tokens,
                                 count=count) if spec.memory.on and spec.memory.adherence == "judge" else None,
        memory=make_memory,
    )


def success(experience_status: Status, judge: dict | None, rule: str) -> bool:
    """Whether an attempt counts as solved for memory (induction.success): the hidden tests passed, the judge says
    so, or both."""
    tests = experience_status == Status.PASS
    judged = judge is not None and judge.get("verdict") == "PASS"
    return {"tests": tests, "judge": judged, "tests+judge": tests and judged}[rule]
