"""P1: the closed forms of polynomial least squares, in float64.

beta = 2/N ||X^T X||_2 (spectral norm) against the Frobenius-norm bound, the Hessian
2/N X^T X, grad f = 2/N X^T (X theta - y) checked against jax.grad, the unique solution
(n + 1 <= N) or the minimum-norm interpolant X^T (X X^T)^{-1} y (n + 1 > N), and
beta_H = 2/N ||H^{-1/2} X^T X H^{-1/2}||_2 for H^{-1} = diag(logspace(a, b, n + 1)).
Deterministic: no seeds, nothing swept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import labelled, plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.least_squares.problem import PLOT_GRID, make_problem
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import least_squares as ls
from jaxopt_course.validation import each, increasing, positive_int

ID = "P1"
TITLE = "polynomial least squares: beta (spectral norm), solutions, projections"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """P1: closed forms for degrees 3 and 9; beta_H for H^{-1} = diag(logspace(a, b, n+1))."""

    degrees: tuple[int, ...] = param((3, 9), "polynomial degrees n (n + 1 coefficients)", check=each(positive_int))
    h_inv_log10_range: tuple[float, float] = param(
        (-3.0, 0.0), "a,b: H^{-1} = diag(10^a .. 10^b) (log-spaced) for beta_H, at the largest degree",
        check=increasing)


def _degree_metrics(n: int) -> dict:
    """beta, its Frobenius bound, the Hessian's eigenvalues, the autodiff check, theta* and its residual."""
    p = make_problem(n)
    theta0 = jnp.linspace(-1.0, 1.0, n + 1)
    autodiff = jax.grad(ls.loss)(theta0, p.X, p.y)
    return {
        "beta": p.beta,
        "beta_frobenius": float(ls.frobenius_smoothness(p.X)),
        "hessian_eigenvalues": np.linalg.eigvalsh(np.asarray(ls.hessian(p.X))).tolist(),
        "grad_autodiff_max_abs_diff": float(jnp.max(jnp.abs(autodiff - ls.grad(theta0, p.X, p.y)))),
        "solution": np.asarray(p.theta_star).tolist(),
        "max_abs_residual": float(jnp.max(jnp.abs(p.X @ p.theta_star - p.y))),
    }


def _scaled_metrics(config: Config) -> dict:
    """beta_H (spectral) and its Frobenius bound at the largest degree."""
    xs, _ = ls.course_data()
    n_max = max(config.degrees)
    h_inv = jnp.logspace(*config.h_inv_log10_range, n_max + 1)
    X = ls.features(xs, n_max)
    root = jnp.sqrt(h_inv)
    frobenius = (2.0 / X.shape[0]) * jnp.linalg.norm(root[:, None] * (X.T @ X) * root[None, :], "fro")
    return {"beta_H": float(ls.scaled_smoothness(X, h_inv)), "beta_H_frobenius": float(frobenius)}


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """beta (spectral vs Frobenius), beta_H, solutions and a jax.grad check per degree, in float64."""
    del key, sweeper  # deterministic closed forms: no seeds, no sweep
    with precision.float64():
        xs, ys = ls.course_data()
        per_degree = [_degree_metrics(n) for n in config.degrees]
        metrics = {name: labelled.by_coordinate("degree", config.degrees, [m[name] for m in per_degree])
                   for name in per_degree[0]}
        metrics.update(_scaled_metrics(config))
        grid = jnp.asarray(PLOT_GRID)
        fits = np.stack([np.asarray(ls.polyval(make_problem(n).theta_star, grid)) for n in config.degrees])
        data = xr.Dataset(
            {"fit": (("degree", "x"), fits), "xs": ("point", np.asarray(xs)), "ys": ("point", np.asarray(ys))},
            coords={"degree": list(config.degrees), "x": PLOT_GRID, "point": np.arange(xs.shape[0])})
    return Results(metrics, data)


def plot(results: Results, out_dir: Path) -> list:
    """The 7 points, the target curve and the fitted polynomials."""
    d = results.data
    fig, ax = plotting.figure()
    ax.plot(d.x.values, np.asarray(ls.target_function(jnp.asarray(d.x.values))), "k:", label=r"$\sin(5x)e^{|2x|}/10$")
    for n in d.degree.values:
        what = "least squares" if n + 1 <= d.sizes["point"] else "minimum-norm interpolant"
        ax.plot(d.x.values, d.fit.sel(degree=n).values, label=f"n = {n}: {what}")
    ax.plot(d.xs.values, d.ys.values, "ko", label=f"data (N = {d.sizes['point']})")
    plotting.label(ax, "x", "y", "P1: closed-form solutions")
    return [plotting.save(fig, out_dir / "p1_fits", d)]


CAPTIONS = {
    "p1_fits": "The cubic (n = 3) is the unique least-squares fit and misses the points; the degree-9 "
               "minimum-norm polynomial interpolates all 7 points exactly.",
}
