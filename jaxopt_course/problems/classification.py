"""Supervised classification: min_theta 1/n sum_i -log p_theta(y_i | x_i), trained by minibatches.

One training run is ``train(model, optimizer, data, key, ...)``: the runner
(``run.run``) iterates minibatch steps with one chunk per epoch (the batch
indices of an epoch drawn in one go from the epoch's key, the epoch one
``lax.scan``), and at each epoch's end records the train/test loss and accuracy
on the whole splits together with the epoch means of the minibatch losses and of
the per-layer weight-gradient norms ||dL_B/dW_l||_F (one per batch, averaged over
the epoch's batches). Biases, when present, are left out of these norms; a run
that does not plot them (C2) turns them off with ``grad_norms=False``.

Microbatches. ``microbatches=m`` evaluates each minibatch's loss as m sums over
equal slices of the batch, sum_j sum_{i in slice j} w_i l_i / sum_i w_i: the same
loss and gradient (up to float rounding), but m independent forward/backward
chains that XLA:CPU runs on different cores. One seed on a 2-core CPU trains an
epoch of C2 about 10% faster with m = 2 (``default_microbatches``); vmapped seeds
already give XLA batched products, and there m = 2 was slower.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_course import run as runner
from jaxopt_course.data.batching import Batches, epoch_sampler, num_batches, weighted_mean
from jaxopt_course.models.classifier import MLPClassifier, init_params, nll, weight_norms
from jaxopt_course.optim.base import GradientTransformation, apply_updates


class Data(NamedTuple):
    """Standardized, flattened arrays (device arrays; shared by all seeds of a sweep)."""

    x_train: jax.Array  # shape=(n_train, d), float32.
    y_train: jax.Array  # shape=(n_train,), int32.
    x_test: jax.Array  # shape=(n_test, d), float32.
    y_test: jax.Array  # shape=(n_test,), int32.


class TrainState(NamedTuple):
    """The runner's state: optimizer state and this epoch's running sums."""

    opt: runner.OptimState  # theta_k, optimizer state.
    norm_sum: jax.Array  # shape=(L,): sum over this epoch's batches of ||grad W_l||_F.
    loss_sum: jax.Array  # shape=(): sum over this epoch's batches of the minibatch loss.
    batches: jax.Array  # shape=(), int32: batches summed so far this epoch.


def check_data(data: Data) -> Data:
    """ValueError unless x are (n, d) float arrays and y (n,) integer arrays with matching n and d."""
    for x, y, name in ((data.x_train, data.y_train, "train"), (data.x_test, data.y_test, "test")):
        if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"{name}: x must be (n, d) and y (n,) with n >= 1, got {x.shape} and {y.shape}")
        if not jnp.issubdtype(x.dtype, jnp.floating) or not jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError(f"{name}: x must be floating and y integer, got {x.dtype} and {y.dtype}")
    if data.x_train.shape[1] != data.x_test.shape[1]:
        raise ValueError(f"train and test inputs differ in dimension: "
                         f"{data.x_train.shape[1]} vs {data.x_test.shape[1]}")
    return data


def batch_loss(model: MLPClassifier, params, x: jax.Array, y: jax.Array, weight: jax.Array,
               microbatches: int = 1) -> jax.Array:
    """L_B(theta) = sum_i w_i (-log p_theta(y_i | x_i)) / sum_i w_i, the minibatch *mean* NLL, forward over m slices."""
    size = x.shape[0] // check_microbatches(x.shape[0], microbatches)
    parts = [slice(j * size, (j + 1) * size) for j in range(microbatches)]
    losses = jnp.concatenate([nll(model.apply({"params": params}, x[s]), y[s]) for s in parts])
    return weighted_mean(losses, weight)


def default_microbatches(batch_size: int, seeds: int = 1) -> int:
    """2 for one seed on a multi-core CPU with an even batch, else 1 (see the module docstring)."""
    cpu = jax.default_backend() == "cpu" and (os.cpu_count() or 1) >= 2
    return 2 if cpu and seeds == 1 and batch_size % 2 == 0 else 1


def check_microbatches(batch_size: int, microbatches: int) -> int:
    """ValueError unless m is a positive integer dividing the batch size."""
    if isinstance(microbatches, bool) or int(microbatches) != microbatches or microbatches < 1 \
            or batch_size % microbatches:
        raise ValueError(f"microbatches must be a positive integer dividing the batch size {batch_size}, "
                         f"got {microbatches!r}")
    return int(microbatches)


def evaluate(model: MLPClassifier, params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean NLL, accuracy) of the model on a whole split."""
    log_probs = model.apply({"params": params}, x)
    return jnp.mean(nll(log_probs, y)), jnp.mean((jnp.argmax(log_probs, axis=-1) == y).astype(jnp.float32))


