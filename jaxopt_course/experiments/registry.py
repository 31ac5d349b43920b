"""The experiment registry: IDs (as in SPEC.md) mapped to config, run and plot."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jax


@dataclass
class Results:
    """What an experiment's ``run`` returns.

    ``metrics`` go to results.json (JSON-able numbers, lists and dicts); ``data``
    holds the arrays the figures are drawn from (saved as data.npz);
    ``diverged`` maps a run's label to 'diverged at step k' for every run that did.
    """

    metrics: dict
    data: dict = field(default_factory=dict)
    diverged: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """One named experiment of the catalogue.

    ``config`` is a frozen dataclass type whose defaults are the SPEC's full sizes
    and whose classmethod ``quick()`` gives a real but smaller run; ``run(config,
    key) -> Results`` computes; ``plot(results, out_dir) -> [paths]`` draws.
    ``captions`` maps a figure's file stem to what a reader should look at in it
    (the report prints it under the figure).
    """

    id: str
    section: str
    description: str
    config: type
    run: Callable[[Any, jax.Array], Results]
    plot: Callable[[Results, Path], list]
    captions: dict = field(default_factory=dict)


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry (IDs are case-insensitive and unique)."""
    key = experiment.id.upper()
    if key in _REGISTRY:
        raise ValueError(f"experiment {experiment.id} is registered twice")
    if not dataclasses.is_dataclass(experiment.config) or not hasattr(experiment.config, "quick"):
        raise TypeError(f"{experiment.id}: config must be a dataclass with a quick() classmethod")
    _REGISTRY[key] = experiment
    return experiment


def _order(exp_id: str) -> tuple:
    """Catalogue order: sections as in SPEC.md, then the number."""
    sections = "PFNMRCG"
    head, num = exp_id[0], exp_id[1:]
    return (sections.find(head) if head in sections else len(sections), int(num) if num.isdigit() else 0, exp_id)


def all_experiments() -> list[Experiment]:
    """Every registered experiment in catalogue order."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY, key=_order)]


def get(exp_id: str) -> Experiment:
    """The experiment with this ID (case-insensitive); ValueError naming the known IDs otherwise."""
    try:
        return _REGISTRY[str(exp_id).upper()]
    except KeyError:
        known = ", ".join(e.id for e in all_experiments())
        raise ValueError(f"unknown experiment {exp_id!r}; known: {known}") from None


def make_config(experiment: Experiment, *, quick: bool = False, **overrides):
    """The experiment's config (full or quick) with the overrides that it has fields for."""
    config = experiment.config.quick() if quick else experiment.config()
    names = {f.name for f in dataclasses.fields(config)}
    applicable = {k: v for k, v in overrides.items() if v is not None and k in names}
    return dataclasses.replace(config, **applicable)
