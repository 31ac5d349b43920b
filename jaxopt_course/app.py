"""The application layer: run one experiment with its precision, devices, checkpoints and files.

The command line and the report both call ``run_experiment``; neither knows how a
run is set up. Devices and the checkpoint policy are handed to the experiment
explicitly in a ``run.Sweeper``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax

from jaxopt_course import checkpoint, distributed, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments import config as cfg
from jaxopt_course.experiments.registry import Experiment
from jaxopt_course.progress import log
from jaxopt_course.results import save_dataset, to_jsonable, versions, write_json

MARKER = ".jaxopt-course"  # marks an output directory as ours


class UsageError(ValueError):
    """A problem with the user's input: reported in one line with exit code 2."""


@dataclass(frozen=True)
class Options:
    """How to run (not what): seed, output, precision, resume, chunking, devices."""

    seed: int = 0
    out: Path = Path("results")
    x64: bool = False
    quick: bool = False
    resume: bool = False
    chunk_seeds: int = 128
    devices: Optional[int] = None
    preset: str = "default"

    def __post_init__(self):
        runner.check_seed(self.seed)
        if self.preset not in cfg.PRESETS:
            raise UsageError(f"unknown preset {self.preset!r}; the presets are: {', '.join(cfg.PRESETS)}")


def prepare_out_dir(path: Path) -> Path:
    """Create the output directory and make sure it is writable (UsageError otherwise)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {path}: {err.strerror or err}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"output directory {path} is not writable")
    return path


def claim_out_root(path: Path) -> Path:
    """The top-level --out directory: new, empty or already ours (marked), never someone else's."""
    if not distributed.is_writer():
        return path
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists():
        raise UsageError(f"{path} exists and holds files that jaxopt-course did not write; "
                         "choose another --out (or an empty directory)")
    prepare_out_dir(path)
    (path / MARKER).touch()
    return path


def run_identity(experiment: Experiment, config, options: Options) -> dict:
    """What identifies a run: resuming or reusing results requires all of it to match."""
    return to_jsonable({"id": experiment.id, "quick": options.quick, "preset": options.preset, "seed": options.seed,
                        "x64": options.x64, "config": config})


def select_devices(count: Optional[int]) -> list:
    """The first ``count`` devices (all when None); UsageError if there are fewer."""
    devices = jax.devices()
    if count is None:
        return devices
    if count > len(devices):
        raise UsageError(f"--devices {count}: only {len(devices)} device(s) available ({devices[0].platform})")
    return devices[:count]


def _check_resume(chunks: Path, identity: dict) -> None:
    """Refuse to resume over chunks written by another configuration (UsageError)."""
    stored = chunks / "run.json"
    try:
        recorded = json.loads(stored.read_text()) if stored.exists() else identity
    except (OSError, ValueError):
        raise UsageError(f"cannot resume: {stored} is damaged (rerun without --resume to start afresh)") from None
    if recorded != identity:
        raise UsageError(f"cannot resume: {chunks.parent} holds a run with a different configuration "
                         "(rerun without --resume to start afresh)")


