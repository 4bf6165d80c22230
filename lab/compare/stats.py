"""The comparison's statistics: Student-t intervals of means and of differences paired by seed."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from ..records import RunRecord


def mean_ci(x: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean (scipy); nan bounds with fewer than 2 values."""
    from scipy import stats

    x = np.asarray(list(x), dtype=float)
    m = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return m, math.nan, math.nan
    if np.all(x == x[0]):
        return m, m, m
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(level)
    return m, float(ci.low), float(ci.high)


def paired(rows: dict[str, list[RunRecord]], a: str, b: str, metric: Callable[[RunRecord], float],
           key: Callable[[RunRecord], object] = lambda r: r.seed):
    """Mean and 95% CI of ``metric(a) - metric(b)`` over the seeds both rows ran (paired by ``key``: the seed, or
    the env and seed where rows pool several settings); None when a row is missing."""
    if a not in rows or b not in rows:
        return None
    by_key = {key(r): metric(r) for r in rows[b]}
    diffs = [metric(r) - by_key[key(r)] for r in rows[a] if key(r) in by_key]
    return mean_ci(diffs)


def validation_points(r: RunRecord) -> float:
    """Final validation accuracy in points: what picking reads (never the test split)."""
    return 100 * r.outcome.val_accuracy


def pick(rows: dict[str, list[RunRecord]], candidates: Iterable[str]) -> tuple[str, dict[str, float]]:
    """The candidate row with the best mean final *validation* accuracy (ties: the first), and every candidate's
    mean: how clones, schedules and checkpoints are chosen on validation seeds. The test split is never read, and
    runs on seeds outside the validation range are refused."""
    from agents.seeds import check_validation_seeds

    candidates = list(candidates)
    check_validation_seeds(sorted({r.seed for name in candidates for r in rows[name]}), "picking's seeds")
    means = {name: float(np.mean([validation_points(r) for r in rows[name]])) for name in candidates}
    if not means:
        raise ValueError("no candidates to pick from")
    return max(means, key=lambda n: (means[n], -list(means).index(n))), means


def test_points(r: RunRecord) -> float:
    """Test accuracy in percentage points: the comparison's headline metric."""
    return 100 * r.outcome.test_accuracy


# --------------------------------------------------------------------------------------------------
# RL-grade statistics (as rliable reads results; scipy's bootstrap, one task per table so "stratified" is
# resampling the seeds of that task)
# --------------------------------------------------------------------------------------------------

BOOTSTRAP_RESAMPLES = 2000
"""Resamples of every bootstrap interval (percentile method, fixed random state: tables are reproducible)."""


def iqm(x) -> float:
    """Interquartile mean: the mean of the middle 50% of the values (scipy's 25% trimmed mean)."""
    from scipy import stats

    return float(stats.trim_mean(np.asarray(x, dtype=float), 0.25))


def iqm_ci(x, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(IQM, low, high): a percentile bootstrap interval over the seeds; nan bounds with fewer than 2 values."""
    from scipy import stats

    x = np.asarray(list(x), dtype=float)
    if len(x) < 2:
        return (float(x.mean()) if len(x) else math.nan), math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0]), float(x[0])
    res = stats.bootstrap((x,), lambda a, axis: stats.trim_mean(a, 0.25, axis=axis), n_resamples=BOOTSTRAP_RESAMPLES,
                          confidence_level=level, method="percentile", random_state=seed)
    return iqm(x), float(res.confidence_interval.low), float(res.confidence_interval.high)


def probability_of_improvement(x, y) -> float:
    """P(X > Y) + P(X = Y) / 2 over every pair of a run of X and a run of Y (the Mann-Whitney statistic, as
    rliable's probability of improvement): 0.5 = neither is better."""
    x, y = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(((x > y) + 0.5 * (x == y)).mean())


def probability_of_improvement_ci(x, y, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(P(X > Y), low, high): both samples resampled independently (percentile bootstrap)."""
    from scipy import stats

    x, y = np.asarray(list(x), dtype=float), np.asarray(list(y), dtype=float)
    p = probability_of_improvement(x, y)
    if len(x) < 2 or len(y) < 2:
        return p, math.nan, math.nan

    def stat(a, b, axis):
        return ((a[..., :, None] > b[..., None, :]) + 0.5 * (a[..., :, None] == b[..., None, :])).mean(axis=(-2, -1))
    res = stats.bootstrap((x, y), stat, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=level, method="percentile",
                          paired=False, vectorized=True, random_state=seed)
    return p, float(res.confidence_interval.low), float(res.confidence_interval.high)


def fmt_ci(m: float, lo: float, hi: float, signed: bool = False) -> str:
    """A mean and its 95% interval as every table writes it: ``+1.23 [+0.45, +2.01]`` for a (signed) difference,
    ``31.62 ± 1.76`` for a level; the mean alone when there is no interval (one seed)."""
    s = f"{m:+.2f}" if signed else f"{m:.2f}"
    return s if math.isnan(lo) else f"{s} [{lo:+.2f}, {hi:+.2f}]" if signed else f"{s} ± {(hi - lo) / 2:.2f}"


def flops_ratio(rows: dict, row: str, base: str = "no-growth") -> float:
    """"FLOPs × bare host": ``row``'s mean training FLOPs over ``base``'s on the same seeds (a ratio of means; the
    one definition every table uses)."""
    seeds = {r.seed for r in rows[base]} & {r.seed for r in rows[row]}
    mean = lambda name: sum(r.outcome.train_flops for r in rows[name] if r.seed in seeds) / len(seeds)  # noqa: E731
    return mean(row) / mean(base)
