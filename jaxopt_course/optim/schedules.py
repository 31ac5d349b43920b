"""Step-size schedules as plain callables ``k -> gamma_k`` (k = 0, 1, 2, ...)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxopt_course.optim.base import Schedule, check_positive


def constant(value: float) -> Schedule:
    """gamma_k = c."""
    check_positive("value", value)
    return lambda count: jnp.full((), value, dtype=jnp.result_type(float))


def inverse_time(value: float) -> Schedule:
    """gamma_k = c / (k + 1)."""
    check_positive("value", value)

    def schedule(count: jax.Array) -> jax.Array:
        return value / (jnp.asarray(count, jnp.result_type(float)) + 1.0)

    return schedule


def staircase(value: float, period: int) -> Schedule:
    """gamma_k = c / (floor(k / K) + 1): the step drops every K steps.

    Examples:
        >>> from jaxopt_course import optim
        >>> gamma = optim.staircase(0.1, period=1000)
        >>> [round(float(gamma(k)), 4) for k in (0, 999, 1000, 2500)]
        [0.1, 0.1, 0.05, 0.0333]
    """
    check_positive("value", value)
    if int(period) != period or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")

    def schedule(count: jax.Array) -> jax.Array:
        stage = jnp.floor_divide(jnp.asarray(count), period)
        return value / (stage.astype(jnp.result_type(float)) + 1.0)

    return schedule
