"""Cost-effectiveness of the arms of a comparison: what a resolved issue cost each arm, and how many issues a dollar
resolved, with intervals, and what memory's own model calls cost apart from the agent's.

An issue's cost is what was spent on it: the agent's model calls (Experience.cost), the judges' calls on it (the
verdict's, the adherence score's) and retrieval's embedding calls for it (recorded with the issue), and an equal
share of what the run spent on no one issue: its induction rounds (failed attempts included), their LLM merges, and
the attempts it discarded and redid (discarded.jsonl; the agent's spend). Tokens are counted the same way, so a
model with no price (its calls cost 0, as the scripted demo's embeddings do) still shows what it used.

Over an arm's paired (replicate, instance) pairs, with C the summed cost and R the resolved count:
  cost_per_resolved = C / R (None when nothing was resolved), resolved_per_dollar = R / C (None when nothing was
  spent), tokens_per_resolved = tokens / R.
Their 95% intervals come from the percentile bootstrap over instances (an instance's replicates resampled
together), as awm.experiment.stats.paired_bootstrap does for the difference in resolved rate: the issues are
resampled with replacement, C and R recomputed, and the middle 95% of the ratios kept. A resample that resolved
nothing has an unbounded cost per resolved issue: an interval whose upper end is None is unbounded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from awm.experiment import stats
from awm.records import Experience, Status

MEMORY_KINDS = ("induction", "merge", "judge", "embedding")


def _memory_file(path: Path) -> dict:
    from awm import atomic, runfiles

    try:
        data = atomic.read_json(path / runfiles.MEMORY, {})
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _discarded(path: Path) -> tuple[float, int]:
    from awm.run.store import RunStore

    try:
        records = RunStore(path).discarded()
    except (OSError, ValueError):
        return 0.0, 0
    return (sum(float(r.get("cost", 0) or 0) for r in records),
            sum(int(r.get("prompt_tokens", 0) or 0) + int(r.get("completion_tokens", 0) or 0) for r in records))


def _calls(record: dict) -> tuple[float, int]:
    return (float(record.get("cost", 0) or 0),
            int(record.get("prompt_tokens", 0) or 0) + int(record.get("completion_tokens", 0) or 0))


def run_costs(run) -> dict:
    """A run's (awm.experiment.runs.Run) spend on no one issue, over the whole run: {"induction", "merge",
    "discarded": (cost, tokens)}, and `finished`, the issues it is shared among."""
    memory = _memory_file(run.path)
    calls = list(memory.get("rounds") or []) + list(memory.get("failed_rounds") or [])
    merge = (sum(float(r.get("merge_cost", 0) or 0) for r in calls),
             sum(int(r.get("merge_prompt_tokens", 0) or 0) + int(r.get("merge_completion_tokens", 0) or 0)
                 for r in calls))
    spent = [_calls(r) for r in calls]
    induction = (sum(c for c, _ in spent) - merge[0], sum(t for _, t in spent) - merge[1])
    return {"induction": induction, "merge": merge, "discarded": _discarded(run.path),
            "finished": max(1, len(run.experiences))}


def issue_costs(e: Experience, shared: dict) -> dict[str, tuple[float, int]]:
    """One issue's spend by kind, (cost, tokens): agent (its calls and its share of the discarded attempts), and
    memory's: induction and merge (shares), judge (the verdict's call and the adherence judge's, its own),
    embedding (its own)."""
    n = shared["finished"]
    verdict, adherence = _calls(e.judge or {}), _calls(e.adherence_judge or {})  # memory.adherence: judge's call too
    judge = (verdict[0] + adherence[0], verdict[1] + adherence[1])
    embedding = (float((e.embedding or {}).get("cost", 0) or 0), int((e.embedding or {}).get("prompt_tokens", 0) or 0))
    return {
        "agent": (e.cost + shared["discarded"][0] / n,
                  e.prompt_tokens + e.completion_tokens + shared["discarded"][1] / n),
        "induction": (shared["induction"][0] / n, shared["induction"][1] / n),
        "merge": (shared["merge"][0] / n, shared["merge"][1] / n),
        "judge": judge,
        "embedding": embedding,
    }


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, resamples: int = 10_000, seed: int | None = 0,
                   confidence: float = stats.CONFIDENCE) -> tuple[float, float]:
    """The percentile bootstrap interval of sum(numerator) / sum(denominator), instances resampled with replacement
    (one value per instance: its replicates summed). A resample whose denominator is 0 gives inf when its numerator
    is not (0/0 is left out); (nan, nan) with no instances or no finite ratio at all."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    n = numerator.size
    if n == 0:
        return math.nan, math.nan
    ratios = np.empty(resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        for where, picks in stats.draws(n, resamples, seed):
            ratios[where] = numerator[picks].sum(axis=1) / denominator[picks].sum(axis=1)
    ratios = ratios[~np.isnan(ratios)]
    if ratios.size == 0 or not np.isfinite(ratios).any():
        return math.nan, math.nan
    alpha = 1 - confidence
    big = np.finfo(float).max  # inf as a number the quantile can interpolate next to (inf - inf is nan)
    low, high = (float(q) if q < big / 2 else math.inf
                 for q in np.quantile(np.minimum(ratios, big), [alpha / 2, 1 - alpha / 2]))
    return low, high


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def arm_costs(arm, experiences: list[list[Experience]], resamples: int = 10_000, seed: int | None = 0) -> dict:
    """The arm's cost-effectiveness over its paired issues (`experiences`: per replicate, the paired issues'
    records in one instance order), see the module docstring."""
    shared = [run_costs(run) for run in arm.runs]
    kinds = ("agent", *MEMORY_KINDS)
    cost = {k: np.zeros((len(experiences), len(experiences[0]) if experiences else 0)) for k in kinds}
    tokens = {k: np.zeros_like(cost[k]) for k in kinds}
    resolved = np.zeros_like(cost["agent"])
    for row, (replicate, share) in enumerate(zip(experiences, shared)):
        for i, e in enumerate(replicate):
            for kind, (kind_cost, kind_tokens) in issue_costs(e, share).items():
                cost[kind][row, i], tokens[kind][row, i] = kind_cost, kind_tokens
            resolved[row, i] = e.status == Status.PASS
    total_cost = sum(cost.values(), np.zeros_like(resolved))  # (an array to start from, as the sum is one)
    total_tokens = sum(tokens.values(), np.zeros_like(resolved))
    per_instance = {"cost": total_cost.sum(axis=0), "tokens": total_tokens.sum(axis=0),
                    "resolved": resolved.sum(axis=0)}
    c, t, r = float(total_cost.sum()), float(total_tokens.sum()), float(resolved.sum())
    memory_cost = {k: float(cost[k].sum()) for k in MEMORY_KINDS}
    memory_tokens = {k: int(round(tokens[k].sum())) for k in MEMORY_KINDS}
    memory_cost["total"], memory_tokens["total"] = sum(memory_cost.values()), sum(memory_tokens.values())
    notes = []
    for run in arm.runs:
        memory = ((run.config.get("spec") or {}).get("memory") or {})
        ranked = any(e.memory_round or e.workflow_ids for e in run.experiences)  # retrieval had entries to rank
        if (memory.get("enabled", "on") == "on" and memory.get("retrieval") == "embedding" and ranked
                and not any(e.embedding for e in run.experiences)):
            notes.append(f"{run.label} ranked memory by embeddings but recorded no embedding usage (made before "
                         "awm-tui counted it): its memory cost leaves those calls out.")
    return {
        "arm": arm.name,
        "issues": int(resolved.size),
        "resolved": int(r),
        "cost": c,
        "tokens": int(round(t)),
        "agent_cost": float(cost["agent"].sum()),
        "agent_tokens": int(round(tokens["agent"].sum())),
        "memory_cost": memory_cost,
        "memory_tokens": memory_tokens,
        "memory_share": _ratio(memory_cost["total"], c),
        "cost_per_resolved": _ratio(c, r),
        "cost_per_resolved_ci": ratio_interval(per_instance["cost"], per_instance["resolved"], resamples, seed)
        if r and c else (math.nan, math.nan),
        "resolved_per_dollar": _ratio(r, c),
        "resolved_per_dollar_ci": ratio_interval(per_instance["resolved"], per_instance["cost"], resamples, seed)
        if c else (math.nan, math.nan),
        "tokens_per_resolved": _ratio(t, r),
        "tokens_per_resolved_ci": ratio_interval(per_instance["tokens"], per_instance["resolved"], resamples, seed)
        if r else (math.nan, math.nan),
        "notes": notes,
    }


def cost_effectiveness(paired: list[tuple], resamples: int = 10_000, seed: int | None = 0) -> list[dict]:
    """Each arm's figures: `paired` is compare's [(arm, per replicate the paired experiences)]."""
    return [arm_costs(arm, experiences, resamples, seed) for arm, experiences in paired]


# ---- the report's section

def report_blocks(c, _money, _count) -> list[tuple]:
    """The report's "Cost-effectiveness" section (blocks as awm.experiment.report renders them), money and counts
    written with the report's own formatters."""
    rows = c.cost_effectiveness
    if not rows:
        return []

    def money(value):
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else _money(value)

    def interval(ci, show):
        low, high = ci
        if low is None or (isinstance(low, float) and math.isnan(low)):
            return "-"
        return f"{show(low)} – {'unbounded' if high is None or math.isinf(high) else show(high)}"

    def number(value):
        return "-" if value is None else f"{value:.2f}"

    table = [[r["arm"], f"{r['resolved']}/{r['issues']}", _money(r["cost"]), money(r["cost_per_resolved"]),
              interval(r["cost_per_resolved_ci"], _money), number(r["resolved_per_dollar"]),
              interval(r["resolved_per_dollar_ci"], lambda v: f"{v:.2f}"),
              "-" if r["tokens_per_resolved"] is None else _count(r["tokens_per_resolved"]),
              interval(r["tokens_per_resolved_ci"], _count)] for r in rows]
    memory = [[r["arm"], _money(r["agent_cost"]), *(_money(r["memory_cost"][k]) for k in MEMORY_KINDS),
               _money(r["memory_cost"]["total"]), "-" if r["memory_share"] is None else f"{r['memory_share']:.0%}",
               _count(r["memory_tokens"]["total"])] for r in rows]
    notes = [n for r in rows for n in r["notes"]]
    return [
        ("h2", "Cost-effectiveness"),
        ("p", "What a resolved issue cost each arm, and how many issues a dollar resolved, over the paired issues. "
              "An issue's cost is the agent's model calls on it, the judges' calls on it (the verdict's, the adherence "
              "score's) and retrieval's embedding "
              "calls for it, plus an equal share of what its run spent on no one issue (induction rounds, their "
              "merges, attempts discarded and redone). The 95% intervals are percentile bootstrap intervals over "
              f"the issues ({c.settings['bootstrap']} resamples, each issue's replicates together); an upper end "
              "that is unbounded means some resamples resolved nothing. Tokens per resolved issue tell the same "
              "story where a model has no price (its calls cost 0: the scripted demo's embeddings, say)."),
        ("table", ["arm", "resolved", "cost", "cost per resolved", "95% CI", "resolved per $", "95% CI",
                   "tokens per resolved", "95% CI"], table, "lrrrrrrrr"),
        ("p", "Memory's own model calls apart from the agent's, over the same issues: induction (workflows and "
              "pitfalls, failed attempts included), LLM merges of re-induced entries, the judge (when "
              "`induction.success` uses one) and embeddings (when `memory.retrieval: embedding`); share: memory's "
              "part of the arm's cost; tokens: memory's calls' tokens."),
        ("table", ["arm", "agent", *MEMORY_KINDS, "memory total", "share", "memory tokens"], memory, "lrrrrrrrr"),
        *([("ul", notes)] if notes else []),
    ]
