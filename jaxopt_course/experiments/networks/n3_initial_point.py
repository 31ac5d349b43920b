"""N3: the initial point alone, many random initializations theta_0 of the same 1-10-10-1 ReLU net, SGD 0.05.

All initializations (and every learning rate gamma) in one vmapped call; the spread of
the final losses L(theta_T) and of the fitted functions f(x; theta_T) over theta_0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from jaxopt_course import divergence, plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.networks import figures, problem, summaries
from jaxopt_course.experiments.registry import Results
from jaxopt_course.progress import timed
from jaxopt_course.validation import positive, seed_count

ID = "N3"
TITLE = "MLP initial point: many random initializations of the same net"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """N3: many random initializations of the 1-10-10-1 ReLU net, SGD 0.05."""

    widths: tuple[int, ...] = problem.widths_param()
    activation: str = problem.activation_param()
    learning_rate: float = param(0.05, "full-batch SGD step gamma", check=positive, vmap=True)
    num_epochs: int = problem.epochs_param()
    record_every: int = problem.record_param()
    seeds: int = param(100, "random initializations theta_0 compared", check=seed_count(2))
    test_seed: int = problem.test_seed_param()
    stuck_above: float = param(1e-3, "a run whose final training loss stays above this did not fit the points",
                               check=positive)

    @classmethod
    def quick(cls):
        return cls(num_epochs=300, seeds=20)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """All initializations in one vmapped call; the spread of final losses and fitted functions."""
    data = problem.course_dataset(config.test_seed)
    lrs = axes(config, "learning_rate")["learning_rate"]
    net = problem.Net(config.widths, config.activation, "sgd", config.num_epochs, record_every=config.record_every)
    with timed(f"N3: {net.name()}, {len(lrs)} step size(s) x {config.seeds} inits x {config.num_epochs} epochs"):
        out = problem.sweep_inits(sweeper, functools.partial(problem.curves, net=net), key, config.seeds, data, lrs)
    d = problem.dataset([out], {"learning_rate": lrs}, data, net)
    d.attrs.update(widths=list(config.widths), activation=config.activation)
    train, test = summaries.final(d, "train_loss"), summaries.final(d, "test_loss")
    extra = {"final_train_loss_min": summaries.quantile(train, 0.0),
             "final_train_loss_max": summaries.quantile(train, 1.0),
             "final_test_loss_min": summaries.quantile(test, 0.0),
             "stuck_fraction": (~(train <= config.stuck_above)).mean("seed")}
    metrics = {"num_inits": config.seeds, **summaries.metrics({**summaries.losses(d), **extra}),
               "stuck_above": config.stuck_above}
    return Results(metrics, d, divergence.messages(d.diverged_at, over=("seed",), runs="initializations"))


def _name(d) -> str:
    """e.g. '1-10-10-1 ReLU, SGD' (the net of the figures' titles)."""
    return f"{problem.Net(tuple(d.attrs['widths']), d.attrs['activation']).name()}, SGD"


def plot_spread(d, out_dir: Path) -> Path:
    """Every initialization's fitted function (thin lines) and the histogram of final losses: a row per step."""
    lrs = d.learning_rate.values
    fig, axes_ = figures.grid(len(lrs), 3)
    final = {m: summaries.final(d, m) for m in ("train_loss", "test_loss")}
    for row, lr in enumerate(lrs):
        cell = d.sel(learning_rate=lr)
        alive = cell.diverged_at.values < 0
        for ax, rng in zip(axes_[row, :2], problem.FIT_RANGES):
            ax.plot(cell[f"x_{rng}"].values, figures.survivors(cell, f"fit_{rng}").T, lw=0.6, alpha=0.5)
            figures.fit_axes(ax, d, rng, f"N3: γ={lr:g}, {int(alive.sum())} initializations")
        if not alive.any():
            continue
        values = {m: plotting.positive(v.sel(learning_rate=lr).values[alive], 1e-30) for m, v in final.items()}
        bins = np.logspace(np.log10(min(v.min() for v in values.values())),
                           np.log10(max(v.max() for v in values.values())) + 1e-9, 30)
        for m, v in values.items():
            axes_[row, 2].hist(v, bins=bins, alpha=0.6, label="training" if m == "train_loss" else "test")
        plotting.label(axes_[row, 2], "final loss L(θ_T)", "number of initializations", f"N3: final losses, γ={lr:g}",
                       logx=True)
    shown = d[["fit_near", "fit_far", "diverged_at"]].assign(final_train_loss=final["train_loss"],
                                                             final_test_loss=final["test_loss"])
    return plotting.save(fig, out_dir / "n3_spread", shown)


def plot(results: Results, out_dir: Path) -> list:
    """Loss bands, median fitted function, every fitted function and the final-loss histogram."""
    d = results.data
    lrs = d.learning_rate.values
    name = _name(d)
    if len(lrs) == 1:
        name = f"{name} γ={lrs[0]:g}"
    panels = [(name, figures.lines(d, ("learning_rate",),
                                   lambda c: name if len(lrs) == 1 else f"γ={c['learning_rate']:g}"))]
    return figures.losses_and_fits(panels, d, out_dir, "N3") + [plot_spread(d, out_dir)]


CAPTIONS = {
    "n3_spread": "The initial point alone: fitted functions of many initializations of the same net, near and far "
                 "from the data, and the histogram of their final training and test losses (in the full run about "
                 "one in five stays stuck at a poor stationary point).",
    "n3_losses": "Loss curves over initializations (bands): the spread is the effect of the initial point alone.",
    "n3_fits": "Fitted functions over initializations near and far from the data.",
}
