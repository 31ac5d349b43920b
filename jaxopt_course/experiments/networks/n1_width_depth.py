"""N1: under- vs over-parameterized ReLU nets on the 7 points, full-batch SGD, loss curves and fitted functions.

L(theta) = 1/7 sum_i (f(x_i; theta) - y_i)^2 is minimized by theta_{k+1} = theta_k -
gamma grad L(theta_k) for each architecture 1-w_1-...-1 (1-1-1 has 4 parameters, fewer
than the 7 points; 1-10-10-1 has 141), from ``seeds`` initializations. One vmapped call
per architecture covers every initialization and every learning rate gamma.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax

from jaxopt_course import divergence, labelled
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.networks import figures, problem, summaries
from jaxopt_course.experiments.registry import Results
from jaxopt_course.models import mlp
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, layer_sizes, positive, seed_count

ID = "N1"
TITLE = "MLP width/depth: 1-1-1 (4 parameters) vs 1-10-10-1 (141), SGD on the 7 points"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """N1: under- (1-1-1, 4 parameters) vs over-parameterized (1-10-10-1, 141) ReLU nets, full-batch SGD 0.05."""

    architectures: tuple[str, ...] = param(("1-1-1", "1-10-1", "1-10-10-1"), "the nets compared (layer sizes 1-...-1)",
                                           check=each(layer_sizes(1, 1)))
    activation: str = problem.activation_param()
    learning_rate: float = param(0.05, "full-batch SGD step gamma", check=positive, vmap=True)
    num_epochs: int = problem.epochs_param()
    record_every: int = problem.record_param()
    seeds: int = param(20, "random initializations theta_0 per net (the same init keys for every net)",
                       check=seed_count())
    test_seed: int = problem.test_seed_param()

    @classmethod
    def quick(cls):
        return cls(architectures=("1-1-1", "1-10-10-1"), num_epochs=300, seeds=4)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """Every architecture from ``seeds`` initializations at every learning rate (one vmapped call each)."""
    data = problem.course_dataset(config.test_seed)
    lrs = axes(config, "learning_rate")["learning_rate"]
    outs = []
    for arch in config.architectures:
        net = problem.Net(mlp.hidden_widths(arch), config.activation, "sgd", config.num_epochs,
                          record_every=config.record_every)
        with timed(f"N1: {arch}, {len(lrs)} step size(s) x {config.seeds} inits x {config.num_epochs} epochs"):
            outs.append(problem.sweep_inits(sweeper, functools.partial(problem.curves, net=net), key, config.seeds,
                                            data, lrs))
    names = [mlp.architecture(1, mlp.hidden_widths(a)) for a in config.architectures]
    d = problem.dataset(outs, {"architecture": names, "learning_rate": lrs}, data, net)
    d["param_count"] = ("architecture", [mlp.param_count(1, mlp.hidden_widths(a)) for a in names])
    d.attrs["activation"] = config.activation
    metrics = {"num_params": labelled.cells(d.param_count), "num_inits": config.seeds,
               **summaries.metrics(summaries.losses(d))}
    return Results(metrics, d, divergence.messages(d.diverged_at, over=("seed",), runs="initializations"))


def plot(results: Results, out_dir: Path) -> list:
    """Loss curves and fitted functions: one band per architecture (and learning rate)."""
    d = results.data
    lrs = d.learning_rate.values
    act = mlp.ACTIVATION_LABELS.get(d.attrs["activation"], d.attrs["activation"])
    title = f"{act}, SGD γ={lrs[0]:g}" if len(lrs) == 1 else f"{act}, SGD"

    def label(c):
        text = f"{c['architecture']} ({int(d.param_count.sel(architecture=c['architecture']))} parameters)"
        return text if len(lrs) == 1 else f"{text}, γ={c['learning_rate']:g}"

    panels = [(title, figures.lines(d, ("architecture", "learning_rate"), label))]
    return figures.losses_and_fits(panels, d, out_dir, "N1")


CAPTIONS = {
    "n1_losses": "Training and held-out test loss per epoch of the 4- and the 141-parameter ReLU net: in the full "
                 "2000-epoch run the small net stalls near 0.1 while the large one goes 3 orders of magnitude lower "
                 "(quick runs stop early).",
    "n1_fits": "Fitted functions on [-1.1, 1.1] and [-11, 11]: near the data each net follows the points as far as its "
               "size allows; far from them ReLU nets extrapolate linearly, each initialization its own way (bands).",
}
