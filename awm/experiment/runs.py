"""A run folder read for comparison: its finished issues in run order, what its memory cost and did, and what
produced it (config.json's provenance). Read only: nothing in the run folder is written, repaired or locked, so a
run can be compared while it is still going (its finished issues so far)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from awm import atomic, runfiles
from awm.errors import UserError
from awm.records import Experience
from awm.run.store import RunStore, find_run


@dataclass
class Run:
    """One run, as compare needs it."""

    path: Path
    config: dict
    status: str  # checkpoint.json's status ("new" without one)
    experiences: list[Experience]  # the finished issues, in the run's order
    induction_cost: float  # memory's own model calls over the whole run (induction, merging, the judge)
    induction_source: str  # the file that figure came from
    rounds: list[dict] = field(default_factory=list)  # the induction rounds: {"round", "kind"}, in order
    entries: dict[str, dict] = field(default_factory=dict)  # memory entry id -> {"name", "kind"}, every version's
    seeded_from: str | None = None  # a warm start: where round 0's entries came from

    @property
    def label(self) -> str:
        """The run's folder name: how messages and the report name it."""
        return self.path.name

    @property
    def provenance(self) -> dict | None:
        """What produced the run (None for runs made before awm-tui recorded it)."""
        return self.config.get("provenance") or None

    @property
    def model(self) -> str:
        return str(((self.config.get("spec") or {}).get("llm") or {}).get("model", ""))

    def by_instance(self) -> dict[str, Experience]:
        return {e.instance_id: e for e in self.experiences}

    def row_digests(self) -> dict[str, str]:
        return dict(((self.provenance or {}).get("dataset") or {}).get("row_digests") or {})


def read_run(run: str | Path) -> Run:
    """A finished or unfinished run, read for comparison.

    Args:
        run: its folder, or its name under the runs folder.

    Returns:
        The Run: its journal's experiences, config.json, memory entries and provenance.

    Raises:
        UserError: no run there, or its files are damaged (the message names the file).
    """
    path = find_run(str(run))
    if path is None:
        raise UserError(f"compare: no run found at {run} (no config.json in that folder, nor a run of that name under "
                        "the runs folder). Give a run's folder, or its name as `awm-tui` lists it.")
    path = path.resolve()
    store = RunStore(path)
    config = _read_mapping(store.config_path, required=True)
    checkpoint = _read_mapping(store.checkpoint_path)
    memory = _read_mapping(store.memory_path)
    experiences = store.finished(repair=False)
    experiences.sort(key=lambda e: e.position or 0)  # stable: journal order where positions were not recorded
    cost, source = _induction_cost(path, checkpoint, memory, experiences)
    rounds = [{"round": int(r["round"]), "kind": str(r.get("kind") or "workflow")}
              for r in memory.get("rounds") or [] if int(r.get("round", 0)) >= 1]
    if not rounds:  # no memory.json (or an old one): the rounds the issues saw
        rounds = [{"round": n, "kind": "induction"} for n in sorted({e.memory_round for e in experiences} - {0})]
    return Run(path=path, config=config, status=str(checkpoint.get("status") or "new"), experiences=experiences,
               induction_cost=cost, induction_source=source, rounds=sorted(rounds, key=lambda r: r["round"]),
               entries=_entries(memory), seeded_from=memory.get("seeded_from"))


def _read_mapping(path: Path, required: bool = False) -> dict:
    """A JSON object file of the run; {} when an optional one is missing; a UserError when it is damaged."""
    try:
        data = atomic.read_json(path, None if required else {})
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"is not valid JSON ({getattr(exc, 'msg', exc)}, line {getattr(exc, 'lineno', '?')})"
    else:
        if isinstance(data, dict):
            return data
        problem = "is missing" if data is None else "is not the JSON object awm-tui writes"
    raise UserError(f"compare: the run's {path} {problem}, so the run cannot be read. Restore the file from a backup, "
                    "or leave this run out of the comparison.")


def _induction_cost(path: Path, checkpoint: dict, memory: dict, experiences: list[Experience]) -> tuple[float, str]:
    """What memory's own model calls cost over the run: the engine's statistics when recorded (checkpoint.json is
    rewritten after every issue, result.json at the end), else memory.json's rounds and failed attempts plus the
    judge's calls recorded with each issue."""
    store = RunStore(path)
    for name, stats in ((store.checkpoint_path.name, checkpoint.get("stats")),
                        (store.result_path.name, (_read_mapping(store.result_path)).get("statistics"))):
        if isinstance(stats, dict) and "induction_cost" in stats:
            return float(stats["induction_cost"] or 0.0), name
    calls = (memory.get("rounds") or []) + (memory.get("failed_rounds") or [])
    judged = sum(float((e.judge or {}).get("cost", 0) or 0) for e in experiences)
    return sum(float(r.get("cost", 0) or 0) for r in calls) + judged, runfiles.MEMORY


def _entries(memory: dict) -> dict[str, dict]:
    """Every memory entry's name and kind: the current ones, and those evicted since (kept in `versions`)."""
    entries: dict[str, dict] = {}
    versions = sorted((memory.get("versions") or {}).values(), key=lambda w: w.get("round", 0))
    for data in [*versions, *(memory.get("workflows") or [])]:  # the current entry's name wins
        if isinstance(data, dict) and data.get("id"):
            entries[data["id"]] = {"name": str(data.get("name", "")), "kind": str(data.get("kind") or "workflow")}
    return entries
