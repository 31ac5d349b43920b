"""Section R's summaries over seeds: mean and standard error, and cells named by their coordinates."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from jaxopt_course import labelled
from jaxopt_course.stats import mean_and_standard_error


def mean_se(da: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """(mean, SE = s / sqrt(n)) over ``dim`` as float64 arrays, from ``stats.mean_and_standard_error``."""
    moved = da.transpose(dim, ...)
    mean, se = mean_and_standard_error(np.ascontiguousarray(moved.values))
    rest = moved.isel({dim: 0}, drop=True)
    return rest.copy(data=np.asarray(mean, np.float64)), rest.copy(data=np.asarray(se, np.float64))


def label(ds, index: dict) -> str:
    """The name of cell ``index`` ({dim: position}): its coordinates along the dims with more than one ('all' if none)."""
    named = {d: ds[d].values[i] for d, i in index.items() if ds.sizes[d] > 1}
    return labelled.cell_label(named) if named else "all"


def cells(ds, dims: tuple) -> list[tuple[str, dict]]:
    """(label, {dim: position}) for every cell of ``dims``, in C order."""
    out = []
    for position in itertools.product(*(range(ds.sizes[d]) for d in dims)):
        index = dict(zip(dims, position))
        out.append((label(ds, index), index))
    return out
