"""Where an issue's time goes in the demo run: workspace, model wait, tool execution, evaluation, tests,
induction, bookkeeping; and the median framework overhead per issue (everything but model wait and tests).

    .venv/bin/python bench/overhead.py [--spec specs/demo.yaml] [--limit N]
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

from awm.run import events as ev  # noqa: E402
from awm.run.launch import prepare_engine  # noqa: E402
from awm.spec import load_spec  # noqa: E402

PHASES = ("workspace", "agent_setup", "model_wait", "tool", "evaluation", "tests", "induction", "bookkeeping")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", default=str(ROOT / "specs" / "demo.yaml"))
    p.add_argument("--limit", type=int)
    args = p.parse_args()
    rows: list[dict] = []

    def collect(event: ev.Event) -> None:
        if isinstance(event, ev.IssueFinished):
            rows.append({"id": event.instance_id, "status": event.status.value, "total": event.duration_s,
                         **{k: event.timings.get(k, 0.0) for k in PHASES}})
        elif isinstance(event, ev.InductionFinished) and rows:
            rows[-1]["induction"] += event.duration_s
            rows[-1]["total"] += event.duration_s

    overrides = {"output_dir": tempfile.mkdtemp(prefix="awm-bench-")}
    if args.limit:
        overrides["dataset.limit"] = args.limit
    spec = load_spec(args.spec, overrides)
    started = time.monotonic()
    prepare_engine(spec, [collect], output_dir=overrides["output_dir"]).run()
    wall = time.monotonic() - started

    print(f"{'instance':<24} {'verdict':<7} " + " ".join(f"{p:>11}" for p in PHASES) + f" {'total':>8} {'overhead':>9}")
    overheads = []
    for r in rows:
        overhead = r["total"] - r["model_wait"] - r["tests"]
        overheads.append(overhead)
        print(f"{r['id']:<24} {r['status']:<7} " + " ".join(f"{r[p]:>11.3f}" for p in PHASES)
              + f" {r['total']:>8.3f} {overhead:>9.3f}")
    medians = {p: statistics.median(r[p] for r in rows) for p in PHASES}
    print(f"{'median':<32} " + " ".join(f"{medians[p]:>11.3f}" for p in PHASES)
          + f" {statistics.median(r['total'] for r in rows):>8.3f} {statistics.median(overheads):>9.3f}")
    print(f"\nissues: {len(rows)}  wall time (incl. start-up): {wall:.1f} s")
    print(f"median framework overhead per issue (all but model wait and test execution): "
          f"{statistics.median(overheads):.3f} s")


if __name__ == "__main__":
    main()
