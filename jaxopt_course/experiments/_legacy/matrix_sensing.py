"""M1-M3: matrix sensing (SPEC section M), the benchmarked core.

M1 GD with the exact rank R = r from a small random start, over many initializations
(one vmapped sweep sharing A); M2 the over-parameterized R = d with U_0 = alpha W for
five alphas in ONE vmapped run sharing A (distance and top-10 singular values on a log
grid of steps: a small start keeps U_t U_t^T near rank r and recovers X*); M3 the
population loss F(U) = 1/2 ||U U^T - X*||_F^2, its rank-1 critical points and their
Hessians (0 is a saddle), GD on F escaping it, and f concentrating around F.

Step size (all three): eta = c / (rms(y) + ||U_0||_2^2) with c = 0.25, where rms(y)
estimates ||X*||_F (E y_i^2 = ||X*||_F^2); see ``matrix_sensing.step_size``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.problems import matrix_sensing as ms
from jaxopt_course.progress import log, timed
from jaxopt_course.results import divergence_message

TOP_K = 10  # singular values of U_t tracked in M2


def _dtype(name: Optional[str]) -> str:
    """The storage dtype: the config's, or the default float (float64 under --x64)."""
    return jnp.dtype(name or precision.float_dtype()).name


def _build_problem(config, key: jax.Array) -> ms.SensingProblem:
    """The planted instance of a config (d, r, m, layout, dtype), streamed iff A does not fit."""
    dtype = _dtype(config.dtype)
    transpose_copy = ms.default_transpose_copy(dtype) if config.transpose_copy is None else config.transpose_copy
    copies = 2 if transpose_copy else 1
    nbytes = copies * ms.operator_bytes(config.d, config.m, config.layout, dtype)
    with timed(f"{type(config).__name__[:2]}: sensing operator, m = {config.m}, d = {config.d}, {config.layout} "
               f"{dtype}{' + transposed copy' if copies == 2 else ''} ({nbytes / 1e6:.0f} MB)"):
        return jax.block_until_ready(ms.make_problem(key, config.d, config.r, config.m, layout=config.layout,
                                                     dtype=dtype, transpose_copy=transpose_copy))


def _init(key: jax.Array, problem: ms.SensingProblem, R: int, alpha) -> jax.Array:
    """U_0 = alpha W, W_ij ~ N(0, 1/d), in the compute dtype of the stored operator."""
    ct = ms.compute_dtype(ms.storage_dtype(problem.operator))
    return ms.init_factor(key, problem.x_star.shape[0], R, alpha, ct)


def _gd_trace(problem: ms.SensingProblem, U0: jax.Array, num_steps: int, metrics, record, c: float,
              kernel: str = "auto"):
    """GD U_{t+1} = U_t - eta grad f(U_t), eta = c / (rms(y) + ||U_0||_2^2), through run.run."""
    eta = ms.step_size(problem.y, U0, c)
    return runner.run(ms.gd_step(problem, eta, kernel=kernel), U0, num_steps, metrics=metrics, record=record), eta


def _distance_metrics(problem: ms.SensingProblem, U: jax.Array) -> dict:
    """||U U^T - X*||_F / ||X*||_F and f(U) at a recorded step."""
    x_star = problem.x_star.astype(U.dtype)
    return {"relative_error": ms.relative_distance(U, x_star), "loss": ms.loss(problem.operator, problem.y, U)}


def _finite_prefix(values: np.ndarray) -> np.ndarray:
    """values with every entry from the first non-finite one on set to NaN (not drawn)."""
    values = np.array(values, dtype=float)
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        values[int(np.argmax(bad)):] = np.nan
    return values


# ----------------------------------------------------------------------------- M1


@dataclass(frozen=True)
class M1Config:
    """M1: GD with R = r from U_0 = alpha W over ``seeds`` initializations (A and X* shared)."""

    d: int = 100
    r: int = 5
    m: int = 5000  # 10 d r
    num_steps: int = 600
    alpha: float = 1e-2
    step_constant: float = ms.STEP_CONSTANT
    seeds: int = 8
    num_records: int = 80
    layout: str = "packed"
    dtype: Optional[str] = None  # storage of A: None = float32 (float64 under --x64)
    transpose_copy: Optional[bool] = None  # also store S^T (None: where XLA's two passes run; see make_problem)
    kernel: str = "auto"  # the step's products (see sensing_operator.resolve_kernel): auto, compiled or xla

    @classmethod
    def quick(cls):
        return cls(d=40, r=2, m=800, num_steps=300, seeds=4, num_records=40)


