"""R1's optimizers: our Adagrad against optax.adagrad and the course formula against NumPy.

Whole R1 runs (runner + sampler + optimizer) against NumPy re-implementations are in
tests/experiments/regression/test_r1_power_losses.py."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_course import optim
from jaxopt_course.problems import power_regression as pr


def _gradient_sequence(key, num_steps=60, gamma=0.7):
    """Stochastic power-loss gradients along a fixed path (inputs shared by every optimizer)."""
    d = pr.make_data(key, num_train=100)
    idx = jax.random.randint(jax.random.fold_in(key, 1), (num_steps,), 0, 100)
    thetas = jnp.linspace(0.0, 1.2, num_steps)[:, None] * jnp.ones((1, 10))
    grads = jax.vmap(lambda t, i: pr.power_loss_grad(t, d.a_train[i][None], d.y_train[i][None], gamma))(thetas, idx)
    return grads.at[3].set(0.0)  # include an all-zero gradient (e = 0 for gamma <= 1)


def _updates(opt, grads):
    """u_k for the gradient sequence g_k (params only initialize the state)."""
    state = opt.init(jnp.zeros(grads.shape[1], grads.dtype))

    def body(s, g):
        u, s = opt.update(g, s, None)
        return s, u

    return jax.lax.scan(body, state, grads)[1]


def test_adagrad_with_optax_settings_equals_optax_adagrad(getkey):
    grads = _gradient_sequence(getkey())
    ours = _updates(optim.adagrad(0.05, initial_accumulator_value=0.1, eps=1e-7, eps_inside_sqrt=True), grads)
    ref = _updates(optax.adagrad(0.05, initial_accumulator_value=0.1, eps=1e-7), grads)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def _course_adagrad_numpy(grads, lr, eps=1e-8):
    """u_k = -lr g_k / (sqrt(sum_{j<=k} g_j^2) + eps), in float64."""
    acc = np.zeros(grads.shape[1])
    out = []
    for g in np.asarray(grads, np.float64):
        acc += g * g
        out.append(-lr * g / (np.sqrt(acc) + eps))
    return np.array(out)


def test_course_adagrad_equals_numpy_formula_and_differs_from_optax(getkey):
    grads = _gradient_sequence(getkey())
    ours = _updates(optim.adagrad(0.05), grads)
    np.testing.assert_allclose(ours, _course_adagrad_numpy(grads, 0.05), rtol=2e-5, atol=1e-9)
    # the first step moves every coordinate by exactly lr (sign of g), unlike optax's G_0 = 0.1
    np.testing.assert_allclose(np.abs(ours[0]), 0.05, rtol=1e-4)
    optax_like = _updates(optax.adagrad(0.05), grads)
    assert np.max(np.abs(ours[0] - optax_like[0])) > 0.01
