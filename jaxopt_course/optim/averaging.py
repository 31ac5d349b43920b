"""Running average of iterates, bar theta_k = 1/(k+1) sum_{j=0}^k theta_j.

optax has no iterate averaging (``optax.ema`` averages *updates*), so this is ours.
The average is updated incrementally, bar theta_k = bar theta_{k-1} + (theta_k -
bar theta_{k-1}) / (k+1), which never stores the iterates. In float32 the
increment soon falls below the resolution of bar theta (after 10^4 steps of a
converging run it is ~1e-9 of it) and would be rounded away, freezing the average
at ~1e-7 relative error; a Kahan compensation term keeps those low-order bits.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class IterateAverage(NamedTuple):
    """Incremental mean of the iterates seen so far."""

    count: jax.Array  # shape=(), dtype=int32: number of iterates averaged (k+1).
    mean: jax.Array  # pytree like params: bar theta_k.
    compensation: jax.Array  # pytree like params: Kahan's running rounding error of mean.


def average_init(params) -> IterateAverage:
    """bar theta_0 = theta_0 (the average of the single iterate theta_0)."""
    mean = jax.tree.map(jnp.asarray, params)
    return IterateAverage(jnp.ones((), jnp.int32), mean, jax.tree.map(jnp.zeros_like, mean))


def average_update(params, state: IterateAverage) -> IterateAverage:
    """bar theta_k = bar theta_{k-1} + (theta_k - bar theta_{k-1}) / (k+1), Kahan-compensated."""
    count = state.count + 1

    def step(p, m, c):
        increment = (p - m) * (1 / count.astype(m.dtype)) - c  # one reciprocal, not d divisions
        new = m + increment
        return new.astype(m.dtype), ((new - m) - increment).astype(m.dtype)

    pairs = jax.tree.map(step, params, state.mean, state.compensation)
    mean = jax.tree.map(lambda _, pc: pc[0], state.mean, pairs)
    compensation = jax.tree.map(lambda _, pc: pc[1], state.mean, pairs)
    return IterateAverage(count, mean, compensation)
