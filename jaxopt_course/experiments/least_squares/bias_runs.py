"""P4's runs: ||theta_k - theta*||^2 along GD, SGD, Adam and scaled GD from theta_0 = 0, each swept over its step size.

Every function here is a sweep function (``fn(hp, ...)`` for ``Sweeper.grid``,
``fn(key, hp, ...)`` for ``Sweeper.sweep``) with the step size in ``hp['lr']``, and
``distances`` turns a swept trace into labelled arrays.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, optim
from jaxopt_course import run as runner
from jaxopt_course.experiments.least_squares.problem import (Problem, full_grad, index_grad, index_sampler,
                                                             make_problem, sq_dist_metric)

PARTS = ("gd", "sgd", "adam", "scaled_gd")  # the runs, as named in the dataset (``{part}_sq_dist``, ...)


def optimizer_run(p: Problem, opt, num_steps: int, target, num_records: int, *, key=None, stochastic=False,
                  stop_below=None) -> runner.Trace:
    """||theta_k - target||^2 along a run of ``opt`` from theta0 = 0 (full or sampled gradients)."""
    metrics = functools.partial(sq_dist_metric, target)
    stop = None if stop_below is None else (lambda s: metrics(s)["sq_dist"] <= stop_below)
    return runner.run(
        runner.optimizer_step(index_grad(p) if stochastic else full_grad(p), opt),
        runner.optimizer_init(jnp.zeros_like(p.theta_star), opt), num_steps,
        key=key, sample=index_sampler(p) if stochastic else None, metrics=metrics,
        record=runner.log_grid(num_steps, num_records), stop=stop,
    )


def gd_runs(hp: dict, config) -> tuple[runner.Trace, jax.Array]:
    """(b) GD theta_{k+1} = theta_k - gamma grad f(theta_k), gamma = hp['lr']: its trace, and the first k
    with ||theta_k - theta*||^2 <= tolerance (from a second run that stops there)."""
    p = make_problem(config.degree)
    run = functools.partial(optimizer_run, p, optim.gd(hp["lr"]), config.gd_steps, p.theta_star, config.num_records)
    return run(), run(stop_below=config.tolerance).stopped_at


def sgd_run(key, hp: dict, config) -> runner.Trace:
    """(c) one seed of SGD theta_{k+1} = theta_k - gamma grad f_{i_k}(theta_k), gamma = hp['lr'], i_k uniform."""
    p = make_problem(config.degree)
    return optimizer_run(p, optim.sgd(hp["lr"]), config.sgd_steps, p.theta_star, config.num_records, key=key,
                         stochastic=True)


def adam_run(hp: dict, config) -> runner.Trace:
    """(d) full-batch Adam (0.9, 0.999, eps 1e-8, bias-corrected) with learning rate hp['lr']."""
    p = make_problem(config.degree)
    opt = optim.adam(hp["lr"], b1=0.9, b2=0.999, eps=1e-8)
    return optimizer_run(p, opt, config.adam_steps, p.theta_star, config.num_records)


def scaled_gd_run(hp: dict, h_inv: jax.Array, target: jax.Array, config) -> runner.Trace:
    """(f) scaled GD theta_{k+1} = theta_k - gamma H^{-1} grad f(theta_k), gamma = hp['lr'], towards ``target``."""
    p = make_problem(config.degree)
    return optimizer_run(p, optim.scaled_gd(hp["lr"], h_inv), config.scaled_gd_steps, target, config.num_records)


def distances(part: str, trace: runner.Trace, coords: dict, stopped_at=None) -> xr.Dataset:
    """``{part}_sq_dist`` (*coords, ``{part}_step``) and ``{part}_diverged_at`` (*coords) of a swept trace.

    ``coords`` names the trace's leading (run) dimensions in order, with their values.
    """
    run_dims = tuple(coords)
    steps = np.asarray(trace.steps).reshape(-1, trace.steps.shape[-1])[0]
    out = xr.Dataset(
        {f"{part}_sq_dist": (run_dims + (f"{part}_step",), np.asarray(trace.metrics["sq_dist"])),
         f"{part}_diverged_at": (run_dims, np.asarray(trace.diverged_at))},
        coords={**coords, f"{part}_step": steps})
    if stopped_at is not None:
        out[f"{part}_stopped_at"] = (run_dims, np.asarray(stopped_at))
    return out


def diverged(data: xr.Dataset) -> dict:
    """{'sgd, sgd_step_scale=0.5': '3 of 8 seeds diverged, the first at step 12', 'gd': 'diverged at step 9', ...}."""
    out = {}
    for part in PARTS:
        over, runs = (("seed",), "seeds") if part == "sgd" else ((), "runs")
        for label, text in divergence.messages(data[f"{part}_diverged_at"], over=over, runs=runs).items():
            out[part if label == "all" else f"{part}, {label}"] = text
    return out
