"""The OpenHands agent on one issue, in an open workspace: prompt, memory in the system prompt, limits, live events,
patch, metrics.

The agent stack is imported only when an agent runs: it takes seconds to import."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from awm.agent.limits import Cancel, Guard, issue_budget
from awm.agent.prompt import build_prompt
from awm.agent.trajectory import Described, condense, describe
from awm.model.client import describe_fault, import_litellm, sdk_llm, setup_environment
from awm.records import Issue, Step

if TYPE_CHECKING:
    from awm.agent.sandbox import Sandbox
    from awm.agent.workspace import OpenWorkspace
    from awm.spec import AgentSpec, BudgetSpec, LLMSpec

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
    BUDGET = "budget"  # the issue's spending limit (budget.issue_max_*): stopped between steps, graded as it is
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


def tools_for(kind: str, terminal: str, env: dict[str, str] | None = None, sandbox: Sandbox | None = None) -> list:
    """The tool set of an agent kind (AGENT_KINDS), with the terminal the workspace runs, whose shell gets `env` on
    top of this process's environment (the workspace's `shell_env`: the tag that lets it end the shell's processes).
    With a `sandbox` (awm.agent.sandbox), the terminal's shell is its launcher (the shell runs inside bubblewrap) and
    the file tools, which run in this process, are confined to its root (the checkout)."""
    from openhands.sdk import Tool
    from openhands.tools.task_tracker import TaskTrackerTool
    from openhands.tools.terminal import TerminalTool

    params: dict[str, Any] = {"terminal_type": terminal, **({"env": env} if env else {})}
    if sandbox is not None:
        if terminal != "subprocess":  # the tmux terminal starts /bin/bash itself: it would run unconfined
            raise ValueError(f"the {terminal} terminal cannot run in the sandbox (agent.sandbox); use subprocess")
        params["shell_path"] = sandbox.shell_path
    shell = Tool(name=TerminalTool.name, params=params)
    if kind == "ApplyPatchAgent":
        from openhands.tools.apply_patch import ApplyPatchTool

        tools = [shell, Tool(name=ApplyPatchTool.name), Tool(name=TaskTrackerTool.name)]
    elif kind == "GeminiAgent":
        from openhands.tools.gemini import EditTool, ListDirectoryTool, ReadFileTool, WriteFileTool

        tools = [shell, *(Tool(name=t.name) for t in (ReadFileTool, WriteFileTool, EditTool, ListDirectoryTool)),
                 Tool(name=TaskTrackerTool.name)]
    else:
        from openhands.tools.file_editor import FileEditorTool

        tools = [shell, Tool(name=FileEditorTool.name), Tool(name=TaskTrackerTool.name)]
    if sandbox is None:
        return tools
    from awm.agent.sandbox import confined

    return confined(tools, sandbox.root)


def local_sandbox(workspace: OpenWorkspace) -> Sandbox | None:
    """The bubblewrap sandbox of a local checkout (awm.agent.sandbox), if it has one."""
    from awm.agent.sandbox import Sandbox

    found = getattr(workspace, "sandbox", None)
    return found if isinstance(found, Sandbox) else None


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
    model_calls: int = 0  # model calls answered (counted for a local workspace's conversation)
    hung: bool = False  # the limit or stop came while the model had not answered (then `error` says so)
    model_wait_s: float = 0.0
    tool_s: float = 0.0
    nudges: int = 0  # times the agent was told to go on after a reply with no tool call
    protocol: str = ""  # "" | no_tool_call | bad_tool_call: the model did not use the tools as the agent needs
    protocol_detail: str = ""  # the last offending reply or tool error


NUDGES = 3
NUDGE = ("Please continue working on the task on your own: use the tools to make and check the change, and call "
         "the finish tool when you are done.")
# after tool calls the agent could not run, until the SDK's stuck detection ended the conversation
BAD_CALL_NUDGE = ("Your last tool calls could not be run: the errors above say why. Call only the tools you were "
                  "given, by their exact names, with arguments that are one valid JSON object fitting the tool's "
                  "parameters; use them to make and check the change, and call the finish tool when you are done.")


def _execution_status(conversation) -> str:
    return str(getattr(conversation.state.execution_status, "value", conversation.state.execution_status)).lower()


def _nudged(running, nudge: str, run: Callable[[], object]) -> None:
    """The conversation told `nudge` and run on (in the guard's thread: the guard can give it up)."""
    running.send_message(nudge)
    run()


def _ended_on_text(conversation, seen: list[Described]) -> bool:
    """The conversation finished because the model answered in text, not with a tool call (no finish action)."""
    return (_execution_status(conversation) == "finished" and bool(seen) and seen[-1].kind == "message"
            and seen[-1].tool == "assistant" and not any(x.kind == "action" and x.tool == "finish" for x in seen))


def _stuck_on_rejected_calls(conversation, seen: list[Described]) -> bool:
    """The SDK's stuck detection ended the conversation on tool calls the agent could not run (the same unknown
    tool or unparsable arguments, again and again): the last action was one."""
    actions = [x for x in seen if x.kind == "action"]
    return _execution_status(conversation) == "stuck" and bool(actions) and actions[-1].rejected


def _ran_a_tool(seen: list[Described]) -> bool:
    """Some tool call was run by a tool (an observation, not the SDK's error for a call it could not run); the
    finish tool is no work."""
    return any(x.kind == "observation" and x.tool != "finish" for x in seen)


def _rejected_errors(seen: list[Described]) -> list[str]:
    """The SDK's errors for the tool calls it could not run (unknown tool, arguments that do not parse or fit)."""
    rejected = {x.call_id for x in seen if x.kind == "action" and x.rejected and x.call_id}
    return [x.text for x in seen if x.kind == "error" and x.call_id in rejected]


def _protocol(status: str, seen: list[Described]) -> tuple[str, str]:
    """Whether the model failed the tool-calling protocol, and the last evidence: tool calls the agent could not
    run, with no tool run at all; or replies in text only (after the nudges). A model that ran a tool is not a
    protocol failure, whatever else it did (a few bad calls among good ones, a wrong fix)."""
    if _ran_a_tool(seen):
        return "", ""
    errors = _rejected_errors(seen)
    if errors:
        return "bad_tool_call", errors[-1][:300]
    replies = [x.text for x in seen if x.kind == "message" and x.tool == "assistant"]
    if status == AgentStatus.FINISHED and replies and not any(x.kind == "action" for x in seen):
        return "no_tool_call", replies[-1][:300]
    return "", ""


@dataclass(frozen=True)
class Progress:
    """An issue's agent so far, passed with each of its events: the app shows it while the issue runs."""

    steps: int = 0  # actions taken
    cost: float = 0.0  # the model's cost so far (USD)
    tokens: int = 0  # prompt and completion tokens so far


class _Clock:
    """Splits the agent's wall time into waiting for the model and running tools, from event arrival times."""

    def __init__(self) -> None:
        self.mark = time.monotonic()
        self.model = 0.0
        self.tool = 0.0
        self.steps = 0  # the agent's actions so far

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

    def __init__(self, agent: AgentSpec, llm: LLMSpec, scrub: Callable[[str], str] | None = None,
                 budget: BudgetSpec | None = None):
        from awm.spec import BudgetSpec

        self.agent_spec = agent
        self.llm_spec = llm
        self.budget = budget or BudgetSpec()
        self.scrub = scrub or (lambda text: text)  # known secrets out of the log, the events and the trajectory

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
        on_event: Callable[..., None],
        log_path: Path,
        trajectory_path: Path,
        cancel: Cancel | None = None,
    ) -> AgentResult:
        setup_environment()
        from openhands.sdk import Agent, AgentContext, Conversation

        quiet_agent_stack()
        spec = self.agent_spec
        scrub = self.scrub
        remote = not isinstance(workspace.conversation_workspace(), str)
        setup_started = time.monotonic()
        guard = Guard(setup_started + spec.timeout_minutes * 60, cancel, workspace.interrupt)
        agent = Agent(
            # a remote conversation's model calls are made by its agent server: bounded there by `guard.run` only
            llm=sdk_llm(self.llm_spec, "agent", None if remote else guard),
            tools=tools_for(spec.kind, workspace.terminal, workspace.shell_env, local_sandbox(workspace)),
            agent_context=AgentContext(system_message_suffix=memory_block) if memory_block else None,
            system_prompt_kwargs={"cli_mode": True},
        )
        holder: dict = {}
        guard.spent = issue_budget(self.budget.issue_max_cost_usd, self.budget.issue_max_tokens,
                                   lambda: _spent(holder.get("conversation"), agent))
        clock = _Clock()
        seen: list[Described] = []
        raw: list[dict] = []
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w", encoding="utf-8")
        log.write(f"# {issue.instance_id}  repo {issue.repo}  base {issue.base_commit}\n")
        log.write(f"# workspace {workspace.repo_path}\n")
        server = getattr(workspace, "server", None)  # an agent server's address (never its key)
        if server:
            log.write(f"# agent server {server}\n")
        if memory_block:
            log.write(f"# workflow memory in the system prompt:\n{memory_block}\n")
        log.flush()

        live = threading.Event()  # cleared when the agent is done with: a thread left running then writes nothing
        live.set()
        writing = threading.Lock()

        def callback(event: Any) -> None:
            with writing:
                if live.is_set():
                    record(event)

        def record(event: Any) -> None:
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
            text = scrub(item.display)
            log.write(f"[{time.strftime('%H:%M:%S')}] {item.kind.upper()} {item.tool}\n{text}\n\n")
            log.flush()
            if item.kind == "action" and not item.rejected:  # a call the agent could not run is no step
                clock.steps += 1
            cost, tokens = _spent(holder.get("conversation"), agent)
            on_event(item.kind, item.tool, text, Progress(clock.steps, cost, tokens))

        result = AgentResult()
        conversation = None
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
                running = conversation
                holder["conversation"] = conversation
                if remote:  # the agent server cancels its step in flight (a model call too) when asked
                    guard.interrupt = _remote_interrupt(running, workspace.interrupt)
                guard.watch(conversation)
                # a remote run waits an hour by default: the issue's limit instead, with a margin (the guard ends
                # the run at the limit itself)
                run = (lambda: _run_remote(running, spec.timeout_minutes * 60 + 300)) if remote else running.run
                # in a thread of its own: given up ABANDON_S after the limit or stop if it will not end
                if guard.run(run):
                    # A reply with text and no tool call ends an SDK conversation, and so does the SDK's stuck
                    # detection after the same call it could not run (an unknown tool, arguments that do not parse)
                    # again and again: nudge the agent on, as OpenHands' own runners do, a few times, before that
                    # counts as the model's answer.
                    while result.nudges < NUDGES and not guard.check():
                        nudge = (NUDGE if _ended_on_text(running, seen) else
                                 BAD_CALL_NUDGE if _stuck_on_rejected_calls(running, seen) else "")
                        if not nudge or not guard.run(partial(_nudged, running, nudge, run)):
                            break
                        result.nudges += 1
            result.status = _status(conversation, guard.reason, seen)
        except Exception as exc:  # noqa: BLE001 - the loop turns this into an ERROR experience
            if remote and conversation is not None and type(exc).__name__ == "ConversationRunError":
                result.status = _status(conversation, guard.reason, seen)  # remote runs raise on error or stuck
            else:
                result.status = guard.reason or AgentStatus.ERROR
                result.error = "" if guard.reason else _error_text(exc)
        finally:
            guard.done()
            with writing:
                live.clear()
            if guard.hung:
                result.error = _hung_text(guard, spec.timeout_minutes)
            elif guard.abandoned:
                result.error = f"the agent did not stop within {guard.ABANDON_S:g} s of the {guard.reason}: left behind"
            result.model_calls, result.hung = guard.model_calls, guard.hung
            if guard.reason == AgentStatus.BUDGET:
                result.error = guard.spent_reason
            if conversation is not None:
                metrics = _metrics(conversation, agent)
                result.cost = float(metrics.accumulated_cost or 0.0)
                usage = metrics.accumulated_token_usage
                if usage is not None:
                    result.prompt_tokens = int(usage.prompt_tokens or 0)
                    result.completion_tokens = int(usage.completion_tokens or 0)
                if guard.abandoned:  # its run still holds it: close it without waiting
                    threading.Thread(target=_close_quietly, args=(conversation,), daemon=True).start()
                else:
                    _close_quietly(conversation)
            if result.status == AgentStatus.ERROR and not result.error:
                errors = [x.text for x in seen if x.kind == "error"]
                result.error = describe_fault(errors[-1]) if errors else "the agent stopped with an error"
            result.history = condense(seen)
            result.steps = sum(1 for x in seen if x.kind == "action" and not x.rejected)
            result.model_wait_s = round(clock.model, 3)
            result.tool_s = round(clock.tool, 3)
            if not result.hung:  # a model that stopped answering is the run's error streak, not a protocol failure
                result.protocol, result.protocol_detail = _protocol(result.status, seen)
            log.write(f"# agent status: {result.status} {scrub(result.error)}"
                      f"{f' (nudged {result.nudges} times)' if result.nudges else ''}\n")
            log.close()
            trajectory_path.write_text(scrub(json.dumps(raw, ensure_ascii=False)))
        try:
            result.patch = workspace.patch()
        except Exception as exc:  # noqa: BLE001
            result.status, result.error = AgentStatus.ERROR, f"could not take the patch: {exc}"
        return result


