"""Where an issue's time goes in the demo run: workspace, model wait, tool execution, evaluation, tests,
induction, bookkeeping; and the median framework overhead per issue (everything but model wait and tests).

    .venv/bin/python bench/overhead.py [--spec specs/demo.yaml] [--limit N]
    .venv/bin/python bench/overhead.py --docker [--limit N]

`--docker` runs the demo twice, the same issues: with the local workspace and local grading (specs/demo.yaml), then
with the agent and the grading in Docker (specs/demo-docker.yaml), and prints what Docker adds per issue: the
container's start (created to the agent server answering), how long an issue waited for it (less than the start
when the engine started it during the issue before), the per-step latency (tool time per step), the grading time,
and the median per-issue time of each run with their difference (the target: at most 10 s). Needs a Docker engine
and the demo's images (scripts/docker-up.sh)."""

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


def run(spec_path: str, limit: int | None) -> tuple[list[dict], float, object]:
    rows: list[dict] = []

    def collect(event: ev.Event) -> None:
        if isinstance(event, ev.IssueFinished):
            rows.append({"id": event.instance_id, "status": event.status.value, "total": event.duration_s,
                         "steps": event.steps, **{k: event.timings.get(k, 0.0) for k in PHASES}})
        elif isinstance(event, ev.InductionFinished) and rows:
            rows[-1]["induction"] += event.duration_s
            rows[-1]["total"] += event.duration_s

    overrides = {"output_dir": tempfile.mkdtemp(prefix="awm-bench-")}
    if limit:
        overrides["dataset.limit"] = limit
    spec = load_spec(spec_path, overrides)
    started = time.monotonic()
    engine = prepare_engine(spec, [collect], output_dir=overrides["output_dir"])
    engine.run()
    return rows, time.monotonic() - started, engine.parts.workspace


def table(rows: list[dict]) -> None:
    print(f"{'instance':<24} {'verdict':<7} " + " ".join(f"{p:>11}" for p in PHASES) + f" {'total':>8} {'overhead':>9}")
    for r in rows:
        print(f"{r['id']:<24} {r['status']:<7} " + " ".join(f"{r[p]:>11.3f}" for p in PHASES)
              + f" {r['total']:>8.3f} {r['total'] - r['model_wait'] - r['tests']:>9.3f}")
    medians = {p: statistics.median(r[p] for r in rows) for p in PHASES}
    print(f"{'median':<32} " + " ".join(f"{medians[p]:>11.3f}" for p in PHASES)
          + f" {statistics.median(r['total'] for r in rows):>8.3f}"
          + f" {statistics.median(r['total'] - r['model_wait'] - r['tests'] for r in rows):>9.3f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", default=str(ROOT / "specs" / "demo.yaml"))
    p.add_argument("--limit", type=int)
    p.add_argument("--docker", action="store_true", help="the local demo, then the Docker demo, side by side")
    args = p.parse_args()
    if not args.docker:
        rows, wall, _ = run(args.spec, args.limit)
        table(rows)
        overheads = [r["total"] - r["model_wait"] - r["tests"] for r in rows]
        print(f"\nissues: {len(rows)}  wall time (incl. start-up): {wall:.1f} s")
        print(f"median framework overhead per issue (all but model wait and test execution): "
              f"{statistics.median(overheads):.3f} s")
        return
    local, local_wall, _ = run(str(ROOT / "specs" / "demo.yaml"), args.limit)
    docker, docker_wall, workspace = run(str(ROOT / "specs" / "demo-docker.yaml"), args.limit)
    print("local workspace, local grading (specs/demo.yaml):")
    table(local)
    print("\nagent and grading in Docker (specs/demo-docker.yaml):")
    table(docker)
    med = statistics.median
    starts, waits = list(workspace.start_s.values()), list(workspace.waited_s.values())
    step = lambda rows: med(r["tool"] / r["steps"] for r in rows if r["steps"])  # noqa: E731
    same = [r["status"] for r in local] == [r["status"] for r in docker]
    print(f"\nissues: {len(local)} and {len(docker)}; verdicts {'the same' if same else 'DIFFER'}")
    print(f"container start (created to agent server up), median: {med(starts):.2f} s (max {max(starts):.2f} s)")
    print(f"an issue's wait for its container, median: {med(waits):.2f} s (started during the issue before)")
    print(f"per-step latency (tool time per step), median: local {step(local):.3f} s, Docker {step(docker):.3f} s")
    print(f"grading, median: local {med(r['evaluation'] for r in local):.2f} s, "
          f"harness in Docker {med(r['evaluation'] for r in docker):.2f} s")
    difference = med(r["total"] for r in docker) - med(r["total"] for r in local)
    print(f"per issue, median: local {med(r['total'] for r in local):.2f} s, Docker "
          f"{med(r['total'] for r in docker):.2f} s: Docker adds {difference:.2f} s (target: at most 10 s)")
    print(f"wall time: local {local_wall:.0f} s, Docker {docker_wall:.0f} s")


if __name__ == "__main__":
    main()
