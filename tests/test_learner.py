"""The scripted model's learner mode (a simulation of a model that uses its workflow memory), its judge, pitfall
induction, merge and embeddings: in-process, with request bodies built by hand; and, slow, every instance's right,
naive and distracted edits run against the instance's tests."""

from __future__ import annotations

import base64
import json
import math
import os
import struct
import urllib.request
from pathlib import Path

import pytest

import awm.demo as demo
import awm.demo.minibench as minibench
from awm.demo.minibench import derive
from awm.demo.minibench.build import git
from awm.demo.minibench.scripts import CATEGORIES, SCRIPTS
from test_minibench import apply_script_edits
from awm.demo.scripted import (
    CATEGORY_STEPS, INDUCE_PITFALLS, INDUCE_WORKFLOWS, JUDGE, LEARNER, MERGE, PITFALLS, REPLAY, WORKFLOW_NAMES,
    ScriptedServer, category_of, decide, embed, fix_lines, injected_names, mode_for,
)

INSTANCES = {instance["instance_id"]: instance for instance in minibench.load_instances()}
ORDER = sorted(SCRIPTS, key=lambda iid: int(iid.rsplit("-", 1)[1]))  # how awm.dataset orders builtin instances
TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}} for name in ("terminal", "file_editor", "finish")]
REPO = "/work/repo"
HEADER = "# Workflow memory\nThe workflows below were induced from issues in this repository.\n"


@pytest.fixture(scope="module")
def learner() -> ScriptedServer:
    return ScriptedServer(mode=LEARNER)  # not started: reply() is called in-process


def workflow(category: str) -> str:
    return ScriptedServer().induction_text(f"### Task 1 ({first_of(category)})").strip()


def pitfall(category: str) -> str:
    return ScriptedServer().pitfall_text(f"### Task 1 ({first_of(category)})").strip()


def first_of(category: str) -> str:
    return next(iid for iid in ORDER if SCRIPTS[iid]["category"] == category)


def memory_block(*entries: str) -> str:
    workflows = [e for e in entries if e.startswith("## Workflow:")]
    pitfalls = [e for e in entries if e.startswith("## Pitfall:")]
    block = HEADER + "\n" + "\n\n".join(workflows)
    return block + ("\n\n# Pitfalls\n\n" + "\n\n".join(pitfalls) if pitfalls else "")


def agent_request(instance_id: str, memory: str = "", history: list[dict] = ()) -> dict:
    system = "You are OpenHands agent, a helpful AI assistant." + (f"\n\n{memory}" if memory else "")
    user = f"Repository path: {REPO}\n\n{INSTANCES[instance_id]['problem_statement']}"
    return {"model": "scripted", "tools": TOOLS, "messages": [{"role": "system", "content": system},
                                                                {"role": "user", "content": user}, *history]}


def play(server: ScriptedServer, instance_id: str, memory: str = "") -> list[dict]:
    """The whole conversation: every tool call the server makes, each step's reply fed back as a tool result."""
    history: list[dict] = []
    calls = []
    for _ in range(40):
        _, message, _ = server.reply(agent_request(instance_id, memory, history))
        [call] = message["tool_calls"]
        calls.append({"tool": call["function"]["name"], "args": json.loads(call["function"]["arguments"]),
                      "thought": message.get("content")})
        if call["function"]["name"] == "finish":
            return calls
        history += [message, {"role": "tool", "tool_call_id": call["id"], "content": "ok"}]
    raise AssertionError("the conversation never finished")


def expected(steps: list[dict]) -> list[tuple[str, dict]]:
    return [(step["tool"], json.loads(json.dumps(step["args"]).replace("{repo}", REPO))) for step in steps]


def played(calls: list[dict]) -> list[tuple[str, dict]]:
    return [(call["tool"], call["args"]) for call in calls]


# ------------------------------------------------------------------------------------------------ reading memory

def test_injected_names_reads_workflows_and_pitfalls_from_the_system_prompt_only():
    memory = memory_block(workflow("incomplete lookup table"), workflow("stale state update"), pitfall("parsing edge case"))
    request = agent_request("awm-bench__tallyho-1", memory)
    request["messages"][1]["content"] += "\n## Workflow: Something the user wrote"
    assert injected_names(request["messages"]) == [
        WORKFLOW_NAMES["incomplete lookup table"], WORKFLOW_NAMES["stale state update"], PITFALLS["parsing edge case"][0]]
    # content given as parts, and more than one system message
    parts = [{"role": "system", "content": [{"type": "text", "text": "intro"}, {"type": "text", "text": memory}]},
             {"role": "system", "content": "## Pitfall: Late addition"}]
    assert injected_names(parts)[-1] == "Late addition" and len(injected_names(parts)) == 4
    assert injected_names(agent_request("awm-bench__tallyho-1")["messages"]) == []


