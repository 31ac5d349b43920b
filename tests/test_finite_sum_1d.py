"""The F1 finite sum: the SPEC's terms, its phases, its piecewise base and the hand-derived derivatives."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.problems import finite_sum_1d as fs


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
