"""N1-N5: small neural networks fitted to the course's 7 points (SPEC section N).

N1 width/depth (under- vs over-parameterized), N2 activation (ReLU vs 4*sigmoid) and
learning rate, N3 the initial point, N4 SGD vs Adam with an early stop inside the
scan, N5 loss landscapes (Gaussian and filter-normalized directions) and sharpness
(top Hessian eigenvalue by Lanczos on Hessian-vector products).

Every configuration trains many initializations at once: one training run is a pure
function of its init key (``train_one``), vmapped over keys by ``runner.sweep`` (and
over learning rates inside, for N2). Held-out points x_test = xs + N(0, 0.3^2) are
drawn from a fixed key (``test_seed``), so every run is scored on the same test set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim, plotting, precision
from jaxopt_course import run as runner
from jaxopt_course.experiments.registry import Experiment, Results, register
from jaxopt_course.models import curvature, landscape, mlp, training
from jaxopt_course.problems import least_squares as ls
from jaxopt_course.progress import timed
from jaxopt_course.results import divergence_message

FIT_RANGES = {"near": 1.1, "far": 11.0}  # fitted functions are drawn on [-r, r]
FIT_POINTS = 221
OPTIMIZERS = ("sgd", "adam")
OPTIMIZER_LABELS = {"sgd": "SGD", "adam": "Adam"}
DIRECTIONS = ("Gaussian", "filter-normalized")
SURFACE_FLOOR = 1e-4  # contours resolve losses between this floor and the display cap


# ----------------------------------------------------------------------------- data and one training run


def course_dataset(test_seed: int = 0, test_noise: float = 0.3) -> training.Dataset:
    """The 7 course points and held-out x_test = xs + N(0, sigma^2) from a fixed key, y = target(x)."""
    if not test_noise >= 0:
        raise ValueError(f"test_noise must be >= 0, got {test_noise!r}")
    xs, ys = ls.course_data()
    noise = jax.random.normal(jax.random.key(test_seed), xs.shape, jnp.float32)  # same points under x64
    x_test = xs + test_noise * noise.astype(xs.dtype)
    return training.Dataset(xs[:, None], ys[:, None], x_test[:, None], ls.target_function(x_test)[:, None])


@dataclass(frozen=True)
class Net:
    """One training configuration (hashable by value: equal sweeps reuse one compiled program)."""

    widths: tuple = (10, 10)
    activation: str = "relu"
    optimizer: str = "sgd"
    learning_rate: float = 0.05
    num_epochs: int = 2000
    stop_below: Optional[float] = None
    record_every: int = 1

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        optim.base.check_positive("learning_rate", self.learning_rate)
        mlp.activation_fn(self.activation)

    def model(self) -> mlp.MLP:
        """The network 1 -> widths -> 1 with this activation (broadcast products: trained in ``runner.sweep``)."""
        return mlp.MLP(self.widths, activation=self.activation, matmul="broadcast")

    def make_optimizer(self, learning_rate=None) -> optim.GradientTransformation:
        """Our hand-written SGD or Adam (b1 0.9, b2 0.999, eps 1e-8, bias-corrected) with step gamma."""
        lr = self.learning_rate if learning_rate is None else learning_rate
        return optim.sgd(lr) if self.optimizer == "sgd" else optim.adam(lr)

    def record(self) -> np.ndarray:
        """The recorded epochs: every ``record_every`` epochs, and the last."""
        return runner.stride_grid(self.num_epochs, self.record_every)

    def label(self) -> str:
        """e.g. '1-10-10-1 ReLU, SGD γ=0.05'."""
        act = mlp.ACTIVATION_LABELS.get(self.activation, self.activation)
        return (f"{mlp.architecture(1, self.widths)} {act}, "
                f"{OPTIMIZER_LABELS[self.optimizer]} γ={self.learning_rate:g}")


@dataclass(frozen=True)
class Bound:
    """fn(*args, *rest): a partial application hashed by value (``functools.partial`` hashes by identity).

    ``runner.sweep`` caches its compiled program per function, so two sweeps of equal
    ``Bound(fn, (net, ...))`` (e.g. running an experiment twice) compile once.
    """

    fn: Callable
    args: tuple

    def __call__(self, *rest):
        return self.fn(*self.args, *rest)


def _check_nonempty(name: str, values: tuple) -> None:
    """ValueError unless a config's list of configurations is non-empty."""
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty")


def init_keys(key: jax.Array) -> tuple:
    """Per-purpose keys of one initialization: (init, Lanczos start, direction 1, direction 2)."""
    return tuple(jax.random.split(key, 4))


def train_one(net: Net, key: jax.Array, data: training.Dataset, learning_rate=None):
    """Train from theta_0 ~ init(key): (losses per epoch, stop/divergence epochs, fits; theta_T)."""
    model = net.model()
    params = mlp.init_params(model, init_keys(key)[0])
    trace = training.train(functools.partial(mlp.apply, model), params, net.make_optimizer(learning_rate), data,
                           net.num_epochs, stop_below=net.stop_below, record=net.record())
    final = trace.state.params
    out = {**trace.metrics, "diverged_at": trace.diverged_at, "stopped_at": trace.stopped_at}
    for name, r in FIT_RANGES.items():
        out[f"fit_{name}"] = mlp.predict_scalar(model, final, jnp.linspace(-r, r, FIT_POINTS))
    return out, final


