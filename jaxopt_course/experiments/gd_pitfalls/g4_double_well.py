"""G4: GD on f(x) = x^4 - 4x^2 from sqrt(3) with step 1/4 lands on the local maximum 0 in one step.

With gamma = 1/4 the GD map is T(x) = x - gamma (4x^3 - 8x) = 3x - x^3, which sends sqrt(3)
to 0, a fixed point (f'(0) = 0) that is repelling (|T'(0)| = 1 + 8 gamma = 3).
sqrt(3) is irrational and no float near it is an exact preimage of 0, so the landing is
reported with its rounding residual (float64 and float32), the 3^k growth of that
residual, and a start at exactly 0 that indeed stays there.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from jaxopt_course import plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.gd_pitfalls.fixed_points import gd_orbit, ulp_neighbours
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.validation import positive, positive_int

ID = "G4"
TITLE = "x^4 - 4x^2 from sqrt(3), step 1/4: one step lands on the local maximum 0"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """G4: x^4 - 4x^2 from sqrt(3) with step 1/4."""

    step: float = param(0.25, "GD step gamma (1/4 makes T(x) = 3x - x^3, which sends sqrt(3) to 0)", check=positive)
    num_steps: int = param(60, "GD steps from each start", check=positive_int)
    ulp_radius: int = param(64, "floats within this many ulps of sqrt(3) searched for an exact preimage of 0",
                            check=positive_int)
    leave_threshold: float = param(1e-3, "|x_k| beyond this: GD has left the maximum", check=positive)

    @classmethod
    def quick(cls):
        return cls()  # the same: it is tiny


def decimal_first_iterate(step: float, digits: int = 50) -> float:
    """x_1 = x_0 - gamma (4 x_0^3 - 8 x_0) at x_0 = sqrt(3), in ``digits``-digit decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = digits
        x = Decimal(3).sqrt()
        return float(x - Decimal(repr(step)) * (4 * x**3 - 8 * x))


def orbit(hp: dict, config: Config) -> jax.Array:
    """x_0..x_T of GD on x^4 - 4x^2 with step gamma from x_0 = hp['x0'] (its dtype is the precision)."""
    return gd_orbit(hp["x0"], config.step, tf.double_well_grad, config.num_steps).metrics["x"]


def leave_step(orbit_: np.ndarray, threshold: float) -> int:
    """The first k >= 1 with |x_k| > threshold (GD has left the maximum), or -1."""
    out = np.flatnonzero(np.abs(orbit_[1:]) > threshold)
    return -1 if out.size == 0 else int(out[0] + 1)


