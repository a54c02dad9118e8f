"""Continual-learning figures of a comparison, per memory arm: forward transfer, backward transfer, forgetting and the
area under the learning curve, each with a 95% paired bootstrap interval over instances. Backward transfer and
forgetting need each online run's replay (`awm-tui replay`, `awm-tui experiment ... --replay`): the same issues, in
the same order, with the run's final memory frozen.

Outcomes are 1 (resolved) or 0, per (replicate, instance) on the comparison's paired instances that the replays
also finished and graded; an instance's figure is the mean over its replicates, a figure the mean over instances:

    forward_transfer   mean(online − off): what memory learned so far gave each issue, against no memory
    backward_transfer  mean(replay − online): what the final memory gives each issue, against what it got online
    forgetting         mean(max(0, online − replay)): the issues solved online that the final memory no longer solves
    aulc               mean over k of the cumulative resolved rate after k issues (in the online run's order), in [0, 1]

(See README, "Continual-learning figures", for where these differ from SWE-Bench-CL's.) The intervals resample
instances with replacement, an instance's replicates and arms together (awm.experiment.stats.paired_bootstrap); for
the AULC, which weighs each issue by its position (issue j of n counts (1/n)·Σ_{k≥j} 1/k), the resampled instances
keep their weights and the weighted mean is taken (`aulc_bootstrap`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from awm.experiment import stats
from awm.experiment.figures import percent, points
from awm.records import Status

if TYPE_CHECKING:
    from awm.experiment.compare import Arm, Comparison
    from awm.experiment.runs import Run

KEYS = ("forward_transfer", "backward_transfer", "forgetting", "aulc")


def memory_setting(run: Run) -> str:
    """The run's `memory.enabled` as recorded in its config.json (on when not recorded: the default)."""
    return str(((run.config.get("spec") or {}).get("memory") or {}).get("enabled") or "on")


def replay_source(run: Run) -> str | None:
    """The folder of the run `run` replays (config.json's `replay_of`), resolved; None for a run that is no replay."""
    source = (run.config.get("replay_of") or {}).get("run_dir")
    return str(Path(source).resolve()) if source else None


def aulc(outcomes: Sequence[float]) -> float:
    """The area under the cumulative resolved-rate curve over issue positions 1..n, normalised to [0, 1]: the mean of
    the rate after 1, 2, ..., n issues (each position one n-th of the width). nan with no issue."""
    curve = stats.cumulative_rate(outcomes)
    return float(curve.mean()) if curve.size else math.nan


def position_weights(n: int) -> np.ndarray:
    """What each of n issues weighs in the AULC, by position: issue j counts in the cumulative rates of positions
    j..n, each 1/k of it, so its weight is (1/n)·Σ_{k=j..n} 1/k; the weights sum to 1 and AULC = Σ weight·outcome."""
    inverse = 1.0 / np.arange(1, n + 1)
    return np.cumsum(inverse[::-1])[::-1] / n


def aulc_bootstrap(groups: list[tuple[np.ndarray, np.ndarray]], resamples: int, seed: int | None) -> np.ndarray:
    """Bootstrap replicates of the AULC of several arms at once, the same instances drawn for each (paired): each
    group is (outcomes, weights), arrays of shape (replicates, instances) in one instance order, weights by each
    replicate's own order. Returns shape (groups, resamples): the replicates' mean weighted rate per resample."""
    n = groups[0][0].shape[1]
    out = np.empty((len(groups), resamples))
    for where, idx in stats.draws(n, resamples, seed, cells=n * max(g[0].shape[0] for g in groups)):
        for g, (outcomes, weights) in enumerate(groups):
            w = weights[:, idx]  # (replicates, draws, n)
            out[g, where] = ((w * outcomes[:, idx]).sum(axis=2) / w.sum(axis=2)).mean(axis=0)
    return out


def _interval(samples: np.ndarray) -> tuple[float, float]:
    alpha = 1 - stats.CONFIDENCE
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _figure(value: float, ci: tuple[float, float]) -> dict:
    return {"value": float(value), "ci": [float(ci[0]), float(ci[1])]}


