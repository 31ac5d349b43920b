"""N1 through the library: parameter counts, fits below the initial loss, a learning-rate sweep."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.networks import n1_width_depth as n1
from jaxopt_course.experiments.networks import problem

CURVES = ("train_loss", "test_loss", "fit_near", "fit_far", "diverged_at")


@pytest.fixture(scope="module")
def quick():
    return n1.run(n1.Config.quick(), jax.random.key(0))


def test_config_has_the_spec_defaults_and_a_quick_variant():
    config = n1.Config()
    assert "1-1-1" in config.architectures and "1-10-10-1" in config.architectures and config.num_epochs == 2000
    assert config.learning_rate == 0.05 and n1.Config.quick().seeds == 4
    assert dataclasses.replace(n1.Config.quick(), seeds=7).seeds == 7
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        n1.Config(seeds=0)
    with pytest.raises(ValueError, match="architectures must be layer sizes 1-w_1-...-1"):
        n1.Config(architectures=("2-10-1",))


def test_parameter_counts_and_fit(quick):
    m, d = quick.metrics, quick.data
    assert m["num_params"] == {"architecture=1-1-1": 4, "architecture=1-10-10-1": 141}
    assert m["num_inits"] == 4 and quick.diverged == {}
    for arch in ("1-1-1", "1-10-10-1"):
        assert m["diverged_inits"][f"architecture={arch}"] == 0
        assert 0 < m["final_train_loss_median"][f"architecture={arch}"] < 0.2  # below the initial loss mean(y^2) = 0.20
    assert d.train_loss.dims == ("architecture", "learning_rate", "seed", "epoch")
    assert d.train_loss.shape == (2, 1, 4, 301) and d.fit_far.sizes["x_far"] == problem.FIT_POINTS
    np.testing.assert_array_equal(d.param_count.sel(architecture=["1-1-1", "1-10-10-1"]), [4, 141])


def test_a_learning_rate_sweep_gives_the_single_runs(quick, tmp_path, band_labels):
    """learning_rate=(0.05, 0.1) is one vmapped call whose cells equal the runs at 0.05 and at 0.1."""
    base = dataclasses.replace(n1.Config.quick(), architectures=("1-10-10-1",))
    swept = n1.run(dataclasses.replace(base, learning_rate=(0.05, 0.1)), jax.random.key(0))
    single = n1.run(dataclasses.replace(base, learning_rate=0.1), jax.random.key(0))
    np.testing.assert_array_equal(swept.data.learning_rate, [0.05, 0.1])
    for lr, ref in ((0.05, quick.data.sel(architecture=["1-10-10-1"])), (0.1, single.data)):
        for name in CURVES:
            np.testing.assert_allclose(swept.data[name].sel(learning_rate=lr), ref[name].sel(learning_rate=lr),
                                       rtol=1e-6)
    assert set(swept.metrics["final_train_loss_median"]) == {"learning_rate=0.05", "learning_rate=0.1"}
    assert [p.name for p in n1.plot(swept, tmp_path)] == ["n1_losses.png", "n1_fits.png"]
    assert {"1-10-10-1 (141 parameters), γ=0.05", "1-10-10-1 (141 parameters), γ=0.1"} == set(band_labels)
