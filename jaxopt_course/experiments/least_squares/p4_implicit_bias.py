"""P4: implicit bias on the over-parameterized problem (n + 1 > N), always in float64.

(a) projections theta = s a - X^T (X X^T)^{-1} (X s a - y) of scaled random candidates;
(b) GD with step c/beta and (c) SGD with step c/beta (many seeds) from 0 converge to the
minimum-norm solution X^T (X X^T)^{-1} y; (d) full-batch Adam interpolates elsewhere;
(e) the scaled projection a - H^{-1} X^T (X H^{-1} X^T)^{-1} (X a - y) for a wide H^{-1}
and (f) scaled GD theta_{k+1} = theta_k - c/beta_H H^{-1} grad f converging to its own.
Each part with a step size runs all its values in one vmapped call (SGD: with the seeds).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, labelled, plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.least_squares import bias_runs as runs
from jaxopt_course.experiments.least_squares.problem import PLOT_GRID, make_problem
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import least_squares as ls
from jaxopt_course.progress import timed
from jaxopt_course.validation import at_least, each, finite, increasing, positive, positive_int, seed_count

ID = "P4"
TITLE = "implicit bias: GD/SGD find the minimum-norm solution, Adam does not (float64)"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """P4: implicit bias towards the minimum-norm solution (degree 9, float64)."""

    degree: int = param(9, f"polynomial degree n, over-parameterized: n + 1 > N = {ls.COURSE_NUM_POINTS}",
                        check=at_least(ls.COURSE_NUM_POINTS))
    scales: tuple[float, ...] = param((0.0, 10.0, 100.0, 1000.0), "(a) scalings s of the random candidate a",
                                      check=each(finite))
    gd_steps: int = param(1_000_000, "(b) GD steps", check=positive_int)
    gd_step_scale: float = param(1.0, "(b) c in GD's step c/beta", check=positive, vmap=True)
    sgd_steps: int = param(10_000_000, "(c) SGD steps", check=positive_int)
    sgd_step_scale: float = param(0.1, "(c) c in SGD's constant step c/beta", check=positive, vmap=True)
    seeds: int = param(32, "(c) SGD runs (independent index sequences)", check=seed_count())
    adam_steps: int = param(100_000, "(d) full-batch Adam steps", check=positive_int)
    adam_lr: float = param(1e-3, "(d) Adam's learning rate (b1 = 0.9, b2 = 0.999, eps = 1e-8)", check=positive,
                           vmap=True)
    scaled_gd_steps: int = param(1_000_000, "(f) scaled GD steps", check=positive_int)
    scaled_gd_step_scale: float = param(1.0, "(f) c in scaled GD's step c/beta_H", check=positive, vmap=True)
    h_inv_projection_log10: tuple[float, float] = param(
        (-10.0, 10.0), "(e) a,b: H^{-1} = diag(10^a .. 10^b) (log-spaced) of the scaled projection", check=increasing)
    h_inv_gd_log10: tuple[float, float] = param(
        (-3.0, 0.0), "(f) a,b: H^{-1} = diag(10^a .. 10^b) (log-spaced) of scaled GD", check=increasing)
    tolerance: float = param(1e-16, "(b) report the first GD step with ||theta_k - theta*||^2 <= tolerance",
                             check=positive)
    num_records: int = param(120, "points of each run's log-spaced record grid", check=at_least(2))

    @classmethod
    def quick(cls):
        return cls(gd_steps=600_000, sgd_steps=500_000, seeds=8, adam_steps=20_000, scaled_gd_steps=600_000)


def _lrs(config: Config, field: str, beta: float = 1.0) -> dict:
    """{'lr': c/beta for each value c of the vmapped field}, in float64 as a scalar step would be."""
    return {"lr": np.asarray([float(c) / beta for c in axes(config, field)[field]])}


def _projections(p, config: Config, key) -> xr.Dataset:
    """(a) projections of s * a onto {X theta = y} for the scalings s: their curves and norms."""
    a = jax.random.normal(key, p.theta_star.shape, p.theta_star.dtype)
    thetas = [ls.projection(p.X, p.y, s * a) for s in config.scales]
    return xr.Dataset(
        {"candidate": ("coefficient", np.asarray(a)),
         "projection_norm": ("scale", np.asarray([float(jnp.linalg.norm(t)) for t in thetas])),
         "projection_fit": (("scale", "x"), np.stack([np.asarray(ls.polyval(t, jnp.asarray(PLOT_GRID)))
                                                      for t in thetas]))},
        coords={"scale": list(config.scales)})


def _gd(p, config: Config, sweeper: runner.Sweeper) -> xr.Dataset:
    """(b) GD with step c/beta from 0, all c in one vmapped call: distance to the minimum-norm solution."""
    trace, hit = sweeper.grid(functools.partial(runs.gd_runs, config=config), _lrs(config, "gd_step_scale", p.beta))
    return runs.distances("gd", trace, axes(config, "gd_step_scale"), stopped_at=hit)


def _sgd(p, config: Config, key, sweeper: runner.Sweeper) -> xr.Dataset:
    """(c) SGD with constant step c/beta from 0, all c and seeds in one vmapped call."""
    keys = jax.random.split(key, config.seeds)
    trace = sweeper.sweep(functools.partial(runs.sgd_run, config=config), keys,
                          axes=_lrs(config, "sgd_step_scale", p.beta))
    return runs.distances("sgd", trace, {**axes(config, "sgd_step_scale"), "seed": np.arange(config.seeds)})


def _adam(p, config: Config, sweeper: runner.Sweeper) -> xr.Dataset:
    """(d) full-batch Adam from 0, all learning rates in one vmapped call: it interpolates, elsewhere."""
    trace = sweeper.grid(functools.partial(runs.adam_run, config=config), _lrs(config, "adam_lr"))
    ds = runs.distances("adam", trace, axes(config, "adam_lr"))
    thetas = list(trace.state.params)
    return ds.assign(adam_loss_final=("adam_lr", [float(ls.loss(t, p.X, p.y)) for t in thetas]),
                     adam_norm=("adam_lr", [float(jnp.linalg.norm(t)) for t in thetas]),
                     adam_fit=(("adam_lr", "x"), np.stack([ls.polyval(t, jnp.asarray(PLOT_GRID)) for t in thetas])))


def _scaled(p, config: Config, sweeper: runner.Sweeper) -> xr.Dataset:
    """(e) the scaled projection for a wide H^{-1}; (f) scaled GD, all step scales in one vmapped call."""
    d = p.theta_star.shape[0]
    zero = jnp.zeros(d, p.theta_star.dtype)
    theta_e = ls.scaled_projection(p.X, p.y, jnp.logspace(*config.h_inv_projection_log10, d), zero)
    h_f = jnp.logspace(*config.h_inv_gd_log10, d)
    target_f = ls.scaled_projection(p.X, p.y, h_f, zero)
    beta_h = float(ls.scaled_smoothness(p.X, h_f))
    trace = sweeper.grid(functools.partial(runs.scaled_gd_run, config=config),
                         _lrs(config, "scaled_gd_step_scale", beta_h), h_f, target_f)
    grid = jnp.asarray(PLOT_GRID)
    return runs.distances("scaled_gd", trace, axes(config, "scaled_gd_step_scale")).assign(
        scaled_projection_theta=("coefficient", np.asarray(theta_e)),
        scaled_projection_fit=("x", np.asarray(ls.polyval(theta_e, grid))),
        scaled_projection_norm=float(jnp.linalg.norm(theta_e)),
        scaled_projection_max_abs_residual=float(jnp.max(jnp.abs(p.X @ theta_e - p.y))),
        beta_H=beta_h, scaled_gd_target_fit=("x", np.asarray(ls.polyval(target_f, grid))))


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """P4 (a)-(f), all in float64 whatever --x64 says (the distances must reach 1e-16)."""
    k_a, k_sgd = jax.random.split(key)
    with precision.float64():
        p = make_problem(config.degree)
        parts = [("(a) projections", lambda: _projections(p, config, k_a)),
                 (f"(b) GD, {config.gd_steps} steps", lambda: _gd(p, config, sweeper)),
                 (f"(c) SGD, {config.seeds} seeds x {config.sgd_steps} steps", lambda: _sgd(p, config, k_sgd, sweeper)),
                 (f"(d) Adam, {config.adam_steps} steps", lambda: _adam(p, config, sweeper)),
                 (f"(e, f) scaled projection and scaled GD, {config.scaled_gd_steps} steps",
                  lambda: _scaled(p, config, sweeper))]
        pieces = []
        for name, part in parts:
            with timed(f"P4 {name}"):
                pieces.append(jax.block_until_ready(part()))
        base = xr.Dataset(
            {"xs": ("point", np.asarray(ls.course_data()[0])), "ys": ("point", np.asarray(p.y)),
             "min_norm_fit": ("x", np.asarray(ls.polyval(p.theta_star, jnp.asarray(PLOT_GRID)))),
             "min_norm_solution_norm": float(jnp.linalg.norm(p.theta_star))},
            coords={"x": PLOT_GRID, "point": np.arange(p.X.shape[0])})
    data = xr.merge([base, *pieces]).assign_attrs(
        tolerance=config.tolerance, h_inv_projection_log10=list(config.h_inv_projection_log10),
        h_inv_gd_log10=list(config.h_inv_gd_log10))
    return Results(_metrics(data, config), data, runs.diverged(data))


def _metrics(d: xr.Dataset, config: Config) -> dict:
    """results.json: norms, final distances (SGD: median and max over seeds), GD's steps to the tolerance."""
    sgd_final = d.sgd_sq_dist.isel(sgd_step=-1)
    return {
        "min_norm_solution_norm": float(d.min_norm_solution_norm),
        "projection_norm": labelled.cells(d.projection_norm),
        "gd_sq_dist_final": labelled.cells(d.gd_sq_dist.isel(gd_step=-1)),
        f"gd_steps_to_{config.tolerance:g}": divergence.steps_or_none(labelled.cells(d.gd_stopped_at)),
        "sgd_sq_dist_final": labelled.cells(sgd_final.median("seed")),
        "sgd_sq_dist_final_max": labelled.cells(sgd_final.max("seed")),
        "adam_sq_dist_final": labelled.cells(d.adam_sq_dist.isel(adam_step=-1)),
        "adam_loss_final": labelled.cells(d.adam_loss_final),
        "adam_norm": labelled.cells(d.adam_norm),
        "scaled_projection_norm": float(d.scaled_projection_norm),
        "scaled_projection_max_abs_residual": float(d.scaled_projection_max_abs_residual),
        "beta_H": float(d.beta_H),
        "scaled_gd_sq_dist_final": labelled.cells(d.scaled_gd_sq_dist.isel(scaled_gd_step=-1)),
    }


