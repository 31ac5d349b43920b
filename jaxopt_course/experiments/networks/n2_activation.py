"""N2: ReLU vs 4*sigmoid on the 1-10-10-1 net at full-batch SGD steps 0.02-0.3, train and test loss.

theta_{k+1} = theta_k - gamma grad L(theta_k) with a(x) = max(x, 0) or a(x) = 4 sigma(x),
for every gamma in ``learning_rates``; per activation, every learning rate and
initialization in one vmapped call (the same initializations for all of them).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax

from jaxopt_course import divergence
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.networks import figures, problem, summaries
from jaxopt_course.experiments.registry import Results
from jaxopt_course.progress import timed
from jaxopt_course.validation import positive, seed_count

ID = "N2"
TITLE = "MLP activation ReLU vs 4*sigmoid at step sizes 0.02-0.3, train/test loss"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """N2: ReLU vs 4*sigmoid on 1-10-10-1, full-batch SGD with gamma in {0.02, 0.05, 0.1, 0.3}."""

    widths: tuple[int, ...] = problem.widths_param()
    activations: tuple[str, ...] = problem.activations_param()
    learning_rates: float = param((0.02, 0.05, 0.1, 0.3), "full-batch SGD steps gamma, all in one vmapped call",
                                  check=positive, vmap=True)
    num_epochs: int = problem.epochs_param()
    record_every: int = problem.record_param()
    seeds: int = param(20, "random initializations theta_0 (the same for every activation and step)",
                       check=seed_count())
    test_seed: int = problem.test_seed_param()

    @classmethod
    def quick(cls):
        return cls(num_epochs=300, seeds=4)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """Per activation, every learning rate and initialization in one vmapped call (the same inits for all)."""
    data = problem.course_dataset(config.test_seed)
    lrs = axes(config, "learning_rates")["learning_rates"]
    outs = []
    for act in config.activations:
        net = problem.Net(config.widths, act, "sgd", config.num_epochs, record_every=config.record_every)
        with timed(f"N2: {net.name()}, {len(lrs)} step size(s) x {config.seeds} inits"):
            outs.append(problem.sweep_inits(sweeper, functools.partial(problem.curves, net=net), key, config.seeds,
                                            data, lrs))
    d = problem.dataset(outs, {"activation": list(config.activations), "learning_rate": lrs}, data, net)
    d.attrs["widths"] = list(config.widths)
    metrics = {"num_inits": config.seeds, **summaries.metrics(summaries.losses(d))}
    return Results(metrics, d, divergence.messages(d.diverged_at, over=("seed",), runs="initializations"))


def plot(results: Results, out_dir: Path) -> list:
    """Train/test loss curves and fitted functions: a row per activation, a band per step size."""
    d = results.data
    widths = tuple(d.attrs["widths"])
    panels = [(problem.Net(widths, str(act)).name(),
               figures.lines(d.sel(activation=act), ("learning_rate",), lambda c: f"γ={c['learning_rate']:g}"))
              for act in d.activation.values]
    return figures.losses_and_fits(panels, d, out_dir, "N2")


CAPTIONS = {
    "n2_losses": "ReLU trains faster with larger steps; the 4·sigmoid net sits on a plateau near loss 0.069 and "
                 "diverges for some initializations at step 0.3 (reported, not drawn).",
    "n2_fits": "Fitted functions per activation and step: ReLU fits are piecewise linear, 4·sigmoid fits saturate to "
               "constants far from the data.",
}
