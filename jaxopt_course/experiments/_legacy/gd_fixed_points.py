"""G. Gradient descent landing exactly on a point, and being thrown off it (SPEC G3, G4).

* G3: f(x) = 2/3 |x|^{3/2} with step delta. The GD map T(x) = x - delta sign(x) sqrt|x|
  sends the starts S = {+-(s_m delta)^2} (s_1 = 1, s_2 = phi, ...) to 0 in exactly m
  steps, and every other start into the 2-cycle +-delta^2/4, which is superattracting
  (T' = 0 there) while 0 is repelling (T' -> -infinity): the smallest error near 0 is
  blown up into the cycle.
* G4: f(x) = x^4 - 4x^2 with step 1/4 is T(x) = 3x - x^3, which sends sqrt(3) to the
  local maximum 0, a fixed point (f'(0) = 0) that is repelling (T'(0) = 3).

Floating point. The members of S (and sqrt(3)) are irrational, so their nearest floats
are not exact preimages of 0: GD lands within ~1e-16 of 0 and, 0 being repelling, is
then ejected. For G3 the experiment therefore searches, among the floats within a few
ulps of each member, the starts that the floating-point GD itself sends to exactly
0.0 (they exist when delta^2 is a float, e.g. a power of 2, but not for delta = 0.1
on backends that fuse x - delta * sqrt(x) into one multiply-add, as XLA on CPU does).
For G4 no float near sqrt(3) is an exact preimage, so the landing is reported with
its rounding residual, the 3^k growth of that residual, and a start at exactly 0
that indeed stays there. All of it runs in float64.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim, plotting, precision
from jaxopt_course.experiments._nonconvex import check_positive, check_positive_int
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.progress import timed
from jaxopt_course.run import log_grid, optimizer_init, optimizer_step, run, stride_grid, sweep


def _gd_orbit(x0, gamma, grad, num_steps: int, record):
    """GD x_{k+1} = x_k - gamma grad(x_k) from x0, recording x_k on ``record``."""
    opt = optim.gd(gamma)
    return run(optimizer_step(lambda x, _: grad(x), opt), optimizer_init(x0, opt), num_steps,
               metrics=lambda s: {"x": s.params}, record=record)


def ulp_neighbours(x: float, radius: int) -> np.ndarray:
    """The 2 radius + 1 float64 numbers nearest x in magnitude: x moved by -radius..radius ulps."""
    offsets = np.arange(-radius, radius + 1, dtype=np.int64)
    return (np.array([x], np.float64).view(np.int64) + offsets).view(np.float64)


def first_exact_zero(orbit: np.ndarray) -> int:
    """The first k from which x_k == 0.0 exactly for every later recorded k, or -1."""
    zero = np.asarray(orbit) == 0.0
    if not zero[-1]:
        return -1
    nonzero = np.flatnonzero(~zero)
    return 0 if nonzero.size == 0 else int(nonzero[-1] + 1)


# ============================================================================= G3


@dataclass(frozen=True)
class ThreeHalvesConfig:
    """G3: deltas, the first members of S, the ulp search radius and the random starts."""

    deltas: tuple = (0.25, 0.5, 1.0)
    members: int = 6  # m = 1..6: +-(s_m delta)^2, reaching 0 in m steps.
    extra_steps: int = 10  # steps run past m to show that x stays at exactly 0.
    ulp_radius: int = 32
    seeds: int = 1000  # random starts per delta, in one vmapped run.
    start_range: float = 100.0  # random x0 ~ U(-A delta^2, A delta^2).
    num_steps: int = 200

    def __post_init__(self):
        check_positive("deltas", self.deltas)
        check_positive("start_range", self.start_range)
        for name in ("members", "extra_steps", "ulp_radius", "seeds", "num_steps"):
            check_positive_int(name, getattr(self, name))

    @classmethod
    def quick(cls) -> "ThreeHalvesConfig":
        """All of S's first six members, 200 random starts, 100 steps."""
        return cls(ulp_radius=8, seeds=200, num_steps=100)


