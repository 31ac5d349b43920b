"""Figures shared by N1-N5: loss curves and fitted functions as bands over initializations, per-init scatters.

A figure is a list of panels (one row each), a panel a title and its lines, a line a
legend label and one cell of the run dataset (dimensions ``seed``, then ``epoch`` or
``x_near``/``x_far``), chosen by coordinate with ``lines``. Initializations that
diverged are left out of a band and counted in its label.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, plotting
from jaxopt_course.experiments.networks.problem import FIT_RANGES
from jaxopt_course.problems import least_squares as ls


def lines(d: xr.Dataset, dims: tuple, label: Callable[[dict], str]) -> list:
    """[(label(coords), cell)] for every combination of the coordinates of ``dims`` (in order)."""
    combos = itertools.product(*(d[dim].values for dim in dims))
    return [(label(dict(zip(dims, c))), d.sel(dict(zip(dims, c)))) for c in combos]


def grid(nrows: int, ncols: int, **kwargs):
    """A figure and its axes as an (nrows, ncols) array, whatever the sizes."""
    fig, axes = plotting.figure(nrows, ncols, **kwargs)
    return fig, np.asarray(axes).reshape(nrows, ncols)


def survivors(cell: xr.Dataset, name: str) -> np.ndarray:
    """cell[name] as (inits, ...) over the initializations that did not diverge."""
    return cell[name].transpose("seed", ...).values[cell.diverged_at.values < 0]


def band_label(label: str, cell: xr.Dataset) -> str:
    """The line's label, with the count of diverged inits left out of the plot."""
    text = divergence.summary(cell.diverged_at.values, runs="initializations")
    return label if text is None else f"{label} ({text}; not shown)"


def caption(d: xr.Dataset) -> str:
    """What the bands show, over how many initializations."""
    return plotting.band_caption(d.sizes["seed"], runs="initializations")


def losses(panels: list, d: xr.Dataset, path: Path, title: str) -> Path:
    """Training (left) and test (right) loss against the epoch, one row per panel, log-y bands."""
    fig, axes = grid(len(panels), 2, width=6.0)
    for row, (name, row_lines) in enumerate(panels):
        for col, metric in enumerate(("train_loss", "test_loss")):
            ax = axes[row, col]
            for label, cell in row_lines:
                values = survivors(cell, metric)
                if len(values):
                    plotting.band(ax, cell.epoch.values, plotting.positive(values), label=band_label(label, cell))
            what = "training" if metric == "train_loss" else "test"
            plotting.label(ax, "epoch k", f"{what} loss L(θ_k)", f"{title}: {name}", logy=True)
    fig.suptitle(caption(d), fontsize=9)
    return plotting.save(fig, path, d[["train_loss", "test_loss", "diverged_at"]])


def data_points(ax, d: xr.Dataset) -> None:
    """The target curve (on [-1.1, 1.1] only: it grows like e^{2|x|}), training and held-out points."""
    r = FIT_RANGES["near"]
    x = np.linspace(-r, r, 400)
    ax.plot(x, np.asarray(ls.target_function(jnp.asarray(x))), "k:", lw=1, label=r"$\sin(5x)e^{|2x|}/10$")
    ax.plot(d.x_train.values, d.y_train.values, "ko", ms=4, label="training points")
    ax.plot(d.x_test.values, d.y_test.values, "s", mfc="none", mec="tab:red", ms=5, label="test points")


def fit_axes(ax, d: xr.Dataset, rng: str, title: str) -> None:
    """Limits, data points, labels and legend of a panel of fitted functions on [-r, r]."""
    r = FIT_RANGES[rng]
    ax.set_xlim(-r, r)
    if rng == "near":
        ax.set_ylim(-1.0, 1.0)
    data_points(ax, d)
    plotting.label(ax, "x", "f(x; θ_T)", f"{title}, x ∈ [-{r:g}, {r:g}]")
    ax.legend(fontsize=6)


def fits(panels: list, d: xr.Dataset, path: Path, title: str) -> Path:
    """Fitted functions f(x; theta_T) on [-1.1, 1.1] and [-11, 11]: one row per panel, median bands."""
    fig, axes = grid(len(panels), 2)
    for row, (name, row_lines) in enumerate(panels):
        for col, rng in enumerate(FIT_RANGES):
            for label, cell in row_lines:
                values = survivors(cell, f"fit_{rng}")
                if len(values):
                    plotting.band(axes[row, col], cell[f"x_{rng}"].values, values, label=band_label(label, cell))
            fit_axes(axes[row, col], d, rng, f"{title}: {name}")
    fig.suptitle(caption(d), fontsize=9)
    keys = ["fit_near", "fit_far", "x_train", "y_train", "x_test", "y_test", "diverged_at"]
    return plotting.save(fig, path, d[keys])


def losses_and_fits(panels: list, d: xr.Dataset, out_dir: Path, exp_id: str) -> list:
    """The two figures of N1-N4: ``<id>_losses`` and ``<id>_fits``."""
    stem = exp_id.lower()
    return [losses(panels, d, out_dir / f"{stem}_losses", exp_id), fits(panels, d, out_dir / f"{stem}_fits", exp_id)]


def per_init(ax, groups: list) -> None:
    """One column of points per (label, values) group, the values of its initializations spread sideways."""
    for c, (label, values) in enumerate(groups):
        ax.plot(c + np.linspace(-0.1, 0.1, len(values)), values, "o", ms=4, label=label)
    ax.set_xticks(range(len(groups)), [label for label, _ in groups])