def _metrics(conversation, agent):
    """The issue's model use so far: the conversation's combined stats, or the bounded LLM's own metrics (which
    the stats may not see)."""
    metrics = conversation.conversation_stats.get_combined_metrics() if conversation is not None else None
    if metrics is None or not (metrics.accumulated_token_usage and metrics.accumulated_token_usage.prompt_tokens):
        metrics = agent.llm.metrics
    return metrics


def _spent(conversation, agent) -> tuple[float, int]:
    """(cost, tokens) of the issue so far, for its spending limit."""
    try:
        metrics = _metrics(conversation, agent)
        usage = metrics.accumulated_token_usage
        tokens = int((usage.prompt_tokens or 0) + (usage.completion_tokens or 0)) if usage is not None else 0
        return float(metrics.accumulated_cost or 0.0), tokens
    except Exception:  # noqa: BLE001 - metrics not there yet: nothing spent
        return 0.0, 0


def _run_remote(conversation, timeout: float) -> None:
    """A remote conversation's run, which raises when it ends in error or stuck: that end is read from its state
    afterwards (`_status`), as a local one's is, so a stuck conversation can be nudged on."""
    try:
        conversation.run(timeout=timeout)
    except Exception as exc:
        if type(exc).__name__ != "ConversationRunError":
            raise