def training_loss(net: Net, data: training.Dataset):
    """theta -> L(theta) = 1/N sum_i (f(x_i; theta) - y_i)^2 on the training points."""
    return functools.partial(training.mse, functools.partial(mlp.apply, net.model()),
                             x=data.x_train, y=data.y_train)


def curves(net: Net, key: jax.Array, data: training.Dataset) -> dict:
    """One initialization's curves and fits (the function vmapped over init keys)."""
    return train_one(net, key, data)[0]


def curves_over_lrs(net: Net, key: jax.Array, data: training.Dataset, lrs: jax.Array) -> dict:
    """The same initialization trained with every learning rate in ``lrs`` (vmapped): leading axis L."""
    return jax.vmap(lambda lr: train_one(net, key, data, lr)[0])(lrs)


def curves_and_sharpness(net: Net, lanczos_steps: int, key: jax.Array, data: training.Dataset) -> dict:
    """Curves, fits and lambda_max(grad^2 L(theta_T)) of one initialization."""
    out, final = train_one(net, key, data)
    out["sharpness"] = curvature.hessian_top_eigenvalue(training_loss(net, data), final, init_keys(key)[1],
                                                        num_steps=lanczos_steps)
    return out


# ----------------------------------------------------------------------------- summaries


def final_values(curve: np.ndarray, diverged_at: np.ndarray) -> np.ndarray:
    """Last recorded value per initialization, NaN for the runs that diverged."""
    return np.where(np.asarray(diverged_at) < 0, np.asarray(curve)[..., -1], np.nan)


def _quantile(values: np.ndarray, q: float):
    """The q-quantile of the finite values (None when there are none)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.quantile(values, q)) if values.size else None


def summarize(out: dict) -> dict:
    """Median (and 10%/90% quantiles) over initializations of the final train and test losses."""
    diverged_at = np.asarray(out["diverged_at"])
    summary = {"num_inits": int(diverged_at.size), "diverged_inits": int(np.sum(diverged_at >= 0))}
    for name in ("train_loss", "test_loss"):
        final = final_values(out[name], diverged_at)
        summary[f"final_{name}_median"] = _quantile(final, 0.5)
        summary[f"final_{name}_q10"] = _quantile(final, 0.1)
        summary[f"final_{name}_q90"] = _quantile(final, 0.9)
    return summary


def divergences(label: str, diverged_at: np.ndarray) -> dict:
    """{'label, init i': 'diverged at step k'} for every initialization that diverged."""
    return {f"{label}, init {i}": divergence_message(k) for i, k in enumerate(np.asarray(diverged_at)) if k >= 0}


def stack_runs(labels: list, groups: list, outs: list, net: Net, data: training.Dataset) -> dict:
    """The common data layout of N1-N4: arrays (C, S, ...) over C configurations and S inits."""
    stacked = {name: np.stack([np.asarray(o[name]) for o in outs]) for name in outs[0]}
    stacked.update(
        labels=np.asarray(labels), groups=np.asarray(groups), epochs=np.asarray(net.record()),
        xs=np.asarray(data.x_train[:, 0]), ys=np.asarray(data.y_train[:, 0]),
        x_test=np.asarray(data.x_test[:, 0]), y_test=np.asarray(data.y_test[:, 0]),
        **{f"x_{name}": np.linspace(-r, r, FIT_POINTS) for name, r in FIT_RANGES.items()},
    )
    return stacked


def sweep_inits(fn, keys: jax.Array, *args):
    """runner.sweep of fn over init keys, compiled for Net.model's broadcast products (YNNPACK kept to dots)."""
    return runner.sweep(fn, keys, *args, compiler_options=runner.small_reductions_options())


def _sweep(fn, key: jax.Array, seeds: int, *args) -> dict:
    """fn(init key s, *args) for s < seeds in one vmapped call, as NumPy arrays."""
    return jax.tree.map(np.asarray, sweep_inits(fn, jax.random.split(key, seeds), *args))


# ----------------------------------------------------------------------------- plots shared by N1-N4


def _axes_grid(nrows: int, ncols: int, **kwargs):
    """A figure and its axes as an (nrows, ncols) array, whatever the sizes."""
    fig, axes = plotting.figure(nrows, ncols, **kwargs)
    return fig, np.asarray(axes).reshape(nrows, ncols)


def _alive(d: dict, c: int) -> np.ndarray:
    """Mask of the initializations of configuration c that did not diverge."""
    return np.asarray(d["diverged_at"][c]) < 0


def _band_label(d: dict, c: int) -> str:
    """The configuration's label, with the count of diverged inits left out of the plot."""
    dead = int(np.sum(~_alive(d, c)))
    return str(d["labels"][c]) + (f" ({dead} of {d['diverged_at'].shape[1]} diverged, not shown)" if dead else "")


def _groups(d: dict) -> list:
    """Panel titles in order of first appearance."""
    return list(dict.fromkeys(str(g) for g in d["groups"]))