def _s_orbits(starts: jax.Array, deltas: jax.Array, num_steps: int):
    """GD orbits on 2/3|x|^{3/2}, one per (start, delta) pair, every step recorded."""
    one = lambda x0, d: _gd_orbit(x0, d, tf.three_halves_grad, num_steps, stride_grid(num_steps, 1))  # noqa: E731
    return jax.vmap(one)(starts, deltas)


def _random_start(key: jax.Array, deltas: jax.Array, *, config: ThreeHalvesConfig):
    """One seed: x0 ~ U(-A delta^2, A delta^2) for every delta, then GD with that delta."""
    record = np.union1d(log_grid(config.num_steps, 60), [config.num_steps - 1])
    u = jax.random.uniform(key, deltas.shape, deltas.dtype, -1.0, 1.0)  # an independent start per delta
    one = lambda d, ui: _gd_orbit(config.start_range * d * d * ui, d, tf.three_halves_grad,  # noqa: E731
                                  config.num_steps, record)
    return jax.vmap(one)(deltas, u)


def _member_table(config: ThreeHalvesConfig) -> list[tuple[float, int, int, float]]:
    """(delta, m, sign, (s_m delta)^2 as the nearest float) for m = 1..members, both signs."""
    scales = tf.three_halves_preimage_scales(config.members)
    return [(d, m, sgn, sgn * (scales[m] * d) ** 2)
            for d in config.deltas for m in range(1, config.members + 1) for sgn in (1, -1)]


def _search_exact_starts(config: ThreeHalvesConfig):
    """Run GD from every float within ulp_radius of every member of S; find exact hits of 0.0."""
    table = _member_table(config)
    cands = np.stack([ulp_neighbours(x, config.ulp_radius) for *_, x in table])  # (members, 2r+1)
    deltas = np.repeat(np.asarray([t[0] for t in table]), cands.shape[1])
    steps = config.members + config.extra_steps
    trace = jax.jit(_s_orbits, static_argnums=2)(jnp.asarray(cands.ravel()), jnp.asarray(deltas), steps)
    orbits = np.asarray(trace.metrics["x"]).reshape(cands.shape + (-1,))
    return table, cands, orbits


def _exact_start_rows(table, cands, orbits, radius: int) -> list[dict]:
    """Per member: the start nearest to it that GD sends to exactly 0, and what the nearest float does."""
    rows = []
    for (delta, m, sign, x), c, orb in zip(table, cands, orbits):
        hits = np.array([first_exact_zero(o) for o in orb])
        exact = np.flatnonzero(hits == m)
        best = None if exact.size == 0 else int(exact[np.argmin(np.abs(exact - radius))])
        naive = orb[radius]
        rows.append({
            "delta": delta, "m": m, "sign": sign, "member": x,
            "exact_start": None if best is None else float(c[best]),
            "exact_start_ulps_from_member": None if best is None else best - radius,
            "steps_to_zero": None if best is None else int(hits[best]),
            "nearest_float_steps_to_zero": None if hits[radius] < 0 else int(hits[radius]),
            "nearest_float_residual_at_m": float(naive[m]),
            "nearest_float_final_over_cycle": float(abs(naive[-1]) / tf.three_halves_cycle(delta)),
        })
    return rows


def _random_starts(config: ThreeHalvesConfig, key: jax.Array):
    """x_k on a log grid (plus k = T-1) for every seed and delta: shape (seeds, deltas, records)."""
    deltas = jnp.asarray(config.deltas, jnp.float64)
    with timed(f"G3: {config.seeds} random starts x {len(config.deltas)} deltas, {config.num_steps} steps"):
        rand = sweep(functools.partial(_random_start, config=config), jax.random.split(key, config.seeds), deltas)
    return np.asarray(rand.steps)[0, 0], np.asarray(rand.metrics["x"])


