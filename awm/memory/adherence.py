"""Adherence: how far an issue's trajectory followed each memory entry it was given, a score in [0, 1] kept in its
record (Experience.adherence: entry id -> score), computed when the issue finishes. `memory.adherence`: `lexical`
(the default, below), `judge` (the model memory's own calls go to rates each entry: AdherenceJudge, at the end of
this module) or `off`.

The lexical method, deterministic and free (no model call):
1. An entry's steps are read as the prompt showed them (Workflow.steps, the version the issue was given). Induction
   asks for steps written as "<reasoning> — `<action with {slots}>`" (awm.memory.induction), so when a step holds
   `code` spans, the code is what is compared: it is what the agent would run, while the prose says why and is
   worded in ways no action repeats. A step without code, or whose code has no word left (`python {script}`), is
   compared by the words of its prose.
2. Words: split at anything not a letter or digit and at case changes (as retrieval does, so `str_replace` and
   `fromRoman` give their words), lower-cased; English stopwords (bm25s' list, the one retrieval uses), bare numbers
   and single letters (`-n`, `-q`) left out, and so is the plumbing of a command line (PLUMBING: `python`, `cd`,
   `bash`, `.py`...), which says how something is run, not what: without it, `python -m pytest` would be half
   matched by any `python script.py`, and `pytest tests/` only half match it. A `{slot}` is a wildcard: it stands for
   whatever the issue puts there, so it is left out too (it can be neither missed nor matched). A step with no word
   left is not scored.
3. An action's words: those of its text as the trajectory records it (a shell command; a file edit's command, path
   and changed lines; see awm.agent.trajectory.action_text), plus a few verbs its kind means, by the rule the
   induction and judge prompts condense trajectories with (awm.memory.condense.step_kind): an edit (a file_editor
   `str_replace`, `sed -i`, ...) is an edit, change, fix...; a test run (pytest, runtests.py, `manage.py test`,
   ...) is a run and a test; a shell command is a run; a file `view` is reading or opening a file. So a step
   written in words ("Run the tests", "Edit the function") can meet an action written in code.
4. Two words match when they are equal, or the shorter (at least 3 letters) begins the longer (test / tests,
   run / running), or they share their first 6 letters (reproduce / reproduction, normalise / normalize): a crude
   stemming, with no stemmer library to lean on.
5. A step matches an action when at least STEP_MATCH (half) of the step's words match a word of the action.
6. The steps are aligned with the actions in order: a longest common subsequence (dynamic programming over steps x
   actions) where a step may pair with an action it matches; each step and each action pairs at most once, and the
   pairs keep both orders. The score is the number of paired steps over the number of scored steps.

Why this and not a similarity of the whole texts: a workflow is a procedure, and following it means doing its steps,
in its order; an LCS credits exactly that, and a step done out of order counts only once the order allows it (steps
A, B, C done as C, B, A score 1/3). The step threshold keeps a shared word ("python") from making a match.

An entry is *followed* when its score is at least FOLLOWED (0.5: at least half its steps were done, in order); an
issue is followed when any entry it was given is. `awm-tui compare` reports each arm's resolved rate on followed vs
not followed issues (awm.experiment.compare).

What the score is not: proof that the entry was used. An agent that greps, edits and runs the tests matches a
"grep, edit, test" workflow whether or not it read it (the demo's scripted learner, and real models, do these
things anyway), and an agent that followed an entry's idea with other commands scores low. It is lexical overlap
in order: evidence to read beside the trajectory, a screening figure, not a causal one (the ablation is).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from awm import atomic
from awm.records import Experience, Issue, Status, Step, Workflow

METHODS = ("lexical", "judge", "off")
FOLLOWED = 0.5  # an entry is followed when its score reaches this
STEP_MATCH = 0.5  # a step matches an action when this share of its words is found in the action
STEM_PREFIX = 6  # words sharing their first this many letters match
# words of a command line that say how it runs, not what it does: never compared
PLUMBING = frozenset({"python", "python3", "py", "cd", "bash", "sh", "env", "sudo"})

_SLOT = re.compile(r"\{[^{}\n]*\}")
_CODE = re.compile(r"`([^`]+)`")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # retrieval's split (awm.memory.retrieval)
# What an action means, in the words a step uses for it: by its kind (awm.memory.condense.step_kind, the rule the
# induction and judge prompts condense trajectories by) and, for a file view, its command.
_KIND_VERBS = {
    "edit": ("edit", "change", "modify", "replace", "fix", "update", "patch", "apply", "add", "insert", "write"),
    "test": ("run", "execute", "test", "tests", "check", "verify"),
    "finish": ("finish", "submit", "done"),
}
_VIEW_VERBS = ("view", "open", "read", "look", "inspect", "examine", "show")
_SHELL_VERBS = ("run", "execute", "command")


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS  # loaded on first use: bm25s brings numpy

    return frozenset(STOPWORDS_EN_PLUS)


def words(text: str) -> list[str]:
    """The content words of `text` (see the module docstring, 2.), slots left out, in order, each once."""
    text = _SLOT.sub(" ", text)
    stop = _stopwords()
    found = (w.lower() for w in _WORD.findall(text))
    return list(dict.fromkeys(w for w in found if len(w) > 1 and not w.isdigit() and w not in stop))


def step_words(step: str) -> list[str]:
    """What of an entry's step is compared: the words of its `code` spans, else of its prose (see the module
    docstring, 1. and 2.)."""
    code = [w for w in words(" ".join(_CODE.findall(step))) if w not in PLUMBING]
    return code or [w for w in words(_CODE.sub(" ", step)) if w not in PLUMBING]


def action_words(step: Step) -> frozenset[str]:
    """An action's words: its text's, and the verbs its kind means (see the module docstring, 3.)."""
    from awm.memory.condense import step_kind

    found = set(words(step.action))
    found.update(_KIND_VERBS.get(step_kind(step), ()))
    if step.action.startswith("$ ") or step.tool == "terminal":
        found.update(_SHELL_VERBS)
    if step.tool == "file_editor" and step.action.split(None, 1)[:1] == ["view"]:
        found.update(_VIEW_VERBS)
    return frozenset(found)


def same_word(a: str, b: str) -> bool:
    """Equal, or the shorter (3+ letters) begins the longer, or the first STEM_PREFIX letters agree."""
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 3 and long.startswith(short):
        return True
    return len(short) >= STEM_PREFIX and short[:STEM_PREFIX] == long[:STEM_PREFIX]


def similarity(step: Sequence[str], action: frozenset[str]) -> float:
    """The share of a step's words that match a word of the action (0 for a step with no word)."""
    if not step:
        return 0.0
    return sum(1 for w in step if w in action or any(same_word(w, a) for a in action)) / len(step)


