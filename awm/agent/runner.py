"""The OpenHands agent on one issue, in an open workspace: prompt, memory in the system prompt, limits, live events,
patch, metrics.

The agent stack is imported only when an agent runs: it takes seconds to import."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from awm.agent.limits import Guard
from awm.agent.prompt import build_prompt
from awm.agent.trajectory import Described, condense, describe
from awm.model.client import describe_fault, import_litellm, sdk_llm, setup_environment
from awm.records import Issue, Step

if TYPE_CHECKING:
    from awm.agent.workspace import OpenWorkspace
    from awm.spec import AgentSpec, LLMSpec

# The agents the SDK offers that can fix an issue, by the name a spec gives (`agent.kind`): their tool sets.
AGENT_KINDS = {
    "CodeActAgent": "terminal, file editor (str_replace), task tracker: OpenHands' default coding agent",
    "ApplyPatchAgent": "terminal, apply_patch (unified diffs), task tracker: the SDK's GPT-5 preset",
    "GeminiAgent": "terminal, read/write/edit file and list directory tools, task tracker: the SDK's Gemini preset",
}


class AgentStatus(StrEnum):
    FINISHED = "finished"
    MAX_ITERATIONS = "max_iterations"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    STUCK = "stuck"
    ERROR = "error"


def import_agent_stack() -> None:
    setup_environment()
    import openhands.sdk  # noqa: F401
    import openhands.tools.file_editor  # noqa: F401
    import openhands.tools.task_tracker  # noqa: F401
    import openhands.tools.terminal  # noqa: F401

    quiet_agent_stack()


def quiet_agent_stack() -> None:
    """The SDK logs to stderr, which would interleave with the progress lines; our own log keeps its events."""
    import logging
    import warnings

    logging.getLogger("openhands").setLevel(logging.CRITICAL)
    import_litellm()
    warnings.filterwarnings("ignore", message="Cost calculation failed")


def tools_for(kind: str, terminal: str, env: dict[str, str] | None = None) -> list:
    """The tool set of an agent kind (AGENT_KINDS), with the terminal the workspace runs, whose shell gets `env` on
    top of this process's environment (the workspace's `shell_env`: the tag that lets it end the shell's processes)."""
    from openhands.sdk import Tool
    from openhands.tools.task_tracker import TaskTrackerTool
    from openhands.tools.terminal import TerminalTool

    shell = Tool(name=TerminalTool.name, params={"terminal_type": terminal, **({"env": env} if env else {})})
    if kind == "ApplyPatchAgent":
        from openhands.tools.apply_patch import ApplyPatchTool

        return [shell, Tool(name=ApplyPatchTool.name), Tool(name=TaskTrackerTool.name)]
    if kind == "GeminiAgent":
        from openhands.tools.gemini import EditTool, ListDirectoryTool, ReadFileTool, WriteFileTool

        return [shell, *(Tool(name=t.name) for t in (ReadFileTool, WriteFileTool, EditTool, ListDirectoryTool)),
                Tool(name=TaskTrackerTool.name)]
    from openhands.tools.file_editor import FileEditorTool

    return [shell, Tool(name=FileEditorTool.name), Tool(name=TaskTrackerTool.name)]


@dataclass
class AgentResult:
    patch: str = ""
    status: str = ""  # an AgentStatus
    error: str = ""
    history: list[Step] = field(default_factory=list)
    steps: int = 0
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    setup_s: float = 0.0  # tools started, first message sent
    model_wait_s: float = 0.0
    tool_s: float = 0.0


class _Clock:
    """Splits the agent's wall time into waiting for the model and running tools, from event arrival times."""

    def __init__(self) -> None:
        self.mark = time.monotonic()
        self.model = 0.0
        self.tool = 0.0

    def action(self) -> None:
        now = time.monotonic()
        self.model += now - self.mark
        self.mark = now

    def observation(self) -> None:
        now = time.monotonic()
        self.tool += now - self.mark
        self.mark = now


