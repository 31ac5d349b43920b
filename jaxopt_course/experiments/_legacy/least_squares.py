"""P1-P4: polynomial least squares on the course's 7 points (SPEC section P).

P1 closed forms (beta with the spectral norm, solutions, projections), P2 GD with
step 1/beta and iterate averaging, P3 SGD with three step-size schedules over many
seeds, P4 the implicit bias of GD/SGD towards the minimum-norm solution (float64),
Adam's failure to find it, and scaled projections / scaled GD.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim, plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.problems import least_squares as ls
from jaxopt_course.progress import timed
from jaxopt_course.results import divergence_message

PLOT_GRID = np.linspace(-1.0, 1.0, 401)


@dataclass(frozen=True)
class Problem:
    """One polynomial least-squares instance and its closed-form minimizer."""

    degree: int
    X: jax.Array  # (N, n+1) features
    y: jax.Array  # (N,) targets
    beta: float  # 2/N ||X^T X||_2
    theta_star: jax.Array  # unique solution (N >= n+1) or minimum-norm solution


def make_problem(degree: int) -> Problem:
    """Features, targets, beta and the minimizer of the course's problem for degree n.

    The data are constants, so they are computed eagerly even when called while
    tracing (inside a jit-compiled sweep), and beta is a Python float.
    """
    with jax.ensure_compile_time_eval():
        xs, ys = ls.course_data()
        X = ls.features(xs, degree)
        under = X.shape[0] >= X.shape[1]
        theta_star = ls.unique_solution(X, ys) if under else ls.min_norm_solution(X, ys)
        return Problem(degree, X, ys, float(ls.smoothness(X)), theta_star)


def _gap_metrics(problem: Problem, state: runner.OptimState) -> dict:
    """f(theta_k) - f* and f(bar theta_k) - f*, each as 1/N ||X (theta - theta*)||^2."""
    gap = functools.partial(ls.suboptimality, X=problem.X, theta_star=problem.theta_star)
    return {"gap": gap(state.params), "gap_avg": gap(state.average.mean)}


def _sq_dist_metric(target: jax.Array, state: runner.OptimState) -> dict:
    """||theta_k - theta*||^2."""
    return {"sq_dist": jnp.sum((state.params - target) ** 2)}


def _full_grad(problem: Problem):
    """(theta, noise) -> grad f(theta): the full-batch gradient, noise ignored."""
    return lambda theta, _: ls.grad(theta, problem.X, problem.y)


def _index_grad(problem: Problem):
    """(theta, i) -> grad f_i(theta): the gradient of one sampled term."""
    return lambda theta, i: ls.grad_i(theta, problem.X, problem.y, i)


def _index_sampler(problem: Problem):
    """(key, n) -> n uniform indices in {0..N-1}."""
    return functools.partial(ls.sample_indices, num_points=problem.X.shape[0])


# ----------------------------------------------------------------------------- P1


@dataclass(frozen=True)
class P1Config:
    """P1: closed forms for degrees 3 and 9; beta_H for H^{-1} = diag(logspace(a, b, n+1))."""

    degrees: tuple = (3, 9)
    h_inv_log10_range: tuple = (-3.0, 0.0)

    @classmethod
    def quick(cls):
        return cls()


def run_p1(config: P1Config, key: jax.Array) -> Results:
    """beta (spectral vs Frobenius), beta_H, solutions and a jax.grad check, in float64."""
    del key
    metrics, data = {}, {"x": PLOT_GRID}
    with precision.float64():
        xs, ys = ls.course_data()
        for n in config.degrees:
            p = make_problem(n)
            theta0 = jnp.linspace(-1.0, 1.0, n + 1)
            autodiff = jax.grad(ls.loss)(theta0, p.X, p.y)
            metrics[f"beta_n{n}"] = p.beta
            metrics[f"beta_frobenius_n{n}"] = float(ls.frobenius_smoothness(p.X))
            metrics[f"hessian_eigenvalues_n{n}"] = np.linalg.eigvalsh(np.asarray(ls.hessian(p.X))).tolist()
            metrics[f"grad_autodiff_max_abs_diff_n{n}"] = float(jnp.max(jnp.abs(autodiff - ls.grad(theta0, p.X, p.y))))
            name = "solution" if p.X.shape[0] >= p.X.shape[1] else "min_norm_solution"
            metrics[f"{name}_n{n}"] = np.asarray(p.theta_star).tolist()
            metrics[f"max_abs_residual_n{n}"] = float(jnp.max(jnp.abs(p.X @ p.theta_star - p.y)))
            data[f"fit_n{n}"] = np.asarray(ls.polyval(p.theta_star, jnp.asarray(PLOT_GRID)))
        n_max = max(config.degrees)
        h_inv = jnp.logspace(*config.h_inv_log10_range, n_max + 1)
        X = ls.features(xs, n_max)
        metrics["beta_H"] = float(ls.scaled_smoothness(X, h_inv))
        metrics["beta_H_frobenius"] = float((2.0 / X.shape[0]) * jnp.linalg.norm(
            jnp.sqrt(h_inv)[:, None] * (X.T @ X) * jnp.sqrt(h_inv)[None, :], "fro"))
        data.update(xs=np.asarray(xs), ys=np.asarray(ys))
    return Results(metrics=metrics, data=data)


def plot_p1(results: Results, out_dir: Path) -> list:
    """The 7 points, the target curve and the fitted polynomials."""
    d = results.data
    fig, ax = plotting.figure()
    ax.plot(d["x"], np.asarray(ls.target_function(jnp.asarray(d["x"]))), "k:", label=r"$\sin(5x)e^{|2x|}/10$")
    for name in sorted(k for k in d if k.startswith("fit_n")):
        n = name[5:]
        what = "least squares" if int(n) + 1 <= len(d["xs"]) else "minimum-norm interpolant"
        ax.plot(d["x"], d[name], label=f"n = {n}: {what}")
    ax.plot(d["xs"], d["ys"], "ko", label="data (N = 7)")
    plotting.label(ax, "x", "y", "P1: closed-form solutions")
    return [plotting.save(fig, out_dir / "p1_fits", d)]


# ----------------------------------------------------------------------------- P2


@dataclass(frozen=True)
class P2Config:
    """P2: GD with step 1/beta from theta0 = 0 for degrees 3 and 9."""

    degrees: tuple = (3, 9)
    num_steps: int = 100_000
    num_records: int = 200

    @classmethod
    def quick(cls):
        return cls(num_steps=5_000, num_records=60)


def gd_trace(degree: int, num_steps: int, num_records: int) -> runner.Trace:
    """GD theta_{k+1} = theta_k - grad f(theta_k)/beta with the running average of iterates."""
    p = make_problem(degree)
    opt = optim.gd(1.0 / p.beta)
    state = runner.optimizer_init(jnp.zeros_like(p.theta_star), opt, average=True)
    step = runner.optimizer_step(_full_grad(p), opt)
    metrics = functools.partial(_gap_metrics, p)
    record = runner.stride_grid(num_steps, max(1, num_steps // num_records))
    return jax.jit(lambda s: runner.run(step, s, num_steps, metrics=metrics, record=record))(state)


def run_p2(config: P2Config, key: jax.Array) -> Results:
    """Suboptimality of the GD iterates and of their running average, per degree."""
    del key
    metrics, data, diverged = {}, {}, {}
    for n in config.degrees:
        with timed(f"P2: GD, degree {n}, {config.num_steps} steps"):
            trace = gd_trace(n, config.num_steps, config.num_records)
        data[f"steps_n{n}"] = np.asarray(trace.steps)
        for name in ("gap", "gap_avg"):
            data[f"{name}_n{n}"] = np.asarray(trace.metrics[name])
            metrics[f"{name}_final_n{n}"] = float(trace.metrics[name][-1])
        if (msg := divergence_message(trace.diverged_at)) is not None:
            diverged[f"n{n}"] = msg
    return Results(metrics=metrics, data=data, diverged=diverged)


def plot_p2(results: Results, out_dir: Path) -> list:
    """f(theta_k) - f* and f(bar theta_k) - f* against k, log-linear, one panel per degree."""
    d = results.data
    degrees = sorted(int(k[7:]) for k in d if k.startswith("steps_n"))
    fig, axes = plotting.figure(1, len(degrees))
    for ax, n in zip(np.atleast_1d(axes), degrees):
        ax.plot(d[f"steps_n{n}"], plotting.positive(d[f"gap_n{n}"]), label=r"$f(\theta_k) - f^*$")
        ax.plot(d[f"steps_n{n}"], plotting.positive(d[f"gap_avg_n{n}"]), label=r"$f(\bar\theta_k) - f^*$")
        plotting.label(ax, "iteration k", "suboptimality", f"P2: GD, step 1/β, degree n = {n}", logy=True)
    return [plotting.save(fig, out_dir / "p2_gd", d)]


# ----------------------------------------------------------------------------- P3


SCHEDULES = ("constant", "inverse_time", "staircase")
SCHEDULE_LABELS = {"constant": "0.1/β", "inverse_time": "0.1/(β(k+1))", "staircase": "0.1/(β(⌊k/1000⌋+1))"}


@dataclass(frozen=True)
class P3Config:
    """P3: SGD with uniform sampling, 10^5 N steps, three schedules, many seeds."""

    degrees: tuple = (3, 9)
    schedules: tuple = SCHEDULES
    step_scale: float = 0.1
    staircase_period: int = 1000
    steps_per_point: int = 100_000
    seeds: int = 100
    num_records: int = 120

    @classmethod
    def quick(cls):
        return cls(steps_per_point=2_000, seeds=16, num_records=50)


def make_schedule(name: str, value: float, period: int):
    """The step-size schedule called ``name`` with constant ``value``."""
    if name == "constant":
        return optim.constant(value)
    if name == "inverse_time":
        return optim.inverse_time(value)
    if name == "staircase":
        return optim.staircase(value, period)
    raise ValueError(f"unknown schedule {name!r}; expected one of {SCHEDULES}")


def sgd_trace(key, degree: int, schedule: str, config: P3Config) -> runner.Trace:
    """One seed of SGD theta_{k+1} = theta_k - gamma_k grad f_{i_k}(theta_k), i_k uniform."""
    p = make_problem(degree)
    num_steps = config.steps_per_point * p.X.shape[0]
    opt = optim.sgd(make_schedule(schedule, config.step_scale / p.beta, config.staircase_period))
    state = runner.optimizer_init(jnp.zeros_like(p.theta_star), opt, average=True)
    return runner.run(
        runner.optimizer_step(_index_grad(p), opt), state, num_steps, key=key, sample=_index_sampler(p),
        metrics=functools.partial(_gap_metrics, p), record=runner.log_grid(num_steps, config.num_records),
    )


def run_p3(config: P3Config, key: jax.Array) -> Results:
    """All (degree, schedule) pairs, each one vmapped call over ``config.seeds`` seeds."""
    metrics, data, diverged = {}, {}, {}
    for i, n in enumerate(config.degrees):
        for j, schedule in enumerate(config.schedules):
            make_schedule(schedule, 1.0, config.staircase_period)  # validate the name early
            keys = jax.random.split(jax.random.fold_in(key, 10 * i + j), config.seeds)
            fn = functools.partial(sgd_trace, degree=n, schedule=schedule, config=config)
            with timed(f"P3: SGD, degree {n}, {schedule}, {config.seeds} seeds x "
                       f"{config.steps_per_point * 7} steps"):
                trace = jax.block_until_ready(runner.sweep(fn, keys))
            tag = f"n{n}_{schedule}"
            data[f"steps_{tag}"] = np.asarray(trace.steps[0])
            for name in ("gap", "gap_avg"):
                data[f"{name}_{tag}"] = np.asarray(trace.metrics[name])
                metrics[f"{name}_final_median_{tag}"] = float(np.nanmedian(trace.metrics[name][:, -1]))
            bad = np.asarray(trace.diverged_at)
            if (bad >= 0).any():
                diverged[tag] = f"{int((bad >= 0).sum())} of {bad.size} seeds " + divergence_message(bad[bad >= 0].min())
    return Results(metrics=metrics, data=data, diverged=diverged)


def plot_p3(results: Results, out_dir: Path) -> list:
    """Median and 10-90% bands over seeds of both suboptimalities: degrees x schedules panels."""
    d = results.data
    tags = sorted(k[6:] for k in d if k.startswith("steps_"))
    degrees = sorted({t.split("_", 1)[0] for t in tags}, key=lambda s: int(s[1:]))
    schedules = [s for s in SCHEDULES if any(t.endswith(s) for t in tags)]
    fig, axes = plotting.figure(len(degrees), len(schedules), width=4.2, height=3.3)
    axes = np.asarray(axes).reshape(len(degrees), len(schedules))
    for (r, n), (c, s) in ((a, b) for a in enumerate(degrees) for b in enumerate(schedules)):
        ax, tag = axes[r, c], f"{n}_{s}"
        steps = np.maximum(d[f"steps_{tag}"], 1)
        plotting.band(ax, steps, d[f"gap_{tag}"], label=r"$f(\theta_k)-f^*$", log=True)
        plotting.band(ax, steps, d[f"gap_avg_{tag}"], label=r"$f(\bar\theta_k)-f^*$", log=True)
        plotting.label(ax, "iteration k", "suboptimality",
                       f"P3: SGD, n = {n[1:]}, γ_k = {SCHEDULE_LABELS[s]}", logy=True, logx=True)
    fig.suptitle("P3: SGD, log-log; " + plotting.band_caption(d[f"gap_{tags[0]}"].shape[0]), fontsize=10)
    return [plotting.save(fig, out_dir / "p3_sgd", d)]


# ----------------------------------------------------------------------------- P4


@dataclass(frozen=True)
class P4Config:
    """P4: implicit bias towards the minimum-norm solution (degree 9, float64)."""

    degree: int = 9
    scales: tuple = (0.0, 10.0, 100.0, 1000.0)
    gd_steps: int = 1_000_000
    sgd_steps: int = 10_000_000
    seeds: int = 32
    adam_steps: int = 100_000
    adam_lr: float = 1e-3
    scaled_gd_steps: int = 1_000_000
    h_inv_projection_log10: tuple = (-10.0, 10.0)
    h_inv_gd_log10: tuple = (-3.0, 0.0)
    tolerance: float = 1e-16
    num_records: int = 120

    @classmethod
    def quick(cls):
        return cls(gd_steps=600_000, sgd_steps=500_000, seeds=8, adam_steps=20_000, scaled_gd_steps=600_000)


def _optimizer_run(p: Problem, opt, num_steps: int, target, num_records: int, *, key=None, stochastic=False,
                   stop_below=None) -> runner.Trace:
    """||theta_k - target||^2 along a run of ``opt`` from theta0 = 0 (full or sampled gradients)."""
    metrics = functools.partial(_sq_dist_metric, target)
    stop = None if stop_below is None else (lambda s: metrics(s)["sq_dist"] <= stop_below)
    return runner.run(
        runner.optimizer_step(_index_grad(p) if stochastic else _full_grad(p), opt),
        runner.optimizer_init(jnp.zeros_like(p.theta_star), opt), num_steps,
        key=key, sample=_index_sampler(p) if stochastic else None, metrics=metrics,
        record=runner.log_grid(num_steps, num_records), stop=stop,
    )


def _p4_projections(p: Problem, config: P4Config, key) -> tuple[dict, dict]:
    """(a) projections of s * a onto {X theta = y} for the scalings s, and their norms."""
    a = jax.random.normal(key, p.theta_star.shape, p.theta_star.dtype)
    grid = jnp.asarray(PLOT_GRID)
    metrics, data = {}, {"candidate": np.asarray(a)}
    for s in config.scales:
        theta = ls.projection(p.X, p.y, s * a)
        metrics[f"projection_norm_scale_{s:g}"] = float(jnp.linalg.norm(theta))
        data[f"projection_fit_scale_{s:g}"] = np.asarray(ls.polyval(theta, grid))
    return metrics, data


def _p4_gd(p: Problem, config: P4Config) -> tuple[dict, dict]:
    """(b) GD with step 1/beta from 0: distance to the minimum-norm solution."""
    opt = optim.gd(1.0 / p.beta)
    run = jax.jit(functools.partial(_optimizer_run, p, opt, config.gd_steps, p.theta_star, config.num_records))
    trace, first = run(), run(stop_below=config.tolerance)
    hit = int(first.stopped_at)
    return ({"gd_sq_dist_final": float(trace.metrics["sq_dist"][-1]),
             f"gd_steps_to_{config.tolerance:g}": hit if hit >= 0 else None},
            {"gd_steps": np.asarray(trace.steps), "gd_sq_dist": np.asarray(trace.metrics["sq_dist"])})


def _p4_sgd(p: Problem, config: P4Config, key) -> tuple[dict, dict]:
    """(c) SGD with step 0.1/beta from 0 over seeds: distance to the minimum-norm solution."""
    fn = functools.partial(_sgd_min_norm_run, degree=config.degree, steps=config.sgd_steps,
                           num_records=config.num_records)
    trace = jax.block_until_ready(runner.sweep(fn, jax.random.split(key, config.seeds)))
    final = np.asarray(trace.metrics["sq_dist"][:, -1])
    return ({"sgd_sq_dist_final": float(np.median(final)), "sgd_sq_dist_final_max": float(final.max())},
            {"sgd_steps": np.asarray(trace.steps[0]), "sgd_sq_dist": np.asarray(trace.metrics["sq_dist"])})


def _sgd_min_norm_run(key, degree: int, steps: int, num_records: int) -> runner.Trace:
    """One seed of SGD with constant step 0.1/beta (module-level so that sweeps can cache it)."""
    p = make_problem(degree)
    return _optimizer_run(p, optim.sgd(0.1 / p.beta), steps, p.theta_star, num_records, key=key, stochastic=True)


def _p4_adam(p: Problem, config: P4Config) -> tuple[dict, dict]:
    """(d) full-batch Adam (0.9, 0.999, eps 1e-8, bias-corrected) from 0: it interpolates elsewhere."""
    opt = optim.adam(config.adam_lr, b1=0.9, b2=0.999, eps=1e-8)
    trace = jax.jit(lambda: _optimizer_run(p, opt, config.adam_steps, p.theta_star, config.num_records))()
    theta = trace.state.params
    return ({"adam_sq_dist_final": float(trace.metrics["sq_dist"][-1]),
             "adam_loss_final": float(ls.loss(theta, p.X, p.y)), "adam_norm": float(jnp.linalg.norm(theta))},
            {"adam_steps": np.asarray(trace.steps), "adam_sq_dist": np.asarray(trace.metrics["sq_dist"]),
             "adam_fit": np.asarray(ls.polyval(theta, jnp.asarray(PLOT_GRID)))})


def _p4_scaled(p: Problem, config: P4Config) -> tuple[dict, dict]:
    """(e) the scaled projection for a wide H^{-1}; (f) scaled GD converging to its own."""
    d = p.theta_star.shape[0]
    zero = jnp.zeros(d, p.theta_star.dtype)
    h_e = jnp.logspace(*config.h_inv_projection_log10, d)
    theta_e = ls.scaled_projection(p.X, p.y, h_e, zero)
    h_f = jnp.logspace(*config.h_inv_gd_log10, d)
    target_f = ls.scaled_projection(p.X, p.y, h_f, zero)
    beta_h = float(ls.scaled_smoothness(p.X, h_f))
    opt = optim.scaled_gd(1.0 / beta_h, h_f)
    trace = jax.jit(lambda: _optimizer_run(p, opt, config.scaled_gd_steps, target_f, config.num_records))()
    grid = jnp.asarray(PLOT_GRID)
    metrics = {"scaled_projection_norm": float(jnp.linalg.norm(theta_e)),
               "scaled_projection_max_abs_residual": float(jnp.max(jnp.abs(p.X @ theta_e - p.y))),
               "beta_H": beta_h, "scaled_gd_sq_dist_final": float(trace.metrics["sq_dist"][-1])}
    data = {"scaled_projection_fit": np.asarray(ls.polyval(theta_e, grid)),
            "scaled_projection_theta": np.asarray(theta_e), "scaled_gd_target_fit": np.asarray(ls.polyval(target_f, grid)),
            "scaled_gd_steps": np.asarray(trace.steps), "scaled_gd_sq_dist": np.asarray(trace.metrics["sq_dist"])}
    return metrics, data


def run_p4(config: P4Config, key: jax.Array) -> Results:
    """P4 (a)-(f), all in float64 whatever --x64 says (the distances must reach 1e-16)."""
    if config.degree + 1 <= ls.COURSE_NUM_POINTS:
        raise ValueError(f"P4 needs an over-parameterized degree (n + 1 > {ls.COURSE_NUM_POINTS}), got {config.degree}")
    metrics, data = {}, {"x": PLOT_GRID}
    k_a, k_sgd = jax.random.split(key)
    with precision.float64():
        p = make_problem(config.degree)
        data.update(xs=np.asarray(ls.course_data()[0]), ys=np.asarray(p.y),
                    min_norm_fit=np.asarray(ls.polyval(p.theta_star, jnp.asarray(PLOT_GRID))))
        metrics["min_norm_solution_norm"] = float(jnp.linalg.norm(p.theta_star))
        parts = [("(a) projections", lambda: _p4_projections(p, config, k_a)),
                 (f"(b) GD, {config.gd_steps} steps", lambda: _p4_gd(p, config)),
                 (f"(c) SGD, {config.seeds} seeds x {config.sgd_steps} steps", lambda: _p4_sgd(p, config, k_sgd)),
                 (f"(d) Adam, {config.adam_steps} steps", lambda: _p4_adam(p, config)),
                 (f"(e, f) scaled projection and scaled GD, {config.scaled_gd_steps} steps", lambda: _p4_scaled(p, config))]
        for name, part in parts:
            with timed(f"P4 {name}"):
                m, dd = part()
            metrics.update(m)
            data.update(dd)
    return Results(metrics=metrics, data=data)


def plot_p4(results: Results, out_dir: Path) -> list:
    """Projections of scaled candidates, distances to the limits, and the limits' curves."""
    return [_plot_p4_projections(results, out_dir), _plot_p4_distances(results, out_dir),
            _plot_p4_fits(results, out_dir)]


