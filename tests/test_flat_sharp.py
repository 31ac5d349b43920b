"""F1: the finite sum and its hand-derived derivatives, Wilson intervals, SGD wiring, the CLI run."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.experiments import flat_sharp
from jaxopt_course.problems import finite_sum_1d as fs
from jaxopt_course.results import load_npz


def _reference_terms(x: float, phases: np.ndarray) -> np.ndarray:
    """f_i(x) written term by term, straight from the SPEC, in NumPy."""
    if x < 50 / 11:
        b = x * x
    elif x < 50 / 9:
        b = 100 * (x - 5) ** 2
    else:
        b = x * x
    return np.array([b + 20 * math.sin(10 * x + p) * math.cos(2 * (x - 5)) for p in phases])


def _away_from_breaks(key, num: int) -> jax.Array:
    """num points in [-3, 8] at least 1e-3 from 50/11 and 50/9."""
    x = jax.random.uniform(key, (4 * num,), jnp.float64, -3.0, 8.0)
    far = (jnp.abs(x - fs.LEFT_BREAK) > 1e-3) & (jnp.abs(x - fs.RIGHT_BREAK) > 1e-3)
    return x[far][:num]


def test_terms_match_the_spec_term_by_term(x64, getkey):
    phases = fs.sample_phases(getkey(), 50)
    for x in (-1.3, 0.0, 4.0, 50 / 11, 5.0, 5.3, 50 / 9, 6.5):
        np.testing.assert_allclose(fs.terms(x, phases), _reference_terms(x, np.asarray(phases)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fs.loss(5.3, phases), _reference_terms(5.3, np.asarray(phases)).mean(), rtol=1e-12)


def test_phases_are_uniform_on_0_2pi(getkey):
    p = np.asarray(fs.sample_phases(getkey(), 20000))
    assert p.min() >= 0 and p.max() < 2 * np.pi
    assert abs(p.mean() - np.pi) < 0.05  # std of the mean: 2 pi / sqrt(12 * 20000) = 0.013


def test_base_is_continuous_at_both_breakpoints(x64):
    for b in (fs.LEFT_BREAK, fs.RIGHT_BREAK):
        left, right = fs.base(jnp.nextafter(b, -np.inf)), fs.base(jnp.asarray(b))
        np.testing.assert_allclose(left, right, rtol=1e-12)
    np.testing.assert_allclose(fs.base(fs.LEFT_BREAK), 2500 / 121, rtol=1e-14)
    np.testing.assert_allclose(fs.base(fs.RIGHT_BREAK), 2500 / 81, rtol=1e-14)


def test_hand_derivatives_match_jax_grad_away_from_breakpoints(x64, getkey):
    phases = fs.sample_phases(getkey(), 300)
    xs = _away_from_breaks(getkey(), 40)
    over_x = lambda f: jax.jit(jax.vmap(f, in_axes=(0, None)))  # noqa: E731
    hand, auto = over_x(fs.term_grads)(xs, phases), over_x(jax.jacfwd(fs.terms))(xs, phases)
    np.testing.assert_allclose(hand, auto, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(over_x(fs.grad)(xs, phases), over_x(jax.grad(fs.loss))(xs, phases),
                               rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(fs.term_grad(xs[0], phases[7]), hand[0, 7], rtol=1e-14)


def test_base_derivative_jumps_at_the_breakpoints(x64):
    eps = 1e-9
    assert float(fs.base_grad(fs.LEFT_BREAK - eps)) == pytest.approx(2 * 50 / 11)
    assert float(fs.base_grad(fs.LEFT_BREAK + eps)) == pytest.approx(200 * (50 / 11 - 5))


def test_bad_shapes_raise_value_error(getkey):
    with pytest.raises(ValueError, match="phases"):
        fs.terms(1.0, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="scalar"):
        fs.loss(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="num_terms"):
        fs.sample_phases(getkey(), 0)
    with pytest.raises(ValueError, match="step"):
        flat_sharp.FlatSharpConfig(step=0.0)
    with pytest.raises(ValueError, match="seeds"):
        flat_sharp.FlatSharpConfig(seeds=0)


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [(0, 10, 0.0, 0.27753), (50, 100, 0.40383, 0.59617), (10, 10, 0.72247, 1.0), (3, 20, 0.05236, 0.36040)],
)
def test_wilson_interval_known_values(k, n, lo, hi):
    got_lo, got_hi = flat_sharp.wilson_interval(k, n)
    assert float(got_lo) == pytest.approx(lo, abs=2e-5)
    assert float(got_hi) == pytest.approx(hi, abs=2e-5)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        flat_sharp.wilson_interval(11, 10)


def test_sgd_run_is_the_textbook_update_with_the_runner_indices(x64, getkey):
    """x_{k+1} = x_k - gamma f_{i_k}'(x_k) with i_k the runner's bulk-drawn indices, checked in NumPy."""
    config = flat_sharp.FlatSharpConfig(num_terms=64, num_steps=50, record_every=50)
    phases = fs.sample_phases(getkey(), config.num_terms)
    key = getkey()
    trace = jax.jit(flat_sharp._sgd_one, static_argnums=3)(key, phases, jnp.float64(0.002), config)
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
    stats = flat_sharp.escape_statistics(final, diverged, 0.95)
    np.testing.assert_array_equal(stats["escaped"], [2, 1])
    assert stats["trials"] == 4


@pytest.fixture(scope="module")
def f1_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("f1")
    assert cli.main(["run", "F1", "--quick", "--out", str(out)]) == 0
    return out / "F1"


def test_quick_cli_run_gd_stays_sgd_escapes(f1_quick):
    record = json.loads((f1_quick / "results.json").read_text())
    m = record["metrics"]
    # GD contracts by |1 - 0.001 f''| ~ 0.8 per step inside the sharp basin: it stays next to 5.
    assert m["gd_final_in_sharp_basin"] and abs(m["gd_final_x"] - 5.0) < 0.05
    assert m["gd_final_curvature"] > 100  # the sharp basin's curvature (200 + the mean's wiggles)
    assert m["sgd_step"] == pytest.approx(1e-3)
    # 256 seeds: the Wilson interval's half-width is < 0.07; the full run measures ~0.9.
    assert 0.6 < m["sgd_escape_fraction"] < 0.99
    lo, hi = m["sgd_escape_ci"]
    assert lo <= m["sgd_escape_fraction"] <= hi and hi - lo < 0.15
    curve = m["escape_curve"]
    steps, frac = np.array(curve["step_size"]), np.array(curve["fraction"])
    assert len(steps) >= 6 and steps.min() == pytest.approx(1e-4) and steps.max() == pytest.approx(1e-2)
    # gamma = 1e-4: 2000 steps move x by ~sqrt(2000) * 0.02 ~ 0.9 at most: no seed leaves the basin.
    assert frac[0] == 0.0
    assert frac[np.argmin(np.abs(steps - 1e-3))] > frac[0]
    assert np.all(np.array(curve["ci_low"]) <= frac) and np.all(frac <= np.array(curve["ci_high"]))
    assert record["diverged"] == {}
    assert sorted(record["figures"]) == ["f1_escape.png", "f1_trajectories.png"]
    assert (f1_quick / "f1_escape.npz").exists() and (f1_quick / "data.npz").exists()


def test_quick_cli_data_has_one_gd_line_and_sgd_seeds(f1_quick):
    data = load_npz(f1_quick / "f1_trajectories.npz")
    assert data["x_gd"].shape == data["record_steps"].shape
    assert data["x_sgd_shown"].shape == (4, data["record_steps"].size)
    assert data["x_gd"][0] == 5.0 and np.all(data["x_sgd_shown"][:, 0] == 5.0)


def test_full_config_has_the_spec_sizes():
    c = flat_sharp.FlatSharpConfig()
    assert (c.num_terms, c.x0, c.step, c.num_steps) == (2000, 5.0, 1e-3, 2000)
    steps = flat_sharp.step_size_grid(c)
    assert c.seeds >= 1000 and steps.size >= 6
    assert steps.min() == pytest.approx(1e-4) and steps.max() == pytest.approx(1e-2)
    assert np.any(steps == 1e-3)
