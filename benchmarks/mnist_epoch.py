"""Time per epoch of C2's training: the jit-compiled JAX epoch against a PyTorch eager loop.

Same model (784-128-64-10, ReLU, biases, PyTorch's default initialization), same
optimizer (Adam 1e-3), same batch size (64, last batch partial), same standardized
data, each epoch a fresh random order. The JAX epoch is one ``lax.scan`` over the
batches inside one jit-compiled call (``jaxopt_course.problems.classification``
through the runner); the PyTorch loop is what a user writes: ``randperm``, then
index, forward, ``nll_loss``, ``backward``, ``step`` per batch; it is timed with
PyTorch's default number of threads and with one thread, and the ratio uses the
faster of the two (on a busy machine OpenMP threads can cost PyTorch 5-10x). Epoch times are
medians over repeats after a warm-up epoch (compilation is reported separately).
With ``--seeds S`` the JAX program also trains S seeds at once (vmap) and reports
the time per seed.

    python benchmarks/mnist_epoch.py                  # digits + random 60,000, table + JSON
    python benchmarks/mnist_epoch.py --smoke          # tiny sizes (used by the tests)

Data: ``digits`` are the offline digits cached by ``python -m
jaxopt_course.data.fetch_digits`` (7,996 training images); ``random`` is random
MNIST-shaped data (uniform pixels, random labels) with as many training images
as MNIST (60,000), which times a full-size epoch when MNIST itself is not
available. Timings on a shared machine are noisy: compare the ratios measured in
the same run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim
from jaxopt_course import run as runner
from jaxopt_course.data import batching, dataset, digits
from jaxopt_course.models.classifier import MLPClassifier, init_params
from jaxopt_course.problems import classification as cl
from jaxopt_course.results import write_json

HIDDEN = (128, 64)
BATCH = 64
LEARNING_RATE = 1e-3
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "mnist_epoch.json"


# ----------------------------------------------------------------------------- data


def random_data(key: jax.Array, n_train: int, n_test: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Random MNIST-shaped data: pixels uniform in {0, ..., 255} / 255, labels uniform in 0..9, standardized."""
    k_img, k_lbl = jax.random.split(key)
    images = jax.random.randint(k_img, (n_train + n_test, 28, 28), 0, 256).astype(jnp.float32) / 255.0
    labels = jax.random.randint(k_lbl, (n_train + n_test,), 0, 10)
    data = dataset.Dataset(dataset.make_split(np.asarray(images[:n_train]), np.asarray(labels[:n_train])),
                           dataset.make_split(np.asarray(images[n_train:]), np.asarray(labels[n_train:])), "random")
    norm = dataset.normalize(data)
    return norm.x_train, norm.y_train


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """The offline digits' standardized training split."""
    norm = dataset.normalize(digits.load_digits())
    return norm.x_train, norm.y_train


# ----------------------------------------------------------------------------- JAX


def _epoch_program(x: jax.Array, y: jax.Array):
    """(init(key) -> state, epoch(state, key) -> state): one jit-compiled epoch of Adam minibatch steps."""
    model = MLPClassifier(HIDDEN, use_bias=True)
    optimizer = optim.adam(LEARNING_RATE)
    data = cl.Data(x, y, x[:1], y[:1])
    n = x.shape[0]
    nb = batching.num_batches(n, BATCH)
    step = cl.make_step(model, optimizer, data, BATCH)

    def init(key):
        return cl.init_state(init_params(model, key, x.shape[1]), optimizer)

    def epoch(state, key):
        trace = runner.run(step, state, nb, metrics=cl.epoch_metrics, record=[nb], key=key,
                           sample=batching.epoch_sampler(n, BATCH), chunk=nb)
        return trace.state

    return init, epoch


def _timed(fn, *args) -> tuple[float, object]:
    """(wall seconds, result) of fn(*args) with the result ready."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


def time_jax(x: np.ndarray, y: np.ndarray, repeats: int, seeds: int = 1) -> dict:
    """Compile time and per-epoch times of the jit'd epoch (for ``seeds`` > 1: vmapped over seeds)."""
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    init, epoch = _epoch_program(xj, yj)
    keys = jax.random.split(jax.random.key(0), seeds)
    if seeds == 1:
        init_fn, epoch_fn, first = jax.jit(init), jax.jit(epoch), keys[0]
    else:
        init_fn, epoch_fn, first = jax.jit(jax.vmap(init)), jax.jit(jax.vmap(epoch)), keys
    state = init_fn(first)
    compile_s, state = _timed(epoch_fn, state, first)
    times = []
    for r in range(repeats):
        key = jax.random.fold_in(first, r + 1) if seeds == 1 else jax.vmap(jax.random.fold_in, (0, None))(keys, r + 1)
        seconds, state = _timed(epoch_fn, state, key)
        times.append(seconds)
    metrics = cl.epoch_metrics(state) if seeds == 1 else jax.vmap(cl.epoch_metrics)(state)
    loss = float(np.mean(np.asarray(metrics["batch_loss"])))
    return {"compile_and_first_epoch_s": compile_s, "epoch_s": times, "last_epoch_mean_batch_loss": loss}


# ----------------------------------------------------------------------------- PyTorch


