"""P2: GD's iterate and average suboptimality against a NumPy loop; the step-scale sweep; divergence reports."""

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.least_squares import p2_gd as P2
from jaxopt_course.results import load_dataset

XS = np.linspace(-1, 1, 7)
YS = np.sin(5 * XS) * np.exp(np.abs(2 * XS)) / 10
SMALL = dict(degrees=(3,), num_steps=300, num_records=3)


def _numpy_gd(c: float, steps: int = 300):
    """f(theta_T) - f* and f(bar theta_T) - f* of GD with step c/beta from 0 (float64 NumPy loop)."""
    X = np.vander(XS, 4, increasing=True)
    beta = 2 / 7 * np.linalg.eigvalsh(X.T @ X).max()
    star = np.linalg.lstsq(X, YS, rcond=None)[0]
    theta, total = np.zeros(4), np.zeros(4)
    for _ in range(steps):
        theta = theta - c * (2 / 7) * X.T @ (X @ theta - YS) / beta
        total += theta
    avg = (total + np.zeros(4)) / (steps + 1)  # the average includes theta_0 = 0
    gap = lambda t: np.mean((X @ (t - star)) ** 2)  # noqa: E731
    return gap(theta), gap(avg)


@pytest.fixture(scope="module")
def swept():
    return P2.run(P2.Config(step_scale=(0.5, 1.0), **SMALL), jax.random.key(0))


@pytest.fixture(scope="module")
def singles():
    return {c: P2.run(P2.Config(step_scale=c, **SMALL), jax.random.key(0)) for c in (0.5, 1.0)}


def test_gd_iterate_gap_matches_numpy_loop(singles):
    res = singles[1.0]  # the default step 1/beta
    final = res.data.sel(degree=3, step_scale=1.0).isel(step=-1)
    gap, gap_avg = _numpy_gd(1.0)
    np.testing.assert_allclose(float(final.gap), gap, rtol=2e-3)
    np.testing.assert_allclose(float(final.gap_avg), gap_avg, rtol=2e-3)
    assert res.metrics["gap_final"] == {"all": float(final.gap)} and res.diverged == {}


def test_a_step_scale_sweep_gives_the_single_value_runs(swept, singles):
    d = swept.data
    assert list(d.step_scale.values) == [0.5, 1.0] and d.gap.dims == ("degree", "step_scale", "step")
    for c, single in singles.items():
        for name in ("gap", "gap_avg"):
            # float32: a gap of 1e-5 is the square of an error of 3e-3 in theta, so 1e-7 in theta is 1e-4 in it
            np.testing.assert_allclose(d[name].sel(step_scale=c).values, single.data[name].sel(step_scale=c).values,
                                       rtol=1e-4)
        np.testing.assert_allclose(float(d.gap.sel(degree=3, step_scale=c).isel(step=-1)), _numpy_gd(c)[0], rtol=2e-3)
    labels = list(swept.metrics["gap_final"])  # one results.json entry per step scale
    assert len(labels) == 2 and all(label.startswith("step_scale=") for label in labels)


def test_the_figure_draws_every_step_scale(swept, tmp_path):
    (png,) = P2.plot(swept, tmp_path)
    assert png.name == "p2_gd.png" and png.stat().st_size > 10_000
    assert list(load_dataset(png.with_suffix(".npz")).step_scale.values) == [0.5, 1.0]


def test_a_step_too_large_diverges_and_is_reported(tmp_path):
    res = P2.run(P2.Config(step_scale=(1.0, 5.0), **SMALL), jax.random.key(0))
    at = res.data.diverged_at.sel(degree=3)
    assert int(at.sel(step_scale=1.0)) == -1 and 0 < int(at.sel(step_scale=5.0)) <= 300
    ((label, text),) = res.diverged.items()
    assert label.startswith("step_scale=5") and text == f"diverged at step {int(at.sel(step_scale=5.0))}"
    P2.plot(res, tmp_path)  # the diverged curve is masked, not plotted
    # (theta* is odd, so from 0 the top, even eigendirection stays empty: 5/beta is what makes GD diverge)
