"""The OpenHands agent on one issue, in an open workspace: prompt, memory in the system prompt, limits, live events,
patch, metrics.

The agent stack is imported only when an agent runs: it takes seconds to import."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from awm.agent.limits import Cancel, Guard, Outcome, issue_budget
from awm.agent.prompt import build_prompt
from awm.agent.recorder import Recorder
from awm.agent.trajectory import Described, condense
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
    the file tools, which run in this process, are confined to its root (the checkout).

    Args:
        kind: the agent kind (`agent.kind`); any other than ApplyPatchAgent and GeminiAgent gets CodeActAgent's tools.
        terminal: the terminal type (`agent.terminal`: subprocess | tmux).
        env: variables for the terminal's shell, on top of this process's.
        sandbox: the checkout's bubblewrap sandbox, if it has one.

    Returns:
        The SDK's tool specs, the file tools confined to the sandbox's root when there is one.

    Raises:
        ValueError: a sandbox with a terminal other than subprocess.
    """
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


class AgentRunner:
    """The OpenHands agent, made once per run from the spec's `agent` and `llm`.

    Args:
        agent: the spec's `agent` (kind, limits, terminal).
        llm: the spec's `llm`: the agent's model.
        scrub: known secrets out of the log, the events and the trajectory (none when not given).
        budget: the spec's `budget`, whose issue_max_* limits stop an issue's agent (none when not given).
    """

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

    def run(self, issue: Issue, workspace: OpenWorkspace, memory_block: str, on_event: Callable[..., None],
            log_path: Path, trajectory_path: Path, cancel: Cancel | None = None) -> AgentResult:
        """The agent on one issue, until it finishes or a limit (its time, its spending, the run's stop) ends it.

        Args:
            issue: the issue, whose prompt the agent is sent.
            workspace: its open checkout, where the agent's tools run (locally, in a container, on a server).
            memory_block: workflow memory for the system prompt ("" none).
            on_event: `on_event(kind, tool, text, progress)` for each readable event (awm.agent.recorder).
            log_path: the agent's log, written as it works (secrets scrubbed).
            trajectory_path: every SDK event as JSON, written when the agent is done with.
            cancel: the run's stop flag: the agent is stopped between steps when it is set.

        Returns:
            The agent's patch, status (an AgentStatus), error, history, metrics and timings.

        Raises:
            OSError: the log cannot be written. Whatever the agent or its model does is the result's status and error.
        """
        import_agent_stack()  # (imported by warm_up already: then only the environment and the SDK's logging set)
        spec = self.agent_spec
        remote = not isinstance(workspace.conversation_workspace(), str)
        setup_started = time.monotonic()
        guard = Guard(setup_started + spec.timeout_minutes * 60, cancel, workspace.interrupt)
        # a remote conversation's model calls are made by its agent server: bounded there by `guard.run` only
        agent = self._agent(workspace, memory_block, None if remote else guard)
        usage = _Usage(agent)
        guard.spent = issue_budget(self.budget.issue_max_cost_usd, self.budget.issue_max_tokens, usage)
        result = AgentResult()
        with Recorder(log_path, trajectory_path, on_event, self.scrub, usage) as recorder:
            recorder.header(issue, workspace, memory_block)
            conversation = None
            try:
                conversation = self._conversation(agent, workspace, recorder)
                conversation.send_message(build_prompt(issue, Path(workspace.repo_path), spec.include_hints))
                result.setup_s = round(time.monotonic() - setup_started, 3)
                recorder.clock.restart()
                if not guard.check():
                    usage.conversation = conversation
                    self._converse(conversation, guard, workspace, remote, recorder.seen, result)
                result.status = _status(conversation, guard.reason, recorder.seen)
            except Exception as exc:  # noqa: BLE001 - the loop turns this into an ERROR experience
                result.status, result.error = _failed(exc, conversation, remote, guard.reason, recorder.seen)
            finally:
                outcome = guard.done()
                recorder.stop()
                _settle(result, outcome, conversation, agent, recorder, spec.timeout_minutes)
                recorder.footer(result.status, result.error, result.nudges)
        try:
            result.patch = workspace.patch()
        except Exception as exc:  # noqa: BLE001
            result.status, result.error = AgentStatus.ERROR, f"could not take the patch: {exc}"
        return result

    def _agent(self, workspace: OpenWorkspace, memory_block: str, bound: Guard | None) -> Any:
        """The SDK's agent: the model (its calls bounded by `bound`), the kind's tools in the workspace, the memory
        in its system prompt."""
        from openhands.sdk import Agent, AgentContext

        spec = self.agent_spec
        return Agent(
            llm=sdk_llm(self.llm_spec, "agent", bound),
            tools=tools_for(spec.kind, workspace.terminal, workspace.shell_env, local_sandbox(workspace)),
            agent_context=AgentContext(system_message_suffix=memory_block) if memory_block else None,
            system_prompt_kwargs={"cli_mode": True},
        )

    def _conversation(self, agent: Any, workspace: OpenWorkspace, recorder: Recorder) -> Any:
        """The agent's conversation in the workspace, its events to the recorder."""
        from openhands.sdk import Conversation

        return Conversation(
            agent=agent,
            workspace=workspace.conversation_workspace(),
            max_iteration_per_run=self.agent_spec.max_iterations,
            callbacks=[recorder.event],
            visualizer=None,
            stuck_detection=True,
        )

    def _converse(self, conversation: Any, guard: Guard, workspace: OpenWorkspace, remote: bool,
                  seen: list[Described], result: AgentResult) -> None:
        """The conversation run under the guard, then nudged on (`result.nudges`) while it ended on a reply in words
        or on tool calls the agent could not run. Raises what the conversation's run raised."""
        if remote:  # the agent server cancels its step in flight (a model call too) when asked
            guard.interrupt = _remote_interrupt(conversation, workspace.interrupt)
        guard.watch(conversation)
        # a remote run waits an hour by default: the issue's limit instead, with a margin (the guard ends the run at
        # the limit itself)
        timeout = self.agent_spec.timeout_minutes * 60 + 300
        run = partial(_run_remote, conversation, timeout) if remote else conversation.run
        # in a thread of its own: given up ABANDON_S after the limit or stop if it will not end
        if not guard.run(run):
            return
        # A reply with text and no tool call ends an SDK conversation, and so does the SDK's stuck detection after
        # the same call it could not run (an unknown tool, arguments that do not parse) again and again: nudge the
        # agent on, as OpenHands' own runners do, a few times, before that counts as the model's answer.
        while result.nudges < NUDGES and not guard.check():
            nudge = (NUDGE if _ended_on_text(conversation, seen) else
                     BAD_CALL_NUDGE if _stuck_on_rejected_calls(conversation, seen) else "")
            if not nudge or not guard.run(partial(_nudged, conversation, nudge, run)):
                break
            result.nudges += 1