def _plot_p4_projections(results: Results, out_dir: Path) -> Path:
    """(a) fitted curves of the projections of s * a, with their norms in the legend."""
    d, m = results.data, results.metrics
    fig, ax = plotting.figure()
    for key in sorted((k for k in d if k.startswith("projection_fit_scale_")), key=lambda k: float(k.rsplit("_", 1)[1])):
        s = key.rsplit("_", 1)[1]
        ax.plot(d["x"], d[key], label=f"s = {s}: ‖θ*‖ = {m[f'projection_norm_scale_{s}']:.3g}")
    ax.plot(d["xs"], d["ys"], "ko", label="data")
    ax.set_ylim(-3, 3)
    plotting.label(ax, "x", "p(x) = θ*·φ(x)", "P4 (a): projections of s·a onto {Xθ = y}")
    return plotting.save(fig, out_dir / "p4a_projections", {k: d[k] for k in d if "projection_fit" in k or k in ("x", "xs", "ys")})


def _plot_p4_distances(results: Results, out_dir: Path) -> Path:
    """(b)-(d), (f): ||theta_k - theta*||^2 against k, log-log."""
    d = results.data
    fig, ax = plotting.figure(width=6.0, height=4.2)
    ax.plot(np.maximum(d["gd_steps"], 1), plotting.positive(d["gd_sq_dist"]), label="GD, 1/β → min-norm")
    plotting.band(ax, np.maximum(d["sgd_steps"], 1), plotting.positive(d["sgd_sq_dist"]),
                  label=f"SGD, 0.1/β → min-norm (median, 10-90% of {d['sgd_sq_dist'].shape[0]} seeds)")
    ax.plot(np.maximum(d["adam_steps"], 1), plotting.positive(d["adam_sq_dist"]), label="Adam, 1e-3 → min-norm")
    ax.plot(np.maximum(d["scaled_gd_steps"], 1), plotting.positive(d["scaled_gd_sq_dist"]),
            label="scaled GD, 1/β_H → scaled projection")
    ax.axhline(1e-16, color="gray", ls="--", lw=0.8, label="1e-16")
    plotting.label(ax, "iteration k", r"$\|\theta_k - \theta^*\|^2$", "P4: distance to the implicit-bias limit (float64)",
                   logy=True, logx=True)
    keys = [k for k in d if k.endswith(("_steps", "_sq_dist"))]
    return plotting.save(fig, out_dir / "p4_distances", {k: d[k] for k in keys})