def orbit_summary(orbit_: np.ndarray, config: Config) -> dict:
    """First iterate, its size in ulps of sqrt(3), growth factor near 0, when GD leaves, where it ends."""
    x1 = float(orbit_[1])
    small = (np.abs(orbit_[1:-1]) > 0) & (np.abs(orbit_[1:-1]) < config.leave_threshold / 100)
    ratios = orbit_[2:][small] / orbit_[1:-1][small]
    leave = leave_step(orbit_, config.leave_threshold)
    ulp = float(np.spacing(orbit_.dtype.type(math.sqrt(3.0))))
    growth = 1.0 + 8.0 * config.step  # |T'(0)| = |1 - gamma f''(0)|, f''(0) = -8
    return {
        "first_iterate": x1, "first_iterate_ulps_of_sqrt3": abs(x1) / ulp,
        "growth_factor_near_0": float(np.median(ratios)) if ratios.size else None,
        "leaves_at_step": None if leave < 0 else leave,
        "predicted_leave_step": None if x1 == 0 else 1 + math.log(config.leave_threshold / abs(x1)) / math.log(growth),
        # After leaving, step 1/4 is too large for the minima as well (|T'(+-sqrt 2)| = 3): T(2 cos t) =
        # -2 cos 3t is chaotic on [-2, 2], so GD wanders there instead of converging.
        "range_after_leaving": None if leave < 0 else [float(orbit_[leave:].min()), float(orbit_[leave:].max())],
    }


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """G4: one step from sqrt(3) lands on the maximum 0 (up to rounding); exactly at 0 GD stays."""
    del key  # deterministic
    root3 = math.sqrt(3.0)
    fn = functools.partial(orbit, config=config)
    with precision.float64():
        cands = ulp_neighbours(root3, config.ulp_radius)
        orbits64 = np.asarray(sweeper.grid(fn, {"x0": np.append(cands, 0.0)}))  # the floats near sqrt(3), then 0
    orbit32 = np.asarray(sweeper.grid(fn, {"x0": np.asarray([root3], np.float32)}))[0]
    nearest = orbits64[config.ulp_radius]
    g = config.step
    metrics = {
        "x0": root3, "step": g, "map": f"T(x) = x - gamma f'(x) = {1 + 8 * g:g} x - {4 * g:g} x^3 for gamma = {g:g}",
        "first_iterate_exact_arithmetic": decimal_first_iterate(g),
        "float64": orbit_summary(nearest, config), "float32": orbit_summary(orbit32, config),
        "float64_exact_preimages_within_ulps": [int(i - config.ulp_radius) for i in range(cands.size)
                                                if orbits64[i, 1] == 0.0],
        "ulp_radius": config.ulp_radius,
        "start_at_zero_stays_exactly": bool(np.all(orbits64[-1] == 0.0)),
        "instability_factor": 1.0 + 8.0 * g,  # |T'(0)| = |1 - gamma f''(0)|, f''(0) = -8.
        "instability_factor_at_minima": abs(1.0 - 16.0 * g),  # f''(+-sqrt 2) = 16.
    }
    data = xr.Dataset({"orbit_float64": ("step", nearest), "orbit_float32": ("step", orbit32),
                       "orbit_from_zero": ("step", orbits64[-1])}, coords={"step": np.arange(orbits64.shape[1])})
    return Results(metrics, data)


def plot(results: Results, out_dir: Path) -> list:
    """The landscape with the landing, and |x_k| against k (float64, float32, exact 0) with the 3^k law."""
    d, m = results.data, results.metrics
    fig, (ax_f, ax_k) = plotting.figure(1, 2)
    xs = np.linspace(-2.1, 2.1, 400)
    ax_f.plot(xs, xs**4 - 4 * xs**2, label="f(x) = x^4 - 4x^2")
    x0, x1 = m["x0"], m["float64"]["first_iterate"]
    ax_f.annotate("", xy=(x1, 0.0), xytext=(x0, x0**4 - 4 * x0**2), arrowprops={"arrowstyle": "->", "color": "tab:red"})
    ax_f.plot([x0, x1], [x0**4 - 4 * x0**2, 0.0], "o", color="tab:red",
              label=f"x_0 = sqrt(3) -> x_1 = 0 (step {m['step']:g})")
    plotting.label(ax_f, "x", "f(x)", "G4: one GD step lands on the local maximum")
    floor, k = 1e-20, d.step.values
    for name in ("float64", "float32"):
        ax_k.plot(k, plotting.positive(np.abs(d[f"orbit_{name}"].values), floor), "o-", ms=2.5,
                  label=f"from fl(sqrt 3), {name}")
        x1 = m[name]["first_iterate"]
        ax_k.plot(k[1:], np.minimum(abs(x1) * m["instability_factor"] ** (k[1:] - 1), 2.0), ":",
                  color=ax_k.lines[-1].get_color(), label=f"|x_1| {m['instability_factor']:g}^(k-1)")
    ax_k.plot(k, plotting.positive(np.abs(d.orbit_from_zero.values), floor), "k-",
              label="from exactly 0: stays (drawn at 1e-20)")
    plotting.label(ax_k, "iteration k", "|x_k|",
                   f"0 is a fixed point, but |T'(0)| = {m['instability_factor']:g} amplifies rounding", logy=True)
    return [plotting.save(fig, Path(out_dir) / "g4_double_well", d)]


CAPTIONS = {
    "g4_double_well": "From √3 one step of size 1/4 lands on the local maximum 0 (in floats within 1-2 ulps), where "
                      "the gradient vanishes; the residual then grows 3x per step until GD leaves.",
}
