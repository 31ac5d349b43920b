"""Shared figure helpers: the Agg backend (unless one was chosen, like Jupyter's inline one),
mean/median and spread bands over seeds, log axes for quantities that go to 0, and
figures saved atomically with their data."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND"):  # Jupyter sets its inline backend here; importing us must not undo it
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxopt_course.results import atomic_write_bytes, save_npz  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8})


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 5.0, height: float = 3.6, **kwargs):
    """A new figure with an (nrows, ncols) grid of axes (squeezed like plt.subplots)."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=True, **kwargs)


def band(ax, x, ys, *, label: str, center: str = "median", spread=(10.0, 90.0), se: float | None = None,
         color=None, log: bool = False, linestyle="-", floor: float | None = None):
    """Plot the center of ys (S runs x R points) over x with a shaded band over runs.

    Quantiles (default): ``center`` is 'median' or 'mean' and the band spans the
    ``spread`` percentiles. With ``se=k`` the line is the mean and the band is
    mean +- k standard errors (``stats.mean_and_standard_error``). With ``log=True``
    the statistics are taken of log(ys) (a geometric mean: the honest center of a
    quantity plotted on a log axis). NaN entries (e.g. after a divergence) are left
    out of each column's statistics. Say what is drawn with ``band_caption``.
    With ``floor=f`` the band's lower edge is at least f x the center (e.g. 0.01: a
    mean - k SE edge at or below 0 is drawn at center / 100 on a log axis).
    """
    from jaxopt_course.stats import nan_mean_and_standard_error

    ys = np.asarray(ys, dtype=float)
    if ys.ndim == 1:
        ys = ys[None]
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', got {center!r}")
    vals = np.log(np.maximum(ys, np.finfo(float).tiny)) if log else ys
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        if se is not None:
            mid, err = nan_mean_and_standard_error(vals, axis=0)
            lo, hi = mid - se * err, mid + se * err
        else:
            mid = np.nanmedian(vals, 0) if center == "median" else np.nanmean(vals, 0)
            lo, hi = np.nanpercentile(vals, spread, axis=0)
    if log:
        mid, lo, hi = np.exp(mid), np.exp(lo), np.exp(hi)
    if floor is not None:
        lo = np.maximum(lo, floor * mid)
    (line,) = ax.plot(x, mid, label=label, color=color, linestyle=linestyle)
    if ys.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def band_caption(num_seeds: int, *, center: str = "median", spread=(10.0, 90.0), se: float | None = None,
                 log: bool = False, runs: str = "seeds") -> str:
    """What ``band`` draws, for a title or caption: e.g. 'lines: median; bands: 10-90% over 100 seeds'."""
    if se is not None:
        return f"lines: {'geometric ' if log else ''}mean; bands: ± {se:g} standard errors over {num_seeds} {runs}"
    what = "geometric mean" if (log and center == "mean") else center
    return f"lines: {what}; bands: {spread[0]:g}-{spread[1]:g}% over {num_seeds} {runs}"


def positive(values, floor: float = 1e-300):
    """max(values, floor): keeps exact zeros visible on a log axis."""
    return np.maximum(np.asarray(values, dtype=float), floor)


def label(ax, xlabel: str, ylabel: str, title: str | None = None, *, logy: bool = False, logx: bool = False):
    """Axis labels, optional title and log scales, and a legend if anything is labelled."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend()


def save(fig, path: Path, data) -> Path:
    """Write the figure as PNG and its plotted data (a dict of arrays or an xarray Dataset) as NPZ beside it."""
    path = Path(path).with_suffix(".png")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    save_npz(path.with_suffix(".npz"), data)
    return path
