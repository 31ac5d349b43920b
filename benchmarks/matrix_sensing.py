"""Matrix sensing GD step (M1/M2): time per step against this machine's one-read bound.

One GD step ``U <- U - eta/m sum_i r_i (A_i + A_i^T) U`` at d = 100, r = 5, m = 5000, with
R = r (M1) and R = d (M2). A step is memory-bound: the bound is the time to read A once,
``m d^2 * 4 bytes / bandwidth``, with the read bandwidth measured in the same run (best of
a jit-compiled sum over A itself and a two-thread NumPy sum); ``x_own_bytes_bound`` divides
instead by the time to read the implementation's own storage, measured the same way on that
array (the 101 MB packed matrix can stay in a large cache and reads faster than the 200 MB
full one, so it is not credited with the full matrix's bandwidth). Measured side by side, all
rounds interleaved (the machine is shared: each ratio is taken within a round, then the
median over rounds is reported):

* the per-measurement Python loop a course notebook writes (a few steps only);
* vectorized NumPy and PyTorch (CPU, when installed) on A as an m x d^2 float32 matrix;
* ours: one jit-compiled step on the symmetrized operator, for both layouts (m x d^2 'full',
  m x d(d+1)/2 'packed') and three schedules: XLA's two passes over A, XLA's one blocked
  pass, and the compiled one-pass kernel (``jaxopt_course.kernels``, the CPU default);
  bfloat16 storage, and the streamed operator (A regenerated from its keys every step);
* ours, the M2 sweep: 5 alphas vmapped over one shared A (per run and per replicate), with
  the ratio to one single step for the default (compiled) path and for XLA's.

Then a scaling study of our default step over m and d with fitted exponents.

    python benchmarks/matrix_sensing.py [--smoke] [--rounds N]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, torch_or_none  # noqa: E402

from jaxopt_course import kernels  # noqa: E402
from jaxopt_course.problems import matrix_sensing as ms  # noqa: E402
from jaxopt_course.results import write_json  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ALPHAS = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
# Timed reads per bandwidth probe and round; the best is kept, since a bandwidth is what the
# machine can reach. PyTorch's OpenMP threads keep spinning for a while after its calls and
# halved single jnp.sum reads right after them (24-25 against 44-49 GB/s); our steps were
# unaffected (measured).
PROBE_REPEATS = 3
FULL = "A as m x d^2 float32"  # the array of the one-read bound
SCHEDULES = {"2-pass XLA": ("xla", 2), "1-pass XLA blocks": ("xla", 1), "1-pass compiled": ("compiled", 1)}
VMAPPED_XLA = "2-pass XLA, S^T copy"  # M2 where XLA's products run (make_problem(..., transpose_copy=True))


# ----------------------------------------------------------------------------- helpers


def timed_call(fn) -> float:
    """Wall time of one call of ``fn`` (which must block until its result is ready)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- bandwidth


def jax_sum_seconds(x: jax.Array):
    """A callable timing a jit-compiled sum over x (reads x once): the best of PROBE_REPEATS, after one untimed."""
    f = jax.jit(jnp.sum)
    f(x).block_until_ready()
    return _per_step(lambda: f(x).block_until_ready(), 1, repeats=PROBE_REPEATS)


def numpy_sum_seconds(x: np.ndarray, threads: int):
    """A callable timing a NumPy sum over x split across ``threads`` threads (NumPy releases the GIL)."""
    parts = np.array_split(x.reshape(-1), threads)

    def run():
        workers = [threading.Thread(target=np.sum, args=(p,)) for p in parts]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return _per_step(run, 1, repeats=PROBE_REPEATS)


# ----------------------------------------------------------------------------- baselines


def numpy_loop_step(A3: np.ndarray, y: np.ndarray, U: np.ndarray, eta: float) -> np.ndarray:
    """The course notebook: one Python iteration per measurement."""
    m = A3.shape[0]
    M = U @ U.T
    grad = np.zeros_like(U)
    for i in range(m):
        r_i = np.sum(A3[i] * M) - y[i]
        grad += r_i * (A3[i] + A3[i].T) @ U
    return U - np.float32(eta) * (grad / np.float32(m))


