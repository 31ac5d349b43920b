"""N4: SGD vs Adam on the 1-10-10-1 ReLU net from the same initializations, stopped once L(theta_k) < 1e-13.

SGD theta_{k+1} = theta_k - gamma g_k and Adam theta_{k+1} = theta_k - gamma m_hat_k /
(sqrt(v_hat_k) + eps), g_k = grad L(theta_k), full batch; the stop L(theta_k) < tol is
evaluated inside the scan (later updates masked, per initialization), then the
sharpness lambda_max(grad^2 L(theta_T)) by Lanczos. One vmapped call per optimizer
covers its learning rates and every initialization. float64 by default: in float32
SGD stalls near L = 1e-12 (its updates fall below the parameters' rounding), so the
1e-13 stop would measure precision, not optimization.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from jaxopt_course import divergence, labelled, optim, plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.networks import figures, problem, summaries
from jaxopt_course.experiments.registry import Results
from jaxopt_course.progress import timed
from jaxopt_course.validation import positive, positive_int, seed_count

ID = "N4"
TITLE = "MLP optimizer: SGD 0.05 vs Adam 0.1, early stop at loss < 1e-13, sharpness"
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """N4: SGD (0.05) vs Adam (0.1) on the 1-10-10-1 ReLU net, stopped once L(theta_k) < 1e-13."""

    widths: tuple[int, ...] = problem.widths_param()
    activation: str = problem.activation_param()
    sgd_learning_rate: float = param(0.05, "full-batch SGD step gamma", check=positive, vmap=True)
    adam_learning_rate: float = param(0.1, "Adam step gamma (b1 0.9, b2 0.999, eps 1e-8, bias-corrected)",
                                      check=positive, vmap=True)
    stop_below: float = param(1e-13, "tol: a run stops (its parameters freeze) at the first epoch with L < tol",
                              check=positive)
    num_epochs: int = problem.epochs_param(40_000, "the cap on epochs T for runs that never reach the stop")
    record_every: int = problem.record_param(20)
    seeds: int = param(20, "random initializations theta_0 (the same for both optimizers)", check=seed_count())
    test_seed: int = problem.test_seed_param()
    float64: bool = param(True, "train in float64 (in float32 SGD stalls near 1e-12, above the stop)")
    lanczos_steps: int = param(40, "Lanczos steps for lambda_max(grad^2 L(theta_T))", check=positive_int)

    @classmethod
    def quick(cls):
        return cls(num_epochs=3000, record_every=10, seeds=4, lanczos_steps=20)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """N4 in float64 (``config.float64``) or in the precision now in force."""
    if not config.float64:
        return _run(config, key, sweeper)
    with precision.float64():
        return _run(config, key, sweeper)


def _run(config: Config, key: jax.Array, sweeper: runner.Sweeper) -> Results:
    """Both optimizers at all their learning rates from the same initializations: one setting per (optimizer, gamma)."""
    data = problem.course_dataset(config.test_seed)
    outs, names, lrs = [], [], []
    for name in OPTIMIZERS:
        values = axes(config, f"{name}_learning_rate")[f"{name}_learning_rate"]
        net = problem.Net(config.widths, config.activation, name, config.num_epochs, config.stop_below,
                          config.record_every)
        fn = functools.partial(problem.curves_and_sharpness, net=net, lanczos_steps=config.lanczos_steps)
        with timed(f"N4: {net.name()}, {optim.OPTIMIZER_LABELS[name]}, {len(values)} step size(s) x {config.seeds} "
                   f"inits, up to {config.num_epochs} epochs"):
            outs.append(problem.sweep_inits(sweeper, fn, key, config.seeds, data, values))
        names += [name] * len(values)
        lrs += list(values)
    settings = [f"{optim.OPTIMIZER_LABELS[n]} γ={lr:g}" for n, lr in zip(names, lrs)]
    d = problem.dataset(outs, {"setting": settings}, data, net,
                        coords={"optimizer": ("setting", names), "learning_rate": ("setting", np.asarray(lrs))})
    d.attrs.update(widths=list(config.widths), activation=config.activation)
    parts = {**summaries.losses(d), **summaries.stops(d.stopped_at),
             **summaries.sharpness(d.sharpness, d, d.stopped_at >= 0)}
    names = _cell_names(d)
    cells = functools.partial(_cells, names)
    metrics = {"num_inits": config.seeds, **summaries.metrics(parts, cells),
               "gd_stability_threshold": cells(2.0 / d.learning_rate.where(d.optimizer == "sgd", drop=True)),
               "stop_below": config.stop_below}
    reports = {names[s]: divergence.summary(d.diverged_at.sel(setting=s).values, runs="initializations")
               for s in d.setting.values}
    return Results(metrics, d, {name: text for name, text in reports.items() if text is not None})


def _cell_names(d) -> dict:
    """{setting: 'optimizer=sgd'} (with ', learning_rate=g' when an optimizer has several)."""
    several = any((d.optimizer.values == n).sum() > 1 for n in OPTIMIZERS)
    return {s: labelled.cell_label({"optimizer": o, **({"learning_rate": lr} if several else {})})
            for s, o, lr in zip(d.setting.values, d.optimizer.values, d.learning_rate.values)}


def _cells(names: dict, da, exclude=()) -> dict:
    """{cell name: value} over the settings of ``da`` (arrays over ``exclude`` become lists)."""
    return {names[s]: labelled.cells(da.sel(setting=s), exclude=exclude)["all"] for s in da.setting.values}


def plot_stops(d, out_dir: Path) -> Path:
    """Stop epochs (left) and the sharpness lambda_max(theta_T) (right) per setting."""
    fig, axes_ = plotting.figure(1, 2)
    groups = []
    for s in d.setting.values:
        stops = d.stopped_at.sel(setting=s).values
        done = np.sort(stops[stops >= 0])
        axes_[0].plot(done, np.arange(1, done.size + 1), drawstyle="steps-post",
                      label=f"{s}: {done.size} of {stops.size} stopped")
        groups.append((str(s), figures.survivors(d.sel(setting=s), "sharpness")))
    figures.per_init(axes_[1], groups)
    plotting.label(axes_[0], "stop epoch k (first L(θ_k) < tol)", "number of initializations", "N4: early stops")
    plotting.label(axes_[1], "optimizer", r"$\lambda_{max}(\nabla^2 L(\theta_T))$", "N4: sharpness at θ_T", logy=True)
    return plotting.save(fig, out_dir / "n4_stops", d[["stopped_at", "sharpness", "diverged_at"]])


def plot(results: Results, out_dir: Path) -> list:
    """Loss curves (constant after the stop), fitted functions, stop epochs and sharpness."""
    d = results.data
    name = problem.Net(tuple(d.attrs["widths"]), d.attrs["activation"]).name()
    panels = [(name, figures.lines(d, ("setting",), lambda c: str(c["setting"])))]
    return figures.losses_and_fits(panels, d, out_dir, "N4") + [plot_stops(d, out_dir)]


CAPTIONS = {
    "n4_stops": "Epoch at which each initialization first reaches loss < 1e-13 (float64; never-stopped runs counted "
                "separately) and the top Hessian eigenvalue at the end: Adam stops about 8x sooner and, here, at "
                "flatter minima than SGD.",
    "n4_losses": "SGD 0.05 versus Adam 0.1: training and test loss per epoch, frozen at the early stop.",
    "n4_fits": "Fitted functions of both optimizers near and far from the data.",
}