def align(steps: Sequence[str], history: Sequence[Step], step_match: float = STEP_MATCH) -> list[tuple[int, int]]:
    """The longest in-order pairing of steps with actions they match: (step index, action index) pairs, both
    increasing. Steps with no word are never paired. Deterministic: among equally long pairings, the one the
    table's walk back from the end finds (latest actions kept on ties)."""
    compared = [step_words(s) for s in steps]
    actions = [action_words(a) for a in history]
    n, m = len(compared), len(actions)
    match = [[bool(compared[i]) and similarity(compared[i], actions[j]) >= step_match for j in range(m)]
             for i in range(n)]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1], best[i + 1][j + 1] + 1 if match[i][j] else 0)
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if match[i][j] and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def score(steps: Sequence[str], history: Sequence[Step]) -> float | None:
    """Paired steps over scored steps (None: no step has a word to compare)."""
    scored = sum(1 for s in steps if step_words(s))
    if not scored:
        return None
    return len(align(steps, history)) / scored


def scores(entries: Iterable[Workflow], history: Sequence[Step]) -> dict[str, float]:
    """Each given entry's score, rounded to 3 places (an entry with nothing to compare is left out)."""
    out: dict[str, float] = {}
    for entry in entries:
        value = score(entry.steps, history)
        if value is not None:
            out[entry.id] = round(value, 3)
    return out


def measure(method: str, entries: Sequence[Workflow], history: Sequence[Step]) -> dict[str, float]:
    """The lexical scores the engine stores when an issue finishes (`memory.adherence: lexical`); {} when adherence
    is off or nothing was given. Never raises: a failure to score leaves the issue's record without scores (the
    issue's verdict is what matters; adherence is a reading of it)."""
    if method != "lexical" or not entries:
        return {}
    try:
        return scores(entries, history)
    except Exception:  # noqa: BLE001 - a reading of the trajectory must not fail the issue
        return {}


