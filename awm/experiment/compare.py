"""Paired comparison of runs: arms (each one run, or several replicates of the same setup with different seeds) given
the same SWE-bench instances, compared instance by instance with the first arm, the reference.

The pairing unit is (replicate index, instance): replicate i of every arm is paired with replicate i of the
reference, on the instances every run finished and graded. Runs whose dataset rows differ on those instances are
refused (their results are not about the same issues); differing code, package or prompt versions, and runs with no
provenance recorded, are warned about. SKIPPED issues (not graded) leave the pairing; ERROR counts as unresolved.

    arms = [load_arm("memory-on", [run_s0, run_s1]), load_arm("memory-off", [base_s0, base_s1])]
    comparison = compare(arms)        # UserError on refusal; comparison.warnings
    awm.experiment.report.write_report(comparison, "out")   # report.md, report.html, PNGs, comparison.json
    print(comparison.summary())
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from awm.errors import UserError
from awm.experiment import stats
from awm.experiment.figures import p_phrase, p_value, percent, points  # noqa: F401 - shared with the report
from awm.experiment.runs import Run, read_run
from awm.fmt import count
from awm.memory import adherence
from awm.records import Status

EXAMPLES = 5  # instance ids named in a message or warning before "..."
MIN_RESAMPLES = 100


@dataclass
class Arm:
    """One setup under comparison: its name and its runs (replicates, in seed order)."""

    name: str
    runs: list[Run]


def load_arm(name: str, runs: str | Path | Sequence[str | Path]) -> Arm:
    """An arm of a comparison: one or more runs (replicates) made the same way.

    Args:
        name: the arm's name in the figures (e.g. "memory=on").
        runs: its run folders or run names (as `awm-tui` lists them); one path is an arm of one run.

    Returns:
        The Arm, its runs read (journal, config.json, memory.json).

    Raises:
        UserError: no run given, a run not found, or a run's files damaged (the message names which).
    """
    paths = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not paths:
        raise UserError(f"compare: the arm {name!r} has no run. Give each arm at least one run folder.")
    return Arm(name=name, runs=[read_run(p) for p in paths])


@dataclass
class ArmResult:
    """An arm's resolved rate on the paired instances (all its replicates together)."""

    arm: str
    runs: list[str]
    resolved: int
    pairs: int  # replicates x paired instances
    errors: int  # attempts that broke (counted unresolved)
    rate: float
    ci: tuple[float, float]  # Wilson
    replicate_rates: list[float]


@dataclass
class Difference:
    """An arm against the reference on the same (replicate, instance) pairs."""

    arm: str
    reference: str
    difference: float  # resolved rate, arm minus reference
    ci: tuple[float, float]  # paired bootstrap over instances
    wins: int  # pairs the arm resolved and the reference did not
    losses: int  # pairs the reference resolved and the arm did not
    both_resolved: int
    neither: int
    p_value: float  # McNemar's exact test on wins vs losses


