"""N4 through the library: the early stop inside the scan per initialization, sharpness, both learning-rate sweeps."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.networks import n4_optimizers as n4

CURVES = ("train_loss", "test_loss", "fit_near", "fit_far", "diverged_at", "stopped_at", "sharpness")


@pytest.fixture(scope="module")
def quick():
    return n4.run(n4.Config.quick(), jax.random.key(0))


def test_config_has_the_spec_defaults_and_a_settable_epoch_cap():
    config = n4.Config()
    assert (config.sgd_learning_rate, config.adam_learning_rate, config.stop_below) == (0.05, 0.1, 1e-13)
    assert n4.Config(num_epochs=2000).num_epochs == 2000 and config.float64


def test_early_stop_and_sharpness(quick):
    m, d = quick.metrics, quick.data
    sgd, adam = "optimizer=sgd", "optimizer=adam"
    assert m["stopped_inits"][adam] >= 1  # Adam reaches 1e-13 within the quick run's 3000 epochs
    epochs = d.epoch.values
    for setting, cell in zip(d.setting.values, (sgd, adam)):
        part = d.sel(setting=setting)
        stops = np.asarray(m["stop_epochs"][cell])
        np.testing.assert_array_equal(stops, part.stopped_at)
        assert m["stopped_inits"][cell] == int(np.sum(stops >= 0))
        final = part.train_loss.values[:, -1]
        assert np.all(final[stops >= 0] < 1e-13) and np.all(final[stops < 0] >= 1e-13)
        for curve, stop in zip(part.train_loss.values, stops):  # vmapped: each init frozen at its own epoch
            if stop >= 0:
                np.testing.assert_array_equal(curve[epochs >= stop], curve[epochs >= stop][0])
                assert np.all(curve[epochs < stop] >= 1e-13)
        assert all(v > 0 for v in m["top_hessian_eigenvalues"][cell])
    assert m["gd_stability_threshold"] == {sgd: 40.0}  # 2 / gamma, for SGD only
    assert list(d.optimizer.values) == ["sgd", "adam"] and m["stop_below"] == 1e-13
    assert d.train_loss.dtype == np.float64  # N4 trains in float64


@pytest.mark.slow  # several compiles; the sweep mechanism itself: tests/test_run.py, other sections' sweep tests
def test_learning_rate_sweeps_give_the_single_runs(quick, tmp_path, band_labels):
    """sgd_learning_rate and adam_learning_rate are vmapped: each setting equals the run at that single value."""
    base, key = n4.Config.quick(), jax.random.key(0)
    swept = n4.run(dataclasses.replace(base, sgd_learning_rate=(0.05, 0.1), adam_learning_rate=(0.1, 0.05)), key)
    single = n4.run(dataclasses.replace(base, sgd_learning_rate=0.1, adam_learning_rate=0.05), key)
    d = swept.data
    assert list(zip(d.optimizer.values, d.learning_rate.values)) == [("sgd", 0.05), ("sgd", 0.1), ("adam", 0.1),
                                                                     ("adam", 0.05)]
    for ref in (quick.data, single.data):
        for setting in ref.setting.values:
            for name in CURVES:
                np.testing.assert_allclose(d[name].sel(setting=setting), ref[name].sel(setting=setting), rtol=1e-6)
    assert swept.metrics["gd_stability_threshold"] == {"optimizer=sgd, learning_rate=0.05": 40.0,
                                                       "optimizer=sgd, learning_rate=0.1": 20.0}
    assert [p.name for p in n4.plot(swept, tmp_path)] == ["n4_losses.png", "n4_fits.png", "n4_stops.png"]
    assert set(band_labels) == {"SGD γ=0.05", "SGD γ=0.1", "Adam γ=0.1", "Adam γ=0.05"}
