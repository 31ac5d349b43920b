"""M2: over-parameterized GD, R = d, from U_0 = alpha W for several alphas in one vmapped run sharing A.

The same W for every alpha (and every step constant c): distance and the top-10 singular
values of U_t on a log grid of steps. A small start keeps U_t U_t^T near rank r and
recovers X*; alpha = 1 spreads over many directions (the implicit bias of a small start).
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
from jaxopt_course.experiments.config import axes, param
from jaxopt_course.experiments.matrix_sensing.problem import (
    SWEPT, SensingConfig, build_problem, distance_metrics, gd_trace, hp_coords, init_factor, kernel_field, masked,
    records_field, step_constant_field, swept_cells,
)
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import matrix_sensing as ms
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, positive, positive_int

ID = "M2"
TITLE = "matrix sensing: R = d, small init alpha W recovers X* (5 alphas, one vmapped run)"
TOP_K = 10  # singular values of U_t tracked


@dataclass(frozen=True)
class Config(SensingConfig):
    """M2: R = d, U_0 = alpha W (one W) for every alpha and step constant in one vmapped run sharing A."""

    num_steps: int = param(1000, "GD steps T", check=positive_int)
    alphas: tuple[float, ...] = param((1.0, 1e-1, 1e-2, 1e-3, 1e-4), "initialization scales alpha in U_0 = alpha W "
                                      "(one shared W), all in one vmapped run", check=each(positive))
    step_constant: float = step_constant_field()
    num_records: int = records_field()
    kernel: str = kernel_field()

    @classmethod
    def quick(cls):
        # m = 5 d r = 400 < d(d+1)/2 = 820: clearly over-parameterized at this small size
        return cls(d=40, r=2, m=400, num_steps=400, num_records=40)


def alpha_label(alpha: float) -> str:
    """'1e-3' style label of an initialization scale."""
    return f"{alpha:.0e}".replace("e+00", "").replace("e-0", "e-") if alpha != 1 else "1"


def _recorded(problem: ms.SensingProblem, U: jax.Array) -> dict:
    """Relative error, f(U_t) and the top-10 singular values of U_t at a recorded step."""
    return {**distance_metrics(problem, U), "singular_values": ms.top_singular_values(U, TOP_K)}


def gd_run(hp: dict, W: jax.Array, problem: ms.SensingProblem, config: Config):
    """One (alpha, c) cell: GD from U_0 = hp['alpha'] W; (trace, eta, effective rank of U_T U_T^T)."""
    U0 = jnp.asarray(hp["alpha"], W.dtype) * W
    record = runner.log_grid(config.num_steps, config.num_records)
    trace, eta = gd_trace(problem, U0, config.num_steps, functools.partial(_recorded, problem), record,
                          hp["step_constant"], config.kernel)
    return trace, eta, ms.effective_rank(trace.state)


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """All alphas (and step constants) in one jit(vmap) call sharing A: distances and singular values on a log grid."""
    key_problem, key_w = jax.random.split(key)
    problem = build_problem(ID, config, key_problem)
    W = init_factor(key_w, problem, config.d, 1.0)
    hp = {"alpha": np.asarray(config.alphas), **axes(config, "step_constant")}
    with timed(f"M2: GD, R = d = {config.d}, {len(config.alphas)} alphas x {hp['step_constant'].size} step "
               f"constant(s) vmapped, {config.num_steps} steps"):
        out = jax.block_until_ready(sweeper.grid(functools.partial(gd_run, config=config), hp, W, problem))
    lam = np.linalg.eigvalsh(np.asarray(problem.x_star, float))[::-1][: config.r]
    data = _dataset(hp, *out, np.sqrt(np.maximum(lam, 0)))
    metrics = {**_metrics(data), "step_kernel": ms.resolve_kernel(problem.operator, config.kernel),
               "singular_values_of_U_star": data.singular_values_of_U_star.values.tolist()}
    return Results(metrics, data, divergence.messages(data.diverged_at, over=()))


def _dataset(hp: dict, trace: runner.Trace, eta, erank, sv_star: np.ndarray) -> xr.Dataset:
    """The traces as (alpha, step_constant, step[, sv]) arrays, with sigma(U*) beside them."""
    cell, m = (*SWEPT, "step"), trace.metrics
    return xr.Dataset(
        {"relative_error": (cell, np.asarray(m["relative_error"], dtype=float)),
         "loss": (cell, np.asarray(m["loss"], dtype=float)),
         "singular_values": ((*cell, "sv"), np.asarray(m["singular_values"], dtype=float)),
         "step_size": (SWEPT, np.asarray(eta)), "effective_rank": (SWEPT, np.asarray(erank)),
         "diverged_at": (SWEPT, np.asarray(trace.diverged_at)), "singular_values_of_U_star": (("sv_star",), sv_star)},
        coords={**hp_coords(hp), "step": np.asarray(trace.steps[0, 0]), "sv": np.arange(1, TOP_K + 1),
                "sv_star": np.arange(1, sv_star.size + 1)},
    )


def _metrics(data: xr.Dataset) -> dict:
    """Per (alpha, c): final and best error, best step, final effective rank (None once diverged), step size."""
    ok = data.diverged_at < 0
    best = data.relative_error.argmin("step")
    final = data.isel(step=-1)
    return {
        "relative_error_final": labelled.cells(final.relative_error.where(ok)),
        "best_step": labelled.cells(data.step.isel(step=best).where(ok)),
        "relative_error_best": labelled.cells(data.relative_error.isel(step=best).where(ok)),
        "effective_rank_final": labelled.cells(data.effective_rank.where(ok)),
        "diverged_at": labelled.cells(data.diverged_at.where(~ok)),
        "step_size": labelled.cells(data.step_size),
        "singular_values_final": labelled.cells(final.singular_values, exclude=("sv",)),
    }


def plot(results: Results, out_dir: Path) -> list:
    """Distance against t (a line per alpha and c) and the top-10 singular values of U_t (a panel per alpha and c)."""
    d = results.data
    with_c = d.sizes["step_constant"] > 1
    fig, ax = plotting.figure()
    for _, cell in swept_cells(d, ("step_constant", "alpha")):
        note = divergence.message(cell.diverged_at)
        ax.plot(d.step.values, plotting.positive(masked(cell, "relative_error")),
                label=_cell_title(cell, with_c) + (f" ({note})" if note else ""))
    plotting.label(ax, "iteration t", r"$\|U_tU_t^\top - X^*\|_F / \|X^*\|_F$",
                   r"M2: $R = d$, $U_0 = \alpha W$", logy=True)
    paths = [plotting.save(fig, out_dir / "m2_distance", d[["relative_error", "diverged_at"]])]
    fig, axes_ = plotting.figure(d.sizes["step_constant"], d.sizes["alpha"], width=3.6)
    for ax, (_, cell) in zip(np.ravel(axes_), swept_cells(d, ("step_constant", "alpha"))):
        _singular_value_panel(ax, cell, with_c)
    paths.append(plotting.save(fig, out_dir / "m2_singular_values",
                               d[["singular_values", "singular_values_of_U_star", "diverged_at"]]))
    return paths


def _singular_value_panel(ax, cell: xr.Dataset, with_c: bool) -> None:
    """sigma_i(U_t) against t for one (alpha, c) cell, dotted lines at sigma_i(U*)."""
    for i, s in enumerate(masked(cell, "singular_values")):  # (sv, step)
        ax.plot(cell.step.values, plotting.positive(s), color=f"C{min(i, 9)}", lw=1.2 if i < 5 else 0.8,
                label=rf"$\sigma_{{{i + 1}}}$" if i < 6 else None)
    for s in cell.singular_values_of_U_star.values:
        ax.axhline(s, color="k", ls=":", lw=0.8)
    plotting.label(ax, "iteration t", r"$\sigma_i(U_t)$", rf"{_cell_title(cell, with_c)} (dotted: $\sigma_i(U^*)$)",
                   logy=True)


def _cell_title(cell: xr.Dataset, with_c: bool) -> str:
    """'alpha = 1e-3' (', c = 0.25' when the step constant is swept)."""
    alpha = rf"$\alpha$ = {alpha_label(float(cell.alpha))}"
    return alpha + (f", c = {float(cell.step_constant):g}" if with_c else "")


CAPTIONS = {
    "m2_distance": "Over-parameterized (R = d) GD from U₀ = αW, all five α in one vmapped run sharing A: the smaller "
                   "the initialization, the closer GD gets to X* — no explicit regularizer, only the implicit bias "
                   "of small initialization.",
    "m2_singular_values": "Top-10 singular values of U_t: with small α the top r = 5 grow to those of U* while the "
                          "rest stay small (U_tU_tᵀ stays near rank r); with α = 1 the extra ones stay large.",
}
