"""R2's figures: heat maps of the grid's MSEs and the validation curves behind them."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.patches import Rectangle

from jaxopt_course import divergence, plotting


def _heat_panel(ax, values, first, s: xr.Dataset, norm, title):
    """One lr x batch heat map of log10 MSE; diverged cells grey and labelled with their step."""
    masked = np.ma.masked_where(first >= 0, np.log10(np.where(first >= 0, 1.0, values)))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.8")
    image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        text = f"div.\nstep {first[i, j]}" if first[i, j] >= 0 else f"{v:.3f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="k" if first[i, j] >= 0 else "w")
    ax.set_xticks(range(s.sizes["batch_size"]), [str(b) for b in s.batch_size.values])
    ax.set_yticks(range(s.sizes["learning_rate"]), [f"{lr:g}" for lr in s.learning_rate.values])
    ax.grid(False)
    plotting.label(ax, "batch size B", r"learning rate $\eta$", title)
    return image


def heatmap(s: xr.Dataset, out_path):
    """Validation (top) and test (bottom) MSE over lr x batch, one column per epoch count; the chosen cell in red."""
    epochs, best, first = s.epochs.values, s.attrs["best"], s.first.values
    finite = np.concatenate([s[f"{n}_mean"].values[first < 0] for n in ("val", "test")])
    lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.size else (0.0, 1.0)
    norm = matplotlib.colors.Normalize(lo, max(hi, lo + 1e-6))
    fig, axes = plotting.figure(2, len(epochs), width=3.6, height=3.2)
    axes = np.asarray(axes).reshape(2, len(epochs))
    for row, name in enumerate(("val", "test")):
        for k, e in enumerate(epochs):
            image = _heat_panel(axes[row, k], s[f"{name}_mean"].values[..., k], first[..., k], s, norm,
                                f"{'validation' if name == 'val' else 'test'} MSE, {e} epochs")
            if best is not None and best[2] == k:
                axes[row, k].add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, ec="r", lw=2))
        fig.colorbar(image, ax=axes[row, -1], label=r"$\log_{10}$ MSE (grey: diverged; red: chosen)")
    return plotting.save(fig, out_path, s[["val_mean", "val_se", "test_mean", "test_se", "first"]])


def validation_curves(d: xr.Dataset, s: xr.Dataset, out_path):
    """Validation MSE against the epoch, one panel per batch size, mean +- k SE, cut before divergence."""
    k, x = float(d.attrs["num_stderr"]), d.epoch.values
    fig, axes = plotting.figure(1, d.sizes["batch_size"], width=4.4, height=3.4)
    for j, ax in enumerate(np.ravel(axes)):
        b = int(d.batch_size[j])
        for i, lr in enumerate(d.learning_rate.values):
            first = int(s.curve_first[{"learning_rate": i, "batch_size": j}])
            ys = d.val_mse[{"batch_size": j, "learning_rate": i}].transpose("seed", "epoch").values
            ys = divergence.mask_after(x * int(d.steps_per_epoch[j]), ys, np.full(ys.shape[0], first))
            note = "" if first < 0 else f" (diverged at step {first})"
            plotting.band(ax, x, ys, se=k, floor=0.01, label=f"lr {lr:g}{note}")
        for e in d.epochs.values:
            ax.axvline(e, color="0.5", ls=":", lw=0.8)
        plotting.label(ax, "epoch", "validation MSE (standardized y)", f"batch {b}: mean $\\pm$ {k:g} SE",
                       logy=bool(np.isfinite(s.curve_mean[{"batch_size": j}].values).any()))
    return plotting.save(fig, out_path, s[["curve_mean", "curve_se", "curve_first"]])