def plot_losses(d: dict, out_dir: Path, name: str, title: str) -> Path:
    """Training (left) and test (right) loss against the epoch, one row per group, log-y bands."""
    groups = _groups(d)
    fig, axes = _axes_grid(len(groups), 2, width=6.0)
    for row, group in enumerate(groups):
        for col, metric in enumerate(("train_loss", "test_loss")):
            ax = axes[row, col]
            for c in np.flatnonzero(d["groups"] == group):
                alive = _alive(d, c)
                if alive.any():
                    plotting.band(ax, d["epochs"], plotting.positive(d[metric][c][alive]), label=_band_label(d, c))
            what = "training" if metric == "train_loss" else "test"
            plotting.label(ax, "epoch k", f"{what} loss L(θ_k)", f"{title}: {group}", logy=True)
    fig.suptitle(plotting.band_caption(d["train_loss"].shape[1]).replace("seeds", "initializations"), fontsize=9)
    return plotting.save(fig, out_dir / name, {k: d[k] for k in ("epochs", "train_loss", "test_loss", "labels")})


def _data_points(ax, d: dict) -> None:
    """The target curve (on [-1.1, 1.1] only: it grows like e^{2|x|}), training and held-out points."""
    r = FIT_RANGES["near"]
    x = np.linspace(-r, r, 400)
    ax.plot(x, np.asarray(ls.target_function(jnp.asarray(x))), "k:", lw=1, label=r"$\sin(5x)e^{|2x|}/10$")
    ax.plot(d["xs"], d["ys"], "ko", ms=4, label="training points")
    ax.plot(d["x_test"], d["y_test"], "s", mfc="none", mec="tab:red", ms=5, label="test points")


def plot_fits(d: dict, out_dir: Path, name: str, title: str) -> Path:
    """Fitted functions f(x; theta_T) on [-1.1, 1.1] and [-11, 11]: one row per group, median bands."""
    groups = _groups(d)
    fig, axes = _axes_grid(len(groups), 2)
    for row, group in enumerate(groups):
        for col, (rng, r) in enumerate(FIT_RANGES.items()):
            ax = axes[row, col]
            for c in np.flatnonzero(d["groups"] == group):
                alive = _alive(d, c)
                if alive.any():
                    plotting.band(ax, d[f"x_{rng}"], d[f"fit_{rng}"][c][alive], label=_band_label(d, c))
            ax.set_xlim(-r, r)
            if rng == "near":
                ax.set_ylim(-1.0, 1.0)
            _data_points(ax, d)
            plotting.label(ax, "x", "f(x; θ_T)", f"{title}: {group}, x ∈ [-{r:g}, {r:g}]")
            ax.legend(fontsize=6)
    fig.suptitle(plotting.band_caption(d["fit_near"].shape[1]).replace("seeds", "initializations"), fontsize=9)
    keys = [k for k in d if k.startswith(("x_", "fit_"))] + ["xs", "ys", "labels"]
    return plotting.save(fig, out_dir / name, {k: d[k] for k in keys})


# ----------------------------------------------------------------------------- N1


@dataclass(frozen=True)
class N1Config:
    """N1: under- (1-1-1, 4 parameters) vs over-parameterized (1-10-10-1, 141) ReLU nets, SGD 0.05."""

    architectures: tuple = ((1,), (10,), (10, 10))
    activation: str = "relu"
    learning_rate: float = 0.05
    num_epochs: int = 2000
    record_every: int = 1
    seeds: int = 20
    test_seed: int = 0

    @classmethod
    def quick(cls):
        return cls(architectures=((1,), (10, 10)), num_epochs=300, seeds=4)


def run_n1(config: N1Config, key: jax.Array) -> Results:
    """Train every architecture from ``seeds`` initializations (one vmapped call each)."""
    _check_nonempty("architectures", config.architectures)
    data = course_dataset(config.test_seed)
    labels, outs, metrics, diverged, counts = [], [], {}, {}, []
    for widths in config.architectures:
        net = Net(tuple(widths), config.activation, "sgd", config.learning_rate, config.num_epochs,
                  record_every=config.record_every)
        count = mlp.param_count(1, widths)
        label = f"{mlp.architecture(1, widths)} ({count} parameters)"
        with timed(f"N1: {label}, {config.seeds} inits x {config.num_epochs} epochs"):
            out = _sweep(Bound(curves, (net,)), key, config.seeds, data)
        labels.append(label)
        outs.append(out)
        counts.append(count)
        metrics[mlp.architecture(1, widths)] = {"num_params": count, **summarize(out)}
        diverged.update(divergences(label, out["diverged_at"]))
    group = f"{mlp.ACTIVATION_LABELS.get(config.activation, config.activation)}, SGD γ={config.learning_rate:g}"
    data_out = stack_runs(labels, [group] * len(labels), outs, net, data)
    data_out["param_counts"] = np.asarray(counts)
    return Results(metrics=metrics, data=data_out, diverged=diverged)


def plot_n1(results: Results, out_dir: Path) -> list:
    """Loss curves and fitted functions per architecture."""
    d = results.data
    return [plot_losses(d, out_dir, "n1_losses", "N1"), plot_fits(d, out_dir, "n1_fits", "N1")]


# ----------------------------------------------------------------------------- N2


