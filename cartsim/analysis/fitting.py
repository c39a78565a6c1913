"""Hill (log-logistic) dose-response curves: ED50, Hill slope and their confidence intervals.

Two fits, both pure functions of arrays:

* :func:`fit_hill` for yes/no outcomes (eradication, response, relapse) counted per dose:
  P(x) = 1 / (1 + (ED50/x)^h), which is logistic regression on ln x
  (logit P = h·(ln x − ln ED50)). It is fitted by maximum likelihood with Firth's penalty
  (Firth 1993, Biometrika 80:27), which keeps the estimates finite and less biased when a
  sweep with few replicates shows a clean 0 → 1 step (complete separation, where plain maximum
  likelihood sends the slope to infinity; Heinze & Schemper 2002, Stat Med 21:2409).
  Intervals are Wald intervals on the log-ED50 and slope scales from the Fisher information
  (the delta method, as in the drc package: Ritz et al. 2015, PLoS ONE 10:e0146021).
* :func:`fit_log_logistic` for continuous outcomes (e.g. tumor reduction): the four-parameter
  curve y = bottom + (top − bottom) / (1 + (ED50/x)^h) by least squares, intervals from the
  parameter covariance with t quantiles.

A positive slope h means the outcome rises with x; a negative one that it falls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats


@dataclass(frozen=True)
class HillFit:
    """A fitted Hill / log-logistic curve.

    Attributes:
        ed50: the x at half-way between bottom and top (the unit of x, e.g. cells).
        ed50_ci: its confidence interval ``(low, high)``.
        slope: the Hill slope h (dimensionless; > 0 rising, < 0 falling).
        slope_ci: its confidence interval.
        bottom, top: the curve's asymptotes (0 and 1 for yes/no outcomes).
        confidence: coverage of the intervals.
        kind: ``"binomial"`` or ``"continuous"``.
        converged: whether the optimiser converged.
        note: why the fit should not be trusted (no variation, ED50 outside the data), or "".
    """

    ed50: float
    ed50_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    bottom: float = 0.0
    top: float = 1.0
    confidence: float = 0.95
    kind: str = "binomial"
    converged: bool = True
    note: str = ""
    _centre: float = field(default=0.0, repr=False)
    _cov: tuple = field(default=(), repr=False)

    def predict(self, x) -> np.ndarray:
        """The curve at ``x`` (x > 0)."""
        u = np.log(np.asarray(x, dtype=float))
        frac = special.expit(self.slope * (u - math.log(self.ed50)))
        return self.bottom + (self.top - self.bottom) * frac

    def band(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence band of a binomial fit's curve (delta method on the logit scale)."""
        u = np.log(np.asarray(x, dtype=float))
        if self.kind != "binomial" or not self._cov:
            y = self.predict(x)
            return y, y
        b1 = self.slope
        b0 = -b1 * (math.log(self.ed50) - self._centre)
        cov = np.array(self._cov)
        g = np.stack([np.ones_like(u), u - self._centre])
        eta = b0 + b1 * (u - self._centre)
        se = np.sqrt(np.einsum("in,ij,jn->n", g, cov, g))
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        return special.expit(eta - z * se), special.expit(eta + z * se)

    def as_dict(self) -> dict[str, float | str | bool]:
        return {"kind": self.kind, "ed50": self.ed50, "ed50_low": self.ed50_ci[0], "ed50_high": self.ed50_ci[1],
                "slope": self.slope, "slope_low": self.slope_ci[0], "slope_high": self.slope_ci[1],
                "bottom": self.bottom, "top": self.top, "confidence": self.confidence,
                "converged": self.converged, "note": self.note}