@dataclass
class Comparison:
    """Everything the report shows, computed once; `to_dict()` is comparison.json."""

    arms: list[Arm]
    instances: list[str]  # the paired instances, sorted
    statuses: dict[str, list[list[str]]]  # arm -> replicate -> status per instance (in `instances` order)
    results: list[ArmResult]
    differences: list[Difference]
    usage: list[dict]  # per arm: cost, tokens, steps, time and memory tokens per issue; induction cost
    curves: list[dict]  # per arm: per replicate cumulative/rolling rate, memory tokens, induction rounds by position
    workflows: list[dict]  # per memory entry injected: given, passed, helped, hurt against another arm
    warnings: list[str]
    settings: dict  # bootstrap, seed, rolling, confidence
    report: dict = field(default_factory=dict)  # what write_report wrote
    cost_effectiveness: list[dict] = field(default_factory=list)  # per arm: awm.experiment.costs
    leak_audit: list[dict] = field(default_factory=list)  # per run: awm.experiment.leaks
    continual: list[dict] = field(default_factory=list)  # per memory arm with replays (awm.experiment.continual)
    ablations: list[dict] = field(default_factory=list)  # per entry withheld (awm.experiment.ablation)
    # per arm: resolved on issues that followed a given entry vs not (`_adherence`)
    adherence: list[dict] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return self.arms[0].name

    @property
    def replicates(self) -> int:
        return len(self.arms[0].runs)

    def per_instance(self) -> list[dict]:
        """Each paired instance: every arm's statuses (one per replicate) and, for each arm but the reference,
        win / loss / tie against it (more, fewer or as many replicates resolved)."""
        rows = []
        for j, instance in enumerate(self.instances):
            statuses = {arm.name: [reps[j] for reps in self.statuses[arm.name]] for arm in self.arms}
            resolved = {name: sum(s == Status.PASS for s in values) for name, values in statuses.items()}
            verdicts = {}
            for arm in self.arms[1:]:
                ours, theirs = resolved[arm.name], resolved[self.reference]
                verdicts[arm.name] = "win" if ours > theirs else "loss" if ours < theirs else "tie"
            rows.append({"instance_id": instance, "statuses": statuses, "verdicts": verdicts})
        return rows

    def summary(self) -> str:
        """A few lines: each arm's rate and interval, each difference with the reference, the warnings, the report."""
        replicates = f"{self.replicates} runs each" if self.replicates > 1 else "one run each"
        lines = [f"compare: {len(self.arms)} arms ({replicates}), {len(self.instances)} instances paired; "
                 f"reference: {self.reference}"]
        width = max(len(a.arm) for a in self.results)
        differences = {d.arm: d for d in self.differences}
        for result in self.results:
            line = (f"  {result.arm.ljust(width)}  {percent(result.rate)} [{percent(result.ci[0])}, "
                    f"{percent(result.ci[1])}]  {result.resolved}/{result.pairs}")
            diff = differences.get(result.arm)
            if diff is not None:
                line += (f"  vs {self.reference}: {points(diff.difference)} [{points(diff.ci[0])}, "
                         f"{points(diff.ci[1])}], McNemar {p_phrase(diff.p_value)} ({diff.wins} won, "
                         f"{diff.losses} lost)")
            lines.append(line)
        lines += _continual_lines(self.continual) + _ablation_lines(self.ablations)
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines += [f"  - {w}" for w in self.warnings]
        if self.report:
            figures = len(self.report.get("png", []))
            lines.append(f"report: {self.report['html']} (also report.md, comparison.json and {figures} figures in "
                         f"{Path(self.report['html']).parent})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The figures and tables as JSON data (nan as null)."""
        return _jsonable({
            "reference": self.reference,
            "replicates": self.replicates,
            "settings": self.settings,
            "arms": [{"name": a.name, "runs": [_run_record(r) for r in a.runs]} for a in self.arms],
            "instances": self.instances,
            "results": [asdict(r) for r in self.results],
            "differences": [asdict(d) for d in self.differences],
            "per_instance": self.per_instance(),
            "usage": self.usage,
            "curves": self.curves,
            "workflows": self.workflows,
            "adherence": self.adherence,
            "warnings": self.warnings,
            "cost_effectiveness": self.cost_effectiveness,
            "leak_audit": self.leak_audit,
            "continual": self.continual,
            "ablations": self.ablations,
        })


def compare(arms: Sequence[Arm], bootstrap: int = 10_000, seed: int | None = 0,
            rolling: int | None = None) -> Comparison:
    """Pair the arms on their common graded instances and compute the comparison (see the module docstring), with
    95% intervals.

    Args:
        arms: the arms, the reference first (load_arm); every arm has as many runs (replicates).
        bootstrap: resamples for the bootstrap intervals (the difference, costs, continual figures).
        seed: the resampling's seed (None: a fresh one each call).
        rolling: the window of the rolling success rate (default: a tenth of the instances, at least 5).

    Returns:
        The Comparison; `summary()` is the command's text, `to_dict()` comparison.json, write_report() the report.

    Raises:
        UserError: fewer than two arms, a name given twice, arms of different replicate counts, too few resamples or
            a bad window, runs with no finished instance in common, or runs made from different dataset rows.
    """
    arms = list(arms)
    _check_arms(arms, bootstrap, rolling)
    runs = [run for arm in arms for run in arm.runs]
    warnings: list[str] = []
    finished = {id(run): run.by_instance() for run in runs}
    common = set.intersection(*(set(f) for f in finished.values()))
    if not common:
        counts = ", ".join(f"{run.label}: {len(finished[id(run)])}" for run in runs)
        raise UserError(f"compare: the runs have no finished instance in common (finished issues per run: {counts}), "
                        "so there is nothing to pair. Compare runs made on the same dataset, and let each finish at "
                        "least some of the same issues.")
    _check_rows(runs, common)
    warnings += _provenance_warnings(arms)
    repeated = sorted({run.label for run in runs if sum(r.path == run.path for r in runs) > 1})
    if repeated:
        warnings.append(f"{', '.join(repeated)} is given more than once: a run compared with itself agrees with "
                        "itself.")
    for run in runs:
        extra = len(finished[id(run)]) - len(common)
        if extra:
            warnings.append(f"{run.label}: {extra} finished issue(s) not finished by every run are left out.")
        if run.status != "completed":
            warnings.append(f"{run.label} is {run.status}, not completed: its {len(finished[id(run)])} finished "
                            "issue(s) so far are compared.")
    skipped = sorted(i for i in common if any(finished[id(r)][i].status == Status.SKIPPED for r in runs))
    instances = sorted(common - set(skipped))
    if skipped:
        warnings.append(f"{len(skipped)} instance(s) were not graded (SKIPPED) in at least one run and are left out "
                        f"of the pairing: {_examples(skipped)}.")
    if not instances:
        raise UserError("compare: every instance the runs share was left ungraded (SKIPPED) by at least one run, so "
                        "there is no resolved/unresolved pair to compare. Grade the runs first (`awm-tui evaluate` on "
                        "their predictions.jsonl), or compare runs made with an evaluation backend.")
    warnings += _order_warnings(arms, set(instances))

    statuses = {arm.name: [[str(finished[id(run)][i].status) for i in instances] for run in arm.runs] for arm in arms}
    resolved = {name: np.array([[s == Status.PASS for s in rep] for rep in reps], float)
                for name, reps in statuses.items()}
    window = rolling or stats.default_window(len(instances))
    results = [_arm_result(arm, statuses[arm.name]) for arm in arms]
    reference = resolved[arms[0].name]
    differences = [_difference(arm.name, arms[0].name, reference, resolved[arm.name], bootstrap, seed)
                   for arm in arms[1:]]
    paired = [(arm, [[finished[id(run)][i] for i in instances] for run in arm.runs]) for arm in arms]
    from awm.experiment import costs, leaks

    return Comparison(
        cost_effectiveness=costs.cost_effectiveness(paired, bootstrap, seed), leak_audit=leaks.compare_audits(arms),
        arms=arms, instances=instances, statuses=statuses, results=results, differences=differences,
        usage=[_usage(arm, experiences) for arm, experiences in paired],
        curves=[_curves(arm, set(instances), window) for arm in arms],
        workflows=_workflows(paired), warnings=warnings,
        settings={"bootstrap": bootstrap, "seed": seed, "rolling": window, "confidence": stats.CONFIDENCE},
        adherence=[_adherence(arm, experiences) for arm, experiences in paired],
    )


# ---- refusals and warnings

def _check_arms(arms: list[Arm], bootstrap: int, rolling: int | None) -> None:
    if len(arms) < 2:
        raise UserError(f"compare: {len(arms)} arm(s) given; a comparison needs at least two (the first is the "
                        "reference), e.g. `awm-tui compare RUN_A RUN_B`.")
    names = [arm.name for arm in arms]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"compare: the arm name(s) {', '.join(map(repr, repeated))} are given more than once (arms: "
                        f"{', '.join(names)}). Give each arm its own name (--names a,b,...).")
    counts = {arm.name: len(arm.runs) for arm in arms}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in counts.items())
        raise UserError(f"compare: every arm needs the same number of runs, since replicate i of each arm is paired "
                        f"with replicate i of the reference, but the arms have {detail}. Give each arm one run per "
                        "seed, the same seeds in every arm.")
    if bootstrap < MIN_RESAMPLES:
        raise UserError(f"compare: --bootstrap {bootstrap} is too few resamples for a 95% interval; give at least "
                        f"{MIN_RESAMPLES} (the default, 10000, takes well under a second).")
    if rolling is not None and rolling < 1:
        raise UserError(f"compare: --rolling {rolling} is not a window; give a number of issues, at least 1 (or leave "
                        "it out: a tenth of the instances, at least 5).")


