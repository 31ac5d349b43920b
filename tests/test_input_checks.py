"""Array-valued arguments are checked by value where they are concrete (and left alone under jit)."""

import jax
import jax.numpy as jnp
import pytest

from jaxopt_course import run as runner
from jaxopt_course.problems import least_squares as ls
from jaxopt_course.problems import power_regression as pr
from jaxopt_course.problems import toy_functions as tf

XS, YS = ls.course_data()
X9 = ls.features(XS, 9)


@pytest.mark.parametrize("call, words", [
    (lambda: ls.grad_i(jnp.zeros(10), X9, YS, 100), r"i must be integer indices in \[0, 7\)"),
    (lambda: ls.grad_i(jnp.zeros(10), X9, YS, -1), r"i must be integer indices"),
    (lambda: ls.scaled_projection(X9, YS, -jnp.ones(10), jnp.zeros(10)), "h_inv must have entries > 0"),
    (lambda: ls.scaled_projection(X9, YS, jnp.full(10, jnp.nan), jnp.zeros(10)), "h_inv must have entries > 0"),
    (lambda: ls.scaled_projection(X9, YS, -jnp.eye(10), jnp.zeros(10)), "eigenvalues of h_inv"),
    (lambda: tf.critical_step(-jnp.eye(2)), r"lambda_max\(hessian\)"),
    (lambda: pr.power(jnp.ones(3), -1.0), "gamma must have entries > 0"),
    (lambda: runner.run(lambda s, k, n: s, jnp.float32(0.0), 5, metrics=lambda s: {"x": s}, record=[1.5, 2.7]),
     "record steps must be integers"),
])
def test_bad_values_raise(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_valid_values_and_traced_values_pass():
    g = ls.grad_i(jnp.zeros(10), X9, YS, 6)
    expected = -2.0 * YS[6] * X9[6]
    assert jnp.allclose(g, expected)
    traced = jax.jit(lambda i: ls.grad_i(jnp.zeros(10), X9, YS, i))(jnp.int32(6))
    assert jnp.allclose(traced, expected)
    assert float(tf.critical_step(jnp.diag(jnp.array([1.0, 4.0])))) == pytest.approx(0.5)
    assert jax.jit(lambda g: pr.power(jnp.array([2.0]), g))(jnp.float32(2.0))[0] == pytest.approx(4.0)
