"""Induction (AWM): an LLM reads successful fixes and writes the reusable sub-routines they share (workflows);
with `induction.from_failures`, it reads failed attempts and writes short pitfalls; with `memory.merge: llm`, it
merges a re-induced workflow into the version in memory (ACE-style).

Each trajectory is condensed within `budget_tokens` (awm.memory.condense): its edits, test runs and final patch
first, exploration as far as the budget allows. Prompts never carry the gold patch, the hidden tests or the
evaluation's output: only what the agent saw and did."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from awm import atomic
from awm.memory.condense import Count, condense
from awm.model.client import Complete, Completion, approx_tokens
from awm.records import PITFALL, WORKFLOW, Experience, Workflow

__all__ = ["Completion", "Inducer", "build_messages", "build_pitfall_messages", "build_merge_messages",
           "parse_workflows", "parse_pitfalls", "failure", "render_experience", "INSTRUCTION",
           "PITFALL_INSTRUCTION", "MERGE_INSTRUCTION"]

BUDGET_TOKENS = 6000  # per trajectory (induction.budget_tokens)
JUDGE_REASONING_CHARS = 600  # of a judge's reasoning shown with a failed attempt

INSTRUCTION = """You are given a list of software-engineering tasks that a coding agent solved successfully in the same
repository. Each task has an issue description and the agent's trajectory, condensed: its edits and test runs,
as much of its exploration as fits (omitted stretches are marked), each step with its reasoning, the tool it used
(terminal command or file edit) and a trimmed observation, then the final patch. These fixes were judged
successful, by the repository's tests or by a reviewer.

Extract the common workflows: reusable sub-routines that recur across these tasks and would help an agent solve
future issues in this repository (for example: locating the code behind an error message, reproducing a bug
with a minimal script, fixing a validation edge case, running the relevant test module). Rules:
- Each workflow has a short name, one line saying when to use it, and at least two steps.
- Each step is a short reasoning followed by the action, written so it applies beyond one task.
- Keep what is invariant in this repository written out, not as slots: the test runner and exactly how it is
  invoked (e.g. `python -m pytest -q tests/...` or `./tests/runtests.py`), the settings module, the package
  layout and the directories every task shares are knowledge the next agent needs.
