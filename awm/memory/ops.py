"""The memory operation log: what a user did to a run's memory, and when (`awm-tui memory RUN disable|enable|pin|unpin
ID`). memory_ops.jsonl in the run folder, one JSON line per operation, appended and made durable before the command
returns; the engine replays the whole log before each issue (WorkflowMemory.apply_ops), so an edit takes effect
from the next issue, in a running run too. A torn last line (a kill mid-append) is dropped on read and cut off on
the next append."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from awm import atomic

OPS_FILE = "memory_ops.jsonl"
ACTIONS = ("disable", "enable", "pin", "unpin")


def path(run_dir: Path) -> Path:
    return Path(run_dir) / OPS_FILE


def append(run_dir: Path, action: str, workflow_id: str, note: str = "") -> dict:
    """Append one operation ({"time", "action", "id", "note"}) to the run's log and return it. Appenders take turns
    (a lock on the log itself); a torn last line left by a killed appender is cut off first."""
    if action not in ACTIONS:
        raise ValueError(f"unknown memory operation {action!r} (expected one of {', '.join(ACTIONS)})")
    if not workflow_id:
        raise ValueError("a memory operation needs the id of a workflow or pitfall")
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "action": action, "id": workflow_id, "note": note}
    log = path(run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        for _ in atomic.read_lines(log, repair=True):
            pass
        f.seek(0, os.SEEK_END)
        f.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    return entry


def read(run_dir: Path) -> list[dict]:
    """The run's operations in the order they were made ([] when there is no log); lines that are not an
    operation (unknown action, no id) are skipped. A damaged line before the last raises atomic.DamagedLine."""
    return [record for record in atomic.read_lines(path(run_dir))
            if record.get("action") in ACTIONS and isinstance(record.get("id"), str) and record["id"]]
