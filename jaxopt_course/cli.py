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


def _int_at_least(minimum: int, what: str):
    """argparse type: an integer >= minimum, with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def _common_options() -> argparse.ArgumentParser:
    """Options shared by run and report: sizes, seed, output, precision, processes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quick", action="store_true", help="a real but smaller run (for tests and demos)")
    common.add_argument("--seed", type=_non_negative_int, default=0, help="base PRNG seed (default 0)")
    common.add_argument("--out", type=Path, default=Path("results"), help="output directory (default results/)")
    common.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    common.add_argument("--data-dir", help="dataset directory for experiments that load data (MNIST: IDX files or a "
                        "prepared tensorflow-datasets directory; default $JAXOPT_COURSE_DATA_DIR)")
    hosts = common.add_argument_group("several processes/hosts (see jaxopt_course.distributed)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0 (or JAXOPT_COORDINATOR)")
    hosts.add_argument("--num-processes", type=_positive_int, help="number of processes (or JAXOPT_NUM_PROCESSES)")
    hosts.add_argument("--process-id", type=_non_negative_int, help="this process's index (or JAXOPT_PROCESS_ID)")
    hosts.add_argument("--distributed", action="store_true", help="let JAX detect SLURM / Open MPI / TPU settings")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands list, devices, run and report)."""
    parser = argparse.ArgumentParser(prog="jaxopt-course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common_options()
    sub.add_parser("list", help="list every experiment ID with a one-line description")
    sub.add_parser("devices", help="list the devices that sweeps shard over")
    run = sub.add_parser("run", parents=[common], help="run experiments (or 'all'); write results and figures")
    run.add_argument("ids", nargs="+", metavar="ID", help="experiment IDs as in SPEC.md (case-insensitive), or 'all'")
    run.add_argument("--seeds", type=_positive_int, help="number of random seeds for vmapped sweeps")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run from its last completed chunk of seeds")
    run.add_argument("--chunk-seeds", type=_positive_int, default=128,
                     help="seeds per checkpointed chunk of a sweep (default 128)")
    run.add_argument("--devices", type=_positive_int,
                     help="shard sweeps over the first N devices (default: all); see 'jaxopt-course devices'")
    rep = sub.add_parser("report", parents=[common],
                         help="run (or reuse) every experiment and write report.html and report.md")
    rep.add_argument("--only", nargs="+", metavar="ID", help="only these experiments")
    rep.add_argument("--screenshot", action="store_true",
                     help="check the page in headless Chromium and save report.png (needs chromium)")
    return parser


MARKER = ".jaxopt-course"  # marks an output directory as ours


def _prepare_out_dir(path: Path) -> Path:
    """Create the output directory and make sure it is writable (UsageError otherwise)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {path}: {err.strerror or err}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"output directory {path} is not writable")
    return path


def _claim_out_root(path: Path) -> Path:
    """The top-level --out directory: new, empty or already ours (marked), never someone else's."""
    from jaxopt_course import distributed

    if not distributed.is_writer():
        return path
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists():
        raise UsageError(f"{path} exists and holds files that jaxopt-course did not write; "
                         "choose another --out (or an empty directory)")
    _prepare_out_dir(path)
    (path / MARKER).touch()
    return path


def run_identity(experiment, config, quick: bool, seed: int, x64: bool) -> dict:
    """What identifies a run: resuming or reusing results requires all of it to match."""
    from jaxopt_course.results import to_jsonable

    return to_jsonable({"id": experiment.id, "quick": quick, "seed": seed, "x64": x64, "config": config})


def _check_resume(chunks: Path, identity: dict) -> None:
    """Refuse to resume over chunks written by another configuration (UsageError)."""
    import json

    stored = chunks / "run.json"
    if stored.exists() and json.loads(stored.read_text()) != identity:
        raise UsageError(f"cannot resume: {chunks.parent} holds a run with a different configuration "
                         "(rerun without --resume to start afresh)")


