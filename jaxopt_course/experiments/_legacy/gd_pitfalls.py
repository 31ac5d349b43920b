"""G. What gradient descent gets wrong with its step size (SPEC G1, G2, G5).

* G1: a plateau. Too small a step creeps along the shelf, too large a step
  oscillates or blows up; 1e-5 ... 10 are swept in one vmapped run, with a constant
  step and two decaying ones (staircase and 1/(k+1)), each stopped at |f'(x)| <= tol.
* G2: zig-zag on a1 (x1 - c1)^2 + a2 (x2 - c2)^2 with a1 >> a2, and the smooth but
  slow path of a 100x smaller step.
* G5: GD on a 2-D quadratic risk converges iff the step is below 2 / lambda_max(H).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim, plotting
from jaxopt_course.experiments._nonconvex import check_positive, check_positive_int, none_if_negative, until_divergence
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.progress import timed
from jaxopt_course.results import divergence_message
from jaxopt_course.run import log_grid, optimizer_init, optimizer_step, run, stride_grid, tree_all_finite


def _log_rates(lo: float, hi: float, num: int) -> tuple[float, ...]:
    """num log-spaced rates from lo to hi, as plain floats."""
    return tuple(float(v) for v in np.logspace(np.log10(lo), np.log10(hi), num))


# ============================================================================= G1


SCHEDULES = ("constant", "staircase", "inverse_time")


@dataclass(frozen=True)
class PlateauConfig:
    """G1: f(x) = x^4/4 - 2a x^3/3 + (a^2 + eps) x^2/2 from x0 = 3, rates 1e-5 ... 10."""

    shelf: float = 2.0  # a: where the plateau is.
    tilt: float = 0.01  # eps: the plateau's slope is a eps.
    x0: float = 3.0
    learning_rates: tuple = _log_rates(1e-5, 10.0, 25)
    num_steps: int = 10_000
    tolerance: float = 1e-6  # stop once |f'(x_k)| <= tolerance.
    decay_period: int = 100  # staircase: gamma_k = gamma_0 / (floor(k / K) + 1).
    shown_rates: tuple = (1e-4, 1e-2, 0.3, 0.6, 1.0)

    def __post_init__(self):
        check_positive("shelf, tilt, tolerance", (self.shelf, self.tilt, self.tolerance))
        check_positive("learning_rates", self.learning_rates)
        check_positive_int("num_steps", self.num_steps)
        check_positive_int("decay_period", self.decay_period)
        if self.x0 <= self.shelf:
            raise ValueError(f"x0 must start beyond the plateau at a = {self.shelf}, got {self.x0}")

    @classmethod
    def quick(cls) -> "PlateauConfig":
        """13 rates over the same range (and 0.6, which only a decaying step saves), 3000 steps."""
        return cls(learning_rates=tuple(sorted(_log_rates(1e-5, 10.0, 13) + (0.6,))), num_steps=3000)


def _schedule(name: str, gamma0, period: int):
    """gamma_k: constant gamma0, gamma0 / (floor(k/K) + 1), or gamma0 / (k + 1)."""
    if name == "constant":
        return gamma0
    if name == "staircase":
        return optim.staircase(gamma0, period)
    return optim.inverse_time(gamma0)


def _plateau_run(gamma0, config: PlateauConfig, schedule: str):
    """GD on the plateau function with one schedule, stopped at |f'(x)| <= tol."""
    grad = functools.partial(tf.plateau_grad, shelf=config.shelf, tilt=config.tilt)
    opt = optim.gd(_schedule(schedule, gamma0, config.decay_period))
    state = optimizer_init(jnp.asarray(config.x0, jnp.result_type(float)), opt)
    loss = functools.partial(tf.plateau, shelf=config.shelf, tilt=config.tilt)
    return run(optimizer_step(lambda x, _: grad(x), opt), state, config.num_steps,
               metrics=lambda s: {"x": s.params, "f": loss(s.params)},
               record=log_grid(config.num_steps, 120), stop=lambda s: jnp.abs(grad(s.params)) <= config.tolerance)


@functools.partial(jax.jit, static_argnums=1)
def _plateau_sweep(rates: jax.Array, config: PlateauConfig) -> dict:
    """Every schedule, vmapped over the initial rates, in one compiled call."""
    return {name: jax.vmap(_plateau_run, in_axes=(0, None, None))(rates, config, name) for name in SCHEDULES}


