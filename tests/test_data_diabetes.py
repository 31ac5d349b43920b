"""The diabetes data (R2): the split partitions the rows and is standardized on training statistics only."""

import numpy as np
import pytest

from jaxopt_course.data import diabetes


def test_diabetes_splits_partition_and_standardize(getkey):
    x_raw, y_raw = diabetes.load_raw()
    assert x_raw.shape == (442, 10) and y_raw.shape == (442,)
    s = diabetes.diabetes_splits(getkey())
    assert (s.x_train.shape[0], s.x_val.shape[0], s.x_test.shape[0]) == (266, 88, 88)
    np.testing.assert_allclose(np.mean(s.x_train, 0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(s.x_train, 0), 1.0, rtol=1e-5)
    np.testing.assert_allclose([np.mean(s.y_train), np.std(s.y_train)], [0.0, 1.0], atol=1e-5)
    # the splits partition the rows: un-standardized targets are the raw targets, each used once
    y_all = np.concatenate([s.y_train, s.y_val, s.y_test]) * float(s.y_std) + float(s.y_mean)
    np.testing.assert_allclose(np.sort(y_all), np.sort(y_raw), atol=1e-3)
    with pytest.raises(ValueError, match="fractions"):
        diabetes.split_sizes(442, 0.6, 0.5)
