"""R2 machinery: minibatch SGD on a two-layer linear network over a hyperparameter grid.

The config is ``regression.GridSearchConfig``. Per batch size, one ``sweep`` runs
every seed (vmapped, sharded) and inside it every learning rate (vmapped) for
max(epochs) epochs, recording the train / validation / test MSE after every epoch;
the epochs axis of the grid is read off those curves. Table arrays are indexed
[learning rate, batch size, epochs]; curve arrays [batch size, learning rate, epoch].
"""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.patches import Rectangle

from jaxopt_course import optim, plotting
from jaxopt_course.data import diabetes
from jaxopt_course.models import linear_network
from jaxopt_course.problems.least_squares import unique_solution
from jaxopt_course.results import divergence_message
from jaxopt_course.run import not_finite, optimizer_init, optimizer_step, run, stride_grid
from jaxopt_course.stats import mean_and_standard_error

SPLITS = ("train", "val", "test")
DATA_NOTE = ("diabetes data (442 patients, 10 features; Efron, Hastie, Johnstone and Tibshirani, "
             "'Least Angle Regression', Ann. Statist. 2004), the copy bundled with scikit-learn "
             "(sklearn.datasets.load_diabetes, BSD-3-Clause licence), no download")

# ----------------------------------------------------------------------------- compute


def load_splits(key: jax.Array, config) -> diabetes.Splits:
    """The diabetes data split by ``key`` and standardized with training statistics."""
    return diabetes.diabetes_splits(key, config.val_fraction, config.test_fraction)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    """floor(n_train / B): each epoch is one random permutation cut into full batches (the rest dropped)."""
    if batch_size > num_train:
        raise ValueError(f"batch size {batch_size} exceeds the {num_train} training rows")
    return num_train // batch_size


