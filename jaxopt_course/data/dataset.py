"""Labelled image datasets in memory: train/test splits, training-set normalization.

A ``Dataset`` holds two ``Split``s of float32 images in [0, 1] and int32 labels,
plus a one-line description of where the data came from (written to
results.json). Everything here works on host NumPy arrays: the data are prepared
once, then handed to jit-compiled training as device arrays. Datasets that do not
fit in memory are out of scope (MNIST is 55 MB as float32).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np


class DataError(ValueError):
    """Missing, corrupt or inconsistent data (a user-facing problem, reported in one line)."""


class Split(NamedTuple):
    """One split of a labelled image dataset."""

    images: np.ndarray  # shape=(n, h, w), float32 in [0, 1].
    labels: np.ndarray  # shape=(n,), int32 class indices in [0, num_classes).


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits and their origin."""

    train: Split
    test: Split
    source: str  # where the data came from, its licence and the split (one line).
    num_classes: int = 10

    @property
    def image_shape(self) -> tuple[int, int]:
        """(h, w) of one image."""
        return tuple(self.train.images.shape[1:])


class Normalized(NamedTuple):
    """Flattened, standardized arrays ready for training, and the statistics used."""

    x_train: np.ndarray  # shape=(n_train, h*w), float32: (x - mean) / std.
    y_train: np.ndarray  # shape=(n_train,), int32.
    x_test: np.ndarray  # shape=(n_test, h*w), float32, standardized with the *training* mean/std.
    y_test: np.ndarray  # shape=(n_test,), int32.
    mean: float  # mean of all training pixels.
    std: float  # standard deviation of all training pixels.


def make_split(images, labels, num_classes: int = 10) -> Split:
    """Validate (n, h, w) images in [0, 1] and (n,) labels in [0, C) and store them as float32/int32."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3:
        raise DataError(f"images must have shape (n, h, w), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"labels must have shape (n,), got {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise DataError("a split must contain at least one example")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0:
        raise DataError("image values must be finite and lie in [0, 1]")
    return Split(images, labels.astype(np.int32))


def stratified_split(labels: np.ndarray, train_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): per class, the first floor(p n_c) examples train, the rest test.

    Deterministic (no randomness), so every user gets the same split of the same file.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    labels = np.asarray(labels)
    train, test = [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        cut = int(np.floor(train_fraction * members.size))
        train.append(members[:cut])
        test.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def normalize(dataset: Dataset) -> Normalized:
    """x -> (x - mu) / sigma with mu, sigma the mean and std of all *training* pixels; images flattened."""
    train = dataset.train.images.reshape(dataset.train.images.shape[0], -1)
    test = dataset.test.images.reshape(dataset.test.images.shape[0], -1)
    mean = float(np.mean(train, dtype=np.float64))
    std = float(np.std(train, dtype=np.float64))
    if not std > 0.0:
        raise DataError("the training images are constant: their standard deviation is 0")

    def standardize(x):
        return ((x.astype(np.float64) - mean) / std).astype(np.float32)

    return Normalized(standardize(train), dataset.train.labels, standardize(test), dataset.test.labels, mean, std)
