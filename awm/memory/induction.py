"""Workflow induction (AWM): an LLM reads successful fixes and writes the reusable sub-routines they share."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from awm import atomic
from awm.model.client import Complete, Completion
from awm.records import Experience, Workflow

OBSERVATION_CHARS = 300
STEPS_PER_EXPERIENCE = 30

INSTRUCTION = """You are given a list of software-engineering tasks that a coding agent solved successfully in the same
repository. Each task has an issue description and the agent's trajectory: the steps it took, each with its
reasoning, the tool it used (terminal command or file edit) and a trimmed observation. All of these fixes were
verified by the repository's tests.

Extract the common workflows: reusable sub-routines that recur across these tasks and would help an agent solve
future issues in this repository (for example: locating the code behind an error message, reproducing a bug
with a minimal script, fixing a validation edge case, running the relevant test module). Rules:
- Each workflow has a short name, one line saying when to use it, and at least two steps.
- Each step is a short reasoning followed by the action, written so it applies beyond one task: replace
  task-specific values (file paths, class and function names, test names, literal inputs) with descriptive
  slots in braces such as {module-path}, {failing-test} or {bad-input}.
- Do not produce workflows that overlap with each other or with the workflows already in memory (listed
  below); produce as many as are needed to cover the recurring patterns, and none if nothing recurs.

Answer with the workflows only, each in exactly this format:

## Workflow: <name>
When to use: <one line>
Steps:
1. <reasoning> — `<action with {slots}>`
2. <reasoning> — `<action with {slots}>`

Example:

