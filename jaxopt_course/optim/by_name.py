"""Optimizers and step-size schedules looked up by name (the one place that maps names to them)."""

from __future__ import annotations

from typing import Callable

from jaxopt_course.optim import alias, schedules
from jaxopt_course.optim.base import GradientTransformation, ScalarOrSchedule, Schedule

OPTIMIZERS: dict[str, Callable[..., GradientTransformation]] = {
    "sgd": alias.sgd, "gd": alias.gd, "heavy_ball": alias.heavy_ball, "nesterov": alias.nesterov,
    "adam": alias.adam, "adagrad": alias.adagrad,
}
SCHEDULES = ("constant", "inverse_time", "staircase")
OPTIMIZER_LABELS = {"sgd": "SGD", "gd": "GD", "heavy_ball": "heavy ball", "nesterov": "Nesterov",
                    "adam": "Adam", "adagrad": "Adagrad"}


def optimizer(name: str, learning_rate: ScalarOrSchedule, **options) -> GradientTransformation:
    """The optimizer called ``name`` (``sgd``, ``adam``, ``adagrad``, ...) with its step size and options."""
    try:
        make = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}") from None
    return make(learning_rate, **options)


def schedule(name: str, value, period: int = 1000) -> Schedule:
    """gamma_k for the schedule called ``name``: constant c, inverse_time c/(k+1), staircase c/(floor(k/K)+1)."""
    if name == "constant":
        return schedules.constant(value)
    if name == "inverse_time":
        return schedules.inverse_time(value)
    if name == "staircase":
        return schedules.staircase(value, period)
    raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
