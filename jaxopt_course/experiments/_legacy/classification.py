"""C. Classification on MNIST: per-layer gradient norms (C1) and a classifier to look at (C2).

Data: full mode loads "whatever MNIST source is available" (``--data-dir`` with
IDX files, else tensorflow-datasets, else the offline digits; see
``jaxopt_course.data.mnist``); quick mode uses the offline digits cached by
``python -m jaxopt_course.data.fetch_digits``. results.json names the source
and the split in ``metrics.data_source``. Inputs are standardized with the mean
and standard deviation of the training pixels.

Gradient norms (C1) are the Frobenius norms ||dL_B/dW_l||_F of each layer's
*weight* matrix (biases, when present, are excluded), computed for every
minibatch B and averaged over the batches of each epoch.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim
from jaxopt_course.data import mnist
from jaxopt_course.data.dataset import Dataset, normalize
from jaxopt_course.experiments import _classification_plots as plots
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.models.classifier import (
    ACTIVATION_NAMES, INITS, MLPClassifier, count_params, init_params, select_activation,
)
from jaxopt_course.problems import classification as cl
from jaxopt_course.progress import timed
from jaxopt_course.results import divergence_message
from jaxopt_course.run import sweep

NORM_DEFINITION = ("Frobenius norm of each layer's weight gradient dL_B/dW_l (biases excluded), "
                   "for every minibatch B, averaged over the batches of the epoch")


# ----------------------------------------------------------------------------- shared


def load_data(source: str, data_dir: Optional[str]) -> tuple[Dataset, dict, cl.Data]:
    """The dataset, its description for results.json, and standardized device arrays."""
    with timed(f"loading data (source {source})"):
        dataset = mnist.load(source, data_dir)
    norm = normalize(dataset)
    info = {"data_source": dataset.source, "n_train": int(norm.y_train.size), "n_test": int(norm.y_test.size),
            "input_dim": int(norm.x_train.shape[1]), "normalization": {"mean": norm.mean, "std": norm.std}}
    data = cl.Data(*(jnp.asarray(a) for a in (norm.x_train, norm.y_train, norm.x_test, norm.y_test)))
    return dataset, info, data


def architecture(input_dim: int, hidden: tuple[int, ...], num_classes: int, activation: str, bias: bool) -> str:
    """'784-128-64-10, relu, bias, log-softmax'."""
    sizes = "-".join(str(n) for n in (input_dim, *hidden, num_classes))
    return f"{sizes}, {activation}, {'with' if bias else 'no'} bias, log-softmax"


def _optimizer_text(name: str, config) -> str:
    """'SGD lr 0.01, batch 128, 40 epochs'."""
    return f"{name} lr {config.learning_rate:g}, batch {config.batch_size}, {config.epochs} epochs"


def _check_common(config) -> None:
    """ValueError for a bad source or a non-positive size in a C config."""
    if config.source not in mnist.SOURCES:
        raise ValueError(f"source must be one of {', '.join(mnist.SOURCES)}, got {config.source!r}")
    for name in ("epochs", "batch_size", "seeds"):
        value = getattr(config, name)
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {config.learning_rate!r}")


def _per_seed_divergence(diverged_at: np.ndarray, batches_per_epoch: int, prefix: str) -> dict:
    """{'prefix seed s': 'diverged at step k (epoch e)'} for every seed that diverged."""
    out = {}
    for s, k in enumerate(np.asarray(diverged_at).reshape(-1)):
        message = divergence_message(k)
        if message:
            out[f"{prefix}seed {s}"] = f"{message} (epoch {int(k) // batches_per_epoch + 1})"
    return out


def mask_diverged(metrics: dict, steps: np.ndarray, diverged_at: np.ndarray) -> dict:
    """Recorded metrics (seeds x records x ...) set to NaN from each seed's divergence step on.

    A diverged seed is then left out of means, spreads and figures (it is reported
    in ``Results.diverged`` instead of being drawn or averaged as garbage).
    """
    steps, diverged_at = np.asarray(steps), np.asarray(diverged_at)
    after = (diverged_at[:, None] >= 0) & (steps[None, :] >= diverged_at[:, None])  # (S, R)
    out = {}
    for name, values in metrics.items():
        values = np.asarray(values, dtype=np.float64)
        out[name] = np.where(after.reshape(after.shape + (1,) * (values.ndim - 2)), np.nan, values)
    return out


def _nanmean(values, **kwargs):
    """np.nanmean without the all-NaN warning (every seed diverged: NaN, reported as null)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, **kwargs)


