"""G1: a plateau, and the step size.

GD on f(x) = x^4/4 - 2a x^3/3 + (a^2 + eps) x^2/2 (so f'(x) = x ((x - a)^2 + eps))
from x0 = 3. Too small a step creeps along the shelf around x = a, too large a step
oscillates around 0 or blows up; the initial steps 1e-5 ... 10 run with a constant
step and two decaying ones (staircase and 1/(k+1)), each stopped at |f'(x)| <= tol,
all in one vmapped call over the rates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, optim, plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.gd_pitfalls.descent import gd_trace
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, finite, positive, positive_int

ID = "G1"
TITLE = "plateau: learning rates 1e-5..10 vmapped, divergence reported, decaying steps"
SCHEDULES = ("constant", "staircase", "inverse_time")


def log_rates(lo: float, hi: float, num: int) -> tuple[float, ...]:
    """num log-spaced rates from lo to hi, as plain floats."""
    return tuple(float(v) for v in np.logspace(np.log10(lo), np.log10(hi), num))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """G1: f(x) = x^4/4 - 2a x^3/3 + (a^2 + eps) x^2/2 from x0 = 3, rates 1e-5 ... 10."""

    shelf: float = param(2.0, "a: where the plateau is (f'(x) = x ((x - a)^2 + eps))", check=positive)
    tilt: float = param(0.01, "eps: the plateau's slope is a eps", check=positive)
    x0: float = param(3.0, "x_0: the start, beyond the plateau (x0 > shelf)", check=finite)
    learning_rates: tuple[float, ...] = param(log_rates(1e-5, 10.0, 25),
                                              "initial steps gamma_0, all in one vmapped call", check=each(positive))
    num_steps: int = param(10_000, "T: the most GD iterations of a run", check=positive_int)
    tolerance: float = param(1e-6, "stop a run once |f'(x_k)| <= tolerance", check=positive)
    decay_period: int = param(100, "K of the staircase gamma_k = gamma_0 / (floor(k / K) + 1)", check=positive_int)
    shown_rates: tuple[float, ...] = param((1e-4, 1e-2, 0.3, 0.6, 1.0),
                                           "constant rates whose f(x_k) is drawn (the nearest swept ones)",
                                           check=each(positive))

    def __post_init__(self):
        super().__post_init__()
        if self.x0 <= self.shelf:
            raise ValueError(f"x0 must start beyond the plateau at a = {self.shelf}, got {self.x0}")

    @classmethod
    def quick(cls):
        """13 rates over the same range (and 0.6, which only a decaying step saves), 3000 steps."""
        return cls(learning_rates=tuple(sorted(log_rates(1e-5, 10.0, 13) + (0.6,))), num_steps=3000)


def plateau_trace(gamma0, schedule: str, config: Config) -> runner.Trace:
    """GD on the plateau function with gamma_k = schedule(gamma0), stopped at |f'(x_k)| <= tol."""
    grad = functools.partial(tf.plateau_grad, shelf=config.shelf, tilt=config.tilt)
    loss = functools.partial(tf.plateau, shelf=config.shelf, tilt=config.tilt)
    return gd_trace(grad, config.x0, optim.schedule(schedule, gamma0, config.decay_period), config.num_steps,
                    metrics=lambda s: {"x": s.params, "f": loss(s.params)},
                    record=runner.log_grid(config.num_steps, 120),
                    stop=lambda s: jnp.abs(grad(s.params)) <= config.tolerance)


def plateau_traces(hp: dict, config: Config) -> dict:
    """{schedule: trace} for every schedule started at gamma_0 = hp['learning_rate']."""
    return {name: plateau_trace(hp["learning_rate"], name, config) for name in SCHEDULES}


