"""Throughput with several issues in flight: the demo with a model latency injected into the scripted server
(`llm.scripted_latency_s`, seconds per reply: a model-bound run), at workers 1, 2 and 4. Prints wall time, the
speed-up against one worker, and the mean staleness (issues before each one still in flight when it started).

    .venv/bin/python bench/throughput.py [--latency 1.0] [--limit 8] [--workers 1,2,4]

Targets (issue 10): speed-up of at least 0.8*k for k up to 4 at latency 1 s. The machine's cores bound what tests
and tool calls can overlap; model waits overlap freely.
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

from awm.run.launch import prepare_engine  # noqa: E402
from awm.spec import load_spec  # noqa: E402


def run(spec_path: str, workers: int, latency: float, limit: int, root: Path) -> dict:
    out = root / f"w{workers}"
    overrides = {"output_dir": str(out), "workers": workers, "llm.scripted_latency_s": latency, "dataset.limit": limit}
    spec = load_spec(spec_path, overrides)
    engine = prepare_engine(spec, [], output_dir=str(out))
    started = time.monotonic()
    finished = engine.run()
    wall = time.monotonic() - started
    journal = [json.loads(line) for line in (out / "experiences.jsonl").read_text().splitlines() if line.strip()]
    return {"workers": workers, "wall": wall, "issues": len(journal), "passed": finished.stats.passed,
            "staleness": statistics.mean(e.get("staleness", 0) for e in journal) if journal else 0.0,
            "outcome": finished.outcome}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", default=str(ROOT / "specs" / "demo.yaml"))
    p.add_argument("--latency", type=float, default=1.0)
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--workers", default="1,2,4")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="awm-bench-throughput-"))
    rows = [run(args.spec, int(k), args.latency, args.limit, root) for k in args.workers.split(",")]
    base = next((r["wall"] for r in rows if r["workers"] == 1), rows[0]["wall"])
    print(f"latency {args.latency} s per model reply, {args.limit} issues of {args.spec}")
    print(f"{'workers':>7} {'wall s':>8} {'speed-up':>8} {'target':>7} {'passed':>6} {'mean staleness':>14}  outcome")
    for r in rows:
        speedup = base / r["wall"]
        print(f"{r['workers']:>7} {r['wall']:>8.1f} {speedup:>8.2f} {0.8 * r['workers']:>7.1f} {r['passed']:>6} "
              f"{r['staleness']:>14.2f}  {r['outcome']}")
    print(f"\nrun folders: {root}")


if __name__ == "__main__":
    main()
