"""N5 through the library: slices and surfaces agree at theta*, sharpness, a learning-rate sweep."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.networks import n5_landscape as n5

CURVES = ("train_loss", "slice", "surface", "sharpness", "param_norm", "diverged_at")


@pytest.fixture(scope="module")
def quick():
    return n5.run(n5.Config.quick(), jax.random.key(0))


def test_config_has_the_spec_ranges_and_a_settable_training_length():
    config = n5.Config()
    assert config.ranges == (1.0, 10.0) and config.activations == ("relu", "4sigmoid")
    assert n5.Config(num_epochs=2000).num_epochs == 2000
    with pytest.raises(ValueError, match="bias must be one of zero, copy"):
        n5.Config(bias="none")


def test_landscapes_and_sharpness(quick):
    m, d = quick.metrics, quick.data
    for act in ("relu", "4sigmoid"):
        assert m["top_hessian_eigenvalue_median"][f"activation={act}"] > 0
        for kind in n5.DIRECTIONS:
            cell = d.sel(activation=act, learning_rate=0.05, direction=kind)
            mid = cell.sizes["slice_point"] // 2  # t = 0 is the trained point: the slices' common value
            assert float(cell.slice_t.isel(range=0, slice_point=mid)) == pytest.approx(0.0, abs=1e-6)
            np.testing.assert_allclose(cell.slice.isel(range=0, slice_point=mid),
                                       cell.slice.isel(range=1, slice_point=mid), rtol=1e-6)
            centre = cell.surface.isel(s=cell.sizes["s"] // 2, t=cell.sizes["t"] // 2)
            np.testing.assert_allclose(centre, cell.slice.isel(range=0, slice_point=mid), rtol=1e-5)
    assert d.surface.sel(direction="Gaussian").shape == (2, 1, 2, 11, 11)  # activation, learning_rate, seed, s, t
    assert m["gd_stability_threshold"] == {"all": 40.0}
    cells = m["slice_end_loss_median"]  # per (activation, direction, range)
    assert len(cells) == 8 and all(c.startswith("activation=") and ", range=" in c for c in cells)


@pytest.mark.slow  # several compiles; the sweep mechanism itself: tests/test_run.py, other sections' sweep tests
def test_a_learning_rate_sweep_gives_the_single_runs(quick, tmp_path, band_labels):
    base, key = dataclasses.replace(n5.Config.quick(), activations=("relu",)), jax.random.key(0)
    swept = n5.run(dataclasses.replace(base, learning_rate=(0.05, 0.1)), key)
    single = n5.run(dataclasses.replace(base, learning_rate=0.1), key)
    np.testing.assert_array_equal(swept.data.learning_rate, [0.05, 0.1])
    for lr, ref in ((0.05, quick.data.sel(activation=["relu"])), (0.1, single.data)):
        for name in CURVES:
            np.testing.assert_allclose(swept.data[name].sel(learning_rate=lr), ref[name].sel(learning_rate=lr),
                                       rtol=1e-5)
    assert [p.name for p in n5.plot(swept, tmp_path)] == ["n5_slices.png", "n5_surfaces.png", "n5_sharpness.png"]
    assert set(band_labels) == {"ReLU, γ=0.05", "ReLU, γ=0.1"}
