"""Linear regression with power losses: f_gamma(theta) = 1/N sum_i |a_i . theta - y_i|^gamma.

The data of the course's R1 experiment: rows a_i with i.i.d. U(-1, 1) entries,
y_i = a_i . theta_true + sigma z_i with theta_true = (1, ..., 1) and z_i ~ N(0, 1).

Gradients. For a residual e = a . theta - y the derivative of |e|^gamma is
gamma |e|^(gamma-1) sign(e), so grad f_gamma = 1/N sum_i gamma |e_i|^(gamma-1)
sign(e_i) a_i. At e = 0 we return 0 for every gamma:

* gamma > 1: |e|^gamma is differentiable at 0 with derivative 0 (the formula's limit).
* gamma = 1: |e| has the subdifferential [-1, 1] at 0; 0 is its minimum-norm
  element (``jax.grad`` returns the one-sided derivative +1 instead).
* gamma < 1: |e|^gamma has a cusp at 0 (one-sided derivatives +-inf; its regular
  subdifferential is all of R); 0 is again the minimum-norm element, and the
  term is at its minimum there (``jax.grad`` returns inf, and inf * 0 = NaN in
  coordinates where a_j = 0).

Near (not at) e = 0 and gamma < 1 the gradient is finite but unbounded, which is
what makes small gammas hard for plain SGD. All functions are pure and jit-able;
shapes are checked eagerly and a mismatch raises ``ValueError``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_course.problems._checks import check_positive_entries, check_regression_data, finite_inputs
from jaxopt_course.problems.least_squares import unique_solution

COURSE_GAMMAS = (0.4, 0.7, 1.0, 2.0, 3.0, 5.0)


class RegressionData(NamedTuple):
    """Training and test sets of a linear regression problem with known truth."""

    a_train: jax.Array  # shape=(N, d): training rows a_i.
    y_train: jax.Array  # shape=(N,): training targets y_i.
    a_test: jax.Array  # shape=(M, d): test rows.
    y_test: jax.Array  # shape=(M,): test targets.
    theta_true: jax.Array  # shape=(d,): the parameter that generated the data.


def _positive_int(name: str, value) -> int:
    """value as an int, or ValueError unless it is a positive integer."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make_data(key: jax.Array, dim: int = 10, num_train: int = 1000, num_test: int = 50,
              noise_std: float = 0.1, dtype=None) -> RegressionData:
    """a_i ~ U(-1, 1)^d, theta_true = 1, y_i = a_i . theta_true + noise_std z_i, z_i ~ N(0, 1)."""
    dim, num_train, num_test = (_positive_int(n, v) for n, v in
                                (("dim", dim), ("num_train", num_train), ("num_test", num_test)))
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    k_a, k_z = jax.random.split(key)
    total = num_train + num_test
    a = jax.random.uniform(k_a, (total, dim), dtype, minval=-1.0, maxval=1.0)
    theta_true = jnp.ones(dim, dtype)
    y = a @ theta_true + noise_std * jax.random.normal(k_z, (total,), dtype)
    return RegressionData(a[:num_train], y[:num_train], a[num_train:], y[num_train:], theta_true)


@finite_inputs
def residuals(theta: jax.Array, a: jax.Array, y: jax.Array) -> jax.Array:
    """e_i = a_i . theta - y_i."""
    check_regression_data(theta, a, y)
    return a @ theta - y


@finite_inputs
def power(e: jax.Array, gamma) -> jax.Array:
    """|e|^gamma, elementwise (gamma > 0)."""
    check_positive_entries("gamma", gamma)
    return jnp.abs(e) ** gamma


@finite_inputs
def power_derivative(e: jax.Array, gamma) -> jax.Array:
    """d/de |e|^gamma = gamma |e|^(gamma-1) sign(e), and 0 at e = 0 (see the module docstring)."""
    nonzero = e != 0
    # The inner where keeps |e|^(gamma-1) finite at e = 0 (inf for gamma < 1), so
    # that neither the value nor its derivative picks up an inf * 0 = NaN.
    magnitude = jnp.where(nonzero, jnp.abs(e), jnp.ones_like(e))
    return jnp.where(nonzero, gamma * magnitude ** (gamma - 1) * jnp.sign(e), jnp.zeros_like(e))


@finite_inputs
def power_loss(theta: jax.Array, a: jax.Array, y: jax.Array, gamma) -> jax.Array:
    """f_gamma(theta) = 1/N sum_i |a_i . theta - y_i|^gamma."""
    return jnp.mean(power(residuals(theta, a, y), gamma))


@finite_inputs
def power_loss_grad(theta: jax.Array, a: jax.Array, y: jax.Array, gamma) -> jax.Array:
    """grad f_gamma(theta) = 1/N sum_i gamma |e_i|^(gamma-1) sign(e_i) a_i (0-term where e_i = 0)."""
    e = residuals(theta, a, y)
    return a.T @ power_derivative(e, gamma) / a.shape[0]


@finite_inputs
def least_squares_solution(a: jax.Array, y: jax.Array) -> jax.Array:
    """theta_LS = argmin ||a theta - y||^2 by a QR factorization and a triangular solve."""
    return unique_solution(a, y)
