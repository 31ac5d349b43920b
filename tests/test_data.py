"""The data package: our IDX reader and its errors, normalization, splits, batching, sources."""

import gzip
import struct
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import run as runner
from jaxopt_course.data import batching, dataset, idx, mnist
from jaxopt_course.data.dataset import DataError

TYPE_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B,
              np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding written independently of the reader: magic, big-endian sizes, big-endian data."""
    array = np.asarray(array)
    header = bytes([0, 0, TYPE_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, content: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def write_mnist_dir(directory, n_train=12, n_test=5, gz=True, spelling=0, seed=0):
    """Four small IDX files in MNIST's layout; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (img_stems, lbl_stems) = idx.SPLIT_FILES[split]
        suffix = ".gz" if gz else ""
        write(directory / (img_stems[spelling] + suffix), idx_bytes(images), gz)
        write(directory / (lbl_stems[spelling] + suffix), idx_bytes(labels), gz)
        arrays[split] = (images, labels)
    return arrays


# ----------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_read_idx_round_trips_every_type(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4)
    array = (array % 256 if dtype == "uint8" else array * 3 if dtype != "int8" else array).astype(dtype)
    if dtype.startswith("float"):
        array = array * np.asarray(0.37, dtype)
    path = write(tmp_path / "a.idx", idx_bytes(array), gz)
    out = idx.read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_big_endian_decoding_is_explicit(tmp_path):
    content = bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + bytes([0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(idx.read_idx(write(tmp_path / "x", content)), [258, -2])


@pytest.mark.parametrize("gz, spelling", [(True, 0), (False, 0), (False, 1), (True, 1)])
def test_load_idx_dir(tmp_path, gz, spelling):
    arrays = write_mnist_dir(tmp_path, gz=gz, spelling=spelling)
    assert idx.has_idx_files(tmp_path)
    data = idx.load_idx_dir(tmp_path)
    for split, name in ((data.train, "train"), (data.test, "test")):
        images, labels = arrays[name]
        assert split.images.dtype == np.float32 and split.labels.dtype == np.int32
        np.testing.assert_allclose(split.images, images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(split.labels, labels)
    assert "train 12, test 5" in data.source


def _truncate(content: bytes, n: int) -> bytes:
    return content[:n]


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00", "truncated IDX header"),
    (b"\x08\x03\x00\x00" + b"\x00" * 20, "wrong magic number 0x08030000"),
    (b"\x00\x00\x07\x01" + b"\x00" * 20, "wrong magic number 0x00000701"),
    (b"\x00\x00\x08\x00", "wrong magic number 0x00000800"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
    (idx_bytes(np.zeros((3, 2, 2), np.uint8))[:-1], "truncated IDX file"),
    (idx_bytes(np.zeros((3,), np.uint8)) + b"\x00\x00", "wrong size"),
])
def test_read_idx_errors(tmp_path, content, message):
    with pytest.raises(DataError, match=message) as err:
        idx.read_idx(write(tmp_path / "bad", content))
    assert isinstance(err.value, ValueError)


def test_truncated_gzip_is_reported(tmp_path):
    packed = gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        idx.read_idx(write(tmp_path / "x.gz", packed[: len(packed) // 2]))


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        idx.load_idx_dir(tmp_path / "nowhere")
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    assert not idx.has_idx_files(tmp_path)
    with pytest.raises(DataError, match="has no t10k-labels-idx1-ubyte"):
        idx.load_idx_dir(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        idx.read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz")


def test_mismatched_counts_and_bad_contents(tmp_path):
    write_mnist_dir(tmp_path, gz=False)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="mismatched counts: 5 images .* but 4 labels"):
        idx.load_idx_dir(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.full(5, 10, np.uint8)))
    with pytest.raises(DataError, match="labels must be digits 0-9"):
        idx.load_idx_dir(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(5, np.uint8)))
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="expected uint8 images"):
        idx.load_idx_dir(tmp_path)


# ----------------------------------------------------------------------------- splits, normalization


def _toy_dataset(seed=0, n_train=30, n_test=10):
    rng = np.random.default_rng(seed)
    train = dataset.make_split(rng.uniform(size=(n_train, 4, 4)) ** 2, rng.integers(0, 10, n_train))
    test = dataset.make_split(rng.uniform(size=(n_test, 4, 4)), rng.integers(0, 10, n_test))
    return dataset.Dataset(train, test, "toy")


def test_normalize_uses_training_statistics_only():
    data = _toy_dataset()
    norm = dataset.normalize(data)
    train64 = data.train.images.astype(np.float64)
    assert norm.mean == pytest.approx(train64.mean(), rel=1e-12)
    assert norm.std == pytest.approx(train64.std(), rel=1e-12)
    assert norm.x_train.shape == (30, 16) and norm.x_train.dtype == np.float32
    np.testing.assert_allclose(norm.x_train.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(norm.x_train.std(), 1.0, atol=1e-5)
    # The test split is standardized with the *training* mean and std (so its own mean is not 0).
    np.testing.assert_allclose(norm.x_test * norm.std + norm.mean, data.test.images.reshape(10, 16), atol=1e-6)
    assert abs(norm.x_test.mean()) > 0.05


def test_normalize_rejects_constant_images():
    data = _toy_dataset()
    flat = dataset.Dataset(dataset.make_split(np.zeros((3, 2, 2)), np.zeros(3, int)), data.test, "flat")
    with pytest.raises(DataError, match="standard deviation is 0"):
        dataset.normalize(flat)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((3, 4)), np.zeros(3, int), "shape \\(n, h, w\\)"),
    (np.zeros((3, 2, 2)), np.zeros(2, int), "3 images but 2 labels"),
    (np.full((3, 2, 2), 1.5), np.zeros(3, int), "lie in \\[0, 1\\]"),
    (np.zeros((3, 2, 2)), np.array([0, 1, 10]), "labels must lie in"),
])
def test_make_split_errors(images, labels, message):
    with pytest.raises(DataError, match=message):
        dataset.make_split(images, labels)


