"""Benchmark: 100 initializations of the 1-10-10-1 ReLU net in one vmapped call vs one PyTorch run.

Both sides do the same work per epoch and per initialization: one full-batch SGD step
(lr 0.05) on the course's 7 points, and the training and test losses recorded
(JAX: ``jaxopt_course.experiments.networks.curves`` through ``runner.sweep``, the
epoch loop inside one ``lax.scan``; PyTorch: the eager loop a user would write, with
``loss.item()`` and a ``no_grad`` test loss every epoch). The JAX time is the
steady-state time of a compiled call (the compile time is reported apart); every
time is the best of ``--repeats`` runs. PyTorch is optional (``pip install
'jaxopt_course[bench]'``); without it the PyTorch row is skipped with a message.

Usage: python benchmarks/mlp_train.py [--inits 100] [--epochs 2000] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxopt_course import run as runner
from jaxopt_course.experiments import networks
from jaxopt_course.results import versions, write_json

RESULTS = Path(__file__).resolve().parent / "results" / "mlp_train.json"


def time_jax(num_inits: int, num_epochs: int, repeats: int, seed: int = 0) -> dict:
    """Compile time and best steady-state time of ``num_inits`` trainings in one vmapped call."""
    data = networks.course_dataset()
    fn = functools.partial(networks.curves, networks.Net(num_epochs=num_epochs))
    keys = jax.random.split(jax.random.key(seed), num_inits)
    run = lambda: jax.block_until_ready(runner.sweep(fn, keys, data))  # noqa: E731
    start = time.perf_counter()
    out = run()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    final = np.asarray(out["train_loss"])[:, -1]
    return {"seconds": min(times), "compile_and_first_run_seconds": first, "final_train_loss_median": float(np.median(final))}


def torch_training(torch, data, num_epochs: int, seed: int) -> tuple[float, float]:
    """One eager PyTorch training of 1-10-10-1 ReLU (nn.Linear's default init), SGD 0.05: (seconds, loss)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(1, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10), torch.nn.ReLU(),
                              torch.nn.Linear(10, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y, xt, yt = (torch.tensor(np.asarray(a)) for a in data)
    mse = torch.nn.MSELoss()
    train_losses, test_losses = [], []
    start = time.perf_counter()
    for _ in range(num_epochs):
        opt.zero_grad()
        loss = mse(net(x), y)
        loss.backward()
        opt.step()
        train_losses.append(loss.item())
        with torch.no_grad():
            test_losses.append(mse(net(xt), yt).item())
    return time.perf_counter() - start, train_losses[-1]


def time_torch(num_epochs: int, repeats: int) -> dict | None:
    """Best time of one eager PyTorch training, or None (with a message) when torch is absent."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipping the PyTorch baseline (pip install 'jaxopt_course[bench]')",
              file=sys.stderr)
        return None
    data = networks.course_dataset()
    torch_training(torch, data, min(num_epochs, 20), seed=0)  # warm-up (allocator, kernels)
    runs = [torch_training(torch, data, num_epochs, seed=s) for s in range(repeats)]
    return {"seconds": min(t for t, _ in runs), "final_train_loss": float(np.median([loss for _, loss in runs])),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def table(report: dict) -> str:
    """The results as a plain-text table."""
    n, e = report["inits"], report["epochs"]
    rows = [("JAX: %d inits, one vmapped call" % n, report["jax"]["seconds"], report["jax"]["final_train_loss_median"]),
            ("JAX: compile + first call", report["jax"]["compile_and_first_run_seconds"], None)]
    if report["torch"] is not None:
        rows.append(("PyTorch eager: 1 run", report["torch"]["seconds"], report["torch"]["final_train_loss"]))
    lines = [f"1-10-10-1 ReLU, full-batch SGD 0.05, {e} epochs, train+test loss every epoch "
             f"({report['device']}; a shared machine: timings are noisy)",
             f"{'what':40s} {'seconds':>10s} {'final loss':>12s}"]
    lines += [f"{name:40s} {sec:10.3f} {'' if loss is None else format(loss, '.3e'):>12s}" for name, sec, loss in rows]
    if report["ratio_jax_over_torch"] is not None:
        lines.append(f"ratio (JAX {n} inits) / (PyTorch 1 run) = {report['ratio_jax_over_torch']:.3f}  "
                     f"(target <= 0.5); per-training speed-up {report['speedup_per_training']:.0f}x")
    return "\n".join(lines)


def main(argv=None) -> dict:
    """Run the benchmark, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inits", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (4 inits, 50 epochs, 1 repeat)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args(argv)
    if args.smoke:
        args.inits, args.epochs, args.repeats = 4, 50, 1
    if min(args.inits, args.epochs, args.repeats) < 1:
        parser.error("--inits, --epochs and --repeats must be positive")
    report = {"benchmark": "mlp_train", "inits": args.inits, "epochs": args.epochs, "repeats": args.repeats,
              "smoke": args.smoke, "device": str(jax.devices()[0]), "platform": platform.platform(),
              "versions": versions()}
    report["jax"] = time_jax(args.inits, args.epochs, args.repeats)
    report["torch"] = None if args.no_torch else time_torch(args.epochs, args.repeats)
    ratio = None if report["torch"] is None else report["jax"]["seconds"] / report["torch"]["seconds"]
    report["ratio_jax_over_torch"] = ratio
    report["speedup_per_training"] = None if ratio is None else args.inits / ratio
    print(table(report))
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
