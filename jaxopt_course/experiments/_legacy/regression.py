"""Section R: regression with stochastic methods (configs, runs and registration).

* R1: power losses f_gamma(theta) = 1/N sum_i |a_i . theta - y_i|^gamma, gamma in
  {0.4, 0.7, 1, 2, 3, 5}, minimized by SGD, Adam and Adagrad (ours) with batch 1
  from theta_0 ~ U(0, 0.1)^10; every replicate runs every (method, gamma,
  learning rate) in one vmapped call; test loss mean +- 2.5 standard errors.
* R2: a two-layer linear network on the diabetes data, trained by minibatch SGD on
  a grid of learning rates x batch sizes x epochs; every learning rate and seed of
  one batch size in one call; divergence reported, never plotted as NaN.

The machinery is in ``_power_losses.py`` (R1) and ``_grid_search.py`` (R2).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from jaxopt_course.experiments import _grid_search as gs
from jaxopt_course.experiments import _power_losses as pl
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.problems import power_regression as pr
from jaxopt_course.progress import log, timed
from jaxopt_course.run import stride_grid, sweep

METHODS = ("sgd", "adam", "adagrad")
GRAD_NOISES = ("none", "gaussian", "student_t")


def _require(ok: bool, message: str) -> None:
    """ValueError(message) unless ok."""
    if not ok:
        raise ValueError(message)


def _positive_ints(**values) -> None:
    """ValueError unless every value is a positive integer."""
    for name, v in values.items():
        _require(not isinstance(v, bool) and int(v) == v and v >= 1, f"{name} must be a positive integer, got {v!r}")


@dataclass(frozen=True)
class PowerLossConfig:
    """R1. Defaults: the course's set-up (lr 1e-3, shared) plus a learning-rate sweep per method.

    Gradient noise (off by default) is added to every stochastic gradient:
    ``gaussian``: xi = s z, z ~ N(0, I_d); ``student_t``: xi = s t, t_j i.i.d.
    Student-t with ``grad_noise_df`` degrees of freedom (df = 2: finite mean,
    infinite variance, tails P(|t_j| > u) ~ u^-2). Adagrad is the course's formula
    u = -lr g / (sqrt(G_0 + sum_j g_j^2) + eps) with G_0 = 0, eps = 1e-8 outside the
    root; (0.1, 1e-7, True) gives optax.adagrad's u = -lr g / sqrt(G_0 + sum g^2 + eps).
    """

    dim: int = 10
    num_train: int = 1000
    num_test: int = 50
    noise_std: float = 0.1
    gammas: tuple = pr.COURSE_GAMMAS
    methods: tuple = METHODS
    num_steps: int = 1000
    batch_size: int = 1
    learning_rate: float = 1e-3  # the course's shared rate; must be one of learning_rates
    learning_rates: tuple = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)
    init_high: float = 0.1  # theta_0 ~ U(0, init_high)^d
    record_every: int = 50
    seeds: int = 100  # replicates (theta_0, sampled indices, gradient noise); the data are fixed
    grad_noise: str = "none"
    grad_noise_scale: float = 0.1
    grad_noise_df: float = 2.0
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
    adagrad_initial_accumulator_value: float = 0.0
    adagrad_eps: float = 1e-8
    adagrad_eps_inside_sqrt: bool = False
    divergence_threshold: float = 1e6  # ||theta||_inf above it counts as diverged (theta_true = 1)
    num_stderr: float = 2.5

    def __post_init__(self):
        _positive_ints(dim=self.dim, num_train=self.num_train, num_test=self.num_test, num_steps=self.num_steps,
                       batch_size=self.batch_size, record_every=self.record_every, seeds=self.seeds)
        _require(len(self.gammas) > 0 and all(g > 0 for g in self.gammas), f"gammas must be > 0: {self.gammas}")
        _require(len(self.learning_rates) > 0 and all(lr > 0 for lr in self.learning_rates),
                 f"learning rates must be > 0: {self.learning_rates}")
        _require(self.learning_rate in self.learning_rates,
                 f"learning_rate {self.learning_rate} must be one of learning_rates {self.learning_rates}")
        _require(len(self.methods) > 0 and set(self.methods) <= set(METHODS), f"methods must be among {METHODS}")
        _require(self.grad_noise in GRAD_NOISES, f"grad_noise must be one of {GRAD_NOISES}")
        _require(self.grad_noise_scale >= 0 and self.grad_noise_df > 0, "need grad_noise_scale >= 0 and df > 0")
        _require(self.seeds >= 2, f"standard errors need seeds >= 2, got {self.seeds}")
        _require(self.batch_size <= self.num_train, f"batch_size must be <= num_train = {self.num_train}")
        _require(self.noise_std >= 0 and self.init_high > 0 and self.divergence_threshold > 0,
                 "need noise_std >= 0, init_high > 0 and divergence_threshold > 0")

    @classmethod
    def quick(cls) -> "PowerLossConfig":
        """10 replicates and 6 learning rates (the course's 1000 steps are cheap)."""
        return cls(seeds=10, learning_rates=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0))


