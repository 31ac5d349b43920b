"""The course's 7 points and one training run of a small MLP on them, swept over initializations and learning rates.

Every configuration of N1-N5 trains many initializations at once: one training run
is a pure function of its init key and its learning rate (``curves``), and
``sweep_inits`` vmaps it over the product (learning rates) x (init keys) in one call.
Held-out points x_test = xs + N(0, 0.3^2) are drawn from a fixed key (``test_seed``),
so every run is scored on the same test set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import optim
from jaxopt_course import run as runner
from jaxopt_course.experiments.config import param
from jaxopt_course.models import curvature, mlp, training
from jaxopt_course.problems import least_squares as ls
from jaxopt_course.validation import each, non_negative_int, one_of, positive_int

FIT_RANGES = {"near": 1.1, "far": 11.0}  # fitted functions are drawn on [-r, r]
FIT_POINTS = 221
ACTIVATIONS = one_of(mlp.ACTIVATIONS)  # the check of an activation field
# Trailing dimensions of the per-run outputs (after the run dimensions ..., seed).
CURVE_DIMS = {"train_loss": ("epoch",), "test_loss": ("epoch",), "fit_near": ("x_near",), "fit_far": ("x_far",)}


def widths_param():
    """The config field of the hidden widths (1-10-10-1 by default)."""
    return param((10, 10), "hidden-layer widths of the 1-w_1-...-1 net", check=each(positive_int))


def activation_param():
    """The config field of the hidden units' activation (ReLU by default)."""
    return param("relu", "activation of every hidden unit", check=ACTIVATIONS)


def activations_param():
    """The config field of the activations compared (ReLU and 4 sigmoid by default)."""
    return param(("relu", "4sigmoid"), "activations compared, one sweep each", check=each(ACTIVATIONS))


def epochs_param(default: int = 2000, help: str = "epochs T (one full-batch step each)"):
    """The config field of the number of training epochs."""
    return param(default, help, check=positive_int)


def record_param(default: int = 1):
    """The config field of the recording stride of the loss curves."""
    return param(default, "record the train and test losses every this many epochs", check=positive_int)


def test_seed_param():
    """The config field of the key of the held-out points."""
    return param(0, "key of the held-out points x_test = xs + N(0, 0.3^2)", check=non_negative_int)


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
    """One training configuration but its learning rate: plain values, so sweeps fingerprint it by value."""

    widths: tuple = (10, 10)
    activation: str = "relu"
    optimizer: str = "sgd"
    num_epochs: int = 2000
    stop_below: Optional[float] = None
    record_every: int = 1

    def model(self) -> mlp.MLP:
        """The network 1 -> widths -> 1 with this activation (broadcast products: see ``mlp``)."""
        return mlp.MLP(self.widths, activation=self.activation, matmul="broadcast")

    def record(self) -> np.ndarray:
        """The recorded epochs: every ``record_every`` epochs, and the last."""
        return runner.stride_grid(self.num_epochs, self.record_every)

    def name(self) -> str:
        """e.g. '1-10-10-1 ReLU'."""
        return f"{mlp.architecture(1, self.widths)} {mlp.ACTIVATION_LABELS.get(self.activation, self.activation)}"


def init_keys(key: jax.Array) -> tuple:
    """Per-purpose keys of one initialization: (init, Lanczos start, direction 1, direction 2)."""
    return tuple(jax.random.split(key, 4))


def train_one(net: Net, key: jax.Array, data: training.Dataset, learning_rate):
    """Train from theta_0 ~ init(key) with step gamma: (losses per epoch, stop/divergence epochs, fits; theta_T)."""
    model = net.model()
    params = mlp.init_params(model, init_keys(key)[0])
    opt = optim.optimizer(net.optimizer, learning_rate)
    trace = training.train(functools.partial(mlp.apply, model), params, opt, data, net.num_epochs,
                           stop_below=net.stop_below, record=net.record())
    final = trace.state.params
    out = {**trace.metrics, "diverged_at": trace.diverged_at, "stopped_at": trace.stopped_at}
    for name, r in FIT_RANGES.items():
        out[f"fit_{name}"] = mlp.predict_scalar(model, final, jnp.linspace(-r, r, FIT_POINTS))
    return out, final


def training_loss(net: Net, data: training.Dataset):
    """theta -> L(theta) = 1/N sum_i (f(x_i; theta) - y_i)^2 on the training points."""
    return functools.partial(training.mse, functools.partial(mlp.apply, net.model()),
                             x=data.x_train, y=data.y_train)


def curves(key: jax.Array, hp: dict, data: training.Dataset, *, net: Net) -> dict:
    """One initialization's curves and fits at gamma = hp['learning_rate'] (the function swept)."""
    return train_one(net, key, data, hp["learning_rate"])[0]


def curves_and_sharpness(key: jax.Array, hp: dict, data: training.Dataset, *, net: Net, lanczos_steps: int) -> dict:
    """Curves, fits and lambda_max(grad^2 L(theta_T)) of one initialization at gamma = hp['learning_rate']."""
    out, final = train_one(net, key, data, hp["learning_rate"])
    out["sharpness"] = curvature.hessian_top_eigenvalue(training_loss(net, data), final, init_keys(key)[1],
                                                        num_steps=lanczos_steps)
    return out


def sweep_inits(sweeper: runner.Sweeper, fn, key: jax.Array, seeds: int, data: training.Dataset,
                learning_rates: np.ndarray) -> dict:
    """fn(init key s, {'learning_rate': gamma_l}, data) for all l and s < seeds in one vmapped call: (L, S, ...) arrays.

    The init keys split(key, seeds) are the same for every configuration and learning
    rate (common random numbers); the step compiles with YNNPACK kept to dots
    (``run.small_reductions_options``), which the broadcast products need.
    """
    out = sweeper.sweep(fn, jax.random.split(key, seeds), data, axes={"learning_rate": learning_rates},
                        compiler_options=runner.small_reductions_options())
    return jax.tree.map(np.asarray, out)


def dataset(outs: list, lead: dict, data: training.Dataset, net: Net, coords: Optional[dict] = None,
            dims: dict = CURVE_DIMS) -> xr.Dataset:
    """The sweeps' outputs as arrays (*lead, seed, ...): ``outs`` concatenated over their run axes, shaped as ``lead``.

    ``lead`` maps the run dimensions (before ``seed``) to their coordinates, ``dims``
    names the trailing dimensions of each output (scalars per run have none), and
    ``coords`` adds coordinates (e.g. ones along a run dimension).
    """
    seeds = outs[0]["diverged_at"].shape[-1]
    shape = tuple(len(v) for v in lead.values())
    run_dims = tuple(lead) + ("seed",)

    def joined(name):
        tail = 1 + len(dims.get(name, ()))  # the seed axis and the output's own axes
        whole = np.concatenate([o[name].reshape((-1,) + o[name].shape[-tail:]) for o in outs])
        return whole.reshape(shape + whole.shape[1:])

    variables = {name: (run_dims + dims.get(name, ()), joined(name)) for name in outs[0]}
    points = {"x_train": data.x_train, "y_train": data.y_train, "x_test": data.x_test, "y_test": data.y_test}
    variables.update({n: ("point" if n.endswith("train") else "test_point", np.asarray(v[:, 0]))
                      for n, v in points.items()})
    coordinates = {**lead, "seed": np.arange(seeds), "epoch": np.asarray(net.record()),
                   **{f"x_{name}": np.linspace(-r, r, FIT_POINTS) for name, r in FIT_RANGES.items()}, **(coords or {})}
    return xr.Dataset(variables, coords=coordinates)