def attach(comparison: Comparison, replays: Sequence[Run], bootstrap: int | None = None,
           seed: int | None = None) -> list[dict]:
    """Compute forward and backward transfer, forgetting and AULC for every memory arm of `comparison` whose runs
    all have a replay among `replays`.

    Args:
        comparison: what compare() computed (its memory-off arm, if any, is the reference for forward transfer).
        replays: replay runs (read_run), matched to their sources by config.json's `replay_of`.
        bootstrap: resamples for the intervals (default: the comparison's).
        seed: their seed (default: the comparison's).

    Returns:
        The figures, one dict per arm, also kept as `comparison.continual` (comparison.json: `continual`); what
        could not be computed is added to the comparison's warnings.
    """
    bootstrap = bootstrap or comparison.settings.get("bootstrap", 10_000)
    seed = comparison.settings.get("seed", 0) if seed is None else seed
    by_source = {}
    for run in replays:
        source = replay_source(run)
        if ((run.config.get("spec") or {}).get("memory") or {}).get("withhold"):
            comparison.warnings.append(f"{run.label} withholds memory entries (an ablation), so it is no replay of "
                                       "the final memory: left out of the continual-learning figures.")
            continue
        if source is None:
            comparison.warnings.append(f"{run.label} is not a replay (its config.json names no `replay_of`): left out "
                                       "of the continual-learning figures.")
            continue
        by_source[source] = run
    compared = {str(Path(r.path).resolve()) for arm in comparison.arms for r in arm.runs}
    for source, run in by_source.items():
        if source not in compared:
            comparison.warnings.append(f"{run.label} replays {source}, which is not one of the compared runs: left "
                                       "out of the continual-learning figures.")
    off = next((arm for arm in comparison.arms if all(memory_setting(r) == "off" for r in arm.runs)), None)
    results = []
    for arm in comparison.arms:
        if not all(memory_setting(r) == "on" for r in arm.runs):
            continue
        mine = [by_source.get(str(Path(r.path).resolve())) for r in arm.runs]
        if not any(mine):
            continue
        if not all(mine):
            missing = ", ".join(r.label for r, p in zip(arm.runs, mine) if p is None)
            comparison.warnings.append(f"{arm.name}: no replay of {missing}, so its continual-learning figures are "
                                       "not computed (every replicate needs its replay).")
            continue
        results.append(arm_figures(comparison, arm, [p for p in mine if p is not None], off, bootstrap, seed))
    comparison.continual = results
    return results


def arm_figures(comparison: Comparison, arm: Arm, replays: list[Run], off: Arm | None, bootstrap: int,
                seed: int | None) -> dict:
    """The four figures of one memory arm (see the module docstring), on the comparison's paired instances that
    every replay finished and graded."""
    finished = [r.by_instance() for r in replays]
    instances = [i for i in comparison.instances
                 if all(i in f and f[i].status != Status.SKIPPED for f in finished)]
    left_out = len(comparison.instances) - len(instances)
    if left_out:
        comparison.warnings.append(f"{arm.name}: {left_out} paired instance(s) are not finished and graded by its "
                                   "replay(s), and are left out of its continual-learning figures.")
    record: dict[str, Any] = {"arm": arm.name, "replays": [str(r.path) for r in replays],
                              "reference": off.name if off else None, "instances": len(instances)}
    if not instances:
        return {**record, **dict.fromkeys(KEYS)}
    online = _outcomes(arm.runs, instances)
    replayed = _outcomes(replays, instances)
    record["forward_transfer"] = None
    if off is not None and len(off.runs) == len(arm.runs):
        reference = _outcomes(off.runs, instances)
        record["forward_transfer"] = _figure(stats.per_instance_differences(reference, online).mean(),
                                             stats.paired_bootstrap(reference, online, bootstrap, seed))
    record["backward_transfer"] = _figure(stats.per_instance_differences(online, replayed).mean(),
                                          stats.paired_bootstrap(online, replayed, bootstrap, seed))
    forgotten = np.maximum(0.0, online - replayed)
    zeros = np.zeros_like(forgotten)
    record["forgetting"] = _figure(stats.per_instance_differences(zeros, forgotten).mean(),
                                   stats.paired_bootstrap(zeros, forgotten, bootstrap, seed))
    groups = [(online, _weights(arm.runs, instances))]
    if off is not None and len(off.runs) == len(arm.runs):
        groups.append((_outcomes(off.runs, instances), _weights(off.runs, instances)))
    values = [float(np.mean([(o * w).sum() for o, w in zip(*g)])) for g in groups]
    samples = aulc_bootstrap(groups, bootstrap, seed)
    record["aulc"] = {**_figure(values[0], _interval(samples[0])), "reference": None, "difference": None,
                      "difference_ci": None}
    if len(groups) > 1:
        record["aulc"].update(reference=values[1], difference=values[0] - values[1],
                              difference_ci=list(_interval(samples[0] - samples[1])))
    return record