def _plot_p4_fits(results: Results, out_dir: Path) -> Path:
    """(d), (e), (f): fitted curves of Adam's limit and the scaled projections vs the min-norm one."""
    d = results.data
    fig, ax = plotting.figure(width=6.0, height=4.2)
    for key, lab, style in [("min_norm_fit", "minimum-norm (GD/SGD limit)", "-"), ("adam_fit", "Adam's limit", "--"),
                            ("scaled_projection_fit", "scaled projection, H⁻¹ = diag(10^[-10..10])", "-."),
                            ("scaled_gd_target_fit", "scaled GD limit, H⁻¹ = diag(10^[-3..0])", ":")]:
        ax.plot(d["x"], d[key], style, label=lab)
    ax.plot(d["xs"], d["ys"], "ko", label="data")
    ax.set_ylim(-2, 2)
    plotting.label(ax, "x", "p(x)", "P4: interpolants chosen by different methods")
    keys = ["x", "xs", "ys", "min_norm_fit", "adam_fit", "scaled_projection_fit", "scaled_gd_target_fit"]
    return plotting.save(fig, out_dir / "p4_fits", {k: d[k] for k in keys})


# ----------------------------------------------------------------------------- registry

register(Experiment(
    "P1", "P", "polynomial least squares: beta (spectral norm), solutions, projections", P1Config, run_p1, plot_p1,
    captions={"p1_fits": "The cubic (n = 3) is the unique least-squares fit and misses the points; the degree-9 "
                         "minimum-norm polynomial interpolates all 7 points exactly."}))