def run_power_losses(config: PowerLossConfig, key: jax.Array) -> Results:
    """R1: data from one key; all replicates x methods x gammas x rates in one sweep; tables."""
    k_data, k_runs = jax.random.split(key)
    data = pr.make_data(k_data, config.dim, config.num_train, config.num_test, config.noise_std)
    keys = jax.random.split(k_runs, config.seeds)
    sizes = f"{config.seeds} replicates x {len(config.methods)} methods x {len(config.gammas)} gammas x " \
            f"{len(config.learning_rates)} rates x {config.num_steps} steps"
    with timed(f"R1: {sizes}"):
        out = jax.block_until_ready(sweep(functools.partial(pl.power_replicate, config), keys, data))
    summary = pl.summarize(out, config.methods, stride_grid(config.num_steps, config.record_every))
    reference = pl.least_squares_reference(data, config.gammas)
    best = pl.best_rates(summary)
    metrics = _power_metrics(config, summary, reference, best)
    for line in pl.format_tables(metrics, config):
        log(line)
    arrays = {k: v for k, v in summary.items() if k != "valid"} | {
        "methods": np.array(config.methods), "gammas": np.array(config.gammas),
        "learning_rates": np.array(config.learning_rates), "best_lr_index": best,
        "course_lr_index": np.array(config.learning_rates.index(config.learning_rate)),
        "num_stderr": np.array(config.num_stderr), "ls_distance": np.array(reference["distance"]),
        "ls_test_loss": reference["test_loss"]}
    return Results(metrics, arrays, _power_divergences(config, summary))


def _power_metrics(config: PowerLossConfig, summary: dict, reference: dict, best: np.ndarray) -> dict:
    """results.json metrics: the least-squares reference, the best-values table, the sweep, the winners."""
    return {
        "least_squares": {"distance_to_theta_true": reference["distance"],
                          "test_loss": {f"{g:g}": v for g, v in zip(config.gammas, reference["test_loss"])}},
        "course_learning_rate": config.learning_rate,
        "course_table": pl.course_table(summary, config),
        "lr_sweep": pl.sweep_table(summary, config, best),
        "winners": pl.winners(summary, config, best),
        "num_diverged_runs": int((summary["first_diverged"] >= 0).sum()),
        "num_runs": int(summary["first_diverged"].size),
    }


def _power_divergences(config: PowerLossConfig, summary: dict) -> dict:
    """'method gamma=g lr=l' -> 'diverged at step k in r of S replicates' for every diverged run."""
    out = {}
    for (i, j, k), first in np.ndenumerate(summary["first_diverged"]):
        if first >= 0:
            label = f"{config.methods[i]} gamma={config.gammas[j]:g} lr={config.learning_rates[k]:g}"
            out[label] = pl.divergence_text(int(first), int(summary["num_diverged"][i, j, k]), config.seeds)
    return out


def plot_power_losses(results: Results, out_dir: Path) -> list[Path]:
    """Test-loss curves at the course's rate and at each best rate, the rate sweep, final distances."""
    d, out_dir = results.data, Path(out_dir)
    k, course = float(d["num_stderr"]), int(d["course_lr_index"])
    shared = np.full(d["best_lr_index"].shape, course)
    lr = d["learning_rates"][course]
    return [
        pl.plot_curves(d, out_dir / "r1_test_loss", shared, f"R1: batch-1 methods at the shared lr {lr:g}", k),
        pl.plot_curves(d, out_dir / "r1_test_loss_best_lr", d["best_lr_index"],
                       "R1: each method at its own best lr (least final training loss)", k),
        pl.plot_sweep(d, out_dir / "r1_lr_sweep", k),
        pl.plot_distance(d, out_dir / "r1_distance", course, d["best_lr_index"], k),
    ]


