"""The 1-D and 2-D functions of section G: hand-written gradients, the plateau, the quadratic risk."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.problems import toy_functions as tf


def test_hand_gradients_match_jax_grad(x64, getkey):
    x = jax.random.uniform(getkey(), (25,), jnp.float64, -3.0, 4.0)
    a, c = jnp.array([2.0, 0.1]), jnp.array([1.0, -1.0])
    w = jax.random.normal(getkey(), (2,), jnp.float64)

    @jax.jit
    def pairs(x, w):
        """(hand-written, autodiff) gradient pairs of the four functions."""
        auto = lambda f: jax.vmap(jax.grad(f))(x)  # noqa: E731
        return [(tf.plateau_grad(x), auto(tf.plateau)), (tf.double_well_grad(x), auto(tf.double_well)),
                (tf.anisotropic_quadratic_grad(w, a, c), jax.grad(tf.anisotropic_quadratic)(w, a, c)),
                (tf.quadratic_risk_grad(w), jax.grad(tf.quadratic_risk)(w))]

    for hand, auto in pairs(x, w):
        np.testing.assert_allclose(hand, auto, rtol=1e-12, atol=1e-12)


def test_plateau_has_one_minimum_and_a_shelf(x64):
    x = jnp.linspace(-5.0, 6.0, 2001)
    g = tf.plateau_grad(x)
    assert np.all(np.sign(g) == np.sign(x))  # f' = x ((x-a)^2 + eps): its only root is 0
    assert float(tf.plateau_grad(2.0)) == pytest.approx(2.0 * 0.01)  # the shelf's slope a * eps
    assert float(tf.plateau(0.0)) == 0.0


def test_quadratic_risk_minimizer_and_hessian(x64):
    w_star = jnp.array(tf.RISK_MINIMIZER)
    np.testing.assert_array_equal(tf.quadratic_risk_grad(w_star), [0.0, 0.0])
    np.testing.assert_array_equal(jax.jit(jax.hessian(tf.quadratic_risk))(w_star), [[26.0, -10.0], [-10.0, 4.0]])
    lam = np.linalg.eigvalsh(np.array(tf.RISK_HESSIAN))
    np.testing.assert_allclose(lam, [15 - math.sqrt(221), 15 + math.sqrt(221)], rtol=1e-14)
    H = tf.quadratic_risk_hessian()
    assert float(tf.critical_step(H)) == pytest.approx(2 / (15 + math.sqrt(221)), rel=1e-12)
    for gamma in (0.02, 0.05, 0.1):  # rho = ||I - gamma H||_2, the spectral norm of the iteration matrix
        assert float(tf.contraction_factor(gamma, H)) == pytest.approx(np.linalg.norm(np.eye(2) - gamma * H, 2))