register(Experiment(
    "P2", "P", "GD with step 1/beta, iterates and their running average (n = 3, 9)", P2Config, run_p2, plot_p2,
    captions={"p2_gd": "GD's suboptimality falls linearly (a straight line on the log axis) until float32 rounding "
                       "stops it; the running average converges only like 1/k, far slower."}))
register(Experiment(
    "P3", "P", "SGD with three step-size schedules over many seeds (n = 3, 9)", P3Config, run_p3, plot_p3,
    captions={"p3_sgd": "A constant step stalls at a noise floor (exactly 0 only when the model interpolates, n = 9); "
                        "1/(k+1) is too timid to make progress; the staircase gets both speed and decay. "
                        "Averaging smooths the iterates but lags behind."}))
register(Experiment(
    "P4", "P", "implicit bias: GD/SGD find the minimum-norm solution, Adam does not (float64)", P4Config, run_p4,
    plot_p4,
    captions={"p4a_projections": "Every projection interpolates the data, but the larger the candidate a, the "
                                 "wilder the interpolant between the points.",
              "p4_distances": "GD and SGD started at 0 converge to the minimum-norm solution (down to 1e-16 and "
                              "below); Adam interpolates too but stops at a squared distance of about 2e-3; scaled "
                              "GD converges to the scaled projection instead.",
              "p4_fits": "The implicit bias decides which interpolant is found: the preconditioner H changes it "
                         "(scaled projections), and so does Adam's coordinate-wise scaling."}))
