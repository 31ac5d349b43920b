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


def _sensing():
    from jaxopt_course.problems import matrix_sensing as ms

    return ms, ms.make_problem(jax.random.key(0), d=6, r=2, m=30)


@pytest.mark.parametrize("shape", [(7, 2), (6,), (6, 2, 1), (6, 0)])
def test_sensing_losses_name_a_misshapen_factor(shape):
    ms, p = _sensing()
    A = jnp.ones((30, 6, 6))
    for f, op in ((ms.loss, p.operator), (ms.gradient, p.operator), (ms.loss_reference, A),
                  (ms.gradient_reference, A)):
        with pytest.raises(ValueError, match=r"U must have shape \(6, R\) with R >= 1, got"):
            f(op, p.y, jnp.ones(shape))


def test_sensing_reference_names_misshapen_measurements():
    ms, p = _sensing()
    with pytest.raises(ValueError, match=r"A must hold m square"):
        ms.loss_reference(jnp.ones((30, 6, 5)), p.y, jnp.ones((6, 2)))
    with pytest.raises(ValueError, match=r"y must have shape \(30,\)"):
        ms.gradient_reference(jnp.ones((30, 6, 6)), p.y[:29], jnp.ones((6, 2)))


@pytest.mark.parametrize("seeds", [10**30, 2**40])
def test_a_seed_count_beyond_memory_is_refused_before_anything_runs(seeds):
    from jaxopt_course import validation
    from jaxopt_course.experiments.least_squares import p3_sgd

    bound = validation.max_seeds()
    assert 1 <= bound <= 2**31 - 1
    with pytest.raises(ValueError, match=f"seeds must be at most {bound:,} on this machine"):
        p3_sgd.Config(seeds=seeds)
    assert p3_sgd.Config(seeds=min(bound, 10**6)).seeds == min(bound, 10**6)
