"""R1: gradient noise, whole runs against NumPy, the quick run's tables and divergence reports, and the sweeps."""

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import divergence
from jaxopt_course.experiments.regression import power_losses as pl
from jaxopt_course.experiments.regression import r1_power_losses as R1
from jaxopt_course.problems import power_regression as pr
from jaxopt_course.results import load_dataset

GAMMAS = ["0.4", "0.7", "1", "2", "3", "5"]
DIVERGED = re.compile(r"^\d+ of 10 replicates diverged, the first at step \d+$")
# One method, two gammas, 100 steps: every (gamma, learning_rate, grad_noise_scale) cell in one call.
SMALL = dict(num_train=200, methods=("sgd",), gammas=(0.7, 2.0), num_steps=100, record_every=50, seeds=3)


@pytest.fixture(scope="module")
def quick(quick_run):
    """The quick run (shared with the catalogue's contract test): (Results, output directory)."""
    return quick_run("R1")


# ----------------------------------------------------------------------------- pieces


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
    gauss = np.asarray(pl.gradient_noise(getkey(), (200_000,), "gaussian", 1.0, 2.0))
    assert np.mean(np.abs(t) > 10) > 100 * np.mean(np.abs(gauss) > 4)


def _numpy_run(method, a, y, theta0, idx, gamma, lr, num_steps, cfg):
    """theta_T of ``method`` on f_gamma with the given minibatch indices, in float64 NumPy."""
    theta, m, v, acc = (np.array(theta0, np.float64),) + tuple(np.zeros(len(theta0)) for _ in range(3))
    for k in range(num_steps):
        rows = idx[k]
        e = a[rows] @ theta - y[rows]
        g = (gamma * np.abs(e) ** (gamma - 1) * np.sign(e)) @ a[rows] / len(rows)
        if method == "sgd":
            theta = theta - lr * g
        elif method == "adam":
            m, v = cfg.adam_b1 * m + (1 - cfg.adam_b1) * g, cfg.adam_b2 * v + (1 - cfg.adam_b2) * g * g
            m_hat, v_hat = m / (1 - cfg.adam_b1 ** (k + 1)), v / (1 - cfg.adam_b2 ** (k + 1))
            theta = theta - lr * m_hat / (np.sqrt(v_hat) + cfg.adam_eps)
        else:
            acc = acc + g * g
            theta = theta - lr * g / (np.sqrt(acc) + cfg.adagrad_eps)
    return theta


@pytest.mark.parametrize("method", ["sgd", "adam", "adagrad"])
def test_r1_run_matches_numpy_reimplementation(method, getkey, x64):
    cfg = R1.Config(num_train=200, num_steps=120, record_every=40, batch_size=2, seeds=2, learning_rate=1e-2,
                    course_learning_rate=1e-2)
    data = pr.make_data(getkey(), num_train=200)
    theta0, key, gamma, lr = jnp.full(10, 0.05), getkey(), 1.5, 1e-2
    run = jax.jit(functools.partial(pl.power_run, cfg, method, "none", data))
    metrics, diverged_at = run(theta0, key, gamma, lr, 0.0)
    # The runner draws a chunk's noise as sample(fold_in(key, chunk_index), chunk) (run.py).
    idx, _ = pl.sampler(cfg, "none", 0.0)(jax.random.fold_in(key, 0), cfg.num_steps)
    a, y = np.asarray(data.a_train), np.asarray(data.y_train)
    theta = _numpy_run(method, a, y, np.asarray(theta0), np.asarray(idx), gamma, lr, cfg.num_steps, cfg)
    np.testing.assert_allclose(metrics["distance"][-1], np.linalg.norm(theta - 1.0), rtol=1e-9)
    e = np.asarray(data.a_test) @ theta - np.asarray(data.y_test)
    np.testing.assert_allclose(metrics["test_loss"][-1], np.mean(np.abs(e) ** gamma), rtol=1e-9)
    assert int(diverged_at) == -1


def test_config_rejects_bad_values():
    for values, message in (({"gammas": (0.0, 1.0)}, "gammas"), ({"grad_noise": "cauchy"}, "grad_noise"),
                            ({"learning_rate": (1e-3, -1.0)}, "learning_rate"), ({"seeds": 1}, r"seeds .*>= 2"),
                            ({"grad_noise_scale": -0.1}, "grad_noise_scale"), ({"batch_size": 2000}, "batch_size")):
        with pytest.raises(ValueError, match=message):
            R1.Config(**values)


# ----------------------------------------------------------------------------- the quick run


