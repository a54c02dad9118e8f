"""Does memory help, in the learner demo? The same instances three times: memory off, retrieval (the spec's, bm25 by
default) and `retrieval: all` (every workflow, no budget). Prints success rates, the median memory tokens per agent
request, and the memory at the end: entries, distinct entries, and the closest pair's similarity.

    .venv/bin/python bench/memory.py [--spec specs/demo.yaml] [--limit N] [--arms off,bm25,all]

THE DEMO'S MODEL IS SCRIPTED (`scripted/learner`): it applies an instance's right fix when a workflow of the
instance's bug category is in its prompt, and is distracted by workflows of other categories. This measures the
machinery (retrieval, budget, merging, usefulness) on a simulation; it proves nothing about real models.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from awm.memory.store import WorkflowMemory, similarity  # noqa: E402
from awm.records import Experience  # noqa: E402
from awm.run.launch import prepare_engine  # noqa: E402
from awm.spec import load_spec  # noqa: E402

ARMS = {"off": {"memory.enabled": "off"}, "bm25": {"memory.retrieval": "bm25"}, "all": {"memory.retrieval": "all"},
        "embedding": {"memory.retrieval": "embedding"}}


def run_arm(spec_path: str, arm: str, limit: int | None, root: Path) -> dict:
    out = root / arm
    overrides = {"output_dir": str(out), **ARMS[arm]}
    if limit:
        overrides["dataset.limit"] = limit
    spec = load_spec(spec_path, overrides)
    started = time.monotonic()
    engine = prepare_engine(spec, [], output_dir=str(out))
    engine.run()
    wall = time.monotonic() - started
    experiences = [Experience.from_dict(json.loads(line)) for line in
                   (out / "experiences.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    # each agent request of an issue carries that issue's memory block: weight by the requests the model saw
    per_request: list[int] = []
    requests = out / "scripted_requests.jsonl"
    by_issue: dict[str, int] = {}
    if requests.exists():
        for line in requests.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("kind") == "agent" and entry.get("instance_id"):
                by_issue[entry["instance_id"]] = by_issue.get(entry["instance_id"], 0) + 1
    for e in experiences:
        per_request += [e.memory_tokens] * by_issue.get(e.instance_id, 1)
    memory = WorkflowMemory.load(10**9, out / "memory.json")
    entries = memory.workflows
    closest = max((similarity(a, b) for i, a in enumerate(entries) for b in entries[i + 1:] if a.kind == b.kind),
                  default=0.0)
    distinct = len({tuple(s.lower() for s in w.steps) for w in entries})
    passed = sum(e.status == "PASS" for e in experiences)
    return {"arm": arm, "issues": len(experiences), "passed": passed, "rate": passed / max(1, len(experiences)),
            "median_tokens": int(statistics.median(per_request)) if per_request else 0, "max_tokens": max(per_request,
            default=0), "entries": len(entries), "distinct": distinct, "closest": closest,
            "rounds": memory.round, "budget": spec.memory.budget_tokens, "wall_s": wall}


def retrieval_speed(entries: int = 50, issues: int = 40) -> dict:
    """The per-issue cost of retrieval at the default capacity: rank `entries` workflows with BM25 against an issue
    and fit them to the budget with the model's tokenizer (litellm), as the engine does before every issue."""
    import random

    from awm.demo.minibench import load_instances
    from awm.memory.retrieval import BM25Retriever, retrieve
    from awm.model.client import count_tokens
    from awm.records import Workflow

    rng = random.Random(7)
    statements = [i["problem_statement"] for i in load_instances()]
    words = " ".join(statements).split()
    memory = WorkflowMemory(entries)
    for n in range(entries):
        memory.workflows.append(Workflow(id=f"wf-{n}", name=" ".join(rng.sample(words, 4)),
                                         description=" ".join(rng.sample(words, 14)),
                                         steps=[" ".join(rng.sample(words, 10)) for _ in range(4)]))
    retriever = BM25Retriever()
    count = lambda text: count_tokens(text, "openai/gpt-4o")  # noqa: E731
    count("warm up the tokenizer")
    times = []
    for n in range(issues):
        started = time.perf_counter()
        retrieve(memory, statements[n % len(statements)], f"x-{n}", retriever, budget_tokens=1500, min_score=0.05,
                 top_k=5, count=count)
        times.append(time.perf_counter() - started)
    return {"entries": entries, "median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", default=str(ROOT / "specs" / "demo.yaml"))
    p.add_argument("--limit", type=int)
    p.add_argument("--arms", default="off,bm25,all")
    p.add_argument("--speed-only", action="store_true", help="only time retrieval at 50 workflows")
    args = p.parse_args()
    speed = retrieval_speed()
    print(f"retrieval per issue at {speed['entries']} workflows (BM25 + budget with gpt-4o's tokenizer): median "
          f"{speed['median_ms']:.1f} ms, max {speed['max_ms']:.1f} ms\n")
    if args.speed_only:
        return
    root = Path(tempfile.mkdtemp(prefix="awm-bench-memory-"))
    rows = [run_arm(args.spec, arm, args.limit, root) for arm in args.arms.split(",")]
    print(f"{'arm':<10} {'issues':>6} {'passed':>6} {'rate':>6} {'med tok/req':>11} {'max tok':>8} {'budget':>6} "
          f"{'entries':>7} {'distinct':>8} {'closest':>7} {'rounds':>6} {'wall s':>7}")
    for r in rows:
        print(f"{r['arm']:<10} {r['issues']:>6} {r['passed']:>6} {r['rate']:>6.0%} {r['median_tokens']:>11} "
              f"{r['max_tokens']:>8} {r['budget']:>6} {r['entries']:>7} {r['distinct']:>8} {r['closest']:>7.2f} "
              f"{r['rounds']:>6} {r['wall_s']:>7.1f}")
    by = {r["arm"]: r for r in rows}
    if {"off", "bm25", "all"} <= set(by):
        print(f"\nretrieval beats off: {by['bm25']['rate'] > by['off']['rate']}; retrieval at least as good as all: "
              f"{by['bm25']['rate'] >= by['all']['rate']}; retrieval's memory tokens within the budget: "
              f"{by['bm25']['max_tokens'] <= by['bm25']['budget']}; no near-identical pair (closest < merge "
              f"threshold): {by['bm25']['closest'] < 0.75}")
    print(f"\nrun folders: {root}\nA SIMULATION: the scripted learner model reacts to workflows by design; this shows "
          "the machinery works, not that memory helps a real model.")


if __name__ == "__main__":
    main()