class _Usage:
    """The issue's (cost, tokens) so far, for its spending limit and its events: the agent's model until the
    conversation runs, the conversation's combined stats from then on."""

    def __init__(self, agent: Any):
        self.agent = agent
        self.conversation: Any = None

    def __call__(self) -> tuple[float, int]:
        return _spent(self.conversation, self.agent)


def _failed(exc: Exception, conversation: Any, remote: bool, stopped: str,
            seen: list[Described]) -> tuple[str, str]:
    """(status, error) of an agent whose conversation raised: a remote run raises when it ends in error or stuck,
    which its state says; otherwise the guard's stop, or the error itself."""
    if remote and conversation is not None and type(exc).__name__ == "ConversationRunError":
        return _status(conversation, stopped, seen), ""
    if stopped:
        return AgentStatus(stopped), ""
    return AgentStatus.ERROR, _error_text(exc)


def _settle(result: AgentResult, outcome: Outcome, conversation: Any, agent: Any, recorder: Recorder,
            timeout_minutes: float) -> None:
    """The result completed once the agent is done with: what the guard did, the model's use, the conversation
    closed, the error's words, the history, the timings and the protocol verdict."""
    seen = recorder.seen
    result.error = _stop_text(outcome, timeout_minutes) or result.error
    result.model_calls, result.hung = outcome.model_calls, outcome.hung
    if conversation is not None:
        metrics = _metrics(conversation, agent)
        result.cost = float(metrics.accumulated_cost or 0.0)
        usage = metrics.accumulated_token_usage
        if usage is not None:
            result.prompt_tokens = int(usage.prompt_tokens or 0)
            result.completion_tokens = int(usage.completion_tokens or 0)
        if outcome.abandoned:  # its run still holds it: close it without waiting
            threading.Thread(target=_close_quietly, args=(conversation,), daemon=True).start()
        else:
            _close_quietly(conversation)
    if result.status == AgentStatus.ERROR and not result.error:
        errors = [x.text for x in seen if x.kind == "error"]
        result.error = describe_fault(errors[-1]) if errors else "the agent stopped with an error"
    result.history = condense(seen)
    result.steps = sum(1 for x in seen if x.kind == "action" and not x.rejected)
    result.model_wait_s = round(recorder.clock.model, 3)
    result.tool_s = round(recorder.clock.tool, 3)
    if not result.hung:  # a model that stopped answering is the run's error streak, not a protocol failure
        result.protocol, result.protocol_detail = _protocol(result.status, seen)


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
    """The agent's AgentStatus from the conversation's end; the guard's stop (`stopped`) unless it finished."""
    status = _execution_status(conversation)
    if stopped and status != "finished":
        return AgentStatus(stopped)
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


def _stop_text(outcome: Outcome, timeout_minutes: float) -> str:
    """What the guard's outcome says of the agent's end ("" nothing): the spending limit reached; a limit or stop
    that came during a model call (the timeout's words begin with describe_fault's meaning of a model timeout, so
    the run's same-cause error streak counts it with them); or a conversation given up because it would not end."""
    if outcome.reason == AgentStatus.BUDGET and outcome.stop is not None:
        return outcome.stop.spent
    if outcome.hung:
        if outcome.reason == AgentStatus.TIMEOUT:
            return (f"the model did not answer in time: no reply within the issue's time limit "
                    f"({timeout_minutes * 60:g} s; {outcome.model_calls} model calls answered)")
        return f"stopped while waiting for the model ({outcome.model_calls} model calls answered)"
    if outcome.abandoned:
        return f"the agent did not stop within {Guard.ABANDON_S:g} s of the {outcome.reason}: left behind"
    return ""


def _error_text(exc: BaseException) -> str:
    return describe_fault(exc)
