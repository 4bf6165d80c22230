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


def paired(rows: dict[str, list[RunRecord]], a: str, b: str, metric: Callable[[RunRecord], float]):
    """Mean and 95% CI of ``metric(a) - metric(b)`` over the seeds both rows ran (paired by seed); None when a
    row is missing."""
    if a not in rows or b not in rows:
        return None
    by_seed = {r.seed: metric(r) for r in rows[b]}
    diffs = [metric(r) - by_seed[r.seed] for r in rows[a] if r.seed in by_seed]
    return mean_ci(diffs)


def test_points(r: RunRecord) -> float:
    """Test accuracy in percentage points: the comparison's headline metric."""
    return 100 * r.outcome.test_accuracy
