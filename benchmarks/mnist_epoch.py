"""Time per epoch of C2's training: the jit-compiled JAX epoch against PyTorch eager loops.

Same model (784-128-64-10, ReLU, biases, PyTorch's default initialization), same
optimizer (Adam 1e-3), same batch size (64, last batch partial), same data, each
epoch a fresh random order. The JAX epoch is one ``lax.scan`` over the batches
inside one jit-compiled call, as C2 trains (``jaxopt_course.problems.classification``
through the runner: no per-batch gradient norms, ``default_microbatches``). Two
PyTorch loops:

- *index*: the fastest eager loop we could write: ``randperm``, then index the
  data tensor, forward, ``nll_loss``, ``backward``, ``step`` per batch; timed with
  PyTorch's default number of threads and with one thread, and the headline ratio
  uses the faster of the two in each round (on a busy machine OpenMP threads can
  cost PyTorch 5-10x);
- *DataLoader*: what a course notebook writes, ``for xb, yb in
  DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)`` (default threads).

With ``--seeds S`` JAX also trains S seeds at once (vmap, as C2 does), reported as
time per seed. Each timed call runs ``--epochs`` epochs (default 3; C2 itself
trains all 15 epochs in one call): JAX in one compiled call, PyTorch in its loop,
both reported per epoch, so a single call's fixed costs (dispatch, waking idle
threads) are shared as in a real training. After a warm-up call each (compilation
is reported separately), all variants run interleaved, one call each per round, so
that load changes on a shared machine hit every variant alike; times are medians
over rounds and ratios medians of the per-round ratios.

    python benchmarks/mnist_epoch.py                  # digits, random, raw: table + JSON
    python benchmarks/mnist_epoch.py --smoke          # tiny sizes (used by the tests)

Data: ``digits`` are the offline digits cached by ``python -m
jaxopt_course.data.fetch_digits`` (7,996 training images), standardized as C2 does;
``random`` is random MNIST-shaped data (uniform pixels, random labels) with as many
training images as MNIST (60,000), standardized likewise, which times a full-size
epoch when MNIST itself is not available; ``raw`` is the same random data left as
pixels in [0, 1], unstandardized. On ``raw`` PyTorch is about 1.5x slower: its
arithmetic meets subnormal floats, which it does not flush to zero by default
(``torch.set_flush_denormal(True)`` removes the difference), while XLA:CPU flushes
them. Timings on a shared machine are noisy: compare the ratios measured in the
same run, not absolute times across runs.
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
INDEX_LOOPS = ("torch_default_threads", "torch_1_thread")  # the headline baseline: the faster of the two
DATA_SETS = ("digits", "random", "raw")


# ----------------------------------------------------------------------------- data


@functools.partial(jax.jit, static_argnums=1)
def _random_pixels_and_labels(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """n images with pixels uniform in {0, ..., 255} / 255 and n labels uniform in 0..9."""
    k_img, k_lbl = jax.random.split(key)
    return (jax.random.randint(k_img, (n, 28, 28), 0, 256).astype(jnp.float32) / 255.0,
            jax.random.randint(k_lbl, (n,), 0, 10))


def random_data(key: jax.Array, n_train: int, n_test: int = 100,
                standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random MNIST-shaped training data (random labels), standardized like the real thing or raw pixels in [0, 1]."""
    images, labels = (np.asarray(a) for a in _random_pixels_and_labels(key, n_train + n_test))
    if not standardize:
        return np.array(images[:n_train].reshape(n_train, -1)), labels[:n_train].astype(np.int32)  # writable
    data = dataset.Dataset(dataset.make_split(images[:n_train], labels[:n_train]),
                           dataset.make_split(images[n_train:], labels[n_train:]), "random")
    norm = dataset.normalize(data)
    return norm.x_train, norm.y_train


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """The offline digits' standardized training split."""
    norm = dataset.normalize(digits.load_digits())
    return norm.x_train, norm.y_train


# ----------------------------------------------------------------------------- JAX


def _epoch_program(x: jax.Array, y: jax.Array, epochs: int = 1, seeds: int = 1):
    """(init(key) -> state, epoch(state, key) -> state): ``epochs`` epochs of C2's Adam minibatch steps in one scan.

    As C2 trains: no per-batch gradient norms, ``cl.default_microbatches`` for the seed count.
    """
    model = MLPClassifier(HIDDEN, use_bias=True)
    optimizer = optim.adam(LEARNING_RATE)
    data = cl.Data(x, y, x[:1], y[:1])
    n = x.shape[0]
    nb = batching.num_batches(n, BATCH)
    step = cl.make_step(model, optimizer, data, BATCH, grad_norms=False,
                        microbatches=cl.default_microbatches(BATCH, seeds))

    def init(key):
        return cl.init_state(init_params(model, key, x.shape[1]), optimizer, grad_norms=False)

    def epoch(state, key):
        trace = runner.run(step, state, nb * epochs, metrics=cl.epoch_metrics, record=[nb * epochs], key=key,
                           sample=batching.epoch_sampler(n, BATCH), chunk=nb, diverged=cl.diverged)
        return trace.state

    return init, epoch


def jax_epochs(x: np.ndarray, y: np.ndarray, seeds: int = 1, epochs: int = 1):
    """A callable running ``epochs`` more epochs in one call (``seeds`` > 1: vmapped) and returning seconds per epoch.

    Its ``info`` dict holds the compile-and-first-epoch time and, after each call,
    the mean minibatch loss of the last epoch.
    """
    init, epoch = _epoch_program(jnp.asarray(x), jnp.asarray(y), epochs, seeds)
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
    info["first_call_mean_batch_loss"] = info["last_epoch_mean_batch_loss"]
    run_epoch.info = info
    return run_epoch