def test_category_of_recognises_the_names_the_inducer_writes():
    for category in CATEGORIES:
        assert category_of(WORKFLOW_NAMES[category]) == category
        assert category_of(PITFALLS[category][0].upper()) == category
        assert category_of(category.title() + " v1a2b") == category  # the names of older demo runs
    assert category_of("Reproduce a reported exception") is None
    assert len({*WORKFLOW_NAMES.values(), *(p[0] for p in PITFALLS.values())}) == 2 * len(CATEGORIES)


# ---------------------------------------------------------------------------------------------------- the learner

def test_mode_comes_from_the_model_name():
    assert mode_for("scripted/learner") == LEARNER
    assert mode_for("scripted/demo") == mode_for("scripted/anything") == REPLAY
    with pytest.raises(ValueError):
        ScriptedServer(mode="clever")
    server = demo.start_model_server(model="scripted/learner")
    try:
        assert server.mode == LEARNER and server.base_url.startswith("http://127.0.0.1:")
    finally:
        server.stop()
    server = demo.start_model_server()
    try:
        assert server.mode == REPLAY
    finally:
        server.stop()


@pytest.mark.parametrize("instance_id", ORDER)
def test_a_workflow_of_the_category_gives_the_right_fix(learner, instance_id):
    script = SCRIPTS[instance_id]
    calls = play(learner, instance_id, memory_block(workflow(script["category"])))
    assert played(calls) == expected(script["right"])
    assert WORKFLOW_NAMES[script["category"]] in calls[0]["thought"]


@pytest.mark.parametrize("instance_id", ORDER)
def test_no_memory_gives_the_naive_fix(learner, instance_id):
    script = SCRIPTS[instance_id]
    calls = play(learner, instance_id)
    assert played(calls) == expected(script["naive"])
    assert (played(calls) != expected(script["right"])) == script["naive_wrong"]
    assert calls[0]["thought"] == script["naive"][0].get("thought")  # nothing about memory


@pytest.mark.parametrize("instance_id", ORDER)
def test_unrelated_memory_distracts_only_the_distractible(learner, instance_id):
    script = SCRIPTS[instance_id]
    others = [c for c in CATEGORIES if c != script["category"]][:2]
    memory = memory_block(*(workflow(c) for c in others))
    calls = play(learner, instance_id, memory)
    if script["distractible"]:
        assert played(calls) == expected(script["distracted"]) != expected(script["right"])
        assert WORKFLOW_NAMES[others[0]] in calls[0]["thought"]
    else:
        assert played(calls) == expected(script["naive"])
    # the relevant workflow does not save a distractible instance from the unrelated one next to it
    mixed = play(learner, instance_id, memory_block(workflow(script["category"]), *(workflow(c) for c in others)))
    assert played(mixed) == expected(script["distracted"] if script["distractible"] else script["right"])


@pytest.mark.parametrize("instance_id", ["awm-bench__tallyho-13", "awm-bench__tallyho-19"])
def test_a_pitfall_of_the_category_counts_as_relevant(learner, instance_id):
    script = SCRIPTS[instance_id]
    assert script["naive_wrong"]
    calls = play(learner, instance_id, memory_block(pitfall(script["category"])))
    assert played(calls) == expected(script["right"])
    assert PITFALLS[script["category"]][0] in calls[0]["thought"]


def test_the_plan_is_made_per_conversation_and_recorded(tmp_path):
    server = ScriptedServer(mode=LEARNER, record_path=tmp_path / "requests.jsonl")
    instance_id = "awm-bench__tallyho-8"
    memory = memory_block(workflow("string normalisation"))
    first = server.reply(agent_request(instance_id, memory))[1]
    assert server.reply(agent_request(instance_id, memory))[1] == first  # same request, same reply
    calls = play(server, instance_id, memory)
    assert played(calls) == expected(SCRIPTS[instance_id]["right"])
    decisions = [r["decision"] for r in server.requests]
    assert all(d == {"plan": "right", "entry": WORKFLOW_NAMES["string normalisation"],
                     "relevant": [WORKFLOW_NAMES["string normalisation"]], "distractors": []} for d in decisions)
    assert [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()] == server.requests


