"""Pieces of C1 and C2: the model of a config, the learning-rate axis, curves as a labelled dataset, metrics.

A run of either experiment is ``problems.classification.train`` vmapped over seeds
and learning rates (one ``sweeper.sweep`` call); its per-epoch records become a
Dataset with dimensions (learning_rate, seed, epoch), epoch 0 being the initial point,
masked (NaN) from each run's divergence step on.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, labelled
from jaxopt_course.experiments.config import axes
from jaxopt_course.models import mlp
from jaxopt_course.models.classifier import MLPClassifier

CURVES = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")
RUN_DIMS = ("learning_rate", "seed")


def model(config) -> MLPClassifier:
    """The config's network (hidden widths, activation, biases, initialization)."""
    return MLPClassifier(config.hidden, activation=config.activation, use_bias=config.use_bias,
                         initializer=config.initializer)


def learning_rates(config) -> dict:
    """{'learning_rate': the values}: the axis swept together with the seeds."""
    return axes(config, "learning_rate")


def step_size(hp: dict):
    """gamma = hp['learning_rate'] in float32 (the parameters' dtype, also under x64)."""
    return jnp.asarray(hp["learning_rate"], jnp.float32)


def architecture(input_dim: int, config, num_classes: int = 10) -> str:
    """'784-128-64-10, relu, with bias, log-softmax'."""
    sizes = mlp.architecture(input_dim, config.hidden, num_classes)
    return f"{sizes}, {config.activation}, {'with' if config.use_bias else 'no'} bias, log-softmax"


def optimizer_text(name: str, config) -> str:
    """'SGD lr 0.01, batch 128, 40 epochs' (every learning rate of a sweep)."""
    rates = ", ".join(f"{v:g}" for v in learning_rates(config)["learning_rate"])
    return f"{name} lr {rates}, batch {config.batch_size}, {config.epochs} epochs"


def mask_epochs(da: xr.DataArray, diverged_at: xr.DataArray, steps) -> xr.DataArray:
    """da with NaN from each run's divergence step on (``divergence.mask_after`` along the epoch)."""
    moved = da.transpose(*diverged_at.dims, ..., "epoch")
    return moved.copy(data=divergence.mask_after(steps, moved.values, diverged_at.values)).transpose(*da.dims)


def curves(config, records: dict, steps, diverged_at) -> xr.Dataset:
    """Recorded metrics (lr, seed, epoch[, layer]) and diverged_at (lr, seed) as a masked Dataset."""
    coords = {"learning_rate": learning_rates(config)["learning_rate"], "seed": np.arange(config.seeds),
              "epoch": np.arange(config.epochs + 1)}
    when = xr.DataArray(np.asarray(diverged_at), dims=RUN_DIMS, coords={d: coords[d] for d in RUN_DIMS})
    out = {}
    for name, values in records.items():
        values = np.asarray(values)
        dims = RUN_DIMS + ("epoch",) + (("layer",) if values.ndim == 4 else ())
        extra = {"layer": np.arange(1, values.shape[-1] + 1)} if values.ndim == 4 else {}
        out[name] = mask_epochs(xr.DataArray(values, dims=dims, coords={**coords, **extra}), when, steps)
    if "grad_norm" in out:  # no batch has run at epoch 0
        out["grad_norm"] = out["grad_norm"].where(out["grad_norm"].epoch > 0)
    return xr.Dataset({**out, "diverged_at": when})


def final_metrics(d: xr.Dataset) -> dict:
    """Final-epoch test accuracy (mean, std, min, max, per seed) and train accuracy and losses, diverged seeds out."""
    final = d.isel(epoch=-1)
    acc = final.test_accuracy
    std = acc.std("seed", ddof=1).where(acc.count("seed") > 1, 0.0)
    return {"test_accuracy": labelled.cells(acc.mean("seed")), "test_accuracy_std": labelled.cells(std),
            "test_accuracy_min": labelled.cells(acc.min("seed")),
            "test_accuracy_max": labelled.cells(acc.max("seed")),
            "test_accuracy_per_seed": labelled.cells(acc, exclude=("seed",)),
            **{name: labelled.cells(final[name].mean("seed"))
               for name in ("train_accuracy", "test_loss", "train_loss")}}


def curve_metrics(d: xr.Dataset) -> dict:
    """'<curve>_per_epoch': per-epoch means over seeds (entry 0: before training)."""
    return {f"{name}_per_epoch": labelled.cells(d[name].mean("seed"), exclude=("epoch",)) for name in CURVES}


def diverged(diverged_at: xr.DataArray, prefix: str) -> dict:
    """{'prefix, cell': 'n of N seeds diverged, the first at step k'} (steps are minibatches)."""
    return {prefix if cell == "all" else f"{prefix}, {cell}": text
            for cell, text in divergence.messages(diverged_at, over=("seed",), runs="seeds").items()}
