"""Polynomial least squares: f(theta) = 1/N ||X theta - Y||^2 with X_ij = x_i^j.

Every function is pure and jit-able; shapes are checked eagerly (they are static
under jit) and a mismatch raises ``ValueError``. Closed forms use QR
factorizations and triangular solves, never explicit inverses.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from jaxopt_course.problems._checks import (
    check_finite,
    check_index,
    check_positive_entries,
    check_regression_data,
    concrete,
)

COURSE_NUM_POINTS = 7
MAX_DEGREE = 1000  # x^n under/overflows float32 for |x| != 1 long before this


def course_data(num_points: int = COURSE_NUM_POINTS, dtype=None) -> tuple[jax.Array, jax.Array]:
    """xs = linspace(-1, 1, N), ys = sin(5 xs) exp(|2 xs|) / 10."""
    if int(num_points) != num_points or num_points < 1:
        raise ValueError(f"num_points must be a positive integer, got {num_points!r}")
    n = int(num_points)
    i = jnp.arange(n, dtype=dtype or jnp.result_type(float))
    # (2i - (N-1)) / (N-1) is exactly antisymmetric (x_{N-1-i} = -x_i, middle point 0),
    # unlike start + i * step, which leaves the middle point at about -3e-17.
    xs = (2 * i - (n - 1)) / max(n - 1, 1)
    return xs, target_function(xs)


def target_function(x: jax.Array) -> jax.Array:
    """y(x) = sin(5 x) exp(|2 x|) / 10."""
    return jnp.sin(5 * x) * jnp.exp(jnp.abs(2 * x)) / 10


def features(x: jax.Array, degree: int) -> jax.Array:
    """phi(x) = [1, x, ..., x^n] for each point: the N x (n+1) Vandermonde matrix X."""
    if isinstance(degree, bool) or not float(degree).is_integer() or not 0 <= degree <= MAX_DEGREE:
        raise ValueError(f"degree must be an integer in [0, {MAX_DEGREE}], got {degree!r}")
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    check_finite("x", x)
    return x[:, None] ** jnp.arange(int(degree) + 1, dtype=x.dtype)[None, :]


def polyval(theta: jax.Array, x: jax.Array) -> jax.Array:
    """p(x) = theta . phi(x) = sum_j theta_j x^j."""
    theta = jnp.asarray(theta)
    if theta.ndim != 1:
        raise ValueError(f"theta must be 1-D, got shape {theta.shape}")
    return features(x, theta.shape[0] - 1) @ theta


def loss(theta: jax.Array, X: jax.Array, y: jax.Array) -> jax.Array:
    """f(theta) = 1/N ||X theta - y||^2."""
    check_regression_data(theta, X, y)
    r = X @ theta - y
    return jnp.mean(r * r)


def loss_i(theta: jax.Array, X: jax.Array, y: jax.Array, i) -> jax.Array:
    """f_i(theta) = (theta . phi(x_i) - y_i)^2."""
    check_regression_data(theta, X, y)
    r = X[i] @ theta - y[i]
    return r * r


def grad(theta: jax.Array, X: jax.Array, y: jax.Array) -> jax.Array:
    """grad f(theta) = 2/N X^T (X theta - y)."""
    check_regression_data(theta, X, y)
    return (2.0 / X.shape[0]) * (X.T @ (X @ theta - y))


def grad_i(theta: jax.Array, X: jax.Array, y: jax.Array, i) -> jax.Array:
    """grad f_i(theta) = 2 (theta . phi(x_i) - y_i) phi(x_i); E_i[grad f_i] = grad f."""
    check_regression_data(theta, X, y)
    check_index("i", i, X.shape[0])
    return 2.0 * (X[i] @ theta - y[i]) * X[i]


def _at_least_float32(*arrays):
    """The arrays promoted to at least float32: LAPACK has no integer or half-precision
    routines, and float16 overflows in X^T X for entries of order 10."""
    dtype = jnp.result_type(*arrays)
    if not jnp.issubdtype(dtype, jnp.floating) or jnp.finfo(dtype).bits < 32:  # strict promotion has no
        dtype = jnp.dtype(jnp.float32)  # float64 + float32 path, so the float32 floor is applied by hand
    return tuple(jnp.asarray(a, dtype) for a in arrays)


def _check_matrix(X) -> None:
    """Raise ValueError unless X is a finite, non-empty 2-D array."""
    check_regression_data(None, X, jnp.zeros(X.shape[0], X.dtype) if X.ndim == 2 else X)


def hessian(X: jax.Array) -> jax.Array:
    """nabla^2 f = 2/N X^T X (constant in theta)."""
    _check_matrix(X)
    (X,) = _at_least_float32(X)
    return (2.0 / X.shape[0]) * (X.T @ X)


def smoothness(X: jax.Array) -> jax.Array:
    """beta = 2/N ||X^T X||_2 = 2/N sigma_max(X)^2 (spectral norm, not Frobenius).

    Examples:
        >>> from jaxopt_course.problems import least_squares as ls
        >>> xs, ys = ls.course_data()
        >>> X = ls.features(xs, 9)
        >>> round(float(ls.smoothness(X)), 3), round(float(ls.frobenius_smoothness(X)), 3)
        (3.609, 4.792)
    """
    _check_matrix(X)
    (X,) = _at_least_float32(X)
    return (2.0 / X.shape[0]) * jnp.linalg.norm(X, ord=2) ** 2


def frobenius_smoothness(X: jax.Array) -> jax.Array:
    """2/N ||X^T X||_F: the common mistake, an upper bound on beta (kept to show the gap)."""
    _check_matrix(X)
    (X,) = _at_least_float32(X)
    return (2.0 / X.shape[0]) * jnp.linalg.norm(X.T @ X, ord="fro")


def _diag_or_matrix_sqrt(h_inv: jax.Array, d: int) -> jax.Array:
    """A factor L with L L^T = H^{-1}: sqrt of a diagonal, or a Cholesky factor."""
    h_inv = jnp.asarray(h_inv)
    check_finite("h_inv", h_inv)
    if h_inv.shape == (d,):
        if not isinstance(h_inv, jax.core.Tracer) and not np.all(np.asarray(h_inv) > 0):
            raise ValueError("h_inv must be positive (H^{-1} positive definite)")
        return jnp.diag(jnp.sqrt(h_inv))
    if h_inv.shape == (d, d):
        return jnp.linalg.cholesky(h_inv)
    raise ValueError(f"h_inv must be a diagonal ({d},) or a ({d}, {d}) matrix, got {h_inv.shape}")


def scaled_smoothness(X: jax.Array, h_inv: jax.Array) -> jax.Array:
    """beta_H = 2/N ||H^{-1/2} X^T X H^{-1/2}||_2 = 2/N sigma_max(X L)^2, L L^T = H^{-1}."""
    _check_matrix(X)
    X, h_inv = _at_least_float32(X, h_inv)
    L = _diag_or_matrix_sqrt(h_inv, X.shape[1])
    return (2.0 / X.shape[0]) * jnp.linalg.norm(X @ L, ord=2) ** 2


def unique_solution(X: jax.Array, y: jax.Array) -> jax.Array:
    """theta* = argmin f = (X^T X)^{-1} X^T y, computed as R^{-1} Q^T y with X = QR (N >= n+1)."""
    check_regression_data(None, X, y)
    n_points, dim = X.shape
    if n_points < dim:
        raise ValueError(
            f"the minimizer is not unique: {n_points} points for {dim} parameters "
            "(over-parameterized); use min_norm_solution or projection"
        )
    X, y = _at_least_float32(X, y)
    Q, R = jnp.linalg.qr(X)
    return solve_triangular(R, Q.T @ y, lower=False)


def _project(B: jax.Array, residual: jax.Array) -> jax.Array:
    """B^T (B B^T)^{-1} r, computed as Q R^{-T} r with B^T = QR."""
    B, residual = _at_least_float32(B, residual)
    Q, R = jnp.linalg.qr(B.T)
    return Q @ solve_triangular(R.T, residual, lower=True)


def _check_over(X, y, a):
    """Raise unless X theta = y has a solution set to project onto (N <= n+1)."""
    check_regression_data(a, X, y)
    n_points, dim = X.shape
    if n_points > dim:
        raise ValueError(
            f"no interpolating solution set: {n_points} points for {dim} parameters "
            "(under-parameterized); use unique_solution"
        )


def projection(X: jax.Array, y: jax.Array, a: jax.Array) -> jax.Array:
    """theta* = a - X^T (X X^T)^{-1} (X a - y): Euclidean projection of a onto {X theta = y}."""
    _check_over(X, y, a)
    X, y, a = _at_least_float32(X, y, a)
    return a - _project(X, X @ a - y)


def min_norm_solution(X: jax.Array, y: jax.Array) -> jax.Array:
    """theta* = X^T (X X^T)^{-1} y: the minimum-norm interpolant (projection of a = 0).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxopt_course.problems import least_squares as ls
        >>> X, y = jnp.array([[1.0, 1.0]]), jnp.array([2.0])   # one equation theta_1 + theta_2 = 2
        >>> [round(float(t), 6) for t in ls.min_norm_solution(X, y)]
        [1.0, 1.0]
    """
    return projection(X, y, jnp.zeros(X.shape[1], X.dtype))


def scaled_projection(X: jax.Array, y: jax.Array, h_inv: jax.Array, a: jax.Array) -> jax.Array:
    """theta* = a - H^{-1} X^T (X H^{-1} X^T)^{-1} (X a - y): projection in the H-norm.

    With L L^T = H^{-1} and B = X L this is a - L B^T (B B^T)^{-1} (X a - y).
    ``h_inv`` is the diagonal of H^{-1} (shape (d,)) or a full SPD matrix.
    """
    _check_over(X, y, a)
    _check_h_inv(h_inv)
    X, y, a, h_inv = _at_least_float32(X, y, a, h_inv)
    L = _diag_or_matrix_sqrt(h_inv, X.shape[1])
    return a - L @ _project(X @ L, X @ a - y)


def _check_h_inv(h_inv) -> None:
    """H^{-1} must be positive definite: a diagonal with entries > 0, or a matrix with eigenvalues > 0 (when concrete)."""
    values = concrete(h_inv)
    if values is None:
        return
    if values.ndim == 2:
        check_positive_entries("the eigenvalues of h_inv", np.linalg.eigvalsh((values + values.T) / 2))
    else:
        check_positive_entries("h_inv", values)


def suboptimality(theta: jax.Array, X: jax.Array, theta_star: jax.Array) -> jax.Array:
    """f(theta) - f* = 1/N ||X (theta - theta*)||^2, exact for any minimizer theta* and never negative."""
    check_regression_data(theta, X, jnp.zeros(X.shape[0], X.dtype) if X.ndim == 2 else X)
    if theta_star.shape != theta.shape:
        raise ValueError(f"theta_star must have shape {theta.shape}, got {theta_star.shape}")
    r = X @ (theta - theta_star)
    return jnp.mean(r * r)


def sample_indices(key: jax.Array, num: int, num_points: int) -> jax.Array:
    """num i.i.d. indices uniform on {0, ..., N-1}: the SGD sampling of f_i."""
    if int(num_points) != num_points or num_points < 1:
        raise ValueError(f"num_points must be a positive integer, got {num_points!r}")
    return jax.random.randint(key, (num,), 0, num_points)
