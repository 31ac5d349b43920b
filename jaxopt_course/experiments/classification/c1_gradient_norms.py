"""C1: per-layer gradient norms of an MNIST MLP trained by SGD; a depth x activation x initialization sweep.

Gradient norms are the Frobenius norms ||dL_B/dW_l||_F of each layer's *weight*
matrix (biases, when present, are excluded), computed for every minibatch B and
averaged over the batches of each epoch. The training runs (seeds x learning rates)
are one vmapped call; the sweep trains nets of each depth for one epoch, every
(initialization, activation, learning rate, seed) of a depth in one vmapped call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, labelled, optim, plotting
from jaxopt_course import run as runner
from jaxopt_course.data.batching import num_batches
from jaxopt_course.experiments.classification import data, fields, figures, training
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.registry import Results
from jaxopt_course.models.classifier import (
    ACTIVATION_NAMES, INITS, MLPClassifier, count_params, init_params, select_activation,
)
from jaxopt_course.problems import classification as cl
from jaxopt_course.progress import timed
from jaxopt_course.validation import each, non_negative_int, one_of, positive_int, seed_count

ID = "C1"
TITLE = "MNIST MLP: per-layer gradient norms per epoch; depth x activation sweep"
NORM_DEFINITION = ("Frobenius norm of each layer's weight gradient dL_B/dW_l (biases excluded), "
                   "for every minibatch B, averaged over the batches of the epoch")
SWEEP_DIMS = ("depth", "initializer", "activation", "learning_rate", "seed")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """C1: MLP 784-128-128-128-10, ReLU, no bias, SGD 0.01, batch 128, 40 epochs; depth x activation sweep."""

    hidden: tuple[int, ...] = fields.hidden((128, 128, 128))
    activation: str = fields.activation()
    use_bias: bool = fields.use_bias(False)
    initializer: str = fields.initializer()  # PyTorch's nn.Linear rule, as in the course.
    learning_rate: float = fields.learning_rate(0.01, "SGD")
    batch_size: int = fields.batch_size(128)
    epochs: int = fields.epochs(40)
    seeds: int = param(3, "training runs (initialization and batch order) per learning rate, "
                          "in the training and in every cell of the sweep", check=seed_count())
    sweep_depths: tuple[int, ...] = param((2, 4, 8, 16), "hidden layers of the sweep's nets (one vmapped call each)",
                                          check=each(positive_int))
    sweep_activations: tuple[str, ...] = param(("relu", "sigmoid", "tanh"), "activations of the sweep",
                                               check=each(one_of(ACTIVATION_NAMES)))
    sweep_initializers: tuple[str, ...] = param(("uniform", "he"), "initializations of the sweep",
                                                check=each(one_of(INITS)))
    sweep_width: int = param(128, "width of every hidden layer of the sweep's nets", check=positive_int)
    sweep_train_size: int = param(0, "training examples of the sweep's one epoch (a random subset; 0: all of them)",
                                  check=non_negative_int)
    source: str = fields.source()
    data_dir: Optional[str] = fields.data_dir()

    @classmethod
    def quick(cls):
        """Offline digits, 4 epochs, 2 seeds; sweep over 2 and 8 hidden layers, its epoch on 512 examples."""
        return cls(epochs=4, seeds=2, sweep_depths=(2, 8), sweep_train_size=512, source="digits")


def train_run(key: jax.Array, hp: dict, arrays: cl.Data, model: MLPClassifier, epochs: int, batch_size: int) -> dict:
    """One run: SGD theta <- theta - gamma grad L_B(theta) on minibatch mean NLLs; curves and ||dL_B/dW_l||_F."""
    trace = cl.train(model, optim.sgd(training.step_size(hp)), arrays, key, epochs=epochs, batch_size=batch_size)
    return {"metrics": trace.metrics, "steps": trace.steps, "diverged_at": trace.diverged_at}


def sweep_run(key: jax.Array, hp: dict, arrays: cl.Data, net: MLPClassifier, initializers: tuple,
              activations: tuple, batch_size: int):
    """Epoch-1 per-layer norms of ``net`` for every (initializer, activation): (I, A, L), (I, A), (I, A).

    All configurations of a seed share the initialization key and the batch order.
    """
    init_key, train_key = jax.random.split(key)
    starts = [init_params(net.clone(initializer=name), init_key, arrays.x_train.shape[1]) for name in initializers]
    starts = jax.tree.map(lambda *p: jnp.stack(p), *starts)
    act_ids = jnp.arange(len(activations), dtype=jnp.int32)
    opt = optim.sgd(training.step_size(hp))

    def one(params, act_id):
        model = net.clone(activation=functools.partial(select_activation, act_id, names=activations))
        trace = cl.train(model, opt, arrays, train_key, epochs=1, batch_size=batch_size, params=params,
                         metrics=cl.epoch_metrics)
        return trace.metrics["grad_norm"][-1], trace.metrics["batch_loss"][-1], trace.diverged_at

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(starts, act_ids)


def sweep_program(config: Config, depth: int) -> functools.partial:
    """sweep_run for the sweep's nets of ``depth`` hidden layers (what the compiled program depends on, no more)."""
    net = MLPClassifier((config.sweep_width,) * depth, use_bias=config.use_bias)
    return functools.partial(sweep_run, net=net, initializers=config.sweep_initializers,
                             activations=config.sweep_activations, batch_size=config.batch_size)


