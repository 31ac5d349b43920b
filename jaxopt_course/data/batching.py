"""Minibatches by a PRNG key per epoch, shaped for the runner's bulk noise draws.

An epoch is a fresh random order of the n training examples cut into
ceil(n / B) batches of B indices; the last batch is padded with weight-0 entries,
so every example is used exactly once per epoch and every batch has the static
shape (B,) that a ``lax.scan`` needs. A minibatch loss is the *weighted mean*
sum_i w_i l_i / sum_i w_i: an average over the real examples of the batch (never
a sum), as PyTorch's DataLoader with ``drop_last=False`` would give.

With ``run.run(..., sample=epoch_sampler(n, B), chunk=num_batches(n, B))`` each
of the runner's chunks is one epoch: its batch indices are drawn in one go from
``fold_in(key, epoch)`` and the epoch is one ``lax.scan`` over its batches.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class Batches(NamedTuple):
    """The batches of one epoch (a leading batch axis, as the runner slices noise)."""

    index: jax.Array  # shape=(num_batches, B), int32: example indices.
    weight: jax.Array  # shape=(num_batches, B), float32: 1 for real examples, 0 for padding.


def _check_sizes(num_examples: int, batch_size: int) -> None:
    """ValueError unless n >= 1 and 1 <= B are integers."""
    for name, value in (("num_examples", num_examples), ("batch_size", batch_size)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def num_batches(num_examples: int, batch_size: int) -> int:
    """ceil(n / B): batches per epoch, the last one possibly partial."""
    _check_sizes(num_examples, batch_size)
    return -(-int(num_examples) // int(batch_size))


def epoch_batches(key: jax.Array, num_examples: int, batch_size: int) -> Batches:
    """A uniformly random permutation of 0..n-1 cut into ceil(n/B) batches of B (last one padded)."""
    nb = num_batches(num_examples, batch_size)
    order = jax.random.permutation(key, num_examples).astype(jnp.int32)
    pad = nb * batch_size - num_examples
    index = jnp.concatenate([order, jnp.zeros((pad,), jnp.int32)]).reshape(nb, batch_size)
    weight = (jnp.arange(nb * batch_size) < num_examples).astype(jnp.float32).reshape(nb, batch_size)
    return Batches(index, weight)


def epoch_sampler(num_examples: int, batch_size: int) -> Callable[[jax.Array, int], Batches]:
    """``sample(key, m)`` for ``run.run``: one epoch of batches; m must be ceil(n/B) (chunk = epoch)."""
    nb = num_batches(num_examples, batch_size)

    def sample(key: jax.Array, count: int) -> Batches:
        if count != nb:
            raise ValueError(f"an epoch has {nb} batches; run the runner with chunk={nb}, got {count}")
        return epoch_batches(key, num_examples, batch_size)

    return sample


def weighted_mean(values: jax.Array, weight: jax.Array) -> jax.Array:
    """sum_i w_i v_i / sum_i w_i: the mean over the real (weight-1) entries of a batch."""
    if values.shape != weight.shape:
        raise ValueError(f"values {values.shape} and weights {weight.shape} must have the same shape")
    return jnp.sum(weight * values) / jnp.maximum(jnp.sum(weight), 1.0)
