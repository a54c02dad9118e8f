"""The OpenHands agent on one issue: prompt, memory in the system prompt, limits, live events, patch, metrics.

The agent stack is imported only when an agent is built: it takes seconds to import."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from awm.spec import LLMSpec, RunSpec
from awm.types import Issue, Step
from awm.workspace import diff_against

OBSERVATION_KEEP = 2000  # characters of an observation kept in the condensed history
EDIT_LINES = 8  # lines of an edit's old and new text shown

PROMPT = """<uploaded_files>
{repo_path}
</uploaded_files>

I've uploaded a Python code repository in the directory {repo_path}.
Repository path: {repo_path}
Repository: {repo}
Base commit: {base_commit}

Consider the following issue description:

<issue_description>
{problem_statement}
</issue_description>
{hints}
Can you help me implement the necessary changes to the repository so that the requirements specified in the
<issue_description> are met? I've already taken care of all changes to any of the test files described in the
<issue_description>. This means you DON'T have to modify the testing logic or any of the tests in any way.
Your task is to make the minimal changes to non-test files in the {repo_path} directory to ensure the
<issue_description> is satisfied.

Follow these phases to resolve the issue:
1. READING: restate the problem, note the error messages, files, methods and the steps to reproduce.
2. EXPLORATION: find the files related to the problem and the code to change.
3. REPRODUCTION: write and run a small script that reproduces the problem.
4. FIX: make focused, minimal changes to the source files.
5. VERIFICATION: run your script and the relevant existing tests.
6. FINAL REVIEW: compare your changes with the issue description and the base commit {base_commit}.
"""


def setup_environment() -> None:
    """Environment the agent stack needs before it is imported: no price-table fetch, no banner."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")


def import_litellm():
    """litellm, configured: no price-table fetch, no help banners on stdout."""
    setup_environment()
    import litellm

    litellm.suppress_debug_info = True
    return litellm


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


def build_prompt(issue: Issue, repo_path: Path, include_hints: bool) -> str:
    hints = ""
    if include_hints and issue.hints_text.strip():
        hints = f"\n<hints>\n{issue.hints_text.strip()}\n</hints>\n"
    return PROMPT.format(
        repo_path=repo_path,
        repo=issue.repo,
        base_commit=issue.base_commit,
        problem_statement=issue.problem_statement.strip(),
        hints=hints,
    )


def make_llm(spec: LLMSpec, usage_id: str):
    setup_environment()
    from openhands.sdk import LLM
    from pydantic import SecretStr

    kwargs: dict[str, Any] = {
        "usage_id": usage_id,
        "model": spec.model if not spec.scripted else "openai/" + spec.model,
        "num_retries": spec.num_retries,
    }
    for name in ("base_url", "api_version", "temperature", "top_p", "max_output_tokens", "input_cost_per_token",
                 "output_cost_per_token", "timeout", "reasoning_effort", "custom_llm_provider"):
        value = getattr(spec, name)
        if value is not None:
            kwargs[name] = value
    if spec.api_key:
        kwargs["api_key"] = SecretStr(spec.api_key)
    elif spec.base_url:
        kwargs["api_key"] = SecretStr("none")  # OpenAI-compatible local servers still want a bearer token
    if spec.temperature is not None and spec.reasoning_effort is None:
        kwargs["capability_overrides"] = {"supports_reasoning_effort": False}
    if spec.num_retries == 0:
        kwargs["retry_min_wait"] = 0
        kwargs["retry_max_wait"] = 0
    return LLM(**kwargs)


@dataclass
class AgentResult:
    patch: str = ""
    status: str = ""  # finished | max_iterations | timeout | cancelled | stuck | error
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


@dataclass
class Described:
    """A conversation event made readable: what the live log, the instance log and induction see."""

    kind: str  # action | observation | message | error | system
    tool: str
    text: str  # for an action: the action alone
    thought: str = ""

    @property
    def display(self) -> str:
        return f"{self.thought}\n{self.text}" if self.thought else self.text


