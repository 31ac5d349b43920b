"""G5: GD on a 2-D quadratic risk converges iff the step is below 2 / lambda_max(H).

R(w) = 13 w1^2 - 10 w1 w2 + 4 w1 + 2 w2^2 - 2 w2 + 1, minimizer w* = (1, 3), from
w0 = 0 for 500 iterations with the steps 0.02, 0.05 and 0.1 (one vmapped call over
the steps): ||w_k - w*|| falls like max_i |1 - gamma lambda_i|^k, so the course's
0.1 > 2 / lambda_max = 0.067 diverges. A fine sweep of steps (a second vmapped call)
traces the measured rate against the theory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, labelled, plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.gd_pitfalls.descent import gd_trace
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, finite, positive, positive_int

ID = "G5"
TITLE = "GD on a 2-D quadratic risk: steps 0.02, 0.05, 0.1 vs the critical step 2/lambda_max"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """G5: R(w) from w0 = 0 with steps 0.02, 0.05, 0.1 for 500 iterations, plus a fine step sweep."""

    step: float = param((0.02, 0.05, 0.1), "gamma: GD step sizes, one line each (vmapped)", check=positive,
                        vmap=True)
    num_steps: int = param(500, "T: GD iterations", check=positive_int)
    w0: tuple[float, float] = param((0.0, 0.0), "w_0: the start", check=each(finite))
    sweep_steps: tuple[float, ...] = param(tuple(float(v) for v in np.linspace(0.001, 0.1, 100)),
                                           "the fine sweep of steps for the rate figure", check=each(positive))
    blowup: float = param(1e12, "||w_k - w*|| beyond this counts as diverged (float32 and float64 alike)",
                          check=positive)

    @classmethod
    def quick(cls):
        """The three course steps at full length, a coarser sweep."""
        return cls(sweep_steps=tuple(float(v) for v in np.linspace(0.005, 0.1, 20)))


def risk_trace(hp: dict, config: Config) -> runner.Trace:
    """GD on R from w0 with step hp['step'], recording ||w_k - w*|| on a log grid; diverged past ``blowup``."""
    w_star = jnp.asarray(tf.RISK_MINIMIZER, jnp.result_type(float))
    dist = lambda s: jnp.linalg.norm(s.params - w_star)  # noqa: E731
    return gd_trace(tf.quadratic_risk_grad, config.w0, hp["step"], config.num_steps,
                    metrics=lambda s: {"distance": dist(s)}, record=runner.log_grid(config.num_steps, 100),
                    diverged=lambda s: ~runner.tree_all_finite(s) | (dist(s) > config.blowup))


@jax.jit
def spectrum(w: jax.Array):
    """H = nabla^2 R(w) by autodiff (R is quadratic: any w), its eigenvalues and 2 / lambda_max."""
    hessian = jax.hessian(tf.quadratic_risk)(w)
    return hessian, jnp.linalg.eigvalsh(hessian), tf.critical_step(hessian)


def measured_rate(steps: np.ndarray, dist: np.ndarray, diverged_at: int) -> float | None:
    """(d_T / d_j)^(1/(T-j)) between the last two recorded steps before divergence (None if too few)."""
    d = divergence.mask_after(steps, dist, diverged_at)
    keep = np.isfinite(d) & (d > 0)
    k, d = steps[keep], d[keep]
    if k.size < 2:
        return None
    return float((d[-1] / d[-2]) ** (1.0 / (k[-1] - k[-2])))


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """Distances for the steps, the Hessian's spectrum, 2/lambda_max and the rate sweep."""
    del key  # deterministic
    hessian, eig, critical = (np.asarray(v, float) for v in spectrum(jnp.zeros(2, jnp.result_type(float))))
    steps, sweep = axes(config, "step"), {"step": np.asarray(config.sweep_steps, float)}
    fn = functools.partial(risk_trace, config=config)
    with timed(f"G5: {steps['step'].size} steps + {sweep['step'].size}-step sweep, {config.num_steps} iterations"):
        course, fine = jax.block_until_ready((sweeper.grid(fn, steps), sweeper.grid(fn, sweep)))
    data = dataset(steps["step"], sweep["step"], course, fine, eig)
    return Results(metrics(data, hessian, float(critical)), data,
                   divergence.messages(data.diverged_at, over=()))


