"""C2: an MNIST classifier trained by Adam over vmapped seeds (and learning rates), and what it predicts.

Every (learning rate, seed) run is one vmapped call; from the final parameters
the test log-probabilities give the accuracy per seed and, for the first seed that
did not diverge, a confusion matrix and test images beside their predicted class
probabilities (evenly spaced ones and the most confidently wrong ones).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import numpy as np
import xarray as xr

from jaxopt_course import labelled, optim, plotting
from jaxopt_course import run as runner
from jaxopt_course.data.batching import num_batches
from jaxopt_course.data.dataset import Dataset
from jaxopt_course.experiments.classification import data, fields, figures, training
from jaxopt_course.experiments.config import ExperimentConfig, param
from jaxopt_course.experiments.registry import Results
from jaxopt_course.models.classifier import MLPClassifier, count_params
from jaxopt_course.problems import classification as cl
from jaxopt_course.progress import timed
from jaxopt_course.validation import optional, positive_int, seed_count

ID = "C2"
TITLE = "MNIST MLP classifier (Adam): accuracy over seeds, predictions, confusion matrix"
KINDS = ("typical", "confidently wrong")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """C2: MLP 784-128-64-10, ReLU, Adam 1e-3, batch 64, 15 epochs, seeds vmapped."""

    hidden: tuple[int, ...] = fields.hidden((128, 64))
    activation: str = fields.activation()
    use_bias: bool = fields.use_bias(True)  # PyTorch's nn.Linear default.
    initializer: str = fields.initializer()
    learning_rate: float = fields.learning_rate(1e-3, "Adam")
    batch_size: int = fields.batch_size(64)
    epochs: int = fields.epochs(15)
    seeds: int = param(4, "training runs (initialization and batch order) per learning rate, vmapped",
                       check=seed_count())
    examples: int = param(4, "test images shown per kind (typical, most confidently wrong)", check=positive_int)
    microbatches: Optional[int] = param(None, "slices of each batch's forward/backward, dividing batch_size (none: 2 "
                                              "for a single run on a multi-core CPU, else 1)",
                                        check=optional(positive_int))
    source: str = fields.source()
    data_dir: Optional[str] = fields.data_dir()

    def __post_init__(self):
        super().__post_init__()
        if self.microbatches is not None:
            cl.check_microbatches(self.batch_size, self.microbatches)

    @classmethod
    def quick(cls):
        """Offline digits, 3 epochs, 4 seeds."""
        return cls(epochs=3, source="digits")


def microbatches(config: Config) -> int:
    """The microbatches per batch: the config's, or the default for its number of vmapped runs."""
    runs = config.seeds * training.learning_rates(config)["learning_rate"].size
    return config.microbatches or cl.default_microbatches(config.batch_size, runs)


def train_run(key: jax.Array, hp: dict, arrays: cl.Data, model: MLPClassifier, epochs: int, batch_size: int,
              microbatches: int) -> dict:
    """One run of Adam (no per-batch gradient norms: C2 plots none): curves and the test log-probabilities."""
    trace = cl.train(model, optim.adam(training.step_size(hp)), arrays, key, epochs=epochs, batch_size=batch_size,
                     grad_norms=False, microbatches=microbatches)
    return {"metrics": trace.metrics, "steps": trace.steps, "diverged_at": trace.diverged_at,
            "log_probs": model.apply({"params": trace.state.opt.params}, arrays.x_test)}


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


def shown_seed(diverged_at: np.ndarray) -> int:
    """The first seed that did not diverge (0 if all did): the one whose predictions are shown."""
    ok = np.flatnonzero(np.asarray(diverged_at) < 0)
    return int(ok[0]) if ok.size else 0


def predictions(dataset: Dataset, log_probs: np.ndarray, diverged_at: np.ndarray, count: int) -> dict:
    """One learning rate: accuracy per seed, and the shown seed's confusion matrix, examples and worst errors."""
    probs = np.exp(np.asarray(log_probs, np.float64))  # (S, n_test, C)
    labels = np.asarray(dataset.test.labels)
    seed = shown_seed(diverged_at)
    typical, wrong = pick_examples(labels, probs[seed], count)
    shown = np.concatenate([typical, wrong, np.full(count - wrong.size, -1)])  # -1: fewer errors than asked
    return {"accuracy": np.where(np.asarray(diverged_at) < 0, (probs.argmax(-1) == labels).mean(-1), np.nan),
            "seed": seed, "matrix": confusion_matrix(labels, probs[seed].argmax(-1), dataset.num_classes),
            "index": shown, "images": np.where((shown >= 0)[:, None, None], dataset.test.images[shown], 0.0),
            "labels": labels[shown], "probs": probs[seed, shown],
            "errors": [{"test_index": int(i), "label": int(labels[i]), "predicted": int(probs[seed, i].argmax()),
                        "probability": float(probs[seed, i].max())} for i in wrong]}