def _check_rows(runs: list[Run], common: set[str]) -> None:
    """Refuse runs whose dataset rows differ on an instance they share: the same id is then not the same issue."""
    recorded = [run for run in runs if run.row_digests()]
    for i, first in enumerate(recorded):
        mine = first.row_digests()
        for other in recorded[i + 1:]:
            theirs = other.row_digests()
            differ = sorted(x for x in common if x in mine and x in theirs and mine[x] != theirs[x])
            if differ:
                raise UserError(
                    f"compare: the runs {first.path} and {other.path} were made from different dataset rows for "
                    f"{len(differ)} of the {len(common)} instances they share ({_examples(differ)}): the same "
                    "instance id is not the same issue in both (another dataset revision, split or local file), so "
                    "pairing them would compare different problems. Compare runs made from the same dataset rows "
                    "(config.json's provenance.dataset.row_digests must agree), or rerun one arm on the other's "
                    "dataset.")


def _provenance_warnings(arms: list[Arm]) -> list[str]:
    """Differences in what produced the runs that do not forbid pairing but may explain a difference: awm-tui,
    Python, package and prompt versions (against the first run that recorded them), uncommitted code, and runs
    with nothing recorded."""
    from awm.run.provenance import differences

    warnings = []
    runs = [run for arm in arms for run in arm.runs]
    recorded = [run for run in runs if run.provenance]
    for run in runs:
        if not run.provenance:
            warnings.append(f"{run.label} has no provenance in its config.json (made by an older awm-tui): its "
                            "dataset rows cannot be checked against the other runs', nor its versions and prompts.")
            continue
        if not run.row_digests():
            warnings.append(f"{run.label}'s provenance records no dataset row digests: its rows cannot be checked "
                            "against the other runs'.")
        if (run.provenance.get("awm_tui") or {}).get("dirty"):
            commit = ((run.provenance.get("awm_tui") or {}).get("commit") or "?")[:10]
            warnings.append(f"{run.label} was made from a checkout with uncommitted changes (awm-tui commit "
                            f"{commit}): the code that ran is not exactly that commit.")
    if recorded:
        base = recorded[0]
        for run in recorded[1:]:  # all have a provenance (`or {}`: for the type checker, which cannot know it)
            changes = differences(base.provenance or {}, run.provenance or {})
            if changes:
                warnings.append(f"{run.label} was made with other versions than {base.label}: {'; '.join(changes)}.")
    return warnings


