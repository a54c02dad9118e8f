"""Adherence: how far an issue's trajectory followed each memory entry it was given, a score in [0, 1] kept in its
record (Experience.adherence: entry id -> score), computed when the issue finishes (`memory.adherence: lexical`, the
default; `off`: not computed).

The lexical method, deterministic and free (no model call):
1. An entry's steps are read as the prompt showed them (Workflow.steps, the version the issue was given). Induction
   asks for steps written as "<reasoning> — `<action with {slots}>`" (awm.memory.induction), so when a step holds
   `code` spans, the code is what is compared: it is what the agent would run, while the prose says why and is
   worded in ways no action repeats. A step without code is compared by all its words.
2. Words: split at anything not a letter or digit and at case changes (as retrieval does, so `str_replace` and
   `fromRoman` give their words), lower-cased; English stopwords (bm25s' list, the one retrieval uses), bare numbers
   and single letters (`-n`, `-q`) left out. A `{slot}` is a wildcard: it stands for whatever the issue puts there,
   so it is left out too (it can be neither missed nor matched). A step with no word left is not scored.
3. An action's words: those of its text as the trajectory records it (a shell command; a file edit's command, path
   and changed lines; see awm.agent.trajectory.action_text), plus a few verbs the tool itself means (a `view` is
   reading or opening a file, a `str_replace` an edit or change, a terminal command a run, and one that calls a
   test runner (pytest, unittest, runtests, tox, `manage.py test`) a test), so that a step written in words ("Run
   the tests", "Edit the function") can meet an action written in code.
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
from typing import Any, Iterable, Sequence

from awm.records import Step, Workflow

METHODS = ("lexical", "off")
FOLLOWED = 0.5  # an entry is followed when its score reaches this
STEP_MATCH = 0.5  # a step matches an action when this share of its words is found in the action
STEM_PREFIX = 6  # words sharing their first this many letters match

_SLOT = re.compile(r"\{[^{}\n]*\}")
_CODE = re.compile(r"`([^`]+)`")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # retrieval's split (awm.memory.retrieval)
# What a tool's action means, in the words a step uses for it (the SDK's file_editor commands, the terminal).
_EDITOR_VERBS = {
    "view": ("view", "open", "read", "look", "inspect", "examine", "show"),
    "str_replace": ("edit", "change", "modify", "replace", "fix", "update", "patch", "apply"),
    "insert": ("edit", "insert", "add", "change", "modify", "update", "patch"),
    "create": ("create", "write", "add", "new"),
    "undo_edit": ("undo", "revert"),
}
_TOOL_VERBS = {"terminal": ("run", "execute", "command"), "finish": ("finish", "submit", "done")}
_TEST_RUNNER = re.compile(r"pytest|unittest|runtests|\btox\b|\bnose|manage\.py\s+test")  # a terminal test run


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
    """What of an entry's step is compared: the words of its `code` spans when it has any, else of all of it."""
    code = _CODE.findall(step)
    return words(" ".join(code)) if code else words(step)


def action_words(step: Step) -> frozenset[str]:
    """An action's words: its text's, and the verbs its tool means (see the module docstring, 3.)."""
    found = set(words(step.action))
    found.update(_TOOL_VERBS.get(step.tool, ()))
    if step.tool == "terminal" and _TEST_RUNNER.search(step.action):
        found.update(("test", "tests"))
    if step.tool == "file_editor":
        command = step.action.split(None, 1)[0] if step.action.strip() else ""
        found.update(_EDITOR_VERBS.get(command, ()))
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
    """What the engine stores when an issue finishes: the scores by `method` (memory.adherence); {} when it is off
    or nothing was given. Never raises: a failure to score leaves the issue's record without scores (the issue's
    verdict is what matters; adherence is a reading of it)."""
    if method == "off" or not entries:
        return {}
    try:
        return scores(entries, history)
    except Exception:  # noqa: BLE001 - a reading of the trajectory must not fail the issue
        return {}


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
    from awm.records import Status

    out = {"followed": {"issues": 0, "resolved": 0}, "not_followed": {"issues": 0, "resolved": 0}, "unscored": 0,
           "given": 0, "mean_score": None}
    best: list[float] = []
    for exp in experiences:
        if not exp.workflow_ids:
            continue
        out["given"] += 1
        verdict = followed(getattr(exp, "adherence", None) or {}, threshold)
        if verdict is None:
            out["unscored"] += 1
            continue
        best.append(max(float(v) for v in exp.adherence.values()))
        group = out["followed" if verdict else "not_followed"]
        group["issues"] += 1
        group["resolved"] += exp.status == Status.PASS
    if best:
        out["mean_score"] = sum(best) / len(best)
    return out


def arm_figure(arm: str, experiences: Iterable[Any], threshold: float = FOLLOWED) -> dict[str, Any]:
    """What `awm-tui compare` reports for one arm's paired issues (every replicate): `split`, with each group's
    resolved rate and its 95% Wilson interval (nan with no issue), and the threshold used."""
    from awm.experiment import stats  # statsmodels on first use, not at import

    figure = {"arm": arm, "threshold": threshold, **split(experiences, threshold)}
    for key in ("followed", "not_followed"):
        group = figure[key]
        group["rate"] = group["resolved"] / group["issues"] if group["issues"] else float("nan")
        group["ci"] = stats.wilson(group["resolved"], group["issues"])
    return figure
