"""Section R's summaries: per-cell divergence over seeds, masking, mean and SE over seeds, cell names."""

import numpy as np
import xarray as xr

from jaxopt_course import divergence
from jaxopt_course.experiments.regression import tables


def test_first_divergence_count_and_mask():
    div = xr.DataArray(np.array([[-1, 7, -1], [-1, 3, 12], [-1, -1, 20]], np.int32), dims=("seed", "run"))
    first = divergence.first_over(div)
    np.testing.assert_array_equal(first, [-1, 3, 12])
    np.testing.assert_array_equal(divergence.count_over(div), [0, 2, 2])
    masked = divergence.mask_after(np.array([0, 5, 10, 15]), np.ones((3, 4)), first.values)
    np.testing.assert_array_equal(np.isfinite(masked), [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])


def test_mean_and_standard_error_over_seeds_match_numpy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(4, 7, 5)).astype(np.float32)
    da = xr.DataArray(x, dims=("cell", "seed", "step"))
    mean, se = tables.mean_se(da)
    assert mean.dims == se.dims == ("cell", "step") and mean.dtype == np.float64
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(1), rtol=1e-5)
    np.testing.assert_allclose(se, x.astype(np.float64).std(1, ddof=1) / np.sqrt(7), rtol=1e-5)


def test_cells_are_named_by_the_coordinates_that_vary():
    ds = xr.Dataset(coords={"noise": [0.0], "method": ["sgd", "adam"], "gamma": [0.4, 2.0]})
    cells = tables.cells(ds, ("noise", "method", "gamma"))
    assert [name for name, _ in cells] == ["method=sgd, gamma=0.4", "method=sgd, gamma=2", "method=adam, gamma=0.4",
                                           "method=adam, gamma=2"]
    assert cells[1][1] == {"noise": 0, "method": 0, "gamma": 1}
    assert tables.label(ds, {"noise": 0}) == "all"
