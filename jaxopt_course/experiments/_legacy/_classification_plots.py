"""Figures of the C experiments, drawn from ``Results.data`` only (so they can be redrawn from data.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxopt_course import plotting


def _finite_or_nan(values) -> np.ndarray:
    """Values with inf replaced by NaN (a diverged run is left out of the bands, never drawn)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def _compact_legend(ax) -> None:
    """A small legend without the per-line statistics suffix (stated once in the figure title)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [text.split(" (")[0] for text in labels], fontsize=7, ncol=2, loc="best")


def grad_norms_per_epoch(data: dict, path: Path) -> Path:
    """||dL_B/dW_l||_F averaged over each epoch's batches, against the epoch, one band per layer."""
    norms = _finite_or_nan(data["grad_norm"])  # (S, E, L)
    epochs = np.arange(1, norms.shape[1] + 1)
    fig, ax = plotting.figure(width=6.0, height=4.0)
    for layer in range(norms.shape[2]):
        plotting.band(ax, epochs, plotting.positive(norms[:, :, layer], 1e-30), label=f"layer {layer + 1}",
                      log=True)
    plotting.label(ax, "epoch", r"mean over batches of $\|\partial L_B / \partial W_l\|_F$",
                   f"C1: per-layer weight-gradient norm ({data['optimizer']})", logy=True)
    return plotting.save(fig, path, {"epoch": epochs, "grad_norm": norms})


def learning_curves(data: dict, path: Path, name: str) -> Path:
    """Train/test mean NLL (log scale) and accuracy against the epoch, bands over seeds."""
    title = f"{name}: {data['optimizer']}"
    epochs = np.asarray(data["epochs"])
    fig, (ax_loss, ax_acc) = plotting.figure(1, 2, width=5.0, height=3.8)
    plotted = {"epoch": epochs}
    for split in ("train", "test"):
        loss = _finite_or_nan(data[f"{split}_loss"])
        acc = _finite_or_nan(data[f"{split}_accuracy"])
        plotting.band(ax_loss, epochs, plotting.positive(loss, 1e-30), label=f"{split}", log=True)
        plotting.band(ax_acc, epochs, 100.0 * acc, label=f"{split}", center="mean")
        plotted.update({f"{split}_loss": loss, f"{split}_accuracy": acc})
    plotting.label(ax_loss, "epoch", r"mean NLL $-\log p_\theta(y|x)$", f"{title}: loss", logy=True)
    plotting.label(ax_acc, "epoch", "accuracy (%)", f"{title}: accuracy")
    return plotting.save(fig, path, plotted)


def _sweep_panel(ax, data: dict, init_index: int, act_index: int) -> dict:
    """One panel of the sweep: per-layer norms against the layer index, one band per depth."""
    plotted = {}
    for depth in np.asarray(data["sweep_depths"]):
        norms = _finite_or_nan(data[f"sweep_grad_norm_depth{depth}"][:, init_index, act_index])  # (S, depth+1)
        layers = np.arange(1, norms.shape[1] + 1)
        if np.all(np.isnan(norms)):
            ax.plot([], [], label=f"{depth} hidden: diverged")
            continue
        plotting.band(ax, layers, plotting.positive(norms, 1e-30), label=f"{depth} hidden", log=True)
        plotted[f"depth{depth}"] = norms
    return plotted


def depth_sweep(data: dict, path: Path) -> Path:
    """Epoch-1 per-layer gradient norms against the layer index: rows initializations, columns activations."""
    inits, acts = list(np.asarray(data["sweep_initializers"])), list(np.asarray(data["sweep_activations"]))
    fig, axes = plotting.figure(len(inits), len(acts), width=4.2, height=3.6)
    axes = np.asarray(axes).reshape(len(inits), len(acts))
    seeds = np.asarray(data[f"sweep_grad_norm_depth{np.asarray(data['sweep_depths'])[0]}"]).shape[0]
    fig.suptitle(f"C1 sweep: per-layer weight-gradient norms in the first epoch ({data['sweep_optimizer']}); "
                 f"geometric mean and 10-90% band over {seeds} seeds", fontsize=10)
    plotted = {}
    names = {"uniform": r"$U(\pm 1/\sqrt{n_{in}})$ init (PyTorch)", "he": r"He init $N(0, 2/n_{in})$"}
    for i, init in enumerate(inits):
        for a, act in enumerate(acts):
            panel = _sweep_panel(axes[i, a], data, i, a)
            plotted.update({f"{init}_{act}_{k}": v for k, v in panel.items()})
            plotting.label(axes[i, a], "layer index l (1 = input layer)",
                           r"epoch-1 mean $\|\partial L_B/\partial W_l\|_F$", f"{act}, {names.get(init, init)}",
                           logy=True)
            _compact_legend(axes[i, a])
    return plotting.save(fig, path, plotted)


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


def examples(data: dict, path: Path) -> Path:
    """Test images beside bar charts of their predicted class probabilities (typical | confidently wrong)."""
    kinds = np.asarray(data["example_kind"])
    groups = [np.flatnonzero(kinds == kind) for kind in ("typical", "confidently wrong")]
    rows = max(max(len(g) for g in groups), 1)
    fig, axes = plotting.figure(rows, 4, width=2.2, height=2.0)
    axes = np.asarray(axes).reshape(rows, 4)
    fig.suptitle(f"C2 (seed {int(data['shown_seed'])}): test images and the predicted class probabilities "
                 "(green: true class, red: wrong prediction)", fontsize=10)
    for col, (kind, members) in enumerate(zip(("typical", "most confidently wrong"), groups)):
        for row in range(rows):
            ax_img, ax_bar = axes[row, 2 * col], axes[row, 2 * col + 1]
            ax_img.axis("off")
            if row >= len(members):
                ax_bar.axis("off")
                continue
            j = members[row]
            probs, label = np.asarray(data["example_probs"][j]), int(data["example_labels"][j])
            ax_img.imshow(np.asarray(data["example_images"][j]), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax_img.set_title(f"{kind}: test #{int(data['example_index'][j])}\ntrue {label}, "
                             f"predicted {int(np.argmax(probs))} (p = {probs.max():.2f})", fontsize=8)
            _probability_bars(ax_bar, probs, label)
    return plotting.save(fig, path, {k: np.asarray(data[k]) for k in
                                     ("example_index", "example_kind", "example_images", "example_labels",
                                      "example_probs")})


def confusion(data: dict, path: Path) -> Path:
    """Confusion matrix of the shown seed on the test split: counts, coloured by the fraction of each true class."""
    matrix = np.asarray(data["confusion_matrix"])
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plotting.figure(width=5.6, height=4.8)
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    for t in range(matrix.shape[0]):
        for p in range(matrix.shape[1]):
            if matrix[t, p]:
                ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=7,
                        color="white" if fractions[t, p] > 0.5 else "black")
    ax.set_xticks(np.arange(matrix.shape[1]))
    ax.set_yticks(np.arange(matrix.shape[0]))
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    plotting.label(ax, "predicted class", "true class",
                   f"C2 confusion matrix (seed {int(data['shown_seed'])}, test accuracy {accuracy:.2%})")
    return plotting.save(fig, path, {"confusion_matrix": matrix, "fractions": fractions})
