"""Polynomial least squares: closed forms against NumPy, gradients against jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course.problems import least_squares as ls


@pytest.fixture
def data(x64):
    xs, ys = ls.course_data()
    return np.asarray(xs), np.asarray(ys)


def test_course_data_and_features(data):
    xs, ys = data
    np.testing.assert_allclose(xs, np.linspace(-1, 1, 7))
    np.testing.assert_allclose(ys, np.sin(5 * xs) * np.exp(np.abs(2 * xs)) / 10)
    np.testing.assert_allclose(ls.features(xs, 3), np.vander(xs, 4, increasing=True))


@pytest.mark.parametrize("degree", [3, 9])
def test_gradients_and_hessian_match_autodiff(data, degree, getkey):
    xs, ys = data
    X = ls.features(jnp.asarray(xs), degree)
    theta = jax.random.normal(getkey(), (degree + 1,), jnp.float64)
    np.testing.assert_allclose(ls.grad(theta, X, ys), jax.grad(ls.loss)(theta, X, ys), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ls.hessian(X), jax.hessian(ls.loss)(theta, X, ys), rtol=1e-12, atol=1e-12)
    for i in range(7):
        np.testing.assert_allclose(ls.grad_i(theta, X, ys, i), jax.grad(ls.loss_i)(theta, X, ys, i), rtol=1e-12)
    mean_grad_i = np.mean([ls.grad_i(theta, X, ys, i) for i in range(7)], axis=0)
    np.testing.assert_allclose(mean_grad_i, ls.grad(theta, X, ys), rtol=1e-12, atol=1e-13)


def test_smoothness_is_spectral_not_frobenius(data):
    xs, _ = data
    for degree, ratio in [(3, 1.168), (9, 1.328)]:
        X = np.vander(xs, degree + 1, increasing=True)
        expected = 2 / 7 * np.linalg.eigvalsh(X.T @ X).max()
        np.testing.assert_allclose(ls.smoothness(jnp.asarray(X)), expected, rtol=1e-12)
        np.testing.assert_allclose(ls.frobenius_smoothness(jnp.asarray(X)) / expected, ratio, atol=1e-3)


def test_scaled_smoothness(data):
    xs, _ = data
    X = np.vander(xs, 10, increasing=True)
    h = np.logspace(-3, 0, 10)
    M = np.diag(np.sqrt(h)) @ X.T @ X @ np.diag(np.sqrt(h))
    np.testing.assert_allclose(ls.scaled_smoothness(jnp.asarray(X), jnp.asarray(h)), 2 / 7 * np.linalg.eigvalsh(M).max(),
                               rtol=1e-12)
    full = ls.scaled_smoothness(jnp.asarray(X), jnp.asarray(np.diag(h)))  # same H^{-1} given as a matrix
    np.testing.assert_allclose(full, 2 / 7 * np.linalg.eigvalsh(M).max(), rtol=1e-10)


def test_unique_solution_matches_numpy_lstsq(data):
    xs, ys = data
    X = np.vander(xs, 4, increasing=True)
    np.testing.assert_allclose(ls.unique_solution(jnp.asarray(X), ys), np.linalg.lstsq(X, ys, rcond=None)[0],
                               rtol=1e-10, atol=1e-14)


def test_min_norm_solution_is_pinv_solution(data):
    xs, ys = data
    X = np.vander(xs, 10, increasing=True)
    theta = ls.min_norm_solution(jnp.asarray(X), ys)
    np.testing.assert_allclose(theta, np.linalg.pinv(X) @ ys, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(X @ np.asarray(theta), ys, atol=1e-12)


def test_projection_is_orthogonal_projection(data, getkey):
    """theta* - a lies in the row space of X, and X theta* = y."""
    xs, ys = data
    X = np.vander(xs, 10, increasing=True)
    a = np.asarray(jax.random.normal(getkey(), (10,), jnp.float64)) * 100
    theta = np.asarray(ls.projection(jnp.asarray(X), ys, a))
    np.testing.assert_allclose(X @ theta, ys, atol=1e-9)
    null = np.linalg.svd(X)[2][7:]  # null-space basis of X
    np.testing.assert_allclose(null @ (theta - a), 0, atol=1e-9)


def test_scaled_projection_minimizes_h_norm(data, getkey):
    """theta* = argmin (theta - a)^T H (theta - a) s.t. X theta = y: check against a KKT solve."""
    xs, ys = data
    X = np.vander(xs, 10, increasing=True)
    h_inv = np.logspace(-3, 0, 10)
    a = np.asarray(jax.random.normal(getkey(), (10,), jnp.float64))
    K = np.block([[np.diag(1 / h_inv), X.T], [X, np.zeros((7, 7))]])
    kkt = np.linalg.solve(K, np.concatenate([np.diag(1 / h_inv) @ a, ys]))[:10]
    np.testing.assert_allclose(ls.scaled_projection(jnp.asarray(X), ys, h_inv, a), kkt, rtol=1e-7, atol=1e-9)


def test_suboptimality_equals_loss_gap(data, getkey):
    xs, ys = data
    X = jnp.asarray(np.vander(xs, 4, increasing=True))
    star = ls.unique_solution(X, ys)
    theta = jax.random.normal(getkey(), (4,), jnp.float64)
    np.testing.assert_allclose(ls.suboptimality(theta, X, star), ls.loss(theta, X, ys) - ls.loss(star, X, ys), rtol=1e-10)


def test_bad_input_raises_value_error(data):
    xs, ys = data
    X3, X9 = ls.features(jnp.asarray(xs), 3), ls.features(jnp.asarray(xs), 9)
    with pytest.raises(ValueError, match="not unique"):
        ls.unique_solution(X9, ys)
    with pytest.raises(ValueError, match="under-parameterized"):
        ls.min_norm_solution(X3, ys)
    with pytest.raises(ValueError, match="theta must have shape"):
        ls.loss(jnp.zeros(3), X3, ys)
    with pytest.raises(ValueError, match="y must have shape"):
        ls.grad(jnp.zeros(4), X3, ys[:5])
    with pytest.raises(ValueError, match="degree"):
        ls.features(xs, -1)
    with pytest.raises(ValueError, match="degree"):
        ls.features(xs, 2.5)
    with pytest.raises(ValueError, match="h_inv"):
        ls.scaled_projection(X9, ys, jnp.ones(3), jnp.zeros(10))
