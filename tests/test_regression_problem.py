"""Power-loss regression problem: data, least squares, losses and gradients against references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.problems import power_regression as pr


@pytest.fixture
def data(getkey):
    return pr.make_data(getkey())


def test_data_shapes_ranges_and_noise(getkey):
    d = pr.make_data(getkey(), dim=10, num_train=1000, num_test=50, noise_std=0.1)
    assert d.a_train.shape == (1000, 10) and d.a_test.shape == (50, 10)
    assert d.y_train.shape == (1000,) and d.y_test.shape == (50,)
    assert d.a_train.dtype == jnp.float32
    np.testing.assert_array_equal(d.theta_true, np.ones(10))
    a = np.asarray(d.a_train)
    assert a.min() >= -1 and a.max() <= 1
    np.testing.assert_allclose(a.mean(), 0.0, atol=0.02)
    np.testing.assert_allclose(a.var(), 1 / 3, rtol=0.03)  # Var U(-1, 1) = 1/3
    noise = np.asarray(d.y_train) - a @ np.ones(10)
    np.testing.assert_allclose(noise.std(), 0.1, rtol=0.1)


def test_same_key_same_data_other_key_other_data(getkey):
    key = getkey()
    np.testing.assert_array_equal(pr.make_data(key).a_train, pr.make_data(key).a_train)
    assert not np.allclose(pr.make_data(key).a_train, pr.make_data(getkey()).a_train)


def test_least_squares_matches_numpy_and_is_close_to_truth(data):
    theta = pr.least_squares_solution(data.a_train, data.y_train)
    ref, *_ = np.linalg.lstsq(np.asarray(data.a_train, np.float64), np.asarray(data.y_train, np.float64),
                              rcond=None)
    np.testing.assert_allclose(theta, ref, rtol=0, atol=2e-5)
    # E ||theta_LS - theta_true||^2 = sigma^2 tr((A^T A)^-1) ~ 0.01 * 10 * 3 / 1000 = 3e-4.
    dist = float(jnp.linalg.norm(theta - data.theta_true))
    assert 0.005 < dist < 0.04


@pytest.mark.parametrize("gamma", pr.COURSE_GAMMAS)
def test_power_loss_matches_numpy(data, gamma, getkey):
    theta = jax.random.uniform(getkey(), (10,))
    e = np.asarray(data.a_test, np.float64) @ np.asarray(theta, np.float64) - np.asarray(data.y_test, np.float64)
    np.testing.assert_allclose(pr.power_loss(theta, data.a_test, data.y_test, gamma), np.mean(np.abs(e) ** gamma),
                               rtol=1e-5)


@pytest.mark.parametrize("gamma", pr.COURSE_GAMMAS)
def test_closed_form_gradient_equals_autodiff(gamma, getkey, x64):
    d = pr.make_data(getkey(), num_train=200)
    theta = jax.random.uniform(getkey(), (10,))
    assert np.min(np.abs(np.asarray(pr.residuals(theta, d.a_train, d.y_train)))) > 1e-6  # away from e = 0
    closed = pr.power_loss_grad(theta, d.a_train, d.y_train, gamma)
    auto = jax.grad(pr.power_loss)(theta, d.a_train, d.y_train, gamma)
    np.testing.assert_allclose(closed, auto, rtol=1e-10, atol=1e-12)
    # and against the formula written out in NumPy
    a, e = np.asarray(d.a_train), np.asarray(pr.residuals(theta, d.a_train, d.y_train))
    ref = (gamma * np.abs(e) ** (gamma - 1) * np.sign(e)) @ a / a.shape[0]
    np.testing.assert_allclose(closed, ref, rtol=1e-10)


def test_gradient_at_zero_residual():
    """At e = 0 the closed form returns 0 for every gamma; jax.grad does not for gamma <= 1."""
    a = jnp.array([[1.0, 0.0], [0.5, 2.0]])
    theta = jnp.array([0.3, -0.2])
    y = a @ theta  # both residuals exactly 0
    for gamma in pr.COURSE_GAMMAS:
        np.testing.assert_array_equal(pr.power_loss_grad(theta, a, y, gamma), np.zeros(2))
    np.testing.assert_array_equal(pr.power_derivative(jnp.zeros(3), 0.4), np.zeros(3))
    # jax.grad's convention at 0: +inf for gamma < 1 (then NaN where a_j = 0), +1 for gamma = 1.
    assert np.isinf(jax.grad(pr.power)(0.0, 0.4)) and jax.grad(pr.power)(0.0, 0.4) > 0
    assert float(jax.grad(pr.power)(0.0, 1.0)) == 1.0
    assert float(jax.grad(pr.power)(0.0, 2.0)) == 0.0
    # our derivative is differentiable itself at 0 (no NaN leaks into second derivatives)
    assert np.isfinite(jax.grad(pr.power_derivative)(0.0, 0.4))


def test_derivative_is_continuous_for_gamma_above_one_and_blows_up_below():
    e = jnp.array([1e-3, -1e-3])
    np.testing.assert_allclose(pr.power_derivative(e, 2.0), [2e-3, -2e-3], rtol=1e-6)
    np.testing.assert_allclose(pr.power_derivative(e, 0.4), [0.4 * 1e-3 ** -0.6, -0.4 * 1e-3 ** -0.6], rtol=1e-5)
    np.testing.assert_allclose(pr.power_derivative(e, 1.0), [1.0, -1.0])


def test_bad_shapes_and_sizes_raise(data):
    with pytest.raises(ValueError, match="theta must have shape"):
        pr.power_loss(jnp.ones(3), data.a_train, data.y_train, 2.0)
    with pytest.raises(ValueError, match="y must have shape"):
        pr.power_loss_grad(jnp.ones(10), data.a_train, data.y_test, 2.0)
    with pytest.raises(ValueError, match="num_train"):
        pr.make_data(jax.random.key(0), num_train=0)
    with pytest.raises(ValueError, match="noise_std"):
        pr.make_data(jax.random.key(0), noise_std=-1.0)
