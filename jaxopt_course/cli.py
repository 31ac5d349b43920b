"""The command line: ``jaxopt-course list | show ID | run ID ... | report | export DIR | devices``.

It only parses: configs are built and experiments run by ``jaxopt_course.app``.
Bad input (an unknown ID or field, a bad value, a flag the experiment does not use,
an unwritable output directory) ends with a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2


from jaxopt_course.app import UsageError  # noqa: E402
from jaxopt_course.experiments.config import PRESETS  # noqa: E402


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
    common.add_argument("--preset", choices=PRESETS, default="default",
                        help="starting config: 'default' or 'course' (the assignments' exact settings; "
                        "'jaxopt-course show ID' lists what it changes)")
    common.add_argument("--seed", type=_non_negative_int, default=0, help="base PRNG seed (default 0)")
    common.add_argument("--out", type=Path, default=Path("results"), help="output directory (default results/)")
    common.add_argument("--x64", action="store_true", help="compute in float64 (jax_enable_x64)")
    common.add_argument("--no-progress", action="store_true",
                        help="no progress bars or lines from inside compiled runs (or JAXOPT_COURSE_PROGRESS=0)")
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
    show = sub.add_parser("show", help="every config field of an experiment: type, default, quick value, sweep, meaning")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print the fields as JSON")
    run = sub.add_parser("run", parents=[common], help="run experiments (or 'all'); write results and figures")
    run.add_argument("ids", nargs="+", metavar="ID", help="experiment IDs as in SPEC.md (case-insensitive), or 'all'")
    run.add_argument("--seeds", type=_positive_int,
                     help="shorthand for --set seeds=N (what a seed is differs: see 'jaxopt-course show ID')")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                     help="set a config field (repeatable; tuples as V1,V2,...); see 'jaxopt-course show ID'")
    run.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="FIELD=V1,V2,...",
                     help="sweep a field over values (repeatable: the product); array-valued fields are "
                          "vmapped in one call, the others run as a loop of compiled runs")
    run.add_argument("--config", type=Path, metavar="FILE.toml",
                     help="config fields from a TOML file (top-level keys for every ID, [ID] tables for one)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the effective config of every run (JSON, one line each) and stop")
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
    export = sub.add_parser("export", help="every result under DIR as one tidy table (CSV or Parquet) for pandas")
    export.add_argument("dir", type=Path, metavar="DIR", help="a --out directory of run/report (searched recursively)")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv",
                        help="csv (default) or parquet (needs pyarrow: pip install 'jaxopt_course[export]')")
    export.add_argument("--out", type=Path, metavar="FILE", help="output file (default DIR/export.csv or .parquet)")
    return parser


def _cmd_export(args) -> int:
    """Write the tidy table of every result under DIR; print its path and size."""
    from jaxopt_course import export

    table = export.tidy(args.dir)
    out = args.out if args.out is not None else args.dir / f"export.{args.format}"
    path = export.write(table, out, args.format)
    runs = table.groupby(["experiment", "config_hash"]).ngroups
    print(f"{path}: {len(table)} rows, {runs} run(s), columns {', '.join(table.columns)}")
    return 0


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


def _cmd_show(args) -> int:
    """Print every field of an experiment's config."""
    import json

    from jaxopt_course import experiments
    from jaxopt_course.experiments import config as cfg
    from jaxopt_course.results import to_jsonable

    exp = experiments.get(args.id)
    rows = cfg.describe(exp.config)
    if args.json:
        print(json.dumps(to_jsonable({"id": exp.id, "description": exp.description, "fields": rows}), indent=2))
        return 0
    print(f"{exp.id}: {exp.description}")
    print("sweep: 'vmap' = one vmapped call over the values; 'loop' = one compiled run per value")
    for r in rows:
        default = cfg.format_value(r["default"])
        quick = "" if r["quick"] == r["default"] else f" (quick: {cfg.format_value(r['quick'])})"
        course = "" if r["course"] == r["default"] else f" (course: {cfg.format_value(r['course'])})"
        print(f"  {r['name']} = {default}{quick}{course}  [{r['type']}; sweep: {r['sweep']}]\n      {r['help']}")
    changed = cfg.preset_changes(exp.config, "course")
    print("preset course: " + (", ".join(f"{k}={cfg.format_value(v)}" for k, v in changed.items())
                               if changed else "the same as the defaults"))
    return 0


