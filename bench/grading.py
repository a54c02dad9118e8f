"""Grading time per instance: local grading (the tests on this machine) against the official harness in Docker
(run_instance in a fresh container of the instance image), on the demo's 24 instances with their gold patches, in
one run. Prints each instance's time with both, the medians and totals, and the ratio. Needs a Docker engine and the
demo's images (scripts/docker-up.sh); the harness removes an instance image after grading unless --keep-images,
and it is rebuilt (about half a second) before the next grading of that instance.

    .venv/bin/python bench/grading.py [--limit N] [--keep-images]
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

from awm import demo  # noqa: E402
from awm.demo.minibench import load_instances  # noqa: E402
from awm.grading.backends import make_evaluator  # noqa: E402
from awm.records import Issue  # noqa: E402
from awm.repos import RepoCache  # noqa: E402
from awm.spec import EvaluationSpec  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=24)
    p.add_argument("--keep-images", action="store_true", help="keep the instance images between gradings")
    args = p.parse_args()
    rows = load_instances()[: args.limit]
    with tempfile.TemporaryDirectory(prefix="awm-bench-grading-") as tmp:
        cache = RepoCache(Path(tmp) / "repos", {demo.REPO: demo.BUILTIN})
        cache.mirror(demo.REPO)
        times: dict[str, dict[str, float]] = {}
        verdicts: dict[str, dict[str, str]] = {}
        for backend in ("local", "swebench-docker"):
            work = Path(tmp) / backend
            work.mkdir()
            evaluator = make_evaluator(EvaluationSpec(backend=backend, timeout_minutes=5,
                                                      keep_images=args.keep_images),
                                       cache, work / ".work", run_dir=work, run_tag=f"bench-{backend}",
                                       model_name="gold")
            evaluator.warm_up()
            # the first grading builds what is missing (an environment, the harness's imports): not timed
            evaluator.evaluate(Issue.from_row(rows[0]), rows[0]["patch"], work / "warm")
            for row in rows:
                started = time.monotonic()
                result = evaluator.evaluate(Issue.from_row(row), row["patch"], work / row["instance_id"])
                times.setdefault(row["instance_id"], {})[backend] = time.monotonic() - started
                verdicts.setdefault(row["instance_id"], {})[backend] = result.status.value
    print(f"{'instance':<24} {'local s':>8} {'docker s':>9} {'ratio':>6}  verdicts")
    for iid, t in times.items():
        v = verdicts[iid]
        print(f"{iid:<24} {t['local']:>8.2f} {t['swebench-docker']:>9.2f} {t['swebench-docker'] / t['local']:>6.1f}"
              f"  {v['local']}/{v['swebench-docker']}")
    local = [t["local"] for t in times.values()]
    docker = [t["swebench-docker"] for t in times.values()]
    agree = all(v["local"] == v["swebench-docker"] for v in verdicts.values())
    print(f"\n{len(times)} instances, gold patches; verdicts {'agree' if agree else 'DIFFER'}")
    print(f"median per instance: local {statistics.median(local):.2f} s, harness in Docker "
          f"{statistics.median(docker):.2f} s, ratio {statistics.median(docker) / statistics.median(local):.1f}")
    print(f"total: local {sum(local):.1f} s, harness in Docker {sum(docker):.1f} s, ratio "
          f"{sum(docker) / sum(local):.1f}")


if __name__ == "__main__":
    main()
