"""Time per epoch of C2's training: the jit-compiled JAX epoch against a PyTorch eager loop.

Same model (784-128-64-10, ReLU, biases, PyTorch's default initialization), same
optimizer (Adam 1e-3), same batch size (64, last batch partial), same standardized
data, each epoch a fresh random order. The JAX epoch is one ``lax.scan`` over the
batches inside one jit-compiled call (``jaxopt_course.problems.classification``
through the runner); the PyTorch loop is what a user writes: ``randperm``, then
index, forward, ``nll_loss``, ``backward``, ``step`` per batch. PyTorch is timed
with its default number of threads and with one thread, and the headline ratio
uses the faster of the two in each round (on a busy machine OpenMP threads can
cost PyTorch 5-10x). With ``--seeds S`` JAX also trains S seeds at once (vmap),
reported as time per seed. Each timed call runs ``--epochs`` epochs (default 3;
C2 itself trains all 15 epochs in one call): JAX in one compiled call, PyTorch in
its loop, both reported per epoch, so a single call's fixed costs (dispatch,
waking idle threads) are shared as in a real training. After a warm-up call each
(compilation is reported separately), all variants run interleaved, one call each per round, so that load
changes on a shared machine hit every variant alike; times are medians over
rounds and ratios medians of the per-round ratios.

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
import functools
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


@functools.partial(jax.jit, static_argnums=1)
def _random_pixels_and_labels(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """n images with pixels uniform in {0, ..., 255} / 255 and n labels uniform in 0..9."""
    k_img, k_lbl = jax.random.split(key)
    return (jax.random.randint(k_img, (n, 28, 28), 0, 256).astype(jnp.float32) / 255.0,
            jax.random.randint(k_lbl, (n,), 0, 10))


def random_data(key: jax.Array, n_train: int, n_test: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Random MNIST-shaped training data, standardized like the real thing (random labels)."""
    images, labels = (np.asarray(a) for a in _random_pixels_and_labels(key, n_train + n_test))
    data = dataset.Dataset(dataset.make_split(images[:n_train], labels[:n_train]),
                           dataset.make_split(images[n_train:], labels[n_train:]), "random")
    norm = dataset.normalize(data)
    return norm.x_train, norm.y_train


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """The offline digits' standardized training split."""
    norm = dataset.normalize(digits.load_digits())
    return norm.x_train, norm.y_train


# ----------------------------------------------------------------------------- JAX


def _epoch_program(x: jax.Array, y: jax.Array, epochs: int = 1):
    """(init(key) -> state, epoch(state, key) -> state): ``epochs`` epochs of Adam minibatch steps in one scan."""
    model = MLPClassifier(HIDDEN, use_bias=True)
    optimizer = optim.adam(LEARNING_RATE)
    data = cl.Data(x, y, x[:1], y[:1])
    n = x.shape[0]
    nb = batching.num_batches(n, BATCH)
    step = cl.make_step(model, optimizer, data, BATCH)

    def init(key):
        return cl.init_state(init_params(model, key, x.shape[1]), optimizer)

    def epoch(state, key):
        trace = runner.run(step, state, nb * epochs, metrics=cl.epoch_metrics, record=[nb * epochs], key=key,
                           sample=batching.epoch_sampler(n, BATCH), chunk=nb)
        return trace.state

    return init, epoch


def jax_epochs(x: np.ndarray, y: np.ndarray, seeds: int = 1, epochs: int = 1):
    """A callable running ``epochs`` more epochs in one call (``seeds`` > 1: vmapped) and returning seconds per epoch.

    Its ``info`` dict holds the compile-and-first-epoch time and, after each call,
    the mean minibatch loss of the last epoch.
    """
    init, epoch = _epoch_program(jnp.asarray(x), jnp.asarray(y), epochs)
    keys = jax.random.split(jax.random.key(0), seeds)
    if seeds == 1:
        init_fn, epoch_fn, keys = jax.jit(init), jax.jit(epoch), keys[0]
    else:
        init_fn, epoch_fn = jax.jit(jax.vmap(init)), jax.jit(jax.vmap(epoch))
    fold_in = jax.jit(jax.random.fold_in if seeds == 1 else jax.vmap(jax.random.fold_in, (0, None)))
    box = {"state": init_fn(keys), "epoch": 0}
    info = {}

    def run_epoch() -> float:
        key = fold_in(keys, box["epoch"])
        jax.block_until_ready(key)
        start = time.perf_counter()
        box["state"] = jax.block_until_ready(epoch_fn(box["state"], key))
        seconds = (time.perf_counter() - start) / epochs
        box["epoch"] += 1
        metrics = cl.epoch_metrics(box["state"]) if seeds == 1 else jax.vmap(cl.epoch_metrics)(box["state"])
        info["last_epoch_mean_batch_loss"] = float(np.mean(np.asarray(metrics["batch_loss"])))
        return seconds

    info["compile_and_first_epoch_s"] = run_epoch()
    run_epoch.info = info
    return run_epoch


# ----------------------------------------------------------------------------- PyTorch


