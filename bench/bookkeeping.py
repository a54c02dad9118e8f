"""Per-issue bookkeeping time (the journal commit, predictions, checkpoint, buffer, the derived views: everything
the engine does for an issue besides the workspace, the agent and the grading) at N finished issues, through the
real store and Engine over stub parts (tests/test_engine.py). Target: flat in N.

A run folder is made with N synthetic finished experiences of realistic size (a ~2 KB patch, a 30-step history
with ~1 KB observations, a test output), then the engine runs MEASURE more issues; the median and the mean of
their `bookkeeping` timing (IssueFinished.timings) are printed, with the size of the files the run rewrites.

    .venv/bin/python bench/bookkeeping.py [--sizes 100 2000] [--measure 10] [--checkpoint-interval 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.stubs import Complete, StubAgent, StubEvaluator, StubWorkspace, issue  # noqa: E402

from awm import atomic  # noqa: E402
from awm.agent.runner import AgentResult, AgentStatus  # noqa: E402
from awm.memory.induction import Inducer  # noqa: E402
from awm.records import Experience, Status, Step  # noqa: E402
from awm.run import events as ev  # noqa: E402
from awm.run.loop import Engine  # noqa: E402
from awm.run.parts import Parts  # noqa: E402
from awm.run.store import RunStore  # noqa: E402
from awm.spec import InductionSpec, LLMSpec, RunSpec  # noqa: E402

PATCH = "diff --git a/app/core.py b/app/core.py\n" + "".join(f"+    value_{i} = compute(value_{i - 1})  # fix\n"
                                                          for i in range(45))  # ~2 KB
HISTORY = [Step(tool="terminal", action=f"$ grep -rn 'value_{i}' app/", thought="Look for the definition. " * 4,
                observation=("app/core.py:%d: value = compute(x)\n" % i) * 30) for i in range(30)]  # ~30 KB


def experience(n: int) -> Experience:
    return Experience(instance_id=f"acme__app-{n}", problem_statement=f"bug {n}: " + "the widget breaks. " * 40,
                      status=Status.PASS if n % 3 else Status.FAIL, diff_patch=PATCH, history=HISTORY,
                      test_output="ok\n" * 300, reason="", cost=0.5, prompt_tokens=30000, completion_tokens=2000,
                      steps=30, duration_s=300.0, workflow_ids=["wf-a", "wf-b"], memory_round=1,
                      agent_status="finished", finished_at="2025-01-01T00:00:00")


class RealisticAgent(StubAgent):
    def run(self, issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        return AgentResult(patch=PATCH, status=AgentStatus.FINISHED, history=list(HISTORY), steps=30, cost=0.5,
                           prompt_tokens=30000, completion_tokens=2000)


def measure(finished: int, extra: int, interval: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        # memory off: an induction round is not bookkeeping (and the stub inducer is instant anyway)
        spec = RunSpec(llm=LLMSpec(model="stub/model"), name="bench", memory="off",
                       induction=InductionSpec(trigger=10 ** 9, max_workflows=10), checkpoint_interval=interval,
                       max_consecutive_errors=10 ** 9)
        store = RunStore.create(spec, str(Path(tmp) / "run"))
        journal = "".join(atomic.json.dumps(experience(n).to_dict(), ensure_ascii=False) + "\n"
                          for n in range(1, finished + 1))
        store.journal.write_text(journal)
        issues = [issue(n) for n in range(1, finished + extra + 1)]
        parts = Parts(spec, issues, StubWorkspace(), RealisticAgent(), StubEvaluator(),
                      Inducer(Complete(), store.induction))
        events: list = []
        started = time.monotonic()
        Engine(parts, store, [events.append]).run()
        total = time.monotonic() - started
        times = [e.timings["bookkeeping"] for e in events if isinstance(e, ev.IssueFinished)]
        sizes = {name: (store.dir / name).stat().st_size for name in
                 ("experiences.jsonl", "result.json", "predictions.jsonl", "checkpoint.json", "buffer.json")
                 if (store.dir / name).exists()}
        return {"median": statistics.median(times), "mean": statistics.mean(times), "max": max(times),
                "total": total, "sizes": sizes}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    p.add_argument("--measure", type=int, default=10, help="issues run and timed after the N finished ones")
    p.add_argument("--checkpoint-interval", type=int, default=5, help="the spec's checkpoint_interval (default 5)")
    args = p.parse_args()
    print(f"per-issue bookkeeping over {args.measure} issues after N finished (checkpoint_interval "
          f"{args.checkpoint_interval}); the whole run's time includes the start (reading the journal) and the end")
    for n in args.sizes:
        r = measure(n, args.measure, args.checkpoint_interval)
        sizes = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in r["sizes"].items())
        print(f"N={n:>5}: median {r['median'] * 1000:7.1f} ms  mean {r['mean'] * 1000:7.1f} ms  "
              f"max {r['max'] * 1000:7.1f} ms  (whole run {r['total']:.1f} s; {sizes})")


if __name__ == "__main__":
    main()