def test_quick_run_tables(quick, finite_numbers):
    results, out = quick
    m = results.metrics
    cells = {f"method={k}, gamma={g}" for k in ("sgd", "adam", "adagrad") for g in GAMMAS}
    assert set(m["course_table"]) == set(m["lr_sweep"]) == cells
    assert list(m["winners"]) == [f"gamma={g}" for g in GAMMAS] and m["course_learning_rate"] == 1e-3
    assert finite_numbers(m["course_table"]) and finite_numbers(m["least_squares"])
    assert 0.005 < m["least_squares"]["distance_to_theta_true"] < 0.04
    # at the shared lr 1e-3 Adagrad's steps shrink like 1/sqrt(k): it barely leaves theta_0
    assert m["course_table"]["method=adagrad, gamma=2"]["final_distance"] > 2.5
    # at its best rate SGD solves the gamma = 2 problem (least squares) to about the noise level
    best = m["lr_sweep"]["method=sgd, gamma=2"]
    assert best["final_distance"] < 0.1
    assert best["final_test_loss"] < 2 * m["least_squares"]["test_loss"]["gamma=2"]
    assert results.data.test_loss.dims == ("method", "gamma", "learning_rate", "grad_noise_scale", "seed", "step")
    assert list(results.data.grad_noise_scale.values) == [0.0]  # gradient noise is off by default
    for stem in R1.CAPTIONS:
        assert (out / f"{stem}.png").exists() and (out / f"{stem}.npz").exists()
    curves = load_dataset(out / "r1_test_loss_best_lr.npz")
    assert all(np.isfinite(curves[k].values).all() for k in curves.data_vars)  # best rates never diverged


def test_divergence_is_reported_not_tabulated(quick, finite_numbers):
    results, _ = quick
    diverged, m = results.diverged, results.metrics
    assert re.fullmatch(r"10 of 10 replicates diverged, the first at step \d+",
                        diverged["method=sgd, gamma=5, learning_rate=10"])
    assert not any(label.startswith(("method=adam", "method=adagrad")) for label in diverged)  # bounded steps
    sweep = m["lr_sweep"]["method=sgd, gamma=5"]
    assert DIVERGED.match(sweep["final_test_loss_per_lr"]["learning_rate=10"])
    assert sweep["best_lr"] <= 1e-3
    first = divergence.first_over(results.data.diverged_at)
    assert m["num_diverged_runs"] == len(diverged) == int((first >= 0).sum())
    assert finite_numbers(m["lr_sweep"]) and finite_numbers(m["winners"])


def test_summary_statistics_match_numpy(quick):
    d = quick[0].data
    s = pl.summarize(d)
    ok = (s.first < 0).values
    final = d.test_loss.isel(step=-1).transpose("seed", ...).values  # (replicates, methods, gammas, rates, noise)
    mean, se = s.test_loss_mean.isel(step=-1).values, s.test_loss_se.isel(step=-1).values
    np.testing.assert_allclose(mean[ok], final.mean(0)[ok], rtol=1e-5)
    np.testing.assert_allclose(se[ok], (final.std(0, ddof=1) / np.sqrt(10))[ok], rtol=1e-4)
    assert np.isnan(mean[~ok]).all()  # diverged: no value, a message instead


def test_the_course_rate_is_the_nearest_grid_rate(quick):
    d = quick[0].data
    assert d.learning_rate.values[pl.course_index(d, 1e-3)] == 1e-3
    assert d.learning_rate.values[pl.course_index(d, 3e-3)] == 1e-3  # the quick grid has decades only
    assert d.learning_rate.values[pl.course_index(d, 5e-3)] == 1e-2


# ----------------------------------------------------------------------------- sweeps


@pytest.mark.slow  # several compiles; the sweep mechanism itself: tests/test_run.py, other sections' sweep tests
def test_rate_and_noise_sweeps_give_the_single_value_runs(tmp_path):
    swept = R1.run(R1.Config(learning_rate=(1e-3, 3e-2), grad_noise_scale=(0.0, 0.5), **SMALL), jax.random.key(3))
    d = swept.data
    np.testing.assert_allclose(d.learning_rate.values, [1e-3, 3e-2])
    np.testing.assert_allclose(d.grad_noise_scale.values, [0.0, 0.5])
    for lr, scale in ((1e-3, 0.0), (3e-2, 0.5)):
        single = R1.run(R1.Config(learning_rate=lr, course_learning_rate=lr, grad_noise_scale=scale, **SMALL),
                        jax.random.key(3)).data
        for name in ("test_loss", "train_loss", "distance", "diverged_at"):
            np.testing.assert_allclose(d[name].sel(learning_rate=lr, grad_noise_scale=scale).values,
                                       single[name].isel(learning_rate=0, grad_noise_scale=0).values, rtol=1e-5)
    noisy, clean = (d.distance.sel(learning_rate=3e-2, grad_noise_scale=s).isel(step=-1) for s in (0.5, 0.0))
    assert not np.allclose(noisy, clean)  # the noise is on
    assert "grad_noise_scale=0.5, gamma=2" in swept.metrics["course_table"]  # one method: not in the name
    paths = R1.plot(swept, tmp_path)
    assert [p.stem for p in paths] == list(R1.CAPTIONS)
    assert load_dataset(tmp_path / "r1_lr_sweep.npz").sizes["grad_noise_scale"] == 2