def _request(args, all_ids: bool):
    """The config request of run/report flags."""
    from jaxopt_course import app
    from jaxopt_course.experiments import config as cfg

    toml = cfg.read_toml(args.config) if getattr(args, "config", None) else None
    flags = (("seeds", getattr(args, "seeds", None)), ("data_dir", args.data_dir))
    return app.Request(tuple(getattr(args, "sets", ())), toml, tuple(getattr(args, "sweeps", ())), flags, all_ids)


def _chosen(ids, all_word: str = "all") -> tuple[list, bool]:
    """The experiments named (or all of them), each ID validated."""
    from jaxopt_course import experiments

    if ids is None or [i.lower() for i in ids] == [all_word]:
        return experiments.all_experiments(), True
    return [experiments.get(i) for i in ids], False


def _configs(chosen: list, request, quick: bool, preset: str = "default") -> list:
    """(experiment, config, loop sweeps) for every chosen experiment, all checked before any runs."""
    from jaxopt_course import app

    unused = app.unused_by_all(chosen, request) if request.all_ids else []
    if unused:
        raise UsageError(f"no chosen experiment has a field {unused[0]!r} (see 'jaxopt-course show ID')")
    return [(exp, *app.configure(exp, request, quick=quick, preset=preset)) for exp in chosen]


def _options(args):
    from jaxopt_course import app

    return app.Options(seed=args.seed, out=args.out, x64=args.x64, quick=args.quick,
                       resume=getattr(args, "resume", False), chunk_seeds=getattr(args, "chunk_seeds", 128),
                       devices=getattr(args, "devices", None), preset=args.preset)


def _cmd_run(args) -> int:
    """Run the requested experiments in catalogue order (every config checked first)."""
    from jaxopt_course import app

    options = _options(args)
    chosen, all_ids = _chosen(args.ids)
    planned = _configs(chosen, _request(args, all_ids), args.quick, args.preset)
    if args.dry_run:
        return _print_plan(planned)
    app.claim_out_root(args.out)
    for exp, config, loops in planned:
        for label, run_config in app.loop_runs(exp, config, loops):
            out_dir = args.out / exp.id / label if label else None
            app.run_experiment(exp, run_config, options, out_dir)
    return 0


def _print_plan(planned) -> int:
    """One JSON line per run that ``run`` would make: ID, loop label, effective config."""
    import json

    from jaxopt_course import app
    from jaxopt_course.results import to_jsonable

    for exp, config, loops in planned:
        for label, run_config in app.loop_runs(exp, config, loops):
            print(json.dumps({"id": exp.id, "run": label or None, "config": to_jsonable(run_config)}))
    return 0


def _cmd_report(args) -> int:
    """Build the HTML and Markdown reports."""
    from jaxopt_course import app, report

    options = _options(args)
    chosen, all_ids = _chosen(args.only)
    planned = _configs(chosen, _request(args, all_ids), args.quick, args.preset)
    app.claim_out_root(args.out)
    page, md = report.build(args.out, [(exp, config) for exp, config, _ in planned], options)
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
    """For run/report: progress and compilation-cache settings, then jax.distributed if flags or JAXOPT_* ask for it."""
    from jaxopt_course import distributed

    if args.command not in ("run", "report"):
        return
    from jaxopt_course import progress
    from jaxopt_course.cache import enable_compilation_cache

    progress.set_enabled(False if args.no_progress else None)  # None: as $JAXOPT_COURSE_PROGRESS says
    enable_compilation_cache()
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
        if args.command == "show":
            return _cmd_show(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "export":
            return _cmd_export(args)
        return _cmd_run(args)
    except (UsageError, ValueError) as err:
        print(f"jaxopt-course: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        print(f"jaxopt-course: error: {err.strerror or err}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxopt-course: interrupted; run the same command with --resume to continue from the last "
              "completed chunk", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
