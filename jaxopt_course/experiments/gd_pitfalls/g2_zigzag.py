"""G2: zig-zag of GD on an ill-conditioned quadratic, and a 100x smaller step.

GD on f(x) = a1 (x1 - c1)^2 + a2 (x2 - c2)^2 with a1 >> a2 multiplies x_j - c_j by
1 - 2 gamma a_j per step: with gamma = 0.9 * 2/L the steep factor is -0.8 (x1 - c1
flips sign at every step) while the flat one is 0.91; a 100x smaller step, run 100x
longer, no longer zig-zags but crawls along the valley.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.gd_pitfalls.descent import gd_trace
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.validation import each, finite, positive, positive_int

ID = "G2"
TITLE = "zig-zag of GD on an ill-conditioned quadratic, and a 100x smaller step"
RUNS = ("large", "small")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """G2: a1 (x1 - c1)^2 + a2 (x2 - c2)^2, a1 = 2, a2 = 0.1, step 0.9 * 2/L and 100x smaller."""

    a: tuple[float, float] = param((2.0, 0.1), "a1, a2: the curvatures (a1 >> a2: ill-conditioned)",
                                   check=each(positive))
    c: tuple[float, float] = param((1.0, 1.0), "c1, c2: the minimizer", check=each(finite))
    x0: tuple[float, float] = param((-0.5, -4.0), "x_0: the start", check=each(finite))
    step: float = param(0.45, "gamma of the large-step run (0.9 * 2/L, L = 2 max a)", check=positive)
    num_steps: int = param(60, "T: iterations of the large-step run", check=positive_int)
    small_factor: int = param(100, "the small step is step / small_factor, run small_factor x longer",
                              check=positive_int)

    @classmethod
    def quick(cls):
        """Half the steps and a 10x smaller step (10x longer)."""
        return cls(num_steps=30, small_factor=10)


def zigzag_trace(hp: dict, num_steps: int, every: int, config: Config) -> runner.Trace:
    """GD x_{k+1} = x_k - gamma 2 a (x_k - c), gamma = hp['step'], recording x_k every ``every`` steps."""
    dtype = jnp.result_type(float)
    a, c = jnp.asarray(config.a, dtype), jnp.asarray(config.c, dtype)
    return gd_trace(lambda x: tf.anisotropic_quadratic_grad(x, a, c), config.x0, hp["step"], num_steps,
                    metrics=lambda s: {"x": s.params}, record=runner.stride_grid(num_steps, every))


def sign_changes(values: np.ndarray) -> int:
    """Number of sign flips along a sequence (zero entries skipped)."""
    s = np.sign(values[values != 0])
    return int(np.sum(s[1:] != s[:-1]))


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """The zig-zag at the large step and the slow smooth path at a small_factor x smaller one."""
    del key  # deterministic
    plans = {"large": (config.step, config.num_steps, 1),
             "small": (config.step / config.small_factor, config.num_steps * config.small_factor,
                       max(1, config.small_factor // 10))}
    a, c, x0 = (np.asarray(v, float) for v in (config.a, config.c, config.x0))
    metrics = {"a": list(config.a), "c": list(config.c), "condition_number": float(a.max() / a.min())}
    arrays, coords = {}, {"coordinate": ["x1", "x2"]}
    for name, (gamma, steps, every) in plans.items():
        fn = functools.partial(zigzag_trace, num_steps=steps, every=every, config=config)
        trace = sweeper.grid(fn, {"step": np.asarray([gamma])})
        xs = np.asarray(trace.metrics["x"][0], float)
        factors = 1.0 - 2.0 * gamma * a
        predicted = c + factors**steps * (x0 - c)
        metrics[name] = {
            "step": gamma, "num_steps": steps, "factors": factors.tolist(),
            "zigzags_x1": sign_changes(xs[:, 0] - c[0]),
            "final_distance": float(np.linalg.norm(xs[-1] - c)),
            "predicted_final_distance": float(np.linalg.norm(predicted - c)),
        }
        arrays[f"{name}_x"] = (f"{name}_iteration", "coordinate"), xs
        coords[f"{name}_iteration"] = np.asarray(trace.steps[0])
    return Results(metrics, xr.Dataset(arrays, coords=coords))


def plot(results: Results, out_dir: Path) -> list[Path]:
    """Contours of f with the two GD trajectories."""
    d, m = results.data, results.metrics
    a, c = np.asarray(m["a"]), np.asarray(m["c"])
    pts = np.concatenate([d.large_x.values, d.small_x.values])
    lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    fvals = a[0] * (g1 - c[0]) ** 2 + a[1] * (g2 - c[1]) ** 2
    fig, axes = plotting.figure(1, 2)
    for ax, name in zip(axes, RUNS):
        run_m, xs = m[name], d[f"{name}_x"]
        levels = np.geomspace(fvals.min() + 1e-3, fvals.max(), 15)
        ax.contour(g1, g2, fvals, levels=levels, linewidths=0.6, cmap="viridis")
        ax.plot(xs.sel(coordinate="x1"), xs.sel(coordinate="x2"), "o-", ms=2.5, lw=0.8, color="tab:red",
                label=f"GD step {run_m['step']:g}, {run_m['num_steps']} steps")
        ax.plot(*c, "k*", ms=10, label="minimizer c")
        plotting.label(ax, "x1", "x2", f"{run_m['zigzags_x1']} sign flips of x1 - c1; "
                       f"factors {run_m['factors'][0]:.3g}, {run_m['factors'][1]:.3g}")
        ax.legend(loc="lower right")
    return [plotting.save(fig, Path(out_dir) / "g2_zigzag", d)]


CAPTIONS = {
    "g2_zigzag": "With a1 >> a2 the step that suits the flat direction makes the steep coordinate flip sign every "
                 "iteration (zig-zag); a 100x smaller step no longer zig-zags but crawls along the valley.",
}