@dataclass(frozen=True)
class N2Config:
    """N2: ReLU vs 4*sigmoid on 1-10-10-1, full-batch SGD with gamma in {0.02, 0.05, 0.1, 0.3}."""

    widths: tuple = (10, 10)
    activations: tuple = ("relu", "4sigmoid")
    learning_rates: tuple = (0.02, 0.05, 0.1, 0.3)
    num_epochs: int = 2000
    record_every: int = 1
    seeds: int = 20
    test_seed: int = 0

    @classmethod
    def quick(cls):
        return cls(num_epochs=300, seeds=4)


def _split_lrs(out: dict, num_lrs: int) -> list:
    """(S, L, ...) arrays -> L dicts of (S, ...) arrays."""
    return [{k: v[:, i] for k, v in out.items()} for i in range(num_lrs)]


def run_n2(config: N2Config, key: jax.Array) -> Results:
    """Per activation, every learning rate and initialization in one vmapped call (same inits for all)."""
    _check_nonempty("activations", config.activations)
    _check_nonempty("learning_rates", config.learning_rates)
    data = course_dataset(config.test_seed)
    for lr in config.learning_rates:
        optim.base.check_positive("learning_rate", lr)
    lrs = jnp.asarray(config.learning_rates, dtype=precision.float_dtype())
    labels, groups, outs, metrics, diverged = [], [], [], {}, {}
    for act in config.activations:
        net = Net(config.widths, act, "sgd", config.learning_rates[0], config.num_epochs,
                  record_every=config.record_every)
        group = f"{mlp.architecture(1, config.widths)} {mlp.ACTIVATION_LABELS.get(act, act)}"
        with timed(f"N2: {group}, {len(config.learning_rates)} step sizes x {config.seeds} inits"):
            out = _sweep(Bound(curves_over_lrs, (net,)), key, config.seeds, data, lrs)
        for lr, o in zip(config.learning_rates, _split_lrs(out, len(config.learning_rates))):
            label = f"{group}, γ={lr:g}"
            labels.append(f"γ={lr:g}")
            groups.append(group)
            outs.append(o)
            metrics[f"{act} lr={lr:g}"] = summarize(o)
            diverged.update(divergences(label, o["diverged_at"]))
    return Results(metrics=metrics, data=stack_runs(labels, groups, outs, net, data), diverged=diverged)


def plot_n2(results: Results, out_dir: Path) -> list:
    """Train/test loss curves per activation and step size, and the fitted functions."""
    d = results.data
    return [plot_losses(d, out_dir, "n2_losses", "N2"), plot_fits(d, out_dir, "n2_fits", "N2")]


# ----------------------------------------------------------------------------- N3


@dataclass(frozen=True)
class N3Config:
    """N3: many random initializations of the 1-10-10-1 ReLU net, SGD 0.05."""

    widths: tuple = (10, 10)
    activation: str = "relu"
    learning_rate: float = 0.05
    num_epochs: int = 2000
    record_every: int = 1
    seeds: int = 100
    test_seed: int = 0
    stuck_above: float = 1e-3  # a run whose final training loss stays above this did not fit the points

    @classmethod
    def quick(cls):
        return cls(num_epochs=300, seeds=20)


def run_n3(config: N3Config, key: jax.Array) -> Results:
    """All initializations in one vmapped call; the spread of final losses and fitted functions."""
    if config.seeds < 2:
        raise ValueError(f"N3 compares initializations: seeds must be >= 2, got {config.seeds}")
    data = course_dataset(config.test_seed)
    net = Net(config.widths, config.activation, "sgd", config.learning_rate, config.num_epochs,
              record_every=config.record_every)
    with timed(f"N3: {net.label()}, {config.seeds} inits x {config.num_epochs} epochs"):
        out = _sweep(Bound(curves, (net,)), key, config.seeds, data)
    final = final_values(out["train_loss"], out["diverged_at"])
    metrics = {**summarize(out),
               "final_train_loss_min": _quantile(final, 0.0), "final_train_loss_max": _quantile(final, 1.0),
               "final_test_loss_min": _quantile(final_values(out["test_loss"], out["diverged_at"]), 0.0),
               "stuck_fraction": float(np.mean(~(final <= config.stuck_above))),
               "stuck_above": config.stuck_above}
    d = stack_runs([net.label()], [net.label()], [out], net, data)
    return Results(metrics=metrics, data=d, diverged=divergences(net.label(), out["diverged_at"]))


def plot_n3_spread(d: dict, out_dir: Path) -> Path:
    """Every initialization's fitted function (thin lines) and the histogram of final losses."""
    alive = _alive(d, 0)
    fig, axes = plotting.figure(1, 3)
    for ax, (rng, r) in zip(axes[:2], FIT_RANGES.items()):
        ax.plot(d[f"x_{rng}"], d[f"fit_{rng}"][0][alive].T, lw=0.6, alpha=0.5)
        ax.set_xlim(-r, r)
        if rng == "near":
            ax.set_ylim(-1.0, 1.0)
        _data_points(ax, d)
        plotting.label(ax, "x", "f(x; θ_T)", f"N3: {int(alive.sum())} initializations, x ∈ [-{r:g}, {r:g}]")
    final = {m: plotting.positive(final_values(d[m][0], d["diverged_at"][0])[alive], 1e-30)
             for m in ("train_loss", "test_loss")}
    bins = np.logspace(np.log10(min(v.min() for v in final.values())),
                       np.log10(max(v.max() for v in final.values())) + 1e-9, 30)
    for m, v in final.items():
        axes[2].hist(v, bins=bins, alpha=0.6, label="training" if m == "train_loss" else "test")
    plotting.label(axes[2], "final loss L(θ_T)", "number of initializations", "N3: final losses", logx=True)
    return plotting.save(fig, out_dir / "n3_spread", {"x_near": d["x_near"], "x_far": d["x_far"],
                                                      "fit_near": d["fit_near"][0], "fit_far": d["fit_far"][0],
                                                      "final_train_loss": final["train_loss"],
                                                      "final_test_loss": final["test_loss"]})


