"""Figures that C1 and C2 share, drawn from ``Results.data`` only (so they can be redrawn from data.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from jaxopt_course import plotting
from jaxopt_course.experiments.classification.training import CURVES


def finite(values) -> np.ndarray:
    """Values with inf replaced by NaN (a diverged run is left out of the bands, never drawn)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def note_if_empty(ax, values) -> bool:
    """True if any value is finite; otherwise a note 'every run diverged' on the panel (and False: no log axis)."""
    if np.isfinite(np.asarray(values, dtype=float)).any():
        return True
    ax.text(0.5, 0.5, "every run diverged", transform=ax.transAxes, ha="center", va="center")
    return False


def rate_tag(rates, lr) -> str:
    """', lr 0.1' when several learning rates are drawn, else ''."""
    return "" if len(rates) == 1 else f", lr {lr:g}"


def learning_curves(d: xr.Dataset, path: Path, name: str) -> Path:
    """Train/test mean NLL (log scale) and accuracy against the epoch, bands over seeds, a line per learning rate."""
    title = f"{name}: {d.attrs['optimizer']}"
    epochs = d.epoch.values
    rates = d.learning_rate.values
    fig, (ax_loss, ax_acc) = plotting.figure(1, 2, width=5.0, height=3.8)
    for lr in rates:
        cell = d.sel(learning_rate=lr)
        for split in ("train", "test"):
            label = f"{split}{rate_tag(rates, lr)}"
            loss, acc = finite(cell[f"{split}_loss"]), finite(cell[f"{split}_accuracy"])
            plotting.band(ax_loss, epochs, plotting.positive(loss, 1e-30), label=label, log=True)
            plotting.band(ax_acc, epochs, 100.0 * acc, label=label, center="mean")
    plotting.label(ax_loss, "epoch", r"mean NLL $-\log p_\theta(y|x)$", f"{title}: loss", logy=True)
    plotting.label(ax_acc, "epoch", "accuracy (%)", f"{title}: accuracy")
    return plotting.save(fig, path, d[list(CURVES)])
