"""Helpers shared by the non-convex experiment modules (F1, G1-G6): validation and plotting masks."""

from __future__ import annotations

import math

import numpy as np


def check_positive_int(name: str, value) -> None:
    """Raise ValueError unless value is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_positive(name: str, values) -> None:
    """Raise ValueError unless every value is a finite number > 0."""
    for v in np.atleast_1d(np.asarray(values, dtype=float)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {values!r}")


def until_divergence(steps: np.ndarray, values: np.ndarray, diverged_at: int):
    """(steps, values) restricted to the recorded steps before a divergence, so no NaN is ever drawn."""
    steps, values = np.asarray(steps), np.asarray(values)
    keep = np.ones(steps.shape, bool) if diverged_at < 0 else steps < diverged_at
    keep &= np.all(np.isfinite(values.reshape(values.shape[0], -1)), axis=1)
    return steps[keep], values[keep]


def none_if_negative(values) -> list:
    """Event steps as a list with -1 ('never happened') mapped to None."""
    return [None if int(v) < 0 else int(v) for v in np.asarray(values).ravel()]