def _order_warnings(arms: list[Arm], instances: set[str]) -> list[str]:
    """Runs that took the paired issues in another order than the reference's first run: their learning curves'
    positions are then not the same issues."""
    reference = [e.instance_id for e in arms[0].runs[0].experiences if e.instance_id in instances]
    others = [run for arm in arms for run in arm.runs][1:]
    reordered = [run.label for run in others
                 if [e.instance_id for e in run.experiences if e.instance_id in instances] != reference]
    if not reordered:
        return []
    return [f"{', '.join(reordered)} took the paired issues in another order than {arms[0].runs[0].label}: at a "
            "given position the learning curves show different issues (the paired statistics are unaffected)."]


def _examples(ids: list[str]) -> str:
    return ", ".join(ids[:EXAMPLES]) + (f", ... ({len(ids) - EXAMPLES} more)" if len(ids) > EXAMPLES else "")


# ---- the statistics

def _arm_result(arm: Arm, statuses: list[list[str]]) -> ArmResult:
    flat = [s for rep in statuses for s in rep]
    resolved = sum(s == Status.PASS for s in flat)
    return ArmResult(
        arm=arm.name, runs=[str(r.path) for r in arm.runs], resolved=resolved, pairs=len(flat),
        errors=sum(s == Status.ERROR for s in flat), rate=resolved / len(flat),
        ci=stats.wilson(resolved, len(flat)),
        replicate_rates=[sum(s == Status.PASS for s in rep) / len(rep) for rep in statuses],
    )