def plot_n3(results: Results, out_dir: Path) -> list:
    """Loss bands, median fitted function, every fitted function and the final-loss histogram."""
    d = results.data
    return [plot_losses(d, out_dir, "n3_losses", "N3"), plot_fits(d, out_dir, "n3_fits", "N3"),
            plot_n3_spread(d, out_dir)]


# ----------------------------------------------------------------------------- N4


@dataclass(frozen=True)
class N4Config:
    """N4: SGD (0.05) vs Adam (0.1) on the 1-10-10-1 ReLU net, stopped once L(theta_k) < 1e-13.

    float64 by default: in float32, SGD stalls near L = 1e-12 (its updates fall below
    the parameters' rounding), so the 1e-13 stop would measure precision, not optimization.
    """

    widths: tuple = (10, 10)
    activation: str = "relu"
    optimizers: tuple = (("sgd", 0.05), ("adam", 0.1))
    stop_below: float = 1e-13
    num_epochs: int = 40_000
    record_every: int = 20
    seeds: int = 20
    test_seed: int = 0
    float64: bool = True
    lanczos_steps: int = 40

    @classmethod
    def quick(cls):
        return cls(num_epochs=3000, record_every=10, seeds=4, lanczos_steps=20)


def _stop_summary(stopped_at: np.ndarray) -> dict:
    """Stop epochs per init (-1: never stopped), their median over the stopped ones and the count."""
    stopped_at = np.asarray(stopped_at)
    done = stopped_at[stopped_at >= 0]
    return {"stop_epochs": stopped_at.tolist(), "stopped_inits": int(done.size),
            "stop_epoch_median": float(np.median(done)) if done.size else None}


def _sharpness_summary(sharpness: np.ndarray, diverged_at: np.ndarray, converged: np.ndarray,
                       gd_learning_rate=None) -> dict:
    """Median and range of lambda_max over inits (all, and converged ones), and for GD its threshold 2/gamma."""
    s = np.where(np.asarray(diverged_at) < 0, np.asarray(sharpness, dtype=float), np.nan)
    at_minima = s[np.asarray(converged)]
    summary = {"top_hessian_eigenvalue_median": _quantile(s, 0.5), "top_hessian_eigenvalue_min": _quantile(s, 0.0),
               "top_hessian_eigenvalue_max": _quantile(s, 1.0), "top_hessian_eigenvalues": s.tolist(),
               "converged_inits": int(at_minima.size),
               "top_hessian_eigenvalue_median_converged": _quantile(at_minima, 0.5),
               "top_hessian_eigenvalue_min_converged": _quantile(at_minima, 0.0),
               "top_hessian_eigenvalue_max_converged": _quantile(at_minima, 1.0)}
    if gd_learning_rate is not None:
        summary["gd_stability_threshold"] = 2.0 / gd_learning_rate  # GD is unstable where lambda_max > 2/gamma
    return summary


def _run_n4(config: N4Config, key: jax.Array) -> Results:
    """Both optimizers from the same initializations; stop epochs and sharpness lambda_max(theta_T)."""
    _check_nonempty("optimizers", config.optimizers)
    data = course_dataset(config.test_seed)
    labels, outs, metrics, diverged = [], [], {}, {}
    for name, lr in config.optimizers:
        net = Net(config.widths, config.activation, name, lr, config.num_epochs, config.stop_below,
                  config.record_every)
        label = f"{OPTIMIZER_LABELS[name]} γ={lr:g}"
        with timed(f"N4: {net.label()}, {config.seeds} inits, up to {config.num_epochs} epochs"):
            out = _sweep(Bound(curves_and_sharpness, (net, config.lanczos_steps)), key, config.seeds, data)
        labels.append(label)
        outs.append(out)
        metrics[f"{name} lr={lr:g}"] = {**summarize(out), **_stop_summary(out["stopped_at"]),
                                        **_sharpness_summary(out["sharpness"], out["diverged_at"],
                                                             out["stopped_at"] >= 0, lr if name == "sgd" else None)}
        diverged.update(divergences(label, out["diverged_at"]))
    metrics["stop_below"] = config.stop_below
    group = f"{mlp.architecture(1, config.widths)} {mlp.ACTIVATION_LABELS.get(config.activation)}"
    d = stack_runs(labels, [group] * len(labels), outs, net, data)
    return Results(metrics=metrics, data=d, diverged=diverged)


def run_n4(config: N4Config, key: jax.Array) -> Results:
    """N4 in float64 (``config.float64``) or in the precision now in force."""
    if not config.float64:
        return _run_n4(config, key)
    with precision.float64():
        return _run_n4(config, key)


