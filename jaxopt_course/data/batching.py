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


def epoch_sampler(num_examples: int, batch_size: int, *, drop_last: bool = False) -> Callable[[jax.Array, int], Batches]:
    """``sample(key, m)`` for ``run.run``: one epoch of batches; m must be ceil(n/B) (chunk = epoch).

    With ``drop_last=True`` an epoch is floor(n/B) full batches (the n mod B examples
    left over are dropped; weights all 1) and m may be any multiple of floor(n/B): m /
    floor(n/B) epochs, the e-th a permutation by split(key, epochs)[e] (``full_batches``),
    so one runner chunk can hold a whole run.
    """
    if drop_last:
        return _full_batch_sampler(num_examples, batch_size)
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


def full_batches_per_epoch(num_examples: int, batch_size: int) -> int:
    """floor(n / B): the full batches of an epoch when the remainder is dropped (ValueError if B > n)."""
    _check_sizes(num_examples, batch_size)
    if batch_size > num_examples:
        raise ValueError(f"batch size {batch_size} exceeds the {num_examples} examples")
    return int(num_examples) // int(batch_size)


def full_batches(key: jax.Array, num_examples: int, batch_size: int, num_epochs: int) -> jax.Array:
    """(E floor(n/B), B) indices: epoch e a permutation of 0..n-1 by split(key, E)[e], cut into full batches."""
    per_epoch = full_batches_per_epoch(num_examples, batch_size)
    perms = jax.vmap(lambda k: jax.random.permutation(k, num_examples))(jax.random.split(key, num_epochs))
    return perms[:, : per_epoch * batch_size].reshape(num_epochs * per_epoch, batch_size).astype(jnp.int32)


def _full_batch_sampler(num_examples: int, batch_size: int) -> Callable[[jax.Array, int], Batches]:
    """``sample(key, m)``: m / floor(n/B) epochs of full batches (``epoch_sampler(..., drop_last=True)``)."""
    per_epoch = full_batches_per_epoch(num_examples, batch_size)

    def sample(key: jax.Array, count: int) -> Batches:
        if count % per_epoch:
            raise ValueError(f"an epoch has {per_epoch} full batches; {count} steps are not whole epochs")
        index = full_batches(key, num_examples, batch_size, count // per_epoch)
        return Batches(index, jnp.ones(index.shape, jnp.float32))

    return sample