- Use slots in braces only for what changes from one issue to the next: the module or function at fault, the
  failing test, the bad input, e.g. {module-path}, {failing-test} or {bad-input}.
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
1. Find where the failing function is defined — `grep -rn "def {function-name}" src/mypkg`
2. Write the call from the issue into a script and run it to see the failure — `python {repro-script}`
3. After the fix, run the script again and the tests of the module — `python -m pytest -q tests/{test-module}`
"""

PITFALL_INSTRUCTION = """You are given a list of software-engineering tasks that a coding agent failed to solve in the
same repository. Each task has an issue description, the agent's trajectory, condensed: its edits and test runs,
as much of its exploration as fits (omitted stretches are marked), then its final patch, which did not resolve
the issue (by the repository's hidden tests or by a reviewer, whose assessment is quoted when there is one).

Find the mistakes that could recur on future issues in this repository and write short pitfalls: what went
wrong and how to avoid it. Rules:
- Each pitfall has a short name, one line saying when it bites (the situation, not this task), and one to three
  steps saying how to avoid it, each a short reasoning followed by an action.
- Keep what is invariant in this repository written out (the test runner and its invocation, the settings
  module, the package layout); use slots in braces only for what changes between issues, e.g. {module-path}.
- Only mistakes the trajectory shows: a fix of a symptom instead of the cause, an edit in the wrong place, tests
  not run or their failure ignored, an incomplete change. Do not guess at what the hidden tests check.
- Do not repeat pitfalls already in memory (listed below), and write none if the failures teach nothing general.

Answer with the pitfalls only, each in exactly this format:

## Pitfall: <name>
When it bites: <one line>
How to avoid it:
1. <reasoning> — `<action with {slots}>`

Example:

## Pitfall: Patching the caller instead of the broken helper
When it bites: the wrong value is produced by a shared helper and the issue shows it through one caller.
How to avoid it:
1. Follow the value back to where it is computed before editing — `grep -rn "def {helper-name}" src/mypkg`
2. Fix the helper and run the tests of every caller — `python -m pytest -q tests/`
"""

MERGE_INSTRUCTION = """You are merging two versions of a workflow (or of a pitfall) in a coding agent's memory: the
version in memory and a near-duplicate just induced from newer tasks. Write ONE item that keeps what is useful in both:
the steps both share once, the concrete knowledge either adds (commands, paths, test invocations that are the
same in every task of the repository), and slots in braces only for what changes between issues. Keep it as
short as the older one unless the newer one adds a real step. Do not add anything neither version says.

Answer with the merged item only, in the same format as the versions: for a workflow

## Workflow: <name>
When to use: <one line>
Steps:
1. <reasoning> — `<action>`
2. <reasoning> — `<action>`

and for a pitfall

## Pitfall: <name>
When it bites: <one line>
How to avoid it:
1. <reasoning> — `<action>`
"""


def render_experience(exp: Experience, index: int, budget_tokens: int = BUDGET_TOKENS,
                      count: Count | None = None, *, assessment: bool = False) -> str:
    """One task of an induction prompt: its header (with the instance id) and the condensed experience; with
    `assessment` (a failed attempt), the judge's reasoning when the judge failed it."""
    text = f"### Task {index} ({exp.instance_id})\n{condense(exp, budget_tokens, count or approx_tokens)}"
    judge = exp.judge or {}
    reasoning = " ".join(str(judge.get("reasoning", "")).split())
    if assessment and reasoning and judge.get("verdict") == "FAIL":
        text += f"\n\nReviewer's assessment: {reasoning[:JUDGE_REASONING_CHARS]}"
    return text


def _existing(existing: list[Workflow], kind: str) -> str:
    entries = [w for w in existing if getattr(w, "kind", WORKFLOW) == kind and not getattr(w, "disabled", False)]
    return "\n\n".join(w.render() for w in entries) if entries else "(none yet)"


def build_messages(experiences: list[Experience], existing: list[Workflow], budget_tokens: int = BUDGET_TOKENS,
                   count: Count | None = None) -> list[dict]:
    tasks = "\n\n".join(render_experience(e, i, budget_tokens, count) for i, e in enumerate(experiences, 1))
    user = (f"Workflows already in memory:\n\n{_existing(existing, WORKFLOW)}\n\nSolved tasks:\n\n{tasks}\n\n"
            "Now write the new workflows.")
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": user}]


def build_pitfall_messages(failures: list[Experience], existing: list[Workflow],
                           budget_tokens: int = BUDGET_TOKENS, count: Count | None = None) -> list[dict]:
    tasks = "\n\n".join(render_experience(e, i, budget_tokens, count, assessment=True)
                        for i, e in enumerate(failures, 1))
    user = (f"Pitfalls already in memory:\n\n{_existing(existing, PITFALL)}\n\nFailed tasks:\n\n{tasks}\n\n"
            "Now write the new pitfalls.")
    return [{"role": "system", "content": PITFALL_INSTRUCTION}, {"role": "user", "content": user}]


def _render_item(item: Workflow | dict, kind: str) -> str:
    if isinstance(item, Workflow):
        return item.render()
    return Workflow(id="", name=str(item.get("name", "")), description=str(item.get("description", "")),
                    steps=[str(s) for s in item.get("steps", [])], kind=kind).render()


def build_merge_messages(old: Workflow, new: dict) -> list[dict]:
    kind = getattr(old, "kind", WORKFLOW)
    what = "pitfall" if kind == PITFALL else "workflow"
    user = (f"Version in memory ({what} {old.id}, version {old.version}, learned from "
            f"{len(old.source_instances)} task(s)):\n\n{_render_item(old, kind)}\n\n"
            f"Newly induced version:\n\n{_render_item(new, kind)}\n\nNow write the merged {what}.")
    return [{"role": "system", "content": MERGE_INSTRUCTION}, {"role": "user", "content": user}]


# --- reading replies -----------------------------------------------------------------------------------------

_KIND_WORD = r"(?:workflow|pitfall)"
_HEADING = re.compile(rf"^\s*(?:#{{1,6}}\s*|\*\*)?\s*(?:{_KIND_WORD}\s*\d*\s*[:.\-–—]\s*)?"
                      r"(?P<name>.+?)\s*(?:\*\*)?\s*$", re.I)
_WHEN = re.compile(r"^\s*[*_]*\s*(?:when to use|when it bites|description|use when|when)\s*[*_]*\s*[:：]\s*[*_]*\s*"
                   r"(?P<text>.+)$", re.I)
_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(?P<text>.+)$")
_STEPS_LABEL = re.compile(r"^\s*[*_]*\s*(?:steps|how to avoid it|how to avoid)\s*[*_]*\s*:?\s*[*_]*\s*$", re.I)
MIN_STEPS = {WORKFLOW: 2, PITFALL: 1}


def parse_workflows(text: str) -> list[dict]:
    """Read workflows out of a reply: the instructed format, looser markdown, or a JSON list. Items with no
    name or fewer than two steps are dropped."""
    return _parse(text, WORKFLOW)


def parse_pitfalls(text: str) -> list[dict]:
    """Read pitfalls ({name, description: when it bites, steps: how to avoid it}) out of a reply, in the
    instructed format, looser markdown or a JSON list. Items with no name or no step are dropped."""
    return _parse(text, PITFALL)


def parse_items(text: str, kind: str = WORKFLOW) -> list[dict]:
    return _parse(text, kind)


def _parse(text: str, kind: str) -> list[dict]:
    parsed = _parse_json(text)
    if parsed is None:
        parsed = _parse_markdown(text)
    seen: set[str] = set()
    out = []
    for item in parsed:
        name = str(item.get("name", "")).strip().strip("*#` ")
        steps = [str(s).strip() for s in item.get("steps", []) if str(s).strip()]
        if not name or len(steps) < MIN_STEPS[kind] or name.lower() in seen:
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
             "description": (x.get("description") or x.get("when_to_use") or x.get("when_it_bites")
                             or x.get("when", "")),
             "steps": [s if isinstance(s, str) else json.dumps(s)
                       for s in (x.get("steps") or x.get("how_to_avoid") or x.get("how_to_avoid_it") or [])]}
            for x in data]


