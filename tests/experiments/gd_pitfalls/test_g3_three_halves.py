"""G3: exact landings on 0 from S, the nearest floats thrown off 0, and the 2-cycle +-delta^2/4."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import labelled
from jaxopt_course.experiments.gd_pitfalls import g3_three_halves as G3
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.results import load_dataset


@pytest.fixture(scope="module")
def results():
    return G3.run(G3.Config.quick(), jax.random.key(0))


def test_three_halves_gradient_matches_jax_grad_away_from_0(x64, getkey):
    x = jax.random.uniform(getkey(), (30,), jnp.float64, 0.01, 5.0) * jnp.where(jnp.arange(30) % 2, 1.0, -1.0)
    np.testing.assert_allclose(tf.three_halves_grad(x), jax.jit(jax.vmap(jax.grad(tf.three_halves)))(x), rtol=1e-13)
    assert float(tf.three_halves_grad(0.0)) == 0.0


def test_preimage_scales_solve_the_gd_map_exactly():
    s = tf.three_halves_preimage_scales(10)
    assert s[:3] == [0.0, 1.0, pytest.approx((1 + math.sqrt(5)) / 2, rel=1e-15)]
    for delta in (0.1, 0.5, 3.0):
        for m in range(10):
            x = (s[m + 1] * delta) ** 2  # T(x) = x - delta sqrt(x) must be (s_m delta)^2
            assert x - delta * math.sqrt(x) == pytest.approx((s[m] * delta) ** 2, rel=1e-13, abs=1e-15 * delta**2)


def test_two_cycle_is_exact_for_dyadic_delta(x64):
    for delta in (0.25, 0.5, 1.0, 2.0):
        c = tf.three_halves_cycle(delta)
        assert float(c - delta * tf.three_halves_grad(jnp.float64(c))) == -c
        assert float(-c - delta * tf.three_halves_grad(jnp.float64(-c))) == c


def test_starts_in_s_reach_exactly_zero_in_m_steps(results):
    m, d = results.metrics, results.data
    assert m["all_members_reach_exact_zero"]
    expected = [k for k in range(1, 7) for _ in (1, -1)]  # +-(s_m delta)^2 for m = 1..6
    assert list(m["steps_to_zero"].values()) == [expected] * len(m["deltas"])
    assert m["steps_to_zero"] == labelled.cells(d.steps_to_zero, exclude=("member",))
    for row in m["exact_starts"]:
        # the start GD sends to exactly 0.0 is a float within a few ulps of the irrational member
        assert abs(row["exact_start_ulps_from_member"]) <= 8
        assert row["exact_start"] == pytest.approx(row["member"], rel=1e-14)
        assert math.copysign(1.0, row["exact_start"]) == row["sign"]
    assert d.exact_orbits.dims == ("delta", "member", "k") and list(d.delta.values) == m["deltas"]
    for delta in d.delta.values:
        for member in d.member.values:
            orbit, k = d.exact_orbits.sel(delta=delta, member=member).values, int(d.m.sel(member=member))
            assert np.all(orbit[k:] == 0.0) and np.all(orbit[:k] != 0.0)  # lands at step m and stays


def test_nearest_floats_are_thrown_into_the_cycle(results):
    rows = results.metrics["exact_starts"]
    missed = [r for r in rows if r["nearest_float_steps_to_zero"] is None]
    assert missed  # some nearest floats are not exact preimages of 0 ...
    for r in missed:  # ... they come within rounding of 0, and 0 repels them into the 2-cycle
        assert abs(r["nearest_float_residual_at_m"]) <= 1e-14 * r["delta"] ** 2
        assert r["nearest_float_final_over_cycle"] == pytest.approx(1.0, rel=1e-12)
    assert results.metrics["nearest_float_exact_zero_count"] == len(rows) - len(missed)


def test_random_starts_end_in_the_two_cycle(results):
    m, d = results.metrics, results.data
    np.testing.assert_allclose(list(m["cycle"].values()), np.square(m["deltas"]) / 4, rtol=1e-15)
    assert max(m["cycle_max_relative_deviation"].values()) <= 1e-12  # superattracting: float64 rounding level
    assert list(m["fraction_in_cycle"].values()) == [1.0] * len(m["deltas"])
    assert m["num_random_starts"] == G3.Config.quick().seeds == d.sizes["seed"]
    assert d.random_x.dims == ("delta", "seed", "step") and d.random_x.dtype == np.float64


def test_figure_is_written_with_its_labelled_data(results, tmp_path):
    (png,) = G3.plot(results, tmp_path)
    assert png.name == "g3_three_halves.png" and png.stat().st_size > 10_000
    assert set(G3.CAPTIONS) == {png.stem}
    assert list(load_dataset(png.with_suffix(".npz")).delta.values) == [0.25, 0.5, 1.0]


def test_config_rejects_bad_input():
    with pytest.raises(ValueError, match="deltas"):
        G3.Config(deltas=(0.5, 0.0))
    with pytest.raises(ValueError, match="seeds"):
        G3.Config(seeds=0)


def test_full_config_has_the_spec_values():
    g3 = G3.Config()
    assert len(g3.deltas) >= 3 and g3.members == 6 and g3.seeds >= 1000