register(Experiment("R1", "R", "power losses |a.theta - y|^gamma: SGD, Adam, Adagrad, error bars, rate sweep",
                    PowerLossConfig, run_power_losses, plot_power_losses,
    captions={
        'r1_test_loss': "Test loss, mean ± 2.5 standard errors over replicates, every 50 steps, one panel per γ, all methods at the course's shared rate 1e-3: none has converged in 1000 steps.",
        'r1_test_loss_best_lr': 'The same curves with each method at its own best rate: the comparison that is fair to each method.',
        'r1_lr_sweep': 'Final loss against learning rate per method and γ; diverged rates are marked, not plotted as NaN.',
        'r1_distance': 'Distance of the final θ to θ_true per method and γ.',
    }))


# ----------------------------------------------------------------------------- R2


@dataclass(frozen=True)
class GridSearchConfig:
    """R2: two-layer linear network (hidden width ``hidden``) on the diabetes data, minibatch SGD.

    The curvature of the loss at initialization grows with the width (the tangent
    features W1 x have squared norm ~ hidden): with 64 hidden units lr 0.1 and 1
    diverge for every seed, while with 32 lr 0.1 survives in some seeds.

    The epochs axis is read off one run of max(epochs) epochs (validation MSE after
    every epoch); a configuration diverged when a seed's parameters became
    non-finite or its training MSE exceeded ``divergence_threshold``.
    """

    hidden: int = 64
    learning_rates: tuple = (1e-5, 1e-4, 1e-3, 1e-1, 1.0)
    batch_sizes: tuple = (32, 64, 128)
    epochs: tuple = (50, 100, 150)
    seeds: int = 5
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    divergence_threshold: float = 1e6
    num_stderr: float = 2.5

    def __post_init__(self):
        _positive_ints(hidden=self.hidden, seeds=self.seeds)
        _positive_ints(**{f"batch_sizes[{i}]": b for i, b in enumerate(self.batch_sizes)},
                       **{f"epochs[{i}]": e for i, e in enumerate(self.epochs)})
        _require(len(self.learning_rates) > 0 and all(lr > 0 for lr in self.learning_rates),
                 f"learning rates must be > 0: {self.learning_rates}")
        _require(len(self.batch_sizes) > 0 and len(self.epochs) > 0, "need at least one batch size and epoch count")
        _require(self.seeds >= 2, f"standard errors need seeds >= 2, got {self.seeds}")
        _require(self.divergence_threshold > 0, "divergence_threshold must be > 0")

    @classmethod
    def quick(cls) -> "GridSearchConfig":
        """The same grid with 5 / 10 / 15 epochs and 2 seeds."""
        return cls(epochs=(5, 10, 15), seeds=2)


def run_grid_search(config: GridSearchConfig, key: jax.Array) -> Results:
    """R2: one sweep per batch size over seeds (vmapped learning rates inside); pick by validation MSE."""
    k_split, k_seeds = jax.random.split(key)
    splits = gs.load_splits(k_split, config)
    keys = jax.random.split(k_seeds, config.seeds)
    runs = []
    for batch_size in config.batch_sizes:
        with timed(f"R2: batch {batch_size}, {len(config.learning_rates)} rates x {config.seeds} seeds, "
                   f"{max(config.epochs)} epochs"):
            fn = functools.partial(gs.grid_seed, config, batch_size)
            runs.append(jax.block_until_ready(sweep(fn, keys, splits)))
    summary = gs.summarize(runs, config, splits)
    metrics = gs.grid_metrics(summary, config, splits)
    for line in gs.format_table(metrics, config):
        log(line)
    return Results(metrics, gs.grid_arrays(summary, config), gs.grid_divergences(summary, config))


def plot_grid_search(results: Results, out_dir: Path) -> list[Path]:
    """The validation / test MSE heat maps and the validation curves."""
    out_dir = Path(out_dir)
    return [gs.plot_heatmap(results.data, out_dir / "r2_grid_heatmap"),
            gs.plot_validation_curves(results.data, out_dir / "r2_validation_curves")]


register(Experiment("R2", "R", "grid search lr x batch x epochs for a two-layer linear net on diabetes data",
                    GridSearchConfig, run_grid_search, plot_grid_search,
    captions={
        'r2_grid_heatmap': 'Validation MSE over learning rate × batch size × epochs; lr 0.1 and 1 diverge (labelled), the best cell is chosen on validation and reported on test.',
        'r2_validation_curves': 'Validation MSE against epoch for each rate and batch size: the 50/100/150-epoch cells of the grid are read off these 150-epoch runs.',
    }))
