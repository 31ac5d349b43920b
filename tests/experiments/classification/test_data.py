"""The C experiments' data: sources, data_dir (used, and checked to exist), one-line errors."""

import jax
import numpy as np
import pytest

from jaxopt_course.data import digits
from jaxopt_course.data.dataset import DataError
from jaxopt_course.experiments.classification import c1_gradient_norms as C1
from jaxopt_course.experiments.classification import c2_classifier as C2
from jaxopt_course.experiments.classification import data


def test_data_dir_is_where_the_digits_are_read(small_digits_dir):
    loaded = data.load("digits", small_digits_dir)
    assert small_digits_dir in loaded.info["data_source"] and "50 per class" in loaded.info["data_source"]
    assert (loaded.info["n_train"], loaded.info["n_test"]) == (400, 100) and loaded.arrays.x_train.shape == (400, 784)
    x = np.asarray(loaded.arrays.x_train)
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1.0) < 1e-4  # standardized by the training pixels
    np.testing.assert_allclose(np.asarray(loaded.arrays.x_test) * loaded.info["normalization"]["std"]
                               + loaded.info["normalization"]["mean"],
                               loaded.dataset.test.images.reshape(100, -1), atol=1e-5)


def test_a_missing_data_dir_is_refused_not_ignored(tmp_path):
    for config in (C1.Config, C2.Config):
        with pytest.raises(ValueError, match="does not exist"):
            config(data_dir=str(tmp_path / "missing"))
        with pytest.raises(ValueError, match="data_dir .* does not exist"):
            config(source="digits", data_dir=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="does not exist"):
        data.load("digits", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="not cached at"):
        data.load("digits", str(tmp_path))  # a directory without digits.npz


def test_a_missing_cache_is_reported_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(digits.CACHE_ENV, str(tmp_path / "empty_cache"))
    with pytest.raises(DataError, match=r"run `python -m jaxopt_course.data.fetch_digits`") as err:
        C2.run(C2.Config.quick(), jax.random.key(0))
    assert "\n" not in str(err.value)