def _parse_markdown(text: str) -> list[dict]:
    items: list[dict] = []
    current: dict | None = None
    for line in text.splitlines():
        if not line.strip() or _STEPS_LABEL.match(line):
            continue
        is_heading = line.lstrip().startswith("#") or re.match(rf"^\s*(\*\*)?\s*{_KIND_WORD}\b", line, re.I)
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


_NONE = re.compile(r"^\W*(?:none\W*|no (?:new |recurring |common |general )?(?:workflows?|pitfalls?)\b.*|"
                   r"nothing (?:recurs|general)\b.*)$", re.I | re.S)


def failure(text: str, parsed: list[dict], kind: str = WORKFLOW) -> str:
    """Why a reply that gave no item counts as a failed round ("" when it gave some, or said plainly, in a
    short reply, that nothing recurs, as the instruction allows)."""
    if parsed:
        return ""
    stripped = text.strip()
    what = "pitfall" if kind == PITFALL else "workflow"
    if not stripped:
        return "the induction reply was empty"
    if len(stripped) <= 300 and _NONE.match(stripped):
        return ""
    headings = _parse_json(text)
    headings = headings if headings is not None else _parse_markdown(text)
    if headings:
        need = "at least two numbered steps" if kind == WORKFLOW else "a numbered step"
        return f"the induction reply had {len(headings)} {what} heading(s) but none with a name and {need}"
    if kind == PITFALL:
        return ("the induction reply held no pitfall in the expected format (`## Pitfall: <name>`, `When it bites:`, "
                "`How to avoid it:`, numbered steps)")
    return ("the induction reply held no workflow in the expected format (`## Workflow: <name>`, `When to use:`, "
            "numbered steps)")


def _transcript(messages: list[dict]) -> str:
    return "\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in messages)