def describe(event: Any) -> Described | None:
    name = type(event).__name__
    if name == "ActionEvent":
        thought = " ".join(t.text for t in event.thought).strip()
        action = event.action
        args = action.model_dump(mode="json", exclude={"kind", "security_risk", "summary"}) if action else {}
        args = {k: v for k, v in args.items() if v not in (None, "", False, [])}
        return Described("action", event.tool_name, _action_text(event.tool_name, args), thought)
    if name == "ObservationEvent":
        return Described("observation", event.tool_name, _short(event.observation.text, OBSERVATION_KEEP))
    if name == "AgentErrorEvent":
        return Described("error", event.tool_name, _short(event.error, OBSERVATION_KEEP))
    if name == "ConversationErrorEvent":
        return Described("error", "", f"{event.code}: {_short(event.detail, OBSERVATION_KEEP)}")
    if name == "MessageEvent":
        msg = event.llm_message
        text = " ".join(getattr(c, "text", "") for c in msg.content).strip()
        return Described("message", msg.role, _short(text, OBSERVATION_KEEP))
    if name == "SystemPromptEvent":
        return Described("system", "", "system prompt set")
    return None


def _action_text(tool: str, args: dict) -> str:
    if tool == "terminal" and "command" in args:
        return f"$ {args['command']}"
    if tool == "file_editor":
        lines = [f"{args.pop('command', '')} {args.pop('path', '')}".strip()]
        for key, mark in (("old_str", "- "), ("new_str", "+ "), ("file_text", "+ ")):
            body = str(args.pop(key, "")).splitlines()
            lines += [mark + line for line in body[:EDIT_LINES]]
            if len(body) > EDIT_LINES:
                lines.append(f"{mark}… ({len(body) - EDIT_LINES} more lines)")
        if args:
            lines.append(_short(json.dumps(args), 300))
        return "\n".join(lines)
    if tool == "finish":
        return str(args.get("message", ""))
    return _short(json.dumps(args), 400)


_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def _short(text: str, limit: int) -> str:
    text = _ANSI.sub("", text).strip()  # terminal colours and modes are noise in logs, prompts and the UI
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


def condense(events: list[Described]) -> list[Step]:
    steps: list[Step] = []
    for item in events:
        if item.kind == "action":
            steps.append(Step(tool=item.tool, action=item.text, thought=item.thought))
        elif item.kind in ("observation", "error") and steps and not steps[-1].observation:
            steps[-1].observation = item.text
    return steps


