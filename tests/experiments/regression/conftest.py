"""Shared by the R tests: a check that a results.json-like structure holds only finite numbers."""

import math

import pytest


def _walk(obj):
    """Every leaf of a JSON-like structure."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


@pytest.fixture
def finite_numbers():
    """finite_numbers(obj): no None (JSON's stand-in for NaN/inf) and only finite numbers among the leaves."""
    return lambda obj: all(v is not None and (not isinstance(v, float) or math.isfinite(v)) for v in _walk(obj))