def m1_trace(key: jax.Array, problem: ms.SensingProblem, config: M1Config):
    """One initialization of M1: the GD trace and its step size."""
    U0 = _init(key, problem, config.r, config.alpha)
    record = runner.log_grid(config.num_steps, config.num_records)
    return _gd_trace(problem, U0, config.num_steps, functools.partial(_distance_metrics, problem), record,
                     config.step_constant, config.kernel)


def run_m1(config: M1Config, key: jax.Array) -> Results:
    """The distance ||U_t U_t^T - X*||_F against t for every initialization, in one sweep."""
    key_problem, key_init = jax.random.split(key)
    problem = _build_problem(config, key_problem)
    keys = jax.random.split(key_init, config.seeds)
    with timed(f"M1: GD, R = r = {config.r}, {config.num_steps} steps x {config.seeds} seeds"):
        trace, eta = jax.block_until_ready(runner.sweep(functools.partial(m1_trace, config=config), keys, problem))
    err = np.asarray(trace.metrics["relative_error"], dtype=float)
    steps = np.asarray(trace.steps[0])
    diverged = {f"seed {s}": msg for s, k in enumerate(np.asarray(trace.diverged_at))
                if (msg := divergence_message(k)) is not None}
    final = err[:, -1]
    reached = [int(steps[np.argmax(e <= 1e-3)]) if (e <= 1e-3).any() else None for e in err]
    metrics = {
        "step_size": float(np.median(np.asarray(eta))),
        "relative_error_final_median": float(np.nanmedian(final)),
        "relative_error_final_max": float(np.nanmax(final)),
        "steps_to_1e-3_median": float(np.median([r for r in reached if r is not None])) if any(
            r is not None for r in reached) else None,
        "seeds_reaching_1e-3": sum(r is not None for r in reached),
        "loss_final_median": float(np.nanmedian(np.asarray(trace.metrics["loss"])[:, -1])),
        "diverged_seeds": len(diverged),
        "step_kernel": ms.resolve_kernel(problem.operator, config.kernel),
    }
    data = {"steps": steps, "relative_error": err, "loss": np.asarray(trace.metrics["loss"], dtype=float)}
    return Results(metrics=metrics, data=data, diverged=diverged)


def plot_m1(results: Results, out_dir: Path) -> list:
    """Relative distance and loss against t, log-y, median and 10-90% band over initializations."""
    d = results.data
    fig, axes = plotting.figure(1, 2)
    errs = np.stack([_finite_prefix(e) for e in d["relative_error"]])
    losses = np.stack([_finite_prefix(e) for e in d["loss"]])
    plotting.band(axes[0], d["steps"], plotting.positive(errs), label=r"GD, $R = r$", log=True)
    plotting.label(axes[0], "iteration t", r"$\|U_tU_t^\top - X^*\|_F / \|X^*\|_F$", "M1: recovery with R = r",
                   logy=True)
    plotting.band(axes[1], d["steps"], plotting.positive(losses), label=r"$f(U_t)$", log=True)
    plotting.label(axes[1], "iteration t", r"$f(U_t)$", "M1: training loss", logy=True)
    return [plotting.save(fig, out_dir / "m1_distance", d)]


# ----------------------------------------------------------------------------- M2


@dataclass(frozen=True)
class M2Config:
    """M2: R = d, U_0 = alpha W (one W) for every alpha in one vmapped run sharing A."""

    d: int = 100
    r: int = 5
    m: int = 5000  # 10 d r, just below d(d+1)/2 = 5050: the interpolating U U^T are not unique
    num_steps: int = 1000
    alphas: tuple = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
    step_constant: float = ms.STEP_CONSTANT
    num_records: int = 80
    layout: str = "packed"
    dtype: Optional[str] = None
    transpose_copy: Optional[bool] = None  # also store S^T (None: where XLA's two passes run; see make_problem)
    kernel: str = "auto"  # the step's products (see sensing_operator.resolve_kernel): auto, compiled or xla

    @classmethod
    def quick(cls):
        # m = 5 d r = 400 < d(d+1)/2 = 820: clearly over-parameterized at this small size
        return cls(d=40, r=2, m=400, num_steps=400, num_records=40)