def torch_epochs(x: np.ndarray, y: np.ndarray, epochs: int = 1):
    """A callable ``run_epoch(threads)``: seconds per epoch over ``epochs`` epochs of the eager loop (None without PyTorch).

    ``threads=None`` uses PyTorch's default number of intra-op threads.
    """
    try:
        import torch
    except ImportError:
        return None
    default_threads = torch.get_num_threads()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], HIDDEN[0]), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN[1], 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    info = {"torch": torch.__version__, "default_threads": default_threads}

    def run_epoch(threads: int | None = None) -> float:
        torch.set_num_threads(threads or default_threads)
        start = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(xt.shape[0])
            total, count = 0.0, 0
            for first in range(0, xt.shape[0], BATCH):
                index = order[first:first + BATCH]
                optimizer.zero_grad()
                loss = torch.nn.functional.nll_loss(torch.log_softmax(model(xt[index]), dim=1), yt[index])
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
        seconds = (time.perf_counter() - start) / epochs
        torch.set_num_threads(default_threads)
        info["last_epoch_mean_batch_loss"] = total / count
        return seconds

    run_epoch()  # warm-up: first-call allocations
    run_epoch.info = info
    return run_epoch


# ----------------------------------------------------------------------------- driver


def bench(name: str, x: np.ndarray, y: np.ndarray, repeats: int, seeds: int, epochs: int = 1) -> dict:
    """One table row: JAX (1 seed, and S seeds vmapped) against PyTorch on the same data.

    The variants run *interleaved*, one epoch each per round, so that every ratio
    compares epochs timed under the same machine load; medians over rounds.
    """
    row = {"data": name, "n_train": int(x.shape[0]), "batches_per_epoch": batching.num_batches(x.shape[0], BATCH),
           "epochs_per_call": epochs}
    variants = {"jax": jax_epochs(x, y, epochs=epochs)}
    if seeds > 1:
        variants["jax_vmapped"] = jax_epochs(x, y, seeds, epochs)
    torch_run = torch_epochs(x, y, epochs)
    if torch_run is not None:
        variants["torch_default_threads"] = torch_run
        # On an oversubscribed machine PyTorch's OpenMP threads can be several times slower than
        # one thread: time both and compare against the faster, so the ratio is not flattered.
        if torch_run.info["default_threads"] != 1:
            variants["torch_1_thread"] = functools.partial(torch_run, 1)
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for k, run_epoch in variants.items():
            times[k].append(run_epoch())
    row["epoch_s"] = times
    row["jax"] = dict(variants["jax"].info)
    row["jax_epoch_s"] = statistics.median(times["jax"])
    if seeds > 1:
        row["jax_vmapped"] = dict(variants["jax_vmapped"].info)
        row["jax_vmapped_seeds"] = seeds
        row["jax_vmapped_epoch_s_per_seed"] = statistics.median(times["jax_vmapped"]) / seeds
    if torch_run is None:
        row["torch_skipped"] = "PyTorch is not installed (pip install 'jaxopt_course[bench]')"
        return row
    best = [min(t) for t in zip(*(times[k] for k in variants if k.startswith("torch")))]
    row["torch"] = dict(torch_run.info)
    row["torch_default_threads_epoch_s"] = statistics.median(times["torch_default_threads"])
    row["torch_epoch_s"] = statistics.median(best)
    row["speedup_jax_over_torch"] = statistics.median(b / j for b, j in zip(best, times["jax"]))
    row["speedup_jax_over_torch_default_threads"] = statistics.median(
        t / j for t, j in zip(times["torch_default_threads"], times["jax"]))
    return row


def print_table(rows: list[dict]) -> None:
    """One line per data set: median epoch times and the median of the per-round ratios."""
    header = (f"{'data':7s} {'n_train':>7s} {'batches':>7s} {'jax s/ep':>9s} {'jax vmap s/ep/seed':>19s} "
              f"{'torch s/ep (default thr.)':>26s} {'torch s/ep (best)':>18s} {'torch/jax (best)':>17s} "
              f"{'torch/jax (default)':>20s} {'jax compile s':>14s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        vm = f"{r['jax_vmapped_epoch_s_per_seed']:.3f} (S={r['jax_vmapped_seeds']})" if "jax_vmapped" in r else "-"
        has_torch = "torch_epoch_s" in r
        cells = ([f"{r['torch_default_threads_epoch_s']:.3f}", f"{r['torch_epoch_s']:.3f}",
                  f"{r['speedup_jax_over_torch']:.2f}x", f"{r['speedup_jax_over_torch_default_threads']:.2f}x"]
                 if has_torch else ["skipped", "skipped", "-", "-"])
        print(f"{r['data']:7s} {r['n_train']:7d} {r['batches_per_epoch']:7d} {r['jax_epoch_s']:9.3f} {vm:>19s} "
              f"{cells[0]:>26s} {cells[1]:>18s} {cells[2]:>17s} {cells[3]:>20s} "
              f"{r['jax']['compile_and_first_epoch_s']:14.2f}")
    for r in rows:
        if "torch_skipped" in r:
            print(f"note: {r['torch_skipped']}")


def main(argv=None) -> int:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "random", "both"), default="both")
    parser.add_argument("--n-random", type=int, default=60_000, help="training images of the random data set")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per timed call (C2 trains all its epochs in one call; default 3)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the vmapped JAX variant (1: skip it)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (a quick check that it runs)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data, args.n_random, args.repeats, args.seeds, args.epochs = "random", 256, 1, 1, 1
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
        rows.append(bench(name, x, y, args.repeats, args.seeds, args.epochs))
    print_table(rows)
    record = {"benchmark": "mnist_epoch", "model": "784-128-64-10 ReLU MLP with biases, Adam 1e-3, batch 64",
              "smoke": args.smoke, "rows": rows,
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]},
              "note": "interleaved rounds after a warm-up epoch; medians over rounds; a shared machine makes "
                      "absolute times noisy"}
    write_json(args.out, record)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