def epoch_sampler(num_train: int, batch_size: int):
    """(key, n) -> (n, B) indices: n / steps_per_epoch epochs, each a fresh permutation."""
    per_epoch = steps_per_epoch(num_train, batch_size)

    def sample(key, n):
        perms = jax.vmap(lambda k: jax.random.permutation(k, num_train))(jax.random.split(key, n // per_epoch))
        return perms[:, : per_epoch * batch_size].reshape(n, batch_size)

    return sample


def _split_mse(params, hidden: int, splits: diabetes.Splits) -> dict:
    """{'train', 'val', 'test'}: the network's MSE on each split."""
    pairs = {"train": (splits.x_train, splits.y_train), "val": (splits.x_val, splits.y_val),
             "test": (splits.x_test, splits.y_test)}
    return {name: linear_network.mse(params, hidden, x, y) for name, (x, y) in pairs.items()}


def training_diverged(params, hidden: int, splits: diabetes.Splits, threshold: float) -> jax.Array:
    """True iff a parameter is inf/NaN or the training MSE exceeds ``threshold`` (or is NaN)."""
    loss = linear_network.mse(params, hidden, splits.x_train, splits.y_train)
    return not_finite(params) | ~(loss <= threshold)


def grid_seed(config, batch_size: int, key: jax.Array, splits: diabetes.Splits):
    """One seed: one initialization and batch order, every learning rate (vmapped), MSEs every epoch."""
    k_init, k_order = jax.random.split(key)
    num_train = splits.x_train.shape[0]
    params0 = linear_network.init(k_init, splits.x_train.shape[1], config.hidden, splits.x_train.dtype)
    per_epoch = steps_per_epoch(num_train, batch_size)
    total = per_epoch * max(config.epochs)

    def grad(params, idx):
        return jax.grad(linear_network.mse)(params, config.hidden, splits.x_train[idx], splits.y_train[idx])

    def diverged(state):
        return training_diverged(state.params, config.hidden, splits, config.divergence_threshold)

    def one(lr):
        opt = optim.sgd(lr)
        trace = run(optimizer_step(grad, opt), optimizer_init(params0, opt), total,
                    metrics=lambda s: _split_mse(s.params, config.hidden, splits),
                    record=stride_grid(total, per_epoch), key=k_order, sample=epoch_sampler(num_train, batch_size),
                    chunk=total, diverged=diverged)
        return trace.metrics, trace.diverged_at

    return jax.vmap(one)(jnp.asarray(config.learning_rates, splits.x_train.dtype))


def ols_baseline(splits: diabetes.Splits) -> dict:
    """Train, validation and test MSE of least squares with an intercept (the network's function class)."""
    def design(x):
        return jnp.concatenate([jnp.ones((x.shape[0], 1), x.dtype), x], axis=1)

    w = unique_solution(design(splits.x_train), splits.y_train)
    mse = {n: float(jnp.mean((design(x) @ w - y) ** 2)) for n, x, y in
           (("train", splits.x_train, splits.y_train), ("val", splits.x_val, splits.y_val),
            ("test", splits.x_test, splits.y_test))}
    return {f"{n}_mse": v for n, v in mse.items()}


# ----------------------------------------------------------------------------- summaries


def _first(diverged_at: np.ndarray, limit) -> tuple[np.ndarray, np.ndarray]:
    """Over seeds (axis 0): first step <= limit at which a seed diverged (or -1), and how many did."""
    hit = (diverged_at >= 0) & (diverged_at <= limit)
    first = np.where(hit, diverged_at, np.iinfo(np.int32).max).min(0)
    return np.where(hit.any(0), first, -1).astype(np.int32), hit.sum(0).astype(np.int32)


def _mean_se(values) -> tuple[np.ndarray, np.ndarray]:
    """(mean, SE) over seeds (axis 0) as float64 NumPy arrays."""
    return tuple(np.asarray(v, np.float64) for v in mean_and_standard_error(values))


def _batch_summary(run_out, config, per_epoch: int) -> dict:
    """Cells [lr, epochs] and curves [lr, epoch] of one batch size (NaN where diverged)."""
    metrics, div = (jax.tree.map(np.asarray, run_out[0]), np.asarray(run_out[1]))  # (S, L, E+1), (S, L)
    epochs = np.asarray(config.epochs)
    first, count = _first(div[..., None], epochs * per_epoch)  # (L, E)
    out = {"first": first, "count": count}
    for name in SPLITS:
        mean, se = _mean_se(metrics[name][..., epochs])  # (L, E)
        out[f"{name}_mean"], out[f"{name}_se"] = np.where(first < 0, mean, np.nan), np.where(first < 0, se, np.nan)
    curve_first, _ = _first(div, np.iinfo(np.int32).max)
    record_steps = np.arange(metrics["val"].shape[-1]) * per_epoch
    valid = (curve_first[:, None] < 0) | (record_steps < curve_first[:, None])
    mean, se = _mean_se(metrics["val"])
    out |= {"curve_first": curve_first, "curve_mean": np.where(valid, mean, np.nan),
            "curve_se": np.where(valid, se, np.nan)}
    return out


def summarize(runs: list, config, splits: diabetes.Splits) -> dict:
    """Every batch size's summary stacked: table arrays [lr, batch, epochs], curves [batch, lr, epoch]."""
    per_epoch = [steps_per_epoch(splits.x_train.shape[0], b) for b in config.batch_sizes]
    parts = [_batch_summary(r, config, p) for r, p in zip(runs, per_epoch)]
    summary = {k: np.stack([p[k] for p in parts], 1) for k in parts[0] if not k.startswith("curve")}
    summary |= {k: np.stack([p[k] for p in parts], 0) for k in parts[0] if k.startswith("curve")}
    summary["steps_per_epoch"] = np.asarray(per_epoch)
    val = np.where(summary["first"] < 0, summary["val_mean"], np.inf)
    summary["best"] = np.asarray(np.unravel_index(np.argmin(val), val.shape)) if np.isfinite(val).any() else None
    return summary


def _epoch_of(step: int, per_epoch: int) -> int:
    """The epoch in which step k falls: ceil(k / steps_per_epoch) (0: the initial parameters)."""
    return math.ceil(step / per_epoch)


def _divergence(summary: dict, config, i: int, j: int, k: int) -> str:
    """'diverged at step s (epoch e) in r of S seeds' for table cell [i, j, k]."""
    step = int(summary["first"][i, j, k])
    epoch = _epoch_of(step, int(summary["steps_per_epoch"][j]))
    return f"{divergence_message(step)} (epoch {epoch}) in {int(summary['count'][i, j, k])} of {config.seeds} seeds"


def _row(summary: dict, config, i: int, j: int, k: int) -> dict:
    """One configuration of the table: MSEs (mean, SE over seeds) or its divergence."""
    row = {"lr": config.learning_rates[i], "batch_size": config.batch_sizes[j], "epochs": config.epochs[k]}
    if summary["first"][i, j, k] >= 0:
        return row | {"diverged": _divergence(summary, config, i, j, k)}
    return row | {f"{n}_{s}": float(summary[f"{n}_{t}"][i, j, k]) for n in SPLITS
                  for s, t in (("mse", "mean"), ("stderr", "se"))}


def grid_metrics(summary: dict, config, splits: diabetes.Splits) -> dict:
    """results.json metrics: data description, OLS baseline, the chosen configuration, the full table."""
    table = [_row(summary, config, *idx) for idx in np.ndindex(*summary["first"].shape)]
    best = None if summary["best"] is None else _row(summary, config, *summary["best"])
    close = []
    if best is not None:
        best["test_mse_raw_units"] = best["test_mse"] * float(splits.y_std) ** 2
        config_of = operator.itemgetter("lr", "batch_size", "epochs")
        close = [r for r in table if "diverged" not in r and config_of(r) != config_of(best)
                 and r["val_mse"] <= best["val_mse"] + best["val_stderr"]]
    return {"data": {"description": DATA_NOTE, "n_train": int(splits.x_train.shape[0]),
                     "n_val": int(splits.x_val.shape[0]), "n_test": int(splits.x_test.shape[0]),
                     "target_std_train": float(splits.y_std), "standardized": "features and target, train stats"},
            "ols_baseline": ols_baseline(splits), "best": best, "selection": "least mean validation MSE over seeds",
            "within_one_stderr_of_best": [{k: r[k] for k in ("lr", "batch_size", "epochs", "val_mse")} for r in close],
            "table": table, "num_diverged": sum("diverged" in r for r in table), "num_configurations": len(table)}


def grid_divergences(summary: dict, config) -> dict:
    """'lr=l batch=b epochs=e' -> 'diverged at step k (epoch e) in r of S seeds'."""
    return {f"lr={config.learning_rates[i]:g} batch={config.batch_sizes[j]} epochs={config.epochs[k]}":
            _divergence(summary, config, i, j, k) for (i, j, k), f in np.ndenumerate(summary["first"]) if f >= 0}


def grid_arrays(summary: dict, config) -> dict:
    """The arrays behind the figures (saved as data.npz)."""
    best = np.full(3, -1) if summary["best"] is None else summary["best"]
    return {k: v for k, v in summary.items() if k != "best"} | {
        "best": best, "learning_rates": np.asarray(config.learning_rates),
        "batch_sizes": np.asarray(config.batch_sizes), "epochs": np.asarray(config.epochs),
        "num_stderr": np.asarray(config.num_stderr)}


def format_table(metrics: dict, config) -> list[str]:
    """The full grid as text lines, then the chosen configuration."""
    lines = [f"R2 grid ({config.seeds} seeds; MSE of the standardized target, mean +- SE):",
             f"{'lr':>8s} {'batch':>5s} {'epochs':>6s}  {'validation MSE':>18s}  {'test MSE':>18s}"]
    for r in metrics["table"]:
        head = f"{r['lr']:8.0e} {r['batch_size']:5d} {r['epochs']:6d}  "
        body = r["diverged"] if "diverged" in r else \
            f"{r['val_mse']:10.4f} +- {r['val_stderr']:.4f}  {r['test_mse']:10.4f} +- {r['test_stderr']:.4f}"
        lines.append(head + body)
    b, ols = metrics["best"], metrics["ols_baseline"]
    lines.append("R2 chosen: none (every configuration diverged)" if b is None else
                 f"R2 chosen by validation MSE: lr {b['lr']:g}, batch {b['batch_size']}, {b['epochs']} epochs: "
                 f"val {b['val_mse']:.4f} +- {b['val_stderr']:.4f}, test {b['test_mse']:.4f} +- "
                 f"{b['test_stderr']:.4f} (OLS: val {ols['val_mse']:.4f}, test {ols['test_mse']:.4f}); "
                 f"{len(metrics['within_one_stderr_of_best'])} other configurations within 1 SE of its val MSE")
    return lines


# ----------------------------------------------------------------------------- figures


def _heat_panel(ax, values, first, data, norm, title):
    """One lr x batch heat map of log10 MSE; diverged cells grey and labelled with their step."""
    masked = np.ma.masked_where(first >= 0, np.log10(np.where(first >= 0, 1.0, values)))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.8")
    image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        text = f"div.\nstep {first[i, j]}" if first[i, j] >= 0 else f"{v:.3f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="k" if first[i, j] >= 0 else "w")
    ax.set_xticks(range(len(data["batch_sizes"])), [str(b) for b in data["batch_sizes"]])
    ax.set_yticks(range(len(data["learning_rates"])), [f"{lr:g}" for lr in data["learning_rates"]])
    ax.grid(False)
    plotting.label(ax, "batch size B", r"learning rate $\eta$", title)
    return image


def plot_heatmap(data: dict, out_path):
    """Validation (top) and test (bottom) MSE over lr x batch, one column per epoch count."""
    epochs, best = data["epochs"], data["best"]
    finite = np.concatenate([data[f"{n}_mean"][data["first"] < 0] for n in ("val", "test")])
    lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.size else (0.0, 1.0)
    norm = matplotlib.colors.Normalize(lo, max(hi, lo + 1e-6))
    fig, axes = plotting.figure(2, len(epochs), width=3.6, height=3.2)
    axes = np.asarray(axes).reshape(2, len(epochs))
    for row, name in enumerate(("val", "test")):
        for k, e in enumerate(epochs):
            image = _heat_panel(axes[row, k], data[f"{name}_mean"][..., k], data["first"][..., k], data, norm,
                                f"{'validation' if name == 'val' else 'test'} MSE, {e} epochs")
            if best[2] == k:
                axes[row, k].add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, ec="r", lw=2))
        fig.colorbar(image, ax=axes[row, -1], label=r"$\log_{10}$ MSE (grey: diverged; red: chosen)")
    return plotting.save(fig, out_path, {k: data[k] for k in ("val_mean", "val_se", "test_mean", "test_se", "first",
                                                               "learning_rates", "batch_sizes", "epochs", "best")})


