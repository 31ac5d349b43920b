"""M3: the population loss F(U) = 1/2 ||U U^T - X*||_F^2, its rank-1 critical points, GD on it, f around it.

For R = 1 the critical points are u = 0 and u = +-sqrt(lambda_k) v_k; their Hessians
(autodiff, checked against 2||u||^2 I + 4 u u^T - 2 X*) show that 0 is a saddle. GD on F
from u_0 = alpha w (eta = c / (||X*||_F + ||u_0||^2)) escapes it and aligns with v_1, one
vmapped call over every alpha and c; f and grad f are compared with F and grad F at
random points near U* (concentration), one vmapped call over those points.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import labelled, plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import axes, param
from jaxopt_course.experiments.matrix_sensing.problem import (
    SWEPT, SensingConfig, build_problem, hp_coords, step_constant_field, swept_cells, tagged,
)
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import matrix_sensing as ms
from jaxopt_course.progress import log
from jaxopt_course.validation import at_least, positive, positive_int, seed_count

ID = "M3"
TITLE = "matrix sensing: population loss, rank-1 critical points, 0 is a saddle"
GD_RECORDS = 60  # points of the log grid of GD on F
PROBE_SCALE = 0.5  # probes U = U* + 0.5 W, W_ij ~ N(0, 1/d)


@dataclass(frozen=True)
class Config(SensingConfig):
    """M3: the population loss, its rank-1 critical points, GD on it, and f concentrating around it."""

    transpose_copy: Optional[bool] = param(False, "also store S^T (M3 takes only a few gradients of f: "
                                                  "off; none: where XLA's two passes run)")
    num_steps: int = param(400, "GD steps on the population loss F (R = 1)", check=positive_int)
    alpha: float = param(1e-3, "alpha in the start u_0 = alpha w of GD on F, w_i ~ N(0, 1/d)", check=positive,
                         vmap=True)
    step_constant: float = step_constant_field("c in eta = c / (||X*||_F + ||u_0||^2) (GD on F)")
    seeds: int = param(4, "random points U = U* + 0.5 W (W_ij ~ N(0, 1/d)) at which f, grad f are compared "
                          "with F, grad F", check=seed_count())
    grid: int = param(121, "points per axis of the landscape of F on span(v1, v2)", check=at_least(2))

    @classmethod
    def quick(cls):
        return cls(d=40, r=2, m=800, num_steps=200, grid=61)


def critical_point_table(x_star: jax.Array) -> dict:
    """For u = 0 and u = +-sqrt(lambda_k) v_k: |grad F|, Hessian spectrum (autodiff) and its closed form."""
    points, lams = ms.rank_one_critical_points(x_star)
    F = lambda u: ms.population_loss(u[:, None], x_star)  # noqa: E731
    hess = jax.jit(jax.vmap(jax.hessian(F)))(points)
    grads = jax.vmap(lambda u: ms.population_gradient(u[:, None], x_star))(points)
    closed = jax.vmap(lambda u: ms.rank_one_hessian(u, x_star))(points)
    eigs = np.linalg.eigvalsh(np.asarray(hess, float))
    return {"lambdas": np.asarray(lams), "hessian_eigenvalues": eigs,
            "gradient_norms": np.asarray(jnp.linalg.norm(grads.reshape(grads.shape[0], -1), axis=1)),
            "hessian_vs_closed_form": float(jnp.max(jnp.abs(hess - closed)))}


def population_gd(hp: dict, x_star: jax.Array, w: jax.Array, config: Config):
    """GD on F for R = 1 from u_0 = hp['alpha'] w: F(u_t), ||u_t||^2 and |cos(u_t, v_1)| on a log grid; (trace, eta)."""
    v1 = jnp.linalg.eigh(x_star)[1][:, -1]
    u0 = jnp.asarray(hp["alpha"], w.dtype) * w
    eta = jnp.asarray(hp["step_constant"], x_star.dtype) / (jnp.linalg.norm(x_star) + jnp.sum(u0 * u0))
    step = lambda U, k, noise: U - eta * ms.population_gradient(U, x_star)  # noqa: E731
    metrics = lambda U: {"F": ms.population_loss(U, x_star), "norm_sq": jnp.sum(U * U),  # noqa: E731
                         "alignment": jnp.abs(U[:, 0] @ v1) / jnp.linalg.norm(U)}
    return runner.run(step, u0, config.num_steps, metrics=metrics,
                      record=runner.log_grid(config.num_steps, GD_RECORDS)), eta


def probe(hp: dict, Us: jax.Array, problem: ms.SensingProblem):
    """f(U) and grad f(U) at the probe point U = Us[hp['probe']]."""
    U = Us[hp["probe"]]
    return ms.loss(problem.operator, problem.y, U), ms.gradient(problem.operator, problem.y, U)


def concentration(problem: ms.SensingProblem, config: Config, key: jax.Array, sweeper: runner.Sweeper):
    """|f - F| / F and ||grad f - grad F||_F / ||grad F||_F at U = U* + 0.5 W (R = r), ``config.seeds`` draws of W."""
    keys = jax.random.split(key, config.seeds)
    Us = jax.vmap(lambda k: problem.u_star + ms.init_factor(k, config.d, config.r, PROBE_SCALE,
                                                            problem.u_star.dtype))(keys)  # drawn as ever (eagerly)
    f, g = sweeper.grid(probe, {"probe": np.arange(config.seeds)}, Us, problem)
    F = jax.vmap(lambda U: ms.population_loss(U, problem.x_star))(Us)
    G = jax.vmap(lambda U: ms.population_gradient(U, problem.x_star))(Us)
    flat = lambda a: a.reshape(a.shape[0], -1)  # noqa: E731
    return np.abs(np.asarray(f - F) / np.asarray(F)), np.asarray(jnp.linalg.norm(flat(g - G), axis=1)
                                                                  / jnp.linalg.norm(flat(G), axis=1))


def landscape(x_star: jax.Array, grid: int):
    """F(a sqrt(l1) v1 + b sqrt(l2) v2) on a grid of (a, b) in [-1.5, 1.5]^2 (the top two eigenpairs)."""
    lam, V = jnp.linalg.eigh(x_star)
    e1, e2 = jnp.sqrt(lam[-1]) * V[:, -1], jnp.sqrt(jnp.maximum(lam[-2], 0)) * V[:, -2]
    ab = jnp.linspace(-1.5, 1.5, grid, dtype=x_star.dtype)
    F = jax.vmap(jax.vmap(lambda a, b: ms.population_loss((a * e1 + b * e2)[:, None], x_star), (None, 0)), (0, None))
    return np.asarray(ab), np.asarray(F(ab, ab)), (np.asarray(e1), np.asarray(e2))


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """Critical points and Hessians of F (rank 1), GD on F for every (alpha, c), f against F on the instance."""
    key_problem, key_init, key_probe = jax.random.split(key, 3)
    problem = build_problem(ID, config, key_problem)
    x_star = problem.x_star
    table = critical_point_table(x_star)
    hp = axes(config, *SWEPT)
    w = ms.init_factor(key_init, config.d, 1, 1.0, x_star.dtype)  # drawn eagerly, as the scalar code did
    trace, eta = sweeper.grid(functools.partial(population_gd, config=config), hp, x_star, w)
    loss_gap, grad_gap = concentration(problem, config, key_probe, sweeper)
    ab, surface, (e1, e2) = landscape(x_star, config.grid)
    u_final = np.asarray(trace.state)[..., 0]  # (alpha, step_constant, d)
    coords = np.apply_along_axis(lambda u: np.stack([u @ e1 / (e1 @ e1), u @ e2 / max(e2 @ e2, 1e-30)]), -1, u_final)
    data = xr.Dataset(
        {"surface": (("a", "b"), surface), "hessian_eigenvalues": (("point", "eig"), table["hessian_eigenvalues"]),
         "lambdas": (("point",), table["lambdas"]), "gradient_norms": (("point",), table["gradient_norms"]),
         **{n: ((*SWEPT, "step"), np.asarray(trace.metrics[n])) for n in ("F", "alignment", "norm_sq")},
         "gd_step_size": (SWEPT, np.asarray(eta)), "final_coordinates": ((*SWEPT, "coord"), coords),
         "loss_gap": (("seed",), loss_gap), "gradient_gap": (("seed",), grad_gap)},
        coords={"a": ab, "b": ab, "point": np.arange(table["lambdas"].size), **hp_coords(hp),
                "step": np.asarray(trace.steps[0, 0]), "coord": ["a", "b"], "seed": np.arange(config.seeds)},
    )
    metrics = _metrics(data, x_star, config, table["hessian_vs_closed_form"])
    log(f"M3: 0 is a saddle: smallest Hessian eigenvalue {metrics['hessian_min_eigenvalue_at_0']:.4f} "
        f"(closed form -2 lambda_1 = {metrics['hessian_min_eigenvalue_at_0_closed_form']:.4f})")
    return Results(metrics, data)


def _metrics(data: xr.Dataset, x_star: jax.Array, config: Config, hessian_vs_closed_form: float) -> dict:
    """The critical-point table, GD on F per (alpha, c) with its closed-form end, the concentration gaps."""
    eigs, lams = data.hessian_eigenvalues.values, data.lambdas.values
    final = data.isel(step=-1)
    return {
        "eigenvalues_of_X_star": np.sort(np.linalg.eigvalsh(np.asarray(x_star, float)))[::-1][: config.r].tolist(),
        "hessian_min_eigenvalue_at_0": float(eigs[0, 0]),
        "hessian_min_eigenvalue_at_0_closed_form": float(-2 * lams[1]),
        "critical_points": [{"lambda": float(lam), "sign": "0" if i == 0 else ("+" if i % 2 else "-"),
                             "gradient_norm": float(gn), "hessian_min": float(e[0]),
                             "negative_eigenvalues": int((e < -1e-6).sum()), "kind": kind(e)}
                            for i, (lam, gn, e) in enumerate(zip(lams, data.gradient_norms.values, eigs))],
        "hessian_autodiff_vs_closed_form_max_abs": hessian_vs_closed_form,
        "population_gd_step_size": labelled.cells(data.gd_step_size),
        "population_gd_final_F": labelled.cells(final.F),
        "population_gd_final_F_closed_form": float(0.5 * (np.sum(lams[1::2] ** 2) - lams[1] ** 2)),
        "population_gd_final_alignment_with_v1": labelled.cells(final.alignment),
        "loss_relative_gap": data.loss_gap.values.tolist(),
        "gradient_relative_gap": data.gradient_gap.values.tolist(),
    }


def kind(eigenvalues: np.ndarray, tol: float = 1e-6) -> str:
    """'minimum' if the Hessian is positive semidefinite, else 'saddle' (or 'maximum' if negative definite)."""
    if (eigenvalues >= -tol).all():
        return "minimum"
    return "maximum" if (eigenvalues < -tol).all() else "saddle"


def plot(results: Results, out_dir: Path) -> list:
    """The landscape on span(v1, v2) with critical points, Hessian spectra, and GD on F (a line per alpha, c)."""
    d = results.data
    fig, axes_ = plotting.figure(1, 3)
    _landscape_panel(fig, axes_[0], d)
    eigs = d.hessian_eigenvalues.values
    for i, e in enumerate(eigs):
        axes_[1].plot(np.full(e.shape, i), e, "_", color="C3" if e[0] < -1e-6 else "C2", ms=12)
    axes_[1].axhline(0, color="k", lw=0.8)
    names = ["0"] + [f"{s}v{k}" for k in range(1, (len(eigs) - 1) // 2 + 1) for s in "+-"]
    axes_[1].set_xticks(range(len(eigs)), names, rotation=90, fontsize=7)
    plotting.label(axes_[1], "critical point", r"eigenvalues of $\nabla^2F$", "M3: Hessian spectra (red: saddle)")
    for tag, cell in swept_cells(d):
        axes_[2].plot(d.step.values, plotting.positive(cell.F.values), label=tagged(r"$F(u_t)$", tag))
        axes_[2].plot(d.step.values, cell.alignment.values, label=tagged(r"$|\cos(u_t, v_1)|$", tag))
        axes_[2].plot(d.step.values, cell.norm_sq.values, label=tagged(r"$\|u_t\|^2$ (→ $\lambda_1$)", tag))
    plotting.label(axes_[2], "iteration t", "value", "M3: GD on F escapes the saddle 0", logy=True)
    return [plotting.save(fig, out_dir / "m3_population", d)]


def _landscape_panel(fig, ax, d: xr.Dataset) -> None:
    """log10 F on the (a, b) grid with the critical points and where GD on F ended (one circle per alpha, c)."""
    cs = ax.contourf(d.a.values, d.b.values, np.log10(d.surface.values.T + 1e-12), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label=r"$\log_{10} F$")
    ax.plot([0], [0], "rs", label="u = 0 (saddle)")
    ax.plot([1, -1], [0, 0], "w*", ms=10, label=r"$\pm\sqrt{\lambda_1}v_1$ (minima)")
    ax.plot([0, 0], [1, -1], "rx", label=r"$\pm\sqrt{\lambda_2}v_2$ (saddles)")
    ends = d.final_coordinates.stack(cell=SWEPT).transpose("coord", "cell").values
    ax.plot(*ends, "wo", mfc="none", label="GD from small $u_0$: end")
    plotting.label(ax, r"$a$ in $a\sqrt{\lambda_1}v_1$", r"$b$ in $b\sqrt{\lambda_2}v_2$",
                   r"M3: $F(u) = \|uu^\top - X^*\|_F^2 / 2$, rank 1")


CAPTIONS = {
    "m3_population": "The population loss ½‖uuᵀ − X*‖_F² for rank 1: 0 is a saddle (Hessian eigenvalue −2λ₁ computed "
                     "numerically), ±√λ₁v₁ are the minima, ±√λ_kv_k for k > 1 are saddles.",
}
