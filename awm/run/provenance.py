"""What produced a run, recorded in its config.json when the run is made: awm-tui's version and git commit, the
versions of the agent stack, a fingerprint of the dataset rows used and hashes of the prompts. `awm-tui compare`
refuses to pair runs whose rows differ and warns when prompts or versions differ.

    "provenance": {
      "awm_tui": {"version", "commit", "dirty"},     commit: None outside a git checkout
      "python": "3.12.8",
      "packages": {"openhands-sdk", "openhands-tools", "openhands-agent-server", "swebench", "litellm"},
      "dataset": {"name", "split", "order", "seed", "rows", "fingerprint", "instance_ids", "row_digests"},
      "prompts": {"agent", "memory", "induction", "pitfalls", "merge", "judge"},
      "recorded_at": "..."
    }

`instance_ids` is the order the run takes the issues in; `row_digests` maps each instance to a digest of its row as
the engine reads it (every field, the gold patch and tests included), `fingerprint` digests them all (order-free).
Nothing here imports the agent stack: versions come from the installed packages' metadata."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from awm.records import Issue
from awm.spec import RunSpec

PACKAGES = ("openhands-sdk", "openhands-tools", "openhands-agent-server", "swebench", "litellm")
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout awm-tui runs from (a git work tree, or not)


def _digest(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def row_digest(issue: Issue) -> str:
    """A digest of an issue's row as the engine uses it: any change to any field (statement, commit, tests, gold
    patch) changes it."""
    return _digest(json.dumps(dataclasses.asdict(issue), sort_keys=True, ensure_ascii=False, default=str))


def dataset_record(spec: RunSpec, issues: list[Issue]) -> dict:
    digests = {issue.instance_id: row_digest(issue) for issue in issues}
    return {
        "name": spec.dataset.name,
        "split": spec.dataset.split,
        "order": spec.dataset.order,
        "seed": spec.dataset.seed,
        "rows": len(issues),
        "fingerprint": _digest("\n".join(f"{k} {v}" for k, v in sorted(digests.items())), 64),
        "instance_ids": [issue.instance_id for issue in issues],
        "row_digests": digests,
    }


def prompt_hashes() -> dict[str, str]:
    """The prompts' templates, hashed: a change to any of them changes what the same run means."""
    from awm.agent.prompt import PROMPT
    from awm.memory import induction, judge, store

    return {
        "agent": _digest(PROMPT),
        "memory": _digest(store.HEADER + "\n" + store.PITFALLS_HEADER),
        "induction": _digest(induction.INSTRUCTION),
        "pitfalls": _digest(induction.PITFALL_INSTRUCTION),
        "merge": _digest(induction.MERGE_INSTRUCTION),
        "judge": _digest(judge.INSTRUCTION),
    }


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def source_commit(root: Path = SOURCE_ROOT) -> tuple[str | None, bool]:
    """The git commit awm-tui runs from, and whether its tracked files differ from it; (None, False) when it does
    not run from a git checkout (an installed wheel)."""
    if not (root / ".git").exists():
        return None, False
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None, False
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, False


def record(spec: RunSpec, issues: list[Issue]) -> dict:
    commit, dirty = source_commit()
    return {
        "awm_tui": {"version": version("awm-tui"), "commit": commit, "dirty": dirty},
        "python": platform.python_version(),
        "packages": {name: version(name) for name in PACKAGES},
        "dataset": dataset_record(spec, issues),
        "prompts": prompt_hashes(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def differences(old: dict, new: dict) -> list[str]:
    """What changed between two provenance records in code, versions or prompts (not the dataset, not the time):
    one phrase each, e.g. "litellm 1.93.0 -> 1.95.1"."""
    changes = []
    a, b = old.get("awm_tui") or {}, new.get("awm_tui") or {}
    if (a.get("version"), a.get("commit")) != (b.get("version"), b.get("commit")):
        changes.append(f"awm-tui {a.get('version')} ({(a.get('commit') or '?')[:10]}) -> "
                       f"{b.get('version')} ({(b.get('commit') or '?')[:10]})")
    if old.get("python") != new.get("python"):
        changes.append(f"Python {old.get('python')} -> {new.get('python')}")
    for name in sorted(set(old.get("packages") or {}) | set(new.get("packages") or {})):
        va, vb = (old.get("packages") or {}).get(name), (new.get("packages") or {}).get(name)
        if va != vb:
            changes.append(f"{name} {va} -> {vb}")
    for name in sorted(set(old.get("prompts") or {}) | set(new.get("prompts") or {})):
        if (old.get("prompts") or {}).get(name) != (new.get("prompts") or {}).get(name):
            changes.append(f"the {name} prompt changed")
    return changes
