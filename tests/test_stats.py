"""stats.py (scipy.stats underneath): Wilson intervals against the closed form, NaN-aware standard errors."""

import statistics

import numpy as np
import pytest

from jaxopt_course import stats


def wilson_closed_form(k, n, confidence):
    """(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), written out."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return center - half, center + half


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_wilson_interval_is_the_closed_form_elementwise(confidence):
    n = np.array([[1, 7, 20, 256], [3, 50, 100, 1000]])
    k = np.array([[0, 3, 20, 128], [1, 0, 99, 1]])
    lo, hi = stats.wilson_interval(k, n, confidence)
    assert lo.shape == hi.shape == k.shape
    want_lo, want_hi = wilson_closed_form(k.astype(float), n.astype(float), confidence)
    np.testing.assert_allclose(lo, np.clip(want_lo, 0, 1), atol=1e-12)
    np.testing.assert_allclose(hi, np.clip(want_hi, 0, 1), atol=1e-12)
    p = k / n
    assert np.all((lo <= p) & (p <= hi)) and np.all((0 <= lo) & (hi <= 1))


def test_wilson_interval_broadcasts_a_scalar_trial_count_and_rejects_bad_counts():
    lo, hi = stats.wilson_interval(np.array([0, 5, 10]), 10)
    assert lo[0] == 0.0 and hi[2] == 1.0 and lo.shape == (3,)
    for k, n in [(11, 10), (-1, 10), (1, 0), (1.5, 10)]:
        with pytest.raises(ValueError, match="successes"):
            stats.wilson_interval(k, n)
    with pytest.raises(ValueError, match="confidence"):
        stats.wilson_interval(1, 10, confidence=1.0)


def test_nan_mean_and_standard_error_leaves_out_missing_entries():
    x = np.array([[1.0, np.nan, 4.0], [2.0, np.nan, np.nan], [6.0, 5.0, np.nan], [np.nan, np.nan, np.nan]])
    mean, se = stats.nan_mean_and_standard_error(x, axis=0)
    np.testing.assert_allclose(mean[0], 3.0)
    np.testing.assert_allclose(se[0], statistics.stdev([1.0, 2.0, 6.0]) / np.sqrt(3), rtol=1e-12)
    assert np.isnan(se[1]) and np.isnan(se[2])  # one finite entry: no standard error
    assert mean[1] == 5.0 and mean[2] == 4.0


def test_standard_error_of_diverged_replicates_is_nan_without_warnings():
    x = np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 1.0]], np.float32)  # warnings are errors in the suite
    mean, se = stats.mean_and_standard_error(x)
    assert se.dtype == np.float32 and np.isnan(se[1]) and mean[1] == np.inf
    np.testing.assert_allclose(se[0], statistics.stdev([1.0, 2.0, 4.0]) / np.sqrt(3), rtol=1e-6)
