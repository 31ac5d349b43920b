"""Small gradient transformations; ``alias.py`` composes them into optimizers.

Each one is an ``(init, update)`` pair with a NamedTuple state, written by hand
because the optimizers are the subject of the course; ``tests/test_optim.py``
checks each against its optax twin step for step (``tests/test_optim_dtypes.py``
in every float dtype, ``tests/test_optim_optax_ported.py`` on optax's own tests).

Where two dtypes meet (low-precision gradients, a wider ``mu_dtype``), the result
has the dtype optax's standard promotion would give, with the casts written out so
that the code also runs under strict promotion; states keep the dtype ``init`` gave.
Complex parameters are supported as optax does: second moments accumulate |g|^2.
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
    abs_sq,
    add_promoted,
    canonical_dtype,
    check_broadcasts,
    check_in_unit_interval,
    check_positive,
    promoted_dtype,
    safe_int32_increment,
    tree_zeros_like,
)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """u_k = -gamma_k g_k, with gamma_k a constant or a schedule of the step count k, in g's dtype."""
    check_positive("learning_rate", learning_rate)

    def init(params):
        del params
        return CountState(count=jnp.zeros((), jnp.int32))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        gamma = learning_rate(state.count) if callable(learning_rate) else learning_rate

        def scale(g):
            g = jnp.asarray(g)
            check_broadcasts("learning_rate", jnp.shape(gamma), g.shape)
            # A Python float is rounded once, straight to g's dtype, as optax does.
            return -jnp.asarray(gamma, g.dtype) * g

        return jax.tree.map(scale, updates), CountState(count=safe_int32_increment(state.count))

    return GradientTransformation(init, update)


class TraceState(NamedTuple):
    """Heavy-ball momentum buffer."""

    trace: jax.Array  # pytree like params (dtype accumulator_dtype if given): m_k = g_k + mu m_{k-1}.


def trace(decay: float, nesterov: bool = False, accumulator_dtype=None) -> GradientTransformation:
    """m_k = g_k + mu m_{k-1}; u_k = m_k (or g_k + mu m_k with Nesterov's correction)."""
    check_in_unit_interval("momentum", decay, include_one=True)
    accumulator_dtype = canonical_dtype(accumulator_dtype)

    def init(params):
        return TraceState(trace=tree_zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        new_trace = jax.tree.map(lambda g, m: add_promoted(g, decay * m), updates, state.trace)
        if nesterov:
            updates = jax.tree.map(lambda g, m: add_promoted(g, decay * m), updates, new_trace)
        else:
            updates = new_trace
        new_trace = jax.tree.map(lambda m, old: m.astype(old.dtype), new_trace, state.trace)
        return updates, TraceState(trace=new_trace)

    return GradientTransformation(init, update)


class ScaleByAdamState(NamedTuple):
    """First and second moment estimates of Adam."""

    count: jax.Array  # shape=(), dtype=int32: number of updates applied so far.
    mu: jax.Array  # pytree like params (dtype mu_dtype if given): m_k, EMA of gradients.
    nu: jax.Array  # pytree like params: v_k, EMA of squared moduli |g|^2.


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0, mu_dtype=None
) -> GradientTransformation:
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) |g|^2; u = m_hat / (sqrt(v_hat + eps_root) + eps).

    The bias corrections are m_hat = m / (1 - b1^(k+1)) and v_hat = v / (1 - b2^(k+1)),
    with k the number of updates already applied: the first update uses exponent 1
    (with exponent k it would divide by zero at k = 0).
    """
    check_in_unit_interval("b1", b1)
    check_in_unit_interval("b2", b2)
    check_positive("eps", eps, allow_zero=True)
    check_positive("eps_root", eps_root, allow_zero=True)
    mu_dtype = canonical_dtype(mu_dtype)

    def init(params):
        return ScaleByAdamState(
            count=jnp.zeros((), jnp.int32), mu=tree_zeros_like(params, mu_dtype), nu=tree_zeros_like(params)
        )

    def second_moment(g, v):
        # (1-b2) g g in this order for real g: the course's float32 numbers depend on its rounding.
        square = (1 - b2) * g * g if jnp.isrealobj(g) else (1 - b2) * abs_sq(g)
        return add_promoted(b2 * v, square)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        mu = jax.tree.map(lambda g, m: add_promoted(b1 * m, (1 - b1) * g), updates, state.mu)
        nu = jax.tree.map(second_moment, updates, state.nu)
        count = safe_int32_increment(state.count)
        # The corrections in the default float dtype (float32 or wider), cast afterwards: in
        # bfloat16, 0.999 rounds to 1 and 1 - b2^k would be 0 (optax does the same).
        wide = jnp.result_type(float)
        correction1 = 1 - jnp.asarray(b1, wide) ** count.astype(wide)
        correction2 = 1 - jnp.asarray(b2, wide) ** count.astype(wide)

        def direction(m, v):
            m_hat = m / correction1.astype(m.dtype)
            v_hat = v / correction2.astype(v.dtype)
            denominator = jnp.sqrt(v_hat + eps_root) + eps
            both = promoted_dtype(m_hat, denominator)
            return m_hat.astype(both) / denominator.astype(both)

        updates = jax.tree.map(direction, mu, nu)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        nu = jax.tree.map(lambda v, old: v.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


class ScaleByRssState(NamedTuple):
    """Adagrad's accumulator."""

    sum_of_squares: jax.Array  # pytree like params: G_k = G_0 + sum_{j<=k} |g_j|^2.


def scale_by_rss(
    initial_accumulator_value: float = 0.0, eps: float = 1e-8, eps_inside_sqrt: bool = False
) -> GradientTransformation:
    """Adagrad's scaling: u = g / (sqrt(G) + eps), or g / sqrt(G + eps) if ``eps_inside_sqrt``; G sums |g|^2.

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
        g = jnp.asarray(g)
        if eps_inside_sqrt:
            factor = jnp.where(acc > 0, jax.lax.rsqrt(acc + eps), 0.0)
            both = promoted_dtype(factor, g)
            return factor.astype(both) * g.astype(both)
        denominator = jnp.sqrt(acc) + eps
        both = promoted_dtype(denominator, g)
        return g.astype(both) / denominator.astype(both)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        acc = jax.tree.map(lambda g, s: add_promoted(s, abs_sq(g)), updates, state.sum_of_squares)
        updates = jax.tree.map(scale, updates, acc)
        acc = jax.tree.map(lambda a, old: a.astype(old.dtype), acc, state.sum_of_squares)
        return updates, ScaleByRssState(sum_of_squares=acc)

    return GradientTransformation(init, update)


def scale_by_diagonal(diagonal) -> GradientTransformation:
    """u = D g for a fixed diagonal D > 0 (given as a pytree like params): H^{-1}-preconditioning."""
    jax.tree.map(lambda d: check_positive("h_inv_diagonal", d), diagonal)

    def scale(d, g):
        g = jnp.asarray(g)
        check_broadcasts("h_inv_diagonal", jnp.shape(d), jnp.shape(g))
        both = promoted_dtype(d, g)
        return (jnp.asarray(d).astype(both) * g.astype(both)).astype(g.dtype)

    def init(params):
        jax.tree.map(lambda d, p: check_broadcasts("h_inv_diagonal", jnp.shape(d), jnp.shape(p)), diagonal, params)
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(scale, diagonal, updates), state

    return GradientTransformation(init, update)
