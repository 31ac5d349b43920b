"""Shared benchmark helpers: timing, tables, JSON output, the machine's measured limits."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def best_time(fn, repeats: int = 3) -> float:
    """Minimum wall time of ``fn()`` over ``repeats`` calls (fn must block until done)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Achieved float32 GFLOP/s of a jit-compiled n x n matmul: the compute roof of this machine."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    return 2 * n**3 / best_time(lambda: f(a).block_until_ready(), repeats) / 1e9


def read_bandwidth_gbs(mbytes: int = 512, repeats: int = 5) -> float:
    """Achieved read bandwidth (GB/s) of a jit-compiled sum over a large float32 array."""
    import jax
    import jax.numpy as jnp

    x = jnp.ones((mbytes * 2**20 // 4,), jnp.float32)
    f = jax.jit(jnp.sum)
    f(x).block_until_ready()
    return x.nbytes / best_time(lambda: f(x).block_until_ready(), repeats) / 1e9


def machine() -> dict:
    """What the numbers were measured on."""
    import jax

    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain-text table of ``rows`` with the given columns."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value) -> str:
    """Numbers with 3 significant digits, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def write_json(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` (atomically, via the package's writer)."""
    from jaxopt_course.results import write_json as atomic_write_json

    return atomic_write_json(RESULTS_DIR / f"{name}.json", payload)


def torch_or_none():
    """The torch module when installed, else None (with a message)."""
    try:
        import torch
    except ImportError:
        print("PyTorch not installed: its baseline is skipped (pip install -e '.[bench]').")
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def as_float(x) -> float:
    """A Python float from a NumPy/JAX scalar."""
    return float(np.asarray(x))
