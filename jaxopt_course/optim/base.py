"""The optimizer abstraction: a pair of pure functions ``init`` and ``update``.

It is the same contract as ``optax.GradientTransformation`` (so our optimizers
compose with optax's, and optax's run in our runner):

* ``init(params) -> state``
* ``update(updates, state, params=None, **extra_args) -> (updates, new_state)``

Every ``update`` accepts (and ignores) optax's extra keyword arguments, and ``chain``
passes them on to the parts that take them.

States are NamedTuples of arrays (pytrees), so a whole optimizer state can be
carried through ``jax.lax.scan`` and batched with ``jax.vmap``.
"""

from __future__ import annotations

import inspect
import math
import sys
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
    """``init(params) -> state`` and ``update(g, state, params=None, **extra_args) -> (u, state)``."""

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


class CountState(NamedTuple):
    """State holding only the step counter."""

    count: jax.Array  # shape=(), dtype=int32: number of updates applied so far.


def apply_updates(params: Params, updates: Updates) -> Params:
    """theta_{k+1} = theta_k + u_k, leaf by leaf, keeping each leaf's dtype; ``None`` leaves stay ``None``."""

    def add(p, u):
        if p is None:
            return None
        p = jnp.asarray(p)
        wide = promoted_dtype(p, u)
        return (p.astype(wide) + jnp.asarray(u).astype(wide)).astype(p.dtype)

    return jax.tree.map(add, params, updates, is_leaf=lambda x: x is None)


def _takes_extra_args(transform) -> bool:
    """Whether ``transform.update`` accepts keyword arguments beyond (updates, state, params)."""
    optax = sys.modules.get("optax")  # never imported here: only an optax already in use can be one of its types
    if optax is not None and isinstance(transform, optax.GradientTransformationExtraArgs):
        return True
    try:
        parameters = inspect.signature(transform.update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in parameters)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Composition u = T_n(... T_1(g)): the state is the tuple of the parts' states."""
    takes_extra = tuple(_takes_extra_args(t) for t in transforms)

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None, **extra_args):
        new_states = []
        for t, s, extra in zip(transforms, state, takes_extra):
            updates, s = t.update(updates, s, params, **(extra_args if extra else {}))
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


def _concrete(name: str, value):
    """``value`` as a NumPy array of reals, or None where it is traced (checked by the caller)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value) if abs(value) < 2**1000 else math.inf  # beyond int64 NumPy makes an object array
    try:
        array = np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or array of reals, got {value!r}")
    return array.astype(np.float64)


def check_positive(name: str, value: ScalarOrSchedule, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless a concrete step size / constant (every entry of an array) is positive and finite."""
    if callable(value):
        return
    v = _concrete(name, value)
    if v is None:
        return
    ok = v >= 0 if allow_zero else v > 0
    # Finite in the float dtype in force: 3.5e38 is a float64 but overflows float32.
    big = float(np.finfo(jnp.result_type(float)).max)
    if not np.all(ok & np.isfinite(v) & (np.abs(v) <= big)):
        bound = ">= 0" if allow_zero else "> 0"
        what = "every entry of " if v.ndim else ""
        raise ValueError(f"{what}{name} must be finite (in {jnp.result_type(float)}) and {bound}, got {value!r}")


def check_in_unit_interval(name: str, value: float, *, include_one: bool = False) -> None:
    """Raise ``ValueError`` unless 0 <= value < 1 (decay rates), or 0 <= value <= 1 with ``include_one``."""
    v = _concrete(name, value)
    if v is None:
        return
    if not np.all((v >= 0.0) & ((v <= 1.0) if include_one else (v < 1.0))):
        raise ValueError(f"{name} must lie in [0, 1{']' if include_one else ')'}, got {value!r}")


def check_broadcasts(name: str, shape: tuple, leaf_shape: tuple) -> None:
    """Raise ``ValueError`` unless an array argument of ``shape`` broadcasts to a parameter leaf of ``leaf_shape``."""
    try:
        ok = np.broadcast_shapes(shape, leaf_shape) == tuple(leaf_shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} of shape {tuple(shape)} does not broadcast to a parameter of shape {tuple(leaf_shape)}")


def promoted_dtype(*arrays) -> np.dtype:
    """The dtype standard promotion gives ``arrays``: where dtypes meet, the casts are explicit (strict-clean)."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(*arrays)


def canonical_dtype(dtype) -> np.dtype | None:
    """``dtype`` as JAX stores it (float64 -> float32 without x64), or None for "like the parameters"."""
    return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def abs_sq(x: jax.Array) -> jax.Array:
    """|x|^2 = Re(x conj(x)), real: x * x for real x."""
    return x * x if jnp.isrealobj(x) else (x * jnp.conj(x)).real


def add_promoted(a, b):
    """a + b for two arrays, in their promoted dtype (as optax's standard promotion would give)."""
    wide = promoted_dtype(a, b)
    return jnp.asarray(a).astype(wide) + jnp.asarray(b).astype(wide)


def tree_zeros_like(tree, dtype=None):
    """A pytree of zeros with the shapes of ``tree`` and its dtypes (or ``dtype``)."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def safe_int32_increment(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the int32 maximum instead of wrapping around."""
    big = jnp.iinfo(jnp.int32).max
    return jnp.where(count < big, count + 1, big).astype(jnp.int32)
