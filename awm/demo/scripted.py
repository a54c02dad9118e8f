"""A scripted OpenAI-compatible model on 127.0.0.1: the demo's stand-in for an LLM. A SIMULATION: it shows the
mechanism of workflow memory at work and proves nothing about what real models do with it.

Stateless: the step to play is the number of assistant messages already in the request, and everything else is
decided from the request alone, so the same request always gets the same reply.

Two modes for the agent's requests (`mode_for(model)`: `scripted/learner` is the learner, any other
`scripted/NAME` the replay):
- replay (`scripted/demo`): each instance's fixed script (`steps`), right or wrong, whatever the prompt holds.
- learner: the model reads the memory injected into its system prompt (`## Workflow: <name>` and
  `## Pitfall: <name>` headings, see `injected_names`). An entry is *relevant* when it is a workflow or pitfall of
  the instance's bug category (recognised by the stable names this server's induction writes), a *distractor*
  when it is of another category (or unknown). Per conversation, from the system prompt alone:
  distractors present and the instance distractible -> the distracted (wrong) fix; else a relevant entry
  present -> the right fix; else the naive fix, which is wrong for the naive_wrong instances.
  On the 24 bundled instances the naive fix is wrong for 12 of 24 (half; two per category) and 8 of 24 (a third)
  are distractible; each category's first instance has a naive fix that works, so its workflow can be learned
  before the instances that need it (see awm.demo.minibench.scripts).

Requests the engine makes outside the agent are told apart by how their system message starts:
- "You are given a list of software-engineering tasks that a coding agent solved successfully" (or any other
  request without tools): workflow induction. One workflow per category (at most the two most common) of the
  instances named in the prompt (`### Task N (<instance id>)`, else recognised by their problem statements),
  under a stable name per category; when the prompt shows that workflow already in memory, its steps come back
  with one wording change, so the engine's merge updates it instead of adding a copy.
- "You are given a list of software-engineering tasks that a coding agent failed to solve": pitfall induction,
  one pitfall per category of the failed instances named.
- "You are judging whether a coding agent's patch resolves an issue": reasoning, then `Verdict: success` when the
  patch (between `<patch>` and `</patch>`) adds every line the right fix of the instance (`Instance: <id>`)
  adds, else `Verdict: failure`.
- "You are merging two versions of a workflow": one item, with the first (older) version's name and kind and the
  last (newer) version's description and steps.
- "You are rating how closely a coding agent followed the memory entries" (`memory.adherence: judge`): `<id>: 1.0`
  for the entry the learner acted on (see `decide`), `<id>: 0.0` for the others (all of them in replay mode, which
  reads no memory). A simulation of a judge, not a reading of the trajectory.

`/v1/embeddings` answers in OpenAI's format with deterministic vectors: a signed hashed bag of lower-cased words,
256 dimensions, L2-normalised.

Faults, for the tests of what the engine does when a model misbehaves: `faults` maps a request kind (`agent`,
`induction`, `pitfall`, `judge`, `merge`, `adherence`, `embedding`) to the faults to answer that kind's next requests
with, in order, one per request (a fault ending in `*` answers every later request of that kind). See FAULTS. An agent
reply that was a tool-call fault is no step of the script: the next good reply plays the step it replaced.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_PATH = re.compile(r"Repository path: (\S+)")
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
EMBEDDING_PATHS = ("/v1/embeddings", "/embeddings")
MODEL_PATHS = ("/v1/models", "/models")

REPLAY, LEARNER = "replay", "learner"

# What `ScriptedServer.faults` can answer a request with instead of its scripted reply.
FAULTS = {
    "http500": "HTTP 500 with an error body (a server-side failure)",
    "garbage": "a chat reply in words that follow no format the engine asks for",
    "unknown_tool": "an agent reply calling a tool the agent does not have (`run_shell`)",
    "bad_arguments": "an agent reply calling the terminal with arguments that are not JSON",
    "hang": "no agent reply: the request waits until the server stops (at most HANG_S), then its connection drops",
    "nan": "embedding vectors of NaN",
    "wrong_size": "embedding vectors of a different size than the ones before",
}


HANG_S = 300.0  # the longest a `hang` fault keeps its request waiting
FAULT_CALL_ID = "call_fault_"  # how the id of a tool call that answers with a fault begins


def _faulted(message: dict) -> bool:
    """An assistant message of the conversation that was a tool call fault (unknown_tool, bad_arguments)."""
    calls = message.get("tool_calls") or []
    return bool(calls) and all(str(call.get("id", "")).startswith(FAULT_CALL_ID) for call in calls)


class InjectedFault(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
LEARNER_MODEL = "scripted/learner"

# How the engine's requests outside the agent begin (their system message); awm.memory writes these phrases.
INDUCE_WORKFLOWS = "You are given a list of software-engineering tasks that a coding agent solved successfully"
INDUCE_PITFALLS = "You are given a list of software-engineering tasks that a coding agent failed to solve"
JUDGE = "You are judging whether a coding agent's patch resolves an issue"
MERGE = "You are merging two versions of a workflow"
ADHERENCE = "You are rating how closely a coding agent followed the memory entries"

EMBEDDING_DIMS = 256

# The stable workflow name per bug category.
WORKFLOW_NAMES: dict[str, str] = {
    "incomplete lookup table": "Fix an incomplete lookup table",
    "string normalisation": "Normalise the case, letters and separators of input text",
    "off-by-one boundary": "Fix an inclusive or exclusive bound at the exact limit",
    "comparison ordering": "Fix the sort order of versions or ranges",
    "parsing edge case": "Handle edge cases in a line parser",
    "stale state update": "Update stale bookkeeping in the operation that forgets it",
}

# Induction steps per bug category: (when to use, [(reason, action)]); `{...}` are slots the engine's parser keeps.
# The words are the ones issues of the category use (numeral, suffix, unit; case, letters, punctuation; limit, end
# day, width; versions, sorted, newest; INI line, comment, quoted; cache, evicted, total), as a model that read
# them would write.
CATEGORY_STEPS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "incomplete lookup table": (
        "A number comes out with a bad numeral, suffix or unit for a few specific inputs only (four I's for 4, "
        "13rd, no weeks, TiB for PiB sizes): a row is missing from the lookup table the conversion walks.",
        [
            ("Reproduce with the reported number and its neighbours", "python -c 'from {module} import {function}; print([{function}(n) for n in {nearby_inputs}])'"),
            ("Find each table of symbols, suffixes or units the conversion uses (a dict, a regex character class)", "grep -n '{table_name}' {file_path}"),
            ("Add each missing row where the lookup expects it (greedy tables run largest first), not special-casing one number", "str_replace {file_path}: {old_row} -> {row_with_missing_entries}"),
            ("Run the module's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "string normalisation": (
        "Input text in another case or spelling is rejected or garbled: upper or lower case (lower-case "
        "numerals), accented letters and letters with no ASCII spelling, runs of punctuation or spaces turned into "
        "doubled dashes by slugify, plus signs for spaces in a query that must round-trip.",
        [
            ("Reproduce with the exact text from the issue", "python -c 'from {module} import {function}; print(repr({function}({raw_text})))'"),
            ("Find where the text is cleaned, decoded or lower-cased", "grep -n '{cleaning_step}' {file_path}"),
            ("Normalise case, letters, punctuation and plus signs once, where the text comes in", "str_replace {file_path}: {old_code} -> {normalised_code}"),
            ("Run the module's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "off-by-one boundary": (
        "Off exactly at the limit and fine away from it: the end day of a range with both ends included never "
        "produced (Monday to Friday counted as 4 weekdays) or refused, exactly 1024 bytes or KiB not shown as 1.0 "
        "KiB or MiB, truncate() output longer than the requested width.",
        [
            ("Find the comparison or range() that decides the limit", "grep -n '{bound_expression}' {file_path}"),
            ("Reproduce at the exact limit and just inside and outside it", "python -c 'from {module} import {function}; print({function}({limit_input}))'"),
            ("Make the bound inclusive or exclusive as specified, in the function that owns it", "str_replace {file_path}: {old_bound} -> {new_bound}"),
            ("Run the module's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "comparison ordering": (
        "Comparing, sorting or picking the newest goes out of order: versions compared as strings (1.10.0 older "
        "than 1.9.0, rc.10 before rc.2), a pre-release newer than its release, ranges sorted by a field that "
        "should not decide the order before merging.",
        [
            ("Find what the versions or ranges are sorted and compared by", "grep -n 'def {sort_function}\\|sorted(' {file_path}"),
            ("Check each field it sorts by has the type and precedence the spec gives (numeric parts as int, a release after its pre-releases)", "python -c 'from {module} import {sort_function}; print({sort_function}({example}))'"),
            ("Change the sort key, not the comparison", "str_replace {file_path}: {old_sort} -> {new_sort}"),
            ("Run the module's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "parsing edge case": (
        "A line parser mishandles a legal variant of its input: durations such as 1h30m (everything after the "
        "first part ignored), '=' inside an INI setting (cut off at the second '='), ';' comment lines, quoted "
        "settings, trailing junk silently accepted.",
        [
            ("Read the parser's loop and how it splits each line or token", "sed -n '1,40p' {file_path}"),
            ("Reproduce with the variant from the issue", "python -c 'from {module} import {parser}; print({parser}({variant_input}))'"),
            ("Handle the variant where the line is split or classified, and keep the simple lines parsing as before", "str_replace {file_path}: {old_split} -> {new_split}"),
            ("Run the parser's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "stale state update": (
        "An entry is evicted too early, or a total is stale, because one operation (get, remove, resize, storing "
        "over an existing entry) does not update the cache's least recently used position, the running total or "
        "the entries within capacity.",
        [
            ("Enumerate the operations that should update the state", "grep -n 'def \\|{state_attribute}' {file_path}"),
            ("Reproduce with the sequence of calls from the issue and print the state after each", "python -c 'from {module} import {cls}; {calls}'"),
            ("Update the state in the operation that forgets to, just as the other operations do", "str_replace {file_path}: {old_body} -> {body_with_update}"),
            ("Run the class's tests", "python -m pytest -q {test_file}"),
        ],
    ),
}
GENERIC_NAME = "Fix a reported wrong output"
GENERIC_STEPS = (
    "An issue reports wrong output for a specific input.",
    [
        ("Reproduce the reported behaviour", "python -c 'from {module} import {function}; print({function}({input}))'"),
        ("Edit the responsible line", "str_replace {file_path}: {old_code} -> {new_code}"),
        ("Run the tests for the module", "python -m pytest -q {test_file}"),
    ],
)
REVISION = ", then the example from the issue again"  # the one wording change of a re-induced workflow

# Pitfalls per bug category: (name, when it bites, how to avoid it), in the words of the category's issues.
PITFALLS: dict[str, tuple[str, str, list[str]]] = {
    "incomplete lookup table": (
        "Special-casing the reported number rather than completing the lookup table",
        "A symbol, suffix or unit is missing from a lookup table and only the reported number is patched, or "
        "the new row goes where the greedy walk never reaches it.",
        ["Find each table of symbols, suffixes or units the conversion walks (a dict, a regex character class).",
         "Add all missing rows, in the order the conversion walks them.",
         "Check the neighbours of the reported number too."],
    ),
    "string normalisation": (
        "Fixing one spelling rather than normalising the input",
        "Input in another case or spelling (lower-case numerals, accented letters, letters with no ASCII "
        "spelling, punctuation runs, plus signs for spaces) is handled for the example only.",
        ["Normalise case, letters, punctuation and plus signs once, where the input comes in.",
         "Try each spelling the issue names, not only the first."],
    ),
    "off-by-one boundary": (
        "Shifting the limit in a caller rather than the bound itself",
        "Output is off exactly at the limit (the end day of an inclusive range, 1024 bytes, the truncate width) "
        "and the change moves an argument or trims output in one caller.",
        ["Fix the comparison or range() that owns the limit, inclusive or exclusive as specified.",
         "Check the exact limit and just inside and outside it."],
    ),
    "comparison ordering": (
        "Coercing one sort field rather than fixing how versions are ordered",
        "Versions or ranges sort out of order, and the change drops or coerces a field so the reported pair "
        "compares correctly while other versions raise on int versus str or stay out of order.",
        ["Change what is sorted on, field by field, with the precedence the spec gives.",
         "Never compare an int with a str in one field of what is sorted on."],
    ),
    "parsing edge case": (
        "Stripping marks on all lines rather than handling the variant in the line parser",
        "A line parser mishandles a legal variant (durations in parts, '=' or quotes in an INI setting, ';' "
        "comments) and the change strips or splits marks on all lines.",
        ["Handle the variant where the line is split or classified.",
         "Check settings that contain the same marks inside them or at one end only."],
    ),
    "stale state update": (
        "Updating a cache's bookkeeping only partly",
        "An operation (get, remove, resize, storing over an existing entry) leaves the recency, the running "
        "total or the entries within capacity stale, and the change updates it once or in the wrong direction.",
        ["Enumerate the operations and the bookkeeping each must keep current.",
         "Update it completely: evict in a loop until within capacity, move entries to the most recently used end."],
    ),
}


def mode_for(model: str) -> str:
    """The agent mode of the scripted model named `model`: `scripted/learner` learns, anything else replays."""
    return LEARNER if model == LEARNER_MODEL else REPLAY


def default_scripts() -> dict[str, dict]:
    from awm.demo.minibench.scripts import SCRIPTS

    return SCRIPTS


# ---------------------------------------------------------------------------------------------- the learner's eyes

_ENTRY = re.compile(r"^[ \t]*##[ \t]*(Workflow|Pitfall)[ \t]*:[ \t]*(.+?)[ \t]*$", re.M | re.I)


def injected_entries(messages: list[dict]) -> list[tuple[str, str]]:
    """(kind, name) of every memory entry in the system prompt, in prompt order; kind "workflow" or "pitfall"."""
    return [(kind.lower(), name) for kind, name in _ENTRY.findall(_system_text(messages))]


def injected_names(messages: list[dict]) -> list[str]:
    """The names of the workflows (`## Workflow: <name>`) and pitfalls (`## Pitfall: <name>`) in the system
    prompt, in prompt order."""
    return [name for _, name in injected_entries(messages)]


def category_of(name: str) -> str | None:
    """The bug category of a memory entry, from the stable names this server's induction writes (or a name that
    holds the category itself); None for any other entry."""
    key = _norm(name)
    for category in CATEGORY_STEPS:
        if key in (_norm(WORKFLOW_NAMES[category]), _norm(PITFALLS[category][0])) or category in key:
            return category
    return None


@dataclass(frozen=True)
class Decision:
    """What the learner does in one conversation: plan "right" | "naive" | "distracted", the memory entry that
    made it so (None for naive), and the relevant and distracting entries it saw."""

    plan: str
    entry: str | None = None
    relevant: tuple[str, ...] = field(default=())
    distractors: tuple[str, ...] = field(default=())

    def record(self) -> dict:
        return {"plan": self.plan, "entry": self.entry, "relevant": list(self.relevant),
                "distractors": list(self.distractors)}


def decide(script: dict, names: list[str]) -> Decision:
    """The learner's plan on the instance of `script` with the memory entries `names` in its prompt."""
    own = script.get("category")
    relevant = tuple(n for n in names if own is not None and category_of(n) == own)
    distractors = tuple(n for n in names if n not in relevant)
    if distractors and script.get("distractible"):
        return Decision("distracted", distractors[0], relevant, distractors)
    if relevant:
        return Decision("right", relevant[0], relevant, distractors)
    return Decision("naive", None, relevant, distractors)