def subset(arrays: cl.Data, size: int, key: jax.Array) -> cl.Data:
    """A uniformly random subset of ``size`` training examples (all of them for size 0)."""
    n = arrays.x_train.shape[0]
    if size == 0 or size >= n:
        return arrays
    keep = jax.random.permutation(key, n)[:size]
    return cl.Data(arrays.x_train[keep], arrays.y_train[keep], arrays.x_test, arrays.y_test)


def run_sweep(config: Config, key: jax.Array, arrays: cl.Data, sweeper: runner.Sweeper) -> xr.Dataset:
    """The depth sweep as (depth, initializer, activation, learning_rate, seed[, sweep_layer]) arrays, masked."""
    subset_key, seeds_key = jax.random.split(key)
    sub = subset(arrays, config.sweep_train_size, subset_key)
    keys = jax.random.split(seeds_key, config.seeds)
    lrs = training.learning_rates(config)
    depths = config.sweep_depths
    shape = (len(depths), lrs["learning_rate"].size, config.seeds, len(config.sweep_initializers),
             len(config.sweep_activations))
    norms, losses = np.full(shape + (max(depths) + 1,), np.nan), np.full(shape, np.nan)
    diverged_at = np.full(shape, -1, np.int32)
    for j, depth in enumerate(depths):
        with timed(f"C1 sweep: {depth} hidden layers x {shape[4]} activations x {shape[3]} initializations x "
                   f"{shape[1]} learning rate(s) x {config.seeds} seeds"):
            g, loss, div = jax.device_get(sweeper.sweep(sweep_program(config, depth), keys, sub, axes=lrs))
        norms[j, ..., :depth + 1], losses[j], diverged_at[j] = g, loss, div
    end = num_batches(sub.x_train.shape[0], config.batch_size)  # every value is recorded at the epoch's end
    dims = ("depth", "learning_rate", "seed", "initializer", "activation")
    coords = {"depth": list(depths), **lrs, "seed": np.arange(config.seeds),
              "initializer": list(config.sweep_initializers), "activation": list(config.sweep_activations)}
    layer = {"sweep_layer": np.arange(1, max(depths) + 2)}
    out = xr.Dataset({
        "sweep_grad_norm": (dims + ("sweep_layer",), divergence.mask_after(np.full(norms.shape[-1], end), norms,
                                                                           diverged_at)),
        "sweep_batch_loss": (dims, divergence.mask_after([end], losses[..., None], diverged_at)[..., 0]),
        "sweep_diverged_at": (dims, diverged_at)}, coords={**coords, **layer})
    out.attrs["sweep_optimizer"] = (f"SGD lr {', '.join(f'{v:g}' for v in lrs['learning_rate'])}, batch "
                                    f"{config.batch_size}, 1 epoch on {sub.x_train.shape[0]:,} examples")
    out.attrs["train_size"] = int(sub.x_train.shape[0])
    return out.transpose(*SWEEP_DIMS, "sweep_layer")


