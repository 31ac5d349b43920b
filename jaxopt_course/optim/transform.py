"""Small gradient transformations; ``alias.py`` composes them into optimizers.

Each one is an ``(init, update)`` pair with a NamedTuple state, written by hand
because the optimizers are the subject of the course; ``tests/test_optim.py``
checks each against its optax twin step for step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_course.optim.base import (
    CountState,
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    as_schedule,
    check_in_unit_interval,
    check_positive,
    safe_int32_increment,
    tree_zeros_like,
)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """u_k = -gamma_k g_k, with gamma_k a constant or a schedule of the step count k."""
    check_positive("learning_rate", learning_rate)
    schedule = as_schedule(learning_rate)

    def init(params):
        del params
        return CountState(count=jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        del params
        gamma = schedule(state.count)
        updates = jax.tree.map(lambda g: (-gamma * g).astype(g.dtype), updates)
        return updates, CountState(count=safe_int32_increment(state.count))

    return GradientTransformation(init, update)


class TraceState(NamedTuple):
    """Heavy-ball momentum buffer."""

    trace: jax.Array  # pytree like params: m_k = g_k + mu m_{k-1}.


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """m_k = g_k + mu m_{k-1}; u_k = m_k (or g_k + mu m_k with Nesterov's correction)."""
    check_in_unit_interval("momentum", decay)

    def init(params):
        return TraceState(trace=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        new_trace = jax.tree.map(lambda g, m: g + decay * m, updates, state.trace)
        if nesterov:
            updates = jax.tree.map(lambda g, m: g + decay * m, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(trace=new_trace)

    return GradientTransformation(init, update)


class ScaleByAdamState(NamedTuple):
    """First and second moment estimates of Adam."""

    count: jax.Array  # shape=(), dtype=int32: number of updates applied so far.
    mu: jax.Array  # pytree like params: m_k, EMA of gradients.
    nu: jax.Array  # pytree like params: v_k, EMA of squared gradients.


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0
) -> GradientTransformation:
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; u = m_hat / (sqrt(v_hat + eps_root) + eps).

    The bias corrections are m_hat = m / (1 - b1^(k+1)) and v_hat = v / (1 - b2^(k+1)),
    with k the number of updates already applied: the first update uses exponent 1
    (with exponent k it would divide by zero at k = 0).
    """
    check_in_unit_interval("b1", b1)
    check_in_unit_interval("b2", b2)
    check_positive("eps", eps, allow_zero=True)

    def init(params):
        return ScaleByAdamState(
            count=jnp.zeros((), jnp.int32), mu=tree_zeros_like(params), nu=tree_zeros_like(params)
        )

    def update(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g * g, updates, state.nu)
        count = safe_int32_increment(state.count)
        # The corrections in the default float dtype (float32 or wider), cast afterwards: in
        # bfloat16, 0.999 rounds to 1 and 1 - b2^k would be 0 (optax does the same).
        wide = jnp.result_type(float)
        correction1 = 1 - jnp.asarray(b1, wide) ** count.astype(wide)
        correction2 = 1 - jnp.asarray(b2, wide) ** count.astype(wide)

        def direction(m, v):
            m_hat = m / correction1.astype(m.dtype)
            v_hat = v / correction2.astype(v.dtype)
            return m_hat / (jnp.sqrt(v_hat + eps_root) + eps)

        return jax.tree.map(direction, mu, nu), ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


class ScaleByRssState(NamedTuple):
    """Adagrad's accumulator."""

    sum_of_squares: jax.Array  # pytree like params: G_k = G_0 + sum_{j<=k} g_j^2.


def scale_by_rss(
    initial_accumulator_value: float = 0.0, eps: float = 1e-8, eps_inside_sqrt: bool = False
) -> GradientTransformation:
    """Adagrad's scaling: u = g / (sqrt(G) + eps), or g / sqrt(G + eps) if ``eps_inside_sqrt``.

    The course's Adagrad puts eps outside the square root and starts from G_0 = 0.
    optax.adagrad puts it inside, starts from G_0 = 0.1 and maps G = 0 to u = 0:
    ``scale_by_rss(0.1, 1e-7, eps_inside_sqrt=True)`` reproduces it exactly.
    """
    check_positive("initial_accumulator_value", initial_accumulator_value, allow_zero=True)
    check_positive("eps", eps, allow_zero=True)

    def init(params):
        return ScaleByRssState(
            sum_of_squares=jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def scale(g, acc):
        if eps_inside_sqrt:
            return jnp.where(acc > 0, jax.lax.rsqrt(acc + eps), 0.0).astype(g.dtype) * g
        return g / (jnp.sqrt(acc) + eps)

    def update(updates, state, params=None):
        del params
        acc = jax.tree.map(lambda g, s: s + g * g, updates, state.sum_of_squares)
        return jax.tree.map(scale, updates, acc), ScaleByRssState(sum_of_squares=acc)

    return GradientTransformation(init, update)


def scale_by_diagonal(diagonal) -> GradientTransformation:
    """u = D g for a fixed diagonal D (given as a pytree like params): H^{-1}-preconditioning."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda d, g: (d * g).astype(g.dtype), diagonal, updates), state

    return GradientTransformation(init, update)
