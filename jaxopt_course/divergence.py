"""Divergence, the one place that words and masks it.

The runner reports ``diverged_at``: the first step k with a non-finite state, or -1
(``run.Trace``). Here a run's (or many runs') ``diverged_at`` becomes the message
"diverged at step k", recorded curves are masked (NaN) from that step on so that no
figure plots what an overflow left behind, and labelled sweeps get one message per
cell ("degree=3, schedule=constant: 2 of 16 runs diverged, the first at step 812").
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from jaxopt_course.labelled import cell_label, varying


def message(diverged_at) -> str | None:
    """'diverged at step k' for k >= 0, None for -1 (never diverged)."""
    k = int(diverged_at)
    return None if k < 0 else f"diverged at step {k}"


def first_step(diverged_at) -> int:
    """The earliest divergence step over all runs, or -1 if none diverged."""
    d = np.asarray(diverged_at)
    hit = d[d >= 0]
    return int(hit.min()) if hit.size else -1


def summary(diverged_at, runs: str = "runs") -> str | None:
    """One run: 'diverged at step k'; several: 'n of N runs diverged, the first at step k'; None if none did."""
    d = np.asarray(diverged_at)
    if d.ndim == 0:
        return message(d)
    count = int((d >= 0).sum())
    if count == 0:
        return None
    return f"{count} of {d.size} {runs} diverged, the first at step {first_step(d)}"


def mask_after(steps, values, diverged_at) -> np.ndarray:
    """values[..., r] with NaN wherever steps[r] >= diverged_at (runs broadcast over the leading axes).

    ``values`` has the record axis last (any number of leading run axes);
    ``diverged_at`` has the leading shape (-1 keeps a run whole).
    """
    values = np.asarray(values, dtype=float)
    d = np.asarray(diverged_at, dtype=np.int64)  # int64: a Trace's int32 -1 would wrap the sentinel below
    steps = np.asarray(steps)
    cut = np.where(d >= 0, d, np.iinfo(np.int64).max)
    bad = steps >= cut.reshape(cut.shape + (1,) * (values.ndim - cut.ndim))
    return np.where(bad, np.nan, values)


def messages(diverged_at: xr.DataArray, over: tuple = ("seed",), runs: str = "runs") -> dict:
    """{cell label: summary} for every cell of the other (varying) dimensions in which some run diverged."""
    over = tuple(d for d in over if d in diverged_at.dims)
    cells = varying(diverged_at, exclude=over)
    diverged_at = diverged_at.squeeze([d for d in diverged_at.dims if d not in over and d not in cells])
    if not cells:
        text = summary(diverged_at.values, runs)
        return {} if text is None else {"all": text}
    out = {}
    stacked = diverged_at.stack(_cell=cells).transpose("_cell", *over)
    for i in range(stacked.sizes["_cell"]):
        cell = stacked.isel(_cell=i)
        text = summary(cell.values, runs)
        if text is not None:
            out[cell_label({d: cell.coords[d].item() for d in cells})] = text
    return out


def steps_or_none(steps):
    """Event steps (a divergence, a stop) as JSON values with -1 ('never happened') as None: int, list or dict."""
    if isinstance(steps, dict):
        return {k: steps_or_none(v) for k, v in steps.items()}
    values = np.asarray(steps)
    if values.ndim:
        return [steps_or_none(v) for v in values]
    return None if int(values) < 0 else int(values)


def first_over(diverged_at: xr.DataArray, over: tuple = ("seed",)) -> xr.DataArray:
    """Per cell of the other dimensions: the first divergence step over the runs in ``over``, -1 if none diverged."""
    never = np.iinfo(np.int64).max
    d = diverged_at.astype(np.int64)
    first = d.where(d >= 0, never).min(list(over))
    return first.where(first < never, -1)


def count_over(diverged_at: xr.DataArray, over: tuple = ("seed",)) -> xr.DataArray:
    """Per cell of the other dimensions: how many of the runs in ``over`` diverged."""
    return (diverged_at >= 0).sum(list(over)).astype(np.int64)
