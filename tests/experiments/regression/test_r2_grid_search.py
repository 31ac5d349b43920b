"""R2: the divergence predicate, the grid's bookkeeping on synthetic runs, the quick run and a rate sweep."""

import dataclasses
import re

import jax
import numpy as np
import pytest

from jaxopt_course.data import diabetes
from jaxopt_course.experiments.regression import grid_search as gs
from jaxopt_course.experiments.regression import r2_grid_search as R2
from jaxopt_course.experiments.registry import Results
from jaxopt_course.models import linear_network
from jaxopt_course.results import load_dataset


def test_divergence_predicate(getkey):
    splits = diabetes.diabetes_splits(getkey())
    params = linear_network.init(getkey(), 10, 8)
    loss = float(linear_network.mse(params, 8, splits.x_train, splits.y_train))
    assert not gs.training_diverged(params, 8, splits, 1e6)
    assert gs.training_diverged(params, 8, splits, loss / 2)  # finite, but above the threshold
    big = jax.tree.map(lambda p: p * 1e4, params)  # MSE ~ 1e16: diverged although finite
    assert gs.training_diverged(big, 8, splits, 1e6)
    nan = jax.tree.map(lambda p: p.at[(0,) * p.ndim].set(np.nan), params)
    assert gs.training_diverged(nan, 8, splits, 1e6)


def test_config_rejects_bad_values():
    for values, message in (({"learning_rate": (1e-3, -1.0)}, "learning_rate"), ({"batch_sizes": (32, 0)}, "batch_sizes"),
                            ({"seeds": 1}, r"seeds .*>= 2"), ({"batch_sizes": (300,)}, "exceeds"),
                            ({"val_fraction": 0.6, "test_fraction": 0.5}, "fractions")):
        with pytest.raises(ValueError, match=message):
            R2.Config(**values)


# ----------------------------------------------------------------------------- bookkeeping on synthetic runs

SYNTHETIC = R2.Config(learning_rate=(1e-3, 0.1), batch_sizes=(64, 128), epochs=(2, 4), seeds=3)


def _synthetic(seeds=3, diverged=True):
    """The dataset of two batch sizes (64: 4 steps/epoch, 128: 2), rates (1e-3, 0.1), 4 epochs, known values."""
    epochs = np.arange(5.0)
    good = 1.0 / (epochs + 1) + 0.01 * np.arange(seeds)[:, None]  # (S, E+1)
    fast = np.full((seeds, 5), 0.1) + 0.01 * np.arange(seeds)[:, None]
    fast[1, 3:] = np.nan  # seed 1 diverged at step 10 (epoch 3 of batch 64)
    curves64 = np.stack([good, fast])  # (L, S, E+1)
    curves128 = np.stack([good + 0.5, np.full((seeds, 5), np.inf)])
    runs = []
    for curves, div in ((curves64, [[-1, -1, -1], [-1, 10, -1]]), (curves128, [[-1] * seeds, [0] * seeds])):
        div = np.asarray(div, np.int32) if diverged else np.zeros((2, seeds), np.int32)  # or all at step 0
        runs.append(({name: curves for name in gs.SPLITS}, div))
    return R2._dataset(SYNTHETIC, np.asarray(SYNTHETIC.learning_rate), runs, num_train=266)


