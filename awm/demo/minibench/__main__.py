"""Regenerate instances.jsonl and final_head.txt from a fresh build: python -m awm.demo.minibench [--out-dir DIR]."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from awm.demo.minibench.build import FINAL_HEAD_FILE, build_history, head
from awm.demo.minibench.derive import derive_instances


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m awm.demo.minibench", description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=FINAL_HEAD_FILE.parent)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "tallyho"
        repo.mkdir()
        build_history(repo)
        instances = derive_instances(repo)
        final_head = head(repo)
        assert final_head is not None  # build_history has just made the repository and its commits
    args.out_dir.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(instance) + "\n" for instance in instances)
    (args.out_dir / "instances.jsonl").write_text(lines, encoding="utf-8")
    (args.out_dir / FINAL_HEAD_FILE.name).write_text(final_head + "\n", encoding="utf-8")
    print(f"{len(instances)} instances, final HEAD {final_head}, written to {args.out_dir}")


if __name__ == "__main__":
    main()
