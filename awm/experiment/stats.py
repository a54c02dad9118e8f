"""The statistics of a paired comparison, as functions on counts and arrays: the Wilson interval and McNemar's
exact test from statsmodels (imported on first use: scipy.stats takes seconds to load), the paired bootstrap over
instances and the learning curves with numpy."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from awm.run.stats import default_window  # noqa: F401 - the reports' rolling window, numpy-free for the app

CONFIDENCE = 0.95
_CHUNK = 2_000_000  # bootstrap cells (resamples x instances) drawn at once: bounded memory for big runs


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion (its coverage stays close to nominal for small samples and rates
    near 0 or 1, where the normal approximation's does not); (nan, nan) with no trials."""
    if trials <= 0:
        return math.nan, math.nan
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, trials, alpha=1 - confidence, method="wilson")
    rate = successes / trials  # inside the interval: statsmodels' bound at 0% or 100% can miss it by a rounding
    return max(0.0, min(float(low), rate)), min(1.0, max(float(high), rate))


def mcnemar_exact(wins: int, losses: int) -> float:
    """McNemar's exact two-sided p-value from the discordant pairs (`wins`: the arm resolved and the reference did
    not; `losses`: the reverse): under no difference each discordant pair goes either way with probability 1/2.
    1 with no discordant pair. The concordant cells do not enter the exact test."""
    if wins + losses == 0:
        return 1.0
    from statsmodels.stats.contingency_tables import mcnemar

    return min(1.0, float(mcnemar([[0, wins], [losses, 0]], exact=True).pvalue))


def per_instance_differences(reference: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """Each instance's difference in resolved rate (arm minus reference), averaged over the replicates: arrays of
    shape (replicates, instances) or (instances,), 1 = resolved."""
    reference, arm = np.atleast_2d(np.asarray(reference, float)), np.atleast_2d(np.asarray(arm, float))
    if reference.shape != arm.shape:
        raise ValueError(f"paired outcomes must have one shape, not {reference.shape} and {arm.shape}")
    return (arm - reference).mean(axis=0)


def draws(n: int, resamples: int, seed: int | None, cells: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """The bootstrap's draws: `resamples` samples of n instances with replacement, in chunks of bounded memory (at
    most _CHUNK cells; `cells`: the cells one sample costs, n by default). Yields (where in the resamples, the
    picks: one row of instance indices per sample). One generator seeded once: the same draws for a seed."""
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK // max(1, cells or n))
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        yield slice(start, stop), rng.integers(0, n, size=(stop - start, n))


def paired_bootstrap(reference: np.ndarray, arm: np.ndarray, resamples: int = 10_000, seed: int | None = 0,
                     confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile bootstrap interval of the difference in resolved rate (arm minus reference). Instances are
    resampled with replacement and carry their pairs along (every replicate of an instance together), so the
    interval reflects that the same issues were given to both arms and that an issue's replicates are not
    independent. Deterministic for a given seed."""
    differences = per_instance_differences(reference, arm)
    n = differences.size
    if n == 0:
        return math.nan, math.nan
    means = np.empty(resamples)
    for where, picks in draws(n, resamples, seed):
        means[where] = differences[picks].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def cumulative_rate(outcomes: Sequence[float]) -> np.ndarray:
    """The resolved rate over the first k issues, for k = 1..n: where a run stands after each issue."""
    values = np.asarray(outcomes, float)
    return np.cumsum(values) / np.arange(1, values.size + 1) if values.size else values


def rolling_rate(outcomes: Sequence[float], window: int) -> np.ndarray:
    """The resolved rate over the last `window` issues ending at each issue (nan until `window` issues are in):
    unlike the cumulative rate it forgets the start, so a change later in the run shows."""
    if window < 1:
        raise ValueError(f"the rolling window must be at least 1, not {window}")
    values = np.asarray(outcomes, float)
    result = np.full(values.size, math.nan)
    if values.size >= window:
        sums = np.cumsum(np.concatenate([[0.0], values]))
        result[window - 1:] = (sums[window:] - sums[:-window]) / window
    return result


def round_positions(memory_rounds: Sequence[int], rounds: Sequence[int]) -> dict[int, int | None]:
    """Where each induction round took effect: the 1-based position of the first issue that started with that
    round's memory (its `memory_round` reached the round); None for a round made after the last issue given."""
    positions: dict[int, int | None] = {}
    for number in rounds:
        positions[number] = next((k for k, seen in enumerate(memory_rounds, 1) if seen >= number), None)
    return positions


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, mean and total of a per-issue quantity (0s with no values)."""
    array = np.asarray(values, float)
    if array.size == 0:
        return {"median": 0.0, "mean": 0.0, "total": 0.0}
    return {"median": float(np.median(array)), "mean": float(array.mean()), "total": float(array.sum())}
