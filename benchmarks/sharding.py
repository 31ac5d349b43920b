"""Speed-up of a seed sweep sharded over forced host devices (1, 2, 4) on this CPU.

One XLA CPU device runs a vmapped scan of small per-seed states on one thread;
forcing several host devices splits the seed axis into shards that run
concurrently, one thread each, so a sweep can use every core. Each device count
runs in its own process (XLA_FLAGS must be set before JAX starts); the sweep is
P3's SGD (degree 9, staircase schedule, running average), compile time excluded.

    python benchmarks/sharding.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, print_table, write_json  # noqa: E402

WORKER = """
import functools, hashlib, json, sys, time
import jax, numpy as np
from jaxopt_course import run as runner
from jaxopt_course.experiments.least_squares.p3_sgd import Config as P3Config, sgd_trace
from jaxopt_course.experiments.least_squares.problem import make_problem
seeds, steps = int(sys.argv[1]), int(sys.argv[2])
config = P3Config(steps_per_point=steps, seeds=seeds, num_records=50)
hp = {"lr": config.step_scale / make_problem(9).beta}
fn = functools.partial(sgd_trace, hp=hp, degree=9, schedule="staircase", config=config)
keys = runner.seed_keys(0, seeds)
first = jax.block_until_ready(runner.sweep(fn, keys))
times = []
for _ in range(3):
    t = time.perf_counter(); out = jax.block_until_ready(runner.sweep(fn, keys)); times.append(time.perf_counter() - t)
digest = hashlib.sha256(np.asarray(out.metrics["gap"]).tobytes()).hexdigest()  # bit-exact comparison
print(json.dumps({"devices": jax.device_count(), "seconds": min(times), "checksum": digest}))
"""


def measure(devices: int, seeds: int, steps: int) -> dict:
    """Run the sweep in a fresh process with ``devices`` forced host devices."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", WORKER, str(seeds), str(steps)], env=env, check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that it runs")
    args = parser.parse_args(argv)
    seeds, steps = (8, 20) if args.smoke else (256, 20_000)
    rows, base = [], None
    for devices in (1, 2, 4):
        r = measure(devices, seeds, steps)
        base = base or r["seconds"]
        rows.append({"devices": devices, "seconds": r["seconds"], "speedup_vs_1": base / r["seconds"],
                     "rep_iterations_M_per_s": seeds * steps * 7 / r["seconds"] / 1e6, "checksum": r["checksum"]})
    same = len({row["checksum"] for row in rows}) == 1
    print(f"\nP3 SGD sweep, {seeds} seeds x {steps * 7} steps, sharded over forced host devices "
          f"({os.cpu_count()} cores); identical results: {same}")
    print_table(rows, ["devices", "seconds", "speedup_vs_1", "rep_iterations_M_per_s"])
    payload = {"benchmark": "sharding", "smoke": args.smoke, "machine": machine(), "seeds": seeds,
               "steps": steps * 7, "identical_results": same, "rows": rows}
    print(f"\nwritten {write_json('sharding_smoke' if args.smoke else 'sharding', payload)}")
    return payload


if __name__ == "__main__":
    main()
