"""The memory leak audit (awm.memory.audit) as compare and export report it: per run, how many hits, in how many
entries, and whether the run learned from the gold tests' verdicts (`induction.success`)."""

from __future__ import annotations

from pathlib import Path


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
    from awm.memory.audit import audit_run

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


def compare_audits(arms) -> list[dict]:
    """compare's leak audit: one row per run of every arm (local dataset files only: the hub is not contacted)."""
    rows = []
    for arm in arms:
        for run in arm.runs:
            summary = run_audit(run.path, run.config.get("spec") or {})
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