def prediction_dataset(rates: np.ndarray, cells: list, num_typical: int, count: int) -> xr.Dataset:
    """The predictions of every learning rate as (learning_rate, ...) arrays."""
    def stacked(name):
        return np.stack([c[name] for c in cells])

    lr = ("learning_rate",)
    return xr.Dataset({
        "test_accuracy_from_predictions": (lr + ("seed",), stacked("accuracy")),
        "shown_seed": (lr, stacked("seed")),
        "confusion_matrix": (lr + ("true_class", "predicted_class"), stacked("matrix")),
        "example_index": (lr + ("example",), stacked("index")),
        "example_kind": (("example",), np.array([KINDS[0]] * num_typical + [KINDS[1]] * count)),
        "example_images": (lr + ("example", "pixel_row", "pixel_col"), stacked("images")),
        "example_labels": (lr + ("example",), stacked("labels")),
        "example_probs": (lr + ("example", "class"), stacked("probs")),
    }, coords={"learning_rate": rates})


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """C2: train the classifier over vmapped seeds and learning rates; accuracy spread, examples, confusion matrix."""
    loaded = data.load(config.source, config.data_dir)
    lrs, slices = training.learning_rates(config), microbatches(config)
    nb = num_batches(loaded.info["n_train"], config.batch_size)
    program = functools.partial(train_run, model=training.model(config), epochs=config.epochs,
                                batch_size=config.batch_size, microbatches=slices)
    with timed(f"C2: {config.epochs} epochs x {nb} batches of {config.batch_size}, {lrs['learning_rate'].size} "
               f"learning rate(s) x {config.seeds} seeds vmapped"):
        out = jax.device_get(sweeper.sweep(program, jax.random.split(key, config.seeds), loaded.arrays, axes=lrs))
    d = training.curves(config, out["metrics"], out["steps"][0, 0], out["diverged_at"])
    cells = [predictions(loaded.dataset, lp, div, config.examples) for lp, div in zip(out["log_probs"],
                                                                                        out["diverged_at"])]
    num_typical = cells[0]["index"].size - config.examples
    p = prediction_dataset(lrs["learning_rate"], cells, num_typical, config.examples)
    metrics = {
        **loaded.info,
        "model": training.architecture(loaded.info["input_dim"], config),
        "num_params": count_params(training.model(config), loaded.info["input_dim"]),
        "optimizer": training.optimizer_text("Adam", config),
        "microbatches": slices,
        **training.final_metrics(d),
        **training.curve_metrics(d),
        "test_accuracy_from_predictions": labelled.cells(p.test_accuracy_from_predictions, exclude=("seed",)),
        "shown_seed": labelled.cells(p.shown_seed),
        "confusion_matrix": labelled.cells(p.confusion_matrix, exclude=("true_class", "predicted_class")),
        "most_confident_errors": labelled.by_coordinate("learning_rate", lrs["learning_rate"],
                                                        [c["errors"] for c in cells]),
    }
    dataset = xr.merge([d, p])
    dataset.attrs["optimizer"] = metrics["optimizer"]
    return Results(metrics, dataset, training.diverged(d.diverged_at, "C2"))


# ----------------------------------------------------------------------------- figures


def _probability_bars(ax, probs: np.ndarray, label: int) -> None:
    """Bar chart of p(class | x): the true class green, a wrong prediction red."""
    predicted = int(np.argmax(probs))
    colors = ["tab:gray"] * probs.size
    colors[label] = "tab:green"
    if predicted != label:
        colors[predicted] = "tab:red"
    ax.bar(np.arange(probs.size), probs, color=colors)
    ax.set_ylim(0.0, 1.0)
    ax.set_xticks(np.arange(probs.size))
    ax.set_ylabel(r"$p_\theta(k | x)$", fontsize=8)
    ax.set_xlabel("class k", fontsize=8)
    ax.grid(False)


