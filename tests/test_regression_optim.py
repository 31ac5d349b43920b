"""R1's optimizers: our Adagrad against optax.adagrad and the course formula against NumPy,
and whole R1 runs (runner + sampler + optimizer) against NumPy re-implementations."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import optim
from jaxopt_course.experiments import _power_losses as pl
from jaxopt_course.experiments.regression import PowerLossConfig
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


def _numpy_run(method, a, y, theta0, idx, gamma, lr, num_steps, cfg):
    """theta_T of ``method`` on f_gamma with the given minibatch indices, in float64 NumPy."""
    theta, m, v, acc = (np.array(theta0, np.float64),) + tuple(np.zeros(len(theta0)) for _ in range(3))
    for k in range(num_steps):
        rows = idx[k]
        e = a[rows] @ theta - y[rows]
        g = (gamma * np.abs(e) ** (gamma - 1) * np.sign(e)) @ a[rows] / len(rows)
        if method == "sgd":
            theta = theta - lr * g
        elif method == "adam":
            m, v = cfg.adam_b1 * m + (1 - cfg.adam_b1) * g, cfg.adam_b2 * v + (1 - cfg.adam_b2) * g * g
            m_hat, v_hat = m / (1 - cfg.adam_b1 ** (k + 1)), v / (1 - cfg.adam_b2 ** (k + 1))
            theta = theta - lr * m_hat / (np.sqrt(v_hat) + cfg.adam_eps)
        else:
            acc = acc + g * g
            theta = theta - lr * g / (np.sqrt(acc) + cfg.adagrad_eps)
    return theta


@pytest.mark.parametrize("method", ["sgd", "adam", "adagrad"])
def test_r1_run_matches_numpy_reimplementation(method, getkey, x64):
    cfg = PowerLossConfig(num_train=200, num_steps=120, record_every=40, batch_size=2, seeds=2,
                          learning_rates=(1e-2,), learning_rate=1e-2)
    data = pr.make_data(getkey(), num_train=200)
    theta0, key, gamma, lr = jnp.full(10, 0.05), getkey(), 1.5, 1e-2
    metrics, diverged_at = jax.jit(functools.partial(pl.power_run, cfg, method, data))(theta0, key, gamma, lr)
    # The runner draws a chunk's noise as sample(fold_in(key, chunk_index), chunk) (run.py).
    idx, _ = pl._sampler(cfg)(jax.random.fold_in(key, 0), cfg.num_steps)
    a, y = np.asarray(data.a_train), np.asarray(data.y_train)
    theta = _numpy_run(method, a, y, np.asarray(theta0), np.asarray(idx), gamma, lr, cfg.num_steps, cfg)
    np.testing.assert_allclose(metrics["distance"][-1], np.linalg.norm(theta - 1.0), rtol=1e-9)
    e = np.asarray(data.a_test) @ theta - np.asarray(data.y_test)
    np.testing.assert_allclose(metrics["test_loss"][-1], np.mean(np.abs(e) ** gamma), rtol=1e-9)
    assert int(diverged_at) == -1