# ----------------------------------------------------------------------------- PyTorch


def torch_epochs(x: np.ndarray, y: np.ndarray, epochs: int = 1):
    """A callable ``run_epoch(threads, loader)``: seconds per epoch over ``epochs`` epochs of an eager loop.

    ``threads=None`` uses PyTorch's default number of intra-op threads;
    ``loader=True`` draws the batches from a shuffling ``DataLoader`` instead of
    indexing the data tensor with a ``randperm``. None without PyTorch.
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
    data_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xt, yt), batch_size=BATCH, shuffle=True)
    info = {"torch": torch.__version__, "default_threads": default_threads}

    def indexed_batches():
        order = torch.randperm(xt.shape[0])
        for first in range(0, xt.shape[0], BATCH):
            index = order[first:first + BATCH]
            yield xt[index], yt[index]

    def run_epoch(threads: int | None = None, loader: bool = False) -> float:
        torch.set_num_threads(threads or default_threads)
        start = time.perf_counter()
        for _ in range(epochs):
            total, count = 0.0, 0
            for xb, yb in (data_loader if loader else indexed_batches()):
                optimizer.zero_grad()
                loss = torch.nn.functional.nll_loss(torch.log_softmax(model(xb), dim=1), yb)
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
        seconds = (time.perf_counter() - start) / epochs
        torch.set_num_threads(default_threads)
        info["last_epoch_mean_batch_loss"] = total / count
        return seconds

    run_epoch()  # warm-up: first-call allocations
    info["first_call_mean_batch_loss"] = info["last_epoch_mean_batch_loss"]
    run_epoch(loader=True)
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
        variants["torch_dataloader"] = functools.partial(torch_run, loader=True)
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
    best = [min(t) for t in zip(*(times[k] for k in variants if k in INDEX_LOOPS))]
    row["torch"] = dict(torch_run.info)
    row["torch_default_threads_epoch_s"] = statistics.median(times["torch_default_threads"])
    row["torch_epoch_s"] = statistics.median(best)
    row["speedup_jax_over_torch"] = statistics.median(b / j for b, j in zip(best, times["jax"]))
    row["speedup_jax_over_torch_default_threads"] = statistics.median(
        t / j for t, j in zip(times["torch_default_threads"], times["jax"]))
    row["torch_dataloader_epoch_s"] = statistics.median(times["torch_dataloader"])
    row["speedup_jax_over_torch_dataloader"] = statistics.median(
        t / j for t, j in zip(times["torch_dataloader"], times["jax"]))
    if seeds > 1:
        row["speedup_jax_vmapped_per_seed_over_torch"] = statistics.median(
            b / (v / seeds) for b, v in zip(best, times["jax_vmapped"]))
    return row


def print_table(rows: list[dict]) -> None:
    """One line per data set: median epoch times (s) and the medians of the per-round ratios."""
    columns = (("data", 7), ("n_train", 7), ("jax", 7), ("jax vmap/seed", 15), ("torch index", 11),
               ("torch index 1 thr.", 18), ("torch DataLoader", 16), ("index/jax", 9), ("DataLoader/jax", 14),
               ("index/vmap-seed", 15), ("jax compile", 11))
    header = " ".join(f"{name:>{width}s}" for name, width in columns)
    print("seconds per epoch; ratios are PyTorch time over JAX time (index: the faster thread setting per round)")
    print(header)
    print("-" * len(header))
    for r in rows:
        vm = f"{r['jax_vmapped_epoch_s_per_seed']:.3f} (S={r['jax_vmapped_seeds']})" if "jax_vmapped" in r else "-"
        if "torch_epoch_s" in r:
            one = statistics.median(r["epoch_s"]["torch_1_thread"]) if "torch_1_thread" in r["epoch_s"] else None
            torch_cells = [f"{r['torch_default_threads_epoch_s']:.3f}", "-" if one is None else f"{one:.3f}",
                           f"{r['torch_dataloader_epoch_s']:.3f}", f"{r['speedup_jax_over_torch']:.2f}x",
                           f"{r['speedup_jax_over_torch_dataloader']:.2f}x",
                           f"{r['speedup_jax_vmapped_per_seed_over_torch']:.2f}x"
                           if "speedup_jax_vmapped_per_seed_over_torch" in r else "-"]
        else:
            torch_cells = ["skipped"] * 3 + ["-"] * 3
        cells = [r["data"], str(r["n_train"]), f"{r['jax_epoch_s']:.3f}", vm, *torch_cells,
                 f"{r['jax']['compile_and_first_epoch_s']:.2f}"]
        print(" ".join(f"{cell:>{width}s}" for cell, (_, width) in zip(cells, columns)))
    for r in rows:
        if "torch_skipped" in r:
            print(f"note: {r['torch_skipped']}")


def load(name: str, n_random: int) -> tuple[np.ndarray, np.ndarray]:
    """The training split of data set ``name`` (see the module docstring); DataError if digits are missing."""
    if name == "digits":
        return digits_data()
    return random_data(jax.random.key(1), n_random, standardize=name == "random")


def main(argv=None) -> int:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=DATA_SETS + ("all",), default="all")
    parser.add_argument("--n-random", type=int, default=60_000, help="training images of the random data sets")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per timed call (C2 trains all its epochs in one call; default 3)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the vmapped JAX variant (1: skip it)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (a quick check that it runs)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data, args.n_random, args.repeats, args.seeds, args.epochs = "random", 256, 1, 1, 1
    rows = []
    for name in DATA_SETS if args.data == "all" else (args.data,):
        try:
            x, y = load(name, args.n_random)
        except dataset.DataError as err:
            print(f"skipping {name}: {err}", file=sys.stderr)
            continue
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