class Inducer:
    """The model calls of induction: workflows from successes, pitfalls from failures, LLM merges. Prompts and
    raw replies are saved under out_dir (the run's induction/ folder)."""

    def __init__(self, complete: Complete, out_dir: Path, *, budget_tokens: int = BUDGET_TOKENS,
                 count: Count | None = None):
        self.complete = complete
        self.out_dir = Path(out_dir)
        self.budget_tokens = budget_tokens
        self.count: Count = count or approx_tokens
        self.scrub: Callable[[str], str] = lambda text: text  # the run's secret scrubber (set by the engine)
        self.last_reply_path: Path | None = None
        self.merge_usage: dict = {"cost": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "calls": 0}

    @staticmethod
    def _stem(round_number: int, kind: str) -> str:
        return f"{'pitfalls' if kind == PITFALL else 'round'}_{round_number:03d}"

    def reply_path(self, round_number: int, attempt: int = 1, kind: str = WORKFLOW) -> Path:
        """induction/round_NNN.reply.txt (pitfalls: pitfalls_NNN.reply.txt); a retried round's later attempts:
        round_NNN.attemptK.reply.txt."""
        suffix = "" if attempt <= 1 else f".attempt{attempt}"
        return self.out_dir / f"{self._stem(round_number, kind)}{suffix}.reply.txt"

    def prompt_path(self, round_number: int, kind: str = WORKFLOW) -> Path:
        return self.out_dir / f"{self._stem(round_number, kind)}.prompt.txt"

    def _ask(self, messages: list[dict], prompt: Path, reply_path: Path) -> Completion:
        self.last_reply_path = None
        atomic.write_text(prompt, self.scrub(_transcript(messages)))
        reply = self.complete(messages)
        atomic.write_text(reply_path, self.scrub(reply.text))
        self.last_reply_path = reply_path
        return reply

    # induce and induce_pitfalls take their first three positionally only: the engine calls either, as one kind of
    # round (awm.run.memory.RunMemory._induce), so their parameters' names are no part of the call
    def induce(self, round_number: int, experiences: list[Experience], existing: list[Workflow], /,
               attempt: int = 1) -> tuple[list[dict], Completion]:
        """One attempt at a workflow round: prompt and raw reply saved under induction/ (`last_reply_path`); returns
        the parsed workflows. `existing` may hold pitfalls too: only workflows are listed."""
        messages = build_messages(experiences, existing, self.budget_tokens, self.count)
        reply = self._ask(messages, self.prompt_path(round_number), self.reply_path(round_number, attempt))
        return parse_workflows(reply.text), reply

    def induce_pitfalls(self, round_number: int, failures: list[Experience], existing: list[Workflow], /,
                        attempt: int = 1) -> tuple[list[dict], Completion]:
        """One attempt at a pitfall round from failed attempts: pitfalls_NNN.prompt.txt / .reply.txt; returns the
        parsed pitfalls (use `failure(text, parsed, PITFALL)` to tell an unusable reply)."""
        messages = build_pitfall_messages(failures, existing, self.budget_tokens, self.count)
        reply = self._ask(messages, self.prompt_path(round_number, PITFALL),
                          self.reply_path(round_number, attempt, PITFALL))
        return parse_pitfalls(reply.text), reply

    def merge(self, old: Workflow, new: dict) -> dict:
        """The LLM's merge of a re-induced item into the version in memory: {name, description, steps}. Prompt and
        reply saved as merge_<id>_vN.prompt.txt / .reply.txt (N: the version it makes); usage added to
        `merge_usage` (also for an unusable reply). Raises ValueError on a reply with no usable item (naming where
        the reply is kept), and whatever the call raises (after the model client's own retries of transient
        faults, llm.num_retries). The engine counts failed merges in a row and stops the run after a few."""
        messages = build_merge_messages(old, new)
        stem = self.out_dir / f"merge_{old.id}_v{old.version + 1}"
        atomic.write_text(stem.with_name(stem.name + ".prompt.txt"), self.scrub(_transcript(messages)))
        reply = self.complete(messages)
        reply_path = stem.with_name(stem.name + ".reply.txt")
        atomic.write_text(reply_path, self.scrub(reply.text))
        self.merge_usage["cost"] += reply.cost
        self.merge_usage["prompt_tokens"] += reply.prompt_tokens
        self.merge_usage["completion_tokens"] += reply.completion_tokens
        self.merge_usage["calls"] += 1
        items = _parse(reply.text, getattr(old, "kind", WORKFLOW))
        if not items:
            kept = Path(self.out_dir.name) / reply_path.name  # relative to the run folder
            raise ValueError(f"the merge reply for {old.id} held no usable item (kept in {kept}): "
                             f"{self.scrub(' '.join(reply.text.split()))[:120]!r}")
        return items[0]