def _curve_metrics(metrics: dict) -> dict:
    """Per-epoch means over seeds of the recorded loss and accuracy curves (epoch 0 = initial point)."""
    return {f"{name}_per_epoch": _nanmean(np.asarray(metrics[name]), axis=0)
            for name in ("train_loss", "test_loss", "train_accuracy", "test_accuracy") if name in metrics}


def _final_accuracy(metrics: dict) -> dict:
    """Final test accuracy: mean, standard deviation, min and max over the seeds that did not diverge."""
    acc = np.asarray(metrics["test_accuracy"])[:, -1]
    finite = acc[np.isfinite(acc)]
    return {"test_accuracy": _nanmean(acc),
            "test_accuracy_std": float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0,
            "test_accuracy_min": float(finite.min()) if finite.size else None,
            "test_accuracy_max": float(finite.max()) if finite.size else None,
            "test_accuracy_per_seed": acc,
            "train_accuracy": _nanmean(np.asarray(metrics["train_accuracy"])[:, -1]),
            "test_loss": _nanmean(np.asarray(metrics["test_loss"])[:, -1]),
            "train_loss": _nanmean(np.asarray(metrics["train_loss"])[:, -1])}


# ----------------------------------------------------------------------------- C1


@dataclass(frozen=True)
class C1Config:
    """C1: MLP 784-128-128-128-10, ReLU, no bias, SGD 0.01, batch 128, 40 epochs; depth x activation sweep."""

    hidden: tuple[int, ...] = (128, 128, 128)
    activation: str = "relu"
    use_bias: bool = False
    initializer: str = "uniform"  # PyTorch's nn.Linear rule, as in the course.
    learning_rate: float = 0.01
    batch_size: int = 128
    epochs: int = 40
    seeds: int = 3
    sweep_depths: tuple[int, ...] = (2, 4, 8, 16)  # hidden layers.
    sweep_activations: tuple[str, ...] = ACTIVATION_NAMES
    sweep_initializers: tuple[str, ...] = INITS
    sweep_width: int = 128
    sweep_train_size: int = 0  # examples for the sweep's epoch (0: the whole training set).
    source: str = "auto"
    data_dir: Optional[str] = None

    @classmethod
    def quick(cls) -> "C1Config":
        """Offline digits, 4 epochs, 2 seeds; sweep over 2 and 8 hidden layers, its epoch on 512 examples."""
        return cls(epochs=4, seeds=2, sweep_depths=(2, 8), sweep_train_size=512, source="digits")


def _check_c1(config: C1Config) -> None:
    """ValueError for an inconsistent C1 config (before any data is loaded)."""
    _check_common(config)
    if not config.sweep_depths or any(int(d) != d or d < 1 for d in config.sweep_depths):
        raise ValueError(f"sweep_depths must be positive integers, got {config.sweep_depths!r}")
    for name, allowed in (("sweep_activations", ACTIVATION_NAMES), ("sweep_initializers", INITS)):
        values = getattr(config, name)
        if not values or any(v not in allowed for v in values):
            raise ValueError(f"{name} must be a non-empty subset of {allowed}, got {values!r}")
    if config.sweep_train_size < 0:
        raise ValueError(f"sweep_train_size must be >= 0, got {config.sweep_train_size!r}")


def c1_model(config: C1Config) -> MLPClassifier:
    """The C1 network (hidden widths, activation, bias and initialization from the config)."""
    return MLPClassifier(config.hidden, activation=config.activation, use_bias=config.use_bias,
                         initializer=config.initializer)


def _c1_train(config: C1Config, key: jax.Array, data: cl.Data):
    """One seed of C1: SGD on the minibatch mean NLL, per-epoch curves and gradient norms."""
    return cl.train(c1_model(config), optim.sgd(config.learning_rate), data, key, epochs=config.epochs,
                    batch_size=config.batch_size)