def test_replay_mode_ignores_memory():
    server = ScriptedServer()
    for instance_id in ("awm-bench__tallyho-3", "awm-bench__tallyho-8"):
        script = SCRIPTS[instance_id]
        with_memory = play(server, instance_id, memory_block(*(workflow(c) for c in CATEGORIES)))
        assert played(with_memory) == played(play(server, instance_id)) == expected(script["steps"])
    assert "decision" not in server.requests[-1]


def test_scripts_without_learner_fields_replay_their_steps():
    steps = [{"tool": "finish", "args": {"message": "bye"}}]
    server = ScriptedServer(scripts={"x-1": {"match": "unique words", "steps": steps}}, mode=LEARNER)
    request = {"tools": TOOLS, "messages": [{"role": "system", "content": memory_block(workflow("parsing edge case"))},
                                            {"role": "user", "content": "Repository path: /r\nunique words"}]}
    _, message, _ = server.reply(request)
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"message": "bye"}


# ------------------------------------------------------------------------------------------ the offline simulation

def simulate(retrieval: str, trigger: int = 2) -> dict[str, bool]:
    """The demo's online loop in pure Python, instances in dataset order: the learner's plan from the entries
    injected; an instance passes on the right fix, or on a naive fix that is not wrong (both checked against the
    real tests by test_edits_do_what_the_flags_say); every `trigger` successes, the scripted inducer's workflows
    for those successes join memory (a name already there is merged, not added). Retrieval: "off" (no memory),
    "ideal" (exactly the instance's category's entries, once learned), "all" (every learned entry)."""
    inducer = ScriptedServer()
    learned: list[str] = []
    successes: list[str] = []
    passed: dict[str, bool] = {}
    for instance_id in ORDER:
        script = SCRIPTS[instance_id]
        names = {"off": [], "all": list(learned),
                 "ideal": [n for n in learned if category_of(n) == script["category"]]}[retrieval]
        plan = decide(script, names).plan
        passed[instance_id] = plan == "right" or (plan == "naive" and not script["naive_wrong"])
        if passed[instance_id] and retrieval != "off":
            successes.append(instance_id)
            if len(successes) % trigger == 0:
                prompt = "\n".join(f"### Task {n} ({iid})" for n, iid in enumerate(successes[-trigger:], 1))
                reply = inducer.induction_text(prompt)
                learned += [n for n in injected_names([{"role": "system", "content": reply}]) if n not in learned]
    return passed


def test_offline_simulation_memory_beats_off_and_all_does_worse_than_retrieval():
    rates = {retrieval: sum(simulate(retrieval).values()) / len(ORDER) for retrieval in ("off", "ideal", "all")}
    print(f"\nsimulated success rates: off {rates['off']:.0%}, retrieval {rates['ideal']:.0%}, all {rates['all']:.0%}")
    assert rates["off"] == 0.5  # the naive fix is wrong for half the instances
    assert rates["ideal"] > rates["off"] + 0.25
    assert rates["all"] < rates["ideal"]
    assert rates["all"] > rates["off"]  # memory still helps when everything is injected, only less
    # learning, not luck: under retrieval every naive_wrong instance passes, none does with memory off
    ideal, off = simulate("ideal"), simulate("off")
    assert all(ideal[iid] and not off[iid] for iid in ORDER if SCRIPTS[iid]["naive_wrong"])


# ---------------------------------------------------------------------------------- engine requests besides the agent

def chat(server: ScriptedServer, system: str, user: str) -> tuple[str, str]:
    _, message, finish = server.reply({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]})
    assert finish == "stop" and "tool_calls" not in message
    return message["content"], server.requests[-1]["kind"]


def pseudo_patch(steps: list[dict]) -> str:
    """A diff with the edits of `steps` (enough for the judge, which reads the added lines)."""
    lines = []
    for step in steps:
        args = step["args"]
        if step["tool"] == "file_editor" and args["command"] == "str_replace":
            path = args["path"].removeprefix("{repo}/")
            lines += [f"diff --git a/{path} b/{path}", f"--- a/{path}", f"+++ b/{path}", "@@ -1 +1 @@"]
            lines += ["-" + line for line in args["old_str"].splitlines()] + ["+" + line for line in args["new_str"].splitlines()]
    return "\n".join(lines) + "\n"


