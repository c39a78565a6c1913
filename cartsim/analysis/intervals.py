"""Confidence intervals for sweep outcomes: Wilson score intervals for proportions, percentile
bootstrap intervals for means and other statistics.

Why Wilson: with the 5-50 replicates of a typical sweep point, eradication probabilities near 0
or 1 are common, where the textbook Wald interval p ± z·√(p(1−p)/n) collapses to zero width or
leaves [0, 1]; the Wilson score interval keeps close to nominal coverage there (Wilson 1927,
J Am Stat Assoc 22:209; Newcombe 1998, Stat Med 17:857; Brown, Cai & DasGupta 2001, Stat Sci 16:101).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Args:
        successes: number of successes (array-like, 0 <= successes <= n).
        n: number of trials (array-like, > 0; n = 0 gives NaN bounds).
        confidence: coverage of the interval (0.95 for 95 %).

    Returns:
        ``(low, high)`` arrays (scalars for scalar input), within [0, 1].
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("successes must lie between 0 and n")
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exact at the edges: with no successes the lower bound is 0, with all successes the upper is 1
    low = np.where((k == 0) & (n > 0), 0.0, low)
    high = np.where((k == n) & (n > 0), 1.0, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def bootstrap_interval(
    values,
    statistic: Callable[[np.ndarray], np.ndarray] | str = "mean",
    confidence: float = 0.95,
    n_resamples: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of ``values`` (NaNs dropped).

    Args:
        values: the sample (one value per run).
        statistic: ``"mean"``, ``"median"``, or a function mapping an array of shape
            ``(n_resamples, n)`` to ``n_resamples`` values (reduce over ``axis=-1``).
        confidence: coverage of the interval.
        n_resamples: bootstrap resamples; 4,000 keeps the Monte Carlo error of 95 % bounds small
            (Efron & Tibshirani 1993, ch. 19).
        seed: seed of the resampling, so that the same data give the same interval.

    Returns:
        ``(low, high)``; NaN for an empty sample; the value itself for one value.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    _z(confidence)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    func = {"mean": lambda a: a.mean(axis=-1), "median": lambda a: np.median(a, axis=-1)}.get(
        statistic, statistic) if isinstance(statistic, str) else statistic
    if not callable(func):
        raise ValueError(f"unknown statistic {statistic!r}; use 'mean', 'median' or a function")
    rng = np.random.default_rng(seed)
    # resample in chunks so memory stays bounded for large samples
    stats_out = []
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        idx = rng.integers(0, x.size, size=(m, x.size))
        stats_out.append(np.asarray(func(x[idx]), dtype=float))
    boot = np.concatenate(stats_out)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return float(low), float(high)
