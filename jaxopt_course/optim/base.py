"""The optimizer abstraction: a pair of pure functions ``init`` and ``update``.

It is the same contract as ``optax.GradientTransformation`` (so our optimizers
compose with optax's, and optax's run in our runner):

* ``init(params) -> state``
* ``update(updates, state, params=None) -> (updates, new_state)``

States are NamedTuples of arrays (pytrees), so a whole optimizer state can be
carried through ``jax.lax.scan`` and batched with ``jax.vmap``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np

Params = Any
Updates = Any
OptState = Any
Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = Union[float, jax.Array, Schedule]


class GradientTransformation(NamedTuple):
    """``init(params) -> state`` and ``update(g, state, params) -> (u, state)``."""

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


class CountState(NamedTuple):
    """State holding only the step counter."""

    count: jax.Array  # shape=(), dtype=int32: number of updates applied so far.


def apply_updates(params: Params, updates: Updates) -> Params:
    """theta_{k+1} = theta_k + u_k, leaf by leaf, keeping each leaf's dtype."""
    return jax.tree.map(lambda p, u: (p + u).astype(p.dtype), params, updates)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Composition u = T_n(... T_1(g)): the state is the tuple of the parts' states."""

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        new_states = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


def check_positive(name: str, value: ScalarOrSchedule, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless a concrete step size / constant is positive and finite."""
    if callable(value):
        return
    try:
        v = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return  # a traced value (e.g. a vmapped learning rate): checked by the caller
    ok = v >= 0 if allow_zero else v > 0
    # Finite in the float dtype in force: 3.5e38 is a float64 but overflows float32.
    if not ok or not math.isfinite(v) or abs(v) > float(np.finfo(jnp.result_type(float)).max):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite (in {jnp.result_type(float)}) and {bound}, got {value!r}")


def check_in_unit_interval(name: str, value: float) -> None:
    """Raise ``ValueError`` unless 0 <= value < 1 (decay rates)."""
    try:
        v = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")


def as_schedule(value: ScalarOrSchedule) -> Schedule:
    """A step -> value callable from a constant or a schedule."""
    if callable(value):
        return value
    return lambda count: jnp.asarray(value)


def tree_zeros_like(tree):
    """A pytree of zeros with the shapes and dtypes of ``tree``."""
    return jax.tree.map(jnp.zeros_like, tree)


def safe_int32_increment(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the int32 maximum instead of wrapping around."""
    big = jnp.iinfo(jnp.int32).max
    return jnp.where(count < big, count + 1, big).astype(jnp.int32)