def _shown_orbits(table, rows, orbits, config: ThreeHalvesConfig) -> dict:
    """Orbits from the exact and from the nearest-float starts, for the middle delta's positive members."""
    mid = config.deltas[len(config.deltas) // 2]
    shown = [i for i, t in enumerate(table) if t[0] == mid and t[2] > 0]
    exact = [orbits[i, rows[i]["exact_start_ulps_from_member"] + config.ulp_radius]
             if rows[i]["exact_start"] is not None else np.full(orbits.shape[-1], np.nan) for i in shown]
    return {"exact_orbits": np.stack(exact), "nearest_float_orbits": orbits[shown, config.ulp_radius]}


def run_three_halves(config: ThreeHalvesConfig, key: jax.Array) -> Results:
    """G3 in float64: exact landings from S, and the 2-cycle from random starts."""
    with precision.float64():
        with timed(f"G3: exact starts, {len(config.deltas)} deltas x {2 * config.members} members x "
                   f"{2 * config.ulp_radius + 1} floats"):
            table, cands, orbits = _search_exact_starts(config)
        rows = _exact_start_rows(table, cands, orbits, config.ulp_radius)
        rec, xs = _random_starts(config, key)
    cycle = np.asarray([tf.three_halves_cycle(d) for d in config.deltas])
    dev = np.maximum(np.abs(np.abs(xs[..., -1]) - cycle), np.abs(xs[..., -1] + xs[..., -2]))  # (seeds, deltas)
    metrics = {
        "deltas": list(config.deltas), "preimage_scales": tf.three_halves_preimage_scales(config.members),
        "all_members_reach_exact_zero": all(r["steps_to_zero"] == r["m"] for r in rows),
        "steps_to_zero": {f"{d:g}": [r["steps_to_zero"] for r in rows if r["delta"] == d] for d in config.deltas},
        "members_order": [f"{'+' if s > 0 else '-'}(s_{m} delta)^2"
                          for _, m, s, _ in _member_table(config)[:2 * config.members]],
        "exact_starts": rows,
        "nearest_float_exact_zero_count": sum(r["nearest_float_steps_to_zero"] is not None for r in rows),
        "cycle": cycle.tolist(),
        "cycle_max_deviation": dev.max(0).tolist(),
        "cycle_max_relative_deviation": (dev.max(0) / cycle).tolist(),
        "fraction_in_cycle": (dev <= 1e-12 * cycle).mean(0).tolist(),
        "num_random_starts": config.seeds,
    }
    data = {"deltas": np.asarray(config.deltas), "cycle": cycle, "random_steps": rec,
            "random_abs_over_cycle": np.abs(xs) / cycle[:, None], "random_final": xs[..., -1]}
    return Results(metrics=metrics, data=data | _shown_orbits(table, rows, orbits, config))


def plot_three_halves(results: Results, out_dir: Path) -> list[Path]:
    """Exact landings, ejection of the nearest floats, and random starts drawn into the cycle."""
    out_dir = Path(out_dir)
    d = results.data
    mid = len(d["deltas"]) // 2
    delta, floor = d["deltas"][mid], 1e-20
    fig, (ax_e, ax_n, ax_r) = plotting.figure(1, 3)
    k = np.arange(d["exact_orbits"].shape[1])
    for j, orb in enumerate(d["exact_orbits"]):
        if np.all(np.isfinite(orb)):
            ax_e.plot(k, plotting.positive(np.abs(orb), floor), "o-", ms=3, label=f"m = {j + 1}")
    for j, orb in enumerate(d["nearest_float_orbits"]):
        ax_n.plot(k, plotting.positive(np.abs(orb), floor), "o-", ms=3, label=f"m = {j + 1}")
    for ax in (ax_e, ax_n):
        ax.axhline(d["cycle"][mid], color="k", ls="--", lw=0.8, label="delta^2/4 (2-cycle)")
        ax.axhline(floor, color="gray", lw=0.8)
    plotting.label(ax_e, "iteration k", "|x_k|  (exact 0 drawn at 1e-20)",
                   f"G3, delta = {delta:g}: float starts in S hit 0.0 at step m", logy=True)
    plotting.label(ax_n, "iteration k", "|x_k|", "nearest floats to S: ~1e-17 at step m, then ejected", logy=True)
    for j, dl in enumerate(d["deltas"]):
        plotting.band(ax_r, np.maximum(d["random_steps"], 0.5),
                      plotting.positive(np.abs(d["random_abs_over_cycle"][:, j] - 1.0), floor), label=f"delta = {dl:g}")
    plotting.label(ax_r, "iteration k", "| |x_k| / (delta^2/4) - 1 |", "random starts fall into the 2-cycle",
                   logx=True, logy=True)
    return [plotting.save(fig, out_dir / "g3_three_halves", d)]


register(Experiment("G3", "G",
                    "2/3|x|^(3/2): starts in S reach exactly 0, random starts end in the 2-cycle +-delta^2/4",
                    ThreeHalvesConfig, run_three_halves, plot_three_halves,
    captions={
        'g3_three_halves': 'Starts in S reach exactly 0 after finitely many steps; every other start ends in the 2-cycle ±δ²/4, since the gradient of 2/3|x|^{3/2} is not Lipschitz at 0.',
    }))


# ============================================================================= G4


@dataclass(frozen=True)
class DoubleWellConfig:
    """G4: x^4 - 4x^2 from sqrt(3) with step 1/4."""

    step: float = 0.25
    num_steps: int = 60
    ulp_radius: int = 64  # floats near sqrt(3) searched for an exact preimage of 0.
    leave_threshold: float = 1e-3  # |x_k| beyond this: GD has left the maximum.

    def __post_init__(self):
        check_positive("step, leave_threshold", (self.step, self.leave_threshold))
        check_positive_int("num_steps", self.num_steps)
        check_positive_int("ulp_radius", self.ulp_radius)

    @classmethod
    def quick(cls) -> "DoubleWellConfig":
        """The same (it is tiny)."""
        return cls()


def decimal_first_iterate(step: float, digits: int = 50) -> float:
    """x_1 = x_0 - gamma (4 x_0^3 - 8 x_0) at x_0 = sqrt(3), in ``digits``-digit decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = digits
        x = Decimal(3).sqrt()
        return float(x - Decimal(repr(step)) * (4 * x**3 - 8 * x))


def _double_well_orbits(starts: jax.Array, config: DoubleWellConfig):
    """GD orbits on x^4 - 4x^2 from each start, every step recorded (a short run)."""
    one = lambda x0: _gd_orbit(x0, config.step, tf.double_well_grad, config.num_steps,  # noqa: E731
                               stride_grid(config.num_steps, 1))
    return jax.vmap(one)(starts)


def _leave_step(orbit: np.ndarray, threshold: float) -> int:
    """The first k >= 1 with |x_k| > threshold (GD has left the maximum), or -1."""
    out = np.flatnonzero(np.abs(orbit[1:]) > threshold)
    return -1 if out.size == 0 else int(out[0] + 1)


def _orbit_summary(orbit: np.ndarray, config: DoubleWellConfig) -> dict:
    """First iterate, its size in ulps of sqrt(3), growth factor near 0, when GD leaves, where it ends."""
    x1 = float(orbit[1])
    small = (np.abs(orbit[1:-1]) > 0) & (np.abs(orbit[1:-1]) < config.leave_threshold / 100)
    ratios = orbit[2:][small] / orbit[1:-1][small]
    leave = _leave_step(orbit, config.leave_threshold)
    ulp = float(np.spacing(orbit.dtype.type(math.sqrt(3.0))))
    return {
        "first_iterate": x1, "first_iterate_ulps_of_sqrt3": abs(x1) / ulp,
        "growth_factor_near_0": float(np.median(ratios)) if ratios.size else None,
        "leaves_at_step": None if leave < 0 else leave,
        "predicted_leave_step": None if x1 == 0 else 1 + math.log(config.leave_threshold / abs(x1)) / math.log(3.0),
        # After leaving, step 1/4 is too large for the minima as well (|T'(+-sqrt 2)| = 3): T(2 cos t) =
        # -2 cos 3t is chaotic on [-2, 2], so GD wanders there instead of converging.
        "range_after_leaving": None if leave < 0 else [float(orbit[leave:].min()), float(orbit[leave:].max())],
    }


def run_double_well(config: DoubleWellConfig, key: jax.Array) -> Results:
    """G4: one step from sqrt(3) lands on the maximum 0 (up to rounding); exactly at 0 GD stays."""
    del key
    root3 = math.sqrt(3.0)
    with precision.float64():
        cands = ulp_neighbours(root3, config.ulp_radius)
        starts = np.append(cands, 0.0)
        orbits64 = np.asarray(jax.jit(_double_well_orbits, static_argnums=1)(jnp.asarray(starts), config).metrics["x"])
    orbit32 = np.asarray(jax.jit(_double_well_orbits, static_argnums=1)(
        jnp.asarray([root3], jnp.float32), config).metrics["x"])[0]
    nearest = orbits64[config.ulp_radius]
    exact_preimages = [int(i - config.ulp_radius) for i in range(cands.size) if orbits64[i, 1] == 0.0]
    metrics = {
        "x0": root3, "step": config.step, "map": "T(x) = x - gamma f'(x) = 3x - x^3 for gamma = 1/4",
        "first_iterate_exact_arithmetic": decimal_first_iterate(config.step),
        "float64": _orbit_summary(nearest, config), "float32": _orbit_summary(orbit32, config),
        "float64_exact_preimages_within_ulps": exact_preimages, "ulp_radius": config.ulp_radius,
        "start_at_zero_stays_exactly": bool(np.all(orbits64[-1] == 0.0)),
        "instability_factor": 1.0 + 8.0 * config.step,  # |T'(0)| = |1 - gamma f''(0)|, f''(0) = -8.
        "instability_factor_at_minima": abs(1.0 - 16.0 * config.step),  # f''(+-sqrt 2) = 16.
    }
    data = {"steps": np.arange(orbits64.shape[1]), "orbit_float64": nearest, "orbit_float32": orbit32,
            "orbit_from_zero": orbits64[-1]}
    return Results(metrics=metrics, data=data)


def plot_double_well(results: Results, out_dir: Path) -> list[Path]:
    """The landscape with the landing, and |x_k| against k (float64, float32, exact 0) with the 3^k law."""
    out_dir = Path(out_dir)
    d, m = results.data, results.metrics
    fig, (ax_f, ax_k) = plotting.figure(1, 2)
    xs = np.linspace(-2.1, 2.1, 400)
    ax_f.plot(xs, xs**4 - 4 * xs**2, label="f(x) = x^4 - 4x^2")
    x0, x1 = m["x0"], m["float64"]["first_iterate"]
    ax_f.annotate("", xy=(x1, 0.0), xytext=(x0, x0**4 - 4 * x0**2), arrowprops={"arrowstyle": "->", "color": "tab:red"})
    ax_f.plot([x0, x1], [x0**4 - 4 * x0**2, 0.0], "o", color="tab:red", label="x_0 = sqrt(3) -> x_1 = 0 (step 1/4)")
    plotting.label(ax_f, "x", "f(x)", "G4: one GD step lands on the local maximum")
    floor = 1e-20
    k = d["steps"]
    for name in ("float64", "float32"):
        ax_k.plot(k, plotting.positive(np.abs(d[f"orbit_{name}"]), floor), "o-", ms=2.5,
                  label=f"from fl(sqrt 3), {name}")
        x1 = m[name]["first_iterate"]
        ax_k.plot(k[1:], np.minimum(abs(x1) * 3.0 ** (k[1:] - 1), 2.0), ":", color=ax_k.lines[-1].get_color(),
                  label="|x_1| 3^(k-1)")
    ax_k.plot(k, plotting.positive(np.abs(d["orbit_from_zero"]), floor), "k-",
              label="from exactly 0: stays (drawn at 1e-20)")
    plotting.label(ax_k, "iteration k", "|x_k|", "0 is a fixed point, but |T'(0)| = 3 amplifies rounding", logy=True)
    return [plotting.save(fig, out_dir / "g4_double_well", d)]


register(Experiment("G4", "G", "x^4 - 4x^2 from sqrt(3), step 1/4: one step lands on the local maximum 0",
                    DoubleWellConfig, run_double_well, plot_double_well,
    captions={
        'g4_double_well': 'From √3 one step of size 1/4 lands on the local maximum 0 (in floats within 1-2 ulps), where the gradient vanishes; the residual then grows 3x per step until GD leaves.',
    }))