def dataset(steps, sweep_steps, course, fine, eig) -> xr.Dataset:
    """||w_k - w*|| per step (and per sweep step) against k, divergence steps, theoretical and measured rates."""
    rec = np.asarray(course.steps[0])  # the same record grid for every vmapped step
    rho = [max_rate(g, eig) for g in sweep_steps]
    f_dist, f_div = np.asarray(fine.metrics["distance"], float), np.asarray(fine.diverged_at)
    measured = [measured_rate(rec, v, d) for v, d in zip(f_dist, f_div)]
    return xr.Dataset(
        {"distance": (("step", "iteration"), np.asarray(course.metrics["distance"], float)),
         "diverged_at": ("step", np.asarray(course.diverged_at)),
         "sweep_distance": (("sweep_step", "iteration"), f_dist), "sweep_diverged_at": ("sweep_step", f_div),
         "sweep_predicted_rate": ("sweep_step", np.asarray(rho)),
         "sweep_measured_rate": ("sweep_step", np.asarray([np.nan if r is None else r for r in measured])),
         "hessian_eigenvalues": ("eigenvalue", eig)},
        coords={"step": steps, "sweep_step": sweep_steps, "iteration": rec, "eigenvalue": np.arange(eig.size)},
    )


def max_rate(gamma: float, eig: np.ndarray) -> float:
    """max_i |1 - gamma lambda_i|: GD's contraction per step (= tf.contraction_factor, on the host)."""
    return float(np.max(np.abs(1.0 - gamma * eig)))


def metrics(d: xr.Dataset, hessian: np.ndarray, critical: float) -> dict:
    """The Hessian, its spectrum and 2/lambda_max; per step the final distance, divergence step and rates."""
    eig, steps, div = d.hessian_eigenvalues.values, d.step.values, d.diverged_at
    final = d.distance.isel(iteration=-1).where(div < 0)
    rec = d.iteration.values
    rates = [measured_rate(rec, d.distance.sel(step=g).values, int(div.sel(step=g))) for g in steps]
    per_step = functools.partial(xr.DataArray, dims="step", coords={"step": steps})
    return {
        "hessian": hessian.tolist(), "hessian_eigenvalues": eig.tolist(),
        "critical_step": critical, "condition_number": float(eig[-1] / eig[0]),
        "final_distance": labelled.cells(final),
        "diverged_at": divergence.steps_or_none(labelled.cells(div)),
        "diverging_steps": [float(g) for g in steps[div.values >= 0]],
        "predicted_rate": labelled.cells(per_step([max_rate(g, eig) for g in steps])),
        "measured_rate": labelled.cells(per_step([np.nan if r is None else r for r in rates])),
        "sweep_first_diverging_step": next((float(g) for g, v in zip(d.sweep_step.values, d.sweep_diverged_at.values)
                                            if v >= 0), None),
    }


def plot(results: Results, out_dir: Path) -> list[Path]:
    """||w_k - w*|| against k per step, and the rate max|1 - gamma lambda_i| against gamma with 2/lambda_max."""
    d, m = results.data, results.metrics
    fig, (ax_d, ax_r) = plotting.figure(1, 2)
    for g in d.step.values:
        cell = d.sel(step=g)
        div = int(cell.diverged_at)
        note = f" (diverged at step {div})" if div >= 0 else ""
        dist = divergence.mask_after(d.iteration.values, cell.distance.values, div)
        ax_d.plot(d.iteration.values, plotting.positive(dist), label=f"step {g:g}{note}")
    plotting.label(ax_d, "iteration k", "||w_k - w*||", "G5: GD on R(w), w* = (1, 3)", logy=True)
    lam = m["hessian_eigenvalues"]
    ax_r.plot(d.sweep_step, d.sweep_predicted_rate, label="max_i |1 - gamma lambda_i| (theory)")
    ok = np.isfinite(d.sweep_measured_rate.values)
    ax_r.plot(d.sweep_step.values[ok], d.sweep_measured_rate.values[ok], ".", label="measured rate")
    ax_r.axvline(m["critical_step"], color="tab:red", ls="--",
                 label=f"2/lambda_max = {m['critical_step']:.4f}\nlambda = {lam[0]:.4f}, {lam[1]:.3f}")
    ax_r.axhline(1.0, color="gray", lw=0.8)
    for g in d.step.values:
        ax_r.axvline(g, color="gray", ls=":", lw=0.8)
    plotting.label(ax_r, "step gamma", "rate per iteration", "converges iff rate < 1 (dotted: course steps)")
    return [plotting.save(fig, Path(out_dir) / "g5_critical_step", d)]


CAPTIONS = {
    "g5_critical_step": "Distances fall linearly for steps below 2/λ_max and blow up above it (0.1 diverges); the "
                        "rate is set by max |1 - γλ| over the Hessian's eigenvalues.",
}
