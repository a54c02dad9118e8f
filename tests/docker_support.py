"""What the Docker tests share: the engine (or the one-line reason it cannot be had), and the demo's patches."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from awm.demo.minibench import load_instances
from awm.demo.minibench.scripts import SCRIPTS


@functools.cache
def engine_reason() -> str:
    """'' when a Docker engine answers and the demo's base image exists or can be built; else why not."""
    from awm.images import engine

    why = engine.unreachable()
    return f"no Docker engine here ({why}); scripts/docker-up.sh starts one" if why else ""


def need_docker() -> None:
    reason = engine_reason()
    if reason:
        pytest.skip(reason)


def containers(**labels: str) -> list[str]:
    """Names of the containers (running or not) with these label values."""
    from awm.images import engine

    filters = [f"{k}={v}" for k, v in labels.items()]
    return [c.name for c in engine.client().containers.list(all=True, filters={"label": filters})]


def script_patch(mirror: Path, base_commit: str, steps: list[dict], dest: Path) -> str:
    """The patch the scripted model's file-editor steps make on a checkout at `base_commit` (its str_replace
    edits, applied as the file editor applies them: the one occurrence replaced)."""
    from awm.demo.minibench import derive

    work = derive.checkout(mirror, base_commit, dest)
    for step in steps:
        args = step["args"]
        if step["tool"] != "file_editor" or args.get("command") != "str_replace":
            continue
        path = work / args["path"].replace("{repo}/", "")
        text = path.read_text()
        assert text.count(args["old_str"]) == 1, (path, args["old_str"])
        path.write_text(text.replace(args["old_str"], args["new_str"]))
    diff = subprocess.run(["git", "diff", "--no-color"], cwd=work, capture_output=True, text=True, check=True)
    return diff.stdout


def demo_patches(mirror: Path, scratch: Path) -> list[tuple[str, str, str]]:
    """(instance id, label, patch) for every instance: the gold patch, a patch that applies and fixes nothing, and
    the scripted model's own naive fix where that is wrong (12 of 24: it leaves a FAIL_TO_PASS test failing)."""
    found = []
    for row in load_instances():
        iid = row["instance_id"]
        script = SCRIPTS[iid]
        found.append((iid, "gold", row["patch"]))
        first = _readme(mirror, row["base_commit"]).splitlines()[0]
        noop = ("diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n"
                f" {first}\n+<!-- untouched -->\n")
        found.append((iid, "noop", noop))
        if script["naive_wrong"]:
            found.append((iid, "naive", script_patch(mirror, row["base_commit"], script["naive"],
                                                     scratch / iid / "naive")))
    return found


def _readme(mirror: Path, commit: str) -> str:
    return subprocess.run(["git", "show", f"{commit}:README.md"], cwd=mirror, capture_output=True, text=True,
                          check=True).stdout