def _difference(arm: str, reference_name: str, reference: np.ndarray, resolved: np.ndarray, bootstrap: int,
                seed: int | None) -> Difference:
    wins = int(((resolved == 1) & (reference == 0)).sum())
    losses = int(((resolved == 0) & (reference == 1)).sum())
    return Difference(
        arm=arm, reference=reference_name,
        difference=float(stats.per_instance_differences(reference, resolved).mean()),
        ci=stats.paired_bootstrap(reference, resolved, bootstrap, seed),
        wins=wins, losses=losses, both_resolved=int(((resolved == 1) & (reference == 1)).sum()),
        neither=int(((resolved == 0) & (reference == 0)).sum()), p_value=stats.mcnemar_exact(wins, losses),
    )


def _usage(arm: Arm, experiences: list[list]) -> dict:
    """Per-issue cost, tokens, steps, time and memory tokens over the arm's paired issues (all replicates), and the
    induction cost of its runs (whole runs: induction learns from every issue, not only the paired ones)."""
    flat = [e for rep in experiences for e in rep]
    return {
        "arm": arm.name,
        "issues": len(flat),
        "cost": stats.summary([e.cost for e in flat]),
        "tokens": stats.summary([e.prompt_tokens + e.completion_tokens for e in flat]),
        "prompt_tokens": stats.summary([e.prompt_tokens for e in flat]),
        "completion_tokens": stats.summary([e.completion_tokens for e in flat]),
        "steps": stats.summary([e.steps for e in flat]),
        "duration_s": stats.summary([e.duration_s for e in flat]),
        "memory_tokens": stats.summary([e.memory_tokens for e in flat]),
        "memory_issues": sum(1 for e in flat if e.workflow_ids),
        "induction_cost": sum(run.induction_cost for run in arm.runs),
        "induction_cost_sources": sorted({run.induction_source for run in arm.runs}),
    }


def _curves(arm: Arm, instances: set[str], window: int) -> dict:
    """The arm's learning curves: for each replicate, over the paired issues in the run's order, the cumulative and
    rolling resolved rate, the memory tokens injected and where each induction round took effect; and their means
    over the replicates (position by position)."""
    replicates = []
    for run in arm.runs:
        ordered = [e for e in run.experiences if e.instance_id in instances]
        outcomes = [float(e.status == Status.PASS) for e in ordered]
        positions = stats.round_positions([e.memory_round for e in ordered], [r["round"] for r in run.rounds])
        replicates.append({
            "run": run.label,
            "instances": [e.instance_id for e in ordered],
            "cumulative": stats.cumulative_rate(outcomes).tolist(),
            "rolling": stats.rolling_rate(outcomes, window).tolist(),
            "memory_tokens": [e.memory_tokens for e in ordered],
            "rounds": [{**r, "position": positions[r["round"]]} for r in run.rounds],
        })
    return {
        "arm": arm.name,
        "replicates": replicates,
        "mean_cumulative": np.mean([r["cumulative"] for r in replicates], axis=0).tolist(),
        "mean_rolling": np.mean([r["rolling"] for r in replicates], axis=0).tolist(),
        "mean_memory_tokens": np.mean([r["memory_tokens"] for r in replicates], axis=0).tolist(),
    }


