"""F1: Wilson intervals, SGD wiring, the quick run (GD stays, SGD escapes), a sweep of the trajectory step."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.experiments.flat_sharp import f1_flat_sharp as F1
from jaxopt_course.problems import finite_sum_1d as fs
from jaxopt_course.results import load_dataset

SMALL = dict(num_terms=64, num_steps=200, seeds=8, step_sizes=(1e-4, 1e-2), num_shown=2, record_every=50)


@pytest.fixture(scope="module")
def quick():
    return F1.run(F1.Config.quick(), jax.random.key(0))


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match="step"):
        F1.Config(step=0.0)
    with pytest.raises(ValueError, match="step"):
        F1.Config(step=(1e-3, -1.0))
    with pytest.raises(ValueError, match="seeds"):
        F1.Config(seeds=0)
    with pytest.raises(ValueError, match="confidence"):
        F1.Config(confidence=1.0)


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [(0, 10, 0.0, 0.27753), (50, 100, 0.40383, 0.59617), (10, 10, 0.72247, 1.0), (3, 20, 0.05236, 0.36040)],
)
def test_wilson_interval_known_values(k, n, lo, hi):
    got_lo, got_hi = F1.wilson_interval(k, n)
    assert float(got_lo) == pytest.approx(lo, abs=2e-5)
    assert float(got_hi) == pytest.approx(hi, abs=2e-5)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        F1.wilson_interval(11, 10)


def test_sgd_run_is_the_textbook_update_with_the_runner_indices(x64, getkey):
    """x_{k+1} = x_k - gamma f_{i_k}'(x_k) with i_k the runner's bulk-drawn indices, checked in NumPy."""
    config = F1.Config(num_terms=64, num_steps=50, record_every=50)
    phases = fs.sample_phases(getkey(), config.num_terms)
    key = getkey()
    trace = jax.jit(F1.sgd_trace, static_argnums=3)(key, {"step_size": jnp.float64(0.002)}, phases, config)
    idx = np.asarray(jax.random.randint(jax.random.fold_in(key, 0), (50,), 0, 64))  # one chunk of 50 steps
    x = 5.0
    for i in idx:
        p = float(phases[i])
        dbase = 200 * (x - 5) if 50 / 11 <= x < 50 / 9 else 2 * x
        x -= 0.002 * (dbase + 200 * math.cos(10 * x + p) * math.cos(2 * (x - 5))
                      - 40 * math.sin(10 * x + p) * math.sin(2 * (x - 5)))
    assert float(trace.state.params) == pytest.approx(x, rel=1e-12)


def test_escape_statistics_counts_only_finite_flat_basin_ends():
    final = np.array([[0.1, 5.0], [4.0, 4.6], [np.nan, -1.0], [9.0, 5.5]])
    diverged = np.array([[-1, -1], [-1, -1], [3, -1], [-1, -1]])
    stats = F1.escape_statistics(final, diverged, 0.95)
    np.testing.assert_array_equal(stats["escaped"], [2, 1])
    assert stats["trials"] == 4


def test_quick_run_gd_stays_sgd_escapes(quick):
    m = quick.metrics
    # GD contracts by |1 - 0.001 f''| ~ 0.8 per step inside the sharp basin: it stays next to 5.
    assert m["gd_final_in_sharp_basin"] == {"all": True} and abs(m["gd_final_x"]["all"] - 5.0) < 0.05
    assert m["gd_final_curvature"]["all"] > 100  # the sharp basin's curvature (200 + the mean's wiggles)
    assert quick.data.step.values.tolist() == [1e-3]
    # 256 seeds: the Wilson interval's half-width is < 0.07; the full run measures ~0.9.
    frac_course = m["sgd_escape_fraction"]["all"]
    assert 0.6 < frac_course < 0.99
    lo, hi = m["sgd_escape_ci"]["all"]
    assert lo <= frac_course <= hi and hi - lo < 0.15
    curve = m["escape_curve"]
    steps, frac = np.array(curve["step_size"]), np.array(curve["fraction"])
    assert len(steps) >= 6 and steps.min() == pytest.approx(1e-4) and steps.max() == pytest.approx(1e-2)
    # gamma = 1e-4: 2000 steps move x by ~sqrt(2000) * 0.02 ~ 0.9 at most: no seed leaves the basin.
    assert frac[0] == 0.0
    assert frac[np.argmin(np.abs(steps - 1e-3))] > frac[0]
    assert np.all(np.array(curve["ci_low"]) <= frac) and np.all(frac <= np.array(curve["ci_high"]))
    assert float(quick.data.escape_fraction.sel(step_size=1e-3)) == frac_course
    assert quick.diverged == {}


def test_quick_figures_and_their_data(quick, tmp_path):
    paths = F1.plot(quick, tmp_path)
    assert sorted(p.name for p in paths) == ["f1_escape.png", "f1_trajectories.png"]
    assert {p.stem for p in paths} == set(F1.CAPTIONS)
    assert (tmp_path / "f1_escape.npz").exists()
    data = load_dataset(tmp_path / "f1_trajectories.npz")
    assert data.x_gd.dims == ("step", "iteration") and data.x_gd.shape == (1, data.sizes["iteration"])
    assert data.x_sgd_shown.shape == (1, 4, data.sizes["iteration"])
    assert data.x_gd.values[0, 0] == 5.0 and np.all(data.x_sgd_shown.values[0, :, 0] == 5.0)


def test_a_step_sweep_gives_the_single_value_runs():
    swept = F1.run(F1.Config(step=(1e-3, 2e-3), **SMALL), jax.random.key(3))
    d = swept.data
    np.testing.assert_array_equal(d.step.values, [1e-3, 2e-3])
    assert {1e-3, 2e-3} <= set(d.step_size.values.tolist())
    assert set(swept.metrics["gd_final_x"]) == {"step=0.001", "step=0.002"}
    for step in (1e-3, 2e-3):
        one = F1.run(F1.Config(step=step, **SMALL), jax.random.key(3)).data
        np.testing.assert_allclose(d.x_gd.sel(step=step), one.x_gd.sel(step=step), rtol=1e-6)
        np.testing.assert_allclose(d.x_sgd_shown.sel(step=step), one.x_sgd_shown.sel(step=step), rtol=1e-6)
        np.testing.assert_allclose(d.final_x.sel(step_size=step), one.final_x.sel(step_size=step), rtol=1e-6)


def test_full_config_has_the_spec_sizes():
    c = F1.Config()
    assert (c.num_terms, c.x0, c.step, c.num_steps) == (2000, 5.0, 1e-3, 2000)
    steps = F1.step_size_grid(c)
    assert c.seeds >= 1000 and steps.size >= 6
    assert steps.min() == pytest.approx(1e-4) and steps.max() == pytest.approx(1e-2)
    assert np.any(steps == 1e-3)
