"""R1's figures: test-loss bands per gamma, the learning-rate sweep and the final distances, a block per noise scale."""

from __future__ import annotations

import numpy as np
import xarray as xr

from jaxopt_course import divergence, plotting

COLORS = {"sgd": "C0", "adam": "C1", "adagrad": "C2"}


def _noise_text(s: xr.Dataset, n: int) -> str:
    """', noise s = v' in a title when the noise scale is swept, else ''."""
    return f", noise s = {s.grad_noise_scale.values[n]:g}" if s.sizes["grad_noise_scale"] > 1 else ""


def _gamma_axes(s: xr.Dataset):
    """A figure with 2 rows of gamma panels per noise scale: (fig, axes[noise, gamma]); unused panels hidden."""
    rows, cols = s.sizes["grad_noise_scale"], (s.sizes["gamma"] + 1) // 2
    fig, axes = plotting.figure(2 * rows, cols, width=4.6, height=3.4)
    axes = np.asarray(axes).reshape(rows, 2 * cols)
    for ax in axes[:, s.sizes["gamma"]:].ravel():
        ax.axis("off")
    return fig, axes


def at_rate(values: xr.DataArray, lr_index: xr.DataArray) -> xr.DataArray:
    """values at learning-rate position lr_index[cell] in every cell (NaN where lr_index is -1: all diverged)."""
    return values.isel(learning_rate=lr_index.clip(min=0)).where(lr_index >= 0).drop_vars("learning_rate")


def _curve_label(s: xr.Dataset, index: dict, prefix: str) -> str:
    """Legend text, with the divergence step when some replicate of the cell diverged."""
    first = int(s.first[index])
    return prefix if first < 0 else f"{prefix} (diverged at step {first} in {int(s['count'][index])} replicates)"


def curves(d: xr.Dataset, s: xr.Dataset, lr_index: xr.DataArray, out_path, title: str):
    """One panel per gamma, one line per method at rate lr_index[method, gamma, noise]: test loss mean +- k SE."""
    k, steps = float(d.attrs["num_stderr"]), d.step.values
    fig, axes = _gamma_axes(s)
    for (n, j), ax in np.ndenumerate(axes[:, : s.sizes["gamma"]]):
        g = float(s.gamma.values[j])
        for i, m in enumerate(s.method.values):
            lr = int(lr_index[{"method": i, "gamma": j, "grad_noise_scale": n}])
            if lr < 0:
                continue
            index = {"method": i, "gamma": j, "learning_rate": lr, "grad_noise_scale": n}
            ys = d.test_loss[index].transpose("seed", "step").values
            ys = divergence.mask_after(steps, ys, np.full(ys.shape[0], int(s.first[index])))
            plotting.band(ax, steps, ys, se=k, floor=0.01, color=COLORS.get(m),
                          label=_curve_label(s, index, f"{m}, lr {d.learning_rate.values[lr]:g}"))
        ax.axhline(float(d.ls_test_loss[j]), color="k", ls="--", lw=0.8, label="least squares")
        plotting.label(ax, "step k", rf"test loss $\frac{{1}}{{M}}\sum|a\cdot\theta_k-y|^{{{g:g}}}$",
                       rf"$\gamma={g:g}${_noise_text(s, n)}: mean $\pm$ {k:g} SE", logy=True)
    fig.suptitle(title, fontsize=10)
    plotted = xr.Dataset({f"test_loss_{name}": at_rate(s[f"test_loss_{name}"], lr_index) for name in ("mean", "se")})
    plotted["learning_rate_index"] = lr_index
    return plotting.save(fig, out_path, plotted)


def sweep(s: xr.Dataset, out_path, k: float):
    """One panel per gamma: final test loss (mean +- k SE) against the learning rate, per method."""
    lrs = s.learning_rate.values
    fig, axes = _gamma_axes(s)
    final_mean, final_se = s.test_loss_mean.isel(step=-1), s.test_loss_se.isel(step=-1)
    for (n, j), ax in np.ndenumerate(axes[:, : s.sizes["gamma"]]):
        for i, m in enumerate(s.method.values):
            index = {"method": i, "gamma": j, "grad_noise_scale": n}
            ok = s.first[index].values < 0
            mean, se = final_mean[index].values, final_se[index].values
            note = "" if ok.all() else f" (diverged at lr {', '.join(f'{v:g}' for v in lrs[~ok])})"
            ax.errorbar(lrs[ok], mean[ok], yerr=k * se[ok], marker="o", ms=3, capsize=2, color=COLORS.get(m),
                        label=m + note)
        plotting.label(ax, r"learning rate $\eta$", r"final test loss", rf"$\gamma={s.gamma.values[j]:g}$, step "
                       f"{int(s.step.values[-1])}{_noise_text(s, n)}: mean $\\pm$ {k:g} SE", logx=True, logy=True)
    plotted = xr.Dataset({"final_mean": final_mean, "final_se": final_se, "first_diverged": s.first})
    return plotting.save(fig, out_path, plotted)


def distance(d: xr.Dataset, s: xr.Dataset, course: int, out_path):
    """Final ||theta - theta_true|| per gamma and method, at the course's rate and at each best rate."""
    k, methods, gammas = float(d.attrs["num_stderr"]), list(s.method.values), s.gamma.values
    rows = s.sizes["grad_noise_scale"]
    fig, axes = plotting.figure(rows, 2, width=5.6, height=3.6)
    axes = np.asarray(axes).reshape(rows, 2)
    final = {name: s[f"distance_{name}"].isel(step=-1) for name in ("mean", "se")}
    at = {"course": xr.full_like(s.best, course), "best": s.best}
    saved = {f"{which}_{name}": at_rate(v, at[which]) for which in at for name, v in final.items()}
    x, width = np.arange(len(gammas)), 0.8 / len(methods)
    for (n, c), ax in np.ndenumerate(axes):
        which = ("course", "best")[c]
        for i, m in enumerate(methods):
            index = {"method": i, "grad_noise_scale": n}
            mean, se = saved[f"{which}_mean"][index].values, saved[f"{which}_se"][index].values
            ok, offset = np.isfinite(mean), (i - (len(methods) - 1) / 2) * width
            ax.bar(x[ok] + offset, mean[ok], width, yerr=k * se[ok], capsize=2, color=COLORS.get(m), label=m)
        ax.axhline(float(d.ls_distance), color="k", ls="--", lw=0.8, label="least squares")
        ax.set_xticks(x, [f"{g:g}" for g in gammas])
        title = f"at lr {d.learning_rate.values[course]:g}" if which == "course" else "at each best lr"
        plotting.label(ax, r"$\gamma$", r"$\|\theta_T-\theta_{true}\|_2$", f"final distance {title}"
                       f"{_noise_text(s, n)} (mean $\\pm$ {k:g} SE; missing bar = diverged)", logy=True)
    return plotting.save(fig, out_path, xr.Dataset(saved))
