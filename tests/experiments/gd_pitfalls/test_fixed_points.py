"""The G3/G4 helpers: floats a few ulps from a number, and the step from which an orbit is exactly 0."""

import numpy as np

from jaxopt_course.experiments.gd_pitfalls.fixed_points import first_exact_zero, ulp_neighbours


def test_ulp_neighbours_and_first_exact_zero():
    n = ulp_neighbours(1.0, 2)
    np.testing.assert_array_equal(n, [1 - 2 * 2.0**-53, 1 - 2.0**-53, 1.0, 1 + 2.0**-52, 1 + 2 * 2.0**-52])
    assert first_exact_zero(np.array([3.0, 1.0, 0.0, 0.0])) == 2
    assert first_exact_zero(np.array([3.0, 0.0, 1e-300, 0.0])) == 3
    assert first_exact_zero(np.array([3.0, 0.0, 1.0])) == -1
    assert first_exact_zero(np.array([0.0, 0.0])) == 0