def plan_steps(script: dict, plan: str) -> list[dict]:
    """The steps of `plan` in `script` (a script without learner fields plays its replay steps)."""
    if plan == "distracted":
        return script.get("distracted") or script.get("naive") or script["steps"]
    return script.get(plan) or script["steps"]


def fix_lines(steps: list[dict]) -> list[str]:
    """The lines the edits of `steps` add (stripped, non-empty, not already in the text they replace); the first
    and last may be parts of a line, as an edit's old and new text need not be whole lines."""
    lines: list[str] = []
    for step in steps:
        args = step.get("args", {})
        if step.get("tool") == "file_editor" and args.get("command") == "str_replace":
            old = {line.strip() for line in args.get("old_str", "").splitlines()}
            lines += [line.strip() for line in args.get("new_str", "").splitlines() if line.strip() and line.strip() not in old]
    return list(dict.fromkeys(lines))


def added_lines(patch: str) -> list[str]:
    return [line[1:].strip() for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++")]


def makes_fix(patch: str, steps: list[dict]) -> bool:
    """Whether `patch` adds every line (or part of a line) that the edits of `steps` add."""
    needed, added = fix_lines(steps), added_lines(patch)
    return bool(needed) and all(any(part in line for line in added) for part in needed)


def embed(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """A deterministic embedding: each lower-cased word adds ±1 at a position given by its hash; L2-normalised."""
    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "little") % dims] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