def plot(results: Results, out_dir: Path) -> list:
    """Projections of scaled candidates, distances to the limits, and the limits' curves."""
    d = results.data
    return [_plot_projections(d, out_dir / "p4a_projections"), _plot_distances(d, out_dir / "p4_distances"),
            _plot_fits(d, out_dir / "p4_fits")]


def _plot_projections(d: xr.Dataset, path: Path) -> Path:
    """(a) fitted curves of the projections of s * a, with their norms in the legend."""
    fig, ax = plotting.figure()
    for s in d.scale.values:
        norm = float(d.projection_norm.sel(scale=s))
        ax.plot(d.x.values, d.projection_fit.sel(scale=s).values, label=f"s = {s:g}: ‖θ*‖ = {norm:.3g}")
    ax.plot(d.xs.values, d.ys.values, "ko", label="data")
    ax.set_ylim(-3, 3)
    plotting.label(ax, "x", "p(x) = θ*·φ(x)", "P4 (a): projections of s·a onto {Xθ = y}")
    return plotting.save(fig, path, d[["projection_fit", "projection_norm", "xs", "ys"]])


def _masked(d: xr.Dataset, part: str, **cell) -> tuple[np.ndarray, np.ndarray]:
    """(steps >= 1, ||theta_k - theta*||^2 of one cell, NaN from its divergence step on, floored for a log axis)."""
    steps = d[f"{part}_step"].values
    values = divergence.mask_after(steps, d[f"{part}_sq_dist"].sel(cell).values,
                                   d[f"{part}_diverged_at"].sel(cell).values)
    return np.maximum(steps, 1), plotting.positive(values)


