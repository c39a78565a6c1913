"""Wilson and bootstrap intervals against published values and known sampling behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from cartsim.analysis import bootstrap_interval, wilson_interval


# Newcombe (1998), Stat Med 17:857, Table I, method 3 (score interval without continuity correction)
@pytest.mark.parametrize("k, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=6e-5) and hi == pytest.approx(high, abs=6e-5)


def test_wilson_edges_symmetry_and_vectors():
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    lo, hi = wilson_interval([3, 7], [10, 10])
    assert lo[0] == pytest.approx(1 - hi[1]) and hi[0] == pytest.approx(1 - lo[1])
    assert np.isnan(wilson_interval(0, 0)[0])
    # wider at 99 % than at 90 %
    assert wilson_interval(5, 20, 0.99)[0] < wilson_interval(5, 20, 0.90)[0]
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_wilson_coverage_is_near_nominal_for_small_samples():
    rng = np.random.default_rng(7)
    n, p = 12, 0.15
    k = rng.binomial(n, p, size=20000)
    lo, hi = wilson_interval(k, np.full_like(k, n))
    coverage = np.mean((lo <= p) & (p <= hi))
    # Brown, Cai & DasGupta (2001): Wilson's coverage stays within a few points of 95 %,
    # where Wald's falls far below it at n = 12, p = 0.15
    assert 0.92 <= coverage <= 0.99
    phat = k / n
    half = 1.96 * np.sqrt(phat * (1 - phat) / n)
    assert np.mean((phat - half <= p) & (p <= phat + half)) < coverage - 0.05


def test_bootstrap_interval_of_the_mean_matches_the_normal_theory_interval():
    rng = np.random.default_rng(3)
    x = rng.normal(10.0, 2.0, size=400)
    lo, hi = bootstrap_interval(x, seed=1)
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.25 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.25 * se)


def test_bootstrap_is_reproducible_and_handles_degenerate_samples():
    x = [1.0, 2.0, 4.0, 8.0, np.nan]
    assert bootstrap_interval(x, seed=5) == bootstrap_interval(x, seed=5)
    assert bootstrap_interval([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert bootstrap_interval([2.5]) == (2.5, 2.5)
    assert all(np.isnan(bootstrap_interval([])))
    lo, hi = bootstrap_interval(x, "median", seed=2)
    assert 1.0 <= lo <= 3.0 <= hi <= 8.0


def test_bootstrap_coverage_for_a_skewed_metric():
    # exponential data (like times or burdens): the percentile interval of the mean should cover
    # the true mean in roughly 95 % of samples (it runs a little low for small n)
    rng = np.random.default_rng(11)
    hits = [lo <= 1.0 <= hi for lo, hi in
            (bootstrap_interval(rng.exponential(1.0, 40), n_resamples=1000, seed=i) for i in range(300))]
    assert 0.88 <= np.mean(hits) <= 0.99