def sweep_metrics(s: xr.Dataset) -> dict:
    """Per configuration: epoch-1 norms per layer (mean over seeds) and ||dL/dW_1|| / ||dL/dW_L||."""
    means = s.sweep_grad_norm.mean("seed")
    last = means.sel(sweep_layer=means.depth + 1).drop_vars("sweep_layer")
    ratio = (means.sel(sweep_layer=1, drop=True) / last).where(last > 0)
    lists = labelled.cells(means, exclude=("sweep_layer",))
    sizes = labelled.cells((means.depth + 1).broadcast_like(ratio))  # the same cells: layers of each depth
    return {"sweep_grad_norm_epoch1": {cell: values[:sizes[cell]] for cell, values in lists.items()},
            "sweep_first_over_last_layer": labelled.cells(ratio), "sweep_train_size": int(s.attrs["train_size"])}


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """C1: train the course MLP over seeds and learning rates, then the depth x activation x initialization sweep."""
    loaded = data.load(config.source, config.data_dir)
    train_key, sweep_key = jax.random.split(key)
    lrs = training.learning_rates(config)
    nb = num_batches(loaded.info["n_train"], config.batch_size)
    program = functools.partial(train_run, model=training.model(config), epochs=config.epochs,
                                batch_size=config.batch_size)
    with timed(f"C1: {config.epochs} epochs x {nb} batches of {config.batch_size}, {lrs['learning_rate'].size} "
               f"learning rate(s) x {config.seeds} seeds"):
        out = jax.device_get(sweeper.sweep(program, jax.random.split(train_key, config.seeds), loaded.arrays,
                                           axes=lrs))
    d = training.curves(config, out["metrics"], out["steps"][0, 0], out["diverged_at"])
    s = run_sweep(config, sweep_key, loaded.arrays, sweeper)
    g = d.grad_norm.mean("seed")
    metrics = {
        **loaded.info,
        "model": training.architecture(loaded.info["input_dim"], config),
        "num_params": count_params(training.model(config), loaded.info["input_dim"]),
        "optimizer": training.optimizer_text("SGD", config),
        "norm_definition": NORM_DEFINITION,
        **training.final_metrics(d),
        "grad_norm_epoch1": labelled.cells(g.sel(epoch=1), exclude=("layer",)),
        "grad_norm_final": labelled.cells(g.isel(epoch=-1), exclude=("layer",)),
        "grad_norm_per_epoch": labelled.cells(g.sel(epoch=slice(1, None)), exclude=("epoch", "layer")),
        **training.curve_metrics(d),
        **sweep_metrics(s),
    }
    dataset = xr.merge([d, s], combine_attrs="drop")
    dataset.attrs.update(optimizer=metrics["optimizer"], sweep_optimizer=s.attrs["sweep_optimizer"])
    diverged = {**training.diverged(d.diverged_at, "C1"), **training.diverged(s.sweep_diverged_at, "C1 sweep")}
    return Results(metrics, dataset, diverged)


# ----------------------------------------------------------------------------- figures


