"""R2's runs and summaries: minibatch SGD on a two-layer linear network over a hyperparameter grid.

Per batch size one sweep runs every learning rate x seed (vmapped, sharded) for
max(epochs) epochs, recording the train / validation / test MSE after every epoch;
the epochs axis of the grid is read off those curves. Grid cells are indexed
(learning_rate, batch_size, epochs); curves (batch_size, learning_rate, epoch).
"""

from __future__ import annotations

import functools
import math
import operator

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, optim
from jaxopt_course import run as runner
from jaxopt_course.data import batching, diabetes
from jaxopt_course.experiments.regression import tables
from jaxopt_course.models import linear_network
from jaxopt_course.problems.least_squares import unique_solution

SPLITS = ("train", "val", "test")
CELL = ("learning_rate", "batch_size", "epochs")
DATA_NOTE = ("diabetes data (442 patients, 10 features; Efron, Hastie, Johnstone and Tibshirani, "
             "'Least Angle Regression', Ann. Statist. 2004), the copy bundled with scikit-learn "
             "(sklearn.datasets.load_diabetes, BSD-3-Clause licence), no download")

# ----------------------------------------------------------------------------- compute


def split_mse(hidden: int, splits: diabetes.Splits, state: runner.OptimState) -> dict:
    """{'train', 'val', 'test'}: the network's MSE 1/n sum_i (y_hat(x_i) - y_i)^2 on each split."""
    pairs = {"train": (splits.x_train, splits.y_train), "val": (splits.x_val, splits.y_val),
             "test": (splits.x_test, splits.y_test)}
    return {name: linear_network.mse(state.params, hidden, x, y) for name, (x, y) in pairs.items()}


def training_diverged(params, hidden: int, splits: diabetes.Splits, threshold: float) -> jax.Array:
    """True iff a parameter is inf/NaN or the training MSE exceeds ``threshold`` (or is NaN)."""
    loss = linear_network.mse(params, hidden, splits.x_train, splits.y_train)
    return runner.not_finite(params) | ~(loss <= threshold)


def _diverged(config, splits: diabetes.Splits, state) -> jax.Array:
    """``training_diverged`` of a run's state."""
    return training_diverged(state.params, config.hidden, splits, config.divergence_threshold)


def grid_trace(key: jax.Array, hp: dict, splits: diabetes.Splits, *, batch_size: int, config):
    """One seed at rate hp['learning_rate']: one initialization and batch order, MSEs after every epoch."""
    k_init, k_order = jax.random.split(key)
    num_train = splits.x_train.shape[0]
    params0 = linear_network.init(k_init, splits.x_train.shape[1], config.hidden, splits.x_train.dtype)
    per_epoch = batching.full_batches_per_epoch(num_train, batch_size)
    total = per_epoch * max(config.epochs)

    def grad(params, batch: batching.Batches):
        idx = batch.index  # full batches: every weight is 1
        return jax.grad(linear_network.mse)(params, config.hidden, splits.x_train[idx], splits.y_train[idx])

    opt = optim.optimizer("sgd", hp["learning_rate"])
    trace = runner.run(runner.optimizer_step(grad, opt), runner.optimizer_init(params0, opt), total,
                       metrics=functools.partial(split_mse, config.hidden, splits),
                       record=runner.stride_grid(total, per_epoch), key=k_order,
                       sample=batching.epoch_sampler(num_train, batch_size, drop_last=True), chunk=total,
                       diverged=functools.partial(_diverged, config, splits))
    return trace.metrics, trace.diverged_at


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


def within_epochs(d: xr.Dataset) -> xr.DataArray:
    """Each seed's divergence step if it falls within the cell's E epochs (E * steps_per_epoch), else -1."""
    limit = d.epochs * d.steps_per_epoch
    return d.diverged_at.where((d.diverged_at >= 0) & (d.diverged_at <= limit), -1)


def summarize(d: xr.Dataset) -> xr.Dataset:
    """Grid cells (first divergence, count, mean and SE of every MSE at E epochs) and validation curves.

    A cell's MSEs are NaN when some seed diverged within its E epochs; a curve is NaN
    from the first divergence of any seed on. ``attrs['best']`` is the (lr, batch,
    epochs) position of the least mean validation MSE among the cells that did not
    diverge (None if every cell did).
    """
    within = within_epochs(d)
    s = xr.Dataset({"first": divergence.first_over(within), "count": divergence.count_over(within)})
    for name in SPLITS:
        mean, se = tables.mean_se(d[f"{name}_mse"].sel(epoch=d.epochs).drop_vars("epoch"))
        s[f"{name}_mean"], s[f"{name}_se"] = mean.where(s.first < 0), se.where(s.first < 0)
    curve_first = divergence.first_over(d.diverged_at)
    valid = (curve_first < 0) | (d.epoch * d.steps_per_epoch < curve_first)
    mean, se = tables.mean_se(d.val_mse)
    s["curve_first"], s["curve_mean"], s["curve_se"] = curve_first, mean.where(valid), se.where(valid)
    s = s.assign_coords(steps_per_epoch=d.steps_per_epoch).transpose(*CELL, "epoch")
    val = np.where(s.first.values < 0, s.val_mean.values, np.inf)
    s.attrs = dict(d.attrs, best=[int(i) for i in np.unravel_index(np.argmin(val), val.shape)]
                   if np.isfinite(val).any() else None)
    return s


def _divergence(d: xr.Dataset, s: xr.Dataset, index: dict) -> str:
    """'r of S seeds diverged, the first at step k (epoch e)' for grid cell ``index``."""
    step = int(s.first[index])
    epoch = math.ceil(step / int(s.steps_per_epoch[index["batch_size"]]))
    return f"{divergence.summary(within_epochs(d)[index].values, runs='seeds')} (epoch {epoch})"


def _row(d: xr.Dataset, s: xr.Dataset, index: dict) -> dict:
    """One configuration of the table: MSEs (mean, SE over seeds) or its divergence."""
    row = {"lr": float(s.learning_rate[index["learning_rate"]]), "batch_size": int(s.batch_size[index["batch_size"]]),
           "epochs": int(s.epochs[index["epochs"]])}
    if s.first[index] >= 0:
        return row | {"diverged": _divergence(d, s, index)}
    return row | {f"{n}_{k}": float(s[f"{n}_{t}"][index]) for n in SPLITS for k, t in (("mse", "mean"), ("stderr", "se"))}


def grid_metrics(d: xr.Dataset, s: xr.Dataset, splits: diabetes.Splits) -> dict:
    """results.json metrics: data description, OLS baseline, the chosen configuration, the full table."""
    table = [_row(d, s, index) for _, index in tables.cells(s, CELL)]
    best = None if s.attrs["best"] is None else _row(d, s, dict(zip(CELL, s.attrs["best"])))
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


def grid_divergences(d: xr.Dataset, s: xr.Dataset) -> dict:
    """{cell label: 'r of S seeds diverged, the first at step k (epoch e)'} for every diverged cell."""
    return {name: _divergence(d, s, index) for name, index in tables.cells(s, CELL) if s.first[index] >= 0}


def format_table(metrics: dict, seeds: int) -> list[str]:
    """The full grid as text lines, then the chosen configuration."""
    lines = [f"R2 grid ({seeds} seeds; MSE of the standardized target, mean +- SE):",
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
