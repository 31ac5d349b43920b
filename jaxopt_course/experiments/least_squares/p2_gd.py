"""P2: full-batch GD with step gamma = c/beta from theta_0 = 0, and the running average of its iterates.

theta_{k+1} = theta_k - gamma grad f(theta_k), bar theta_k = 1/(k+1) sum_{j<=k} theta_j,
for n = 3 and 9: f(theta_k) - f* and f(bar theta_k) - f* on a stride grid. One
vmapped call per degree covers every value of the step scale c.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, labelled, optim, plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.least_squares.problem import full_grad, gap_metrics, make_problem
from jaxopt_course.experiments.registry import Results
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, positive, positive_int

ID = "P2"
TITLE = "GD with step 1/beta, iterates and their running average (n = 3, 9)"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """P2: GD with step c/beta (c = 1 by default) from theta0 = 0 for degrees 3 and 9."""

    degrees: tuple[int, ...] = param((3, 9), "polynomial degrees n, one GD run each", check=each(positive_int))
    step_scale: float = param(1.0, "c in the GD step gamma = c/beta", check=positive, vmap=True)
    num_steps: int = param(100_000, "GD steps T", check=positive_int)
    num_records: int = param(200, "about this many recorded steps (every T // num_records steps)", check=positive_int)

    @classmethod
    def quick(cls):
        return cls(num_steps=5_000, num_records=60)


def gd_trace(hp: dict, degree: int, num_steps: int, num_records: int) -> runner.Trace:
    """GD theta_{k+1} = theta_k - gamma grad f(theta_k), gamma = hp['lr'], with the running average of iterates."""
    p = make_problem(degree)
    opt = optim.gd(hp["lr"])
    state = runner.optimizer_init(jnp.zeros_like(p.theta_star), opt, average=True)
    record = runner.stride_grid(num_steps, max(1, num_steps // num_records))
    return runner.run(runner.optimizer_step(full_grad(p), opt), state, num_steps,
                      metrics=functools.partial(gap_metrics, p), record=record)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """Suboptimality of the GD iterates and of their running average, one vmapped call per degree over c."""
    del key  # deterministic
    scales = axes(config, "step_scale")["step_scale"]
    traces = []
    for n in config.degrees:
        lrs = {"lr": np.asarray([float(c) / make_problem(n).beta for c in scales])}  # c/beta in float64
        fn = functools.partial(gd_trace, degree=n, num_steps=config.num_steps, num_records=config.num_records)
        with timed(f"P2: GD, degree {n}, {len(scales)} step scale(s) x {config.num_steps} steps"):
            traces.append(jax.block_until_ready(sweeper.grid(fn, lrs)))
    data = xr.Dataset(
        {"gap": (("degree", "step_scale", "step"), np.stack([t.metrics["gap"] for t in traces])),
         "gap_avg": (("degree", "step_scale", "step"), np.stack([t.metrics["gap_avg"] for t in traces])),
         "diverged_at": (("degree", "step_scale"), np.stack([t.diverged_at for t in traces]))},
        coords={"degree": list(config.degrees), "step_scale": scales, "step": np.asarray(traces[0].steps[0])})
    final = data.isel(step=-1)
    metrics = {"gap_final": labelled.cells(final.gap), "gap_avg_final": labelled.cells(final.gap_avg)}
    return Results(metrics, data, divergence.messages(data.diverged_at, over=()))


def plot(results: Results, out_dir: Path) -> list:
    """f(theta_k) - f* and f(bar theta_k) - f* against k, log-linear, one panel per degree, a pair of lines per c."""
    d = results.data
    degrees, scales = d.degree.values, d.step_scale.values
    fig, axes_ = plotting.figure(1, len(degrees))
    for ax, n in zip(np.atleast_1d(axes_), degrees):
        for c in scales:
            cell = d.sel(degree=n, step_scale=c)
            tag = "" if len(scales) == 1 else f", c = {c:g}"
            for name, what in (("gap", r"$f(\theta_k) - f^*$"), ("gap_avg", r"$f(\bar\theta_k) - f^*$")):
                values = divergence.mask_after(d.step.values, cell[name].values, cell.diverged_at.values)
                ax.plot(d.step.values, plotting.positive(values), label=what + tag)
        step = f"{scales[0]:g}/β" if len(scales) == 1 else "c/β"
        plotting.label(ax, "iteration k", "suboptimality", f"P2: GD, step {step}, degree n = {n}", logy=True)
    return [plotting.save(fig, out_dir / "p2_gd", d)]


CAPTIONS = {
    "p2_gd": "GD's suboptimality falls linearly (a straight line on the log axis) until float32 rounding "
             "stops it; the running average converges only like 1/k, far slower.",
}
