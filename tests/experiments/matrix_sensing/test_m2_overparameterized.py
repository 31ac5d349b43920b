"""M2: a small start recovers X* and alpha = 1 does not; divergence is reported, not drawn; a step-constant sweep."""

import jax
import numpy as np
import pytest

from jaxopt_course import divergence, kernels, labelled
from jaxopt_course.experiments.matrix_sensing import m2_overparameterized as M2
from jaxopt_course.experiments.matrix_sensing.problem import masked

# R = d on a reduced over-parameterized problem (m = 100 < d(d+1)/2 = 210), both alphas in one run
SMALL = dict(d=20, r=1, m=100, num_steps=400, alphas=(1.0, 1e-3), num_records=20)


def cell(metric: dict, **coords):
    """The metric's entry for one cell, named as labelled.cells names it."""
    return metric[labelled.cell_label({k: np.asarray(v) for k, v in coords.items()})]


@pytest.fixture(scope="module")
def small():
    return M2.run(M2.Config(**SMALL), jax.random.key(0))


@pytest.fixture(scope="module")
def quick():
    return M2.run(M2.Config.quick(), jax.random.key(0))


def test_small_init_recovers_and_alpha_one_does_not(small):
    final, erank = small.metrics["relative_error_final"], small.metrics["effective_rank_final"]
    assert cell(final, alpha=1e-3) < 1e-2
    assert cell(final, alpha=1.0) > 0.5
    assert cell(erank, alpha=1e-3) < 1.5 < 5 < cell(erank, alpha=1.0)  # near rank r = 1 versus many directions
    sv = small.data.singular_values
    assert sv.dims == ("alpha", "step_constant", "step", "sv")
    assert sv.shape == (2, 1, small.data.sizes["step"], M2.TOP_K)
    np.testing.assert_allclose(sv.sel(alpha=1e-3).isel(step=-1, sv=0).item(),
                               small.metrics["singular_values_of_U_star"][0], rtol=1e-2)
    assert not small.diverged


def test_quick_implicit_regularization(quick):
    m = quick.metrics
    final = {a: cell(m["relative_error_final"], alpha=a) for a in M2.Config().alphas}
    assert final[1e-3] < 1e-2 and final[1e-4] < final[1e-3] < final[1e-1] < final[1.0]
    assert final[1.0] > 1.0
    assert all(cell(m["best_step"], alpha=a) is not None for a in final)
    assert cell(m["effective_rank_final"], alpha=1e-4) < 2.5 < 10 < cell(m["effective_rank_final"], alpha=1.0)
    assert quick.diverged == {}
    expected = "compiled" if kernels.available() else "xla"  # one CPU device here
    assert m["step_kernel"] == expected


@pytest.fixture(scope="module")
def diverging():
    return M2.run(M2.Config(**{**SMALL, "step_constant": 50.0}), jax.random.key(0))


def test_a_diverging_step_is_reported_not_plotted(diverging, tmp_path):
    one = diverging.data.sel(alpha=1.0, step_constant=50.0)
    k = int(one.diverged_at)
    assert k >= 0 and diverging.diverged[labelled.cell_label({"alpha": 1.0})] == divergence.message(k)
    assert diverging.diverged[labelled.cell_label({"alpha": 1.0})].startswith("diverged at step ")
    assert cell(diverging.metrics["relative_error_final"], alpha=1.0) is None
    assert cell(diverging.metrics["diverged_at"], alpha=1.0) == k
    assert np.isnan(masked(one, "relative_error")[one.step.values >= k]).all()
    paths = M2.plot(diverging, tmp_path)
    assert all(p.exists() and p.with_suffix(".npz").exists() for p in paths)


def test_a_step_constant_sweep_gives_the_single_value_runs(small, diverging, tmp_path):
    swept = M2.run(M2.Config(**{**SMALL, "step_constant": (0.25, 50.0)}), jax.random.key(0))
    d = swept.data
    np.testing.assert_allclose(d.step_constant.values, [0.25, 50.0])
    for c, single in ((0.25, small.data), (50.0, diverging.data)):
        for name in ("relative_error", "loss", "singular_values", "step_size", "effective_rank", "diverged_at"):
            np.testing.assert_allclose(d[name].sel(step_constant=c).values,
                                       single[name].sel(step_constant=c).values, rtol=1e-5, atol=1e-7)
    assert len(swept.metrics["relative_error_final"]) == 4  # (alpha, step_constant) cells
    label = labelled.cell_label({"alpha": 1.0, "step_constant": 50.0})
    assert swept.diverged[label] == diverging.diverged[labelled.cell_label({"alpha": 1.0})]
    paths = M2.plot(swept, tmp_path)
    assert [p.name for p in paths] == ["m2_distance.png", "m2_singular_values.png"]