def run_experiment(exp_id: str, *, quick: bool = False, seeds=None, seed: int = 0, out: Path = Path("results"),
                   x64: bool = False, resume: bool = False, chunk_seeds: int = 128, devices=None,
                   data_dir=None) -> Path:
    """Run one experiment and write ``out/ID/results.json``, ``data.npz`` and figures; return the dir.

    Sweeps write their completed chunks to ``out/ID/.chunks`` as they go; with
    ``resume`` an interrupted run continues from them. They are removed on success.
    """
    import shutil

    import jax

    from jaxopt_course import checkpoint, experiments, precision
    from jaxopt_course import run as runner
    from jaxopt_course.progress import log
    from jaxopt_course.results import save_npz, versions, write_json

    from jaxopt_course.distributed import is_writer

    experiment = experiments.get(exp_id)
    config = experiments.make_config(experiment, quick=quick, seeds=seeds, data_dir=data_dir)
    out_dir = _prepare_out_dir(Path(out) / experiment.id) if is_writer() else Path(out) / experiment.id
    precision.set_x64(x64)
    identity = run_identity(experiment, config, quick, seed, x64)
    chunks = out_dir / ".chunks"
    if resume:
        _check_resume(chunks, identity)
    used = _select_devices(devices)
    log(f"{experiment.id}: {experiment.description} ({'quick' if quick else 'full'}, seed {seed}"
        f"{', float64' if x64 else ''}, {len(used)} device(s))")
    start = time.perf_counter()
    with (checkpoint.checkpointing(chunks, resume=resume, chunk_seeds=chunk_seeds), runner.using_devices(used),
          precision.full_float32_matmuls()):
        if is_writer():
            write_json(chunks / "run.json", identity)
        results = experiment.run(config, jax.random.key(seed))
    wall = time.perf_counter() - start
    if not is_writer():
        log(f"{experiment.id}: process {jax.process_index()} done in {wall:.2f} s (process 0 writes the results)")
        return out_dir
    figures = experiment.plot(results, out_dir)
    save_npz(out_dir / "data.npz", results.data)
    record = {
        "id": experiment.id,
        "description": experiment.description,
        "quick": quick,
        "seed": seed,
        "x64": x64,
        "matmul_precision": precision.MATMUL_PRECISION,
        "config": config,
        "versions": versions(),
        "devices": [str(d) for d in used],
        "wall_time_s": round(wall, 3),
        "diverged": results.diverged,
        "figures": [Path(f).name for f in figures],
        "metrics": results.metrics,
    }
    write_json(out_dir / "results.json", record)
    shutil.rmtree(chunks, ignore_errors=True)
    log(f"{experiment.id}: done in {wall:.2f} s -> {out_dir}")
    return out_dir


def _select_devices(count):
    """The first ``count`` devices (all when None); UsageError if there are fewer."""
    import jax

    devices = jax.devices()
    if count is None:
        return devices
    if count > len(devices):
        raise UsageError(f"--devices {count}: only {len(devices)} device(s) available ({devices[0].platform})")
    return devices[:count]


def _cmd_devices() -> int:
    """Print the devices sweeps shard over."""
    import jax

    devices = jax.devices()
    print(f"{len(devices)} device(s), platform {devices[0].platform}, process {jax.process_index()} of "
          f"{jax.process_count()}")
    for d in devices:
        print(f"  {d}")
    return 0


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
    _claim_out_root(args.out)
    for exp_id in ids:
        run_experiment(exp_id, quick=args.quick, seeds=args.seeds, seed=args.seed, out=args.out, x64=args.x64,
                       resume=args.resume, chunk_seeds=args.chunk_seeds, devices=args.devices,
                       data_dir=args.data_dir)
    return 0


def _cmd_report(args) -> int:
    """Build the HTML and Markdown reports."""
    from jaxopt_course import experiments, report

    for exp_id in args.only or []:
        try:
            experiments.get(exp_id)
        except ValueError as err:
            raise UsageError(str(err)) from None
    _claim_out_root(args.out)
    page, md = report.build(args.out, quick=args.quick, seed=args.seed, x64=args.x64, ids=args.only,
                            data_dir=args.data_dir)
    print(page)
    print(md)
    if args.screenshot:
        import tempfile

        if report.find_browser() is None:
            raise UsageError("--screenshot needs Chromium (Debian: apt-get install chromium)")
        with tempfile.TemporaryDirectory() as profile:
            loaded, total = report.check_in_browser(page, Path(profile) / "a")
            print(report.screenshot(page, args.out / "report.png", Path(profile) / "b"))
        print(f"browser check: {loaded} of {total} figures loaded")
        if loaded != total:
            print(f"jaxopt-course: error: {total - loaded} figure(s) failed to load", file=sys.stderr)
            return 1
    return 0


def _join_processes(args) -> None:
    """Initialize jax.distributed when flags or JAXOPT_* variables ask for several processes."""
    from jaxopt_course import distributed

    if args.command not in ("run", "report"):
        return
    settings = distributed.settings_from(args.coordinator, args.num_processes, args.process_id)
    distributed.initialize(settings, auto_detect=args.distributed)


def main(argv=None) -> int:
    """Entry point of the ``jaxopt-course`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _join_processes(args)
        if args.command == "list":
            return _cmd_list()
        if args.command == "devices":
            return _cmd_devices()
        if args.command == "report":
            return _cmd_report(args)
        return _cmd_run(args)
    except (UsageError, ValueError) as err:
        print(f"jaxopt-course: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
