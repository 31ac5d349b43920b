"""Shared by the N tests: the labels of the bands a figure draws (one per swept value)."""

import pytest

from jaxopt_course import plotting


@pytest.fixture
def band_labels(monkeypatch):
    """A list that collects the label of every band ``plotting.band`` draws while the test runs."""
    labels = []
    real = plotting.band

    def record(ax, x, ys, *, label, **kwargs):
        labels.append(label)
        return real(ax, x, ys, label=label, **kwargs)

    monkeypatch.setattr(plotting, "band", record)
    return labels