def final_step(schedule: str, gamma0: float, num_steps: int, period: int) -> float:
    """gamma_{T-1}, the last step a schedule takes (NumPy twin of ``optim.schedule``)."""
    k = num_steps - 1
    return {"constant": gamma0, "staircase": gamma0 / (k // period + 1), "inverse_time": gamma0 / (k + 1)}[schedule]


def classify(diverged_at: int, stopped_at: int, final_x: float, last_step: float, config: Config) -> str:
    """'diverged', 'converged' (tolerance met), 'stuck on the plateau' (x_T > a/2), else 'oscillating'
    if the last step exceeds 2 / f''(0) (0 is then unstable) or 'too slow' (still on its way)."""
    if diverged_at >= 0:
        return "diverged"
    if stopped_at >= 0:
        return "converged"
    if final_x > config.shelf / 2:
        return "stuck on the plateau"
    return "oscillating" if last_step > 2.0 / (config.shelf**2 + config.tilt) else "too slow"


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """The rate sweep for three schedules in one vmapped call; which rates diverge, creep or converge."""
    del key  # deterministic
    rates = np.asarray(config.learning_rates, dtype=float)
    with timed(f"G1: {rates.size} rates x {len(SCHEDULES)} schedules x {config.num_steps} steps"):
        traces = jax.block_until_ready(
            sweeper.grid(functools.partial(plateau_traces, config=config), {"learning_rate": rates}))
    data = dataset(config, rates, traces)
    return Results(metrics(config, data), data, divergence.messages(data.diverged_at, over=()))


def dataset(config: Config, rates: np.ndarray, traces: dict) -> xr.Dataset:
    """x_k and f(x_k) as (schedule, learning_rate, iteration); divergence and stop steps, final x."""
    def stacked(get):
        return np.stack([np.asarray(get(traces[name])) for name in SCHEDULES])

    runs = ("schedule", "learning_rate")
    return xr.Dataset(
        {"x": (runs + ("iteration",), stacked(lambda t: t.metrics["x"])),
         "f": (runs + ("iteration",), stacked(lambda t: t.metrics["f"])),
         "final_x": (runs, stacked(lambda t: t.state.params).astype(float)),
         "diverged_at": (runs, stacked(lambda t: t.diverged_at)),
         "stopped_at": (runs, stacked(lambda t: t.stopped_at))},
        coords={"schedule": list(SCHEDULES), "learning_rate": rates,
                "iteration": np.asarray(traces["constant"].steps[0])},
        attrs={"shown_rates": list(config.shown_rates)},
    )


def schedule_summary(name: str, d: xr.Dataset, config: Config) -> dict:
    """Per rate: status, iterations to tolerance, divergence step, final x; the rates of each status."""
    cell = d.sel(schedule=name)
    rates = d.learning_rate.values
    last = [final_step(name, r, config.num_steps, config.decay_period) for r in rates]
    status = [classify(v, s, x, g, config) for v, s, x, g in
              zip(cell.diverged_at.values, cell.stopped_at.values, cell.final_x.values, last)]

    def having(s: str) -> list:
        return [float(r) for r, got in zip(rates, status) if got == s]

    return {
        "status": status,
        "iterations_to_tolerance": divergence.steps_or_none(cell.stopped_at.values),
        "diverged_at": divergence.steps_or_none(cell.diverged_at.values),
        "final_x": [float(x) if np.isfinite(x) else None for x in cell.final_x.values],
        "diverged_rates": having("diverged"), "converged_rates": having("converged"),
        "stuck_rates": having("stuck on the plateau"), "oscillating_rates": having("oscillating"),
        "too_slow_rates": having("too slow"),
    }


def metrics(config: Config, d: xr.Dataset) -> dict:
    """The problem's constants, every schedule's summary, the diverging rates and the rescues by a decaying step."""
    out = {"learning_rates": d.learning_rate.values.tolist(), "tolerance": config.tolerance, "shelf": config.shelf,
           "tilt": config.tilt, "x0": config.x0, "plateau_slope": config.shelf * config.tilt,
           "stable_step_at_minimum": 2.0 / (config.shelf**2 + config.tilt)}
    out |= {name: schedule_summary(name, d, config) for name in SCHEDULES}
    out["diverged_rates"] = out["constant"]["diverged_rates"]
    out["decaying_rescues"] = rescues(out, d.learning_rate.values)
    return out


def rescues(metrics: dict, rates: np.ndarray) -> list:
    """Rates that fail with a constant step but reach the tolerance with a decaying one."""
    out = []
    for i, (r, status) in enumerate(zip(rates, metrics["constant"]["status"])):
        saved = {name: metrics[name]["iterations_to_tolerance"][i] for name in SCHEDULES[1:]
                 if metrics[name]["status"][i] == "converged"}
        if status != "converged" and saved:
            out.append({"gamma0": float(r), "constant": status, "iterations_to_tolerance": saved})
    return out


# ----------------------------------------------------------------------------- figure


def plot(results: Results, out_dir: Path) -> list[Path]:
    """Landscape, iterations to tolerance against the rate, and trajectories of chosen rates."""
    d, m = results.data, results.metrics
    rates = d.learning_rate.values
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
            ax_n.plot(rates[bad], np.full(bad.sum(), d.iteration.values[-1] * 1.3**j), "x",
                      color=ax_n.lines[-1].get_color(), ms=8, label=f"{name}: diverged")
    plotting.label(ax_n, "initial step gamma_0", f"iterations to |f'(x)| <= {m['tolerance']:g}",
                   "x at top: diverged; missing: never reached", logx=True, logy=True)
    plot_shown(ax_k, d)
    return [plotting.save(fig, Path(out_dir) / "g1_plateau", d)]


def plot_shown(ax, d: xr.Dataset) -> None:
    """f(x_k) against k for a few constant rates and the staircase from 0.6, cut at divergence (never NaN drawn)."""
    rates, k = d.learning_rate.values, d.iteration.values

    def curve(schedule: str, rate: float):
        cell = d.sel(schedule=schedule, learning_rate=rates[np.argmin(np.abs(np.log(rates) - np.log(rate)))])
        return cell, plotting.positive(divergence.mask_after(k, cell.f.values, cell.diverged_at.values), 1e-30)

    for r in d.attrs["shown_rates"]:
        cell, f = curve("constant", r)
        div = int(cell.diverged_at)
        note = "" if div < 0 else f", diverged at step {div}"
        ax.plot(np.maximum(k, 0.5), f, label=f"constant {float(cell.learning_rate):.2g}{note}")
    cell, f = curve("staircase", 0.6)
    ax.plot(np.maximum(k, 0.5), f, "k--", label=f"staircase from {float(cell.learning_rate):.2g}")
    plotting.label(ax, "iteration k", "f(x_k) - f*", "trajectories (stopped at the tolerance)", logx=True, logy=True)


CAPTIONS = {
    "g1_plateau": "Small constant rates never leave the plateau, moderate ones converge, and rates above 2/f''(0) "
                  "oscillate or diverge (marked at their step, never drawn as NaN); decaying steps rescue some "
                  "large rates.",
}