def plot_n4_stops(d: dict, out_dir: Path) -> Path:
    """Stop epochs (left) and the sharpness lambda_max(theta_T) (right) per optimizer."""
    fig, axes = plotting.figure(1, 2)
    for c, label in enumerate(d["labels"]):
        stops = d["stopped_at"][c]
        axes[0].plot(np.sort(stops[stops >= 0]), np.arange(1, int(np.sum(stops >= 0)) + 1), drawstyle="steps-post",
                     label=f"{label}: {int(np.sum(stops >= 0))} of {stops.size} stopped")
        alive = _alive(d, c)
        axes[1].plot(np.full(int(alive.sum()), c) + np.linspace(-0.1, 0.1, int(alive.sum())),
                     d["sharpness"][c][alive], "o", ms=4, label=str(label))
    axes[1].set_xticks(range(len(d["labels"])), [str(s) for s in d["labels"]])
    plotting.label(axes[0], "stop epoch k (first L(θ_k) < tol)", "number of initializations", "N4: early stops")
    plotting.label(axes[1], "optimizer", r"$\lambda_{max}(\nabla^2 L(\theta_T))$", "N4: sharpness at θ_T",
                   logy=True)
    return plotting.save(fig, out_dir / "n4_stops", {k: d[k] for k in ("labels", "stopped_at", "sharpness")})


def plot_n4(results: Results, out_dir: Path) -> list:
    """Loss curves (constant after the stop), fitted functions, stop epochs and sharpness."""
    d = results.data
    return [plot_losses(d, out_dir, "n4_losses", "N4"), plot_fits(d, out_dir, "n4_fits", "N4"),
            plot_n4_stops(d, out_dir)]


# ----------------------------------------------------------------------------- N5


@dataclass(frozen=True)
class Grid:
    """The landscape grids: 1-D slices on [-r, r] for each r in ``ranges``, a 2-D surface on [-R, R]^2."""

    ranges: tuple = (1.0, 10.0)
    slice_points: int = 201
    surface_range: float = 1.0
    surface_points: int = 41
    bias: str = "zero"  # filter normalization of bias vectors: Li et al.'s 'zero' (biasbn ignored) or 'copy'

    def __post_init__(self):
        if len(self.ranges) == 0 or min(self.ranges) <= 0 or self.surface_range <= 0:
            raise ValueError(f"landscape ranges must be positive, got {self.ranges} and {self.surface_range}")
        if min(self.slice_points, self.surface_points) < 2:
            raise ValueError("slice_points and surface_points must be >= 2")
        if self.bias not in landscape.BIAS_RULES:
            raise ValueError(f"bias must be one of {landscape.BIAS_RULES}, got {self.bias!r}")

    def slice_ts(self, r: float) -> jax.Array:
        """t in [-r, r] (odd point counts include t = 0)."""
        return jnp.linspace(-r, r, self.slice_points)

    def surface_ts(self) -> jax.Array:
        """t (and s) in [-R, R]."""
        return jnp.linspace(-self.surface_range, self.surface_range, self.surface_points)


def directions(params, key1: jax.Array, key2: jax.Array, bias: str) -> tuple:
    """((D1, D2) Gaussian, (D1, D2) filter-normalized from the same Gaussian draws)."""
    gaussian = (landscape.gaussian_direction(key1, params), landscape.gaussian_direction(key2, params))
    return gaussian, tuple(landscape.filter_normalize(d, params, bias=bias) for d in gaussian)


def _landscape_coefficients(grid: Grid) -> tuple[jax.Array, list]:
    """All (t, s) pairs of the slices (s = 0) and of the surface, and where each block starts and ends."""
    blocks = [jnp.stack([grid.slice_ts(r), jnp.zeros(grid.slice_points)], axis=1) for r in grid.ranges]
    blocks.append(landscape.surface_grid(grid.surface_ts(), grid.surface_ts()))
    ends = np.cumsum([b.shape[0] for b in blocks])
    return jnp.concatenate(blocks), list(zip(np.concatenate([[0], ends[:-1]]), ends))


def landscapes(net: Net, grid: Grid, lanczos_steps: int, key: jax.Array, data: training.Dataset) -> dict:
    """One init: train, then slices/surfaces along both direction kinds and lambda_max at theta_T."""
    out, final = train_one(net, key, data)
    loss = training_loss(net, data)
    _, k_lanczos, k1, k2 = init_keys(key)
    coefficients, blocks = _landscape_coefficients(grid)
    stacked = jax.tree.map(lambda *d: jnp.stack(d), *directions(final, k1, k2, grid.bias))  # kinds on axis 0
    values = jax.vmap(lambda d: landscape.plane(loss, final, d[0], d[1], coefficients))(stacked)
    for j, kind in enumerate(DIRECTIONS):
        tag = kind.split("-")[0]
        for i, (start, end) in enumerate(blocks[:-1]):
            out[f"slice_{tag}_{i}"] = values[j, start:end]
        start, end = blocks[-1]
        out[f"surface_{tag}"] = values[j, start:end].reshape(grid.surface_points, grid.surface_points)
    out["sharpness"] = curvature.hessian_top_eigenvalue(loss, final, k_lanczos, num_steps=lanczos_steps)
    out["param_norm"] = jnp.sqrt(sum(jnp.sum(p * p) for p in jax.tree.leaves(final)))
    return out


