"""Labelled results: cells of an ``xarray.DataArray`` named by their coordinates.

Results carry named dimensions with coordinates (``degree``, ``schedule``,
``step_scale``, ``seed``, ``step``); tables and messages name a cell by the
coordinates that vary, e.g. ``"degree=3, schedule=constant"`` (dimensions of
length 1, such as an unswept step size, are left out of the name).
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def fmt(value) -> str:
    """A coordinate value as text: floats in %g, the rest as str (0-d arrays and NumPy scalars as their item)."""
    if hasattr(value, "item") and np.ndim(value) == 0:
        value = value.item()
    return f"{value:g}" if isinstance(value, float) else str(value)


def cell_label(coords: dict) -> str:
    """'degree=3, schedule=constant' from a cell's coordinates."""
    return ", ".join(f"{k}={fmt(v)}" for k, v in coords.items())


def varying(da: xr.DataArray, exclude: tuple = ()) -> list[str]:
    """The dimensions of ``da`` with more than one coordinate (those that name a cell)."""
    return [d for d in da.dims if da.sizes[d] > 1 and d not in exclude]


def cells(da: xr.DataArray, exclude: tuple = ()) -> dict:
    """{cell label: value} over the varying dimensions (not in ``exclude``); the others are squeezed.

    A 0-d result (nothing varies) is {"all": value}. Values are Python floats (None if not finite).
    """
    dims = varying(da, exclude)
    squeeze = [d for d in da.dims if d not in dims and d not in exclude and da.sizes[d] == 1]
    da = da.squeeze(squeeze, drop=False)
    if not dims:
        return {"all": _scalar(da)}
    stacked = da.stack(_cell=dims)
    out = {}
    for i in range(stacked.sizes["_cell"]):
        cell = stacked.isel(_cell=i)
        out[cell_label({d: cell.coords[d].values for d in dims})] = _scalar(cell)
    return out


def _scalar(da: xr.DataArray):
    """A 0-d array as a JSON-able Python value (lists for larger arrays)."""
    values = np.asarray(da.values)
    if values.ndim:
        return [_scalar(xr.DataArray(v)) for v in values]
    v = values.item()
    return float(v) if isinstance(v, float) and np.isfinite(v) else (None if isinstance(v, float) else v)


def by_coordinate(dim: str, coords, values) -> dict:
    """{cell label: value} for one value (a number or a list) per coordinate of ``dim``, named as ``cells`` names them.

    For values that do not stack into one array (e.g. solutions of different lengths per degree).
    """
    coords = list(coords)
    if len(coords) != len(values):
        raise ValueError(f"{len(coords)} coordinates of {dim!r} for {len(values)} values")
    boxed = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        boxed[i] = v
    return cells(xr.DataArray(boxed, dims=dim, coords={dim: coords}))
