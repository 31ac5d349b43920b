"""Summary statistics over a replicate (seed) axis: means with standard errors."""

from __future__ import annotations

import jax.numpy as jnp


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