def final_step(schedule: str, gamma0: float, num_steps: int, period: int) -> float:
    """gamma_{T-1}, the last step a schedule takes (NumPy twin of ``_schedule``)."""
    k = num_steps - 1
    return {"constant": gamma0, "staircase": gamma0 / (k // period + 1), "inverse_time": gamma0 / (k + 1)}[schedule]


def classify(diverged_at: int, stopped_at: int, final_x: float, last_step: float, config: PlateauConfig) -> str:
    """'diverged', 'converged' (tolerance met), 'stuck on the plateau' (x_T > a/2), else 'oscillating'
    if the last step exceeds 2 / f''(0) (0 is then unstable) or 'too slow' (still on its way)."""
    if diverged_at >= 0:
        return "diverged"
    if stopped_at >= 0:
        return "converged"
    if final_x > config.shelf / 2:
        return "stuck on the plateau"
    return "oscillating" if last_step > 2.0 / (config.shelf**2 + config.tilt) else "too slow"


def _schedule_summary(name: str, trace, rates: np.ndarray, config: PlateauConfig) -> dict:
    """Per rate: status, iterations to tolerance, divergence step, final x."""
    div, stop = np.asarray(trace.diverged_at), np.asarray(trace.stopped_at)
    final = np.asarray(trace.state.params, dtype=float)
    last = [final_step(name, r, config.num_steps, config.decay_period) for r in rates]
    status = [classify(d, s, x, g, config) for d, s, x, g in zip(div, stop, final, last)]
    return {
        "status": status,
        "iterations_to_tolerance": none_if_negative(stop),
        "diverged_at": none_if_negative(div),
        "final_x": [float(x) if np.isfinite(x) else None for x in final],
        "diverged_rates": [float(r) for r, s in zip(rates, status) if s == "diverged"],
        "converged_rates": [float(r) for r, s in zip(rates, status) if s == "converged"],
        "stuck_rates": [float(r) for r, s in zip(rates, status) if s == "stuck on the plateau"],
        "oscillating_rates": [float(r) for r, s in zip(rates, status) if s == "oscillating"],
        "too_slow_rates": [float(r) for r, s in zip(rates, status) if s == "too slow"],
    }


def run_plateau(config: PlateauConfig, key: jax.Array) -> Results:
    """G1: the rate sweep for three schedules; which rates diverge, creep or converge."""
    del key  # deterministic
    rates = np.asarray(config.learning_rates, dtype=float)
    with timed(f"G1: {rates.size} rates x {len(SCHEDULES)} schedules x {config.num_steps} steps"):
        traces = _plateau_sweep(jnp.asarray(rates, jnp.result_type(float)), config)
    metrics = {"learning_rates": rates.tolist(), "tolerance": config.tolerance, "shelf": config.shelf,
               "tilt": config.tilt, "x0": config.x0,
               "plateau_slope": config.shelf * config.tilt,
               "stable_step_at_minimum": 2.0 / (config.shelf**2 + config.tilt)}
    data, diverged = {"rates": rates, "shown_rates": np.asarray(config.shown_rates, float)}, {}
    for name, trace in traces.items():
        metrics[name] = _schedule_summary(name, trace, rates, config)
        data |= {f"{name}_steps": np.asarray(trace.steps)[0], f"{name}_x": np.asarray(trace.metrics["x"]),
                 f"{name}_f": np.asarray(trace.metrics["f"]), f"{name}_diverged_at": np.asarray(trace.diverged_at),
                 f"{name}_stopped_at": np.asarray(trace.stopped_at)}
        for r, d in zip(rates, np.asarray(trace.diverged_at)):
            if d >= 0:
                diverged[f"G1 {name} gamma0={r:.3g}"] = divergence_message(d)
    metrics["diverged_rates"] = metrics["constant"]["diverged_rates"]
    metrics["decaying_rescues"] = _rescues(metrics, rates)
    return Results(metrics=metrics, data=data, diverged=diverged)


def _rescues(metrics: dict, rates: np.ndarray) -> list:
    """Rates that fail with a constant step but reach the tolerance with a decaying one."""
    out = []
    for i, (r, status) in enumerate(zip(rates, metrics["constant"]["status"])):
        saved = {name: metrics[name]["iterations_to_tolerance"][i] for name in SCHEDULES[1:]
                 if metrics[name]["status"][i] == "converged"}
        if status != "converged" and saved:
            out.append({"gamma0": float(r), "constant": status, "iterations_to_tolerance": saved})
    return out


def plot_plateau(results: Results, out_dir: Path) -> list[Path]:
    """Landscape, iterations to tolerance against the rate, and trajectories of chosen rates."""
    out_dir = Path(out_dir)
    d, m = results.data, results.metrics
    rates = d["rates"]
    fig, (ax_f, ax_n, ax_k) = plotting.figure(1, 3)
    a, eps = m["shelf"], m["tilt"]
    xs = np.linspace(-0.4 * a, 1.6 * a, 400)
    ax_f.plot(xs, np.asarray(tf.plateau(xs, a, eps)), label="f(x)")
    ax_f.axvspan(a - 2 * eps**0.5, a + 2 * eps**0.5, color="tab:orange", alpha=0.15,
                 label=f"plateau, slope {m['plateau_slope']:g}")
    plotting.label(ax_f, "x", "f(x)", "G1: a function with a plateau")
    for j, (name, marker) in enumerate(zip(SCHEDULES, "os^")):
        summary = m[name]
        its = np.array([np.nan if v is None else v for v in summary["iterations_to_tolerance"]], float)
        ax_n.plot(rates, its, marker=marker, ls="-", label=f"{name}: converged")
        bad = np.array([s == "diverged" for s in summary["status"]])
        if bad.any():
            ax_n.plot(rates[bad], np.full(bad.sum(), d[f"{name}_steps"][-1] * 1.3**j), "x",
                      color=ax_n.lines[-1].get_color(), ms=8, label=f"{name}: diverged")
    plotting.label(ax_n, "initial step gamma_0", f"iterations to |f'(x)| <= {m['tolerance']:g}",
                   "x at top: diverged; missing: never reached", logx=True, logy=True)
    _plot_shown(ax_k, d, rates)
    return [plotting.save(fig, out_dir / "g1_plateau", d)]


def _plot_shown(ax, d: dict, rates: np.ndarray) -> None:
    """f(x_k) against k for a few constant rates and the staircase at the largest, truncated at divergence."""
    steps = d["constant_steps"]
    for r in d["shown_rates"]:
        i = int(np.argmin(np.abs(np.log(rates) - np.log(r))))
        k, f = until_divergence(steps, d["constant_f"][i], int(d["constant_diverged_at"][i]))
        note = "" if d["constant_diverged_at"][i] < 0 else f", diverged at step {int(d['constant_diverged_at'][i])}"
        ax.plot(np.maximum(k, 0.5), plotting.positive(f, 1e-30), label=f"constant {rates[i]:.2g}{note}")
    i = int(np.argmin(np.abs(np.log(rates) - np.log(0.6))))
    k, f = until_divergence(d["staircase_steps"], d["staircase_f"][i], int(d["staircase_diverged_at"][i]))
    ax.plot(np.maximum(k, 0.5), plotting.positive(f, 1e-30), "k--", label=f"staircase from {rates[i]:.2g}")
    plotting.label(ax, "iteration k", "f(x_k) - f*", "trajectories (stopped at the tolerance)", logx=True, logy=True)


register(Experiment("G1", "G", "plateau: learning rates 1e-5..10 vmapped, divergence reported, decaying steps",
                    PlateauConfig, run_plateau, plot_plateau,
    captions={
        'g1_plateau': "Small constant rates never leave the plateau, moderate ones converge, and rates above 2/f''(0) oscillate or diverge (marked at their step, never drawn as NaN); decaying steps rescue some large rates.",
    }))


# ============================================================================= G2


@dataclass(frozen=True)
class ZigZagConfig:
    """G2: a1 (x1 - c1)^2 + a2 (x2 - c2)^2, a1 = 2, a2 = 0.1, step 0.9 * 2/L and 100x smaller."""

    a: tuple = (2.0, 0.1)
    c: tuple = (1.0, 1.0)
    x0: tuple = (-0.5, -4.0)
    step: float = 0.45  # 0.9 * 2 / L with L = 2 max(a) = 4: x1 - c1 flips sign each step.
    num_steps: int = 60
    small_factor: int = 100  # the small step is step / small_factor, run small_factor x longer.

    def __post_init__(self):
        if len(self.a) != 2 or len(self.c) != 2 or len(self.x0) != 2:
            raise ValueError("a, c and x0 must each have two entries")
        check_positive("a", self.a)
        check_positive("step", self.step)
        check_positive_int("num_steps", self.num_steps)
        check_positive_int("small_factor", self.small_factor)

    @classmethod
    def quick(cls) -> "ZigZagConfig":
        """Half the steps and a 10x smaller step (10x longer)."""
        return cls(num_steps=30, small_factor=10)


def _zigzag_run(gamma, num_steps: int, every: int, config: ZigZagConfig):
    """GD x_{k+1} = x_k - gamma 2 a (x_k - c), recording the iterate every ``every`` steps."""
    dtype = jnp.result_type(float)
    a, c = jnp.asarray(config.a, dtype), jnp.asarray(config.c, dtype)
    opt = optim.gd(gamma)
    state = optimizer_init(jnp.asarray(config.x0, dtype), opt)
    return run(optimizer_step(lambda x, _: tf.anisotropic_quadratic_grad(x, a, c), opt), state, num_steps,
               metrics=lambda s: {"x": s.params}, record=stride_grid(num_steps, every))


def _sign_changes(values: np.ndarray) -> int:
    """Number of sign flips along a sequence (zero entries skipped)."""
    s = np.sign(values[values != 0])
    return int(np.sum(s[1:] != s[:-1]))


def run_zigzag(config: ZigZagConfig, key: jax.Array) -> Results:
    """G2: the zig-zag at a large step and the slow smooth path at a 100x smaller one."""
    del key
    runs = {"large": (config.step, config.num_steps, 1),
            "small": (config.step / config.small_factor, config.num_steps * config.small_factor,
                      max(1, config.small_factor // 10))}
    a, c, x0 = (np.asarray(v, float) for v in (config.a, config.c, config.x0))
    metrics, data = {"a": list(config.a), "c": list(config.c), "condition_number": float(a.max() / a.min())}, {}
    for name, (gamma, steps, every) in runs.items():
        trace = jax.jit(_zigzag_run, static_argnums=(1, 2, 3))(gamma, steps, every, config)
        xs = np.asarray(trace.metrics["x"], float)
        factors = 1.0 - 2.0 * gamma * a
        predicted = c + factors**steps * (x0 - c)
        metrics[name] = {
            "step": gamma, "num_steps": steps, "factors": factors.tolist(),
            "zigzags_x1": _sign_changes(xs[:, 0] - c[0]),
            "final_distance": float(np.linalg.norm(xs[-1] - c)),
            "predicted_final_distance": float(np.linalg.norm(predicted - c)),
        }
        data |= {f"{name}_steps": np.asarray(trace.steps)[0], f"{name}_x": xs}
    return Results(metrics=metrics, data=data)


def plot_zigzag(results: Results, out_dir: Path) -> list[Path]:
    """Contours of f with the two GD trajectories."""
    out_dir = Path(out_dir)
    d, m = results.data, results.metrics
    a, c = np.asarray(m["a"]), np.asarray(m["c"])
    pts = np.concatenate([d["large_x"], d["small_x"]])
    lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    fvals = a[0] * (g1 - c[0]) ** 2 + a[1] * (g2 - c[1]) ** 2
    fig, axes = plotting.figure(1, 2)
    for ax, name in zip(axes, ("large", "small")):
        run_m = m[name]
        levels = np.geomspace(fvals.min() + 1e-3, fvals.max(), 15)
        ax.contour(g1, g2, fvals, levels=levels, linewidths=0.6, cmap="viridis")
        ax.plot(d[f"{name}_x"][:, 0], d[f"{name}_x"][:, 1], "o-", ms=2.5, lw=0.8, color="tab:red",
                label=f"GD step {run_m['step']:g}, {run_m['num_steps']} steps")
        ax.plot(*c, "k*", ms=10, label="minimizer c")
        plotting.label(ax, "x1", "x2", f"{run_m['zigzags_x1']} sign flips of x1 - c1; "
                       f"factors {run_m['factors'][0]:.3g}, {run_m['factors'][1]:.3g}")
        ax.legend(loc="lower right")
    return [plotting.save(fig, out_dir / "g2_zigzag", d)]


register(Experiment("G2", "G", "zig-zag of GD on an ill-conditioned quadratic, and a 100x smaller step",
                    ZigZagConfig, run_zigzag, plot_zigzag,
    captions={
        'g2_zigzag': 'With a1 >> a2 the step that suits the flat direction makes the steep coordinate flip sign every iteration (zig-zag); a 100x smaller step no longer zig-zags but crawls along the valley.',
    }))


# ============================================================================= G5


@dataclass(frozen=True)
class CriticalStepConfig:
    """G5: R(w) from w0 = 0 with steps 0.02, 0.05, 0.1 for 500 iterations, plus a fine step sweep."""

    steps: tuple = (0.02, 0.05, 0.1)
    num_steps: int = 500
    w0: tuple = (0.0, 0.0)
    sweep_steps: tuple = tuple(float(v) for v in np.linspace(0.001, 0.1, 100))
    blowup: float = 1e12  # ||w - w*|| beyond this counts as diverged, in float32 and float64 alike.

    def __post_init__(self):
        check_positive("steps", self.steps)
        check_positive("sweep_steps", self.sweep_steps)
        check_positive_int("num_steps", self.num_steps)
        check_positive("blowup", self.blowup)
        if len(self.w0) != 2:
            raise ValueError(f"w0 must have two entries, got {self.w0}")

    @classmethod
    def quick(cls) -> "CriticalStepConfig":
        """The three course steps at full length, a coarser sweep."""
        return cls(sweep_steps=tuple(float(v) for v in np.linspace(0.005, 0.1, 20)))


def _risk_run(gamma, config: CriticalStepConfig):
    """GD on R from w0 with step gamma, recording ||w_k - w*|| on a log grid."""
    dtype = jnp.result_type(float)
    w_star = jnp.asarray(tf.RISK_MINIMIZER, dtype)
    opt = optim.gd(gamma)
    state = optimizer_init(jnp.asarray(config.w0, dtype), opt)
    dist = lambda s: jnp.linalg.norm(s.params - w_star)  # noqa: E731
    return run(optimizer_step(lambda w, _: tf.quadratic_risk_grad(w), opt), state, config.num_steps,
               metrics=lambda s: {"distance": dist(s)}, record=log_grid(config.num_steps, 100),
               diverged=lambda s: ~tree_all_finite(s) | (dist(s) > config.blowup))


@functools.partial(jax.jit, static_argnums=2)
def _risk_sweep(course_steps: jax.Array, sweep_steps: jax.Array, config: CriticalStepConfig):
    """The course's steps and the fine sweep, each vmapped over the step."""
    many = jax.vmap(_risk_run, in_axes=(0, None))
    return many(course_steps, config), many(sweep_steps, config)


def _measured_rate(steps: np.ndarray, dist: np.ndarray, diverged_at: int) -> float | None:
    """(d_T / d_j)^(1/(T-j)) between the last two recorded steps before divergence (None if too few)."""
    k, d = until_divergence(steps, dist, diverged_at)
    k, d = k[d > 0], d[d > 0]
    if k.size < 2:
        return None
    return float((d[-1] / d[-2]) ** (1.0 / (k[-1] - k[-2])))


@jax.jit
def _spectrum(w: jax.Array):
    """H = nabla^2 R(w) by autodiff (R is quadratic: any w), its eigenvalues and 2 / lambda_max."""
    hessian = jax.hessian(tf.quadratic_risk)(w)
    return hessian, jnp.linalg.eigvalsh(hessian), tf.critical_step(hessian)


def run_critical_step(config: CriticalStepConfig, key: jax.Array) -> Results:
    """G5: distances for the three steps, the Hessian's spectrum, 2/lambda_max and the rate sweep."""
    del key
    dtype = jnp.result_type(float)
    hessian, eig, critical = (np.asarray(v, float) for v in _spectrum(jnp.zeros(2, dtype)))
    critical = float(critical)
    with timed(f"G5: {len(config.steps)} steps + {len(config.sweep_steps)}-step sweep, {config.num_steps} iterations"):
        course, fine = _risk_sweep(jnp.asarray(config.steps, dtype), jnp.asarray(config.sweep_steps, dtype), config)
    c_dist, c_div = np.asarray(course.metrics["distance"], float), np.asarray(course.diverged_at)
    f_dist, f_div = np.asarray(fine.metrics["distance"], float), np.asarray(fine.diverged_at)
    rec = np.asarray(course.steps)[0]  # the same record grid for every vmapped step
    rho = lambda g: float(np.max(np.abs(1.0 - g * eig)))  # noqa: E731  (= tf.contraction_factor, on the host)
    metrics = {
        "hessian": np.asarray(hessian, float).tolist(), "hessian_eigenvalues": eig.tolist(),
        "critical_step": critical, "condition_number": float(eig[-1] / eig[0]),
        "steps": list(config.steps),
        "final_distance": [None if d >= 0 else float(v[-1]) for v, d in zip(c_dist, c_div)],
        "diverged_at": none_if_negative(c_div),
        "diverging_steps": [g for g, d in zip(config.steps, c_div) if d >= 0],
        "predicted_rate": [rho(g) for g in config.steps],
        "measured_rate": [_measured_rate(rec, v, int(d)) for v, d in zip(c_dist, c_div)],
        "sweep_first_diverging_step": next((float(g) for g, d in zip(config.sweep_steps, f_div) if d >= 0), None),
    }
    data = {"record_steps": rec, "distance": c_dist, "diverged_at": c_div, "steps": np.asarray(config.steps),
            "sweep_steps": np.asarray(config.sweep_steps), "sweep_distance": f_dist, "sweep_diverged_at": f_div,
            "sweep_predicted_rate": np.asarray([rho(g) for g in config.sweep_steps]),
            "sweep_measured_rate": np.asarray([np.nan if r is None else r for r in
                                               (_measured_rate(rec, v, int(d)) for v, d in zip(f_dist, f_div))]),
            "hessian_eigenvalues": eig}
    diverged = {f"G5 step={g:g}": divergence_message(d) for g, d in zip(config.steps, c_div) if d >= 0}
    return Results(metrics=metrics, data=data, diverged=diverged)


def plot_critical_step(results: Results, out_dir: Path) -> list[Path]:
    """||w_k - w*|| against k per step, and the rate max|1 - gamma lambda_i| against gamma with 2/lambda_max."""
    out_dir = Path(out_dir)
    d, m = results.data, results.metrics
    fig, (ax_d, ax_r) = plotting.figure(1, 2)
    for g, dist, div in zip(d["steps"], d["distance"], d["diverged_at"]):
        k, v = until_divergence(d["record_steps"], dist, int(div))
        note = f" (diverged at step {int(div)})" if div >= 0 else ""
        ax_d.plot(k, plotting.positive(v), label=f"step {g:g}{note}")
    plotting.label(ax_d, "iteration k", "||w_k - w*||", "G5: GD on R(w), w* = (1, 3)", logy=True)
    lam = m["hessian_eigenvalues"]
    ax_r.plot(d["sweep_steps"], d["sweep_predicted_rate"], label="max_i |1 - gamma lambda_i| (theory)")
    ok = np.isfinite(d["sweep_measured_rate"])
    ax_r.plot(d["sweep_steps"][ok], d["sweep_measured_rate"][ok], ".", label="measured rate")
    ax_r.axvline(m["critical_step"], color="tab:red", ls="--",
                 label=f"2/lambda_max = {m['critical_step']:.4f}\nlambda = {lam[0]:.4f}, {lam[1]:.3f}")
    ax_r.axhline(1.0, color="gray", lw=0.8)
    for g in d["steps"]:
        ax_r.axvline(g, color="gray", ls=":", lw=0.8)
    plotting.label(ax_r, "step gamma", "rate per iteration", "converges iff rate < 1 (dotted: course steps)")
    return [plotting.save(fig, out_dir / "g5_critical_step", d)]


register(Experiment("G5", "G", "GD on a 2-D quadratic risk: steps 0.02, 0.05, 0.1 vs the critical step 2/lambda_max",
                    CriticalStepConfig, run_critical_step, plot_critical_step,
    captions={
        'g5_critical_step': "Distances fall linearly for steps below 2/λ_max and blow up above it (0.1 diverges); the rate is set by max |1 - γλ| over the Hessian's eigenvalues.",
    }))
