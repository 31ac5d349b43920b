"""R2: a grid search (learning rate x batch size x epochs) for a two-layer linear network on the diabetes data.

x -> w2 . (W1 x + b1) + b2 with 64 hidden units, minibatch SGD on the MSE; per batch
size ONE vmapped call runs every learning rate x seed for max(epochs) epochs, and the
epochs axis is read off the per-epoch validation curves. A configuration is chosen by
validation MSE and reported on test; diverged configurations are reported, never
plotted as NaN.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from jaxopt_course import run as runner
from jaxopt_course.data import batching, diabetes
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.regression import grid_figures as figures
from jaxopt_course.experiments.regression import grid_search as gs
from jaxopt_course.experiments.registry import Results
from jaxopt_course.progress import log, timed
from jaxopt_course.validation import each, open_unit_interval, positive, positive_int, seed_count

ID = "R2"
TITLE = "grid search lr x batch x epochs for a two-layer linear net on diabetes data"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """R2: two-layer linear network (hidden width ``hidden``) on the diabetes data, minibatch SGD.

    The curvature of the loss at initialization grows with the width (the tangent
    features W1 x have squared norm ~ hidden): with 64 hidden units lr 0.1 and 1
    diverge for every seed, while with 32 lr 0.1 survives in some seeds. A seed
    diverged when its parameters became non-finite or its training MSE exceeded
    ``divergence_threshold``.
    """

    hidden: int = param(64, "hidden units of the network x -> w2 . (W1 x + b1) + b2", check=positive_int)
    learning_rate: float = param((1e-5, 1e-4, 1e-3, 1e-1, 1.0), "SGD learning rates eta of the grid (one vmapped "
                                 "axis)", check=positive, vmap=True)
    batch_sizes: tuple[int, ...] = param((32, 64, 128), "batch sizes B of the grid (floor(n_train / B) full batches "
                                         "an epoch; one compiled sweep each)", check=each(positive_int))
    epochs: tuple[int, ...] = param((50, 100, 150), "epoch counts of the grid, read off one run of max(epochs) epochs",
                                    check=each(positive_int))
    seeds: int = param(5, "seeds (each draws the initialization and the batch order), >= 2 for standard errors",
                       check=seed_count(2))
    val_fraction: float = param(0.2, "fraction of the 442 rows held out for validation", check=open_unit_interval)
    test_fraction: float = param(0.2, "fraction of the 442 rows held out for testing", check=open_unit_interval)
    divergence_threshold: float = param(1e6, "a training MSE above it (or a non-finite parameter) counts as diverged",
                                        check=positive)
    num_stderr: float = param(2.5, "k in the validation curves' bands mean +- k SE", check=positive)

    def __post_init__(self):
        super().__post_init__()
        n_train, _, _ = diabetes.split_sizes(diabetes.NUM_ROWS, self.val_fraction, self.test_fraction)
        for b in self.batch_sizes:
            batching.full_batches_per_epoch(n_train, b)

    @classmethod
    def quick(cls):
        """The same grid with 5 / 10 / 15 epochs and 2 seeds."""
        return cls(epochs=(5, 10, 15), seeds=2)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """R2: one sweep per batch size over every learning rate x seed; pick by validation MSE."""
    k_split, k_seeds = jax.random.split(key)
    splits = diabetes.diabetes_splits(k_split, config.val_fraction, config.test_fraction)
    keys = jax.random.split(k_seeds, config.seeds)
    lrs = axes(config, "learning_rate")
    runs = []
    for batch_size in config.batch_sizes:
        with timed(f"R2: batch {batch_size}, {lrs['learning_rate'].size} rates x {config.seeds} seeds, "
                   f"{max(config.epochs)} epochs"):
            fn = functools.partial(gs.grid_trace, batch_size=batch_size, config=config)
            runs.append(jax.block_until_ready(sweeper.sweep(fn, keys, splits, axes=lrs)))
    d = _dataset(config, lrs["learning_rate"], runs, splits.x_train.shape[0])
    s = gs.summarize(d)
    metrics = gs.grid_metrics(d, s, splits)
    for line in gs.format_table(metrics, config.seeds):
        log(line)
    return Results(metrics, d, gs.grid_divergences(d, s))


def _dataset(config: Config, rates: np.ndarray, runs: list, num_train: int) -> xr.Dataset:
    """The runs as (batch_size, learning_rate, seed, epoch) MSE curves and (batch_size, learning_rate, seed) steps."""
    dims = ("batch_size", "learning_rate", "seed")
    data = {f"{name}_mse": (dims + ("epoch",), np.stack([np.asarray(m[name]) for m, _ in runs])) for name in gs.SPLITS}
    data["diverged_at"] = (dims, np.stack([np.asarray(div) for _, div in runs]))
    per_epoch = [batching.full_batches_per_epoch(num_train, b) for b in config.batch_sizes]
    coords = {"batch_size": list(config.batch_sizes), "learning_rate": rates, "seed": np.arange(config.seeds),
              "epoch": np.arange(max(config.epochs) + 1), "epochs": list(config.epochs),
              "steps_per_epoch": ("batch_size", per_epoch)}
    return xr.Dataset(data, coords=coords, attrs={"num_stderr": config.num_stderr})


def plot(results: Results, out_dir: Path) -> list:
    """The validation / test MSE heat maps and the validation curves."""
    d, out_dir = results.data, Path(out_dir)
    s = gs.summarize(d)
    return [figures.heatmap(s, out_dir / "r2_grid_heatmap"),
            figures.validation_curves(d, s, out_dir / "r2_validation_curves")]


CAPTIONS = {
    "r2_grid_heatmap": "Validation MSE over learning rate × batch size × epochs; lr 0.1 and 1 diverge (labelled), the "
                       "best cell is chosen on validation and reported on test.",
    "r2_validation_curves": "Validation MSE against epoch for each rate and batch size: the 50/100/150-epoch cells of "
                            "the grid are read off these 150-epoch runs.",
}