def _c1_sweep_depth(config: C1Config, depth: int, key: jax.Array, data: cl.Data):
    """Epoch-1 per-layer gradient norms at one depth for every (initializer, activation), vmapped.

    All configurations of a seed share the initialization key and the batch order.
    Returns grad_norm (I, A, depth+1), batch_loss (I, A) and diverged_at (I, A).
    """
    hidden = (config.sweep_width,) * depth
    init_key, train_key = jax.random.split(key)
    starts = [init_params(MLPClassifier(hidden, use_bias=config.use_bias, initializer=name), init_key,
                          data.x_train.shape[1]) for name in config.sweep_initializers]
    starts = jax.tree.map(lambda *p: jnp.stack(p), *starts)
    act_ids = jnp.asarray([ACTIVATION_NAMES.index(a) for a in config.sweep_activations], jnp.int32)

    def one(params, act_id):
        model = MLPClassifier(hidden, activation=functools.partial(select_activation, act_id),
                              use_bias=config.use_bias)
        trace = cl.train(model, optim.sgd(config.learning_rate), data, train_key, epochs=1,
                         batch_size=config.batch_size, params=params, metrics=cl.epoch_metrics)
        return trace.metrics["grad_norm"][-1], trace.metrics["batch_loss"][-1], trace.diverged_at

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(starts, act_ids)


def _sweep_subset(data: cl.Data, size: int, key: jax.Array) -> cl.Data:
    """A uniformly random subset of ``size`` training examples (all of them for size 0)."""
    n = data.x_train.shape[0]
    if size == 0 or size >= n:
        return data
    keep = jax.random.permutation(key, n)[:size]
    return cl.Data(data.x_train[keep], data.y_train[keep], data.x_test, data.y_test)


