"""A bundled mini-benchmark in SWE-bench format: the `tallyho` utility library and 24 of its real bugs, four of each
of six kinds (incomplete lookup table, string normalisation, off-by-one boundary, comparison ordering, parsing edge
case, stale state update).

`build_repo` builds the library's git history (identical hashes everywhere); `instances.jsonl` holds the
instances derived from it, and `scripts.SCRIPTS` what the scripted model does on each.
"""

from __future__ import annotations

import json
from pathlib import Path

from awm.demo.minibench.build import build_repo
from awm.demo.minibench.derive import REPO, test_command

__all__ = ["REPO", "build_repo", "instances_path", "load_instances", "test_command"]


def instances_path() -> Path:
    return Path(__file__).parent / "instances.jsonl"


def load_instances() -> list[dict]:
    return [json.loads(line) for line in instances_path().read_text(encoding="utf-8").splitlines() if line.strip()]
