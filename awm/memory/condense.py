"""A trajectory condensed within a token budget, for induction and the judge: what the fix was, not how it began.

Condensing rule: every edit (file_editor create/str_replace/insert/undo_edit, and shell edits such as `sed -i`,
`patch`, `git apply` or a redirect into a file), every test run (pytest, runtests.py, `python -m unittest`,
tox, `manage.py test`, …) and the agent's closing message are kept first, newest first, in a compact form; then
as many as fit are shown in full (reasoning, the test output's tail). Exploration steps (reading files, grep,
listing) fill the budget that remains, earliest first (how the agent found the code). Each stretch of steps left
out is marked in place ("… 12 exploration steps omitted …"); the issue and the final patch (context lines dropped
first when it is long) take at most a fixed share of the budget. Steps keep their original numbers.

Nothing the agent did not see goes in: never the gold patch, the hidden tests or the evaluation's output.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from awm.model.client import approx_tokens
from awm.records import Experience, Step

Count = Callable[[str], int]  # text -> tokens

ISSUE_SHARE = 0.25  # of the budget, at most, for the issue text
PATCH_SHARE = 0.35  # of the budget, at most, for the final patch
THOUGHT_CHARS = {"full": 500, "compact": 160}
ACTION_CHARS = {"full": 2000, "compact": 700}
OBSERVATION_CHARS = {  # (kind, level) -> characters kept; test output keeps its tail (the summary), others the head
    ("test", "full"): 700, ("test", "compact"): 240,
    ("edit", "full"): 200, ("edit", "compact"): 0,
    ("finish", "full"): 0, ("finish", "compact"): 0,
    ("explore", "full"): 300, ("explore", "compact"): 100,
}
KEY = ("edit", "test", "finish")  # the kinds kept before any exploration

_EDIT_COMMANDS = {"create", "str_replace", "insert", "undo_edit", "write", "edit"}
_SHELL_TOOLS = {"terminal", "bash", "execute_bash", "shell", "cmd"}
_TEST_PROGRAMS = {"pytest", "py.test", "tox", "nox", "nosetests", "trial", "runtests.py", "runtests", "jest",
                  "phpunit", "rspec", "ctest"}
_TEST_MODULES = {"pytest", "unittest", "nose", "nose2", "tox", "nox", "trial"}
_BUILD_TOOLS = {"make", "npm", "yarn", "pnpm", "go", "cargo", "mvn", "gradle", "dotnet", "bundle"}
_SEGMENT = re.compile(r"&&|\|\||;|\||\n")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REDIRECT = re.compile(r"(?<![0-9&<])>>?\s*(?P<target>[^\s&|;<>]+)")
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_tests?|tests?)\.py$")


# --- what a step is ---------------------------------------------------------------------------------------

def step_kind(step: Step) -> str:
    """"edit", "test", "finish" or "explore"."""
    tool = step.tool.lower()
    action = step.action.strip()
    if tool == "finish":
        return "finish"
    if tool in _SHELL_TOOLS or action.startswith("$ "):
        return _command_kind(action.removeprefix("$ "))
    if action.split(maxsplit=1)[:1] and action.split(maxsplit=1)[0] in _EDIT_COMMANDS:
        return "edit"
    return "explore"


def _command_kind(command: str) -> str:
    lines = command.splitlines() or [""]
    if "<<" in lines[0]:  # a heredoc: its body is data, only the command line says what runs
        lines = lines[:1]
    text = "\n".join(lines)
    kinds = {_segment_kind(seg) for seg in _SEGMENT.split(text)}
    if "test" in kinds:
        return "test"
    if "edit" in kinds or any(_is_file_target(m.group("target")) for m in _REDIRECT.finditer(text)):
        return "edit"
    return "explore"


def _segment_kind(segment: str) -> str:
    words = segment.strip().split()
    while words and (_ASSIGN.match(words[0]) or words[0] in ("sudo", "env", "time", "exec", "nohup")):
        words = words[1:]
    if words and words[0] == "timeout":  # timeout [-s SIG] DURATION command …
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
        words = words[1:]
    if not words:
        return "explore"
    program = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if program in _TEST_PROGRAMS:
        return "test"
    if re.fullmatch(r"python[0-9.]*|coverage", program):
        if program == "coverage" and args[:1] == ["run"]:
            args = args[1:]
        if len(args) >= 2 and args[0] == "-m" and args[1] in _TEST_MODULES:
            return "test"
        if args and (args[0].endswith("runtests.py") or _TEST_FILE.search(args[0])):
            return "test"
        if len(args) >= 2 and args[0].endswith("manage.py") and args[1] == "test":
            return "test"
        return "explore"
    if program in _BUILD_TOOLS and any(a in ("test", "check", "tests") for a in args[:2]):
        return "test"
    if program == "sed" and any(a.startswith("--in-place") or re.fullmatch(r"-[a-zA-Z]*i.*", a) for a in args):
        return "edit"
    if program == "perl" and any(re.fullmatch(r"-[a-zA-Z]*i.*", a) for a in args):
        return "edit"
    if program in ("patch", "tee", "rm", "mv", "cp"):
        return "edit"
    if program == "git" and (args[:1] in (["apply"], ["am"], ["restore"]) or args[:2] == ["checkout", "--"]):
        return "edit"
    return "explore"


def _is_file_target(target: str) -> bool:
    target = target.strip("'\"")
    return bool(target) and target != "/dev/null" and not target.startswith("&") and not re.search(
        r"\.(txt|log|out|err)$", target)


# --- how a step is shown ------------------------------------------------------------------------------------

def _clip(text: str, limit: int, tail: bool = False) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if tail:  # from a line's start when one is near
        cut = text[-limit:]
        newline = cut.find("\n")
        return "… " + (cut[newline + 1:] if 0 <= newline < limit // 2 else cut)
    return text[:limit].rstrip() + " …"


_TEST_NOISE = re.compile(r"(\bPASSED|\bok|\.)\s*(\[\s*\d+%\])?\s*$")  # one passing test's line
_TEST_SIGNAL = re.compile(r"fail|error|assert|traceback|exception|\bpassed\b|\bskipped\b|^ok\b|^ran \d+ test",
                          re.I)


def _test_lines(output: str) -> str:
    """A test run's telling lines (failures, errors, the summary), or all of it when none stands out."""
    lines = [line for line in output.splitlines()
             if _TEST_SIGNAL.search(line) and not _TEST_NOISE.search(line) or line.startswith(("E ", ">"))]
    return "\n".join(lines) if lines else output


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line.strip() else prefix.rstrip() for line in text.splitlines())


