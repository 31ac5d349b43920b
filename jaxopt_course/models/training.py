"""Training a network whose parameters are a pytree: the whole epoch loop in one ``lax.scan``.

L(theta; X, Y) = 1/N sum_i ||f(x_i; theta) - y_i||^2 is minimized with any optax-style
optimizer (ours in ``jaxopt_course.optim`` or optax's), full-batch (one update per
epoch) or by minibatches (a fresh permutation of the data every epoch, floor(N/B)
averaged-gradient updates per epoch). Epochs are the runner's steps, so the train
and test losses are recorded on the runner's grid (default: every epoch), and the
optional early stop ``L(theta_k) < tol`` masks all later updates inside the scan
(``Trace.stopped_at`` is the first epoch k with L(theta_k) < tol). A training run is
a pure function of its initial parameters, so it vmaps over initialization keys.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_course import run as runner
from jaxopt_course.optim.base import GradientTransformation

ApplyFn = Callable[..., jax.Array]  # (params, x) -> predictions shaped like y


class Dataset(NamedTuple):
    """Training and held-out points: x of shape (N, ...) and y of shape (N, ...)."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def _check_pair(x: jax.Array, y: jax.Array, what: str) -> None:
    """ValueError unless x and y are non-empty with the same number of points."""
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"{what}: x and y need the same non-zero leading size, got {x.shape} and {y.shape}")


def check_dataset(data: Dataset) -> Dataset:
    """The dataset itself, after checking that every x matches its y."""
    _check_pair(data.x_train, data.y_train, "training data")
    _check_pair(data.x_test, data.y_test, "test data")
    return data


def mse(apply_fn: ApplyFn, params, x: jax.Array, y: jax.Array) -> jax.Array:
    """L(theta) = 1/N sum_i ||f(x_i; theta) - y_i||^2 (the mean over points of the squared error)."""
    pred = apply_fn(params, x)
    if pred.shape != y.shape:
        raise ValueError(f"predictions have shape {pred.shape} but targets {y.shape}")
    r = (pred - y).reshape(y.shape[0], -1)
    return jnp.mean(jnp.sum(r * r, axis=1))


class EpochSampler(NamedTuple):
    """Bulk draw of one permutation of {0..N-1} per epoch: (key, n) -> (n, N) indices."""

    num_points: int

    def __call__(self, key: jax.Array, n: int) -> jax.Array:
        """n independent random permutations of the N data indices."""
        return jax.vmap(lambda k: jax.random.permutation(k, self.num_points))(jax.random.split(key, n))


def epoch_step(apply_fn: ApplyFn, optimizer: GradientTransformation, data: Dataset,
               batch_size: Optional[int]) -> runner.Step:
    """One epoch: theta <- opt(theta, grad L) once (full batch) or per minibatch of a permutation."""
    loss = functools.partial(mse, apply_fn)
    n = data.x_train.shape[0]
    if batch_size is None or batch_size == n:
        return runner.optimizer_step(lambda p, _: jax.grad(loss)(p, data.x_train, data.y_train), optimizer)
    num_batches = n // batch_size
    update = runner.optimizer_step(lambda p, idx: jax.grad(loss)(p, data.x_train[idx], data.y_train[idx]), optimizer)

    def step(state: runner.OptimState, k, perm) -> runner.OptimState:
        batches = perm[: num_batches * batch_size].reshape(num_batches, batch_size)
        return jax.lax.scan(lambda s, idx: (update(s, k, idx), None), state, batches)[0]

    return step


def _check_training(data: Dataset, num_epochs: int, batch_size, stop_below, key) -> None:
    """ValueError for bad sizes, a bad batch size, a bad threshold or a missing key."""
    check_dataset(data)
    if isinstance(num_epochs, bool) or int(num_epochs) != num_epochs or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    n = data.x_train.shape[0]
    if batch_size is not None:
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be an integer in [1, {n}], got {batch_size!r}")
        if batch_size < n and key is None:
            raise ValueError("minibatch training needs a key for the per-epoch permutations")
    if stop_below is not None and not float(stop_below) > 0:
        raise ValueError(f"stop_below must be positive, got {stop_below!r}")


def train(
    apply_fn: ApplyFn,
    params,
    optimizer: GradientTransformation,
    data: Dataset,
    num_epochs: int,
    *,
    batch_size: Optional[int] = None,
    key: Optional[jax.Array] = None,
    stop_below: Optional[float] = None,
    record=None,
) -> runner.Trace:
    """Minimize L(theta; X_train, Y_train) for ``num_epochs`` epochs from ``params``.

    Args:
      apply_fn: pure ``(params, x) -> predictions`` (e.g. ``functools.partial(mlp.apply, model)``).
      params: theta_0, any pytree.
      optimizer: an ``(init, update)`` pair (``jaxopt_course.optim`` or optax).
      data: training and held-out points.
      num_epochs: T; epoch k takes theta_k to theta_{k+1}.
      batch_size: None or N for full batch; B < N for floor(N/B) minibatch steps per epoch.
      key: PRNG key for the minibatch permutations (required when B < N).
      stop_below: if given, freeze theta from the first epoch k with L(theta_k) < stop_below.
      record: the epochs at which losses are recorded (default: every epoch).

    Returns:
      The runner's ``Trace``: ``metrics['train_loss']``, ``metrics['test_loss']`` on
      the record grid, final ``state.params``, ``diverged_at`` and ``stopped_at`` epochs.
      Call it under ``jax.jit`` (``runner.sweep`` does).
    """
    _check_training(data, num_epochs, batch_size, stop_below, key)
    loss = functools.partial(mse, apply_fn)
    full = batch_size is None or batch_size == data.x_train.shape[0]

    def metrics(state: runner.OptimState) -> dict:
        return {"train_loss": loss(state.params, data.x_train, data.y_train),
                "test_loss": loss(state.params, data.x_test, data.y_test)}

    stop = None
    if stop_below is not None:
        stop = lambda state: loss(state.params, data.x_train, data.y_train) < stop_below  # noqa: E731
    return runner.run(
        epoch_step(apply_fn, optimizer, data, batch_size),
        runner.optimizer_init(params, optimizer),
        int(num_epochs),
        metrics=metrics,
        record=runner.stride_grid(int(num_epochs), 1) if record is None else record,
        key=None if full else key,
        sample=None if full else EpochSampler(data.x_train.shape[0]),
        stop=stop,
    )
