"""SGD seed sweeps (experiment P3): replicate-iterations per second.

Ours: P3's SGD step (degree 9, constant step 0.1/beta, running average of the
iterates) inside one jit-compiled lax.scan, vmapped over 1, 100 and 10,000 seeds,
random indices drawn in bulk per chunk of 4000 steps (threefry). Baselines measured
in the same run: the NumPy loop a course notebook writes (one seed), a PyTorch loop
batched over seeds (when installed), and JAX drawing a fresh key every step. The
compute roof is this machine's measured matmul GFLOP/s.

    python benchmarks/sgd_sweep.py [--smoke]
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine, matmul_peak_gflops, print_table, torch_or_none, write_json  # noqa: E402

from jaxopt_course import run as runner  # noqa: E402
from jaxopt_course.experiments.least_squares.p3_sgd import Config as P3Config  # noqa: E402
from jaxopt_course.experiments.least_squares.p3_sgd import sgd_trace  # noqa: E402
from jaxopt_course.experiments.least_squares.problem import make_problem  # noqa: E402

DEGREE = 9
FLOPS_PER_STEP = 6 * (DEGREE + 1)  # dot, residual * phi, step, average update (multiply-adds counted as 2)


def numpy_notebook_rate(num_steps: int, record_every_step: bool = True) -> float:
    """Iterations/s of the loop a course notebook writes for P3: index, gradient, step, average,
    and (to plot the two curves) f(theta_k) - f* and f(avg theta_k) - f* appended at every step.

    With ``record_every_step=False`` it is the lean loop (no curves), for reference.
    """
    p = make_problem(DEGREE)
    X, y, gamma = np.asarray(p.X, np.float64), np.asarray(p.y, np.float64), 0.1 / p.beta
    f_star = float(np.mean((X @ np.asarray(p.theta_star, np.float64) - y) ** 2))
    rng = np.random.default_rng(0)

    def loop():
        theta = np.zeros(DEGREE + 1)
        avg = theta.copy()
        gaps, gaps_avg = [], []
        for k in range(num_steps):
            i = rng.integers(len(y))
            theta = theta - gamma * 2 * (X[i] @ theta - y[i]) * X[i]
            avg += (theta - avg) / (k + 2)
            if record_every_step:
                gaps.append(np.mean((X @ theta - y) ** 2) - f_star)
                gaps_avg.append(np.mean((X @ avg - y) ** 2) - f_star)
        return avg, gaps, gaps_avg

    return num_steps / best_time(loop, repeats=1)


def torch_batched_rate(torch, num_seeds: int, num_steps: int) -> float:
    """Replicate-iterations/s of a PyTorch eager loop over steps, vectorized over seeds."""
    p = make_problem(DEGREE)
    X, y = torch.tensor(np.asarray(p.X)), torch.tensor(np.asarray(p.y))
    gamma, gen = 0.1 / p.beta, torch.Generator().manual_seed(0)

    def loop():
        theta = torch.zeros(num_seeds, DEGREE + 1)
        avg = theta.clone()
        for k in range(num_steps):
            i = torch.randint(len(y), (num_seeds,), generator=gen)
            phi = X[i]
            theta = theta - gamma * 2 * ((phi * theta).sum(1, keepdim=True) - y[i, None]) * phi
            avg += (theta - avg) / (k + 2)
        return avg

    return num_seeds * num_steps / best_time(loop, repeats=1)


def _per_step_key_trace(key, config: P3Config):
    """The same SGD with a fresh threefry key per step (fold_in(key, k)) instead of bulk draws."""
    p = make_problem(DEGREE)
    gamma, n = 0.1 / p.beta, p.X.shape[0]

    def body(carry, k):
        theta, avg = carry
        i = jax.random.randint(jax.random.fold_in(key, k), (), 0, n)
        theta = theta - gamma * 2 * (p.X[i] @ theta - p.y[i]) * p.X[i]
        return (theta, avg + (theta - avg) / (k + 2).astype(theta.dtype)), None

    zeros = jnp.zeros(DEGREE + 1)
    return jax.lax.scan(body, (zeros, zeros), jnp.arange(config.steps_per_point * n))[0]


def jax_rate(fn, num_seeds: int, config: P3Config) -> float:
    """Replicate-iterations/s of ``fn`` swept over ``num_seeds`` seeds (compile excluded)."""
    keys = runner.seed_keys(0, num_seeds)
    sweep = functools.partial(runner.sweep, functools.partial(fn, config=config), keys)
    jax.block_until_ready(sweep())
    steps = config.steps_per_point * 7
    return num_seeds * steps / best_time(lambda: jax.block_until_ready(sweep()), repeats=2)


def ours(key, config):
    """P3's SGD run for one seed (degree 9, constant step config.step_scale/beta), as the experiment runs it."""
    return sgd_trace(key, {"lr": config.step_scale / make_problem(DEGREE).beta}, DEGREE, "constant", config)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that it runs")
    args = parser.parse_args(argv)
    smoke = args.smoke
    seed_counts = (1, 4) if smoke else (1, 100, 10_000)
    steps = {1: 100_000, 4: 50, 100: 100_000, 10_000: 5_000} if not smoke else {1: 50, 4: 50}
    numpy_steps = 300 if smoke else 200_000

    peak = matmul_peak_gflops(256 if smoke else 2048)
    numpy_rate = numpy_notebook_rate(numpy_steps)
    lean_rate = numpy_notebook_rate(numpy_steps, record_every_step=False)
    rows = [{"implementation": "NumPy notebook loop (curves every step)", "seeds": 1,
             "rate_M_per_s": numpy_rate / 1e6, "vs_numpy": 1.0},
            {"implementation": "NumPy loop, no curves", "seeds": 1, "rate_M_per_s": lean_rate / 1e6,
             "vs_numpy": lean_rate / numpy_rate}]
    torch = torch_or_none()
    if torch is not None:
        r = torch_batched_rate(torch, 4 if smoke else 100, 50 if smoke else 20_000)
        rows.append({"implementation": "PyTorch eager, batched over seeds", "seeds": 4 if smoke else 100,
                     "rate_M_per_s": r / 1e6, "vs_numpy": r / numpy_rate})
    n_key = seed_counts[-1] if smoke else 100
    r = jax_rate(_per_step_key_trace, n_key, P3Config(steps_per_point=steps[n_key] // 7 or 1, num_records=10))
    rows.append({"implementation": "JAX scan, key per step", "seeds": n_key, "rate_M_per_s": r / 1e6,
                 "vs_numpy": r / numpy_rate})
    for s in seed_counts:
        r = jax_rate(ours, s, P3Config(steps_per_point=max(steps[s] // 7, 1), num_records=100))
        rows.append({"implementation": "jaxopt_course (bulk draws, recorded)", "seeds": s, "rate_M_per_s": r / 1e6,
                     "vs_numpy": r / numpy_rate})
    for row in rows:
        row["vs_numpy_no_curves"] = row["rate_M_per_s"] * 1e6 / lean_rate
        row["fraction_of_matmul_peak"] = row["rate_M_per_s"] * 1e6 * FLOPS_PER_STEP / (peak * 1e9)
    print(f"\nP3 SGD step (degree {DEGREE}), replicate-iterations per second; matmul peak {peak:.1f} GFLOP/s; "
          f"{FLOPS_PER_STEP} flops per iteration")
    print_table(rows, ["implementation", "seeds", "rate_M_per_s", "vs_numpy", "vs_numpy_no_curves",
                       "fraction_of_matmul_peak"])
    payload = {"benchmark": "sgd_sweep", "smoke": smoke, "machine": machine(), "matmul_peak_gflops": peak,
               "flops_per_iteration": FLOPS_PER_STEP, "rows": rows}
    path = write_json("sgd_sweep_smoke" if smoke else "sgd_sweep", payload)
    print(f"\nwritten {path}")
    return payload


if __name__ == "__main__":
    main()
