"""Checks of user-given values, the one place that words them.

Each check is ``check(name, value) -> None`` and raises ``ValueError`` with one
line naming the value. Config fields carry one (``experiments.config.param``), so
the same words reach a library user and the command line.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Iterable

Check = Callable[[str, object], None]


def _number(value) -> float | None:
    """float(value) for a real number (bool excluded), else None."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def positive_int(name: str, value) -> None:
    """value is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def non_negative_int(name: str, value) -> None:
    """value is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def positive(name: str, value) -> None:
    """value is a finite number > 0."""
    v = _number(value)
    if v is None or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def non_negative(name: str, value) -> None:
    """value is a finite number >= 0."""
    v = _number(value)
    if v is None or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def finite(name: str, value) -> None:
    """value is a finite number."""
    v = _number(value)
    if v is None or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def unit_interval(name: str, value) -> None:
    """0 <= value < 1 (decay rates, momenta)."""
    v = _number(value)
    if v is None or not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")


def open_unit_interval(name: str, value) -> None:
    """0 < value < 1 (probabilities, fractions, confidence levels)."""
    v = _number(value)
    if v is None or not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")


def one_of(choices: Iterable[str]) -> Check:
    """A check that value is one of ``choices``."""
    choices = tuple(choices)

    def check(name: str, value) -> None:
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")

    check.choices = choices
    return check


def at_least(minimum: int) -> Check:
    """A check that value is an integer >= minimum."""

    def check(name: str, value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

    return check


BYTES_PER_SEED = 64  # the least a replicate holds: its key (8 bytes), its carry and a few recorded values


def max_seeds() -> int:
    """The most replicates one sweep can hold: this machine's memory / BYTES_PER_SEED, below 2^31 (XLA's int32 sizes)."""
    import psutil

    return min(2**31 - 1, psutil.virtual_memory().total // BYTES_PER_SEED)


def seed_count(minimum: int = 1) -> Check:
    """A check that value is an integer >= minimum and at most ``max_seeds()`` (a bound from memory)."""
    low = positive_int if minimum == 1 else at_least(minimum)

    def check(name: str, value) -> None:
        low(name, value)
        bound = max_seeds()
        if value > bound:
            raise ValueError(f"{name} must be at most {bound:,} on this machine ({BYTES_PER_SEED} bytes per seed "
                             f"at the least, of {bound * BYTES_PER_SEED / 2**30:.0f} GiB of memory), got {value:.3g}")

    return check


def each(check: Check) -> Check:
    """A check applied to every entry of a tuple (and that the tuple is not empty)."""

    def check_all(name: str, values) -> None:
        if not isinstance(values, tuple) or not values:
            raise ValueError(f"{name} must be a non-empty list of values, got {values!r}")
        for v in values:
            check(name, v)

    check_all.choices = getattr(check, "choices", None)
    return check_all


def increasing(name: str, values) -> None:
    """values is a pair (lo, hi) of finite numbers with lo < hi."""
    if not isinstance(values, tuple) or len(values) != 2 or any(_number(v) is None for v in values):
        raise ValueError(f"{name} must be two numbers lo,hi, got {values!r}")
    lo, hi = map(float, values)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with lo < hi, got {values!r}")


def optional(check: Check) -> Check:
    """A check that lets None through (an Optional field's 'use the default') and applies ``check`` otherwise."""

    def check_or_none(name: str, value) -> None:
        if value is not None:
            check(name, value)

    check_or_none.choices = getattr(check, "choices", None)
    return check_or_none


def layer_sizes(inputs: int, outputs: int) -> Check:
    """A check that value names a network's layer sizes, e.g. '1-10-10-1': positive integers, first and last fixed."""

    def check(name: str, value) -> None:
        parts = value.split("-") if isinstance(value, str) else []
        sizes = [int(p) for p in parts if p.isdigit()]
        if len(sizes) != len(parts) or len(sizes) < 2 or min(sizes) < 1 or (sizes[0], sizes[-1]) != (inputs, outputs):
            raise ValueError(f"{name} must be layer sizes {inputs}-w_1-...-{outputs} (positive integers), "
                             f"got {value!r}")

    return check


def existing_directory(name: str, value) -> None:
    """value is None (not given) or a path to an existing directory."""
    if value is None:
        return
    if not isinstance(value, (str, os.PathLike)) or not os.path.isdir(os.path.expanduser(value)):
        raise ValueError(f"{name} {value!r} does not exist (or is not a directory)")
