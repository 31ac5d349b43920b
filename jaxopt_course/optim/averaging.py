"""Running average of iterates, bar theta_k = 1/(k+1) sum_{j=0}^k theta_j.

optax has no iterate averaging (``optax.ema`` averages *updates*), so this is ours.
The state keeps a running sum of the iterates, never the iterates themselves, and
divides by the count only when the mean is read (at recorded steps). The sum is
blocked: each step adds theta_k to a partial sum (one add per coordinate), and every
BLOCK steps the partial sum joins the total with Kahan compensation. In float32 an
uncompensated running average stalls: once theta_k - bar theta_k is ~1e-8 of bar
theta it is rounded away (the plain incremental mean freezes at ~1e-7 relative
error after 10^4 steps of a converging run; tests/test_optim.py shows it). Blocks of
64 keep the plain-sum error near 64 float32 roundings, far below what is measured.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


BLOCK = 64  # iterates per partial sum: plain adds inside a block, Kahan across blocks


class IterateAverage(NamedTuple):
    """Blocked, compensated running sum of the iterates; ``mean`` divides by their count."""

    count: jax.Array  # shape=(), dtype=int32: number of iterates summed (k+1).
    partial: jax.Array  # pytree like params: plain sum of the iterates of the current block.
    total: jax.Array  # pytree like params: Kahan sum of the completed blocks.
    compensation: jax.Array  # pytree like params: Kahan's running rounding error of total.

    @property
    def mean(self):
        """bar theta_k = (total - compensation + partial) / (k+1)."""
        inv = 1 / self.count
        return jax.tree.map(lambda t, c, p: ((t - c + p) * inv.astype(t.dtype)).astype(t.dtype),
                            self.total, self.compensation, self.partial)


def average_init(params) -> IterateAverage:
    """bar theta_0 = theta_0 (the average of the single iterate theta_0)."""
    zeros = jax.tree.map(lambda p: jnp.zeros_like(jnp.asarray(p)), params)
    return IterateAverage(jnp.ones((), jnp.int32), jax.tree.map(jnp.asarray, params), zeros, zeros)


def _fold(state: IterateAverage) -> IterateAverage:
    """total += partial (Kahan-compensated); partial = 0."""

    def kahan(t, c, p):
        y = p - c
        new = t + y
        return new, (new - t) - y

    pairs = jax.tree.map(kahan, state.total, state.compensation, state.partial)
    total = jax.tree.map(lambda _, pc: pc[0], state.total, pairs)
    compensation = jax.tree.map(lambda _, pc: pc[1], state.total, pairs)
    return IterateAverage(state.count, jax.tree.map(jnp.zeros_like, state.partial), total, compensation)


def average_update(params, state: IterateAverage) -> IterateAverage:
    """partial += theta_k; every BLOCK iterates the partial sum joins the compensated total.

    The count does not depend on the data, so under vmap the fold stays a real branch
    taken once per block: a step costs one add per coordinate.
    """
    partial = jax.tree.map(lambda p, s: (s + p).astype(s.dtype), params, state.partial)
    state = IterateAverage(state.count + 1, partial, state.total, state.compensation)
    return jax.lax.cond(state.count % BLOCK == 0, _fold, lambda s: s, state)
