"""The command line: ``jaxopt-course list`` and ``jaxopt-course run ID``.

Thin over the experiment registry. Bad input (an unknown ID, a bad flag value, an
unwritable output directory) ends with a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with the user's input: reported in one line with exit code 2."""


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands list and run)."""
    parser = argparse.ArgumentParser(prog="jaxopt-course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every experiment ID with a one-line description")
    run = sub.add_parser("run", help="run one experiment (or 'all') and write results and figures")
    run.add_argument("ids", nargs="+", metavar="ID", help="experiment IDs as in SPEC.md (case-insensitive), or 'all'")
    run.add_argument("--quick", action="store_true", help="a real but smaller run (for tests and demos)")
    run.add_argument("--seeds", type=_positive_int, help="number of random seeds for vmapped sweeps")
    run.add_argument("--seed", type=_non_negative_int, default=0, help="base PRNG seed (default 0)")
    run.add_argument("--out", type=Path, default=Path("results"), help="output directory (default results/)")
    run.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    run.add_argument("--data-dir", help="dataset directory for experiments that load data (MNIST: IDX files or a "
                     "prepared tensorflow-datasets directory; default $JAXOPT_COURSE_DATA_DIR)")
    return parser


def _prepare_out_dir(path: Path) -> Path:
    """Create the output directory and make sure it is writable (UsageError otherwise)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {path}: {err.strerror or err}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"output directory {path} is not writable")
    return path


def run_experiment(exp_id: str, *, quick: bool = False, seeds=None, seed: int = 0, out: Path = Path("results"),
                   x64: bool = False, data_dir=None) -> Path:
    """Run one experiment and write ``out/ID/results.json``, ``data.npz`` and figures; return the dir."""
    import jax

    from jaxopt_course import experiments, precision
    from jaxopt_course.progress import log
    from jaxopt_course.results import save_npz, versions, write_json

    experiment = experiments.get(exp_id)
    config = experiments.make_config(experiment, quick=quick, seeds=seeds, data_dir=data_dir)
    out_dir = _prepare_out_dir(Path(out) / experiment.id)
    precision.set_x64(x64)
    log(f"{experiment.id}: {experiment.description} ({'quick' if quick else 'full'}, seed {seed}"
        f"{', float64' if x64 else ''})")
    start = time.perf_counter()
    results = experiment.run(config, jax.random.key(seed))
    wall = time.perf_counter() - start
    figures = experiment.plot(results, out_dir)
    save_npz(out_dir / "data.npz", results.data)
    record = {
        "id": experiment.id,
        "description": experiment.description,
        "quick": quick,
        "seed": seed,
        "x64": x64,
        "config": config,
        "versions": versions(),
        "devices": [str(d) for d in jax.devices()],
        "wall_time_s": round(wall, 3),
        "diverged": results.diverged,
        "figures": [Path(f).name for f in figures],
        "metrics": results.metrics,
    }
    write_json(out_dir / "results.json", record)
    log(f"{experiment.id}: done in {wall:.2f} s -> {out_dir}")
    return out_dir


def _cmd_list() -> int:
    """Print every experiment ID and its description."""
    from jaxopt_course import experiments

    for exp in experiments.all_experiments():
        print(f"{exp.id:4s} {exp.description}")
    return 0


def _cmd_run(args) -> int:
    """Run the requested experiments in catalogue order."""
    from jaxopt_course import experiments

    ids = [e.id for e in experiments.all_experiments()] if [i.lower() for i in args.ids] == ["all"] else args.ids
    for exp_id in ids:  # validate every ID before running any
        try:
            experiments.get(exp_id)
        except ValueError as err:
            raise UsageError(str(err)) from None
    _prepare_out_dir(args.out)
    for exp_id in ids:
        run_experiment(exp_id, quick=args.quick, seeds=args.seeds, seed=args.seed, out=args.out, x64=args.x64,
                       data_dir=args.data_dir)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``jaxopt-course`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
        return _cmd_run(args)
    except (UsageError, ValueError) as err:
        print(f"jaxopt-course: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