def test_stratified_split_is_deterministic_and_per_class():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 7)
    train, test = dataset.stratified_split(labels, 0.8)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(labels.size))
    np.testing.assert_array_equal(np.bincount(labels[train]), [8, 4, 5])
    np.testing.assert_array_equal(train[:8], np.arange(8))  # the first 80% of each class
    with pytest.raises(ValueError, match="train_fraction"):
        dataset.stratified_split(labels, 1.0)


# ----------------------------------------------------------------------------- batching


def test_epoch_batches_cover_every_example_once(getkey):
    b = batching.epoch_batches(getkey(), 10, 4)
    assert b.index.shape == (3, 4) and b.weight.shape == (3, 4) and b.index.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(b.weight).sum(axis=1), [4, 4, 2])
    real = np.asarray(b.index)[np.asarray(b.weight) > 0]
    np.testing.assert_array_equal(np.sort(real), np.arange(10))
    assert batching.num_batches(10, 4) == 3 and batching.num_batches(8, 4) == 2 and batching.num_batches(3, 64) == 1


def test_epochs_are_reshuffled_by_key(getkey):
    a, b = (np.asarray(batching.epoch_batches(k, 100, 10).index) for k in (getkey(), getkey()))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(np.sort(a.ravel()), np.sort(b.ravel()))


def test_weighted_mean_averages_real_entries_only():
    values = jnp.array([1.0, 2.0, 3.0, 100.0])
    weight = jnp.array([1.0, 1.0, 1.0, 0.0])
    assert float(batching.weighted_mean(values, weight)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="same shape"):
        batching.weighted_mean(values, weight[:3])


@pytest.mark.parametrize("n, b", [(0, 4), (10, 0), (10, 2.5), (True, 3)])
def test_batching_rejects_bad_sizes(n, b):
    with pytest.raises(ValueError, match="positive integer"):
        batching.num_batches(n, b)