@dataclass(frozen=True)
class N5Config:
    """N5: landscapes and sharpness of trained 1-10-10-1 ReLU and 4*sigmoid nets (SGD 0.05).

    20000 epochs by default: after the 2000 epochs of N2, the 4*sigmoid net still sits on
    its plateau (L about 0.069); landscapes are meant around minima.
    """

    widths: tuple = (10, 10)
    activations: tuple = ("relu", "4sigmoid")
    learning_rate: float = 0.05
    num_epochs: int = 20_000
    seeds: int = 8
    test_seed: int = 0
    grid: Grid = Grid()
    lanczos_steps: int = 40
    display_cap: float = 5.0  # losses above the cap are drawn at the cap
    fitted_below: float = 1e-3  # sharpness is also summarized over the inits whose final loss is below this

    @classmethod
    def quick(cls):
        return cls(num_epochs=300, seeds=2, grid=Grid(slice_points=41, surface_points=11), lanczos_steps=20)


def _slice_metrics(out: dict, grid: Grid) -> dict:
    """Median over inits of (L(theta + r D) + L(theta - r D))/2 at the ends of each slice."""
    metrics = {}
    for kind in DIRECTIONS:
        tag = kind.split("-")[0]
        for i, r in enumerate(grid.ranges):
            s = np.asarray(out[f"slice_{tag}_{i}"])
            metrics[f"loss_at_t{r:g}_{tag}_median"] = _quantile((s[:, 0] + s[:, -1]) / 2, 0.5)
    return metrics


def _n5_data(config: N5Config, labels: list, outs: list) -> dict:
    """Slices (C, S, T), surfaces (C, S, G, G), sharpness (C, S) and the grids, for the figures."""
    d = {k: np.stack([o[k] for o in outs]) for k in outs[0] if k.startswith(("slice_", "surface_", "sharpness"))}
    d.update({f"slice_t_{i}": np.asarray(config.grid.slice_ts(r)) for i, r in enumerate(config.grid.ranges)})
    d.update(labels=np.asarray(labels), cap=np.asarray(config.display_cap),
             diverged_at=np.stack([o["diverged_at"] for o in outs]), ranges=np.asarray(config.grid.ranges),
             surface_t=np.asarray(config.grid.surface_ts()))
    return d


