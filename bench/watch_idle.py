"""What a watcher (`awm-tui watch RUN`) costs while nothing changes, following a Django-size run (2,294 issues).

A synthetic run folder is made (config.json with the issue list, checkpoint.json, a journal of --finished issues,
memory.json with induction rounds, the log of one issue in flight) and its lock is held by this process, as an
engine's would be (RunStore.lock). The real command, `awm-tui watch DIR`, runs in a pseudo-terminal of 160x45 (its
output read and dropped by a thread here); once it has settled (--settle s), its CPU time (user + system, from
/proc/<pid>/stat) over --seconds s of nothing changing is printed as a percentage of one core. Then q quits it.

    .venv/bin/python bench/watch_idle.py [--issues 2294] [--finished 1000] [--settle 8] [--seconds 20]

Target (issue 20): under 5% of a core."""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWM_TUI_HOME", tempfile.mkdtemp(prefix="awm-bench-home-"))

from awm import atomic  # noqa: E402
from awm.memory.store import WorkflowMemory  # noqa: E402
from awm.records import Experience, Status  # noqa: E402
from awm.run.stats import Stats  # noqa: E402
from awm.run.store import RunStore  # noqa: E402


def synthetic_run(folder: Path, issues: int, finished: int) -> RunStore:
    ids = [f"django__django-{10000 + i}" for i in range(issues)]
    folder.mkdir(parents=True)
    atomic.write_json(folder / "config.json", {
        "format": 1, "run_id": folder.name, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "spec_path": None,
        "fingerprint": {}, "spec": {"name": "django-full", "llm": {"model": "openrouter/some/model"},
                                    "induction": {"max_workflows": 50}},
        "provenance": {"dataset": {"instance_ids": ids}}})
    statuses = [Status.PASS, Status.FAIL, Status.PASS, Status.ERROR]
    experiences = [Experience(instance_id=iid, problem_statement=f"issue {n}", status=statuses[n % 4],
                              diff_patch="diff --git a/x b/x\n", reason="" if n % 4 == 0 else "tests fail",
                              cost=0.31, steps=23, duration_s=140.0, memory_round=n // 40)
                   for n, iid in enumerate(ids[:finished])]
    store = RunStore(folder)
    store.rewrite_journal(experiences)
    memory = WorkflowMemory(50, store.memory_path)
    for r in range(1, finished // 40 + 1):
        memory.add_round(r, [{"name": f"Workflow {r}-{k}", "description": "when the tests fail on a lookup",
                              "steps": ["find it — `grep -n x`", "fix it", "run the tests — `pytest`"]}
                             for k in range(2)], ids[(r - 1) * 40:r * 40])
    stats = Stats.compute(experiences, issues, len(memory.workflows), memory.round, 3600.0)
    store.write_checkpoint(stats, ids, [e.instance_id for e in experiences], "running", "django-full",
                           "openrouter/some/model")
    log = store.log_path(ids[finished])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {ids[finished]}  repo django/django  base abc\n# workspace /testbed\n"
                   + "".join(f"[12:00:{s:02d}] ACTION terminal\n$ grep -rn thing{s} django/\n\n"
                             f"[12:00:{s:02d}] OBSERVATION terminal\nno match\n\n" for s in range(30)))
    return store


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--issues", type=int, default=2294)
    p.add_argument("--finished", type=int, default=1000)
    p.add_argument("--settle", type=float, default=8.0, help="seconds given to the watcher's start and first frames")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds measured")
    args = p.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="awm-watch-bench-")) / "django-full"
    store = synthetic_run(folder, args.issues, args.finished)
    with store.lock():  # this process is the run's owner, idle: nothing in the folder changes
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
        proc = subprocess.Popen([sys.executable, "-m", "awm_tui.commands.cli", "watch", str(folder)], cwd=ROOT,
                                stdin=slave, stdout=slave, stderr=slave, env={**os.environ, "TERM": "xterm-256color"},
                                start_new_session=True)
        os.close(slave)
        received = [0]

        def drain() -> None:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    return
                if not data:
                    return
                received[0] += len(data)

        threading.Thread(target=drain, daemon=True).start()
        try:
            time.sleep(args.settle)
            assert proc.poll() is None, "the watcher ended early"
            start_cpu, start, start_bytes = cpu_seconds(proc.pid), time.monotonic(), received[0]
            time.sleep(args.seconds)
            used, wall = cpu_seconds(proc.pid) - start_cpu, time.monotonic() - start
            written = received[0] - start_bytes
        finally:
            os.write(master, b"q")
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"awm-tui watch, idle, following a {args.issues:,}-issue run ({args.finished:,} finished, 1 in flight), "
          f"160x45 pseudo-terminal:")
    print(f"  CPU {used / wall:.1%} of one core over {wall:.0f} s ({used:.2f} s of CPU); "
          f"{written / wall / 1024:.1f} KiB/s drawn")
    print(f"  start-up and first frames: {args.settle:.0f} s, not measured")


if __name__ == "__main__":
    main()