def plot_grad_norms(d: xr.Dataset, path: Path) -> Path:
    """||dL_B/dW_l||_F averaged over each epoch's batches against the epoch, a band per layer, a panel per lr."""
    g = d.grad_norm.sel(epoch=slice(1, None))
    rates = g.learning_rate.values
    fig, axes = plotting.figure(1, len(rates), width=6.0, height=4.0)
    for ax, lr in zip(np.atleast_1d(axes), rates):
        for layer in g.layer.values:
            values = figures.finite(g.sel(learning_rate=lr, layer=layer))
            plotting.band(ax, g.epoch.values, plotting.positive(values, 1e-30), label=f"layer {layer}", log=True)
        what = d.attrs["optimizer"] if len(rates) == 1 else f"SGD lr {lr:g}"
        plotting.label(ax, "epoch", r"mean over batches of $\|\partial L_B / \partial W_l\|_F$",
                       f"C1: per-layer weight-gradient norm ({what})",
                       logy=figures.note_if_empty(ax, figures.finite(g.sel(learning_rate=lr))))
    return plotting.save(fig, path, g.to_dataset())


def _compact_legend(ax) -> None:
    """A small legend in two columns."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=7, ncol=2, loc="best")


def _sweep_panel(ax, s: xr.DataArray, rates) -> None:
    """One panel of the sweep: per-layer norms against the layer index, a band per depth (and learning rate)."""
    for depth in s.depth.values:
        for lr in rates:
            norms = figures.finite(s.sel(depth=depth, learning_rate=lr, sweep_layer=slice(1, depth + 1)))
            label = f"{depth} hidden{figures.rate_tag(rates, lr)}"
            if np.all(np.isnan(norms)):
                ax.plot([], [], label=f"{label}: diverged")
                continue
            plotting.band(ax, np.arange(1, depth + 2), plotting.positive(norms, 1e-30), label=label, log=True)


def plot_depth_sweep(d: xr.Dataset, path: Path) -> Path:
    """Epoch-1 per-layer gradient norms against the layer index: rows initializations, columns activations."""
    s = d.sweep_grad_norm
    inits, acts = s.initializer.values, s.activation.values
    fig, axes = plotting.figure(len(inits), len(acts), width=4.2, height=3.6)
    axes = np.asarray(axes).reshape(len(inits), len(acts))
    fig.suptitle(f"C1 sweep: per-layer weight-gradient norms in the first epoch ({d.attrs['sweep_optimizer']}); "
                 f"geometric mean and 10-90% band over {s.sizes['seed']} seeds", fontsize=10)
    names = {"uniform": r"$U(\pm 1/\sqrt{n_{in}})$ init (PyTorch)", "he": r"He init $N(0, 2/n_{in})$",
             "lecun": r"LeCun init $N(0, 1/n_{in})$"}
    for (i, init), (a, act) in ((x, y) for x in enumerate(inits) for y in enumerate(acts)):
        panel = s.sel(initializer=init, activation=act)
        _sweep_panel(axes[i, a], panel, s.learning_rate.values)
        plotting.label(axes[i, a], "layer index l (1 = input layer)", r"epoch-1 mean $\|\partial L_B/\partial W_l\|_F$",
                       f"{act}, {names.get(init, init)}", logy=figures.note_if_empty(axes[i, a], figures.finite(panel)))
        _compact_legend(axes[i, a])
    return plotting.save(fig, path, s.to_dataset())


def plot(results: Results, out_dir: Path) -> list:
    """Per-layer norms vs epoch, loss/accuracy curves, and the sweep's norms vs layer index."""
    d, out_dir = results.data, Path(out_dir)
    return [plot_grad_norms(d, out_dir / "c1_grad_norms"), figures.learning_curves(d, out_dir / "c1_curves", "C1"),
            plot_depth_sweep(d, out_dir / "c1_depth_sweep")]


CAPTIONS = {
    "c1_grad_norms": "Frobenius norm of each layer's weight gradient, per batch, averaged per epoch (bands over "
                     "seeds): the first layer gets the largest gradient, and all norms grow as training goes on.",
    "c1_curves": "Train and test loss and accuracy per epoch of SGD (lr 0.01, batch 128).",
    "c1_depth_sweep": "Per-layer gradient norms at epoch 1 against layer index (log scale), one line per depth "
                      "and activation: with sigmoid they shrink by orders of magnitude towards the input as the "
                      "net deepens (vanishing gradients); with ReLU the profile stays flat.",
}