def _example(ax_img, ax_bar, cell: xr.Dataset, j: int, kind: str, tag: str) -> None:
    """Test image j of a learning rate's cell beside its predicted probabilities (blank if there is none)."""
    ax_img.axis("off")
    index = int(cell.example_index[j])
    if index < 0:
        ax_bar.axis("off")
        return
    probs, label = cell.example_probs.values[j], int(cell.example_labels[j])
    ax_img.imshow(cell.example_images.values[j], cmap="gray_r", vmin=0.0, vmax=1.0)
    ax_img.set_title(f"{kind}: test #{index}\ntrue {label}, predicted {int(np.argmax(probs))} "
                     f"(p = {probs.max():.2f}){tag}", fontsize=8)
    _probability_bars(ax_bar, probs, label)


def plot_examples(d: xr.Dataset, path: Path) -> Path:
    """Test images beside bar charts of their predicted class probabilities (typical | confidently wrong), per lr."""
    kinds, rates = d.example_kind.values, d.learning_rate.values
    groups = [np.flatnonzero(kinds == kind) for kind in KINDS]
    rows = max(max(len(g) for g in groups), 1)
    fig, axes = plotting.figure(rows, 4 * len(rates), width=2.2, height=2.0)
    axes = np.asarray(axes).reshape(rows, 4 * len(rates))
    seeds = ", ".join(str(int(s)) for s in d.shown_seed.values)
    fig.suptitle(f"C2 (seed {seeds}): test images and the predicted class probabilities "
                 "(green: true class, red: wrong prediction)", fontsize=10)
    for r, lr in enumerate(rates):
        cell, tag = d.sel(learning_rate=lr), figures.rate_tag(rates, lr)
        for col, (kind, members) in enumerate(zip(("typical", "most confidently wrong"), groups)):
            for row in range(rows):
                ax_img, ax_bar = axes[row, 4 * r + 2 * col], axes[row, 4 * r + 2 * col + 1]
                if row < len(members):
                    _example(ax_img, ax_bar, cell, members[row], kind, tag)
                else:
                    ax_img.axis("off")
                    ax_bar.axis("off")
    names = ["example_index", "example_kind", "example_images", "example_labels", "example_probs"]
    return plotting.save(fig, path, d[names])


def _confusion_panel(ax, fig, matrix: np.ndarray, title: str) -> None:
    """Counts of a confusion matrix, coloured by the fraction of each true class."""
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    for t, p in zip(*np.nonzero(matrix)):
        ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=7,
                color="white" if fractions[t, p] > 0.5 else "black")
    ax.set_xticks(np.arange(matrix.shape[1]))
    ax.set_yticks(np.arange(matrix.shape[0]))
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    plotting.label(ax, "predicted class", "true class", f"{title}, test accuracy {accuracy:.2%})")


def plot_confusion(d: xr.Dataset, path: Path) -> Path:
    """Confusion matrix of the shown seed on the test split, a panel per learning rate."""
    rates = d.learning_rate.values
    fig, axes = plotting.figure(1, len(rates), width=5.6, height=4.8)
    for ax, lr in zip(np.atleast_1d(axes), rates):
        cell = d.sel(learning_rate=lr)
        title = f"C2 confusion matrix (seed {int(cell.shown_seed)}{figures.rate_tag(rates, lr)}"
        _confusion_panel(ax, fig, cell.confusion_matrix.values, title)
    matrix = d.confusion_matrix
    fractions = matrix / np.maximum(matrix.sum("predicted_class"), 1)
    return plotting.save(fig, path, xr.Dataset({"confusion_matrix": matrix, "fractions": fractions}))


def plot(results: Results, out_dir: Path) -> list:
    """Test images beside their predicted probabilities, the confusion matrix, learning curves."""
    d, out_dir = results.data, Path(out_dir)
    return [plot_examples(d, out_dir / "c2_examples"), plot_confusion(d, out_dir / "c2_confusion"),
            figures.learning_curves(d, out_dir / "c2_curves", "C2")]


CAPTIONS = {
    "c2_examples": "Test images beside their predicted class probabilities, including the most confidently "
                   "wrong ones: a trained net can be wrong with probability above 0.999.",
    "c2_confusion": "Confusion matrix on the test split: errors concentrate on look-alike pairs such as 4 and 9.",
    "c2_curves": "Train and test loss and accuracy per epoch (Adam 1e-3, batch 64), mean over seeds.",
}
