"""MNIST from whatever source is available: tensorflow-datasets, IDX files, or the offline digits.

Sources (``load(source, data_dir)``):

* ``"tfds"``: ``tensorflow_datasets`` (``pip install 'jaxopt_course[mnist]'``, which
  also needs TensorFlow): downloads MNIST on first use, or reads a prepared tfds
  data directory (``data_dir``; tfds itself also honours ``$TFDS_DATA_DIR``).
  Train 60,000 / test 10,000.
* ``"idx"``: the four original IDX files (gzipped or not) in ``data_dir``; our own
  reader, no TensorFlow, no network (``jaxopt_course.data.idx``).
* ``"digits"``: the 10,000 offline digits cached by the set-up
  (``jaxopt_course.data.digits``).
* ``"auto"``: IDX files if ``data_dir`` holds them, else tfds if it is installed
  (falling back, with the reason recorded, to the offline digits when tfds fails,
  e.g. without internet and without a prepared directory), else the offline digits.

``data_dir`` defaults to ``$JAXOPT_COURSE_DATA_DIR``. Every dataset carries a
one-line ``source`` that the experiments write to results.json.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jaxopt_course.data import digits, idx
from jaxopt_course.data.dataset import DataError, Dataset, make_split
from jaxopt_course.progress import log

DATA_DIR_ENV = "JAXOPT_COURSE_DATA_DIR"
SOURCES = ("auto", "tfds", "idx", "digits")


def resolve_data_dir(data_dir=None) -> Path | None:
    """The data directory: the argument, else $JAXOPT_COURSE_DATA_DIR, else None."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    return None if value is None else Path(value).expanduser()


def tfds_available() -> bool:
    """True iff tensorflow_datasets can be imported."""
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        return False
    return True


def load_tfds(data_dir=None) -> Dataset:
    """MNIST train/test via tensorflow-datasets (download_and_prepare is a no-op once prepared)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError("tensorflow-datasets is not installed: pip install 'jaxopt_course[mnist]' "
                        "(or use IDX files with --data-dir, or the offline digits)") from None
    where = "the default tfds directory" if data_dir is None else str(data_dir)
    try:
        builder = tfds.builder("mnist", data_dir=None if data_dir is None else str(data_dir))
        builder.download_and_prepare()
        arrays = {split: tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1)) for split in ("train", "test")}
    except Exception as err:  # tfds raises many types (network, missing files, assertions)
        raise DataError(f"tensorflow-datasets could not load MNIST from {where}: "
                        f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    splits = {name: make_split(np.asarray(a["image"]).reshape(-1, 28, 28).astype(np.float32) / 255.0, a["label"])
              for name, a in arrays.items()}
    version = getattr(builder, "version", "")
    return Dataset(splits["train"], splits["test"],
                   f"tensorflow-datasets mnist {version} from {where} (train {splits['train'].labels.size:,}, "
                   f"test {splits['test'].labels.size:,}; MNIST by LeCun, Cortes and Burges, CC BY-SA 3.0)")


def load(source: str = "auto", data_dir=None) -> Dataset:
    """MNIST (or the offline digits) from the requested source; see the module docstring."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
    data_dir = resolve_data_dir(data_dir)
    if source == "digits":
        return digits.load_digits()
    if source == "idx":
        if data_dir is None:
            raise DataError(f"the idx source needs a directory: --data-dir DIR or ${DATA_DIR_ENV}")
        return idx.load_idx_dir(data_dir)
    if source == "tfds":
        return load_tfds(data_dir)
    return _load_auto(data_dir)


def _load_auto(data_dir: Path | None) -> Dataset:
    """IDX files in data_dir, else tfds, else the offline digits (the reason is kept in ``source``)."""
    if data_dir is not None:
        if not data_dir.is_dir():
            raise DataError(f"data directory {data_dir} does not exist (or is not a directory)")
        if idx.has_idx_files(data_dir):
            return idx.load_idx_dir(data_dir)
        if not tfds_available():
            raise DataError(f"{data_dir} holds no MNIST IDX files (train-images-idx3-ubyte[.gz], ...) and "
                            "tensorflow-datasets is not installed to read it as a tfds directory")
        return load_tfds(data_dir)
    if not tfds_available():
        return _offline("tensorflow-datasets is not installed and no --data-dir was given")
    try:
        return load_tfds(None)
    except DataError as err:
        return _offline(f"tfds failed: {err}")


def _offline(reason: str) -> Dataset:
    """The offline digits, with the reason full MNIST was not used appended to ``source``."""
    log(f"full MNIST unavailable ({reason}): using the offline digits")
    dataset = digits.load_digits()
    return Dataset(dataset.train, dataset.test, f"{dataset.source} (full MNIST unavailable: {reason})")
