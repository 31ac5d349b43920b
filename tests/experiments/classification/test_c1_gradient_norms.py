"""C1: per-layer gradient norms over seeds, the depth sweep; a learning-rate sweep is the single-value runs."""

import jax
import pytest
import numpy as np

from jaxopt_course.experiments.classification import c1_gradient_norms as C1
from jaxopt_course.results import load_dataset

TINY = dict(hidden=(16,), epochs=1, seeds=2, batch_size=32, sweep_depths=(1,), sweep_width=8,
            sweep_activations=("relu", "sigmoid"), sweep_initializers=("uniform",), sweep_train_size=96,
            source="digits")


def test_quick_run(quick_record):
    _, r, _ = quick_record("C1")
    m = r["metrics"]
    assert r["config"]["seeds"] == 2 and r["diverged"] == {}
    assert m["num_params"] == m["input_dim"] * 128 + 2 * 128 * 128 + 1280
    assert len(m["grad_norm_epoch1"]["all"]) == 4 and all(v > 0 for v in m["grad_norm_epoch1"]["all"])
    assert np.asarray(m["grad_norm_per_epoch"]["all"]).shape == (4, 4)
    assert m["train_loss_per_epoch"]["all"][-1] < m["train_loss_per_epoch"]["all"][0]
    sweep = m["sweep_grad_norm_epoch1"]
    assert len(sweep) == 2 * 3 * 2 and len(sweep["depth=8, initializer=he, activation=tanh"]) == 9
    assert len(sweep["depth=2, initializer=he, activation=tanh"]) == 3
    ratio = m["sweep_first_over_last_layer"]
    assert ratio["depth=8, initializer=uniform, activation=sigmoid"] < 1e-3  # vanishing gradients towards the input
    assert ratio["depth=8, initializer=uniform, activation=sigmoid"] < ratio["depth=2, initializer=uniform, "
                                                                             "activation=sigmoid"]
    assert 0.1 < ratio["depth=8, initializer=he, activation=relu"] < 10  # He initialization keeps ReLU norms level
    assert m["sweep_train_size"] == 512


def test_figures_and_their_labelled_data(quick_record):
    results, r, out_dir = quick_record("C1")
    assert r["figures"] == ["c1_grad_norms.png", "c1_curves.png", "c1_depth_sweep.png"]
    for name in ("c1_grad_norms", "c1_curves", "c1_depth_sweep"):
        assert (out_dir / f"{name}.png").exists() and (out_dir / f"{name}.npz").exists()
    data = load_dataset(out_dir / "data.npz")
    deep = data.sweep_grad_norm.sel(depth=8).dropna("sweep_layer", how="all")
    assert deep.dims == ("initializer", "activation", "learning_rate", "seed", "sweep_layer")
    assert deep.shape == (2, 3, 1, 2, 9) and not np.isnan(deep).any()
    assert data.grad_norm.dims == ("learning_rate", "seed", "epoch", "layer") and list(data.layer.values) == [1, 2, 3, 4]
    np.testing.assert_array_equal(data.grad_norm.values, results.data.grad_norm.values)


@pytest.mark.slow  # several compiles; the sweep mechanism itself: tests/test_run.py, other sections' sweep tests
def test_a_learning_rate_sweep_gives_the_single_value_runs_and_reports_divergence(small_digits_dir, tmp_path):
    swept = C1.run(C1.Config(learning_rate=(0.05, 1e30), data_dir=small_digits_dir, **TINY), jax.random.key(1))
    d = swept.data
    np.testing.assert_allclose(d.learning_rate.values, [0.05, 1e30])
    for lr in (0.05, 1e30):
        single = C1.run(C1.Config(learning_rate=lr, data_dir=small_digits_dir, **TINY), jax.random.key(1)).data
        for name in ("train_loss", "test_accuracy", "grad_norm", "sweep_grad_norm", "sweep_batch_loss"):
            np.testing.assert_allclose(d[name].sel(learning_rate=lr).values, single[name].sel(learning_rate=lr).values,
                                       rtol=1e-5, atol=1e-7)
        for name in ("diverged_at", "sweep_diverged_at"):
            np.testing.assert_array_equal(d[name].sel(learning_rate=lr), single[name].sel(learning_rate=lr))
    # sigmoid nets may survive lr 1e30 (saturated units pass tiny gradients); ReLU nets do not
    assert {"C1, learning_rate=1e+30", "C1 sweep, activation=relu, learning_rate=1e+30"} <= set(swept.diverged)
    assert all(cell.endswith("learning_rate=1e+30") for cell in swept.diverged)
    assert swept.diverged["C1, learning_rate=1e+30"].startswith("2 of 2 seeds diverged, the first at step ")
    assert np.isnan(d.sweep_grad_norm.sel(learning_rate=1e30, activation="relu")).all()  # masked, not drawn
    assert np.isnan(d.train_loss.sel(learning_rate=1e30).isel(epoch=-1)).all()
    ratio = swept.metrics["sweep_first_over_last_layer"]
    assert ratio["activation=relu, learning_rate=1e+30"] is None and ratio["activation=relu, learning_rate=0.05"] > 0
    assert [p.name for p in C1.plot(swept, tmp_path)] == ["c1_grad_norms.png", "c1_curves.png", "c1_depth_sweep.png"]