def judge_user(instance_id: str, patch: str) -> str:
    return (f"Instance: {instance_id}\nRepository: awm-bench/tallyho\n\nIssue:\n{INSTANCES[instance_id]['problem_statement']}\n\n"
            f"The agent's final patch:\n<patch>\n{patch}\n</patch>\n\nDoes this patch resolve the issue?")


def verdict(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.mark.parametrize("instance_id", ORDER)
def test_judge_passes_the_right_fix_only(instance_id):
    server, script = ScriptedServer(), SCRIPTS[instance_id]
    system = JUDGE + " in a software repository."
    text, kind = chat(server, system, judge_user(instance_id, pseudo_patch(script["right"])))
    assert kind == "judge" and verdict(text) == "Verdict: success" and len(text.splitlines()) >= 2
    assert fix_lines(script["right"])
    wrong = [script["naive"]] * script["naive_wrong"] + [script.get("distracted")] * script["distractible"]
    for steps in wrong:
        assert verdict(chat(server, system, judge_user(instance_id, pseudo_patch(steps)))[0]) == "Verdict: failure"


def test_judge_fails_an_empty_patch_and_an_unknown_instance():
    server = ScriptedServer()
    assert verdict(chat(server, JUDGE, judge_user("awm-bench__tallyho-1", ""))[0]) == "Verdict: failure"
    patch = pseudo_patch(SCRIPTS["awm-bench__tallyho-1"]["right"])
    assert verdict(chat(server, JUDGE, f"Instance: nobody-1\n<patch>\n{patch}\n</patch>")[0]) == "Verdict: failure"


def test_judge_reply_is_read_by_the_engine():
    from awm.memory.judge import parse_verdict

    server = ScriptedServer()
    right = chat(server, JUDGE, judge_user("awm-bench__tallyho-9", pseudo_patch(SCRIPTS["awm-bench__tallyho-9"]["right"])))[0]
    naive = chat(server, JUDGE, judge_user("awm-bench__tallyho-9", pseudo_patch(SCRIPTS["awm-bench__tallyho-9"]["naive"])))[0]
    assert (parse_verdict(right), parse_verdict(naive)) == ("PASS", "FAIL")


def test_pitfall_induction_writes_one_pitfall_per_category_of_the_failures():
    from awm.memory.induction import parse_pitfalls

    server = ScriptedServer()
    failed = ["awm-bench__tallyho-7", "awm-bench__tallyho-21", "awm-bench__tallyho-13"]  # parsing x2, stale state
    user = "Pitfalls already in memory:\n\n(none yet)\n\nFailed tasks:\n\n" + "\n\n".join(
        f"### Task {n} ({iid})\nIssue: ..." for n, iid in enumerate(failed, 1))
    text, kind = chat(server, INDUCE_PITFALLS + " in the same repository.", user)
    assert kind == "induction"
    pitfalls = parse_pitfalls(text)
    assert [p["name"] for p in pitfalls] == [PITFALLS["parsing edge case"][0], PITFALLS["stale state update"][0]]
    assert all(p["description"] and p["steps"] for p in pitfalls)
    assert "## Workflow:" not in text and text.count("How to avoid it:") == 2
    assert chat(server, INDUCE_PITFALLS, "Failed tasks:\n\n(none)")[0] == "No new pitfalls."


def test_workflow_induction_with_the_engine_phrase():
    from awm.memory.induction import parse_workflows

    server = ScriptedServer()
    text, kind = chat(server, INDUCE_WORKFLOWS + " in the same repository.",
                      "Workflows already in memory:\n\n(none yet)\n\nSolved tasks:\n\n### Task 1 (awm-bench__tallyho-4)\n"
                      "### Task 2 (awm-bench__tallyho-10)")
    assert kind == "induction"
    [item] = parse_workflows(text)
    assert item["name"] == WORKFLOW_NAMES["comparison ordering"]
    assert item["description"] == CATEGORY_STEPS["comparison ordering"][0]


@pytest.mark.parametrize("kind", ["workflow", "pitfall"])
def test_merge_keeps_the_old_name_and_takes_the_newer_steps(kind):
    from awm.memory.induction import parse_items

    server = ScriptedServer()
    old = (f"## {kind.title()}: Old name\n{'When to use' if kind == 'workflow' else 'When it bites'}: old line\n"
           f"{'Steps:' if kind == 'workflow' else 'How to avoid it:'}\n1. first — `a`\n2. second — `b`")
    new = (f"## {kind.title()}: New name\n{'When to use' if kind == 'workflow' else 'When it bites'}: new line\n"
           f"{'Steps:' if kind == 'workflow' else 'How to avoid it:'}\n1. first — `a`\n2. second, better — `b`\n3. third — `c`")
    user = f"Version in memory ({kind} wf-old, version 1, learned from 2 task(s)):\n\n{old}\n\nNewly induced version:\n\n{new}\n\nNow write the merged {kind}."
    text, recorded = chat(server, MERGE + " (or of a pitfall) in a coding agent's memory.", user)
    assert recorded == "merge" and text.count("## ") == 1
    [item] = parse_items(text, kind)
    assert item == {"name": "Old name", "description": "new line", "steps": ["first — `a`", "second, better — `b`", "third — `c`"]}
    assert chat(server, MERGE, "nothing rendered here")[0] == "There is no workflow to merge."


# ------------------------------------------------------------------------------------------------------ embeddings

def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def test_embeddings_endpoint_in_openai_format():
    texts = ["The LRU cache evicts an entry that was just read",
             "LRU cache evicts the entry just read, not the oldest",
             "Roman numerals: to_roman(4) gives IIII"]
    with ScriptedServer() as server:
        status, body = post(server.base_url + "/embeddings", {"model": "x", "input": texts})
        assert status == 200 and body["object"] == "list" and body["model"] == "x"
        vectors = [item["embedding"] for item in sorted(body["data"], key=lambda item: item["index"])]
        assert [item["object"] for item in body["data"]] == ["embedding"] * 3
        assert all(len(v) == 256 and math.isclose(math.sqrt(cos(v, v)), 1.0) for v in vectors)
        assert cos(vectors[0], vectors[1]) > 0.5 > cos(vectors[0], vectors[2])
        assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
        # one string, the same vector every time; base64 as the OpenAI client asks for by default
        root = server.base_url.removesuffix("/v1")
        status, single = post(root + "/embeddings", {"model": "x", "input": texts[0], "encoding_format": "base64"})
        assert status == 200
        decoded = list(struct.unpack("<256f", base64.b64decode(single["data"][0]["embedding"])))
        assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, vectors[0]))
        assert embed(texts[0]) == vectors[0]
        assert post(server.base_url + "/embeddings", {"model": "x", "input": 3})[0] == 400
        assert [r["kind"] for r in server.requests] == ["embedding", "embedding", "unknown"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # litellm's own
def test_litellm_embedding_works_against_the_server():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    with ScriptedServer() as server:
        response = litellm.embedding(model="openai/x", api_base=server.base_url, api_key="x", input=["a b", "c"])
    vectors = [item["embedding"] for item in response.data]
    assert len(vectors) == 2 and all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(vectors[0], embed("a b")))


