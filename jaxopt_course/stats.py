"""Summary statistics over a replicate (seed) axis, by scipy.stats: standard errors and Wilson intervals."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats


def standard_error(x, axis: int = 0) -> np.ndarray:
    """SE = s / sqrt(n), s the sample standard deviation (ddof = 1) of n replicates along ``axis`` (scipy.stats.sem)."""
    x = np.asarray(x)
    n = x.shape[axis]
    if n < 2:
        raise ValueError(f"a standard error needs at least 2 replicates along axis {axis}, got {n}")
    with np.errstate(invalid="ignore", over="ignore"):  # inf or NaN replicates give NaN quietly, as before
        return scipy.stats.sem(x, axis=axis, ddof=1)


def mean_and_standard_error(x, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mean, SE) of x along ``axis``: the center and half-width / z of a normal confidence band."""
    x = np.asarray(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.mean(x, axis=axis), standard_error(x, axis)


def nan_mean_and_standard_error(x, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mean, SE) along ``axis`` over the finite entries only (NaN where fewer than 2 are finite)."""
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN or single-value columns: NaN, no warning
        mean = np.nanmean(x, axis=axis)
        se = np.asarray(scipy.stats.sem(x, axis=axis, ddof=1, nan_policy="omit"), dtype=float)
    return mean, np.where(n >= 2, se, np.nan)


def wilson_interval(successes, trials, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k/n, elementwise (scipy.stats.binomtest, method='wilson').

    (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n) with p = k/n: unlike the
    Wald interval p -+ z sqrt(p(1-p)/n), it stays inside [0, 1] and does not collapse
    to a point when p = 0 or 1 (reference: Wilson, JASA 1927).
    """
    k, n = np.broadcast_arrays(np.asarray(successes), np.asarray(trials))
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n) or np.any(np.mod(k, 1) != 0) or np.any(np.mod(n, 1) != 0):
        raise ValueError("need integer counts with 0 <= successes <= trials and trials >= 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    ci = [scipy.stats.binomtest(int(a), int(b)).proportion_ci(confidence, method="wilson")
          for a, b in zip(k.ravel(), n.ravel())]
    low = np.array([c.low for c in ci], dtype=float).reshape(k.shape)
    high = np.array([c.high for c in ci], dtype=float).reshape(k.shape)
    return low, high
