"""Benchmark: 100 initializations of the 1-10-10-1 ReLU net in one vmapped call vs one PyTorch run.

Both sides do the same work per epoch and per initialization: one full-batch SGD step
(lr 0.05) on the course's 7 points, and the training and test losses recorded
(JAX: ``jaxopt_course.experiments.networks.problem.curves`` through ``run.sweep`` with the N
sweeps' compiler options, the epoch loop inside one ``lax.scan``; PyTorch: the eager loop a user would write, with
``loss.item()`` and a ``no_grad`` test loss every epoch). The JAX time is the
steady-state time of a compiled call (the compile time is reported apart); every
time is the best (and the median) of ``--repeats`` runs, JAX and PyTorch interleaved. PyTorch is optional (``pip install
'jaxopt_course[bench]'``); without it the PyTorch row is skipped with a message.

Usage: python benchmarks/mlp_train.py [--inits 100] [--epochs 2000] [--repeats 5] [--smoke] [--no-torch]
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxopt_course import run as runner
from jaxopt_course.experiments.networks import problem
from jaxopt_course.results import versions, write_json

RESULTS = Path(__file__).resolve().parent / "results" / "mlp_train.json"


LEARNING_RATE = 0.05


def curves_at_step(key: jax.Array, data, net: problem.Net) -> dict:
    """N1's training run of one initialization at the fixed step 0.05 (no learning-rate axis)."""
    return problem.curves(key, {"learning_rate": LEARNING_RATE}, data, net=net)


def jax_runner(num_inits: int, num_epochs: int, seed: int = 0):
    """A callable running ``num_inits`` trainings in one vmapped call (compiled on first use, then reused).

    Without a hyperparameter axis ``run.sweep`` reuses the compiled program of the same
    function object, so every repeat times the steady state.
    """
    data = problem.course_dataset()
    fn = functools.partial(curves_at_step, net=problem.Net(num_epochs=num_epochs))
    keys = jax.random.split(jax.random.key(seed), num_inits)
    options = runner.small_reductions_options()
    return lambda: jax.block_until_ready(runner.sweep(fn, keys, data, compiler_options=options))


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


def load_torch():
    """The torch module, or None (with a message on stderr) when it is not installed."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipping the PyTorch baseline (pip install 'jaxopt_course[bench]')",
              file=sys.stderr)
        return None
    return torch


def measure(num_inits: int, num_epochs: int, repeats: int, torch) -> tuple[dict, dict | None]:
    """JAX and PyTorch timings, interleaved repeat by repeat so that both see the same machine load."""
    run_jax = jax_runner(num_inits, num_epochs)
    start = time.perf_counter()
    run_jax()
    compile_s = time.perf_counter() - start
    data = problem.course_dataset()
    if torch is not None:
        torch_training(torch, data, min(num_epochs, 20), seed=0)  # warm-up (allocator, kernels)
    jax_s, torch_s, torch_loss = [], [], []
    for r in range(repeats):
        start = time.perf_counter()
        out = run_jax()
        jax_s.append(time.perf_counter() - start)
        if torch is not None:
            seconds, loss = torch_training(torch, data, num_epochs, seed=r)
            torch_s.append(seconds), torch_loss.append(loss)
    jax_report = {"seconds": min(jax_s), "seconds_median": float(np.median(jax_s)),
                  "compile_and_first_run_seconds": compile_s,
                  "final_train_loss_median": float(np.median(np.asarray(out["train_loss"])[:, -1]))}
    if torch is None:
        return jax_report, None
    return jax_report, {"seconds": min(torch_s), "seconds_median": float(np.median(torch_s)),
                        "final_train_loss": float(np.median(torch_loss)), "torch": torch.__version__,
                        "threads": torch.get_num_threads()}


def table(report: dict) -> str:
    """The results as a plain-text table."""
    n, e = report["inits"], report["epochs"]
    rows = [(f"JAX: {n} inits, one vmapped call", report["jax"]["seconds"], report["jax"]["final_train_loss_median"]),
            ("JAX: compile + first call", report["jax"]["compile_and_first_run_seconds"], None)]
    if report["torch"] is not None:
        rows.append(("PyTorch eager: 1 run", report["torch"]["seconds"], report["torch"]["final_train_loss"]))
    lines = [f"1-10-10-1 ReLU, full-batch SGD 0.05, {e} epochs, train+test loss every epoch "
             f"({report['device']}; a shared machine: timings are noisy)",
             f"{'what':40s} {'seconds':>10s} {'final loss':>12s}"]
    lines += [f"{name:40s} {sec:10.3f} {'' if loss is None else format(loss, '.3e'):>12s}" for name, sec, loss in rows]
    if report["ratio_jax_over_torch"] is not None:
        lines.append(f"ratio (JAX {n} inits) / (PyTorch 1 run) = {report['ratio_jax_over_torch']:.3f} best-of, "
                     f"{report['ratio_jax_over_torch_median']:.3f} median-of (target <= 0.5); "
                     f"per-training speed-up {report['speedup_per_training']:.0f}x")
    return "\n".join(lines)


def main(argv=None) -> dict:
    """Run the benchmark, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inits", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (4 inits, 300 epochs, 1 repeat)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args(argv)
    if args.smoke:
        args.inits, args.epochs, args.repeats = 4, 300, 1
    if min(args.inits, args.epochs, args.repeats) < 1:
        parser.error("--inits, --epochs and --repeats must be positive")
    report = {"benchmark": "mlp_train", "inits": args.inits, "epochs": args.epochs, "repeats": args.repeats,
              "smoke": args.smoke, "device": str(jax.devices()[0]), "platform": platform.platform(),
              "versions": versions()}
    report["jax"], report["torch"] = measure(args.inits, args.epochs, args.repeats,
                                             None if args.no_torch else load_torch())
    ratio = None if report["torch"] is None else report["jax"]["seconds"] / report["torch"]["seconds"]
    report["ratio_jax_over_torch"] = ratio
    report["ratio_jax_over_torch_median"] = (None if ratio is None else
                                             report["jax"]["seconds_median"] / report["torch"]["seconds_median"])
    report["speedup_per_training"] = None if ratio is None else args.inits / ratio
    print(table(report))
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
