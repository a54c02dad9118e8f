"""The memory leak audit (awm.memory.audit) of a run folder, and as `awm-tui memory RUN audit`, compare and export
report it: per run, how many hits, in how many entries, and whether the run learned from the gold tests' verdicts
(`induction.success`). Here, above the run, because it reads run folders; the audit itself is memory's."""

from __future__ import annotations

from pathlib import Path

from awm.memory.audit import Audit, audit, memory_versions, round_places


def success_source(spec: dict) -> str | None:
    """What memory learned from (`induction.success`: tests, judge, tests+judge); None when memory is off."""
    if ((spec.get("memory") or {}).get("enabled", "on")) != "on":
        return None
    return str((spec.get("induction") or {}).get("success", "tests"))


def uses_tests(spec: dict) -> bool:
    """Whether the gold tests' verdicts decided what entered memory (so later prompts depend on them)."""
    source = success_source(spec)
    return source is not None and "tests" in source.split("+")


def run_audit(path: Path, spec: dict, rows: list[dict] | None = None, *, hub: bool = False) -> dict:
    """One run's audit summary: {"hits", "entries_flagged", "success", "note"}; hits None (with the reason in
    `note`) when there were no rows to audit against. Never raises for missing rows; a memory that is off has no
    entries and no hits."""
    from awm.errors import UserError

    source = success_source(spec)
    if source is None:
        return {"hits": 0, "entries_flagged": [], "success": None, "note": "memory off: nothing to audit."}
    try:
        result = audit_run(path, rows, hub=hub)
    except UserError as exc:  # a damaged memory.json: said, not raised (the run's figures stand without it)
        return {"hits": None, "entries_flagged": [], "success": source, "note": exc.text.split(". ")[0] + "."}
    if result.note and not result.instances:
        return {"hits": None, "entries_flagged": [], "success": source, "note": result.note}
    return {"hits": len(result.hits), "entries_flagged": result.flagged, "success": source, "note": result.note}


def audit_run(run_dir, rows: list[dict] | None = None, *, hub: bool = True) -> Audit:
    """The audit of a run folder's memory against its dataset rows: `rows` when given, else the run's dataset as
    config.json records it (a hub dataset only with `hub`: it may need the network). Rows that cannot be had give an
    Audit with a one-line `note` instead of an error; a damaged memory.json is a UserError (WorkflowMemory.load)."""
    from awm import atomic
    from awm.memory.store import WorkflowMemory
    from awm.records import Issue
    from awm.run.store import RunStore

    run_dir = Path(run_dir)
    store = RunStore(run_dir)
    config = atomic.read_json(store.config_path, {}) or {}
    dataset = ((config.get("provenance") or {}).get("dataset") or {})
    order = list(dataset.get("instance_ids") or store.checkpoint().get("instance_ids") or [])
    if rows is None:
        rows, note = run_rows(config, hub=hub)
        if rows is None:
            return Audit(note=note)
    issues, bad = [], 0
    for row in rows:
        try:
            issues.append(Issue.from_row(row))
        except (ValueError, TypeError, AttributeError):
            bad += 1
    memory = WorkflowMemory.load(10**9, store.memory_path)
    memory.path = None  # read only
    experiences = store.finished(repair=False)
    result = audit(memory_versions(memory), issues, order, round_places(memory.rounds, order, experiences))
    missing = len(set(order) - {i.instance_id for i in issues})
    if missing:
        result.note = f"{missing} of the run's {len(order)} issues have no row in the dataset read: not audited."
    return result


def run_rows(config: dict, *, hub: bool = True, override: str | None = None) -> tuple[list[dict] | None, str]:
    """The dataset rows of a run (its config.json's spec.dataset), or `override` (a file or hub name); (None, the
    reason in one line) when they cannot be had: the file is gone, or a hub dataset was not to be fetched (`hub`
    False) or could not be."""
    from awm.dataset import load_rows, resolve_name
    from awm.errors import UserError

    dataset = (config.get("spec") or {}).get("dataset") or {}
    name = override or str(dataset.get("name") or "")
    split = str(dataset.get("split") or "test")
    if override:  # the user's own file or name: its mistakes are theirs to hear (UserError)
        return load_rows(override, split), ""
    if not name:
        return None, "the run's config.json names no dataset, so there are no rows to audit against."
    source = Path(resolve_name(name)).expanduser()
    local = source.suffix.lower() in (".json", ".jsonl", ".parquet")
    if local and not source.is_file():
        return None, f"the run's dataset file {source} is gone, so its rows cannot be audited against."
    if not local and not hub:
        return None, (f"the run's dataset {name} is on the Hugging Face hub, which is not contacted here: "
                      f"`awm-tui memory RUN audit` reads it.")
    try:
        return load_rows(name, split), ""
    except UserError as exc:
        return None, f"the run's dataset {name} could not be read ({exc.text.split('. ')[0]})."


def compare_audits(arms) -> list[dict]:
    """compare's leak audit: one row per run of every arm (local dataset files only: the hub is not contacted; a
    file shared by the runs is read once)."""
    rows, read = [], {}
    for arm in arms:
        for run in arm.runs:
            spec = run.config.get("spec") or {}
            source = success_source(spec)
            if source is None:
                summary = run_audit(run.path, spec)  # memory off: nothing to audit, nothing read
            else:
                dataset = spec.get("dataset") or {}
                key = (str(dataset.get("name") or ""), str(dataset.get("split") or "test"))
                if key not in read:
                    read[key] = run_rows(run.config, hub=False)
                found, note = read[key]
                summary = run_audit(run.path, spec, found) if found is not None else {
                    "hits": None, "entries_flagged": [], "success": source, "note": note}
            rows.append({"arm": arm.name, "run": run.label, **summary})
    return rows


def report_blocks(c) -> list[tuple]:
    """The report's "Memory leak audit" section."""
    rows = c.leak_audit
    if not rows:
        return []
    table = [[r["arm"], r["run"], r["success"] or "memory off",
              "-" if r["hits"] is None else str(r["hits"]), str(len(r["entries_flagged"])),
              r["note"] or ""] for r in rows]
    return [
        ("h2", "Memory leak audit"),
        ("p", "Hits of `awm-tui memory RUN audit` per run: memory entries whose text names a test of the run's issues "
              "(FAIL_TO_PASS, PASS_TO_PASS) or a file or function changed by the gold patch of an issue later than "
              "the round that made the entry. A hit is a reason to read the entry, not proof of a leak; the command "
              "lists them. `learned from`: `induction.success`; with `tests`, the gold tests' verdicts decided what "
              "entered memory, which a SWE-bench leaderboard submission may not use. Runs whose dataset is on the "
              "hub (or gone) are not audited here: the command reads it."),
        ("table", ["arm", "run", "learned from", "hits", "entries flagged", "note"], table, "lllrrl"),
    ]
