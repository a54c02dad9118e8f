"""Synthetic run folders for `awm-tui compare` tests: the files a finished run leaves (config.json with provenance,
experiences.jsonl, checkpoint.json, memory.json), written directly, no engine, in milliseconds.

    write_run(tmp_path / "base", {"a-1": "PASS", "a-2": "FAIL"})
    write_run(tmp_path / "mem", {"a-1": "PASS", "a-2": "PASS"}, workflows={"a-2": ["wf-x"]}, memory_rounds={"a-2": 1},
              entries={"wf-x": "Fix X"})
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from awm.records import Experience, Status

PROMPTS = {"agent": "a" * 16, "memory": "b" * 16, "induction": "c" * 16, "pitfalls": "d" * 16, "merge": "e" * 16,
           "judge": "f" * 16}
PACKAGES = {"openhands-sdk": "1.58.2", "openhands-tools": "1.58.2", "openhands-agent-server": "1.58.2",
            "swebench": "4.1.0", "litellm": "1.95.0"}


def row_digest(instance_id: str, revision: str = "") -> str:
    """The digest a row gets in these fixtures; another `revision` is the same id with a changed row."""
    return hashlib.sha256(f"{instance_id}{revision}".encode()).hexdigest()[:16]


def provenance(instance_ids: list[str], *, revised: tuple[str, ...] = (), prompts: dict | None = None,
               packages: dict | None = None, commit: str = "0123456789abcdef", dirty: bool = False) -> dict:
    """A provenance record like awm.run.provenance writes; the ids in `revised` get another row digest."""
    digests = {i: row_digest(i, "revised" if i in revised else "") for i in instance_ids}
    return {
        "awm_tui": {"version": "0.1.0", "commit": commit, "dirty": dirty},
        "python": "3.12.8",
        "packages": {**PACKAGES, **(packages or {})},
        "dataset": {"name": "fixture.jsonl", "split": "test", "order": "id", "seed": None, "rows": len(digests),
                    "fingerprint": hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest(),
                    "instance_ids": list(instance_ids), "row_digests": digests},
        "prompts": {**PROMPTS, **(prompts or {})},
        "recorded_at": "2025-01-01T00:00:00",
    }


def write_run(folder: Path, statuses: dict[str, str], *, record: dict | None | bool = True,
              workflows: dict[str, list[str]] | None = None, memory_rounds: dict[str, int] | None = None,
              entries: dict[str, str] | None = None, rounds: list[dict] | None = None, induction_cost: float = 0.0,
              status: str = "completed", fields: dict[str, dict[str, Any]] | None = None) -> Path:
    """A run folder whose journal holds one finished issue per `statuses` item, in that order (positions 1..n).

    record: the provenance (True: `provenance()` of the run's instances; None/False: none, as older runs).
    workflows: instance -> the memory entry ids injected (memory_tokens 100 per entry).
    memory_rounds: instance -> the memory round it started with (default 0).
    entries: memory entry id -> name, written to memory.json.
    rounds: memory.json's rounds ({"round", "kind", "cost"}); default: one per distinct memory round.
    fields: instance -> Experience fields to set (cost, steps, ...); defaults: cost 0.01 x position, 1000 prompt and
    100 completion tokens, 10 steps, 60 s."""
    folder.mkdir(parents=True, exist_ok=True)
    workflows, memory_rounds, fields = workflows or {}, memory_rounds or {}, fields or {}
    ids = list(statuses)
    if record is True:
        record = provenance(ids)
    config = {"format": 1, "run_id": folder.name, "created_at": "2025-01-01T00:00:00", "spec_path": None,
              "fingerprint": {}, "spec": {"name": folder.name, "llm": {"model": "fixture/model"}}}
    if record:
        config["provenance"] = copy.deepcopy(record)
    (folder / "config.json").write_text(json.dumps(config))
    lines = []
    for position, (instance, outcome) in enumerate(statuses.items(), 1):
        injected = workflows.get(instance, [])
        experience = Experience(
            instance_id=instance, problem_statement=f"issue {instance}", status=Status(outcome),
            cost=round(0.01 * position, 4), prompt_tokens=1000, completion_tokens=100, steps=10, duration_s=60.0,
            workflow_ids=list(injected), memory_round=memory_rounds.get(instance, 0), memory_tokens=100 * len(injected),
            position=position, learned=outcome == "PASS")
        for name, value in fields.get(instance, {}).items():
            setattr(experience, name, value)
        lines.append(json.dumps(experience.to_dict()))
    (folder / "experiences.jsonl").write_text("".join(line + "\n" for line in lines))
    passed = sum(s == "PASS" for s in statuses.values())
    (folder / "checkpoint.json").write_text(json.dumps({
        "run_id": folder.name, "name": folder.name, "model": "fixture/model", "status": status, "message": "",
        "instance_ids": ids, "finished_ids": ids, "next": None,
        "stats": {"total": len(ids), "processed": len(ids), "passed": passed, "induction_cost": induction_cost},
    }))
    if rounds is None:
        rounds = [{"round": n, "kind": "workflow", "cost": 0.0} for n in sorted(set(memory_rounds.values()) - {0})]
    memory = {"round": max((r["round"] for r in rounds), default=0), "seeded_from": None, "rounds": rounds,
              "failed_rounds": [], "versions": {},
              "workflows": [{"id": i, "name": name, "description": "", "steps": ["do it"],
                             "kind": "pitfall" if i.startswith("pf-") else "workflow"}
                            for i, name in (entries or {}).items()]}
    (folder / "memory.json").write_text(json.dumps(memory))
    return folder