def _status(conversation, stopped: str, seen) -> str:
    status = _execution_status(conversation)
    if stopped and status != "finished":
        return stopped
    if status == "finished":
        return AgentStatus.FINISHED
    if any(x.kind == "error" and "MaxIterationsReached" in x.text for x in seen):
        return AgentStatus.MAX_ITERATIONS
    if status == "stuck":
        return AgentStatus.STUCK
    return AgentStatus.ERROR if status == "error" else status


def _remote_interrupt(conversation, interrupt: Callable[[bool], object]) -> Callable[[bool], None]:
    """The guard's interrupt for a conversation in an agent server: the server is asked once to cancel the step in
    flight (its model call or tool; from a thread of its own, the request waits for the cancel), and the workspace
    Ctrl-Cs (or with `hard`, kills) what the agent's shell runs there."""
    asked = threading.Event()

    def ask() -> None:
        try:
            conversation.interrupt()
        except Exception:  # noqa: BLE001 - a server gone: the run's limit and `Guard.run` still hold
            pass

    def both(hard: bool) -> None:
        if not asked.is_set():
            asked.set()
            threading.Thread(target=ask, daemon=True, name="awm-remote-interrupt").start()
        interrupt(hard)

    return both


def _close_quietly(conversation) -> None:
    # A remote conversation's socket thread sees a stop only when a message comes, and its close waits up to 5 s
    # for that and then leaves the thread (and the socket) behind (openhands-sdk 1.58.2). Told to stop, and sent a
    # state update (a pause: the conversation is done with) to wake it, it ends at once.
    socket = getattr(conversation, "_ws_client", None)
    if socket is not None and isinstance(getattr(socket, "_stop", None), threading.Event):
        socket._stop.set()
        conversation._ws_client = None
        try:
            conversation.pause()
        except Exception:  # noqa: BLE001 - at worst the thread waits for the server to close the socket
            pass
    try:
        conversation.close()
    except Exception:  # noqa: BLE001
        pass


def _hung_text(guard: Guard, timeout_minutes: float) -> str:
    """Why the agent ended when the limit or stop came during a model call: the timeout's words begin with
    describe_fault's meaning of a model timeout, so the run's same-cause error streak counts it with them."""
    if guard.reason == AgentStatus.TIMEOUT:
        return (f"the model did not answer in time: no reply within the issue's time limit "
                f"({timeout_minutes * 60:g} s; {guard.model_calls} model calls answered)")
    return f"stopped while waiting for the model ({guard.model_calls} model calls answered)"


def _error_text(exc: BaseException) -> str:
    return describe_fault(exc)