def render_step(n: int, step: Step, kind: str, level: str) -> str:
    """Step number n (1-based, the trajectory's own numbering) at level "full" or "compact"."""
    thought = _clip(" ".join(step.thought.split()), THOUGHT_CHARS[level])
    action = _clip(step.action, ACTION_CHARS[level])
    keep = OBSERVATION_CHARS.get((kind, level), 0)
    observation = re.sub(r"\n\s*\n+", "\n", step.observation)
    if kind == "test":  # its lines matter (an assertion, the summary); other output reads well on one line
        observation = _test_lines(observation)
    else:
        observation = " ".join(observation.split())
    observation = _clip(observation, keep, tail=kind == "test") if keep else ""
    head = f"{n}." + (f" Reasoning: {thought}" if thought else "")
    first, _, rest = action.partition("\n")
    lines = [f"{head} Action ({step.tool}): {first}"]
    if rest:
        lines.append(_indent(rest))
    if observation:
        obs_first, _, obs_rest = observation.partition("\n")
        lines.append(f"   Observation: {obs_first}")
        if obs_rest:
            lines.append(_indent(obs_rest))
    return "\n".join(lines)


_PLURAL = {"edit": ("edit", "edits"), "test": ("test run", "test runs"), "finish": ("message", "messages"),
           "explore": ("exploration step", "exploration steps")}


def omission(kinds: list[str]) -> str:
    """The marker for a stretch of omitted steps of these kinds."""
    counts = {k: kinds.count(k) for k in ("edit", "test", "finish", "explore") if k in kinds}
    if len(counts) == 1:
        (kind, n), = counts.items()
        return f"   … {n} {_PLURAL[kind][n != 1]} omitted …"
    detail = ", ".join(f"{n} {_PLURAL[k][n != 1]}" for k, n in counts.items())
    return f"   … {len(kinds)} steps omitted ({detail}) …"


# --- the budget ---------------------------------------------------------------------------------------------