def _m2_metrics(problem: ms.SensingProblem, U: jax.Array) -> dict:
    """Relative error and the top-10 singular values of U_t at a recorded step."""
    return {**_distance_metrics(problem, U), "singular_values": ms.top_singular_values(U, TOP_K)}


def m2_trace(alpha, W: jax.Array, problem: ms.SensingProblem, config: M2Config):
    """One alpha of M2 (vmapped over alpha by ``run_m2``): trace, step size, final effective rank."""
    U0 = jnp.asarray(alpha, W.dtype) * W
    record = runner.log_grid(config.num_steps, config.num_records)
    trace, eta = _gd_trace(problem, U0, config.num_steps, functools.partial(_m2_metrics, problem), record,
                           config.step_constant, config.kernel)
    return trace, eta, ms.effective_rank(trace.state)


def alpha_label(alpha: float) -> str:
    """'1e-3' style label of an initialization scale."""
    return f"{alpha:.0e}".replace("e+00", "").replace("e-0", "e-") if alpha != 1 else "1"


def _m2_alpha_metrics(steps, err, erank, diverged_at) -> dict:
    """Final error, best step and error, final effective rank of one alpha (None once diverged)."""
    if diverged_at >= 0:
        return {"relative_error_final": None, "best_step": None, "relative_error_best": None,
                "effective_rank_final": None, "diverged_at": int(diverged_at)}
    best = int(np.nanargmin(err))
    return {"relative_error_final": float(err[-1]), "best_step": int(steps[best]),
            "relative_error_best": float(err[best]), "effective_rank_final": float(erank), "diverged_at": None}


def run_m2(config: M2Config, key: jax.Array) -> Results:
    """All alphas in one jit(vmap) call sharing A: distances and singular values on a log grid."""
    key_problem, key_w = jax.random.split(key)
    problem = _build_problem(config, key_problem)
    W = _init(key_w, problem, config.d, 1.0)
    alphas = jnp.asarray(config.alphas, W.dtype)
    sweep = jax.jit(jax.vmap(functools.partial(m2_trace, config=config), in_axes=(0, None, None)))
    with timed(f"M2: GD, R = d = {config.d}, {len(config.alphas)} alphas vmapped, {config.num_steps} steps"):
        trace, eta, erank = jax.block_until_ready(sweep(alphas, W, problem))
    steps = np.asarray(trace.steps[0])
    err = np.asarray(trace.metrics["relative_error"], dtype=float)
    labels = [alpha_label(a) for a in config.alphas]
    per_alpha = {lab: _m2_alpha_metrics(steps, err[i], np.asarray(erank)[i], int(trace.diverged_at[i]))
                 for i, lab in enumerate(labels)}
    diverged = {f"alpha={lab}": divergence_message(trace.diverged_at[i]) for i, lab in enumerate(labels)
                if int(trace.diverged_at[i]) >= 0}
    metrics = {name: {lab: per_alpha[lab][name] for lab in labels} for name in next(iter(per_alpha.values()))}
    metrics["step_size"] = {lab: float(e) for lab, e in zip(labels, np.asarray(eta))}
    metrics["step_kernel"] = ms.resolve_kernel(problem.operator, config.kernel)
    metrics["singular_values_final"] = {lab: np.asarray(trace.metrics["singular_values"][i, -1]).tolist()
                                        for i, lab in enumerate(labels)}
    lam = np.linalg.eigvalsh(np.asarray(problem.x_star, float))[::-1][: config.r]
    metrics["singular_values_of_U_star"] = np.sqrt(np.maximum(lam, 0)).tolist()
    data = {"steps": steps, "alphas": np.asarray(config.alphas), "relative_error": err,
            "loss": np.asarray(trace.metrics["loss"], dtype=float),
            "singular_values": np.asarray(trace.metrics["singular_values"], dtype=float),
            "singular_values_of_U_star": np.asarray(metrics["singular_values_of_U_star"])}
    return Results(metrics=metrics, data=data, diverged=diverged)