def record(experience: Experience, issue: Issue, entries: Sequence[Workflow], method: str,
           judge: AdherenceJudge | None = None) -> None:
    """Score a finished issue's adherence into its record (`adherence`, and with the judge `adherence_judge`, the
    call's cost and fault): lexically, or by `judge` when `memory.adherence: judge`. Never raises."""
    if method == "judge" and judge is not None and entries:
        try:
            experience.adherence, experience.adherence_judge = judge.score(issue, experience, entries)
        except Exception as exc:  # noqa: BLE001 - the judge's own faults are caught in score(); this is a bug's
            experience.adherence, experience.adherence_judge = {}, {"error": f"{type(exc).__name__}: {exc}"[:500]}
        return
    experience.adherence = measure(method, entries, experience.history)


def followed(adherence: dict[str, Any], threshold: float = FOLLOWED) -> bool | None:
    """Whether an issue followed any entry it was given (None: no score recorded)."""
    values = [float(v) for v in (adherence or {}).values() if isinstance(v, (int, float))]
    if not values:
        return None
    return max(values) >= threshold


def split(experiences: Iterable[Any], threshold: float = FOLLOWED) -> dict[str, Any]:
    """Issues given memory entries, split by whether they followed one: {"followed": {"issues", "resolved"},
    "not_followed": {...}, "unscored": issues given entries with no score recorded (adherence off, or a journal
    from before it), "given": issues given any entry, "mean_score": the mean of each scored issue's best score}."""
    groups = {"followed": {"issues": 0, "resolved": 0}, "not_followed": {"issues": 0, "resolved": 0}}
    given = unscored = 0
    best: list[float] = []
    for exp in experiences:
        if not exp.workflow_ids:
            continue
        given += 1
        verdict = followed(getattr(exp, "adherence", None) or {}, threshold)
        if verdict is None:
            unscored += 1
            continue
        best.append(max(float(v) for v in exp.adherence.values()))
        group = groups["followed" if verdict else "not_followed"]
        group["issues"] += 1
        group["resolved"] += exp.status == Status.PASS
    return {**groups, "unscored": unscored, "given": given, "mean_score": sum(best) / len(best) if best else None}


# ---- the judge (memory.adherence: judge)

JUDGE_FOLDER = "adherence"  # prompts and replies: adherence/<instance_id>.prompt.txt / .reply.txt
JUDGE_ISSUE_TOKENS = 1000  # the issue text, at most (the trajectory gets the rest of induction.budget_tokens)

JUDGE_INSTRUCTION = """You are rating how closely a coding agent followed the memory entries it was given. The agent
was given, in its system prompt, workflows (procedures that worked on earlier issues) and pitfalls (mistakes to
avoid), each with numbered steps. You are given the issue, those entries with their ids, and the agent's
trajectory, condensed (its edits, its test runs and as much of its exploration as fits; omitted stretches are
marked).

For each entry, rate the share of its steps that the agent's actions carried out, in the entry's order: 0 when it
did none of them, 1 when it did every one. A step counts when an action does what the step says (the same command,
or one that does the same thing on this issue's files); `{slots}` stand for whatever this issue puts there. Rate
what the agent did, not what it said it would do; a step done out of the entry's order counts only if the order
does not matter to it. For a pitfall, rate the steps that say how to avoid it.

Answer with one line per entry and nothing after them, each exactly
<entry id>: <score between 0 and 1>
for example
wf-reproduce-a-bug: 0.5
"""

_SCORE = re.compile(r"^[\s*`>#-]*(?P<id>(?:wf|pf)-[a-z0-9-]+)[`*\s]*[:=]\s*[`*]*"
                    r"(?P<value>[0-9]*\.?[0-9]+)\s*(?P<pct>%)?", re.I | re.M)


