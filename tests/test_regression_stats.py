"""The standard-error helper against NumPy and the statistics module."""

import statistics

import numpy as np
import pytest

from jaxopt_course.stats import mean_and_standard_error, standard_error


def test_standard_error_matches_numpy_and_statistics(getkey):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(37, 4, 5)).astype(np.float32)
    mean, se = mean_and_standard_error(x)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(se, x.astype(np.float64).std(0, ddof=1) / np.sqrt(37), rtol=1e-5)
    column = [float(v) for v in x[:, 1, 2]]
    np.testing.assert_allclose(se[1, 2], statistics.stdev(column) / 37 ** 0.5, rtol=1e-5)


def test_standard_error_along_another_axis_and_of_a_constant():
    x = np.array([[1.0, 2.0, 3.0, 6.0], [5.0, 5.0, 5.0, 5.0]])
    # sample sd of (1, 2, 3, 6): sqrt(((-2)^2 + 1 + 0 + 3^2) / 3) = sqrt(14/3); / sqrt(4)
    np.testing.assert_allclose(standard_error(x, axis=1), [np.sqrt(14 / 3) / 2, 0.0], rtol=1e-6)


def test_a_single_replicate_has_no_standard_error():
    with pytest.raises(ValueError, match="at least 2"):
        standard_error(np.ones((1, 3)))