def run_n5(config: N5Config, key: jax.Array) -> Results:
    """Per activation: train ``seeds`` inits, then all landscapes and Lanczos in the same vmapped call."""
    if config.display_cap <= 0:
        raise ValueError(f"display_cap must be positive, got {config.display_cap!r}")
    _check_nonempty("activations", config.activations)
    data = course_dataset(config.test_seed)
    metrics, diverged, outs, labels = {}, {}, [], []
    for act in config.activations:
        net = Net(config.widths, act, "sgd", config.learning_rate, config.num_epochs,
                  record_every=max(1, config.num_epochs // 200))
        fn = Bound(landscapes, (net, config.grid, config.lanczos_steps))
        with timed(f"N5: {net.label()}, {config.seeds} inits, landscapes and Lanczos"):
            out = _sweep(fn, key, config.seeds, data)
        labels.append(mlp.ACTIVATION_LABELS.get(act, act))
        outs.append(out)
        metrics[act] = {**summarize(out),
                        **_sharpness_summary(out["sharpness"], out["diverged_at"],
                                             final_values(out["train_loss"], out["diverged_at"]) < config.fitted_below,
                                             config.learning_rate),
                        "param_norm_median": _quantile(out["param_norm"], 0.5), **_slice_metrics(out, config.grid)}
        diverged.update(divergences(net.label(), out["diverged_at"]))
    return Results(metrics=metrics, data=_n5_data(config, labels, outs), diverged=diverged)


def plot_n5_slices(d: dict, out_dir: Path) -> Path:
    """L(theta* + t D) over t (linear scale, capped), one panel per (direction kind, range), both nets."""
    cap = float(d["cap"])
    fig, axes = _axes_grid(len(DIRECTIONS), len(d["ranges"]))
    for row, kind in enumerate(DIRECTIONS):
        tag = kind.split("-")[0]
        for col, r in enumerate(d["ranges"]):
            ax = axes[row, col]
            for c, label in enumerate(d["labels"]):
                alive = np.asarray(d["diverged_at"][c]) < 0
                values = np.minimum(d[f"slice_{tag}_{col}"][c][alive], cap)
                plotting.band(ax, d[f"slice_t_{col}"], values, label=str(label))
            ax.set_ylim(0.0, 1.05 * cap)
            plotting.label(ax, "t", f"L(θ* + t D), capped at {cap:g}", f"N5: {kind} D, t ∈ [-{r:g}, {r:g}]")
    fig.suptitle(plotting.band_caption(d["diverged_at"].shape[1]).replace("seeds", "initializations"), fontsize=9)
    keys = [k for k in d if k.startswith(("slice_", "labels", "ranges"))]
    return plotting.save(fig, out_dir / "n5_slices", {k: d[k] for k in keys})


def plot_n5_surfaces(d: dict, out_dir: Path) -> Path:
    """Contours of log10 L(theta* + t D1 + s D2) for the first initialization, clipped for display."""
    cap, t = float(d["cap"]), d["surface_t"]
    fig, axes = _axes_grid(len(d["labels"]), len(DIRECTIONS), width=4.6, height=4.0)
    shown = {}
    for row, label in enumerate(d["labels"]):
        for col, kind in enumerate(DIRECTIONS):
            z = np.log10(np.clip(d[f"surface_{kind.split('-')[0]}"][row][0], SURFACE_FLOOR, cap))
            shown[f"log10_loss_{row}_{col}"] = z
            levels = np.linspace(np.log10(SURFACE_FLOOR), np.log10(cap), 21)
            cs = axes[row, col].contourf(t, t, z, levels=levels, cmap="viridis", extend="both")
            fig.colorbar(cs, ax=axes[row, col], label=f"log10 L (clipped to [{SURFACE_FLOOR:g}, {cap:g}])")
            axes[row, col].plot(0, 0, "r*", ms=8)
            plotting.label(axes[row, col], "t (along D1)", "s (along D2)", f"N5: {label}, {kind} (init 0)")
    return plotting.save(fig, out_dir / "n5_surfaces", {"t": t, "labels": d["labels"], **shown})


def plot_n5_sharpness(d: dict, out_dir: Path) -> Path:
    """lambda_max(grad^2 L(theta*)) per initialization for each net."""
    fig, ax = plotting.figure()
    for c, label in enumerate(d["labels"]):
        alive = np.asarray(d["diverged_at"][c]) < 0
        ax.plot(np.full(int(alive.sum()), c) + np.linspace(-0.1, 0.1, int(alive.sum())), d["sharpness"][c][alive],
                "o", label=str(label))
    ax.set_xticks(range(len(d["labels"])), [str(s) for s in d["labels"]])
    plotting.label(ax, "activation", r"$\lambda_{max}(\nabla^2 L(\theta^*))$", "N5: sharpness (Lanczos on HVPs)",
                   logy=True)
    return plotting.save(fig, out_dir / "n5_sharpness", {"labels": d["labels"], "sharpness": d["sharpness"]})


def plot_n5(results: Results, out_dir: Path) -> list:
    """1-D slices, 2-D surfaces and sharpness."""
    d = results.data
    return [plot_n5_slices(d, out_dir), plot_n5_surfaces(d, out_dir), plot_n5_sharpness(d, out_dir)]


# ----------------------------------------------------------------------------- registry


register(Experiment("N1", "N", "MLP width/depth: 1-1-1 (4 parameters) vs 1-10-10-1 (141), SGD on the 7 points",
                    N1Config, run_n1, plot_n1,
    captions={
        'n1_losses': 'Training and held-out test loss per epoch of the 4- and the 141-parameter ReLU net: in the full 2000-epoch run the small net stalls near 0.1 while the large one goes 3 orders of magnitude lower (quick runs stop early).',
        'n1_fits': 'Fitted functions on [-1.1, 1.1] and [-11, 11]: near the data each net follows the points as far as its size allows; far from them ReLU nets extrapolate linearly, each initialization its own way (bands).',
    }))
register(Experiment("N2", "N", "MLP activation ReLU vs 4*sigmoid at step sizes 0.02-0.3, train/test loss",
                    N2Config, run_n2, plot_n2,
    captions={
        'n2_losses': 'ReLU trains faster with larger steps; the 4·sigmoid net sits on a plateau near loss 0.069 and diverges for some initializations at step 0.3 (reported, not drawn).',
        'n2_fits': 'Fitted functions per activation and step: ReLU fits are piecewise linear, 4·sigmoid fits saturate to constants far from the data.',
    }))
register(Experiment("N3", "N", "MLP initial point: many random initializations of the same net",
                    N3Config, run_n3, plot_n3,
    captions={
        'n3_spread': 'The initial point alone: fitted functions of many initializations of the same net, near and far from the data, and the histogram of their final training and test losses (in the full run about one in five stays stuck at a poor stationary point).',
        'n3_losses': 'Loss curves over initializations (bands): the spread is the effect of the initial point alone.',
        'n3_fits': 'Fitted functions over initializations near and far from the data.',
    }))
register(Experiment("N4", "N", "MLP optimizer: SGD 0.05 vs Adam 0.1, early stop at loss < 1e-13, sharpness",
                    N4Config, run_n4, plot_n4,
    captions={
        'n4_stops': 'Epoch at which each initialization first reaches loss < 1e-13 (float64; never-stopped runs counted separately) and the top Hessian eigenvalue at the end: Adam stops about 8x sooner and, here, at flatter minima than SGD.',
        'n4_losses': 'SGD 0.05 versus Adam 0.1: training and test loss per epoch, frozen at the early stop.',
        'n4_fits': 'Fitted functions of both optimizers near and far from the data.',
    }))
register(Experiment("N5", "N", "MLP loss landscapes (Gaussian and filter-normalized) and Hessian sharpness",
                    N5Config, run_n5, plot_n5,
    captions={
        'n5_slices': "L(θ* + tD) along a Gaussian and a filter-normalized direction: only the filter-normalized direction compares the two nets fairly, because it removes the scale of each unit's weights.",
        'n5_surfaces': 'The 2-D surface L(θ* + tD1 + sD2) around a trained net (log10 contours, clipped for display).',
        'n5_sharpness': 'Top Hessian eigenvalue at θ* by Lanczos on Hessian-vector products: the 4·sigmoid minima sit at the stability limit 2/γ = 40 of their step, the ReLU minima below it.',
    }))