def _outcomes(runs: list[Run], instances: list[str]) -> np.ndarray:
    """(replicates, instances): 1 where the run resolved the instance."""
    return np.array([[float(r.by_instance()[i].status == Status.PASS) for i in instances] for r in runs])


def _weights(runs: list[Run], instances: list[str]) -> np.ndarray:
    """(replicates, instances): each instance's AULC weight by its position among `instances` in that run's order."""
    wanted = set(instances)
    rows = []
    for run in runs:
        order = [e.instance_id for e in run.experiences if e.instance_id in wanted]
        weight = dict(zip(order, position_weights(len(order))))
        rows.append([weight[i] for i in instances])
    return np.array(rows)


# ---- the report

DEFINITIONS = [
    "`forward_transfer`: the mean over issues of (resolved online with memory − resolved by the memory-off arm): what "
    "the memory learned so far, from the issues before, gives each issue. Positive: memory helps as it is learned.",
    "`backward_transfer`: the mean of (resolved in the replay − resolved online), the replay being the same issues "
    "in the same order with the run's final memory frozen (an entry that learned from an issue given to it as it was "
    "before it did: no issue sees its own fix): what the later memory gives the earlier issues. Positive: "
    "later learning would have helped the earlier issues; negative: the final memory serves them worse.",
    "`forgetting`: the mean of max(0, resolved online − resolved in the replay): the share of issues solved online "
    "that the final memory no longer solves (the negative half of backward transfer alone; 0 is best).",
    "`aulc`: the area under the cumulative resolved-rate curve over issue position (the rate after 1, 2, ..., n "
    "issues, averaged), in [0, 1]: how well the run did all along, early issues weighing more. Shown with the "
    "memory-off arm's and their paired difference.",
]


def blocks(c: Comparison) -> list[tuple]:
    """The report's section (awm.experiment.report's blocks); none without figures."""
    if not c.continual:
        return []
    rows = []
    for r in c.continual:
        cells = [r["arm"], str(r["instances"])]
        for key in ("forward_transfer", "backward_transfer", "forgetting"):
            cells.append(_cell(r.get(key), points if key != "forgetting" else percent))
        a = r.get("aulc")
        cells.append(_cell(a, lambda v: f"{v:.3f}"))
        cells.append("n/a" if not a or a.get("reference") is None else
                     f"{a['reference']:.3f}; {a['difference']:+.3f} [{a['difference_ci'][0]:+.3f}, "
                     f"{a['difference_ci'][1]:+.3f}]")
        rows.append(cells)
    reference = next((r["reference"] for r in c.continual if r.get("reference")), None)
    return [
        ("h2", "Continual learning"),
        ("p", "Each memory arm against its replay (the same issues again, in the same order, with the run's final "
              f"memory frozen) and against the memory-off arm ({f'`{reference}`' if reference else 'none given'}), "
              "on the paired instances its replays also finished; 95% paired bootstrap intervals over instances "
              "in brackets. Definitions:"),
        ("ul", list(DEFINITIONS)),
        ("table", ["arm", "issues", "forward transfer", "backward transfer", "forgetting", "AULC",
                   "AULC of the off arm; difference"], rows, "lrrrrrl"),
    ]


def _cell(figure: dict | None, fmt) -> str:
    if not figure or figure.get("value") is None:
        return "n/a"
    return f"{fmt(figure['value'])} [{fmt(figure['ci'][0])}, {fmt(figure['ci'][1])}]"