def numpy_step(A2: np.ndarray, y: np.ndarray, U: np.ndarray, eta: float) -> np.ndarray:
    """Vectorized NumPy on A as an m x d^2 matrix: reads A twice (residuals, then adjoint)."""
    m, d = A2.shape[0], U.shape[0]
    r = A2 @ (U @ U.T).reshape(-1) - y
    G = (r @ A2).reshape(d, d)
    out = U - np.float32(eta / m) * ((G + G.T) @ U)
    assert out.dtype == np.float32 and r.dtype == np.float32, (out.dtype, r.dtype)
    return out


def torch_step(torch, A2, y, U, eta: float):
    """The same in PyTorch (CPU, no autograd)."""
    m, d = A2.shape[0], U.shape[0]
    with torch.no_grad():
        r = A2 @ (U @ U.T).reshape(-1) - y
        G = (r @ A2).reshape(d, d)
        out = U - (eta / m) * ((G + G.T) @ U)
    assert out.dtype == torch.float32
    return out


# ----------------------------------------------------------------------------- ours


@functools.partial(jax.jit, static_argnames=("num_steps", "passes", "kernel"))
def gd_steps(problem, U, eta, num_steps: int, passes="auto", kernel="auto"):
    """num_steps GD steps in one compiled fori_loop (what run.run's scan executes per step)."""
    step = ms.gd_step(problem, eta, passes=passes, kernel=kernel)
    return jax.lax.fori_loop(0, num_steps, lambda k, u: step(u, k, None), U)


@functools.partial(jax.jit, static_argnames=("num_steps", "passes", "kernel"))
def gd_steps_alphas(problem, U0s, etas, num_steps: int, passes="auto", kernel="auto"):
    """The M2 sweep: GD for every alpha, vmapped, all sharing one A."""
    return jax.vmap(lambda U, eta: gd_steps(problem, U, eta, num_steps, passes, kernel), in_axes=(0, 0))(U0s, etas)


def schedules(dtype: str, streamed: bool) -> list:
    """The schedules a storage can run: all three for in-memory float32, else XLA's one pass."""
    if streamed or dtype != "float32":
        return ["1-pass XLA blocks"]
    return [name for name in SCHEDULES if name != "1-pass compiled" or kernels.available()]


def assert_reads_storage_as_is(problem, U, eta) -> str:
    """Check the compiled step's jaxpr: no conversion of A (of the whole stored matrix) per step."""
    if not isinstance(problem.operator, ms.SensingOperator):
        return "streamed"
    shape = problem.operator.matrix.shape
    jaxpr = jax.make_jaxpr(lambda p, u: ms.gd_step(p, eta)(u, 0, None))(problem, U)
    text = str(jaxpr)
    for eqn in jaxpr.jaxpr.eqns:
        if eqn.primitive.name == "convert_element_type":
            assert tuple(eqn.invars[0].aval.shape) != shape, f"the step converts A every call:\n{text}"
    return f"A read as {problem.operator.matrix.dtype.name}, U {U.dtype.name}: no conversion of A"


# ----------------------------------------------------------------------------- the comparison


def _setup(d: int, r: int, m: int, key):
    """The raw A (for the baselines), the problems of every storage variant, and initial factors."""
    problems = {
        ("packed", "float32"): ms.make_problem(key, d, r, m, layout="packed", streamed=False),
        ("full", "float32"): ms.make_problem(key, d, r, m, layout="full", streamed=False),
        ("packed", "bfloat16"): ms.make_problem(key, d, r, m, layout="packed", dtype="bfloat16", streamed=False),
        ("streamed", "float32"): ms.make_problem(key, d, r, m, layout="packed", streamed=True),
    }
    transposed = ms.make_problem(key, d, r, m, layout="packed", streamed=False, transpose_copy=True)
    A3 = np.array(ms.measurement_matrices(jax.random.split(key)[1], d, m))  # a writable copy (for torch)
    return problems, transposed, A3


