"""R1 and R2 experiments: noise, divergence reporting, data, model, configs and quick CLI runs."""

import json
import math
import re

import jax
import numpy as np
import pytest

from jaxopt_course.cli import main
from jaxopt_course.data import diabetes
from jaxopt_course.experiments import _grid_search as gs
from jaxopt_course.experiments import _power_losses as pl
from jaxopt_course.experiments.regression import GridSearchConfig, PowerLossConfig
from jaxopt_course.models import linear_network
from jaxopt_course.results import load_npz

DIVERGED = re.compile(r"^diverged at step \d+ ")


def _walk(obj):
    """Every leaf of a JSON-like structure."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


def _finite_numbers(obj) -> bool:
    """No None (JSON's stand-in for NaN/inf) and only finite numbers among the leaves."""
    return all(v is not None and (not isinstance(v, float) or math.isfinite(v)) for v in _walk(obj))


# ----------------------------------------------------------------------------- R1 pieces


def test_gaussian_gradient_noise_has_the_stated_scale(getkey):
    xi = np.asarray(pl.gradient_noise(getkey(), (200_000,), "gaussian", 0.3, 2.0))
    np.testing.assert_allclose(xi.std(), 0.3, rtol=0.01)
    assert pl.gradient_noise(getkey(), (3,), "none", 0.3, 2.0) is None


def test_student_t_gradient_noise_has_the_stated_tails(getkey):
    # Student-t with 2 degrees of freedom: P(|t| > u) = 1 - u / sqrt(2 + u^2).
    t = np.asarray(pl.gradient_noise(getkey(), (200_000,), "student_t", 1.0, 2.0))
    for u in (1.0, 3.0, 10.0):  # tail mass 0.42, 0.095, 0.0099: relative sampling SE <= 2.3 %
        expected = 1 - u / math.sqrt(2 + u * u)
        np.testing.assert_allclose(np.mean(np.abs(t) > u), expected, rtol=0.08)
    assert np.mean(np.abs(t) > 10) > 100 * np.mean(np.abs(pl.gradient_noise(getkey(), (200_000,), "gaussian",
                                                                            1.0, 2.0)) > 4)


def test_first_divergence_and_valid_mask():
    div = np.array([[-1, 7, -1], [-1, 3, 12], [-1, -1, 20]])  # (seeds, runs)
    first, count = pl.first_divergence(div)
    np.testing.assert_array_equal(first, [-1, 3, 12])
    np.testing.assert_array_equal(count, [0, 2, 2])
    valid = pl.valid_mask(np.array([0, 5, 10, 15]), first)
    np.testing.assert_array_equal(valid, [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])


@pytest.fixture(scope="module")
def r1_quick(tmp_path_factory):
    """One quick CLI run of R1 shared by the tests below: (results.json, data.npz, output dir)."""
    out = tmp_path_factory.mktemp("r1")
    assert main(["run", "R1", "--quick", "--out", str(out)]) == 0
    return json.loads((out / "R1" / "results.json").read_text()), load_npz(out / "R1" / "data.npz"), out / "R1"


def test_r1_quick_cli(r1_quick):
    record, _, out = r1_quick
    m = record["metrics"]
    gammas = ["0.4", "0.7", "1", "2", "3", "5"]
    assert set(m["course_table"]) == set(m["lr_sweep"]) == {"sgd", "adam", "adagrad"}
    assert all(list(row) == gammas for row in m["course_table"].values()) and list(m["winners"]) == gammas
    assert _finite_numbers(m["course_table"]) and _finite_numbers(m["least_squares"])
    assert 0.005 < m["least_squares"]["distance_to_theta_true"] < 0.04
    # at the shared lr 1e-3 Adagrad's steps shrink like 1/sqrt(k): it barely leaves theta_0
    assert m["course_table"]["adagrad"]["2"]["final_distance"] > 2.5
    # at its best rate SGD solves the gamma = 2 problem (least squares) to about the noise level
    best = m["lr_sweep"]["sgd"]["2"]
    assert best["final_distance"] < 0.1
    assert best["final_test_loss"] < 2 * m["least_squares"]["test_loss"]["2"]
    for name in record["figures"]:
        assert (out / name).exists() and (out / name).with_suffix(".npz").exists()
    curves = load_npz(out / "r1_test_loss_best_lr.npz")
    assert all(np.isfinite(curves[k]).all() for k in curves)  # best rates never diverged


def test_r1_divergence_is_reported_not_tabulated(r1_quick):
    record, data, _ = r1_quick
    diverged, m = record["diverged"], record["metrics"]
    assert re.fullmatch(r"diverged at step \d+ in 10 of 10 replicates", diverged["sgd gamma=5 lr=10"])
    assert not any(label.startswith(("adam", "adagrad")) for label in diverged)  # normalized steps stay bounded
    sweep = m["lr_sweep"]["sgd"]["5"]
    assert DIVERGED.match(sweep["final_test_loss_per_lr"]["10"])
    assert sweep["best_lr"] <= 1e-3
    assert m["num_diverged_runs"] == len(diverged) == int((data["first_diverged"] >= 0).sum())
    assert _finite_numbers(m["lr_sweep"]) and _finite_numbers(m["winners"])


def test_r1_summary_statistics_match_numpy(r1_quick):
    _, d, _ = r1_quick
    ok = d["first_diverged"] < 0
    final = d["final_test_loss"]  # (replicates, methods, gammas, rates)
    np.testing.assert_allclose(d["test_loss_mean"][..., -1][ok], final.mean(0)[ok], rtol=1e-5)
    np.testing.assert_allclose(d["test_loss_se"][..., -1][ok], (final.std(0, ddof=1) / np.sqrt(10))[ok], rtol=1e-4)
    assert np.isnan(d["test_loss_mean"][..., -1][~ok]).all()  # diverged: no value, a message instead


# ----------------------------------------------------------------------------- R2 pieces


def test_epoch_sampler_draws_permutations(getkey):
    idx = np.asarray(gs.epoch_sampler(100, 32)(getkey(), 6))  # 2 epochs of 3 batches of 32
    assert idx.shape == (6, 32)
    for epoch in (idx[:3], idx[3:]):
        assert len(np.unique(epoch)) == 96 and epoch.min() >= 0 and epoch.max() < 100
    assert not np.array_equal(idx[:3], idx[3:])
    assert gs.steps_per_epoch(266, 128) == 2
    with pytest.raises(ValueError, match="exceeds"):
        gs.steps_per_epoch(10, 32)


def test_diabetes_splits_partition_and_standardize(getkey):
    x_raw, y_raw = diabetes.load_raw()
    assert x_raw.shape == (442, 10) and y_raw.shape == (442,)
    s = diabetes.diabetes_splits(getkey())
    assert (s.x_train.shape[0], s.x_val.shape[0], s.x_test.shape[0]) == (266, 88, 88)
    np.testing.assert_allclose(np.mean(s.x_train, 0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(s.x_train, 0), 1.0, rtol=1e-5)
    np.testing.assert_allclose([np.mean(s.y_train), np.std(s.y_train)], [0.0, 1.0], atol=1e-5)
    # the splits partition the rows: un-standardized targets are the raw targets, each used once
    y_all = np.concatenate([s.y_train, s.y_val, s.y_test]) * float(s.y_std) + float(s.y_mean)
    np.testing.assert_allclose(np.sort(y_all), np.sort(y_raw), atol=1e-3)
    with pytest.raises(ValueError, match="fractions"):
        diabetes.split_sizes(442, 0.6, 0.5)


def test_linear_network_parameters_and_mse(getkey):
    params = linear_network.init(getkey(), 10, 32)
    assert all(p.dtype == np.float32 for p in jax.tree.leaves(params))
    assert sum(p.size for p in jax.tree.leaves(params)) == 10 * 32 + 32 + 32 + 1
    x, y = jax.random.normal(getkey(), (7, 10)), jax.random.normal(getkey(), (7,))
    p = params["params"]
    w1, b1, w2, b2 = (np.asarray(p[layer][name]) for layer in ("hidden", "output") for name in ("kernel", "bias"))
    assert w1.shape == (10, 32) and w2.shape == (32, 1)
    pred = (np.asarray(x) @ w1 + b1) @ w2[:, 0] + b2[0]
    np.testing.assert_allclose(linear_network.mse(params, 32, x, y), np.mean((pred - np.asarray(y)) ** 2), rtol=1e-5)


def test_r2_divergence_predicate(getkey):
    splits = diabetes.diabetes_splits(getkey())
    params = linear_network.init(getkey(), 10, 8)
    loss = float(linear_network.mse(params, 8, splits.x_train, splits.y_train))
    assert not gs.training_diverged(params, 8, splits, 1e6)
    assert gs.training_diverged(params, 8, splits, loss / 2)  # finite, but above the threshold
    big = jax.tree.map(lambda p: p * 1e4, params)  # MSE ~ 1e16: diverged although finite
    assert gs.training_diverged(big, 8, splits, 1e6)
    nan = jax.tree.map(lambda p: p.at[(0,) * p.ndim].set(np.nan), params)
    assert gs.training_diverged(nan, 8, splits, 1e6)


def _synthetic_runs(seeds=3):
    """Two batch sizes (64: 4 steps/epoch, 128: 2), rates (1e-3, 0.1), 4 epochs, known values."""
    epochs = np.arange(5.0)
    good = 1.0 / (epochs + 1) + 0.01 * np.arange(seeds)[:, None]  # (S, E+1)
    fast = np.full((seeds, 5), 0.1) + 0.01 * np.arange(seeds)[:, None]
    fast[1, 3:] = np.nan  # seed 1 diverged at step 10 (epoch 3 of batch 64)
    curves64 = np.stack([good, fast], 1)
    curves128 = np.stack([good + 0.5, np.full((seeds, 5), np.inf)], 1)
    runs = []
    for curves, div in ((curves64, [[-1, -1], [-1, 10], [-1, -1]]), (curves128, [[-1, 0]] * seeds)):
        runs.append(({name: curves for name in gs.SPLITS}, np.asarray(div, np.int32)))
    return runs


def test_r2_bookkeeping_on_synthetic_runs(getkey, tmp_path):
    config = GridSearchConfig(learning_rates=(1e-3, 0.1), batch_sizes=(64, 128), epochs=(2, 4), seeds=3)
    splits = diabetes.diabetes_splits(getkey())
    summary = gs.summarize(_synthetic_runs(), config, splits)
    metrics = gs.grid_metrics(summary, config, splits)
    rows = {(r["lr"], r["batch_size"], r["epochs"]): r for r in metrics["table"]}
    assert len(rows) == 8
    # a seed that diverges at step 10 (epoch 3) spoils the 4-epoch configuration, not the 2-epoch one
    assert rows[(0.1, 64, 4)]["diverged"] == "diverged at step 10 (epoch 3) in 1 of 3 seeds"
    np.testing.assert_allclose(rows[(0.1, 64, 2)]["val_mse"], 0.11, rtol=1e-5)
    np.testing.assert_allclose(rows[(0.1, 64, 2)]["val_stderr"], 0.01 / np.sqrt(3), rtol=1e-4)
    assert rows[(0.1, 128, 2)]["diverged"] == "diverged at step 0 (epoch 0) in 3 of 3 seeds"
    best = metrics["best"]
    assert (best["lr"], best["batch_size"], best["epochs"]) == (0.1, 64, 2)
    assert metrics["num_diverged"] == len(gs.grid_divergences(summary, config)) == 3
    # within one SE (0.0058) of 0.11: only (0.1, 64, 2) itself, never listed as its own rival
    assert metrics["within_one_stderr_of_best"] == []
    assert all(_finite_numbers(r) for r in metrics["table"])
    # the validation curve of (64, 0.1) stops before the divergence: epochs 0, 1, 2 = steps 0, 4, 8 < 10
    np.testing.assert_array_equal(np.isfinite(summary["curve_mean"][0, 1]), [1, 1, 1, 0, 0])
    data = gs.grid_arrays(summary, config)
    paths = [gs.plot_heatmap(data, tmp_path / "heat"), gs.plot_validation_curves(data, tmp_path / "curves")]
    assert all(p.exists() for p in paths)


def test_r2_all_diverged_has_no_choice(getkey, tmp_path):
    config = GridSearchConfig(learning_rates=(1e-3, 0.1), batch_sizes=(64, 128), epochs=(2, 4), seeds=3)
    splits = diabetes.diabetes_splits(getkey())
    runs = [(m, np.zeros_like(d)) for m, d in _synthetic_runs()]  # every seed diverged at step 0
    summary = gs.summarize(runs, config, splits)
    metrics = gs.grid_metrics(summary, config, splits)
    assert metrics["best"] is None and metrics["num_diverged"] == 8
    assert "none" in gs.format_table(metrics, config)[-1]
    data = gs.grid_arrays(summary, config)
    assert gs.plot_heatmap(data, tmp_path / "heat").exists()
    assert gs.plot_validation_curves(data, tmp_path / "curves").exists()


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="must be one of learning_rates"):
        PowerLossConfig(learning_rate=5e-3)
    with pytest.raises(ValueError, match="gammas"):
        PowerLossConfig(gammas=(0.0, 1.0))
    with pytest.raises(ValueError, match="grad_noise"):
        PowerLossConfig(grad_noise="cauchy")
    with pytest.raises(ValueError, match="learning rates"):
        GridSearchConfig(learning_rates=(1e-3, -1.0))
    with pytest.raises(ValueError, match="batch_sizes"):
        GridSearchConfig(batch_sizes=(32, 0))


def test_cli_rejects_a_single_seed(tmp_path, capsys):
    assert main(["run", "R1", "--quick", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "seeds >= 2" in capsys.readouterr().err


# ----------------------------------------------------------------------------- quick CLI runs


def test_r2_quick_cli_best_is_not_diverged(tmp_path):
    assert main(["run", "R2", "--quick", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "R2" / "results.json").read_text())
    m = record["metrics"]
    assert len(m["table"]) == 5 * 3 * 3
    best = m["best"]
    assert "diverged" not in best and best["lr"] == 1e-3
    assert best["val_mse"] == min(r["val_mse"] for r in m["table"] if "diverged" not in r)
    for row in m["table"]:
        assert ("diverged" in row) or _finite_numbers(row)
        if row["lr"] >= 0.1:  # lr = 0.1 and 1 diverge for every batch size and epoch count
            assert re.fullmatch(r"diverged at step \d+ \(epoch \d+\) in \d of 2 seeds", row["diverged"])
    assert len(record["diverged"]) == m["num_diverged"] == 18
    assert (tmp_path / "R2" / "r2_grid_heatmap.png").exists()
    heat = load_npz(tmp_path / "R2" / "r2_grid_heatmap.npz")
    assert np.isfinite(heat["val_mean"][heat["first"] < 0]).all()
