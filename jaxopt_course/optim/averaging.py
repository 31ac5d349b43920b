"""Running average of iterates, bar theta_k = 1/(k+1) sum_{j=0}^k theta_j.

optax has no iterate averaging (``optax.ema`` averages *updates*), so this is ours.
The average is updated incrementally, bar theta_k = bar theta_{k-1} + (theta_k -
bar theta_{k-1}) / (k+1), which never stores the iterates and stays accurate in
float32 where a running sum divided by k would lose digits.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class IterateAverage(NamedTuple):
    """Incremental mean of the iterates seen so far."""

    count: jax.Array  # shape=(), dtype=int32: number of iterates averaged (k+1).
    mean: jax.Array  # pytree like params: bar theta_k.


def average_init(params) -> IterateAverage:
    """bar theta_0 = theta_0 (the average of the single iterate theta_0)."""
    return IterateAverage(count=jnp.ones((), jnp.int32), mean=jax.tree.map(jnp.asarray, params))


def average_update(params, state: IterateAverage) -> IterateAverage:
    """bar theta_k = bar theta_{k-1} + (theta_k - bar theta_{k-1}) / (k+1)."""
    count = state.count + 1

    def step(p, m):
        return (m + (p - m) / count.astype(m.dtype)).astype(m.dtype)

    return IterateAverage(count=count, mean=jax.tree.map(step, params, state.mean))