def _implementations(problems, transposed, A3, y, d, r, torch, steps_jax: int, steps_loop: int, smoke: bool):
    """name -> (R, storage description, bytes of A as stored, seconds-per-step callable)."""
    base = problems[("packed", "float32")]
    full_bytes = ms.operator_bytes(d, A3.shape[0], "full", "float32")
    A2 = A3.reshape(A3.shape[0], d * d)
    impls = {}
    for R in (r, d):
        U0 = np.array(ms.init_factor(jax.random.key(7), d, R, 1e-2))
        eta = float(ms.step_size(base.y, jnp.asarray(U0)))
        loop_steps = steps_loop if R == r else 1
        impls[f"Python loop over i (NumPy), R={R}"] = (R, "m x d^2 raw", full_bytes, _per_step(
            lambda U0=U0, eta=eta, n=loop_steps: _repeat(lambda u: numpy_loop_step(A3, y, u, eta), U0, n), loop_steps))
        impls[f"NumPy vectorized, R={R}"] = (R, "m x d^2 raw", full_bytes, _per_step(
            lambda U0=U0, eta=eta: _repeat(lambda u: numpy_step(A2, y, u, eta), U0, steps_loop), steps_loop))
        if torch is not None:
            tA, ty, tU = torch.from_numpy(A2), torch.from_numpy(y), torch.from_numpy(U0)
            impls[f"PyTorch CPU, R={R}"] = (R, "m x d^2 raw", full_bytes, _per_step(
                lambda tU=tU, eta=eta: _repeat(lambda u: torch_step(torch, tA, ty, u, eta), tU, steps_loop),
                steps_loop))
        for (layout, dtype), p in problems.items():
            streamed = layout == "streamed"
            if streamed and R != r:
                continue
            for schedule in schedules(dtype, streamed):
                kernel, passes = SCHEDULES[schedule]
                nbytes = ms.operator_bytes(d, A3.shape[0], "packed" if streamed else layout, dtype)
                n_steps = 1 if streamed and not smoke else steps_jax
                what = f"{'packed' if streamed else layout} {dtype}"
                name = f"ours jit, {what}, {schedule}{' streamed' if streamed else ''}, R={R}"
                Uj = jnp.asarray(U0)
                f = functools.partial(gd_steps, p, Uj, jnp.float32(eta), num_steps=n_steps, passes=passes,
                                      kernel=kernel)
                jax.block_until_ready(f())
                impls[name] = (R, what + (" (regenerated)" if streamed else ""), None if streamed else nbytes,
                               _per_step(lambda f=f: jax.block_until_ready(f()), n_steps))
    W = ms.init_factor(jax.random.key(8), d, d, 1.0)
    U0s = jnp.stack([a * W for a in ALPHAS])
    etas = jax.vmap(lambda U: ms.step_size(base.y, U))(U0s)
    packed_bytes = ms.operator_bytes(d, A3.shape[0], "packed")
    vmapped = [(VMAPPED_XLA, transposed, "2-pass XLA")] + [(s, base, s) for s in schedules("float32", False)]
    for label, p, schedule in vmapped:
        kernel, passes = SCHEDULES[schedule]
        f = functools.partial(gd_steps_alphas, p, U0s, etas, num_steps=steps_jax, passes=passes, kernel=kernel)
        jax.block_until_ready(f())
        impls[f"ours jit+vmap, 5 alphas, packed float32, {label}, R={d}"] = (
            d, "packed float32 (shared)" + (" + S^T" if p is transposed else ""), packed_bytes,
            _per_step(lambda f=f: jax.block_until_ready(f()), steps_jax))
    return impls


def _repeat(step, U, n: int):
    """n steps of a host-side step function."""
    for _ in range(n):
        U = step(U)
    return U


def _per_step(run, n: int, repeats: int = 1):
    """A callable returning the seconds per step of ``run`` (n steps): the fastest of ``repeats``
    timed calls after one untimed call.

    The untimed call puts every implementation in its steady state (its operand back in
    cache after the previous implementation evicted it), as in a long run of steps.
    """

    def seconds() -> float:
        run()
        return min(timed_call(run) for _ in range(repeats)) / n

    return seconds