def _plot_distances(d: xr.Dataset, path: Path) -> Path:
    """(b)-(d), (f): ||theta_k - theta*||^2 against k, log-log, a line (SGD: a band over seeds) per step size."""
    fig, ax = plotting.figure(width=6.0, height=4.2)
    for c in d.gd_step_scale.values:
        ax.plot(*_masked(d, "gd", gd_step_scale=c), label=f"GD, {c:g}/β → min-norm")
    for c in d.sgd_step_scale.values:
        plotting.band(ax, *_masked(d, "sgd", sgd_step_scale=c),
                      label=f"SGD, {c:g}/β → min-norm (median, 10-90% of {d.sizes['seed']} seeds)")
    for lr in d.adam_lr.values:
        ax.plot(*_masked(d, "adam", adam_lr=lr), label=f"Adam, {lr:g} → min-norm")
    for c in d.scaled_gd_step_scale.values:
        ax.plot(*_masked(d, "scaled_gd", scaled_gd_step_scale=c), label=f"scaled GD, {c:g}/β_H → scaled projection")
    tol = float(d.attrs["tolerance"])
    ax.axhline(tol, color="gray", ls="--", lw=0.8, label=f"{tol:g}")
    plotting.label(ax, "iteration k", r"$\|\theta_k - \theta^*\|^2$",
                   "P4: distance to the implicit-bias limit (float64)", logy=True, logx=True)
    return plotting.save(fig, path, d[[f"{part}_{what}" for part in runs.PARTS
                                       for what in ("sq_dist", "diverged_at")]])


