"""Grading an existing predictions file (ours or any tool's) against a dataset, with either backend, into the
harness's report shapes: a report.json per instance and the run report the harness prints at the end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from awm import atomic
from awm.errors import UserError
from awm.grading.base import Evaluator
from awm.records import Issue, Status


def read_predictions(path: Path) -> list[dict]:
    """A JSON list or JSON lines of {instance_id, model_name_or_path, model_patch}."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the predictions file ({exc.strerror}). Give the path of a "
                        "predictions .jsonl or .json file.") from None
    try:
        records = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}). A predictions file is a JSON list "
                        "or one JSON object per line.") from None
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or "instance_id" not in record or "model_patch" not in record:
            raise UserError(f"{path}, record {n}: a prediction needs `instance_id` and `model_patch` (and "
                            "`model_name_or_path`).")
    return records


def regrade(predictions: list[dict], issues: list[Issue], evaluator: Evaluator, out_dir: Path, run_id: str,
            on_result: Callable[[str, Status, str], None] | None = None) -> dict:
    by_id = {i.instance_id: i for i in issues}
    unknown = [p["instance_id"] for p in predictions if p["instance_id"] not in by_id]
    if unknown:
        raise UserError(f"{len(unknown)} prediction(s) are for instances not in the dataset "
                        f"({', '.join(unknown[:3])}{' …' if len(unknown) > 3 else ''}). Check the dataset, split and "
                        "repo filter.")
    model = predictions[0].get("model_name_or_path", "unknown") if predictions else "unknown"
    ids: dict[str, list[str]] = {k: [] for k in ("completed", "resolved", "unresolved", "empty_patch", "error")}
    for pred in predictions:
        iid = pred["instance_id"]
        patch = pred.get("model_patch") or ""
        result = evaluator.evaluate(by_id[iid], patch, out_dir / model.replace("/", "__") / iid)
        if not patch.strip():
            ids["empty_patch"].append(iid)
        elif result.status == Status.ERROR:
            ids["error"].append(iid)
        else:
            ids["completed"].append(iid)
            ids["resolved" if result.status == Status.PASS else "unresolved"].append(iid)
        if on_result:
            on_result(iid, result.status, result.reason)
    submitted = [p["instance_id"] for p in predictions]
    report = {
        "total_instances": len(issues),
        "submitted_instances": len(submitted),
        "completed_instances": len(ids["completed"]),
        "resolved_instances": len(ids["resolved"]),
        "unresolved_instances": len(ids["unresolved"]),
        "empty_patch_instances": len(ids["empty_patch"]),
        "error_instances": len(ids["error"]),
        "completed_ids": sorted(ids["completed"]),
        "incomplete_ids": sorted(set(by_id) - set(submitted)),
        "empty_patch_ids": sorted(ids["empty_patch"]),
        "submitted_ids": sorted(submitted),
        "resolved_ids": sorted(ids["resolved"]),
        "unresolved_ids": sorted(ids["unresolved"]),
        "error_ids": sorted(ids["error"]),
        "schema_version": 2,
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic.write_json(out_dir / f"{model.replace('/', '__')}.{run_id}.json", report)
    return report