def compare(d: int, r: int, m: int, rounds: int, smoke: bool, torch) -> dict:
    """All implementations at one size, interleaved over rounds; ratios within each round."""
    key = jax.random.key(0)
    print(f"setting up d = {d}, r = {r}, m = {m} ...", file=sys.stderr, flush=True)
    problems, transposed, A3 = _setup(d, r, m, key)
    y = np.array(problems[("packed", "float32")].y)
    A_full = problems[("full", "float32")].operator.matrix
    arrays = {FULL: A_full, "packed float32": problems[("packed", "float32")].operator.matrix,
              "packed bfloat16": problems[("packed", "bfloat16")].operator.matrix}
    bw_probes = _bandwidth_probes(arrays)
    U = ms.init_factor(jax.random.key(7), d, r, 1e-2)
    dtype_check = assert_reads_storage_as_is(problems[("packed", "float32")], U, jnp.float32(0.1))
    impls = _implementations(problems, transposed, A3, y, d, r, torch, steps_jax=2 if smoke else 10,
                             steps_loop=1 if smoke else 2, smoke=smoke)
    full_bytes = A_full.size * 4
    times = {name: [] for name in impls}
    bandwidth = {name: [] for name in bw_probes}
    for k in range(rounds):
        print(f"round {k + 1}/{rounds} ...", file=sys.stderr, flush=True)
        for (label, probe_name), probe in bw_probes.items():
            bandwidth[(label, probe_name)].append(arrays[label].nbytes / probe() / 1e9)
        for name, (_, _, _, seconds) in impls.items():
            times[name].append(seconds())
    best = {label: [max(vals) for vals in zip(*(v for (lab, _), v in bandwidth.items() if lab == label))]
            for label in arrays}  # GB/s per round and array: its best probe
    bound = [full_bytes / (b * 1e9) for b in best[FULL]]  # one read of A (m x d^2 float32) per round
    by_bytes = {int(a.nbytes): label for label, a in arrays.items()}
    rows = []
    for name, (R, storage, nbytes, _) in impls.items():
        t = times[name]
        own = best[by_bytes[nbytes]] if nbytes in by_bytes else None
        row = {"implementation": name, "R": R, "storage": storage,
               "ms_per_step": 1e3 * statistics.median(t), "ms_min": 1e3 * min(t),
               "x_one_read_bound": statistics.median([a / b for a, b in zip(t, bound)]),
               "x_own_bytes_bound": (statistics.median([a / (nbytes / (b * 1e9)) for a, b in zip(t, own)])
                                     if own else None)}
        rows.append(row)
    _add_speedups(rows, times, impls, d)
    return {"d": d, "r": r, "m": m, "rounds": rounds, "bytes_of_A_full_float32": full_bytes,
            "bandwidth_GBps": {f"{lab}: {probe}": [float(x) for x in v] for (lab, probe), v in bandwidth.items()},
            "bandwidth_GBps_best_per_round": best[FULL], "bandwidth_GBps_best_per_round_by_array": best,
            "bytes_by_array": {label: int(a.nbytes) for label, a in arrays.items()},
            "one_read_bound_ms": [1e3 * b for b in bound], "dtype_check": dtype_check, "rows": rows}


def _bandwidth_probes(arrays: dict) -> dict:
    """(array, probe) -> seconds callable: a jit-compiled sum over each stored array, and a
    two-thread NumPy sum over the float32 ones (reading 101 MB, which can stay in a large
    cache, runs faster than reading 200 MB: each storage is compared with its own read)."""
    probes = {}
    for label, a in arrays.items():
        probes[(label, "jax sum")] = jax_sum_seconds(a)
        if a.dtype == jnp.float32:
            probes[(label, "numpy sum, 2 threads")] = numpy_sum_seconds(np.asarray(a), 2)
    return probes


def _add_speedups(rows, times, impls, d):
    """Speed-up over NumPy at the same R (per round), and each vmapped-alphas / single-step ratio.

    Pairs: the compiled kernel's sweep over its single step (the CPU default), and XLA's
    sweep on the stored S^T (the M2 configuration where XLA's products run) over XLA's
    two-pass single step.
    """
    pairs = {f"ours jit+vmap, 5 alphas, packed float32, {VMAPPED_XLA}, R={d}": f"ours jit, packed float32, "
             f"2-pass XLA, R={d}"}
    if kernels.available():
        pairs[f"ours jit+vmap, 5 alphas, packed float32, 1-pass compiled, R={d}"] = (
            f"ours jit, packed float32, 1-pass compiled, R={d}")
    for row in rows:
        t = times[row["implementation"]]
        ref = times[f"NumPy vectorized, R={row['R']}"]
        row["speedup_vs_numpy"] = statistics.median([b / a for a, b in zip(t, ref)])
        if row["implementation"] in pairs:
            single = times[pairs[row["implementation"]]]
            row["vmapped_over_single_per_run"] = statistics.median([a / b for a, b in zip(t, single)])
            row["vmapped_over_single_per_replicate"] = row["vmapped_over_single_per_run"] / len(ALPHAS)