# ---------------------------------------------------------------------------------------------------- the server

class ScriptedServer:
    """The model server; `start()` returns its base URL (also `.base_url`), `requests` records every request."""

    def __init__(self, scripts: dict[str, dict] | None = None, record_path: Path | None = None, mode: str = REPLAY,
                 latency_s: float = 0.0):
        if mode not in (REPLAY, LEARNER):
            raise ValueError(f"mode must be {REPLAY!r} or {LEARNER!r}, not {mode!r}")
        self.scripts = default_scripts() if scripts is None else scripts
        self.record_path = Path(record_path) if record_path else None
        self.mode = mode
        self.latency_s = latency_s  # each chat reply waits this long (requests are served concurrently)
        self.requests: list[dict] = []
        self.faults: dict[str, list[str]] = {}  # request kind -> faults to answer with (see FAULTS)
        self.record_failed = False  # the request record could not be written (a full disk): no more tries
        self._stopping = threading.Event()  # set by stop(): hung requests end
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    def start(self, port: int = 0) -> str:
        handler = type("Handler", (_Handler,), {"server_model": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="scripted-model", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:  # (started with the server)
                self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def record(self, kind: str, instance_id: str | None, body: Any, **extra: Any) -> int:
        with self._lock:
            entry = {"seq": len(self.requests) + 1, "time": time.time(), "kind": kind, "instance_id": instance_id,
                     "body": body, **extra}
            self.requests.append(entry)
            if self.record_path is not None and not self.record_failed:
                try:
                    with self.record_path.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(entry) + "\n")
                        f.flush()
                except OSError:  # a full disk: the record is a debugging aid, the model still answers
                    self.record_failed = True
            return entry["seq"]

    def fault(self, kind: str) -> str:
        """The fault to answer this request of `kind` with ("" for none): the next of `faults[kind]`."""
        with self._lock:
            queue = self.faults.get(kind)
            if not queue:
                return ""
            if queue[0].endswith("*"):
                return queue[0][:-1]
            return queue.pop(0)

    def reply(self, body: dict) -> tuple[int, dict, str]:
        """(seq, the assistant message, finish_reason) for a chat request; raises InjectedFault for an HTTP error
        asked for by `faults`."""
        if self.latency_s:
            time.sleep(self.latency_s)
        messages = body.get("messages") or []
        if body.get("tools"):
            instance_id = self.find_instance(_user_text(messages))
            decision = self.decision(instance_id, messages)
            extra = {"decision": decision.record()} if decision else {}
            fault = self.fault("agent")
            seq = self.record("agent", instance_id, body, **extra, **({"fault": fault} if fault else {}))
            if fault:
                return seq, self._agent_fault(fault, seq), "tool_calls"
            message = self.agent_message(instance_id, messages, seq, decision)
            return seq, message, "tool_calls" if message.get("tool_calls") else "stop"
        system = _system_text(messages).lstrip()
        if system.startswith(INDUCE_PITFALLS):
            kind, make = "pitfall", lambda: self.pitfall_text(_user_text(messages))
        elif system.startswith(JUDGE):
            kind, make = "judge", lambda: self.judge_text(_user_text(messages))
        elif system.startswith(MERGE):
            kind, make = "merge", lambda: self.merge_text(_user_text(messages))
        elif system.startswith(ADHERENCE):
            kind, make = "adherence", lambda: self.adherence_text(_user_text(messages))
        else:
            kind, make = "induction", lambda: self.induction_text(_all_text(messages))
        fault = self.fault(kind)
        seq = self.record("induction" if kind == "pitfall" else kind, None, body,
                          **({"fault": fault} if fault else {}))
        if fault == "http500":
            raise InjectedFault(500, f"injected fault: the {kind} model failed")
        text = "I like turtles. Nothing here follows any format." if fault else make()
        return seq, {"role": "assistant", "content": text}, "stop"

    def _agent_fault(self, fault: str, seq: int) -> dict:
        if fault == "http500":
            raise InjectedFault(500, "injected fault: the agent's model failed")
        if fault == "garbage":
            return {"role": "assistant", "content": "I like turtles."}
        if fault == "hang":
            self._stopping.wait(HANG_S)
            raise InjectedFault(0, "injected fault: the agent's model never answered")
        if fault == "unknown_tool":
            call = {"name": "run_shell", "arguments": json.dumps({"command": "ls"})}
        elif fault == "bad_arguments":
            call = {"name": "terminal", "arguments": '{"command": "ls -la'}
        else:
            raise ValueError(f"no agent fault {fault!r}; the faults are {', '.join(FAULTS)}")
        return {"role": "assistant", "content": None,
                "tool_calls": [{"id": f"{FAULT_CALL_ID}{seq}", "type": "function", "function": call}]}

    def find_instance(self, text: str) -> str | None:
        return next((iid for iid, script in self.scripts.items() if script["match"] in text), None)

    def decision(self, instance_id: str | None, messages: list[dict]) -> Decision | None:
        """The learner's plan for this conversation (None in replay mode or for an unknown instance)."""
        if self.mode != LEARNER or instance_id is None:
            return None
        return decide(self.scripts[instance_id], injected_names(messages))

    def agent_message(self, instance_id: str | None, messages: list[dict], seq: int,
                      decision: Decision | None = None) -> dict:
        script = self.scripts[instance_id] if instance_id else None
        if script is None:
            steps = []
        elif decision is None:
            steps = script["steps"]
        else:
            steps = plan_steps(script, decision.plan)
        # a tool call answered with a fault (FAULTS) was no step of the script: the script goes on where it was, as a
        # model that corrects its call after the agent's error does
        number = sum(1 for message in messages if message.get("role") == "assistant" and not _faulted(message))
        if number < len(steps):
            step = steps[number]
        else:
            step = {"tool": "finish", "args": {"message": "Done."}}
        if "text" in step:  # a reply in words and no tool call (a model that does not use the tools)
            return {"role": "assistant", "content": step["text"]}
        user = next((m for m in messages if m.get("role") == "user"), {})
        found = REPO_PATH.search(_content_text(user.get("content")))
        args = _fill(step["args"], found.group(1)) if found else step["args"]
        thought = step.get("thought")
        if number == 0 and decision is not None and decision.entry:
            thought = _join(_memory_note(decision), thought)
        # The id depends only on the conversation, so a replayed conversation is byte-for-byte the same.
        tag = hashlib.sha1(f"{instance_id}:{number}".encode()).hexdigest()[:8]
        call = {"id": f"call_{tag}_{number}", "type": "function", "function": {"name": step["tool"], "arguments": json.dumps(args)}}
        return {"role": "assistant", "content": thought, "tool_calls": [call]}

    def instances_in(self, text: str) -> list[str]:
        """The instances a prompt is about: those named in parentheses (`### Task 1 (<id>)`), else every instance
        whose id or problem statement appears in it."""
        named = [iid for iid in dict.fromkeys(re.findall(r"\(([^()\s]+)\)", text)) if iid in self.scripts]
        if named:
            return named
        return sorted(iid for iid, script in self.scripts.items() if _mentions(text, iid) or script["match"] in text)

    def _categories(self, instance_ids: list[str]) -> list[str]:
        counts: dict[str, int] = {}
        for iid in instance_ids:
            category = self.scripts[iid].get("category", "general fix")
            counts[category] = counts.get(category, 0) + 1
        return sorted(counts, key=lambda category: (-counts[category], category))

    def induction_text(self, text: str) -> str:
        """One workflow for each of the (at most two) most common bug categories among the instances in `text`;
        a workflow already shown in `text` (in memory) comes back revised by one wording change."""
        seen = self.instances_in(text)
        if not seen:
            return "No new workflows."
        present = {_norm(name) for kind, name in _ENTRY.findall(text) if kind.lower() == "workflow"}
        chosen = self._categories(seen)[:2]
        return "\n\n".join(_workflow(c, revised=_norm(_workflow_name(c)) in present) for c in chosen) + "\n"

    def pitfall_text(self, text: str) -> str:
        """One pitfall for each bug category among the failed instances in `text`."""
        seen = self.instances_in(text)
        if not seen:
            return "No new pitfalls."
        return "\n\n".join(_pitfall(category) for category in self._categories(seen)) + "\n"

    def judge_text(self, text: str) -> str:
        found = re.search(r"Instance:\s*(\S+)", text)
        instance_id = found.group(1) if found else None
        patch = _between(text, "<patch>", "</patch>")
        script = self.scripts.get(instance_id) if instance_id else None
        if script is None:
            return f"I cannot tell which issue this patch is meant for ({instance_id or 'no instance named'}).\nVerdict: failure"
        if not patch.strip():
            return "The agent produced no patch, so nothing in the repository changed.\nVerdict: failure"
        files = sorted({line[len("+++ b/"):] for line in patch.splitlines() if line.startswith("+++ b/")})
        changed = ", ".join(files) or "the repository"
        if makes_fix(patch, script.get("right") or script["steps"]):
            return (f"The patch changes {changed}. It fixes the cause the issue describes rather than only the "
                    "reported example, and the trajectory's test run agrees.\nVerdict: success")
        return (f"The patch changes {changed}, but it does not fix the cause the issue describes: inputs like the "
                "ones in the issue would still give the wrong result.\nVerdict: failure")

    def adherence_text(self, text: str) -> str:
        """Each entry shown (`Entry id: <id>` over its `## Workflow|Pitfall: <name>`) rated 1 when it is the entry
        the learner acted on for the instance (`Instance: <id>`; see `decide`), else 0: the replay reads no memory."""
        found = re.search(r"Instance:\s*(\S+)", text)
        script = self.scripts.get(found.group(1)) if found else None
        shown = re.findall(r"^Entry id:[ \t]*(\S+)[ \t]*\n[ \t]*##[ \t]*(?:Workflow|Pitfall)[ \t]*:[ \t]*(.+?)[ \t]*$", text,
                           re.M | re.I)
        if not shown:
            return "No memory entry was shown, so there is nothing to rate."
        acted = decide(script, [name for _, name in shown]).entry if script and self.mode == LEARNER else None
        return "\n".join(f"{entry_id}: {1.0 if name == acted else 0.0}" for entry_id, name in shown) + "\n"

    def merge_text(self, text: str) -> str:
        items = _parse_items(text)
        if not items:
            return "There is no workflow to merge."
        old, new = items[0], items[-1]
        return _render_item(old["kind"], old["name"], new["description"], new["steps"]) + "\n"

    def embeddings(self, body: dict) -> dict:
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list):
            raise TypeError(f"the embeddings request's input is {type(inputs).__name__}, not a string or a list")
        texts = [text if isinstance(text, str) else " ".join(map(str, text)) for text in inputs]
        dims = body.get("dimensions")
        dims = dims if isinstance(dims, int) and 0 < dims <= 4096 else EMBEDDING_DIMS
        fault = self.fault("embedding")
        self.record("embedding", None, body, **({"fault": fault} if fault else {}))
        if fault == "http500":
            raise InjectedFault(500, "injected fault: the embedding model failed")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, dims)
            if fault == "nan":
                vector = [math.nan] * dims
            elif fault == "wrong_size":
                vector = vector[: dims // 2]
            value: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(max(1, len(re.findall(r"\w+", text))) for text in texts)
        return {"object": "list", "data": data, "model": body.get("model", "scripted"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _workflow_name(category: str) -> str:
    return WORKFLOW_NAMES.get(category, GENERIC_NAME)


def _workflow(category: str, revised: bool = False) -> str:
    when, steps = CATEGORY_STEPS.get(category, GENERIC_STEPS)
    steps = list(steps)
    if revised:
        reason, action = steps[-1]
        steps[-1] = (reason + REVISION, action)
    return _render_item("workflow", _workflow_name(category), when, [f"{reason} — `{action}`" for reason, action in steps])


def _pitfall(category: str) -> str:
    name, when, steps = PITFALLS.get(category, (
        "Fixing the example instead of the cause",
        "An issue reports a wrong result for one input and the fix handles only that input.",
        ["Find the code that produces the wrong result for every input like the reported one.",
         "Test inputs beside the reported one."],
    ))
    return _render_item("pitfall", name, when, steps)


def _render_item(kind: str, name: str, description: str, steps: list[str]) -> str:
    numbered = [f"{n}. {step}" for n, step in enumerate(steps, start=1)]
    if kind == "pitfall":
        return "\n".join([f"## Pitfall: {name}", f"When it bites: {description}", "How to avoid it:", *numbered])
    return "\n".join([f"## Workflow: {name}", f"When to use: {description}", "Steps:", *numbered])


def _parse_items(text: str) -> list[dict]:
    """The workflows and pitfalls rendered in `text`, in order: kind, name, description, steps."""
    items: list[dict] = []
    for line in text.splitlines():
        heading = _ENTRY.match(line)
        if heading:
            items.append({"kind": heading.group(1).lower(), "name": heading.group(2), "description": "", "steps": []})
            continue
        if not items:
            continue
        item = items[-1]
        described = re.match(r"\s*(?:When to use|When it bites)\s*:\s*(.*)$", line, re.I)
        step = re.match(r"\s*\d+[.)]\s+(.+)$", line)
        if described and not item["description"]:
            item["description"] = described.group(1).strip()
        elif step:
            item["steps"].append(step.group(1).strip())
    return items


def _memory_note(decision: Decision) -> str:
    entry = f'"{decision.entry}"'
    if decision.plan == "right":
        return f"Memory has {entry} for this kind of bug; following it."
    return f"{entry} from memory looks like it applies here; following it."


def _join(first: str, second: str | None) -> str:
    return f"{first} {second}" if second else first


def _between(text: str, start: str, end: str) -> str:
    begin = text.find(start)
    if begin < 0:
        return ""
    begin += len(start)
    stop = text.find(end, begin)
    return text[begin:] if stop < 0 else text[begin:stop]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _mentions(text: str, instance_id: str) -> bool:
    """Whether `text` names `instance_id` (tallyho-1 is not named by tallyho-12)."""
    return re.search(re.escape(instance_id) + r"(?![\w-])", text) is not None


def _fill(value: Any, repo: str) -> Any:
    if isinstance(value, str):
        return value.replace("{repo}", repo)
    if isinstance(value, dict):
        return {key: _fill(item, repo) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, repo) for item in value]
    return value


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _user_text(messages: list[dict]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in messages if m.get("role") == "user")


def _system_text(messages: list[dict]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in messages if m.get("role") == "system")


def _all_text(messages: list[dict]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in messages)


def _usage(body: dict, message: dict) -> dict:
    reply = (message.get("content") or "") + "".join(c["function"]["arguments"] for c in message.get("tool_calls", []))
    prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    completion = max(1, len(reply) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Handler(BaseHTTPRequestHandler):
    server_model: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") in MODEL_PATHS:
            self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model", "created": 0, "owned_by": "awm"}]})
        else:
            self._error(404, f"no such path: {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.split("?")[0].rstrip("/")
        if path not in CHAT_PATHS and path not in EMBEDDING_PATHS:
            self._error(404, f"no such path: {self.path}")
            return
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self.server_model.record("unknown", None, None)
            self._error(400, f"request body is not JSON: {exc}")
            return
        if path in EMBEDDING_PATHS:
            if not isinstance(body, dict) or not _embeddable(body.get("input")):
                self.server_model.record("unknown", None, body)
                self._error(400, "request body must be an object whose `input` is a string or a list of strings")
                return
            try:
                self._json(200, self.server_model.embeddings(body))
            except InjectedFault as fault:
                self._error(fault.status, str(fault))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self.server_model.record("unknown", None, body)
            self._error(400, "request body must be an object with a `messages` list")
            return
        try:
            seq, message, finish_reason = self.server_model.reply(body)
        except InjectedFault as fault:
            if fault.status:
                self._error(fault.status, str(fault))
            else:  # no answer at all (`hang`): the connection is dropped
                self.close_connection = True
            return
        response = {
            "id": f"chatcmpl-scripted-{seq}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": _usage(body, message),
        }
        if body.get("stream"):
            self._stream(response, include_usage=bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._json(200, response)

    def _stream(self, response: dict, include_usage: bool) -> None:
        message, finish_reason = response["choices"][0]["message"], response["choices"][0]["finish_reason"]
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
        base = {key: response[key] for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        chunks = [
            base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]},
        ]
        if include_usage:
            chunks.append(base | {"choices": [], "usage": response["usage"]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the caller went away (an agent server killed mid-call)
            self.close_connection = True

    def _error(self, status: int, message: str) -> None:
        kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "server_error")
        self._json(status, {"error": {"message": message, "type": kind, "code": status}})


def _embeddable(value: Any) -> bool:
    """OpenAI's embedding inputs: a string, a list of strings, a list of token ids, or a list of such lists."""
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        return False
    return (all(isinstance(x, str) for x in value) or all(isinstance(x, int) for x in value)
            or all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in value))