def condense_steps(history: list[Step], budget_tokens: int, count: Count = approx_tokens) -> str:
    """The steps within budget_tokens (by `count`), chosen by the module's rule."""
    if not history:
        return "(no steps recorded)"
    kinds = [step_kind(s) for s in history]
    pieces: dict[tuple[int, str], str] = {}
    costs: dict[tuple[int, str], int] = {}

    def cost(i: int, level: str) -> int:
        if (i, level) not in costs:
            pieces[(i, level)] = render_step(i + 1, history[i], kinds[i], level)
            costs[(i, level)] = count(pieces[(i, level)]) + 1  # + the line break
        return costs[(i, level)]

    marker = count(omission(["edit", "test", "explore"] * 33)) + 1  # the longest marker, as an upper bound
    levels: dict[int, str] = {}
    kept: list[int] = []  # sorted
    log: list[tuple[int, str | None, int]] = []  # (step, previous level, token delta), to undo in reverse
    total = marker  # nothing kept yet: one marker for the whole stretch

    def markers_delta(i: int) -> int:
        """Markers added by keeping step i (which splits or closes the omitted stretch it is in)."""
        at = bisect.bisect_left(kept, i)
        left = (kept[at - 1] if at else -1) + 1  # first omitted step of i's stretch
        right = (kept[at] if at < len(kept) else len(history)) - 1  # its last
        return (i > left) + (i < right) - 1

    def take(i: int, level: str) -> bool:
        nonlocal total
        previous = levels.get(i)
        delta = cost(i, level) - (cost(i, previous) if previous else 0)
        if previous is None:
            delta += markers_delta(i) * marker
        if total + delta > budget_tokens:
            return False
        if previous is None:
            bisect.insort(kept, i)
        levels[i] = level
        total += delta
        log.append((i, previous, delta))
        return True

    keys = [i for i, k in enumerate(kinds) if k in KEY]
    explores = [i for i, k in enumerate(kinds) if k not in KEY]
    for i in reversed(keys):
        take(i, "compact")
    for i in reversed(keys):
        if i in levels:
            take(i, "full")
    for i in explores:
        take(i, "compact")
    for i in explores:
        if i in levels:
            take(i, "full")

    def render() -> str:
        lines: list[str] = []
        omitted: list[str] = []
        for i in range(len(history)):
            if i in levels:
                if omitted:
                    lines.append(omission(omitted))
                    omitted = []
                lines.append(pieces[(i, levels[i])])
            else:
                omitted.append(kinds[i])
        if omitted:
            lines.append(omission(omitted))
        return "\n".join(lines)

    text = render()
    while log and (over := count(text) - budget_tokens) > 0:  # the sum of parts was an estimate: undo the last
        while log and over > 0:
            i, previous, delta = log.pop()
            over -= max(delta, 1)
            total -= delta
            if previous is None:
                del levels[i]
                kept.remove(i)
            else:
                levels[i] = previous
        text = render()
    return text


def fit_text(text: str, budget_tokens: int, count: Count = approx_tokens, *, head: float = 2 / 3) -> str:
    """text cut in the middle (keeping `head` of what stays at the start, the rest at the end) to fit the budget."""
    if count(text) <= budget_tokens:
        return text

    def cut(chars: int) -> str:
        front = int(chars * head)
        back = chars - front
        return (text[:front].rstrip() + f"\n… [{len(text) - chars} characters cut] …\n"
                + (text[len(text) - back:].lstrip() if back else "")).strip()

    low, high = 0, len(text)
    while low < high:  # the longest cut that fits
        mid = (low + high + 1) // 2
        if count(cut(mid)) <= budget_tokens:
            low = mid
        else:
            high = mid - 1
    return cut(low) if count(cut(low)) <= budget_tokens else ""


def trim_patch(patch: str, budget_tokens: int, count: Count = approx_tokens) -> str:
    """The patch within the budget: whole if it fits, else without its context lines, else cut at the end."""
    patch = patch.strip("\n")
    if count(patch) <= budget_tokens:
        return patch
    lines, dropped = [], 0
    for line in patch.splitlines():
        if line.startswith(" "):
            dropped += 1
            continue
        lines.append(line)
    lines.append(f"… ({dropped} context lines dropped)")
    return fit_text("\n".join(lines), budget_tokens, count, head=1.0)


def condense(experience: Experience, budget_tokens: int, count: Count | None = None, *, issue: bool = True,
             patch: bool = True) -> str:
    """The experience (its issue, condensed trajectory and final patch) within budget_tokens. With issue=False or
    patch=False those parts are left out (the judge shows them itself)."""
    count = count or approx_tokens
    head = ""
    if issue:
        statement = fit_text(experience.problem_statement.strip(), int(budget_tokens * ISSUE_SHARE), count)
        head = f"Issue:\n{statement}\n\n"
    tail = ""
    if patch:
        diff = experience.diff_patch.strip()
        shown = trim_patch(diff, int(budget_tokens * PATCH_SHARE), count) if diff else "(empty: no change made)"
        tail = f"\n\nFinal patch:\n{shown}"
    n = len(experience.history)
    label = f"Trajectory ({n} step{'s' if n != 1 else ''}; omitted stretches are marked):\n"
    room = budget_tokens - count(head + label + tail)
    text = head + label + condense_steps(experience.history, room, count) + tail
    while (over := count(text) - budget_tokens) > 0 and room > 0:  # tokens do not add up exactly across parts
        room -= over
        text = head + label + condense_steps(experience.history, room, count) + tail
    return text if count(text) <= budget_tokens else fit_text(text, budget_tokens, count)
