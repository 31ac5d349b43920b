"""Summary statistics over a replicate (seed) axis: means with standard errors."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np


def standard_error(x, axis: int = 0):
    """SE = s / sqrt(n), with s the sample standard deviation (ddof = 1) of n replicates along ``axis``."""
    x = jnp.asarray(x)
    n = x.shape[axis]
    if n < 2:
        raise ValueError(f"a standard error needs at least 2 replicates along axis {axis}, got {n}")
    return jnp.std(x, axis=axis, ddof=1) / jnp.sqrt(jnp.asarray(n, x.dtype))


def mean_and_standard_error(x, axis: int = 0):
    """(mean, SE) of x along ``axis``: the center and half-width / z of a normal confidence band."""
    return jnp.mean(jnp.asarray(x), axis=axis), standard_error(x, axis)


def nan_mean_and_standard_error(x, axis: int = 0):
    """(mean, SE) along ``axis`` over the finite entries only (NaN where fewer than 2 are finite); NumPy, host side."""
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=axis)
        se = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(n)
    return mean, np.where(n >= 2, se, np.nan)
