"""Input checks shared by the problem modules: non-finite data raises ValueError.

Checks run on concrete arrays only (an eager call); under jit the values are
unknown, non-finite numbers propagate, and the runner reports the run as
diverged at its step.
"""

from __future__ import annotations

import functools
import inspect

import jax
import numpy as np


def check_finite(name: str, value) -> None:
    """Raise ValueError if a concrete array (or pytree of them) has inf/NaN entries."""
    for leaf in jax.tree.leaves(value):
        if isinstance(leaf, jax.core.Tracer) or isinstance(leaf, (str, bytes)):
            continue
        try:
            values = np.asarray(leaf)  # NumPy: a jnp op would be staged when called while tracing
        except (TypeError, ValueError):
            continue
        if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
            raise ValueError(f"{name} has inf or NaN entries")


def finite_inputs(fn):
    """Decorate ``fn`` so that each concrete array argument with inf/NaN raises ValueError."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for name, value in signature.bind(*args, **kwargs).arguments.items():
            check_finite(f"{fn.__name__}: {name}", value)
        return fn(*args, **kwargs)

    return wrapper


def check_regression_data(theta, X, y) -> None:
    """Raise ValueError unless theta is (d,) (or None), X is (N, d) with N, d >= 1, y is (N,), all finite."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (N, d), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"empty data: X has shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if theta is not None and (theta.ndim != 1 or theta.shape[0] != X.shape[1]):
        raise ValueError(f"theta must have shape ({X.shape[1]},), got {theta.shape}")
    for name, a in (("theta", theta), ("X", X), ("y", y)):
        if a is not None:
            check_finite(name, a)


def concrete(value):
    """value as a NumPy array if it is known now (not a tracer), else None: checks by value run only eagerly."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value)):
        return None
    try:
        return np.asarray(value)
    except (TypeError, ValueError):
        return None


def check_positive_entries(name: str, value) -> None:
    """Raise ValueError if a concrete array has an entry <= 0 or NaN."""
    values = concrete(value)
    if values is not None and values.size and not np.all(values > 0):
        raise ValueError(f"{name} must have entries > 0, got {values.tolist() if values.size < 12 else values}")


def check_index(name: str, i, size: int) -> None:
    """Raise ValueError if a concrete index (or array of them) lies outside [0, size)."""
    values = concrete(i)
    if values is not None and values.size and not (np.issubdtype(values.dtype, np.integer)
                                                   and np.all((values >= 0) & (values < size))):
        raise ValueError(f"{name} must be integer indices in [0, {size}), got {values.tolist()}")
