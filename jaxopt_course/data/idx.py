"""Our reader for IDX files, the format of the original MNIST distribution.

An IDX file is a 4-byte magic number ``0x00 0x00 T D`` (T the element type, D
the number of dimensions), D big-endian uint32 dimension sizes, then the
elements in C order, big-endian. MNIST ships ``train-images-idx3-ubyte``
(magic 0x00000803: uint8, n x 28 x 28), ``train-labels-idx1-ubyte`` (magic
0x00000801: uint8, n) and the ``t10k-*`` test files, usually gzipped. Files are
recognized as gzip by their content (bytes 1f 8b), not by their name.

Reference: Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of
handwritten digits", http://yann.lecun.com/exdb/mnist/ (format description).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from jaxopt_course.data.dataset import DataError, Dataset, Split, make_split

# Element type code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions.
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension.

# The file stems of each split, in the two spellings found in the wild
# (LeCun's site and tfds use "-idx3-ubyte", some mirrors "-images.idx3-ubyte").
SPLIT_FILES = {
    "train": (("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
              ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte")),
    "test": (("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
             ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte")),
}


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it starts with the gzip signature."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err.strerror or err}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"IDX file {path} is a corrupt or truncated gzip file: {err}") from None


def parse_idx(content: bytes, name: str = "<bytes>") -> np.ndarray:
    """The array stored in IDX bytes: magic 0x0000TTDD, D uint32 sizes, then the elements."""
    if len(content) < 4:
        raise DataError(f"{name}: truncated IDX header ({len(content)} bytes, need at least 4)")
    magic = int.from_bytes(content[:4], "big")
    type_code, ndim = content[2], content[3]
    if content[:2] != b"\x00\x00" or type_code not in IDX_DTYPES or ndim == 0:
        raise DataError(f"{name}: wrong magic number 0x{magic:08x}; not an IDX file "
                        f"(MNIST images have 0x{IMAGES_MAGIC:08x}, labels 0x{LABELS_MAGIC:08x})")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{name}: truncated IDX header ({len(content)} bytes, need {header} for {ndim} dimensions)")
    shape = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(content) - header
    if found < expected:
        raise DataError(f"{name}: truncated IDX file: shape {shape} needs {expected} data bytes, found {found}")
    if found > expected:
        raise DataError(f"{name}: wrong size: shape {shape} needs {expected} data bytes, found {found} "
                        f"({found - expected} extra)")
    return np.frombuffer(content, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or plain)."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def read_idx_split(images_path, labels_path) -> Split:
    """One MNIST split from an images file (n x h x w uint8) and a labels file (n uint8)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images of shape (n, h, w), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{labels_path}: expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"mismatched counts: {images.shape[0]} images in {images_path} "
                        f"but {labels.shape[0]} labels in {labels_path}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be digits 0-9, found {labels.max()}")
    return make_split(images.astype(np.float32) / 255.0, labels)


def find_idx_file(directory: Path, stems: tuple[str, ...]) -> Path | None:
    """The first existing file among stem, stem.gz for the given spellings, or None."""
    for stem in stems:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def has_idx_files(directory) -> bool:
    """True iff the directory holds the four MNIST IDX files (any spelling, gzipped or not)."""
    directory = Path(directory)
    return directory.is_dir() and all(
        find_idx_file(directory, stems) is not None for pair in SPLIT_FILES.values() for stems in pair)


def load_idx_dir(directory) -> Dataset:
    """MNIST from the four IDX files in a directory (train 60,000 and test 10,000 for the original)."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"MNIST directory {directory} does not exist (or is not a directory)")
    splits = {}
    for split, stem_pairs in SPLIT_FILES.items():
        paths = []
        for stems in stem_pairs:
            path = find_idx_file(directory, stems)
            if path is None:
                raise DataError(f"{directory} has no {stems[0]} file (also tried {stems[1]} and .gz variants)")
            paths.append(path)
        splits[split] = read_idx_split(*paths)
    n_train, n_test = splits["train"].labels.size, splits["test"].labels.size
    return Dataset(splits["train"], splits["test"], f"IDX files in {directory} (train {n_train:,}, test {n_test:,})")
