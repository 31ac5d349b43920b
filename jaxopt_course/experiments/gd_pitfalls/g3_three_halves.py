"""G3: GD on f(x) = 2/3 |x|^{3/2} lands exactly on 0 from S, and falls into a 2-cycle from anywhere else.

With step delta the GD map T(x) = x - delta sign(x) sqrt|x| sends the starts
S = {+-(s_m delta)^2} (s_1 = 1, s_2 = phi, ...) to 0 in exactly m steps, and every other
start into the 2-cycle +-delta^2/4, which is superattracting (T' = 0 there) while 0 is
repelling (T' -> -infinity): the smallest error near 0 is blown up into the cycle.

Floating point. The members of S are irrational, so their nearest floats are not exact
preimages of 0: GD lands within ~1e-16 of 0 and, 0 being repelling, is then ejected.
The experiment therefore searches, among the floats within a few ulps of each member,
the starts that the floating-point GD itself sends to exactly 0.0 (they exist when
delta^2 is a float, e.g. a power of 2, but not for delta = 0.1 on backends that fuse
x - delta * sqrt(x) into one multiply-add, as XLA on CPU does). All of it runs in float64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import labelled, plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.gd_pitfalls.fixed_points import first_exact_zero, gd_orbit, ulp_neighbours
from jaxopt_course.experiments.registry import Results
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, positive, positive_int, seed_count

ID = "G3"
TITLE = "2/3|x|^(3/2): starts in S reach exactly 0, random starts end in the 2-cycle +-delta^2/4"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """G3: deltas, the first members of S, the ulp search radius and the random starts."""

    deltas: tuple[float, ...] = param((0.25, 0.5, 1.0), "step sizes delta (powers of 2 keep delta^2 a float)",
                                      check=each(positive))
    members: int = param(6, "m = 1..members: the starts +-(s_m delta)^2 of S, reaching 0 in m steps",
                         check=positive_int)
    extra_steps: int = param(10, "steps run past m to show that x stays at exactly 0", check=positive_int)
    ulp_radius: int = param(32, "floats within this many ulps of each member searched for exact preimages of 0",
                            check=positive_int)
    seeds: int = param(1000, "random starts x0 per delta (all in one vmapped run)", check=seed_count())
    start_range: float = param(100.0, "A: random starts x0 ~ U(-A delta^2, A delta^2)", check=positive)
    num_steps: int = param(200, "GD steps from each random start", check=positive_int)

    @classmethod
    def quick(cls):
        return cls(ulp_radius=8, seeds=200, num_steps=100)


def member_table(config: Config) -> list[tuple[float, int, int, float]]:
    """(delta, m, sign, (s_m delta)^2 as the nearest float) for m = 1..members, both signs."""
    scales = tf.three_halves_preimage_scales(config.members)
    return [(d, m, sgn, sgn * (scales[m] * d) ** 2)
            for d in config.deltas for m in range(1, config.members + 1) for sgn in (1, -1)]


def member_labels(config: Config) -> list[str]:
    """'+(s_1 delta)^2', '-(s_1 delta)^2', ...: the members of S in table order."""
    return [f"{'+' if s > 0 else '-'}(s_{m} delta)^2" for m in range(1, config.members + 1) for s in (1, -1)]


def candidate_orbit(hp: dict, starts: jax.Array, deltas: jax.Array, num_steps: int) -> jax.Array:
    """x_0..x_T of GD with step deltas[i] from the j-th float near member i, (i, j) = (hp['member'], hp['ulp'])."""
    i, j = hp["member"], hp["ulp"]
    return gd_orbit(starts[i, j], deltas[i], tf.three_halves_grad, num_steps).metrics["x"]


def random_start(key: jax.Array, deltas: jax.Array, config: Config) -> runner.Trace:
    """One seed: x0 ~ U(-A delta^2, A delta^2) for every delta (an independent start each), then GD with that delta."""
    record = np.union1d(runner.log_grid(config.num_steps, 60), [config.num_steps - 1])
    u = jax.random.uniform(key, deltas.shape, deltas.dtype, -1.0, 1.0)
    one = lambda d, ui: gd_orbit(config.start_range * d * d * ui, d, tf.three_halves_grad,  # noqa: E731
                                 config.num_steps, record)
    return jax.vmap(one)(deltas, u)


def search_exact_starts(config: Config, sweeper: runner.Sweeper):
    """GD from every float within ulp_radius of every member of S: (table, candidates, orbits)."""
    table = member_table(config)
    cands = np.stack([ulp_neighbours(x, config.ulp_radius) for *_, x in table])  # (members, 2r+1)
    deltas = np.asarray([t[0] for t in table], np.float64)
    fn = functools.partial(candidate_orbit, num_steps=config.members + config.extra_steps)
    grid = {"member": np.arange(len(table)), "ulp": np.arange(cands.shape[1])}
    orbits = sweeper.grid(fn, grid, jnp.asarray(cands), jnp.asarray(deltas))
    return table, cands, np.asarray(orbits)


def exact_start_rows(table, cands, orbits, radius: int) -> list[dict]:
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


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """G3 in float64: exact landings from S (a grid over members x nearby floats), the 2-cycle from random starts."""
    with precision.float64():
        with timed(f"G3: exact starts, {len(config.deltas)} deltas x {2 * config.members} members x "
                   f"{2 * config.ulp_radius + 1} floats"):
            table, cands, orbits = search_exact_starts(config, sweeper)
        rows = exact_start_rows(table, cands, orbits, config.ulp_radius)
        deltas = jnp.asarray(config.deltas, jnp.float64)
        with timed(f"G3: {config.seeds} random starts x {len(config.deltas)} deltas, {config.num_steps} steps"):
            rand = sweeper.sweep(functools.partial(random_start, config=config),
                                 jax.random.split(key, config.seeds), deltas)
        steps, xs = np.asarray(rand.steps)[0, 0], np.asarray(rand.metrics["x"])  # xs: (seeds, deltas, records)
    data = _dataset(config, rows, cands, orbits, steps, xs)
    dev = np.maximum(np.abs(np.abs(data.random_x.isel(step=-1)) - data.cycle),
                     np.abs(data.random_x.isel(step=-1) + data.random_x.isel(step=-2)))  # (delta, seed)
    metrics = {
        "deltas": list(config.deltas), "preimage_scales": tf.three_halves_preimage_scales(config.members),
        "all_members_reach_exact_zero": all(r["steps_to_zero"] == r["m"] for r in rows),
        "steps_to_zero": labelled.cells(data.steps_to_zero, exclude=("member",)),  # -1: no exact start found
        "members_order": member_labels(config),
        "exact_starts": rows,
        "nearest_float_exact_zero_count": sum(r["nearest_float_steps_to_zero"] is not None for r in rows),
        "cycle": labelled.cells(data.cycle),
        "cycle_max_deviation": labelled.cells(dev.max("seed")),
        "cycle_max_relative_deviation": labelled.cells(dev.max("seed") / data.cycle),
        "fraction_in_cycle": labelled.cells((dev <= 1e-12 * data.cycle).mean("seed")),
        "num_random_starts": config.seeds,
    }
    return Results(metrics, data)


def _dataset(config: Config, rows: list, cands, orbits, steps, xs) -> xr.Dataset:
    """Exact-start search as (delta, member[, k]) arrays, random starts as (delta, seed, step) arrays."""
    shape = (len(config.deltas), 2 * config.members)
    r = config.ulp_radius
    best = [np.nan if row["exact_start"] is None else row["exact_start_ulps_from_member"] + r for row in rows]
    exact = np.stack([np.full(orbits.shape[-1], np.nan) if np.isnan(b) else orbit[int(b)]
                      for b, orbit in zip(best, orbits)])

    def per_member(name, missing=-1):
        return np.asarray([missing if row[name] is None else row[name] for row in rows]).reshape(shape)

    member_dims, orbit_dims = ("delta", "member"), ("delta", "member", "k")
    cycle = np.asarray([tf.three_halves_cycle(d) for d in config.deltas])
    return xr.Dataset(
        {"cycle": ("delta", cycle),
         "member_value": (member_dims, per_member("member")),
         "exact_start": (member_dims, per_member("exact_start", np.nan)),
         "steps_to_zero": (member_dims, per_member("steps_to_zero")),
         "nearest_float_steps_to_zero": (member_dims, per_member("nearest_float_steps_to_zero")),
         "exact_orbits": (orbit_dims, exact.reshape(shape + (-1,))),
         "nearest_float_orbits": (orbit_dims, orbits[:, r].reshape(shape + (-1,))),
         "random_x": (("delta", "seed", "step"), np.moveaxis(xs, 1, 0))},
        coords={"delta": list(config.deltas), "member": member_labels(config),
                "m": ("member", np.repeat(np.arange(1, config.members + 1), 2)),
                "sign": ("member", np.tile([1, -1], config.members)),
                "k": np.arange(orbits.shape[-1]), "seed": np.arange(config.seeds), "step": steps},
    )


def plot(results: Results, out_dir: Path) -> list:
    """Exact landings, ejection of the nearest floats (middle delta, positive members), random starts into the cycle."""
    d = results.data
    delta, floor = d.delta.values[d.sizes["delta"] // 2], 1e-20
    shown = d.sel(delta=delta).isel(member=np.flatnonzero(d.sign.values > 0))
    fig, (ax_e, ax_n, ax_r) = plotting.figure(1, 3)
    k = d.k.values
    for m, orb in zip(shown.m.values, shown.exact_orbits.values):
        if np.all(np.isfinite(orb)):
            ax_e.plot(k, plotting.positive(np.abs(orb), floor), "o-", ms=3, label=f"m = {m}")
    for m, orb in zip(shown.m.values, shown.nearest_float_orbits.values):
        ax_n.plot(k, plotting.positive(np.abs(orb), floor), "o-", ms=3, label=f"m = {m}")
    for ax in (ax_e, ax_n):
        ax.axhline(float(shown.cycle), color="k", ls="--", lw=0.8, label="delta^2/4 (2-cycle)")
        ax.axhline(floor, color="gray", lw=0.8)
    plotting.label(ax_e, "iteration k", "|x_k|  (exact 0 drawn at 1e-20)",
                   f"G3, delta = {delta:g}: float starts in S hit 0.0 at step m", logy=True)
    plotting.label(ax_n, "iteration k", "|x_k|", "nearest floats to S: ~1e-17 at step m, then ejected", logy=True)
    for dl in d.delta.values:
        cell = d.sel(delta=dl)
        plotting.band(ax_r, np.maximum(d.step.values, 0.5),
                      plotting.positive(np.abs(np.abs(cell.random_x.values) / float(cell.cycle) - 1.0), floor),
                      label=f"delta = {dl:g}")
    plotting.label(ax_r, "iteration k", "| |x_k| / (delta^2/4) - 1 |", "random starts fall into the 2-cycle",
                   logx=True, logy=True)
    return [plotting.save(fig, Path(out_dir) / "g3_three_halves", d)]


CAPTIONS = {
    "g3_three_halves": "Starts in S reach exactly 0 after finitely many steps; every other start ends in the 2-cycle "
                       "±δ²/4, since the gradient of 2/3|x|^{3/2} is not Lipschitz at 0.",
}
