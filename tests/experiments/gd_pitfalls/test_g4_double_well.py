"""G4: one GD step of 1/4 from sqrt(3) lands on the repelling maximum 0 of x^4 - 4x^2."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.experiments.gd_pitfalls import g4_double_well as G4
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.results import load_dataset


@pytest.fixture(scope="module")
def results():
    return G4.run(G4.Config.quick(), jax.random.key(0))


def test_one_step_lands_on_the_maximum(results):
    m = results.metrics
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


def test_orbits_are_labelled_by_step_in_their_precision(results):
    d = results.data
    assert list(d.step.values) == list(range(G4.Config().num_steps + 1))
    assert d.orbit_float64.dtype == np.float64 and d.orbit_float32.dtype == np.float32
    assert d.orbit_float64.values[0] == math.sqrt(3.0) and np.all(d.orbit_from_zero.values == 0.0)
    assert d.orbit_float64.values[1] == results.metrics["float64"]["first_iterate"]


def test_exact_zero_is_a_fixed_point_of_gd(x64):
    x = jnp.float64(0.0)
    for _ in range(5):
        x = x - 0.25 * tf.double_well_grad(x)
        assert float(x) == 0.0
    root3 = jnp.float64(math.sqrt(3.0))
    np.testing.assert_allclose(root3 - 0.25 * tf.double_well_grad(root3), 0.0, atol=4 * np.spacing(math.sqrt(3.0)))


def test_figure_is_written_with_its_data(results, tmp_path):
    (png,) = G4.plot(results, tmp_path)
    assert png.name == "g4_double_well.png" and png.stat().st_size > 10_000
    assert set(G4.CAPTIONS) == {png.stem}
    assert load_dataset(png.with_suffix(".npz")).sizes["step"] == G4.Config().num_steps + 1


def test_config_rejects_bad_input_and_has_the_spec_step():
    with pytest.raises(ValueError, match="step"):
        G4.Config(step=-0.25)
    assert G4.Config().step == 0.25
