"""Loss landscapes around theta*: 1-D slices L(theta* + t D), 2-D surfaces L(theta* + t D1 + s D2).

Directions are pytrees shaped like the parameters: a plain Gaussian D ~ N(0, I), or
D filter-normalized as in Li et al. 2018: every filter d_j of a weight array (the
weights feeding output unit j: for a flax kernel of shape (..., in, out), the slice
``D[..., j]``) is rescaled to the norm of the same filter of theta*,
d_j <- d_j ||theta_j|| / ||d_j||. A ReLU network's function is unchanged when a
unit's incoming weights and bias are multiplied by c > 0 and its outgoing weights by
1/c, so a plain Gaussian slice says as much about the scale of theta* as about the
shape of the minimum; filter normalization removes that scale and makes two
networks' landscapes comparable. Bias vectors (1-D leaves) follow the reference
code's options: ``bias="zero"`` (``--xignore biasbn``, the README's setting) or
``bias="copy"`` (d_b = b*).

Every slice and surface is one vmapped evaluation over the grid of (t, s).

Reference: Li, Xu, Taylor, Studer and Goldstein, "Visualizing the Loss Landscape of
Neural Nets", NeurIPS 2018 (code: github.com/tomgoldstein/loss-landscape).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

BIAS_RULES = ("zero", "copy")


def gaussian_direction(key: jax.Array, params):
    """D with i.i.d. N(0, 1) entries, shaped like theta (one draw of n numbers, unraveled)."""
    flat, unravel = ravel_pytree(params)
    return unravel(jax.random.normal(key, flat.shape, flat.dtype))


def filter_norms(array: jax.Array) -> jax.Array:
    """||w_j|| for every filter j of a weight array (norm over all axes but the last, the output axis)."""
    return jnp.sqrt(jnp.sum(array * array, axis=tuple(range(array.ndim - 1))))


def _normalize_leaf(d: jax.Array, p: jax.Array, bias: str) -> jax.Array:
    """d_j ||p_j|| / ||d_j|| per filter for weight arrays; zero or p itself for 1-D leaves."""
    if d.shape != p.shape:
        raise ValueError(f"direction leaf of shape {d.shape} does not match parameter shape {p.shape}")
    if p.ndim <= 1:
        return jnp.zeros_like(d) if bias == "zero" else p.astype(d.dtype)
    scale = filter_norms(p) / (filter_norms(d) + 1e-10)  # 1e-10 as in the reference code
    return d * scale.reshape((1,) * (d.ndim - 1) + (-1,))


def filter_normalize(direction, params, *, bias: str = "zero"):
    """Li et al.'s filter normalization: each filter of D rescaled to the norm of theta*'s filter."""
    if bias not in BIAS_RULES:
        raise ValueError(f"bias must be one of {BIAS_RULES}, got {bias!r}")
    if jax.tree.structure(direction) != jax.tree.structure(params):
        raise ValueError("the direction and the parameters must have the same pytree structure")
    return jax.tree.map(lambda d, p: _normalize_leaf(d, p, bias), direction, params)


def _along(params, directions, coefficients):
    """theta + sum_i c_i D_i, leaf by leaf."""
    def combine(p, *ds):
        return p + sum(c * d for c, d in zip(coefficients, ds)).astype(p.dtype)

    return jax.tree.map(combine, params, *directions)


def plane(loss: Callable, params, d1, d2, coefficients: jax.Array) -> jax.Array:
    """[L(theta + t_i D1 + s_i D2) for (t_i, s_i) in coefficients]: one vmapped evaluation, shape (P,)."""
    if coefficients.ndim != 2 or coefficients.shape[1] != 2:
        raise ValueError(f"coefficients must have shape (P, 2), got {coefficients.shape}")
    return jax.vmap(lambda c: loss(_along(params, (d1, d2), (c[0], c[1]))))(coefficients)


def slice_1d(loss: Callable, params, direction, ts: jax.Array) -> jax.Array:
    """[L(theta + t D) for t in ts]: one vmapped evaluation, shape (T,)."""
    if ts.ndim != 1:
        raise ValueError(f"ts must be 1-D, got shape {ts.shape}")
    return jax.vmap(lambda t: loss(_along(params, (direction,), (t,))))(ts)


def surface_grid(ts: jax.Array, ss: jax.Array) -> jax.Array:
    """The (t, s) pairs of the grid ss x ts, row-major (s outer): shape (S T, 2)."""
    if ts.ndim != 1 or ss.ndim != 1:
        raise ValueError(f"ts and ss must be 1-D, got shapes {ts.shape} and {ss.shape}")
    tt, sg = jnp.meshgrid(ts, ss)
    return jnp.stack([tt.ravel(), sg.ravel()], axis=1)


def surface_2d(loss: Callable, params, d1, d2, ts: jax.Array, ss: jax.Array) -> jax.Array:
    """[[L(theta + t D1 + s D2) for t in ts] for s in ss]: one vmapped evaluation, shape (S, T)."""
    return plane(loss, params, d1, d2, surface_grid(ts, ss)).reshape(ss.shape[0], ts.shape[0])
