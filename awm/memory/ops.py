"""The memory operation log: what a user did to a run's memory, and when (`awm-tui memory RUN disable|enable|pin|unpin
ID`). memory_ops.jsonl in the run folder, one JSON line per operation, appended and made durable before the command
returns; the engine replays the whole log before each issue (WorkflowMemory.apply_ops), so an edit takes effect
from the next issue, in a running run too. A torn last line (a kill mid-append) is dropped on read and cut off on
the next append (the engine says so on its start line: `torn`); a damaged line before the last refuses, naming
the line (the log is the record of the user's edits: it is never cut to below a damaged line). A deleted log
loses nothing the run needs: memory.json keeps the flags the log set."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from awm import atomic, runfiles
from awm.errors import UserError

OPS_FILE = runfiles.MEMORY_OPS
ACTIONS = ("disable", "enable", "pin", "unpin")


def path(run_dir: Path) -> Path:
    return Path(run_dir) / OPS_FILE


def refuse_frozen(run_dir: Path, action: str) -> None:
    """A run with frozen memory (`memory.enabled: frozen`, a replay) takes no edits: its memory is the one it
    replays, as it was, or its results would not measure that memory. Its engine ignores the log, so an edit is
    refused here rather than logged and silently not honoured."""
    try:
        config = atomic.read_json(Path(run_dir) / runfiles.CONFIG, {})
    except (OSError, ValueError):  # a damaged config.json is the run's to report, not an edit's
        return
    memory = ((config.get("spec") if isinstance(config, dict) else None) or {}).get("memory") or {}
    if isinstance(memory, dict) and memory.get("enabled") == "frozen":
        raise UserError(f"cannot {action} an entry of {run_dir}: its memory is frozen (`memory.enabled: frozen`, a "
                        "replay of another run's final memory), so it takes no edits. Edit the run its memory came "
                        f"from ({memory.get('start_from') or 'memory.from'}), or start a new run from a memory.json "
                        "you exported and edited (`awm-tui memory RUN export FILE`).")


def append(run_dir: Path, action: str, workflow_id: str, note: str = "") -> dict:
    """Append one operation ({"time", "action", "id", "note"}) to the run's log and return it. Appenders take turns
    (a lock on the log itself); a torn last line left by a killed appender is cut off first."""
    if action not in ACTIONS:
        raise ValueError(f"unknown memory operation {action!r} (expected one of {', '.join(ACTIONS)})")
    if not workflow_id:
        raise ValueError("a memory operation needs the id of a workflow or pitfall")
    refuse_frozen(Path(run_dir), action)
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "action": action, "id": workflow_id, "note": note}
    log = path(run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        with _refused():
            for _ in atomic.read_lines(log, repair=True):
                pass
        f.seek(0, os.SEEK_END)
        f.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    return entry


def read(run_dir: Path) -> list[dict]:
    """The run's operations in the order they were made ([] when there is no log); lines that are not an
    operation (unknown action, no id) are skipped. A damaged line before the last is a UserError naming the log,
    the line and the fix (the log holds the user's edits, which nothing else records, so it is never cut)."""
    with _refused():
        return [record for record in atomic.read_lines(path(run_dir))
                if record.get("action") in ACTIONS and isinstance(record.get("id"), str) and record["id"]]


def torn(run_dir: Path) -> str:
    """A line for the run's start when the log's last line is torn (dropped on read, cut off on the next append):
    the edit it was is not in effect. "" when the log is whole."""
    try:
        line = atomic.torn_line(path(run_dir))
    except atomic.DamagedLine:
        return ""  # read() refuses it
    if line is None:
        return ""
    problem = "cut short" if line.problem == "a line without its end" else line.problem
    return (f"{path(run_dir)}: its last line (line {line.line}) is {problem}, as a kill while an edit was being "
            "written leaves it; that edit is ignored. If it mattered, make it again with `awm-tui memory "
            f"{Path(run_dir)} disable|enable|pin|unpin ID`.")


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except atomic.DamagedLine as bad:
        raise UserError(
            f"the run's memory operation log {bad.path} is damaged at line {bad.line}: {bad.problem}. Each line is one "
            "`awm-tui memory` edit and the lines after it are edits too, so it is not read rather than lose them; "
            f"nothing was changed. Fix line {bad.line} or delete it (`sed -i '{bad.line}d' {bad.path}`; then make "
            "that edit again with `awm-tui memory RUN disable|enable|pin|unpin ID`), and try again.") from None
