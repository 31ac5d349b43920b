"""M3: 0 is a saddle of the population loss, GD on F escapes it; an (alpha, c) sweep is the single-value runs."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.matrix_sensing import m3_population as M3
from jaxopt_course.results import load_dataset

@pytest.fixture(scope="module")
def quick():
    return M3.run(M3.Config.quick(), jax.random.key(0))


def test_quick_saddle_at_zero(quick):
    m = quick.metrics
    lam1 = m["eigenvalues_of_X_star"][0]
    np.testing.assert_allclose(m["hessian_min_eigenvalue_at_0"], -2 * lam1, rtol=1e-5)
    kinds = [p["kind"] for p in m["critical_points"]]
    assert kinds == ["saddle", "minimum", "minimum", "saddle", "saddle"]  # r = 2: 0, +-v1, +-v2
    assert max(p["gradient_norm"] for p in m["critical_points"]) < 1e-5
    np.testing.assert_allclose(m["population_gd_final_F"]["all"], m["population_gd_final_F_closed_form"], rtol=1e-4)
    assert m["population_gd_final_alignment_with_v1"]["all"] > 0.999
    assert m["hessian_autodiff_vs_closed_form_max_abs"] < 1e-5
    assert len(m["loss_relative_gap"]) == len(m["gradient_relative_gap"]) == M3.Config.quick().seeds


def test_an_alpha_and_step_constant_sweep_gives_the_single_value_runs(quick, tmp_path):
    """alpha x c = 2 x 2 cells in one call: the quick run is the (1e-3, 0.25) cell, one more run the (1e-2, 0.2)."""
    swept = M3.run(dataclasses.replace(M3.Config.quick(), alpha=(1e-3, 1e-2), step_constant=(0.25, 0.2)),
                   jax.random.key(0))
    d = swept.data
    assert d.F.dims == ("alpha", "step_constant", "step")
    np.testing.assert_allclose(d.alpha.values, [1e-3, 1e-2])
    other = M3.run(dataclasses.replace(M3.Config.quick(), alpha=1e-2, step_constant=0.2), jax.random.key(0))
    for (a, c), single in (((1e-3, 0.25), quick.data), ((1e-2, 0.2), other.data)):
        for name in ("F", "alignment", "norm_sq", "gd_step_size", "final_coordinates"):
            np.testing.assert_allclose(d[name].sel(alpha=a, step_constant=c).values,
                                       single[name].sel(alpha=a, step_constant=c).values, rtol=1e-5, atol=1e-12)
        np.testing.assert_array_equal(d.loss_gap.values, single.loss_gap.values)
    assert len(swept.metrics["population_gd_final_F"]) == 4  # (alpha, step_constant) cells
    (png,) = M3.plot(swept, tmp_path)
    saved = load_dataset(png.with_suffix(".npz"))
    np.testing.assert_allclose(saved.step_constant.values, [0.25, 0.2])