def test_bookkeeping_on_synthetic_runs(getkey, tmp_path, finite_numbers):
    splits = diabetes.diabetes_splits(getkey())
    d = _synthetic()
    s = gs.summarize(d)
    metrics = gs.grid_metrics(d, s, splits)
    rows = {(r["lr"], r["batch_size"], r["epochs"]): r for r in metrics["table"]}
    assert len(rows) == 8
    # a seed that diverges at step 10 (epoch 3) spoils the 4-epoch configuration, not the 2-epoch one
    assert rows[(0.1, 64, 4)]["diverged"] == "1 of 3 seeds diverged, the first at step 10 (epoch 3)"
    np.testing.assert_allclose(rows[(0.1, 64, 2)]["val_mse"], 0.11, rtol=1e-5)
    np.testing.assert_allclose(rows[(0.1, 64, 2)]["val_stderr"], 0.01 / np.sqrt(3), rtol=1e-4)
    assert rows[(0.1, 128, 2)]["diverged"] == "3 of 3 seeds diverged, the first at step 0 (epoch 0)"
    best = metrics["best"]
    assert (best["lr"], best["batch_size"], best["epochs"]) == (0.1, 64, 2)
    divergences = gs.grid_divergences(d, s)
    assert metrics["num_diverged"] == len(divergences) == 3
    assert divergences["learning_rate=0.1, batch_size=64, epochs=4"] == rows[(0.1, 64, 4)]["diverged"]
    # within one SE (0.0058) of 0.11: only (0.1, 64, 2) itself, never listed as its own rival
    assert metrics["within_one_stderr_of_best"] == []
    assert all(finite_numbers(r) for r in metrics["table"])
    # the validation curve of (64, 0.1) stops before the divergence: epochs 0, 1, 2 = steps 0, 4, 8 < 10
    curve = s.curve_mean.sel(batch_size=64, learning_rate=0.1).values
    np.testing.assert_array_equal(np.isfinite(curve), [1, 1, 1, 0, 0])
    paths = R2.plot(Results(metrics, d, divergences), tmp_path)
    assert all(p.exists() and p.with_suffix(".npz").exists() for p in paths)


def test_all_diverged_has_no_choice(getkey, tmp_path):
    splits = diabetes.diabetes_splits(getkey())
    d = _synthetic(diverged=False)  # every seed diverged at step 0
    s = gs.summarize(d)
    metrics = gs.grid_metrics(d, s, splits)
    assert metrics["best"] is None and metrics["num_diverged"] == 8
    assert "none" in gs.format_table(metrics, 3)[-1]
    assert all(p.exists() for p in R2.plot(Results(metrics, d), tmp_path))


# ----------------------------------------------------------------------------- runs


def test_quick_run_best_is_not_diverged(quick_run, finite_numbers):
    results, out = quick_run("R2")
    m = results.metrics
    assert len(m["table"]) == 5 * 3 * 3
    best = m["best"]
    assert "diverged" not in best and best["lr"] == 1e-3
    assert best["val_mse"] == min(r["val_mse"] for r in m["table"] if "diverged" not in r)
    for row in m["table"]:
        assert ("diverged" in row) or finite_numbers(row)
        if row["lr"] >= 0.1:  # lr = 0.1 and 1 diverge for every batch size and epoch count
            assert re.fullmatch(r"\d of 2 seeds diverged, the first at step \d+ \(epoch \d+\)", row["diverged"])
    assert len(results.diverged) == m["num_diverged"] == 18
    assert results.data.val_mse.dims == ("batch_size", "learning_rate", "seed", "epoch")
    assert (out / "r2_grid_heatmap.png").exists()
    heat = load_dataset(out / "r2_grid_heatmap.npz")
    assert np.isfinite(heat.val_mean.values[heat.first.values < 0]).all()


def test_the_rate_sweep_gives_the_single_value_runs(quick_run):
    d = quick_run("R2")[0].data  # the quick grid's five rates, swept in one call per batch size
    np.testing.assert_allclose(d.learning_rate.values, [1e-5, 1e-4, 1e-3, 0.1, 1.0])
    for lr in (1e-3, 0.1):  # one that converges, one that diverges
        config = dataclasses.replace(R2.Config.quick(), learning_rate=lr, batch_sizes=(32,))
        single = R2.run(config, jax.random.key(0)).data
        for name in ("train_mse", "val_mse", "test_mse", "diverged_at"):
            np.testing.assert_allclose(d[name].sel(learning_rate=lr, batch_size=32).values,
                                       single[name].isel(learning_rate=0, batch_size=0).values, rtol=1e-5)