def plot_validation_curves(data: dict, out_path):
    """Validation MSE against the epoch, one panel per batch size, mean +- k SE, cut before divergence."""
    k = float(data["num_stderr"])
    fig, axes = plotting.figure(1, len(data["batch_sizes"]), width=4.4, height=3.4)
    x = np.arange(data["curve_mean"].shape[-1])
    for j, (ax, b) in enumerate(zip(np.ravel(axes), data["batch_sizes"])):
        for i, lr in enumerate(data["learning_rates"]):
            mean, se, first = data["curve_mean"][j, i], data["curve_se"][j, i], int(data["curve_first"][j, i])
            keep = np.isfinite(mean)
            note = "" if first < 0 else f" (diverged at step {first})"
            if keep.any():
                (line,) = ax.plot(x[keep], mean[keep], label=f"lr {lr:g}{note}")
                lower = np.maximum(mean - k * se, mean / 100)[keep]
                ax.fill_between(x[keep], lower, (mean + k * se)[keep], color=line.get_color(), alpha=0.2, lw=0)
            else:
                ax.plot([], [], ls="none", label=f"lr {lr:g}{note}")
        for e in data["epochs"]:
            ax.axvline(e, color="0.5", ls=":", lw=0.8)
        plotting.label(ax, "epoch", "validation MSE (standardized y)", f"batch {b}: mean $\\pm$ {k:g} SE",
                       logy=bool(np.isfinite(data["curve_mean"][j]).any()))
    return plotting.save(fig, out_path, {"epoch": x, "curve_mean": data["curve_mean"], "curve_se": data["curve_se"],
                                         "curve_first": data["curve_first"]})