def parse_scores(text: str, ids: Sequence[str]) -> dict[str, float]:
    """`<id>: <score>` lines of a reply, for the ids given (the last line of an id counts; a percentage is read as
    one; a value above 1 otherwise, or an id not given, is left out)."""
    wanted = set(ids)
    found: dict[str, float] = {}
    for match in _SCORE.finditer(text):
        entry_id = match.group("id").lower()
        value = float(match.group("value")) / (100 if match.group("pct") else 1)
        if entry_id in wanted and 0.0 <= value <= 1.0:
            found[entry_id] = round(value, 3)
    return {i: found[i] for i in ids if i in found}


def build_messages(issue: Issue, experience: Experience, entries: Sequence[Workflow], budget_tokens: int,
                   count=None) -> list[dict]:
    """The judge's prompt: the issue (trimmed), the entries with their ids (as the agent's prompt rendered them)
    and the trajectory condensed within what is left of `budget_tokens`."""
    from awm.memory.condense import condense, fit_text
    from awm.model.client import approx_tokens

    count = count or approx_tokens
    statement = fit_text(issue.problem_statement.strip(), JUDGE_ISSUE_TOKENS, count)
    shown = "\n\n".join(f"Entry id: {w.id}\n{w.render()}" for w in entries)
    left = max(500, budget_tokens - count(statement) - count(shown))
    trajectory = condense(experience, left, count, issue=False, patch=False)
    user = (f"Instance: {issue.instance_id}\nRepository: {issue.repo}\n\nIssue:\n{statement}\n\n"
            f"The memory entries the agent was given:\n\n{shown}\n\n{trajectory}\n\n"
            f"Rate each entry ({', '.join(w.id for w in entries)}): one line `<entry id>: <score>` per entry.")
    return [{"role": "system", "content": JUDGE_INSTRUCTION}, {"role": "user", "content": user}]


class AdherenceJudge:
    """`memory.adherence: judge`: the model memory's own calls go to (induction.llm, else llm) rates each entry an
    issue was given, once, when the issue finishes. Its call is retried by the model client when the fault is
    transient (llm.num_retries); a call that still fails, or a reply with no score for any entry, leaves the issue
    without scores and the reason in its record (`adherence_judge.error`) and in the run's memory_faults.jsonl
    (kind `adherence`); it never fails the issue nor stops the run (nothing else depends on the scores). Its cost
    counts with memory's own (the statistics' induction cost). Prompts and replies are kept as
    adherence/<instance_id>.prompt.txt / .reply.txt."""

    def __init__(self, complete, out_dir, *, budget_tokens: int = 6000, count=None):
        self.complete = complete
        self.out_dir = Path(out_dir)
        self.budget_tokens = budget_tokens
        self.count = count
        self.scrub = lambda text: text  # the run's secret scrubber (set by the engine)

    def paths(self, instance_id: str) -> tuple[Path, Path]:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", instance_id) or "instance"
        folder = self.out_dir / JUDGE_FOLDER
        return folder / f"{stem}.prompt.txt", folder / f"{stem}.reply.txt"

    def score(self, issue: Issue, experience: Experience, entries: Sequence[Workflow]) -> tuple[dict, dict]:
        """(scores by entry id, the call: {"cost", "prompt_tokens", "completion_tokens", "reply_path", "error"})."""
        from awm.model.client import describe_fault

        call = {"cost": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "reply_path": "", "error": ""}
        messages = build_messages(issue, experience, entries, self.budget_tokens, self.count)
        prompt_path, reply_path = self.paths(issue.instance_id)
        atomic.write_text(prompt_path, self.scrub("\n\n".join(f"=== {m['role']} ===\n{m['content']}"
                                                              for m in messages)))
        try:
            reply = self.complete(messages)
        except Exception as exc:  # noqa: BLE001 - a judge that cannot answer leaves no score, not a crash
            call["error"] = self.scrub(f"the adherence judge's model call failed: {describe_fault(exc)}")[:500]
            return {}, call
        atomic.write_text(reply_path, self.scrub(reply.text))
        call.update(cost=reply.cost, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                    reply_path=str(reply_path.relative_to(self.out_dir)))
        found = parse_scores(reply.text, [w.id for w in entries])
        if not found:
            short = " ".join(reply.text.split())[:200]
            call["error"] = self.scrub(f"the adherence judge's reply had no `<entry id>: <score>` line for the "
                                       f"entries given: {short!r}" if short else "the adherence judge's reply was "
                                       "empty")
        return found, call