def _c1_sweep(config: C1Config, key: jax.Array, data: cl.Data) -> tuple[dict, dict, dict]:
    """Run the depth sweep: data arrays, metrics and divergences."""
    subset_key, seeds_key = jax.random.split(key)
    sub = _sweep_subset(data, config.sweep_train_size, subset_key)
    keys = jax.random.split(seeds_key, config.seeds)
    nb = -(-sub.x_train.shape[0] // config.batch_size)
    arrays, summary, ratios, diverged = {}, {}, {}, {}
    for depth in config.sweep_depths:
        with timed(f"C1 sweep: {depth} hidden layers x {len(config.sweep_activations)} activations x "
                   f"{len(config.sweep_initializers)} initializations x {config.seeds} seeds"):
            norms, losses, div = jax.device_get(sweep(functools.partial(_c1_sweep_depth, config, depth), keys, sub))
        arrays[f"sweep_grad_norm_depth{depth}"] = norms  # (S, I, A, depth + 1)
        arrays[f"sweep_batch_loss_depth{depth}"] = losses
        for i, init in enumerate(config.sweep_initializers):
            for a, act in enumerate(config.sweep_activations):
                label = f"depth {depth}, {act}, {init} init"
                ok = np.asarray(div[:, i, a]) < 0
                mean = np.mean(norms[ok, i, a], axis=0) if ok.any() else np.full(depth + 1, np.nan)
                summary[label] = mean
                ratios[label] = float(mean[0] / mean[-1]) if ok.any() and mean[-1] > 0 else None
                diverged.update(_per_seed_divergence(div[:, i, a], nb, f"sweep {label}, "))
    arrays["sweep_optimizer"] = np.asarray(f"SGD lr {config.learning_rate:g}, batch {config.batch_size}, "
                                           f"1 epoch on {sub.x_train.shape[0]:,} examples")
    metrics = {"sweep_grad_norm_epoch1": summary, "sweep_first_over_last_layer": ratios,
               "sweep_train_size": int(sub.x_train.shape[0])}
    return arrays, metrics, diverged


def run_c1(config: C1Config, key: jax.Array) -> Results:
    """C1: train the course MLP over seeds, then the depth x activation x initialization sweep."""
    _check_c1(config)
    _, info, data = load_data(config.source, config.data_dir)
    train_key, sweep_key = jax.random.split(key)
    nb = -(-info["n_train"] // config.batch_size)
    with timed(f"C1: {config.epochs} epochs x {nb} batches of {config.batch_size}, {config.seeds} seeds"):
        trace = jax.device_get(sweep(functools.partial(_c1_train, config), jax.random.split(train_key, config.seeds),
                                     data))
    curves = mask_diverged(trace.metrics, trace.steps[0], trace.diverged_at)
    grad_norm = curves.pop("grad_norm")[:, 1:]  # (S, E, L): epoch 0 has no batches.
    sweep_data, sweep_metrics, sweep_diverged = _c1_sweep(config, sweep_key, data)
    metrics = {
        **info,
        "model": architecture(info["input_dim"], config.hidden, 10, config.activation, config.use_bias),
        "num_params": count_params(c1_model(config), info["input_dim"]),
        "optimizer": _optimizer_text("SGD", config),
        "norm_definition": NORM_DEFINITION,
        **_final_accuracy(curves),
        "grad_norm_epoch1": _nanmean(grad_norm[:, 0], axis=0),
        "grad_norm_final": _nanmean(grad_norm[:, -1], axis=0),
        "grad_norm_per_epoch": _nanmean(grad_norm, axis=0),
        **_curve_metrics(curves),
        **sweep_metrics,
    }
    data_out = {"epochs": np.arange(config.epochs + 1), "grad_norm": grad_norm,
                "optimizer": np.asarray(_optimizer_text("SGD", config)),
                **curves,
                "sweep_depths": np.asarray(config.sweep_depths),
                "sweep_activations": np.asarray(config.sweep_activations),
                "sweep_initializers": np.asarray(config.sweep_initializers), **sweep_data}
    diverged = {**_per_seed_divergence(trace.diverged_at, nb, "C1 "), **sweep_diverged}
    return Results(metrics, data_out, diverged)


def plot_c1(results: Results, out_dir: Path) -> list[Path]:
    """Per-layer norms vs epoch, loss/accuracy curves, and the sweep's norms vs layer index."""
    return [plots.grad_norms_per_epoch(results.data, Path(out_dir) / "c1_grad_norms"),
            plots.learning_curves(results.data, Path(out_dir) / "c1_curves", "C1"),
            plots.depth_sweep(results.data, Path(out_dir) / "c1_depth_sweep")]


register(Experiment(
    "C1", "C", "MNIST MLP: per-layer gradient norms per epoch; depth x activation sweep", C1Config, run_c1, plot_c1,
    captions={
        "c1_grad_norms": "Frobenius norm of each layer's weight gradient, per batch, averaged per epoch (bands over "
                         "seeds): the first layer gets the largest gradient, and all norms grow as training goes on.",
        "c1_curves": "Train and test loss and accuracy per epoch of SGD (lr 0.01, batch 128).",
        "c1_depth_sweep": "Per-layer gradient norms at epoch 1 against layer index (log scale), one line per depth "
                          "and activation: with sigmoid they shrink by orders of magnitude towards the input as the "
                          "net deepens (vanishing gradients); with ReLU the profile stays flat.",
    }))


# ----------------------------------------------------------------------------- C2


@dataclass(frozen=True)
class C2Config:
    """C2: MLP 784-128-64-10, ReLU, Adam 1e-3, batch 64, 15 epochs, seeds vmapped."""

    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    use_bias: bool = True  # PyTorch's nn.Linear default.
    initializer: str = "uniform"
    learning_rate: float = 1e-3
    batch_size: int = 64
    epochs: int = 15
    seeds: int = 4
    examples: int = 4  # images shown per kind (typical / most confidently wrong).
    microbatches: Optional[int] = None  # per batch; None: cl.default_microbatches(batch_size, seeds).
    source: str = "auto"
    data_dir: Optional[str] = None

    @classmethod
    def quick(cls) -> "C2Config":
        """Offline digits, 3 epochs, 4 seeds."""
        return cls(epochs=3, source="digits")


def c2_model(config: C2Config) -> MLPClassifier:
    """The C2 network."""
    return MLPClassifier(config.hidden, activation=config.activation, use_bias=config.use_bias,
                         initializer=config.initializer)


def c2_microbatches(config: C2Config) -> int:
    """The microbatches per batch C2 uses (validated): the config's, or the default for its seeds."""
    chosen = config.microbatches or cl.default_microbatches(config.batch_size, config.seeds)
    return cl.check_microbatches(config.batch_size, chosen)


def _c2_train(config: C2Config, key: jax.Array, data: cl.Data) -> dict:
    """One seed of C2: Adam training (no per-batch gradient norms: C2 plots none), curves, test log-probabilities."""
    model = c2_model(config)
    trace = cl.train(model, optim.adam(config.learning_rate), data, key, epochs=config.epochs,
                     batch_size=config.batch_size, grad_norms=False, microbatches=c2_microbatches(config))
    return {"metrics": trace.metrics, "steps": trace.steps, "diverged_at": trace.diverged_at,
            "log_probs": model.apply({"params": trace.state.opt.params}, data.x_test)}


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """M[t, p] = #{i : y_i = t, yhat_i = p}."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def pick_examples(labels: np.ndarray, probs: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(typical, confidently wrong) test indices: evenly spaced ones, and the errors with the highest max p."""
    typical = np.unique(np.linspace(0, labels.size - 1, count).round().astype(int))
    wrong = np.flatnonzero(probs.argmax(-1) != labels)
    confident = wrong[np.argsort(-probs[wrong].max(-1), kind="stable")[:count]]
    return typical, confident


def _shown_seed(diverged_at: np.ndarray) -> int:
    """The first seed that did not diverge (0 if all did): the one whose predictions are shown."""
    ok = np.flatnonzero(np.asarray(diverged_at) < 0)
    return int(ok[0]) if ok.size else 0


def _predictions(dataset: Dataset, log_probs: np.ndarray, diverged_at: np.ndarray, count: int) -> tuple[dict, dict]:
    """Accuracy per seed from the test probabilities, confusion matrix and examples of the shown seed."""
    probs = np.exp(np.asarray(log_probs, np.float64))  # (S, n_test, C)
    labels = np.asarray(dataset.test.labels)
    accuracy = np.where(np.asarray(diverged_at) < 0, (probs.argmax(-1) == labels).mean(-1), np.nan)
    seed = _shown_seed(diverged_at)
    typical, wrong = pick_examples(labels, probs[seed], count)
    shown = np.concatenate([typical, wrong])
    matrix = confusion_matrix(labels, probs[seed].argmax(-1), dataset.num_classes)
    metrics = {"test_accuracy_from_predictions": accuracy, "shown_seed": seed, "confusion_matrix": matrix,
               "most_confident_errors": [
                   {"test_index": int(i), "label": int(labels[i]), "predicted": int(probs[seed, i].argmax()),
                    "probability": float(probs[seed, i].max())} for i in wrong]}
    data = {"confusion_matrix": matrix, "shown_seed": np.asarray(seed), "example_index": shown,
            "example_kind": np.array(["typical"] * typical.size + ["confidently wrong"] * wrong.size),
            "example_images": dataset.test.images[shown], "example_labels": labels[shown],
            "example_probs": probs[seed, shown], "test_accuracy_per_seed": accuracy}
    return metrics, data


def run_c2(config: C2Config, key: jax.Array) -> Results:
    """C2: train the classifier over vmapped seeds; accuracy spread, examples, confusion matrix."""
    _check_common(config)
    if int(config.examples) != config.examples or config.examples < 1:
        raise ValueError(f"examples must be a positive integer, got {config.examples!r}")
    microbatches = c2_microbatches(config)
    dataset, info, data = load_data(config.source, config.data_dir)
    nb = -(-info["n_train"] // config.batch_size)
    with timed(f"C2: {config.epochs} epochs x {nb} batches of {config.batch_size}, {config.seeds} seeds vmapped"):
        out = jax.device_get(sweep(functools.partial(_c2_train, config), jax.random.split(key, config.seeds), data))
    curves = mask_diverged(out["metrics"], out["steps"][0], out["diverged_at"])
    prediction_metrics, prediction_data = _predictions(dataset, out["log_probs"], out["diverged_at"], config.examples)
    metrics = {
        **info,
        "model": architecture(info["input_dim"], config.hidden, 10, config.activation, config.use_bias),
        "num_params": count_params(c2_model(config), info["input_dim"]),
        "optimizer": _optimizer_text("Adam", config),
        "microbatches": microbatches,
        **_final_accuracy(curves),
        **_curve_metrics(curves),
        **prediction_metrics,
    }
    data_out = {"epochs": np.arange(config.epochs + 1), **curves,
                "optimizer": np.asarray(_optimizer_text("Adam", config)), **prediction_data}
    return Results(metrics, data_out, _per_seed_divergence(out["diverged_at"], nb, "C2 "))


def plot_c2(results: Results, out_dir: Path) -> list[Path]:
    """Test images beside their predicted probabilities, the confusion matrix, learning curves."""
    return [plots.examples(results.data, Path(out_dir) / "c2_examples"),
            plots.confusion(results.data, Path(out_dir) / "c2_confusion"),
            plots.learning_curves(results.data, Path(out_dir) / "c2_curves", "C2")]


register(Experiment(
    "C2", "C", "MNIST MLP classifier (Adam): accuracy over seeds, predictions, confusion matrix", C2Config, run_c2,
    plot_c2,
    captions={
        "c2_examples": "Test images beside their predicted class probabilities, including the most confidently "
                       "wrong ones: a trained net can be wrong with probability above 0.999.",
        "c2_confusion": "Confusion matrix on the test split: errors concentrate on look-alike pairs such as 4 and 9.",
        "c2_curves": "Train and test loss and accuracy per epoch (Adam 1e-3, batch 64), mean over seeds.",
    }))