class AgentRunner:
    """The OpenHands agent, made once per run from the spec's `agent` and `llm`."""

    def __init__(self, agent: AgentSpec, llm: LLMSpec):
        self.agent_spec = agent
        self.llm_spec = llm

    def warm_up(self) -> None:
        """Import the agent stack now (seconds), and what litellm imports on its first call (about a second more: the
        HTTP/2 client, the OpenAI client's resources), so the first issue's time, and its deadline, are its own."""
        import importlib

        import_agent_stack()
        for name in ("httpcore", "h2.connection", "openai.resources.chat", "litellm.llms.openai.openai",
                     "litellm.proxy"):
            try:
                importlib.import_module(name)
            except ImportError:  # a later litellm may have moved it: only the first call pays
                pass

    def run(
        self,
        issue: Issue,
        workspace: OpenWorkspace,
        memory_block: str,
        on_event: Callable[[str, str, str], None],
        log_path: Path,
        trajectory_path: Path,
        cancel: threading.Event | None = None,
    ) -> AgentResult:
        setup_environment()
        from openhands.sdk import Agent, AgentContext, Conversation

        quiet_agent_stack()
        spec = self.agent_spec
        remote = not isinstance(workspace.conversation_workspace(), str)
        agent = Agent(
            llm=sdk_llm(self.llm_spec, "agent"),
            tools=tools_for(spec.kind, workspace.terminal, workspace.shell_env),
            agent_context=AgentContext(system_message_suffix=memory_block) if memory_block else None,
            system_prompt_kwargs={"cli_mode": True},
        )
        setup_started = time.monotonic()
        clock = _Clock()
        seen: list[Described] = []
        raw: list[dict] = []
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w", encoding="utf-8")
        log.write(f"# {issue.instance_id}  repo {issue.repo}  base {issue.base_commit}\n")
        log.write(f"# workspace {workspace.repo_path}\n")
        if memory_block:
            log.write(f"# workflow memory in the system prompt:\n{memory_block}\n")
        log.flush()

        def callback(event: Any) -> None:
            kind = type(event).__name__
            if kind == "ActionEvent":
                clock.action()
            elif kind in ("ObservationEvent", "AgentErrorEvent"):
                clock.observation()
            try:
                raw.append(event.model_dump(mode="json"))
            except Exception:  # noqa: BLE001 - a trajectory record must never stop the agent
                raw.append({"kind": kind})
            item = describe(event)
            if item is None:
                return
            seen.append(item)
            log.write(f"[{time.strftime('%H:%M:%S')}] {item.kind.upper()} {item.tool}\n{item.display}\n\n")
            log.flush()
            on_event(item.kind, item.tool, item.display)

        result = AgentResult()
        conversation = None
        guard = Guard(setup_started + spec.timeout_minutes * 60, cancel, workspace.interrupt)
        try:
            conversation = Conversation(
                agent=agent,
                workspace=workspace.conversation_workspace(),
                max_iteration_per_run=spec.max_iterations,
                callbacks=[callback],
                visualizer=None,
                stuck_detection=True,
            )
            conversation.send_message(build_prompt(issue, Path(workspace.repo_path), spec.include_hints))
            result.setup_s = round(time.monotonic() - setup_started, 3)
            clock.mark = time.monotonic()
            if not guard.check():
                guard.watch(conversation)
                if remote:  # a remote run has its own one-hour default limit
                    conversation.run(timeout=spec.timeout_minutes * 60 + 300)
                else:
                    conversation.run()
            result.status = _status(conversation, guard.reason, seen)
        except Exception as exc:  # noqa: BLE001 - the loop turns this into an ERROR experience
            if remote and conversation is not None and type(exc).__name__ == "ConversationRunError":
                result.status = _status(conversation, guard.reason, seen)  # remote runs raise on error or stuck
            else:
                result.status = guard.reason or AgentStatus.ERROR
                result.error = "" if guard.reason else _error_text(exc)
        finally:
            guard.done()
            if conversation is not None:
                metrics = conversation.conversation_stats.get_combined_metrics()
                result.cost = float(metrics.accumulated_cost or 0.0)
                usage = metrics.accumulated_token_usage
                if usage is not None:
                    result.prompt_tokens = int(usage.prompt_tokens or 0)
                    result.completion_tokens = int(usage.completion_tokens or 0)
                try:
                    conversation.close()
                except Exception:  # noqa: BLE001
                    pass
            if result.status == AgentStatus.ERROR and not result.error:
                errors = [x.text for x in seen if x.kind == "error"]
                result.error = describe_fault(errors[-1]) if errors else "the agent stopped with an error"
            result.history = condense(seen)
            result.steps = sum(1 for x in seen if x.kind == "action")
            result.model_wait_s = round(clock.model, 3)
            result.tool_s = round(clock.tool, 3)
            log.write(f"# agent status: {result.status} {result.error}\n")
            log.close()
            trajectory_path.write_text(json.dumps(raw, ensure_ascii=False))
        try:
            result.patch = workspace.patch()
        except Exception as exc:  # noqa: BLE001
            result.status, result.error = AgentStatus.ERROR, f"could not take the patch: {exc}"
        return result


def _status(conversation, stopped: str, seen) -> str:
    status = str(getattr(conversation.state.execution_status, "value", conversation.state.execution_status)).lower()
    if stopped and status != "finished":
        return stopped
    if status == "finished":
        return AgentStatus.FINISHED
    if any(x.kind == "error" and "MaxIterationsReached" in x.text for x in seen):
        return AgentStatus.MAX_ITERATIONS
    if status == "stuck":
        return AgentStatus.STUCK
    return AgentStatus.ERROR if status == "error" else status


def _error_text(exc: BaseException) -> str:
    return describe_fault(exc)