def run_experiment(experiment: Experiment, config, options: Options = Options(), out_dir: Optional[Path] = None):
    """Run one experiment at ``config``; write ``results.json``, ``data.npz`` and figures to ``out/ID``; return the dir.

    Sweeps write their completed chunks to ``out/ID/.chunks`` as they go; with
    ``options.resume`` an interrupted run continues from them. They are removed on success.
    """
    out_dir = Path(options.out) / experiment.id if out_dir is None else Path(out_dir)
    if distributed.is_writer():
        prepare_out_dir(out_dir)
        _start_afresh(out_dir)
    precision.set_x64(options.x64)
    identity = run_identity(experiment, config, options)
    chunks = out_dir / ".chunks"
    if options.resume:
        _check_resume(chunks, identity)
    used = select_devices(options.devices)
    policy = checkpoint.Policy(chunks, resume=options.resume, chunk_seeds=options.chunk_seeds).prepare()
    sweeper = runner.Sweeper(devices=tuple(used), checkpoint=policy)
    preset = "" if options.preset == "default" else f", {options.preset} preset"
    log(f"{experiment.id}: {experiment.description} ({'quick' if options.quick else 'full'}{preset}, seed {options.seed}"
        f"{', float64' if options.x64 else ''}, {len(used)} device(s))")
    start = time.perf_counter()
    try:
        with precision.full_float32_matmuls():
            if distributed.is_writer():
                write_json(chunks / "run.json", identity)
            results = experiment.run(config, runner.seed_key(options.seed), sweeper)
    except BaseException:
        if distributed.is_writer() and not any(chunks.glob("sweep*_chunk*.npz")):
            shutil.rmtree(chunks, ignore_errors=True)  # nothing to resume from: leave no skeleton
        raise
    wall = time.perf_counter() - start
    if not distributed.is_writer():
        log(f"{experiment.id}: process {jax.process_index()} done in {wall:.2f} s (process 0 writes the results)")
        return out_dir
    figures = experiment.plot(results, out_dir)
    data = save_dataset(out_dir / "data.npz", results.data)
    files = [Path(f) for f in figures] + [Path(f).with_suffix(".npz") for f in figures] + [data]
    record = {
        "id": experiment.id, "description": experiment.description, "quick": options.quick,
        "preset": options.preset, "seed": options.seed,
        "x64": options.x64, "matmul_precision": precision.MATMUL_PRECISION, "config": config,
        "versions": versions(), "devices": [str(d) for d in used], "wall_time_s": round(wall, 3),
        "diverged": results.diverged, "figures": [Path(f).name for f in figures], "metrics": results.metrics,
        "files": {f.name: file_hash(f) for f in files if f.exists()},
    }
    write_json(out_dir / "results.json", record)  # last: it completes the set of files it lists
    shutil.rmtree(chunks, ignore_errors=True)
    log(f"{experiment.id}: done in {wall:.2f} s -> {out_dir}")
    return out_dir


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes (results.json lists one per file of its run)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _start_afresh(out_dir: Path) -> None:
    """Before a run writes: drop the old results.json (so a half-rewritten folder is never complete) and stale temp files."""
    (out_dir / "results.json").unlink(missing_ok=True)
    for tmp in out_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def loop_runs(experiment: Experiment, config, loops: dict) -> list[tuple[str, object]]:
    """(sub-directory name, config) for every value combination of fields swept as a loop of compiled runs."""
    if not loops:
        return [("", config)]
    names = list(loops)
    runs = []
    for values in itertools.product(*(loops[n] for n in names)):
        label = ",".join(f"{n}={v}" for n, v in zip(names, values))
        runs.append((label, cfg.replace(config, experiment.id, **dict(zip(names, values)))))
    return runs


@dataclass(frozen=True)
class Request:
    """What the user asked of the configs: field assignments, a TOML document, sweeps, shorthand flags."""

    sets: tuple = ()  # ('FIELD=VALUE', ...)
    toml: Optional[dict] = None  # a parsed --config file
    sweeps: tuple = ()  # ('FIELD=V1,V2,...', ...)
    flags: tuple = ()  # (('seeds', 32), ('data_dir', 'D')): shorthand flags for fields, None when not given
    all_ids: bool = False  # 'run all': a field that an experiment lacks is skipped, not refused


def _applicable(experiment: Experiment, name: str, request: Request) -> bool:
    """Whether a requested field applies to this experiment (UsageError if it is refused)."""
    names = {s.name for s in cfg.field_specs(experiment.config)}
    if name in names:
        return True
    if request.all_ids:
        return False
    flag = {"seeds": "--seeds", "data_dir": "--data-dir"}.get(name)
    if flag:
        raise UsageError(f"{experiment.id} does not use {flag} (it has no {name} field); its fields are: "
                         f"{', '.join(sorted(names))}")
    cfg.spec_of(experiment.config, name, experiment.id)  # raises, naming the valid fields
    return False


def configure(experiment: Experiment, request: Request, *, quick: bool, preset: str = "default") -> tuple[object, dict]:
    """(config, loop sweeps) from the preset's quick/full base, the TOML file, --set, shorthand flags and --sweep, in that order."""
    config = cfg.preset(experiment.config, preset, quick=quick)
    values: dict = {}
    if request.toml:
        values.update(cfg.toml_values(experiment.config, request.toml, experiment.id))
    sets = [s for s in request.sets if _applicable(experiment, s.partition("=")[0].strip(), request)]
    values.update(cfg.parse_assignments(experiment.config, sets, experiment.id))
    for name, value in request.flags:
        if value is not None and _applicable(experiment, name, request):
            values[name] = value
    sweeps = cfg.parse_assignments(
        experiment.config, [s for s in request.sweeps if _applicable(experiment, s.partition("=")[0].strip(), request)],
        experiment.id, sweep=True)
    loops = cfg.loop_sweeps(experiment.config, sweeps)
    values.update({n: v for n, v in sweeps.items() if n not in loops})
    config = cfg.replace(config, experiment.id, **values) if values else config
    for name, vals in loops.items():  # check every looped value now, before anything runs
        for v in vals:
            cfg.replace(config, experiment.id, **{name: v})
    return config, loops


def unused_by_all(experiments: list, request: Request) -> list[str]:
    """Fields named in the request that no chosen experiment has (refused even for 'run all')."""
    names = [s.partition("=")[0].strip() for s in (*request.sets, *request.sweeps)]
    names += [n for n, v in request.flags if v is not None]
    have = set().union(*({s.name for s in cfg.field_specs(e.config)} for e in experiments))
    return [n for n in names if n not in have]