class AgentRunner:
    def __init__(self, spec: RunSpec):
        self.spec = spec

    def warm_up(self) -> None:
        """Import the agent stack now (seconds), so the first issue's timings are its own."""
        import_agent_stack()

    def run(
        self,
        issue: Issue,
        repo_path: Path,
        memory_block: str,
        on_event: Callable[[str, str, str], None],
        log_path: Path,
        trajectory_path: Path,
        cancel: threading.Event | None = None,
    ) -> AgentResult:
        setup_environment()
        from openhands.sdk import Agent, AgentContext, Conversation, Tool
        from openhands.tools.file_editor import FileEditorTool
        from openhands.tools.task_tracker import TaskTrackerTool
        from openhands.tools.terminal import TerminalTool

        quiet_agent_stack()
        docker = self.spec.agent.workspace == "docker"
        # The subprocess terminal waits a fixed second at start; tmux starts in 0.1 s but under load can report
        # the first command finished with no output (seen on 2-core machines), so it is opt-in.
        terminal = "tmux" if docker else self.spec.agent.terminal
        llm = make_llm(self.spec.llm, "agent")
        agent = Agent(
            llm=llm,
            tools=[
                Tool(name=TerminalTool.name, params={"terminal_type": terminal}),
                Tool(name=FileEditorTool.name),
                Tool(name=TaskTrackerTool.name),
            ],
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
        log.write(f"# workspace {repo_path}\n")
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
        sandbox = None
        guard = _Guard(setup_started + self.spec.agent.timeout_minutes * 60, cancel, repo_path)
        try:
            if docker:
                from awm import sandbox as sandboxes

                sandbox = sandboxes.open_for(self.spec, issue)
                repo_path = Path(sandboxes.REPO_PATH)  # the prompt names the repository inside the image
            conversation = Conversation(
                agent=agent,
                workspace=sandbox.workspace if sandbox else str(repo_path),
                max_iteration_per_run=self.spec.agent.max_iterations,
                callbacks=[callback],
                visualizer=None,
                stuck_detection=True,
            )
            conversation.send_message(build_prompt(issue, repo_path, self.spec.agent.include_hints))
            result.setup_s = round(time.monotonic() - setup_started, 3)
            clock.mark = time.monotonic()
            if not guard.check():
                guard.watch(conversation)
                if sandbox:  # a remote run has its own one-hour default limit
                    conversation.run(timeout=self.spec.agent.timeout_minutes * 60 + 300)
                else:
                    conversation.run()
            result.status = _status(conversation, guard.reason, seen)
        except Exception as exc:  # noqa: BLE001 - the loop turns this into an ERROR experience
            if sandbox is not None and conversation is not None and type(exc).__name__ == "ConversationRunError":
                result.status = _status(conversation, guard.reason, seen)  # remote runs raise on error or stuck
            else:
                result.status = guard.reason or "error"
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
            if result.status == "error" and not result.error:
                errors = [x.text for x in seen if x.kind == "error"]
                result.error = errors[-1] if errors else "the agent stopped with an error"
            result.history = condense(seen)
            result.steps = sum(1 for x in seen if x.kind == "action")
            result.model_wait_s = round(clock.model, 3)
            result.tool_s = round(clock.tool, 3)
            log.write(f"# agent status: {result.status} {result.error}\n")
            log.close()
            trajectory_path.write_text(json.dumps(raw, ensure_ascii=False))
        try:
            result.patch = sandbox.patch() if sandbox else diff_against(repo_path, issue.base_commit)
        except Exception as exc:  # noqa: BLE001
            result.status, result.error = "error", f"could not take the patch: {exc}"
        finally:
            if sandbox is not None:
                sandbox.close()
        return result


class _Guard:
    """Enforces the issue's wall-clock budget and the run's cancel flag: the conversation is paused between steps
    at once; a step still running GRACE_S later gets Ctrl-C, and everything in the workspace is killed after
    three times that."""

    GRACE_S = 2.0

    def __init__(self, deadline: float, cancel: threading.Event | None, workdir: Path):
        self.deadline = deadline
        self.cancel = cancel
        self.workdir = workdir
        self.reason = ""  # "" | "timeout" | "cancelled"
        self._done = threading.Event()

    def check(self) -> str:
        if not self.reason:
            if self.cancel is not None and self.cancel.is_set():
                self.reason = "cancelled"
            elif time.monotonic() >= self.deadline:
                self.reason = "timeout"
        return self.reason

    def watch(self, conversation) -> None:
        threading.Thread(target=self._loop, args=(conversation,), daemon=True).start()

    def done(self) -> None:
        self._done.set()

    def _loop(self, conversation) -> None:
        stopped_at = None
        while not self._done.wait(0.2):
            if not self.check():
                continue
            # pause() waits for the state lock, which a running step holds: ask from a thread of its own, and
            # again each tick in case run() had not started when first asked (pause() is idempotent)
            threading.Thread(target=conversation.pause, daemon=True).start()
            stopped_at = stopped_at or time.monotonic()
            waited = time.monotonic() - stopped_at
            if waited > 3 * self.GRACE_S:
                signal_commands_in(self.workdir, hard=True)
                return
            if waited > self.GRACE_S:
                signal_commands_in(self.workdir, hard=False)


def signal_commands_in(workdir: Path, hard: bool) -> int:
    """Stop the agent's commands running in `workdir` (Linux /proc; elsewhere nothing): SIGINT to the foreground
    process group of their terminal, as Ctrl-C would (the shell survives and prints its prompt, so the terminal
    tool returns), or with `hard`, SIGKILL to every process there. Pausing a conversation waits for the step."""
    import signal

    root = str(workdir.resolve())
    targets: set[int] = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cwd = os.readlink(entry / "cwd")
            if not (cwd == root or cwd.startswith(root + os.sep)) or int(entry.name) == os.getpid():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            targets.add(int(entry.name) if hard else int(fields[5]))  # fields[5]: the tty's foreground group
        except (OSError, ValueError, IndexError):
            continue
    for target in targets:
        try:
            os.kill(target, signal.SIGKILL) if hard else os.killpg(target, signal.SIGINT)
        except (OSError, ValueError):
            continue
    return len(targets)


def _status(conversation, stopped: str, seen) -> str:
    status = str(getattr(conversation.state.execution_status, "value", conversation.state.execution_status)).lower()
    if stopped and status != "finished":
        return stopped
    if status == "finished":
        return "finished"
    if any(x.kind == "error" and "MaxIterationsReached" in x.text for x in seen):
        return "max_iterations"
    if status == "stuck":
        return "stuck"
    return "error" if status == "error" else status


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500]