def _range(d: xr.Dataset, name: str) -> str:
    """'diag(10^[a..b])' for the log10 range stored in the attribute ``name``."""
    lo, hi = d.attrs[name]
    return f"diag(10^[{lo:g}..{hi:g}])"


def _plot_fits(d: xr.Dataset, path: Path) -> Path:
    """(d), (e), (f): fitted curves of Adam's limit and the scaled projections vs the min-norm one."""
    fig, ax = plotting.figure(width=6.0, height=4.2)
    ax.plot(d.x.values, d.min_norm_fit.values, "-", label="minimum-norm (GD/SGD limit)")
    lrs = d.adam_lr.values
    for lr in lrs:
        tag = "" if len(lrs) == 1 else f", lr {lr:g}"
        ax.plot(d.x.values, d.adam_fit.sel(adam_lr=lr).values, "--", label=f"Adam's limit{tag}")
    ax.plot(d.x.values, d.scaled_projection_fit.values, "-.",
            label=f"scaled projection, H⁻¹ = {_range(d, 'h_inv_projection_log10')}")
    ax.plot(d.x.values, d.scaled_gd_target_fit.values, ":",
            label=f"scaled GD limit, H⁻¹ = {_range(d, 'h_inv_gd_log10')}")
    ax.plot(d.xs.values, d.ys.values, "ko", label="data")
    ax.set_ylim(-2, 2)
    plotting.label(ax, "x", "p(x)", "P4: interpolants chosen by different methods")
    return plotting.save(fig, path, d[["min_norm_fit", "adam_fit", "scaled_projection_fit", "scaled_gd_target_fit",
                                       "xs", "ys"]])


CAPTIONS = {
    "p4a_projections": "Every projection interpolates the data, but the larger the candidate a, the "
                       "wilder the interpolant between the points.",
    "p4_distances": "GD and SGD started at 0 converge to the minimum-norm solution (down to 1e-16 and "
                    "below); Adam interpolates too but stops at a squared distance of about 2e-3; scaled "
                    "GD converges to the scaled projection instead.",
    "p4_fits": "The implicit bias decides which interpolant is found: the preconditioner H changes it "
               "(scaled projections), and so does Adam's coordinate-wise scaling.",
}