def _adherence(arm: Arm, experiences: list[list]) -> dict:
    """The arm's paired issues (every replicate) given memory entries, split by whether they followed one
    (awm.memory.adherence.split), with each group's resolved rate and its Wilson interval (nan with no issue)."""
    figure = {"arm": arm.name, "threshold": adherence.FOLLOWED,
              **adherence.split([e for rep in experiences for e in rep], adherence.FOLLOWED)}
    for key in ("followed", "not_followed"):
        group = figure[key]
        group["rate"] = group["resolved"] / group["issues"] if group["issues"] else math.nan
        group["ci"] = stats.wilson(group["resolved"], group["issues"])
    return figure


def _workflows(paired: list[tuple[Arm, list[list]]]) -> list[dict]:
    """For every memory entry an arm injected: how many issues were given it and how many of those it resolved, and
    against another arm on the same (replicate, instance) pairs, how many it helped (resolved where the other did
    not) and hurt (unresolved where the other resolved). The arms are measured against the reference; the reference's
    own entries against each other arm."""
    rows = []
    reference = paired[0]
    for index, (arm, experiences) in enumerate(paired):
        for other, other_experiences in (paired[1:] if index == 0 else [reference]):
            counts: dict[str, dict] = {}
            for replicate, other_replicate in zip(experiences, other_experiences):
                for mine, theirs in zip(replicate, other_replicate):
                    resolved, they_resolved = mine.status == Status.PASS, theirs.status == Status.PASS
                    for entry in dict.fromkeys(mine.workflow_ids):
                        row = counts.setdefault(entry, {"given": 0, "passed": 0, "helped": 0, "hurt": 0})
                        row["given"] += 1
                        row["passed"] += resolved
                        row["helped"] += resolved and not they_resolved
                        row["hurt"] += they_resolved and not resolved
            names = {k: v for run in reversed(arm.runs) for k, v in run.entries.items()}
            for entry, row in sorted(counts.items(), key=lambda item: (-item[1]["given"], item[0])):
                known = names.get(entry, {})
                rows.append({"arm": arm.name, "against": other.name, "id": entry, "name": known.get("name", ""),
                             "kind": known.get("kind", "pitfall" if entry.startswith("pf-") else "workflow"), **row,
                             "pass_rate": row["passed"] / row["given"]})
    return rows


def _run_record(run: Run) -> dict:
    provenance = run.provenance or {}
    return {"path": str(run.path), "label": run.label, "status": run.status, "model": run.model,
            "finished": len(run.experiences), "induction_cost": run.induction_cost,
            "created_at": run.config.get("created_at"), "provenance": bool(provenance),
            "awm_tui": provenance.get("awm_tui"), "packages": provenance.get("packages"),
            "prompts": provenance.get("prompts"),
            "dataset": {k: v for k, v in (provenance.get("dataset") or {}).items()
                        if k not in ("row_digests", "instance_ids")} or None}


def _jsonable(value):
    """JSON data: tuples as lists, nan and infinities as null, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _continual_lines(continual: list[dict]) -> list[str]:
    """The continual-learning figures (awm.experiment.continual) in the summary: a line per memory arm."""
    lines = []
    for r in continual:
        parts = []
        for key, fmt in (("forward_transfer", points), ("backward_transfer", points), ("forgetting", percent)):
            figure = r.get(key)
            parts.append(f"{key.replace('_', ' ')} {fmt(figure['value']) if figure else 'n/a'}")
        a = r.get("aulc")
        parts.append(f"AULC {a['value']:.3f}" if a else "AULC n/a")
        lines.append(f"  continual, {r['arm']}: " + ", ".join(parts))
    return lines


def _ablation_lines(ablations: list[dict]) -> list[str]:
    """The ablations (awm.experiment.ablation) in the summary: a line per entry withheld."""
    lines = []
    for r in ablations:
        effect = "n/a" if r["effect"] is None else (f"{points(r['effect'])} [{points(r['ci'][0])}, "
                                                    f"{points(r['ci'][1])}], McNemar p {p_value(r['p_value'])}")
        lines.append(f"  without {r['id']} ({r['run']}, {count(r['issues'], 'issue')}): "
                     f"effect of the entry {effect}")
    return lines