def plot_m2(results: Results, out_dir: Path) -> list:
    """Distance against t (one line per alpha) and the top-10 singular values of U_t per alpha."""
    d = results.data
    labels = [alpha_label(a) for a in d["alphas"]]
    fig, ax = plotting.figure()
    for lab, err in zip(labels, d["relative_error"]):
        note = f" ({results.diverged[f'alpha={lab}']})" if f"alpha={lab}" in results.diverged else ""
        ax.plot(d["steps"], plotting.positive(_finite_prefix(err)), label=rf"$\alpha$ = {lab}{note}")
    plotting.label(ax, "iteration t", r"$\|U_tU_t^\top - X^*\|_F / \|X^*\|_F$",
                   r"M2: $R = d$, $U_0 = \alpha W$", logy=True)
    paths = [plotting.save(fig, out_dir / "m2_distance", {k: d[k] for k in ("steps", "alphas", "relative_error")})]
    fig, axes = plotting.figure(1, len(labels), width=3.6)
    for ax, lab, sv in zip(np.atleast_1d(axes), labels, d["singular_values"]):
        sv = _finite_prefix(sv)
        for i in range(sv.shape[1]):
            ax.plot(d["steps"], plotting.positive(sv[:, i]), color=f"C{min(i, 9)}", lw=1.2 if i < 5 else 0.8,
                    label=rf"$\sigma_{{{i + 1}}}$" if i < 6 else None)
        for s in d["singular_values_of_U_star"]:
            ax.axhline(s, color="k", ls=":", lw=0.8)
        plotting.label(ax, "iteration t", r"$\sigma_i(U_t)$", rf"$\alpha$ = {lab} (dotted: $\sigma_i(U^*)$)", logy=True)
    paths.append(plotting.save(fig, out_dir / "m2_singular_values",
                               {k: d[k] for k in ("steps", "alphas", "singular_values", "singular_values_of_U_star")}))
    return paths


# ----------------------------------------------------------------------------- M3


@dataclass(frozen=True)
class M3Config:
    """M3: the population loss, its rank-1 critical points, GD on it, and f concentrating around it."""

    d: int = 100
    r: int = 5
    m: int = 5000  # for the comparison of f and grad f with F and grad F at random points
    num_steps: int = 400
    alpha: float = 1e-3
    step_constant: float = ms.STEP_CONSTANT
    num_probes: int = 4
    grid: int = 121
    layout: str = "packed"
    dtype: Optional[str] = None
    transpose_copy: bool = False

    @classmethod
    def quick(cls):
        return cls(d=40, r=2, m=800, num_steps=200, grid=61)


def _critical_point_table(x_star: jax.Array) -> dict:
    """For u = 0 and u = +-sqrt(lambda_k) v_k: |grad F|, Hessian spectrum (autodiff) and its closed form."""
    points, lams = ms.rank_one_critical_points(x_star)
    F = lambda u: ms.population_loss(u[:, None], x_star)  # noqa: E731
    hess = jax.jit(jax.vmap(jax.hessian(F)))(points)
    grads = jax.vmap(lambda u: ms.population_gradient(u[:, None], x_star))(points)
    closed = jax.vmap(lambda u: ms.rank_one_hessian(u, x_star))(points)
    eigs = np.linalg.eigvalsh(np.asarray(hess, float))
    return {"points": np.asarray(points), "lambdas": np.asarray(lams), "hessian_eigenvalues": eigs,
            "gradient_norms": np.asarray(jnp.linalg.norm(grads.reshape(grads.shape[0], -1), axis=1)),
            "hessian_vs_closed_form": float(jnp.max(jnp.abs(hess - closed)))}


def _population_gd(x_star: jax.Array, config: M3Config, key: jax.Array):
    """GD on F for R = 1 from u_0 = alpha w: F(u_t), ||u_t||^2 and |cos(u_t, v_1)| on a log grid."""
    v1 = jnp.linalg.eigh(x_star)[1][:, -1]
    u0 = ms.init_factor(key, x_star.shape[0], 1, config.alpha, x_star.dtype)
    eta = config.step_constant / (jnp.linalg.norm(x_star) + jnp.sum(u0 * u0))
    step = lambda U, k, noise: U - eta * ms.population_gradient(U, x_star)  # noqa: E731
    metrics = lambda U: {"F": ms.population_loss(U, x_star), "norm_sq": jnp.sum(U * U),  # noqa: E731
                         "alignment": jnp.abs(U[:, 0] @ v1) / jnp.linalg.norm(U)}
    record = runner.log_grid(config.num_steps, 60)
    return jax.jit(lambda u: runner.run(step, u, config.num_steps, metrics=metrics, record=record))(u0), eta