def make_step(model: MLPClassifier, optimizer: GradientTransformation, data: Data, batch_size: int, *,
              grad_norms: bool = True, microbatches: int = 1):
    """The runner step for minibatch k: theta <- theta + update(grad L_B(theta)); epoch sums reset at k % nb == 0.

    Its state comes from ``init_state(..., grad_norms=grad_norms)``.
    """
    nb = num_batches(data.x_train.shape[0], batch_size)
    microbatches = check_microbatches(batch_size, microbatches)
    loss_and_grad = jax.value_and_grad(lambda p, x, y, w: batch_loss(model, p, x, y, w, microbatches))

    def step(state: TrainState, k: jax.Array, batch: Batches) -> TrainState:
        loss, grads = loss_and_grad(state.opt.params, data.x_train[batch.index], data.y_train[batch.index],
                                    batch.weight)
        updates, opt_state = optimizer.update(grads, state.opt.opt_state, state.opt.params)
        params = apply_updates(state.opt.params, updates)
        fresh = (k % nb) == 0
        keep = jnp.where(fresh, 0.0, 1.0)
        return TrainState(
            runner.OptimState(params, opt_state, None),
            keep * state.norm_sum + weight_norms(grads) if grad_norms else state.norm_sum,
            keep * state.loss_sum + loss,
            jnp.where(fresh, 0, state.batches) + 1,
        )

    return step


def epoch_metrics(state: TrainState) -> dict:
    """This epoch's means over its batches: minibatch loss and (when tracked) per-layer ||grad W_l||_F."""
    count = jnp.maximum(state.batches, 1).astype(state.loss_sum.dtype)
    out = {"batch_loss": state.loss_sum / count}
    if state.norm_sum.shape[0]:
        out["grad_norm"] = state.norm_sum / count
    return out


def diverged(state: TrainState) -> jax.Array:
    """The runner's divergence test on theta_k only (a non-finite gradient reaches theta in the same step)."""
    return runner.not_finite(state.opt)


def make_metrics(model: MLPClassifier, data: Data, evaluate_train: bool = True):
    """metrics(state): epoch means plus test (and train) loss and accuracy on the whole splits."""

    def metrics(state: TrainState) -> dict:
        out = epoch_metrics(state)
        out["test_loss"], out["test_accuracy"] = evaluate(model, state.opt.params, data.x_test, data.y_test)
        if evaluate_train:
            out["train_loss"], out["train_accuracy"] = evaluate(model, state.opt.params, data.x_train, data.y_train)
        return out

    return metrics


def init_state(params, optimizer: GradientTransformation, grad_norms: bool = True) -> TrainState:
    """state_0: theta_0, the optimizer's fresh state and zero epoch sums (no norm sums without grad_norms)."""
    return TrainState(runner.optimizer_init(params, optimizer),
                      jnp.zeros((len(params) if grad_norms else 0,), jnp.float32),
                      jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))


def train(model: MLPClassifier, optimizer: GradientTransformation, data: Data, key: jax.Array, *, epochs: int,
          batch_size: int, params=None, metrics=None, grad_norms: bool = True,
          microbatches: int = 1) -> runner.Trace:
    """Train for ``epochs`` epochs of minibatch steps; metrics recorded at every epoch end (and at step 0).

    ``params`` overrides the initial point (default: the model's initialization
    from ``key``); ``metrics`` defaults to ``make_metrics(model, data)`` (pass
    ``epoch_metrics`` to skip the whole-split evaluations). Returns the runner's
    Trace: ``steps`` = epoch * nb and metrics with a leading (epochs + 1) axis;
    ``batch_loss`` and ``grad_norm`` at record 0 are zeros (no epoch has run yet).
    ``grad_norms=False`` skips the per-batch norms (no ``grad_norm`` metric);
    ``microbatches`` splits each batch's forward/backward (see the module docstring).
    Call under jit (``run.sweep`` does).
    """
    check_data(data)
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    nb = num_batches(data.x_train.shape[0], batch_size)
    init_key, order_key = jax.random.split(key)
    if params is None:
        params = init_params(model, init_key, data.x_train.shape[1])
    state = init_state(params, optimizer, grad_norms)
    return runner.run(
        make_step(model, optimizer, data, batch_size, grad_norms=grad_norms, microbatches=microbatches),
        state, epochs * nb, diverged=diverged,
        metrics=make_metrics(model, data) if metrics is None else metrics,
        record=runner.stride_grid(epochs * nb, nb),
        key=order_key, sample=epoch_sampler(data.x_train.shape[0], batch_size), chunk=nb,
    )
