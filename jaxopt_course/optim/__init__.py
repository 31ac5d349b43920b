"""Hand-written optimizers as optax-style ``(init, update)`` pairs, checked against optax."""

from jaxopt_course.optim.alias import adagrad, adam, gd, heavy_ball, nesterov, scaled_gd, sgd
from jaxopt_course.optim.averaging import IterateAverage, average_init, average_update
from jaxopt_course.optim.base import GradientTransformation, apply_updates, chain
from jaxopt_course.optim.by_name import OPTIMIZER_LABELS, OPTIMIZERS, SCHEDULES, optimizer, schedule
from jaxopt_course.optim.schedules import constant, inverse_time, staircase
from jaxopt_course.optim.transform import (
    scale_by_adam,
    scale_by_diagonal,
    scale_by_learning_rate,
    scale_by_rss,
    trace,
)

__all__ = [
    "GradientTransformation", "IterateAverage", "OPTIMIZERS", "OPTIMIZER_LABELS", "SCHEDULES", "adagrad", "adam", "apply_updates",
    "average_init", "average_update", "chain", "constant", "gd", "heavy_ball",
    "inverse_time", "nesterov", "optimizer", "scale_by_adam", "scale_by_diagonal",
    "scale_by_learning_rate", "scale_by_rss", "scaled_gd", "schedule", "sgd", "staircase", "trace",
]
