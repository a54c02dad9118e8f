"""Loading SWE-bench-format issues through `datasets`: a hub name or a local json/jsonl/parquet file."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from awm import demo
from awm.errors import UserError
from awm.records import Issue
from awm.spec import DatasetSpec

_LOCAL_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def resolve_name(name: str) -> str:
    return str(demo.dataset_path()) if demo.is_builtin(name) else name


def load_rows(name: str, split: str) -> list[dict]:
    """The rows of a dataset: local JSON is read as written (no `datasets` import, seconds); parquet and hub
    names go through `datasets`."""
    source = resolve_name(name)
    fmt = _LOCAL_FORMATS.get(Path(source).suffix.lower())
    if fmt:
        path = Path(source).expanduser()
        if not path.is_file():
            raise UserError(
                f"the dataset file {path} does not exist. "
                "Give the path of a SWE-bench-format .json, .jsonl or .parquet file, or a Hugging Face hub name "
                "such as princeton-nlp/SWE-bench_Lite.", field="dataset.name"
            )
        try:
            if fmt == "json":
                return _read_json(path)
            ds = _load_dataset()(fmt, data_files=str(path), split="train")
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any parse failure of the user's file is the user's to fix
            raise UserError(
                f"{path} could not be read as {fmt} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). Check the file is "
                "SWE-bench-format records (one JSON object per line for .jsonl).", field="dataset.name"
            ) from None
        return list(ds)
    _honour_offline()
    try:
        ds = _load_dataset()(source, split=split)
    except Exception as exc:  # noqa: BLE001
        raise UserError(
            f"could not load `{source}` split `{split}` from the "
            f"Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). If this "
            "machine cannot reach the hub, download the dataset elsewhere (datasets' `to_json`/`to_parquet`) and "
            "set `dataset.name` to the local .jsonl or .parquet path.", field="dataset.name"
        ) from None
    return list(ds)


def _load_dataset():
    import os

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    from datasets import load_dataset

    return load_dataset


def _read_json(path: Path) -> list[dict]:
    """JSON and JSON lines are parsed as written: `datasets`' JSON loader infers timestamps from ISO strings
    (created_at comes back as a naive datetime), which a SWE-bench record must not go through. A broken record is
    reported by its line in the file."""
    import json

    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        records = json.loads(text)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _bad(path, None, "the list must hold one JSON object per record")
        return records
    if path.suffix.lower() == ".json" and text.lstrip().startswith("{"):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict) and "instance_id" not in whole:
            keys = ", ".join(f"`{k}`" for k in list(whole)[:4])
            raise _bad(path, None, f"the file holds one JSON object (keys {keys}{' …' if len(whole) > 4 else ''}), not "
                                   "records: a dataset file is a JSON list of records, or one record per line")
        if isinstance(whole, dict):
            return [whole]
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(path, number, f"the line is not a JSON record ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise _bad(path, number, "the line is not a JSON object (every line must be one record)")
        records.append(record)
    return records


def _bad(path: Path, line: int | None, problem: str) -> UserError:
    at = f"{path}, line {line}" if line else str(path)
    return UserError(f"{at} could not be read: {problem}. Fix the file: it must be SWE-bench-format records (one JSON "
                     "object per line for .jsonl).", field="dataset.name")


def _honour_offline() -> None:
    """HF_HUB_OFFLINE is read when `datasets` is imported; honour it when it was set later in this process."""
    import os

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        import datasets.config
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True


def select(rows: list[dict], spec: DatasetSpec) -> list[Issue]:
    """Filter by repo and instance ids, order stably (by instance id, as the hub order is not promised), apply the
    limit, then put the issues in `dataset.order`."""
    issues = []
    for number, row in enumerate(rows, 1):
        try:
            issues.append(Issue.from_row(row))
        except ValueError as exc:
            iid = row.get("instance_id") if isinstance(row, dict) else None
            raise UserError(
                f"record {number}{f' ({iid})' if iid else ''} of {spec.name} {exc}. Fix the record in the file, or "
                "give a dataset in SWE-bench format.", field="dataset.name"
            ) from None
    if spec.repo_filter:
        wanted = set(spec.repo_filter)
        issues = [i for i in issues if i.repo in wanted]
    _refuse_duplicates([i.instance_id for i in issues], f"{spec.name} (split {spec.split})", "dataset.name",
                       "Remove the extra records from the dataset (or use a filter that leaves them out)")
    _refuse_duplicates(list(spec.instance_ids), "`dataset.instance_ids`", "dataset.instance_ids",
                       "Give each id once")
    if spec.instance_ids:
        by_id = {i.instance_id: i for i in issues}
        missing = [x for x in spec.instance_ids if x not in by_id]
        if missing:
            raise UserError(
                f"{', '.join(missing[:5])}"
                f"{' …' if len(missing) > 5 else ''} not found in {spec.name} (split {spec.split}"
                f"{', repos ' + ', '.join(spec.repo_filter) if spec.repo_filter else ''}). "
                "Check the ids or the filter.",
                field="dataset.instance_ids",
            )
        issues = [by_id[x] for x in spec.instance_ids]
    else:
        issues.sort(key=_natural_key)
    if spec.limit:
        issues = issues[: spec.limit]
    return arrange(issues, spec)


def arrange(issues: list[Issue], spec: DatasetSpec) -> list[Issue]:
    """The issues in `dataset.order`: as selected (id), by `created_at` (chronological: ties by id), or shuffled
    with `dataset.seed` (0 when not given), the same order for the same seed on every machine."""
    if spec.order == "chronological":
        when = {issue.instance_id: _created(issue) for issue in issues}
        return sorted(issues, key=lambda i: (when[i.instance_id], _natural_key(i)))
    if spec.order == "shuffle":
        import random

        shuffled = list(issues)
        random.Random(spec.seed or 0).shuffle(shuffled)
        return shuffled
    return issues


def _created(issue: Issue):
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(str(issue.created_at).strip().replace(" ", "T"))
    except ValueError:
        problem = f"has `created_at` {issue.created_at!r}, not a date" if issue.created_at else "has no `created_at`"
        raise UserError(
            f"{issue.instance_id} {problem}, so `dataset.order: chronological` cannot place it. Use `order: id` or "
            "`order: shuffle`, or give the records ISO dates (e.g. 2019-02-13T16:41:55Z).", field="dataset.order"
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _refuse_duplicates(ids: list[str], where: str, field: str, fix: str) -> None:
    """An instance listed twice would be run twice and written twice to predictions.jsonl: refused, not guessed."""
    seen: set[str] = set()
    repeats: list[str] = []  # in the order of their second listing
    for x in ids:
        if x in seen:
            repeats.append(x)
        seen.add(x)
    twice = list(dict.fromkeys(repeats))
    if twice:
        raise UserError(
            f"{', '.join(twice[:5])}{' …' if len(twice) > 5 else ''} "
            f"{'is' if len(twice) == 1 else 'are'} listed more than once in {where}: {len(twice)} duplicate "
            f"id{'' if len(twice) == 1 else 's'}. Each instance must appear once, or it is run and graded twice. "
            f"{fix}.", field=field
        )


def load_issues(spec: DatasetSpec) -> list[Issue]:
    return select(load_rows(spec.name, spec.split), spec)


def _natural_key(issue: Issue) -> tuple:
    head, _, number = issue.instance_id.rpartition("-")
    return (head, int(number)) if number.isdigit() else (issue.instance_id, 0)