## Workflow: Reproduce a reported exception
When to use: the issue reports a traceback or wrong result for a specific call.
Steps:
1. Find where the failing function is defined — `grep -rn "def {function-name}" {package-dir}`
2. Write the call from the issue into a script and run it to see the failure — `python {repro-script}`
3. After the fix, run the script again and the tests of the module — `python -m pytest {test-module}`
"""


def render_experience(exp: Experience, index: int) -> str:
    lines = [f"### Task {index} ({exp.instance_id})", "Issue:", exp.problem_statement.strip(), "", "Trajectory:"]
    for n, step in enumerate(exp.history[:STEPS_PER_EXPERIENCE], 1):
        thought = f" Reasoning: {step.thought.strip()}" if step.thought.strip() else ""
        obs = step.observation.strip().replace("\n", " ")[:OBSERVATION_CHARS]
        lines.append(f"{n}.{thought} Action ({step.tool}): {step.action.strip()}")
        if obs:
            lines.append(f"   Observation: {obs}")
    return "\n".join(lines)


def build_messages(experiences: list[Experience], existing: list[Workflow]) -> list[dict]:
    memory = "\n\n".join(w.render() for w in existing) if existing else "(none yet)"
    tasks = "\n\n".join(render_experience(e, i) for i, e in enumerate(experiences, 1))
    user = f"Workflows already in memory:\n\n{memory}\n\nSolved tasks:\n\n{tasks}\n\nNow write the new workflows."
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": user}]


_HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)?\s*(?:workflow\s*\d*\s*[:.\-–—]\s*)?(?P<name>.+?)\s*(?:\*\*)?\s*$", re.I)
_WHEN = re.compile(r"^\s*[*_]*\s*(?:when to use|description|use when)\s*[*_]*\s*[:：]\s*[*_]*\s*(?P<text>.+)$", re.I)
_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(?P<text>.+)$")
_STEPS_LABEL = re.compile(r"^\s*[*_]*\s*steps\s*[*_]*\s*:?\s*[*_]*\s*$", re.I)


def parse_workflows(text: str) -> list[dict]:
    """Read workflows out of a reply: the instructed format, looser markdown, or a JSON list. Items with no
    name or fewer than two steps are dropped."""
    parsed = _parse_json(text)
    if parsed is None:
        parsed = _parse_markdown(text)
    seen: set[str] = set()
    out = []
    for item in parsed:
        name = str(item.get("name", "")).strip().strip("*#` ")
        steps = [str(s).strip() for s in item.get("steps", []) if str(s).strip()]
        if not name or len(steps) < 2 or name.lower() in seen:
            continue
        seen.add(name.lower())
        out.append({"name": name, "description": str(item.get("description", "")).strip(), "steps": steps})
    return out


def _parse_json(text: str) -> list[dict] | None:
    match = re.search(r"\[\s*\{.*\}\s*\]", text, re.S)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not all(isinstance(x, dict) for x in data):
        return None
    return [{"name": x.get("name") or x.get("title", ""),
             "description": x.get("description") or x.get("when_to_use", ""),
             "steps": [s if isinstance(s, str) else json.dumps(s) for s in x.get("steps", [])]} for x in data]


def _parse_markdown(text: str) -> list[dict]:
    items: list[dict] = []
    current: dict | None = None
    for line in text.splitlines():
        if not line.strip() or _STEPS_LABEL.match(line):
            continue
        is_heading = line.lstrip().startswith("#") or re.match(r"^\s*(\*\*)?\s*workflow\b", line, re.I)
        if is_heading and not _STEP.match(line):
            heading = _HEADING.match(line)
            current = {"name": heading.group("name") if heading else line.strip(), "description": "", "steps": []}
            items.append(current)
            continue
        if current is None:
            continue
        when = _WHEN.match(line)
        if when and not current["description"]:
            current["description"] = when.group("text").strip().strip("*_ ")
            continue
        step = _STEP.match(line)
        if step:
            current["steps"].append(step.group("text").strip())
        elif current["steps"]:
            current["steps"][-1] += " " + line.strip()
        elif not current["description"]:
            current["description"] = line.strip()
    return items


_NONE = re.compile(r"^\W*(?:none\W*|no (?:new |recurring |common )?workflows?\b.*|nothing recurs\b.*)$", re.I | re.S)


def failure(text: str, parsed: list[dict]) -> str:
    """Why a reply that gave no workflow counts as a failed round ("" when it gave some, or said plainly, in a
    short reply, that nothing recurs, as the instruction allows)."""
    if parsed:
        return ""
    stripped = text.strip()
    if not stripped:
        return "the induction reply was empty"
    if len(stripped) <= 300 and _NONE.match(stripped):
        return ""
    headings = _parse_json(text)
    headings = headings if headings is not None else _parse_markdown(text)
    if headings:
        return (f"the induction reply had {len(headings)} workflow heading(s) but none with a name and at least two "
                "numbered steps")
    return ("the induction reply held no workflow in the expected format (`## Workflow: <name>`, `When to use:`, "
            "numbered steps)")


class Inducer:
    def __init__(self, complete: Complete, out_dir: Path):
        self.complete = complete
        self.out_dir = out_dir
        self.scrub: Callable[[str], str] = lambda text: text  # the run's secret scrubber (set by the engine)
        self.last_reply_path: Path | None = None

    def reply_path(self, round_number: int, attempt: int = 1) -> Path:
        """induction/round_NNN.reply.txt; a retried round's later attempts: round_NNN.attemptK.reply.txt."""
        suffix = "" if attempt <= 1 else f".attempt{attempt}"
        return self.out_dir / f"round_{round_number:03d}{suffix}.reply.txt"

    def induce(self, round_number: int, experiences: list[Experience], existing: list[Workflow],
               attempt: int = 1) -> tuple[list[dict], Completion]:
        """One attempt at a round: prompt and raw reply saved under induction/ (`last_reply_path`); returns the
        parsed workflows."""
        messages = build_messages(experiences, existing)
        prefix = self.out_dir / f"round_{round_number:03d}"
        self.last_reply_path = None
        atomic.write_text(prefix.with_suffix(".prompt.txt"),
                          self.scrub("\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in messages)))
        reply = self.complete(messages)
        path = self.reply_path(round_number, attempt)
        atomic.write_text(path, self.scrub(reply.text))
        self.last_reply_path = path
        return parse_workflows(reply.text), reply
