"""The C experiments' data: MNIST (or the offline digits), standardized by the training pixels.

Sources (``jaxopt_course.data.mnist``): ``auto`` reads IDX files in ``data_dir`` if it
holds them, else tensorflow-datasets (with ``data_dir`` as its directory if given),
else the offline digits; ``idx`` and ``tfds`` read ``data_dir``; ``digits`` reads the
offline digits cache, ``data_dir/digits.npz`` when a ``data_dir`` is given. Inputs
are standardized with the mean and standard deviation of all training pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

import jax.numpy as jnp

from jaxopt_course.data import digits, mnist
from jaxopt_course.data.dataset import Dataset, normalize
from jaxopt_course.problems import classification as cl
from jaxopt_course.progress import timed
from jaxopt_course.validation import existing_directory


class Loaded(NamedTuple):
    """A dataset, its description for results.json and its standardized device arrays."""

    dataset: Dataset  # the images in [0, 1] (C2 shows some).
    info: dict  # data_source, n_train, n_test, input_dim, normalization.
    arrays: cl.Data  # (x - mean) / std, flattened, as device arrays.


def read(source: str, data_dir: Optional[str]) -> Dataset:
    """The dataset from ``source``; ``data_dir`` (checked to exist) is where it is read from."""
    existing_directory("data_dir", data_dir)
    if source == "digits" and data_dir is not None:
        return digits.load_digits(digits.cache_path(Path(data_dir).expanduser()))
    return mnist.load(source, data_dir)


def load(source: str, data_dir: Optional[str]) -> Loaded:
    """The dataset, its description (source, sizes, the standardization) and the standardized arrays."""
    with timed(f"loading data (source {source})"):
        dataset = read(source, data_dir)
    norm = normalize(dataset)
    info = {"data_source": dataset.source, "n_train": int(norm.y_train.size), "n_test": int(norm.y_test.size),
            "input_dim": int(norm.x_train.shape[1]), "normalization": {"mean": norm.mean, "std": norm.std}}
    arrays = cl.Data(*(jnp.asarray(a) for a in (norm.x_train, norm.y_train, norm.x_test, norm.y_test)))
    return Loaded(dataset, info, arrays)
