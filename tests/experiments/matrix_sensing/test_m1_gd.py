"""M1: GD with R = r recovers X* to float32 accuracy; an (alpha, c) sweep is the single-value runs in one call."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxopt_course import kernels
from jaxopt_course.experiments.matrix_sensing import m1_gd as M1
from jaxopt_course.results import load_dataset

@pytest.fixture(scope="module")
def quick():
    return M1.run(M1.Config.quick(), jax.random.key(0))


def test_quick_recovers_to_float32_accuracy(quick):
    m = quick.metrics
    assert m["relative_error_final_max"]["all"] < 1e-5
    assert m["seeds_reaching_1e-3"]["all"] == 4 and m["diverged_seeds"]["all"] == 0
    assert 0 < m["step_size"]["all"] < 1
    assert quick.diverged == {}
    d = quick.data
    assert d.relative_error.dims == ("alpha", "step_constant", "seed", "step") and d.sizes["seed"] == 4
    assert float(d.relative_error.isel(step=-1).max()) == m["relative_error_final_max"]["all"]


def test_the_step_kernel_is_recorded(quick):
    expected = "compiled" if kernels.available() else "xla"  # one CPU device here
    assert quick.metrics["step_kernel"] == expected


def test_an_alpha_and_step_constant_sweep_gives_the_single_value_runs(quick, tmp_path):
    """alpha x c = 2 x 2 cells in one call: the quick run is the (1e-2, 0.25) cell, one more run the (1e-1, 0.2)."""
    swept = M1.run(dataclasses.replace(M1.Config.quick(), alpha=(1e-2, 1e-1), step_constant=(0.25, 0.2)),
                   jax.random.key(0))
    d = swept.data
    np.testing.assert_allclose(d.alpha.values, [1e-2, 1e-1])
    np.testing.assert_allclose(d.step_constant.values, [0.25, 0.2])
    other = M1.run(dataclasses.replace(M1.Config.quick(), alpha=1e-1, step_constant=0.2), jax.random.key(0))
    for (a, c), single in (((1e-2, 0.25), quick.data), ((1e-1, 0.2), other.data)):
        for name in ("relative_error", "loss", "step_size"):
            np.testing.assert_allclose(d[name].sel(alpha=a, step_constant=c).values,
                                       single[name].sel(alpha=a, step_constant=c).values, rtol=1e-5, atol=1e-12)
    assert len(swept.metrics["relative_error_final_median"]) == 4  # (alpha, step_constant) cells
    (png,) = M1.plot(swept, tmp_path)
    saved = load_dataset(png.with_suffix(".npz"))
    np.testing.assert_allclose(saved.step_constant.values, [0.25, 0.2])
    np.testing.assert_array_equal(saved.relative_error.values, d.relative_error.values)