def _concentration(problem: ms.SensingProblem, config: M3Config, key: jax.Array) -> dict:
    """|f - F| / F and ||grad f - grad F||_F / ||grad F||_F at random U (R = r) around the truth."""
    keys = jax.random.split(key, config.num_probes)
    Us = jax.vmap(lambda k: problem.u_star + ms.init_factor(k, config.d, config.r, 0.5, problem.u_star.dtype))(keys)
    f = jax.jit(jax.vmap(lambda U, p: ms.loss(p.operator, p.y, U), in_axes=(0, None)))(Us, problem)
    g = jax.jit(jax.vmap(lambda U, p: ms.gradient(p.operator, p.y, U), in_axes=(0, None)))(Us, problem)
    F = jax.vmap(lambda U: ms.population_loss(U, problem.x_star))(Us)
    G = jax.vmap(lambda U: ms.population_gradient(U, problem.x_star))(Us)
    gap = jnp.linalg.norm((g - G).reshape(len(keys), -1), axis=1) / jnp.linalg.norm(G.reshape(len(keys), -1), axis=1)
    return {"loss_relative_gap": np.abs(np.asarray(f - F) / np.asarray(F)).tolist(),
            "gradient_relative_gap": np.asarray(gap).tolist()}


def _landscape(x_star: jax.Array, grid: int):
    """F(a sqrt(l1) v1 + b sqrt(l2) v2) on a grid of (a, b) in [-1.5, 1.5]^2 (the top two eigenpairs)."""
    lam, V = jnp.linalg.eigh(x_star)
    e1, e2 = jnp.sqrt(lam[-1]) * V[:, -1], jnp.sqrt(jnp.maximum(lam[-2], 0)) * V[:, -2]
    ab = jnp.linspace(-1.5, 1.5, grid, dtype=x_star.dtype)
    F = jax.vmap(jax.vmap(lambda a, b: ms.population_loss((a * e1 + b * e2)[:, None], x_star), (None, 0)), (0, None))
    return np.asarray(ab), np.asarray(F(ab, ab)), (np.asarray(e1), np.asarray(e2))


def run_m3(config: M3Config, key: jax.Array) -> Results:
    """Critical points and Hessians of F (rank 1), GD on F, f against F on the M1-sized instance."""
    key_problem, key_init, key_probe = jax.random.split(key, 3)
    problem = _build_problem(config, key_problem)
    x_star = problem.x_star
    table = _critical_point_table(x_star)
    trace, eta = _population_gd(x_star, config, key_init)
    ab, surface, (e1, e2) = _landscape(x_star, config.grid)
    eigs, lams = table["hessian_eigenvalues"], table["lambdas"]
    u_final = np.asarray(trace.state[:, 0])
    coords = np.stack([u_final @ e1 / (e1 @ e1), u_final @ e2 / max(e2 @ e2, 1e-30)])
    metrics = {
        "eigenvalues_of_X_star": np.sort(np.linalg.eigvalsh(np.asarray(x_star, float)))[::-1][: config.r].tolist(),
        "hessian_min_eigenvalue_at_0": float(eigs[0, 0]),
        "hessian_min_eigenvalue_at_0_closed_form": float(-2 * lams[1]),
        "critical_points": [{"lambda": float(lam), "sign": "0" if i == 0 else ("+" if i % 2 else "-"),
                             "gradient_norm": float(gn), "hessian_min": float(e[0]),
                             "negative_eigenvalues": int((e < -1e-6).sum()), "kind": _kind(e)}
                            for i, (lam, gn, e) in enumerate(zip(lams, table["gradient_norms"], eigs))],
        "hessian_autodiff_vs_closed_form_max_abs": table["hessian_vs_closed_form"],
        "population_gd_step_size": float(eta),
        "population_gd_final_F": float(trace.metrics["F"][-1]),
        "population_gd_final_F_closed_form": float(0.5 * (np.sum(np.asarray(lams[1::2]) ** 2) - lams[1] ** 2)),
        "population_gd_final_alignment_with_v1": float(trace.metrics["alignment"][-1]),
        **_concentration(problem, config, key_probe),
    }
    log(f"M3: 0 is a saddle: smallest Hessian eigenvalue {metrics['hessian_min_eigenvalue_at_0']:.4f} "
        f"(closed form -2 lambda_1 = {metrics['hessian_min_eigenvalue_at_0_closed_form']:.4f})")
    data = {"grid": ab, "surface": surface, "hessian_eigenvalues": eigs, "lambdas": lams,
            "steps": np.asarray(trace.steps), "F": np.asarray(trace.metrics["F"]),
            "alignment": np.asarray(trace.metrics["alignment"]), "norm_sq": np.asarray(trace.metrics["norm_sq"]),
            "final_coordinates": coords}
    return Results(metrics=metrics, data=data)


