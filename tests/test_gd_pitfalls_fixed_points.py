"""G3 and G4: exact landings on 0, the 2-cycle +-delta^2/4, and the repelling maximum of x^4 - 4x^2."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.experiments import gd_fixed_points as gfp
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.results import load_npz


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixed_points")
    assert cli.main(["run", "G3", "G4", "--quick", "--out", str(out)]) == 0
    return {e: json.loads((out / e / "results.json").read_text()) | {"dir": out / e} for e in ("G3", "G4")}


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


def test_ulp_neighbours_and_first_exact_zero():
    n = gfp.ulp_neighbours(1.0, 2)
    np.testing.assert_array_equal(n, [1 - 2 * 2.0**-53, 1 - 2.0**-53, 1.0, 1 + 2.0**-52, 1 + 2 * 2.0**-52])
    assert gfp.first_exact_zero(np.array([3.0, 1.0, 0.0, 0.0])) == 2
    assert gfp.first_exact_zero(np.array([3.0, 0.0, 1e-300, 0.0])) == 3
    assert gfp.first_exact_zero(np.array([3.0, 0.0, 1.0])) == -1


def test_g3_starts_in_s_reach_exactly_zero_in_m_steps(quick_runs):
    r = quick_runs["G3"]
    m = r["metrics"]
    assert m["all_members_reach_exact_zero"]
    expected = [k for k in range(1, 7) for _ in (1, -1)]  # +-(s_m delta)^2 for m = 1..6
    for delta in m["deltas"]:
        assert m["steps_to_zero"][f"{delta:g}"] == expected
    for row in m["exact_starts"]:
        # the start GD sends to exactly 0.0 is a float within a few ulps of the irrational member
        assert abs(row["exact_start_ulps_from_member"]) <= 8
        assert row["exact_start"] == pytest.approx(row["member"], rel=1e-14)
        assert math.copysign(1.0, row["exact_start"]) == row["sign"]
    data = load_npz(r["dir"] / "g3_three_halves.npz")
    for k, orbit in enumerate(data["exact_orbits"], start=1):
        assert np.all(orbit[k:] == 0.0) and np.all(orbit[:k] != 0.0)  # lands at step m and stays


def test_g3_nearest_floats_are_thrown_into_the_cycle(quick_runs):
    rows = quick_runs["G3"]["metrics"]["exact_starts"]
    missed = [r for r in rows if r["nearest_float_steps_to_zero"] is None]
    assert missed  # some nearest floats are not exact preimages of 0 ...
    for r in missed:  # ... they come within rounding of 0, and 0 repels them into the 2-cycle
        assert abs(r["nearest_float_residual_at_m"]) <= 1e-14 * r["delta"] ** 2
        assert r["nearest_float_final_over_cycle"] == pytest.approx(1.0, rel=1e-12)


def test_g3_random_starts_end_in_the_two_cycle(quick_runs):
    m = quick_runs["G3"]["metrics"]
    np.testing.assert_allclose(m["cycle"], np.square(m["deltas"]) / 4, rtol=1e-15)
    assert max(m["cycle_max_relative_deviation"]) <= 1e-12  # superattracting: float64 rounding level
    assert m["fraction_in_cycle"] == [1.0] * len(m["deltas"])
    assert m["num_random_starts"] == gfp.ThreeHalvesConfig.quick().seeds


def test_g4_one_step_lands_on_the_maximum(quick_runs):
    m = quick_runs["G4"]["metrics"]
    assert abs(m["first_iterate_exact_arithmetic"]) < 1e-45  # T(sqrt 3) = 3 sqrt 3 - 3 sqrt 3 = 0
    for name in ("float64", "float32"):
        s = m[name]
        assert s["first_iterate_ulps_of_sqrt3"] <= 4  # lands on 0 up to the rounding of sqrt(3)
        assert s["growth_factor_near_0"] == pytest.approx(3.0, rel=1e-6)  # |T'(0)| = 1 + 8/4
        assert abs(s["leaves_at_step"] - s["predicted_leave_step"]) <= 1.5
        lo, hi = s["range_after_leaving"]
        assert -2.0 <= lo < 0.0 < hi <= 2.0  # T(2 cos t) = -2 cos 3t: bounded, but never converging
    assert m["float64"]["leaves_at_step"] > 2 * m["float32"]["leaves_at_step"]
    assert m["start_at_zero_stays_exactly"] and m["instability_factor"] == 3.0


def test_g4_exact_zero_is_a_fixed_point_of_gd(x64):
    x = jnp.float64(0.0)
    for _ in range(5):
        x = x - 0.25 * tf.double_well_grad(x)
        assert float(x) == 0.0
    root3 = jnp.float64(math.sqrt(3.0))
    np.testing.assert_allclose(root3 - 0.25 * tf.double_well_grad(root3), 0.0, atol=4 * np.spacing(math.sqrt(3.0)))


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match="deltas"):
        gfp.ThreeHalvesConfig(deltas=(0.5, 0.0))
    with pytest.raises(ValueError, match="seeds"):
        gfp.ThreeHalvesConfig(seeds=0)
    with pytest.raises(ValueError, match="step"):
        gfp.DoubleWellConfig(step=-0.25)


def test_full_configs_have_the_spec_values():
    g3 = gfp.ThreeHalvesConfig()
    assert len(g3.deltas) >= 3 and g3.members == 6 and g3.seeds >= 1000
    g4 = gfp.DoubleWellConfig()
    assert g4.step == 0.25
