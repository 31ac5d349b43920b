"""The planted instance that M1-M3 build, GD on the factor U, and the pieces their figures share.

Step size (M1, M2): eta = c / (rms(y) + ||U_0||_2^2) with c = ``step_constant`` (0.25 by
default), where rms(y) estimates ||X*||_F (E y_i^2 = ||X*||_F^2); see
``problems.matrix_sensing.step_size``. The step constant may be a traced scalar, so a
tuple of values is one more axis of the experiment's single vmapped call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, labelled, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.problems import matrix_sensing as ms
from jaxopt_course.progress import timed
from jaxopt_course.validation import at_least, one_of, optional, positive, positive_int

SWEPT = ("alpha", "step_constant")  # the vmapped hyperparameter dimensions of M1-M3's datasets


@dataclass(frozen=True)
class SensingConfig(ExperimentConfig):
    """The instance every M experiment builds: X* (d x d, rank r) seen through m measurements, and A's storage."""

    d: int = param(100, "dimension d of X* (d x d)", check=positive_int)
    r: int = param(5, "rank r of X* = U* U*^T (at most d)", check=positive_int)
    m: int = param(5000, "number of measurements y_i = <A_i, X*> (10 d r; just below d(d+1)/2 = 5050)",
                   check=positive_int)
    layout: str = param("packed", "storage of A: packed (upper triangle of each S_i) or full (vec S_i)",
                        check=one_of(ms.LAYOUTS))
    dtype: Optional[str] = param(None, "storage dtype of A: float32, float64 or bfloat16 (none: float32, "
                                       "float64 under --x64)", check=optional(one_of(ms.STORAGE_DTYPES)))
    transpose_copy: Optional[bool] = param(None, "also store S^T (none: exactly where a step takes XLA's two passes)")

    def __post_init__(self):
        super().__post_init__()
        if self.r > self.d:
            raise ValueError(f"the rank r = {self.r} cannot exceed d = {self.d}")


def step_constant_field(help: str = "c in eta = c / (rms(y) + ||U_0||_2^2)"):
    """The vmapped step constant c (0.25 by default) of a GD in this section."""
    return param(ms.STEP_CONSTANT, help, check=positive, vmap=True)


def records_field(default: int = 80):
    """The number of points of a log-spaced record grid."""
    return param(default, "points of the log-spaced record grid", check=at_least(2))


def kernel_field():
    """Which products a GD step on the sensing operator takes."""
    return param("auto", "the step's products: auto, compiled (one-pass CPU kernel) or xla", check=one_of(ms.KERNELS))


def storage_dtype(config: SensingConfig) -> str:
    """The storage dtype: the config's, or the default float (float64 under --x64)."""
    return jnp.dtype(config.dtype or precision.float_dtype()).name


def build_problem(exp_id: str, config: SensingConfig, key: jax.Array) -> ms.SensingProblem:
    """The planted instance of a config (d, r, m, layout, dtype), streamed iff A does not fit in memory."""
    dtype = storage_dtype(config)
    transpose_copy = ms.default_transpose_copy(dtype) if config.transpose_copy is None else config.transpose_copy
    copies = 2 if transpose_copy else 1
    nbytes = copies * ms.operator_bytes(config.d, config.m, config.layout, dtype)
    with timed(f"{exp_id}: sensing operator, m = {config.m}, d = {config.d}, {config.layout} "
               f"{dtype}{' + transposed copy' if copies == 2 else ''} ({nbytes / 1e6:.0f} MB)"):
        return jax.block_until_ready(ms.make_problem(key, config.d, config.r, config.m, layout=config.layout,
                                                     dtype=dtype, transpose_copy=transpose_copy))


def init_factor(key: jax.Array, problem: ms.SensingProblem, R: int, alpha) -> jax.Array:
    """U_0 = alpha W, W_ij ~ N(0, 1/d), in the compute dtype of the stored operator."""
    ct = ms.compute_dtype(ms.storage_dtype(problem.operator))
    return ms.init_factor(key, problem.x_star.shape[0], R, alpha, ct)


def gd_trace(problem: ms.SensingProblem, U0: jax.Array, num_steps: int, metrics, record, c, kernel: str = "auto"):
    """GD U_{t+1} = U_t - eta grad f(U_t), eta = c / (rms(y) + ||U_0||_2^2), through run.run: (trace, eta)."""
    eta = ms.step_size(problem.y, U0, c)
    return runner.run(ms.gd_step(problem, eta, kernel=kernel), U0, num_steps, metrics=metrics, record=record), eta


def distance_metrics(problem: ms.SensingProblem, U: jax.Array) -> dict:
    """||U U^T - X*||_F / ||X*||_F and f(U) at a recorded step."""
    x_star = problem.x_star.astype(U.dtype)
    return {"relative_error": ms.relative_distance(U, x_star), "loss": ms.loss(problem.operator, problem.y, U)}


def hp_coords(hp: dict) -> dict:
    """Dataset coordinates of the swept axes: {name: the values as given}."""
    return {name: np.asarray(values, dtype=float) for name, values in hp.items()}


def swept_cells(data: xr.Dataset, dims: tuple = SWEPT):
    """(tag, cell) for every combination of the swept coordinates; the tag names the varying ones ('' if none)."""
    vary = [d for d in dims if data.sizes[d] > 1]
    for values in itertools.product(*(data[d].values for d in dims)):
        where = dict(zip(dims, values))
        yield labelled.cell_label({d: where[d] for d in vary}), data.sel(where)


def masked(cell: xr.Dataset, name: str) -> np.ndarray:
    """The recorded curve(s) of ``name`` with NaN from the divergence step on (the record axis last)."""
    values = cell[name].transpose(..., "step")
    return divergence.mask_after(cell.step.values, values.values, cell.diverged_at.values)


def tagged(text: str, tag: str) -> str:
    """'text, tag' (or just text when nothing is swept)."""
    return f"{text}, {tag}" if tag else text