def _kind(eigenvalues: np.ndarray, tol: float = 1e-6) -> str:
    """'minimum' if the Hessian is positive semidefinite, else 'saddle' (or 'maximum' if negative definite)."""
    if (eigenvalues >= -tol).all():
        return "minimum"
    return "maximum" if (eigenvalues < -tol).all() else "saddle"


def plot_m3(results: Results, out_dir: Path) -> list:
    """The landscape on span(v1, v2) with critical points, Hessian spectra, and GD on F."""
    d = results.data
    fig, axes = plotting.figure(1, 3)
    a = d["grid"]
    cs = axes[0].contourf(a, a, np.log10(d["surface"].T + 1e-12), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=axes[0], label=r"$\log_{10} F$")
    axes[0].plot([0], [0], "rs", label="u = 0 (saddle)")
    axes[0].plot([1, -1], [0, 0], "w*", ms=10, label=r"$\pm\sqrt{\lambda_1}v_1$ (minima)")
    axes[0].plot([0, 0], [1, -1], "rx", label=r"$\pm\sqrt{\lambda_2}v_2$ (saddles)")
    axes[0].plot(*d["final_coordinates"], "wo", mfc="none", label="GD from small $u_0$: end")
    plotting.label(axes[0], r"$a$ in $a\sqrt{\lambda_1}v_1$", r"$b$ in $b\sqrt{\lambda_2}v_2$",
                   r"M3: $F(u) = \|uu^\top - X^*\|_F^2 / 2$, rank 1")
    eigs = d["hessian_eigenvalues"]
    for i, e in enumerate(eigs):
        axes[1].plot(np.full(e.shape, i), e, "_", color="C3" if e[0] < -1e-6 else "C2", ms=12)
    axes[1].axhline(0, color="k", lw=0.8)
    names = ["0"] + [f"{s}v{k}" for k in range(1, (len(eigs) - 1) // 2 + 1) for s in "+-"]
    axes[1].set_xticks(range(len(eigs)), names, rotation=90, fontsize=7)
    plotting.label(axes[1], "critical point", r"eigenvalues of $\nabla^2F$", "M3: Hessian spectra (red: saddle)")
    axes[2].plot(d["steps"], plotting.positive(d["F"]), label=r"$F(u_t)$")
    axes[2].plot(d["steps"], d["alignment"], label=r"$|\cos(u_t, v_1)|$")
    axes[2].plot(d["steps"], d["norm_sq"], label=r"$\|u_t\|^2$ (→ $\lambda_1$)")
    plotting.label(axes[2], "iteration t", "value", "M3: GD on F escapes the saddle 0", logy=True)
    return [plotting.save(fig, out_dir / "m3_population", d)]


register(Experiment("M1", "M", "matrix sensing: GD with R = r recovers X* = U*U*^T", M1Config, run_m1, plot_m1,
    captions={
        'm1_distance': 'GD with the right rank R = r drives the relative error ‖U_tU_tᵀ − X*‖_F / ‖X*‖_F down linearly to the float32 floor (~1e-7) from every initialization.',
    }))
register(Experiment("M2", "M", "matrix sensing: R = d, small init alpha W recovers X* (5 alphas, one vmapped run)",
                    M2Config, run_m2, plot_m2,
    captions={
        'm2_distance': 'Over-parameterized (R = d) GD from U₀ = αW, all five α in one vmapped run sharing A: the smaller the initialization, the closer GD gets to X* — no explicit regularizer, only the implicit bias of small initialization.',
        'm2_singular_values': 'Top-10 singular values of U_t: with small α the top r = 5 grow to those of U* while the rest stay small (U_tU_tᵀ stays near rank r); with α = 1 the extra ones stay large.',
    }))
register(Experiment("M3", "M", "matrix sensing: population loss, rank-1 critical points, 0 is a saddle",
                    M3Config, run_m3, plot_m3,
    captions={
        'm3_population': 'The population loss ½‖uuᵀ − X*‖_F² for rank 1: 0 is a saddle (Hessian eigenvalue −2λ₁ computed numerically), ±√λ₁v₁ are the minima, ±√λ_kv_k for k > 1 are saddles.',
    }))