# ----------------------------------------------------------------------------- scaling


def scaling(ms_values, d_values, r: int, d0: int, m0: int, rounds: int) -> dict:
    """Our default step (packed float32, kernel 'auto', R = r) over m at d0 and over d at m0, with fitted exponents."""
    out = {}
    for axis, grid in (("m", ms_values), ("d", d_values)):
        sizes, medians = [], []
        for value in grid:
            d, m = (d0, value) if axis == "m" else (value, m0)
            p = ms.make_problem(jax.random.key(1), d, r, m, streamed=False)
            U = ms.init_factor(jax.random.key(2), d, r, 1e-2)
            f = functools.partial(gd_steps, p, U, jnp.float32(0.1), num_steps=5)
            jax.block_until_ready(f())
            t = statistics.median(timed_call(lambda: jax.block_until_ready(f())) / 5 for _ in range(rounds))
            sizes.append(value)
            medians.append(t)
            print(f"scaling {axis} = {value}: {1e3 * t:.2f} ms/step", file=sys.stderr, flush=True)
            del p
        slope = float(np.polyfit(np.log(sizes), np.log(medians), 1)[0])
        out[axis] = {"values": sizes, "ms_per_step": [1e3 * t for t in medians], "fitted_exponent": slope}
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that it runs")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved timing rounds (default 5, smoke 1)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    rounds = args.rounds or (1 if smoke else 5)
    torch = torch_or_none()
    d, r, m = (12, 2, 120) if smoke else (100, 5, 5000)
    result = compare(d, r, m, rounds, smoke, torch)
    scale = (scaling((60, 120), (8, 12), 2, 12, 120, 1) if smoke
             else scaling((1250, 2500, 5000, 10000), (50, 100, 200), 5, 100, 5000, max(3, rounds // 2)))
    _report(result, scale)
    payload = {"benchmark": "matrix_sensing", "smoke": smoke, "machine": _machine(), **result, "scaling": scale}
    path = write_json(RESULTS_DIR / ("matrix_sensing_smoke.json" if smoke else "matrix_sensing.json"), payload)
    print(f"\nwritten {path}")
    return payload


def _report(result: dict, scale: dict) -> None:
    """Print the comparison table and the scaling exponents."""
    bw = result["bandwidth_GBps_best_per_round"]
    print(f"\nOne GD step, d = {result['d']}, r = {result['r']}, m = {result['m']}; A (m x d^2 float32) = "
          f"{result['bytes_of_A_full_float32'] / 1e6:.0f} MB; read bandwidth {statistics.median(bw):.1f} GB/s "
          f"(median of best-per-round, {min(bw):.1f}-{max(bw):.1f}) -> one-read bound "
          f"{statistics.median(result['one_read_bound_ms']):.2f} ms; {result['rounds']} interleaved rounds")
    for label, values in result["bandwidth_GBps_best_per_round_by_array"].items():
        print(f"read bandwidth over {label} ({result['bytes_by_array'][label] / 1e6:.0f} MB): "
              f"{statistics.median(values):.1f} GB/s (median of best-per-round)")
    print(f"dtype check: {result['dtype_check']}")
    print_table(result["rows"], ["implementation", "storage", "ms_per_step", "ms_min", "x_one_read_bound",
                                 "x_own_bytes_bound", "speedup_vs_numpy"])
    print()
    for row in result["rows"]:
        if "vmapped_over_single_per_run" in row:
            print(f"5-alpha vmapped step / single step (R = d), {row['implementation'].split(', ')[-2]}: "
                  f"per run {row['vmapped_over_single_per_run']:.2f}, "
                  f"per replicate {row['vmapped_over_single_per_replicate']:.2f}")
    print("\nScaling of our default step (packed float32, kernel 'auto', R = r):")
    for axis, s in scale.items():
        pairs = ", ".join(f"{v}: {t:.2f} ms" for v, t in zip(s["values"], s["ms_per_step"]))
        print(f"  {axis}: {pairs}  -> time ~ {axis}^{s['fitted_exponent']:.2f}")


def _machine() -> dict:
    """What the numbers were measured on."""
    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "devices": [str(dev) for dev in jax.devices()]}


if __name__ == "__main__":
    main()
