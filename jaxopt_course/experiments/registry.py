"""The catalogue: one module per experiment ID, found by name, in a folder per SPEC section.

Every catalogue module (``experiments/<section>/<id>_<what>.py``, e.g.
``least_squares/p3_sgd.py``) declares the same names, so a reader who knows one
knows all:

- ``ID`` (``"P3"``) and ``TITLE`` (one line for ``jaxopt-course list``);
- ``Config``: a frozen ``ExperimentConfig`` whose defaults are the SPEC's full sizes,
  with ``Config.quick()`` a real but smaller run;
- ``run(config, key, sweeper=run.Sweeper()) -> Results``;
- ``plot(results, out_dir) -> [paths]``;
- ``CAPTIONS``: figure file stem -> what a reader should look at in it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import jax
import xarray as xr

from jaxopt_course.experiments.config import ExperimentConfig

SECTIONS = "PFNMRCGST"  # catalogue order, as in SPEC.md
_MODULE = re.compile(r"^[a-z]\d+_\w+$")


@dataclass
class Results:
    """What an experiment's ``run`` returns.

    ``metrics`` go to results.json (JSON-able numbers, lists and dicts); ``data`` is a
    labelled ``xarray.Dataset`` (dimensions with coordinates, e.g. ``degree``,
    ``schedule``, ``seed``, ``step``) that figures select from by coordinate and that
    is saved as data.npz; ``diverged`` maps a run's label to 'diverged at step k'.
    """

    metrics: dict
    data: xr.Dataset = field(default_factory=xr.Dataset)
    diverged: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """One catalogue entry, read off its module."""

    id: str
    section: str
    description: str
    config: type
    run: Callable[..., Results]
    plot: Callable[[Results, Path], list]
    captions: dict
    module: str

    @classmethod
    def from_module(cls, module: ModuleType) -> "Experiment":
        """The experiment a catalogue module declares (TypeError naming what is missing)."""
        missing = [n for n in ("ID", "TITLE", "Config", "run", "plot", "CAPTIONS") if not hasattr(module, n)]
        if missing:
            raise TypeError(f"{module.__name__} lacks {', '.join(missing)}")
        if not issubclass(module.Config, ExperimentConfig):
            raise TypeError(f"{module.__name__}.Config must derive from ExperimentConfig")
        return cls(module.ID, module.ID[0], module.TITLE, module.Config, module.run, module.plot,
                   dict(module.CAPTIONS), module.__name__)


def _order(exp_id: str) -> tuple:
    """Catalogue order: sections as in SPEC.md, then the number."""
    head, num = exp_id[0], exp_id[1:]
    return (SECTIONS.find(head) if head in SECTIONS else len(SECTIONS), int(num) if num.isdigit() else 0, exp_id)


@functools.cache
def _catalogue() -> dict[str, Experiment]:
    """Every catalogue module under ``jaxopt_course.experiments``, imported once."""
    import jaxopt_course.experiments as package

    found: dict[str, Experiment] = {}
    for section in pkgutil.iter_modules(package.__path__):
        if not section.ispkg:
            continue
        sub = importlib.import_module(f"{package.__name__}.{section.name}")
        for mod in pkgutil.iter_modules(sub.__path__):
            if _MODULE.match(mod.name):
                exp = Experiment.from_module(importlib.import_module(f"{sub.__name__}.{mod.name}"))
                if exp.id.upper() in found:
                    raise ValueError(f"experiment {exp.id} is declared twice")
                found[exp.id.upper()] = exp
    return found


def all_experiments() -> list[Experiment]:
    """Every experiment in catalogue order."""
    cat = _catalogue()
    return [cat[k] for k in sorted(cat, key=_order)]


def get(exp_id: str) -> Experiment:
    """The experiment with this ID (case-insensitive); ValueError naming the known IDs otherwise."""
    try:
        return _catalogue()[str(exp_id).upper()]
    except KeyError:
        known = ", ".join(e.id for e in all_experiments())
        raise ValueError(f"unknown experiment {exp_id!r}; known: {known}") from None


def make_config(experiment: Experiment, *, quick: bool = False, preset: str = "default", **values: Any):
    """The experiment's config (preset 'default' or 'course', full or quick) with ``values`` set (unknown fields refused)."""
    from jaxopt_course.experiments import config as cfg

    base = cfg.preset(experiment.config, preset, quick=quick)
    return cfg.replace(base, experiment.id, **values) if values else base


def run_quick(exp_id: str, seed: int = 0, **values) -> Results:
    """Run an experiment at its quick config through the library (no files written)."""
    exp = get(exp_id)
    return exp.run(make_config(exp, quick=True, **values), jax.random.key(seed))
