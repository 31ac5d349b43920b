"""Summaries over initializations shared by N1-N5: final losses, sharpness, stop epochs (labelled arrays).

Each function maps the run dataset (dimensions ..., seed, epoch) to named DataArrays
over the cells (every dimension but ``seed``); ``metrics`` turns them into the
results.json layout ``{metric: {cell label: value}}``. Initializations that diverged
are left out (NaN) of every statistic and counted apart.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from jaxopt_course import labelled

QUANTILES = {"median": 0.5, "q10": 0.1, "q90": 0.9}


def alive(d: xr.Dataset) -> xr.DataArray:
    """True for the initializations that did not diverge."""
    return d.diverged_at < 0


def final(d: xr.Dataset, name: str) -> xr.DataArray:
    """The last recorded value of a curve per initialization, NaN for the runs that diverged."""
    return d[name].isel(epoch=-1).where(alive(d))


def quantile(da: xr.DataArray, q: float, dim: str = "seed") -> xr.DataArray:
    """The q-quantile over ``dim`` of the finite values (NaN where there are none)."""
    values = np.where(np.isfinite(da.values), da.values, np.nan).astype(float)
    axis = da.dims.index(dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        out = np.nanquantile(values, q, axis=axis)
    return xr.DataArray(out, dims=[d for d in da.dims if d != dim],
                        coords={k: c for k, c in da.coords.items() if dim not in c.dims})


def losses(d: xr.Dataset) -> dict:
    """Count of diverged inits and the median (10%, 90% quantiles) over inits of the final train and test losses."""
    out = {"diverged_inits": (~alive(d)).sum("seed")}
    for name in ("train_loss", "test_loss"):
        last = final(d, name)
        out.update({f"final_{name}_{tag}": quantile(last, q) for tag, q in QUANTILES.items()})
    return out


def sharpness(s: xr.DataArray, d: xr.Dataset, converged: xr.DataArray) -> dict:
    """Median and range over inits of lambda_max (all, and the converged ones), its values, the converged count."""
    s = s.where(alive(d))
    at_minima = s.where(converged)
    out = {"top_hessian_eigenvalue_median": quantile(s, 0.5), "top_hessian_eigenvalue_min": quantile(s, 0.0),
           "top_hessian_eigenvalue_max": quantile(s, 1.0), "top_hessian_eigenvalues": s,
           "converged_inits": (converged & alive(d)).sum("seed")}
    out.update({f"top_hessian_eigenvalue_{tag}_converged": quantile(at_minima, q)
                for tag, q in (("median", 0.5), ("min", 0.0), ("max", 1.0))})
    return out


def stops(stopped_at: xr.DataArray) -> dict:
    """Stop epochs per init (-1: never stopped), their count and their median over the stopped inits."""
    done = stopped_at.where(stopped_at >= 0)
    return {"stop_epochs": stopped_at, "stopped_inits": (stopped_at >= 0).sum("seed"),
            "stop_epoch_median": quantile(done, 0.5)}


def metrics(summaries: dict, cells=labelled.cells) -> dict:
    """{metric: {cell label: value}}; arrays over ``seed`` (per-init values) become lists."""
    return {name: cells(da, exclude=("seed",)) if isinstance(da, xr.DataArray) else da
            for name, da in summaries.items()}
