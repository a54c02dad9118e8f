"""Conversation events made readable: what the live log, the instance log and induction see."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from awm.records import Step

OBSERVATION_KEEP = 2000  # characters of an observation kept in the condensed history
EDIT_LINES = 8  # lines of an edit's old and new text shown


@dataclass
class Described:
    """A conversation event made readable: what the live log, the instance log and induction see."""

    kind: str  # action | observation | message | error | system
    tool: str
    text: str  # for an action: the action alone
    thought: str = ""
    call_id: str = ""  # the tool call an action, observation or error belongs to
    # an action the agent could not run: a tool it does not have, or arguments that do not parse or fit the tool's
    # parameters (the SDK logs it with no action, then an error that tells the model what went wrong)
    rejected: bool = False

    @property
    def display(self) -> str:
        return f"{self.thought}\n{self.text}" if self.thought else self.text


def describe(event: Any) -> Described | None:
    """An SDK event made readable (read by its type's name, so the agent stack need not be imported).

    Returns:
        The event described; None for an event nobody reads (state updates, condensations).
    """
    name = type(event).__name__
    if name == "ActionEvent":
        thought = " ".join(t.text for t in event.thought).strip()
        action = event.action
        call_id = str(getattr(event, "tool_call_id", "") or "")
        if action is None:  # a call the agent could not run: what the model sent, as it sent it
            return Described("action", event.tool_name, rejected_call_text(event), thought, call_id, rejected=True)
        args = action.model_dump(mode="json", exclude={"kind", "security_risk", "summary"})
        args = {k: v for k, v in args.items() if v not in (None, "", False, [])}
        return Described("action", event.tool_name, action_text(event.tool_name, args), thought, call_id)
    if name == "ObservationEvent":
        return Described("observation", event.tool_name, shorten(event.observation.text, OBSERVATION_KEEP),
                         call_id=str(getattr(event, "tool_call_id", "") or ""))
    if name == "AgentErrorEvent":
        return Described("error", event.tool_name, shorten(event.error, OBSERVATION_KEEP),
                         call_id=str(getattr(event, "tool_call_id", "") or ""))
    if name == "ConversationErrorEvent":
        return Described("error", "", f"{event.code}: {shorten(event.detail, OBSERVATION_KEEP)}")
    if name == "MessageEvent":
        msg = event.llm_message
        text = " ".join(getattr(c, "text", "") for c in msg.content).strip()
        return Described("message", msg.role, shorten(text, OBSERVATION_KEEP))
    if name == "SystemPromptEvent":
        return Described("system", "", "system prompt set")
    return None


MALFORMED = "_openhands_malformed_tool_call"  # the SDK's stand-in for arguments that were not JSON


def rejected_call_text(event: Any) -> str:
    """A tool call the agent could not run, as the model made it: its arguments (the SDK keeps arguments that do not
    parse only as its own error record: then said so)."""
    raw = str(getattr(getattr(event, "tool_call", None), "arguments", "") or "")
    try:
        args = json.loads(raw)
    except ValueError:
        args = None
    if not isinstance(args, dict) or args.get(MALFORMED):
        return "(arguments that are not a JSON object)"
    return shorten(json.dumps(args), 400)


def action_text(tool: str, args: dict) -> str:
    """An agent action as a person reads it: a shell command, a file edit's lines (- old, + new), the finish
    message, else the arguments as JSON, shortened. (`args` is consumed.) The log, the prompts and the app's
    trajectory tab share it."""
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
            lines.append(shorten(json.dumps(args), 300))
        return "\n".join(lines)
    if tool == "finish":
        return str(args.get("message", ""))
    return shorten(json.dumps(args), 400)


ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def shorten(text: str, limit: int) -> str:
    """`text` without terminal escapes, its middle cut to keep `limit` characters (the cut said in place)."""
    text = ANSI.sub("", text).strip()  # terminal colours and modes are noise in logs, prompts and the UI
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


def condense(events: list[Described]) -> list[Step]:
    """The agent's history as steps: each action with the first observation or error after it.

    Args:
        events: the conversation's events as described, in order.

    Returns:
        One Step per action (a call the agent could not run included: it is what the model did).
    """
    steps: list[Step] = []
    for item in events:
        if item.kind == "action":
            steps.append(Step(tool=item.tool, action=item.text, thought=item.thought))
        elif item.kind in ("observation", "error") and steps and not steps[-1].observation:
            steps[-1].observation = item.text
    return steps
