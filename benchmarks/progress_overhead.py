"""The cost of progress reporting from inside compiled runs, on P3's full sweep.

P3 (degrees 3 and 9, three schedules, 100 seeds, T = 10^5 N = 700,000 SGD steps per
run: 4.2e8 replicate-iterations) timed with progress off (the compiled program has
no callback) and on (a host callback about once per percent of each run, a tqdm bar
or a line every 30 s), compile excluded: each of its six sweeps (as ``P3.run`` makes
them) alternately off and on ``--repeats`` times, the best of each summed, in wall
time and in this process's CPU time. Measured on a
shared machine that difference is within the noise, so the cost is also bounded from
a model: host ticks received x the measured cost of one tick (a scan of trivial
steps with and without the tick's barrier + cond + callback, 100 replicates) over the
sweep's time. The target: at most 2% slower with progress on.

    python benchmarks/progress_overhead.py [--smoke] [--repeats N]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine, print_table, write_json  # noqa: E402

from jaxopt_course import progress, sweeps  # noqa: E402
from jaxopt_course.experiments.least_squares import p3_sgd as P3  # noqa: E402
from jaxopt_course.experiments.least_squares.problem import make_problem  # noqa: E402

SMOKE = P3.Config(degrees=(3,), schedules=("constant",), steps_per_point=30, seeds=2, num_records=5)


def tick_cost_s(iterations: int = 20_000, replicates: int = 100) -> float:
    """Seconds one tick adds to a vmapped scan: (with - without) / iterations, ticking at every step."""
    import jax.numpy as jnp

    def scan(x, tick: bool):
        def body(c, i):
            c = c * 1.000001 + 1e-6
            if tick:
                i, c = jax.lax.optimization_barrier((i, c))
                jax.lax.cond(i >= 0, lambda d: jax.debug.callback(lambda _: None, d), lambda d: None, i)
            return c, None

        return jax.lax.scan(body, x, jnp.arange(iterations))[0]

    x = jnp.ones((replicates, 10))
    best = {}
    for tick in (False, True):
        f = jax.jit(jax.vmap(lambda v: scan(v, tick))).lower(x).compile()
        f(x).block_until_ready()
        best[tick] = best_time(lambda: f(x).block_until_ready(), repeats=5)
    return max(0.0, best[True] - best[False]) / iterations


def cells(config: P3.Config) -> list[tuple]:
    """P3's (degree, schedule) sweeps as its ``run`` makes them: (fn, keys, axes) each."""
    key, scales = jax.random.key(0), [float(c) for c in np.atleast_1d(config.step_scale)]
    out = []
    for i, n in enumerate(config.degrees):
        lrs = {"lr": np.asarray([c / make_problem(n).beta for c in scales])}
        for j, schedule in enumerate(config.schedules):
            keys = jax.random.split(jax.random.fold_in(key, 10 * i + j), config.seeds)
            out.append((functools.partial(P3.sgd_trace, degree=n, schedule=schedule, config=config), keys, lrs))
    return out


def timed_cell(cell: tuple, on: bool) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, host ticks received) of one P3 sweep with progress on or off."""
    ticks = []
    original = progress.Task.update

    def counting(self, site, done, total):
        ticks.append(done)
        original(self, site, done, total)

    fn, keys, lrs = cell
    progress.Task.update = counting
    try:
        with progress.enabled_as(on):
            start, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(sweeps.sweep(fn, keys, axes=lrs))
            return time.perf_counter() - start, time.process_time() - cpu, len(ticks)
    finally:
        progress.Task.update = original


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that it runs")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per setting (default 2)")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else P3.Config()
    sweeps_ = cells(config)
    for cell in sweeps_:  # compile both programs of every cell first
        for on in (False, True):
            timed_cell(cell, on)
    best = {on: {"wall": 0.0, "cpu": 0.0} for on in (False, True)}
    ticks = 0
    for cell in sweeps_:  # per cell, the two settings alternate: slow drifts of the machine's load hit both
        runs = {False: [], True: []}
        for _ in range(max(1, args.repeats)):
            for on in (False, True):
                runs[on].append(timed_cell(cell, on))
        for on in (False, True):
            best[on]["wall"] += min(r[0] for r in runs[on])
            best[on]["cpu"] += min(r[1] for r in runs[on])
        ticks += runs[True][0][2]
    per_tick = tick_cost_s(200 if args.smoke else 20_000)
    steps = len(config.degrees) * len(config.schedules) * config.seeds * config.steps_per_point * 7
    rows = [{"progress": "on" if on else "off", "best_wall_s": best[on]["wall"], "best_cpu_s": best[on]["cpu"],
             "rate_M_per_s": steps / best[on]["wall"] / 1e6, "host_ticks": ticks if on else 0} for on in (False, True)]
    wall = 100.0 * (best[True]["wall"] / best[False]["wall"] - 1.0)
    cpu = 100.0 * (best[True]["cpu"] / best[False]["cpu"] - 1.0)
    model = 100.0 * ticks * per_tick / best[False]["wall"]
    print(f"\nP3 {'smoke' if args.smoke else 'full'} sweep ({len(sweeps_)} cells): {steps:.3g} replicate-iterations, "
          f"{ticks} host ticks of {per_tick * 1e6:.0f} us each; progress overhead: model {model:.3f}%, measured "
          f"{wall:+.2f}% wall, {cpu:+.2f}% CPU (target <= 2%; measured differences on a shared CPU are noisy)")
    print_table(rows, ["progress", "best_wall_s", "best_cpu_s", "rate_M_per_s", "host_ticks"])
    payload = {"benchmark": "progress_overhead", "smoke": args.smoke, "machine": machine(),
               "replicate_iterations": steps, "tick_cost_us": per_tick * 1e6, "overhead_model_percent": model,
               "overhead_wall_percent": wall, "overhead_cpu_percent": cpu, "rows": rows}
    path = write_json("progress_overhead_smoke" if args.smoke else "progress_overhead", payload)
    print(f"\nwritten {path}")
    return payload


if __name__ == "__main__":
    main()