# --------------------------------------------------------------- slow: the edits against the instances' real tests

@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return minibench.build_repo(tmp_path_factory.mktemp("build") / "tallyho")


@pytest.mark.slow
@pytest.mark.parametrize("instance_id", ORDER)
def test_edits_do_what_the_flags_say(repo, tmp_path, instance_id):
    """right passes every FAIL_TO_PASS and PASS_TO_PASS test; a wrong naive fix and the distracted fix leave a
    FAIL_TO_PASS test failing; a naive fix that is not flagged wrong passes. The judge agrees on the real diffs."""
    instance, script = INSTANCES[instance_id], SCRIPTS[instance_id]
    fail_to_pass, pass_to_pass = json.loads(instance["FAIL_TO_PASS"]), json.loads(instance["PASS_TO_PASS"])
    plans = {"right": True, "naive": not script["naive_wrong"]}
    if script["distractible"]:
        plans["distracted"] = False
    server = ScriptedServer()
    for plan, passes in plans.items():
        workdir = derive.checkout(repo, instance["base_commit"], tmp_path / plan, [instance["test_patch"]])
        apply_script_edits(script[plan], workdir)
        diff = git(workdir, "diff", "--", "tallyho")
        assert diff.strip(), plan  # a non-empty patch
        statuses = derive.run_tests(workdir, derive.patched_files(instance["test_patch"]))
        if passes:
            assert {t: statuses.get(t) for t in fail_to_pass + pass_to_pass} == dict.fromkeys(fail_to_pass + pass_to_pass, "PASSED"), plan
        else:
            assert any(statuses.get(t) != "PASSED" for t in fail_to_pass), (plan, statuses)
        text = server.judge_text(judge_user(instance_id, diff))
        assert verdict(text) == ("Verdict: success" if passes else "Verdict: failure"), plan
