"""A two-layer linear network y_hat = w2 . (W1 x + b1) + b2 (Flax), and its mean squared error.

The function class is that of a linear model, but the parameterization is not:
the loss is non-convex in (W1, w2), its curvature grows with the weights, and a
step size that is fine for linear least squares can make it diverge.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class TwoLayerLinear(nn.Module):
    """x -> w2 . (W1 x + b1) + b2, with no activation (Flax's default LeCun-normal kernels, zero biases)."""

    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Dense(self.hidden, name="hidden")(x)
        return nn.Dense(1, name="output")(h)[..., 0]


def init(key: jax.Array, num_features: int, hidden: int, dtype=None):
    """{'params': {'hidden': {kernel W1 (p, h), bias b1 (h,)}, 'output': {kernel w2 (h, 1), bias b2 (1,)}}}.

    The parameters have the default float dtype (float64 under ``--x64``) unless ``dtype`` is given.
    """
    if int(hidden) != hidden or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    params = TwoLayerLinear(int(hidden)).init(key, jnp.zeros((1, num_features), dtype))
    return jax.tree.map(lambda p: p.astype(dtype), params)


def mse(params, hidden: int, x: jax.Array, y: jax.Array) -> jax.Array:
    """1/n sum_i (y_hat(x_i) - y_i)^2."""
    r = TwoLayerLinear(hidden).apply(params, x) - y
    return jnp.mean(r * r)