def test_runner_with_epoch_sampler_visits_each_example_once_per_epoch(getkey):
    n, bsz, epochs = 11, 4, 3
    nb = batching.num_batches(n, bsz)

    def step(state, k, batch):
        counts, orders = state
        counts = counts.at[k // nb, batch.index].add(batch.weight)
        orders = orders.at[k].set(batch.index)
        return counts, orders

    state = (jnp.zeros((epochs, n)), jnp.zeros((epochs * nb, bsz), jnp.int32))
    trace = jax.jit(lambda key: runner.run(step, state, epochs * nb, metrics=lambda s: {}, record=[epochs * nb],
                                           key=key, sample=batching.epoch_sampler(n, bsz), chunk=nb))(getkey())
    counts, orders = trace.state
    np.testing.assert_array_equal(counts, np.ones((epochs, n)))
    orders = np.asarray(orders).reshape(epochs, nb * bsz)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    with pytest.raises(ValueError, match="chunk=3"):
        batching.epoch_sampler(n, bsz)(getkey(), 5)


# ----------------------------------------------------------------------------- sources


def test_load_rejects_unknown_source_and_idx_without_directory(monkeypatch):
    monkeypatch.delenv(mnist.DATA_DIR_ENV, raising=False)
    with pytest.raises(ValueError, match="source must be one of"):
        mnist.load("kaggle")
    with pytest.raises(DataError, match="needs a directory"):
        mnist.load("idx")


def test_auto_prefers_idx_files_in_data_dir(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path)
    assert mnist.load("auto", tmp_path).source.startswith("IDX files in")
    monkeypatch.setenv(mnist.DATA_DIR_ENV, str(tmp_path))
    assert mnist.load("idx").train.labels.size == 12
    with pytest.raises(DataError, match="does not exist"):
        mnist.load("auto", tmp_path / "missing")


class _FakeBuilder:
    """Stands in for tfds.builder('mnist'): returns arrays in tfds' layout (n, 28, 28, 1) uint8, int64."""

    version = "3.0.1"

    def __init__(self, data_dir, fail):
        self.data_dir, self.fail = data_dir, fail

    def download_and_prepare(self):
        if self.fail:
            raise ConnectionError("no internet\nsecond line")

    def as_dataset(self, split, batch_size):
        assert batch_size == -1
        n = 6 if split == "train" else 3
        image = (np.arange(n * 784) % 256).astype(np.uint8).reshape(n, 28, 28, 1)
        return {"image": image, "label": np.arange(n, dtype=np.int64) % 10}


def _fake_tfds(monkeypatch, fail=False):
    module = types.ModuleType("tensorflow_datasets")
    module.builder = lambda name, data_dir=None: _FakeBuilder(data_dir, fail)
    module.as_numpy = lambda tree: tree
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)


def test_tfds_loader_converts_layout(monkeypatch, tmp_path):
    _fake_tfds(monkeypatch)
    data = mnist.load("tfds", tmp_path)
    assert data.train.images.shape == (6, 28, 28) and data.test.labels.dtype == np.int32
    np.testing.assert_allclose(data.train.images.reshape(-1), (np.arange(6 * 784) % 256) / 255.0, rtol=1e-6)
    assert f"mnist 3.0.1 from {tmp_path}" in data.source


def test_tfds_failure_is_a_clear_error_and_auto_falls_back(monkeypatch, tmp_path):
    _fake_tfds(monkeypatch, fail=True)
    with pytest.raises(DataError, match="could not load MNIST .*ConnectionError: no internet$"):
        mnist.load("tfds")
    monkeypatch.delenv(mnist.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(mnist.digits, "load_digits", lambda: _toy_dataset())
    assert "tfds failed" in mnist.load("auto").source


def test_tfds_missing_is_reported(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(DataError, match="tensorflow-datasets is not installed"):
        mnist.load("tfds")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no MNIST IDX files"):
        mnist.load("auto", tmp_path / "empty")


def test_full_batch_epochs_are_permutations_with_the_rest_dropped(getkey):
    batches = batching.epoch_sampler(100, 32, drop_last=True)(getkey(), 6)  # 2 epochs of 3 full batches of 32
    idx = np.asarray(batches.index)
    assert idx.shape == (6, 32) and np.all(np.asarray(batches.weight) == 1)
    for epoch in (idx[:3], idx[3:]):
        assert len(np.unique(epoch)) == 96 and epoch.min() >= 0 and epoch.max() < 100
    assert not np.array_equal(idx[:3], idx[3:])
    assert batching.full_batches_per_epoch(266, 128) == 2
    with pytest.raises(ValueError, match="exceeds"):
        batching.full_batches_per_epoch(10, 32)
    with pytest.raises(ValueError, match="whole epochs"):
        batching.epoch_sampler(100, 32, drop_last=True)(getkey(), 4)
