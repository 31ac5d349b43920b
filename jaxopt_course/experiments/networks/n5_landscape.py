"""N5: loss landscapes L(theta* + t D) and L(theta* + t D1 + s D2) of trained ReLU and 4*sigmoid nets, and sharpness.

Per activation and initialization: train theta* by full-batch SGD, then evaluate the
1-D slices (t in [-r, r], s = 0) and the 2-D surface (t, s in [-R, R]) along a
Gaussian D ~ N(0, I) and along its filter-normalized version (Li et al. 2018), and
lambda_max(grad^2 L(theta*)) by Lanczos on Hessian-vector products, all inside the
same vmapped call over initializations (and learning rates gamma).

20000 epochs by default: after the 2000 epochs of N2 the 4*sigmoid net still sits on
its plateau (L about 0.069); landscapes are meant around minima.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import divergence, plotting
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import ExperimentConfig, axes, param
from jaxopt_course.experiments.networks import figures, problem, summaries
from jaxopt_course.experiments.registry import Results
from jaxopt_course.models import curvature, landscape, mlp
from jaxopt_course.progress import timed
from jaxopt_course.validation import at_least, each, one_of, positive, positive_int, seed_count

ID = "N5"
TITLE = "MLP loss landscapes (Gaussian and filter-normalized) and Hessian sharpness"
DIRECTIONS = ("Gaussian", "filter-normalized")
SURFACE_FLOOR = 1e-4  # contours resolve losses between this floor and the display cap
DIMS = {**problem.CURVE_DIMS, "slice": ("direction", "range", "slice_point"), "surface": ("direction", "s", "t")}


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """N5: landscapes and sharpness of trained 1-10-10-1 ReLU and 4*sigmoid nets (SGD 0.05)."""

    widths: tuple[int, ...] = problem.widths_param()
    activations: tuple[str, ...] = problem.activations_param()
    learning_rate: float = param(0.05, "full-batch SGD step gamma of the training", check=positive, vmap=True)
    num_epochs: int = problem.epochs_param(20_000, "training epochs T; the landscape is taken at theta* = theta_T")
    seeds: int = param(8, "random initializations theta_0 (the same, and the same directions, for every net)",
                       check=seed_count())
    test_seed: int = problem.test_seed_param()
    ranges: tuple[float, ...] = param((1.0, 10.0), "r: a 1-D slice L(theta* + t D) on t in [-r, r] for each",
                                      check=each(positive))
    slice_points: int = param(201, "points t of each 1-D slice (odd counts include t = 0)", check=at_least(2))
    surface_range: float = param(1.0, "R: the 2-D surface on (t, s) in [-R, R]^2", check=positive)
    surface_points: int = param(41, "points per axis of the 2-D surface", check=at_least(2))
    bias: str = param("zero", "filter normalization of bias vectors: Li et al.'s 'zero' (biasbn ignored) or 'copy'",
                      check=one_of(landscape.BIAS_RULES))
    lanczos_steps: int = param(40, "Lanczos steps for lambda_max(grad^2 L(theta*))", check=positive_int)
    display_cap: float = param(5.0, "losses above this are drawn at the cap", check=positive)
    fitted_below: float = param(1e-3, "sharpness is also summarized over the inits whose final loss is below this",
                                check=positive)

    @classmethod
    def quick(cls):
        return cls(num_epochs=300, seeds=2, slice_points=41, surface_points=11, lanczos_steps=20)

    def slice_ts(self, r: float) -> jax.Array:
        """t in [-r, r]."""
        return jnp.linspace(-r, r, self.slice_points)

    def surface_ts(self) -> jax.Array:
        """t (and s) in [-R, R]."""
        return jnp.linspace(-self.surface_range, self.surface_range, self.surface_points)


def directions(params, key1: jax.Array, key2: jax.Array, bias: str) -> tuple:
    """((D1, D2) Gaussian, (D1, D2) filter-normalized from the same Gaussian draws)."""
    gaussian = (landscape.gaussian_direction(key1, params), landscape.gaussian_direction(key2, params))
    return gaussian, tuple(landscape.filter_normalize(d, params, bias=bias) for d in gaussian)


def coefficients(config: Config) -> tuple[jax.Array, list]:
    """All (t, s) pairs of the slices (s = 0) and of the surface, and where each block starts and ends."""
    blocks = [jnp.stack([config.slice_ts(r), jnp.zeros(config.slice_points)], axis=1) for r in config.ranges]
    blocks.append(landscape.surface_grid(config.surface_ts(), config.surface_ts()))
    ends = np.cumsum([b.shape[0] for b in blocks])
    return jnp.concatenate(blocks), list(zip(np.concatenate([[0], ends[:-1]]), ends))


def landscapes(key: jax.Array, hp: dict, data, *, net: problem.Net, config: Config) -> dict:
    """One init: train at gamma = hp['learning_rate'], then slices and surfaces along both kinds of D, lambda_max."""
    out, final = problem.train_one(net, key, data, hp["learning_rate"])
    loss = problem.training_loss(net, data)
    _, k_lanczos, k1, k2 = problem.init_keys(key)
    grid, blocks = coefficients(config)
    stacked = jax.tree.map(lambda *d: jnp.stack(d), *directions(final, k1, k2, config.bias))  # kinds on axis 0
    values = jax.vmap(lambda d: landscape.plane(loss, final, d[0], d[1], grid))(stacked)
    out["slice"] = jnp.stack([values[:, start:end] for start, end in blocks[:-1]], axis=1)
    start, end = blocks[-1]
    out["surface"] = values[:, start:end].reshape(len(DIRECTIONS), config.surface_points, config.surface_points)
    out["sharpness"] = curvature.hessian_top_eigenvalue(loss, final, k_lanczos, num_steps=config.lanczos_steps)
    out["param_norm"] = jnp.sqrt(sum(jnp.sum(p * p) for p in jax.tree.leaves(final)))
    return out


def run(config: Config, key: jax.Array, sweeper: runner.Sweeper = runner.Sweeper()) -> Results:
    """Per activation: train ``seeds`` inits, then all landscapes and Lanczos in the same vmapped call."""
    data = problem.course_dataset(config.test_seed)
    lrs = axes(config, "learning_rate")["learning_rate"]
    outs = []
    for act in config.activations:
        net = problem.Net(config.widths, act, "sgd", config.num_epochs, record_every=max(1, config.num_epochs // 200))
        fn = functools.partial(landscapes, net=net, config=config)
        with timed(f"N5: {net.name()}, {len(lrs)} step size(s) x {config.seeds} inits, landscapes and Lanczos"):
            outs.append(problem.sweep_inits(sweeper, fn, key, config.seeds, data, lrs))
    ts = np.stack([np.asarray(config.slice_ts(r)) for r in config.ranges])
    surface_t = np.asarray(config.surface_ts())
    d = problem.dataset(outs, {"activation": list(config.activations), "learning_rate": lrs}, data, net, dims=DIMS,
                        coords={"direction": list(DIRECTIONS), "range": list(config.ranges),
                                "slice_t": (("range", "slice_point"), ts), "s": surface_t, "t": surface_t})
    d.attrs["display_cap"] = config.display_cap
    converged = summaries.final(d, "train_loss") < config.fitted_below
    ends = (d.slice.isel(slice_point=0) + d.slice.isel(slice_point=-1)) / 2
    parts = {**summaries.losses(d), **summaries.sharpness(d.sharpness, d, converged),
             "gd_stability_threshold": 2.0 / d.learning_rate,  # GD is unstable where lambda_max > 2/gamma
             "param_norm_median": summaries.quantile(d.param_norm, 0.5),
             "slice_end_loss_median": summaries.quantile(ends, 0.5)}
    metrics = {"num_inits": config.seeds, **summaries.metrics(parts)}
    return Results(metrics, d, divergence.messages(d.diverged_at, over=("seed",), runs="initializations"))


def _label(d, c: dict) -> str:
    """'ReLU' (with ', γ=g' when the learning rate is swept)."""
    text = mlp.ACTIVATION_LABELS.get(str(c["activation"]), str(c["activation"]))
    return text if d.sizes["learning_rate"] == 1 else f"{text}, γ={c['learning_rate']:g}"


def plot_slices(d, out_dir: Path) -> Path:
    """L(theta* + t D) over t (linear scale, capped), one panel per (direction kind, range), a band per net."""
    cap = float(d.attrs["display_cap"])
    fig, axes_ = figures.grid(len(DIRECTIONS), d.sizes["range"])
    for (row, kind), (col, r) in ((a, b) for a in enumerate(DIRECTIONS) for b in enumerate(d.range.values)):
        ax = axes_[row, col]
        part = d.sel(direction=kind, range=r)
        for label, cell in figures.lines(part, ("activation", "learning_rate"), functools.partial(_label, d)):
            values = figures.survivors(cell, "slice")
            if len(values):
                plotting.band(ax, part.slice_t.values, np.minimum(values, cap), label=figures.band_label(label, cell))
        ax.set_ylim(0.0, 1.05 * cap)
        plotting.label(ax, "t", f"L(θ* + t D), capped at {cap:g}", f"N5: {kind} D, t ∈ [-{r:g}, {r:g}]")
    fig.suptitle(figures.caption(d), fontsize=9)
    return plotting.save(fig, out_dir / "n5_slices", d[["slice", "diverged_at"]])


def plot_surfaces(d, out_dir: Path) -> Path:
    """Contours of log10 L(theta* + t D1 + s D2) for the first initialization, clipped for display."""
    cap = float(d.attrs["display_cap"])
    shown = np.log10(d.surface.isel(seed=0).clip(SURFACE_FLOOR, cap))
    cells = figures.lines(shown, ("activation", "learning_rate"), functools.partial(_label, d))
    fig, axes_ = figures.grid(len(cells), len(DIRECTIONS), width=4.6, height=4.0)
    levels = np.linspace(np.log10(SURFACE_FLOOR), np.log10(cap), 21)
    for (row, (label, z)), (col, kind) in ((a, b) for a in enumerate(cells) for b in enumerate(DIRECTIONS)):
        ax = axes_[row, col]
        cs = ax.contourf(d.t.values, d.s.values, z.sel(direction=kind).transpose("s", "t").values, levels=levels,
                         cmap="viridis", extend="both")
        fig.colorbar(cs, ax=ax, label=f"log10 L (clipped to [{SURFACE_FLOOR:g}, {cap:g}])")
        ax.plot(0, 0, "r*", ms=8)
        plotting.label(ax, "t (along D1)", "s (along D2)", f"N5: {label}, {kind} (init 0)")
    return plotting.save(fig, out_dir / "n5_surfaces", shown.rename("log10_loss_clipped").to_dataset())


def plot_sharpness(d, out_dir: Path) -> Path:
    """lambda_max(grad^2 L(theta*)) per initialization for each net."""
    fig, ax = plotting.figure()
    groups = [(label, figures.survivors(cell, "sharpness"))
              for label, cell in figures.lines(d, ("activation", "learning_rate"), functools.partial(_label, d))]
    figures.per_init(ax, groups)
    plotting.label(ax, "activation", r"$\lambda_{max}(\nabla^2 L(\theta^*))$", "N5: sharpness (Lanczos on HVPs)",
                   logy=True)
    return plotting.save(fig, out_dir / "n5_sharpness", d[["sharpness", "diverged_at"]])


def plot(results: Results, out_dir: Path) -> list:
    """1-D slices, 2-D surfaces and sharpness."""
    d = results.data
    return [plot_slices(d, out_dir), plot_surfaces(d, out_dir), plot_sharpness(d, out_dir)]


CAPTIONS = {
    "n5_slices": "L(θ* + tD) along a Gaussian and a filter-normalized direction: only the filter-normalized direction "
                 "compares the two nets fairly, because it removes the scale of each unit's weights.",
    "n5_surfaces": "The 2-D surface L(θ* + tD1 + sD2) around a trained net (log10 contours, clipped for display).",
    "n5_sharpness": "Top Hessian eigenvalue at θ* by Lanczos on Hessian-vector products: the 4·sigmoid minima sit at "
                    "the stability limit 2/γ = 40 of their step, the ReLU minima below it.",
}