def time_torch(x: np.ndarray, y: np.ndarray, repeats: int, threads: int | None = None) -> dict | None:
    """Per-epoch times of the PyTorch eager loop with ``threads`` intra-op threads (None: PyTorch's default).

    Returns None when PyTorch is not installed.
    """
    try:
        import torch
    except ImportError:
        return None
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], HIDDEN[0]), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN[1], 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))

    def epoch() -> float:
        order = torch.randperm(xt.shape[0])
        total, count = 0.0, 0
        for start in range(0, xt.shape[0], BATCH):
            index = order[start:start + BATCH]
            optimizer.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log_softmax(model(xt[index]), dim=1), yt[index])
            loss.backward()
            optimizer.step()
            total, count = total + loss.item(), count + 1
        return total / count

    start = time.perf_counter()
    epoch()
    warmup = time.perf_counter() - start
    times, loss = [], float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        loss = epoch()
        times.append(time.perf_counter() - start)
    used = torch.get_num_threads()
    torch.set_num_threads(default_threads)
    return {"first_epoch_s": warmup, "epoch_s": times, "last_epoch_mean_batch_loss": loss,
            "torch": torch.__version__, "threads": used}


# ----------------------------------------------------------------------------- driver


def bench(name: str, x: np.ndarray, y: np.ndarray, repeats: int, seeds: int) -> dict:
    """One table row: JAX (1 seed, and S seeds vmapped) against PyTorch on the same data."""
    row = {"data": name, "n_train": int(x.shape[0]), "batches_per_epoch": batching.num_batches(x.shape[0], BATCH)}
    row["jax"] = time_jax(x, y, repeats)
    row["jax_epoch_s"] = statistics.median(row["jax"]["epoch_s"])
    if seeds > 1:
        row["jax_vmapped"] = time_jax(x, y, repeats, seeds)
        row["jax_vmapped_seeds"] = seeds
        row["jax_vmapped_epoch_s_per_seed"] = statistics.median(row["jax_vmapped"]["epoch_s"]) / seeds
    default = time_torch(x, y, repeats)
    if default is None:
        row["torch_skipped"] = "PyTorch is not installed (pip install 'jaxopt_course[bench]')"
        return row
    # On an oversubscribed machine PyTorch's OpenMP threads can be several times slower
    # than one thread: time both and compare against the faster, so the ratio is not flattered.
    runs = [default] if default["threads"] == 1 else [default, time_torch(x, y, repeats, threads=1)]
    row["torch_runs"] = runs
    row["torch"] = min(runs, key=lambda r: statistics.median(r["epoch_s"]))
    row["torch_epoch_s"] = statistics.median(row["torch"]["epoch_s"])
    row["torch_default_threads_epoch_s"] = statistics.median(default["epoch_s"])
    row["speedup_jax_over_torch"] = row["torch_epoch_s"] / row["jax_epoch_s"]
    return row


def print_table(rows: list[dict]) -> None:
    """One line per data set: epoch times and the ratio."""
    header = (f"{'data':8s} {'n_train':>8s} {'batches':>7s} {'jax s/epoch':>12s} {'jax vmap s/epoch/seed':>22s} "
              f"{'torch s/epoch (default thr.)':>28s} {'torch s/epoch (best)':>21s} {'torch / jax':>11s} "
              f"{'jax compile s':>14s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        vm = f"{r['jax_vmapped_epoch_s_per_seed']:.3f} (S={r['jax_vmapped_seeds']})" if "jax_vmapped" in r else "-"
        default_s = f"{r['torch_default_threads_epoch_s']:.3f}" if "torch" in r else "skipped"
        best_s = f"{r['torch_epoch_s']:.3f} ({r['torch']['threads']} thr.)" if "torch" in r else "skipped"
        ratio = f"{r['speedup_jax_over_torch']:.2f}x" if "torch" in r else "-"
        print(f"{r['data']:8s} {r['n_train']:8d} {r['batches_per_epoch']:7d} {r['jax_epoch_s']:12.3f} {vm:>22s} "
              f"{default_s:>28s} {best_s:>21s} {ratio:>11s} {r['jax']['compile_and_first_epoch_s']:14.2f}")
    for r in rows:
        if "torch_skipped" in r:
            print(f"note: {r['torch_skipped']}")


def main(argv=None) -> int:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "random", "both"), default="both")
    parser.add_argument("--n-random", type=int, default=60_000, help="training images of the random data set")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs after the warm-up epoch")
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the vmapped JAX variant (1: skip it)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (a quick check that it runs)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data, args.n_random, args.repeats, args.seeds = "random", 256, 1, 1
    names = ("digits", "random") if args.data == "both" else (args.data,)
    rows = []
    for name in names:
        if name == "digits":
            try:
                x, y = digits_data()
            except dataset.DataError as err:
                print(f"skipping digits: {err}", file=sys.stderr)
                continue
        else:
            x, y = random_data(jax.random.key(1), args.n_random)
        print(f"[mnist_epoch] timing {name} ({x.shape[0]} training images) ...", file=sys.stderr, flush=True)
        rows.append(bench(name, x, y, args.repeats, args.seeds))
    print_table(rows)
    record = {"benchmark": "mnist_epoch", "model": "784-128-64-10 ReLU MLP with biases, Adam 1e-3, batch 64",
              "smoke": args.smoke, "rows": rows,
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]},
              "note": "medians over repeats after a warm-up epoch; a shared machine makes absolute times noisy"}
    write_json(args.out, record)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