def _design(x, successes, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    if not (x.shape == k.shape == n.shape) or x.ndim != 1:
        raise ValueError("x, successes and n must be 1-D arrays of the same length")
    if np.any(x <= 0) or not np.all(np.isfinite(x)):
        raise ValueError("a log-logistic curve needs doses x > 0 (ED50 lives on a log scale)")
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need n >= 1 and 0 <= successes <= n at every dose")
    if np.unique(x).size < 2:
        raise ValueError("need at least two different doses to fit a curve")
    return x, k, n


def _firth_newton(X: np.ndarray, k: np.ndarray, n: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, bool]:
    """Firth-penalised logistic regression by Newton steps on the modified score, with step halving."""

    def penalised_loglik(beta: np.ndarray) -> float:
        eta = X @ beta
        p = special.expit(eta)
        info = X.T @ (X * (n * p * (1 - p))[:, None])
        sign, logdet = np.linalg.slogdet(info)
        ll = np.sum(k * eta - n * np.logaddexp(0, eta))
        return ll + 0.5 * logdet if sign > 0 else -np.inf

    beta = np.zeros(X.shape[1])
    current = penalised_loglik(beta)
    for _ in range(max_iter):
        p = special.expit(X @ beta)
        w = n * p * (1 - p)
        info = X.T @ (X * w[:, None])
        inv = np.linalg.inv(info)
        hat = w * np.einsum("ij,jk,ik->i", X, inv, X)  # diagonal of the hat matrix
        score = X.T @ (k - n * p + hat * (0.5 - p))
        step = inv @ score
        for _halving in range(30):
            trial = beta + step
            value = penalised_loglik(trial)
            if value >= current - 1e-12:
                break
            step = step / 2
        beta, current = trial, value
        if np.max(np.abs(step)) < 1e-10:
            return beta, True
    return beta, False


def fit_hill(x, successes, n, confidence: float = 0.95) -> HillFit:
    """Fit P(x) = 1/(1 + (ED50/x)^h) to ``successes`` out of ``n`` at each dose ``x``.

    Args:
        x: doses (> 0; several entries may share a dose).
        successes: runs with the outcome at each dose.
        n: runs at each dose.
        confidence: coverage of the ED50 and slope intervals.

    Returns:
        a :class:`HillFit` (bottom 0, top 1).
    """
    x, k, n = _design(x, successes, n)
    u = np.log(x)
    centre = float(np.average(u, weights=n))  # centring keeps the two estimates nearly uncorrelated
    X = np.column_stack([np.ones_like(u), u - centre])
    beta, converged = _firth_newton(X, k, n)
    p = special.expit(X @ beta)
    info = X.T @ (X * (n * p * (1 - p))[:, None])
    cov = np.linalg.inv(info)
    b0, b1 = beta
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    note = ""
    if np.all(k == 0) or np.all(k == n):
        note = "no variation in the outcome: every run had the same result, so the curve is not identified"
    se_slope = math.sqrt(cov[1, 1])
    if abs(b1) < 1e-12:
        return HillFit(math.nan, (math.nan, math.nan), 0.0, (b1 - z * se_slope, b1 + z * se_slope),
                       confidence=confidence, converged=converged, note=note or "flat curve: no ED50",
                       _centre=centre, _cov=tuple(map(tuple, cov)))
    log_ed50 = centre - b0 / b1
    grad = np.array([-1 / b1, b0 / b1**2])  # d(log ED50)/d(b0, b1)
    se_log = math.sqrt(float(grad @ cov @ grad))
    ed50 = math.exp(log_ed50)
    if not note and not (x.min() <= ed50 <= x.max()):
        note = "ED50 outside the range of doses swept: an extrapolation"
    return HillFit(
        ed50=ed50,
        ed50_ci=(math.exp(log_ed50 - z * se_log), math.exp(log_ed50 + z * se_log)),
        slope=float(b1),
        slope_ci=(float(b1 - z * se_slope), float(b1 + z * se_slope)),
        confidence=confidence, kind="binomial", converged=converged, note=note,
        _centre=centre, _cov=tuple(map(tuple, cov)),
    )


def fit_log_logistic(x, y, confidence: float = 0.95) -> HillFit:
    """Fit y = bottom + (top − bottom)/(1 + (ED50/x)^h) by least squares (one value per run or per dose).

    Args:
        x: doses (> 0).
        y: outcomes (any unit, e.g. fraction of tumor removed).
        confidence: coverage of the intervals (t quantiles with n − 4 degrees of freedom).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.any(x <= 0):
        raise ValueError("a log-logistic curve needs doses x > 0")
    if np.unique(x).size < 4 or y.size < 5:
        raise ValueError("a four-parameter curve needs at least four different doses and five values")
    u = np.log(x)

    def model(uu, bottom, top, log_ed50, h):
        return bottom + (top - bottom) * special.expit(h * (uu - log_ed50))

    # start from the ends of the data and the dose where y crosses half-way
    means = {v: y[u == v].mean() for v in np.unique(u)}
    us = np.array(sorted(means))
    ys = np.array([means[v] for v in us])
    rising = ys[-1] >= ys[0]
    bottom0, top0 = (ys.min(), ys.max()) if rising else (ys.max(), ys.min())
    mid = us[np.argmin(np.abs(ys - (bottom0 + top0) / 2))]
    p0 = [bottom0, top0, mid, 2.0 / max(np.ptp(us), 1e-9) * 4]
    try:
        popt, pcov = optimize.curve_fit(model, u, y, p0=p0, maxfev=20000)
        converged = bool(np.all(np.isfinite(pcov)))
    except (RuntimeError, optimize.OptimizeWarning):
        popt, pcov, converged = np.array(p0, dtype=float), np.full((4, 4), np.inf), False
    bottom, top, log_ed50, h = map(float, popt)
    if top < bottom:  # the same curve written the other way round: keep bottom < top, the sign of h the direction
        bottom, top, h = top, bottom, -h
    dof = max(1, y.size - 4)
    t = float(stats.t.ppf(0.5 + confidence / 2, dof))
    se = np.sqrt(np.diag(pcov)) if converged else np.full(4, np.nan)
    note = "" if converged else "fit did not converge"
    ed50 = math.exp(log_ed50)
    if converged and not (x.min() <= ed50 <= x.max()):
        note = "ED50 outside the range of doses swept: an extrapolation"
    return HillFit(
        ed50=ed50,
        ed50_ci=(math.exp(log_ed50 - t * float(se[2])), math.exp(log_ed50 + t * float(se[2]))),
        slope=h, slope_ci=(h - t * float(se[3]), h + t * float(se[3])),
        bottom=bottom, top=top, confidence=confidence, kind="continuous", converged=converged, note=note,
    )
