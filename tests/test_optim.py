"""Each hand-written optimizer against its optax twin, step for step, on random problems."""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import optim


def _quadratic(key, dim=6):
    """A random strongly convex quadratic 1/2 x^T A x - b^T x and a random start."""
    k1, k2, k3 = jax.random.split(key, 3)
    M = jax.random.normal(k1, (dim, dim))
    A = M @ M.T / dim + 0.1 * jnp.eye(dim)
    return A, jax.random.normal(k2, (dim,)), jax.random.normal(k3, (dim,))


def _trajectory(opt, params, grad_fn, steps=25):
    """theta_0..theta_steps of ``opt`` applied to ``grad_fn`` (a pytree of params)."""
    state = opt.init(params)
    out = [params]
    for _ in range(steps):
        updates, state = opt.update(grad_fn(params), state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out


PAIRS = {
    "sgd": (optim.sgd(0.05), optax.sgd(0.05)),
    "heavy_ball": (optim.sgd(0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)),
    "nesterov": (optim.sgd(0.05, momentum=0.8, nesterov=True), optax.sgd(0.05, momentum=0.8, nesterov=True)),
    "adam": (optim.adam(0.01), optax.adam(0.01)),
    "adam_eps_root": (optim.adam(0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
                      optax.adam(0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8)),
    "adagrad_optax_formula": (optim.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7, eps_inside_sqrt=True),
                              optax.adagrad(0.1)),
    "sgd_staircase": (optim.sgd(optim.staircase(0.2, 5)),
                      optax.sgd(optax.piecewise_constant_schedule(0.2, {5: 1 / 2, 10: 2 / 3, 15: 3 / 4, 20: 4 / 5}))),
    # optax has no c/(k+1) schedule: an optax.sgd driven by the same closed form is its twin.
    "sgd_inverse_time": (optim.sgd(optim.inverse_time(0.3)), optax.sgd(lambda k: 0.3 / (k + 1.0))),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_matches_optax_step_for_step(name, getkey):
    ours, theirs = PAIRS[name]
    A, b, x0 = _quadratic(getkey())
    params = {"w": x0, "b": jnp.asarray([0.3, -0.7])}
    grad_fn = lambda p: {"w": A @ p["w"] - b, "b": 2 * p["b"] ** 3}  # noqa: E731
    with jax.numpy_dtype_promotion("standard"):  # optax itself is not written for strict promotion
        reference = _trajectory(theirs, params, grad_fn)
    for p, q in zip(_trajectory(ours, params, grad_fn), reference):
        np.testing.assert_allclose(p["w"], q["w"], rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(p["b"], q["b"], rtol=2e-6, atol=2e-6)


def test_course_adagrad_formula_against_numpy(getkey):
    """theta <- theta - lr g / (sqrt(sum g^2) + eps): the course's placement of eps."""
    A, b, x0 = _quadratic(getkey())
    lr, eps = 0.1, 1e-8
    ours = _trajectory(optim.adagrad(lr, eps=eps), x0, lambda x: A @ x - b, steps=20)
    x, acc = np.asarray(x0, np.float64), np.zeros(x0.shape)
    A64, b64 = np.asarray(A, np.float64), np.asarray(b, np.float64)
    for k in range(20):
        g = A64 @ x - b64
        acc += g * g
        x = x - lr * g / (np.sqrt(acc) + eps)
        np.testing.assert_allclose(ours[k + 1], x, rtol=1e-5, atol=1e-6)


def test_adam_bias_correction_uses_k_plus_one():
    """First Adam step: m_hat = g, v_hat = g^2, so u = -lr g / (|g| + eps) = -lr sign(g)."""
    opt = optim.adam(0.1)
    u, state = opt.update(jnp.asarray([2.0, -0.5]), opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(u, [-0.1, 0.1], rtol=1e-4)  # float32: 1 - 0.999 rounds at 5e-5
    assert int(state[0].count) == 1


def test_scaled_gd_is_diagonal_preconditioning():
    opt = optim.scaled_gd(0.5, jnp.asarray([1.0, 0.1]))
    u, _ = opt.update(jnp.asarray([2.0, 2.0]), opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(u, [-1.0, -0.1], rtol=1e-7)


@pytest.mark.parametrize("schedule,expected", [
    (optim.constant(0.5), [0.5, 0.5, 0.5, 0.5]),
    (optim.inverse_time(0.5), [0.5, 0.25, 0.5 / 3, 0.125]),
    (optim.staircase(0.5, 2), [0.5, 0.5, 0.25, 0.25]),
])
def test_schedules_closed_forms(schedule, expected):
    np.testing.assert_allclose([float(schedule(jnp.asarray(k))) for k in range(4)], expected, rtol=1e-6)


def test_staircase_matches_optax_piecewise_constant():
    ours = optim.staircase(0.2, 1000)
    theirs = optax.piecewise_constant_schedule(0.2, {1000 * j: j / (j + 1) for j in range(1, 8)})
    for k in [0, 1, 999, 1000, 1001, 2999, 3000, 7999]:
        np.testing.assert_allclose(float(ours(jnp.asarray(k))), float(theirs(k)), rtol=1e-6)


def test_iterate_average_equals_mean_of_iterates(getkey):
    iterates = jax.random.normal(getkey(), (50, 3))
    state = optim.average_init(iterates[0])
    for k in range(1, 50):
        state = optim.average_update(iterates[k], state)
        np.testing.assert_allclose(state.mean, iterates[: k + 1].mean(0), rtol=1e-5, atol=1e-6)


def test_float32_average_of_converging_iterates_keeps_its_digits():
    """theta_k = 1 + 1/(k+1): the float32 average must track the float64 mean of 1e5 iterates."""
    iterates = 1.0 + 1.0 / np.arange(1, 100_001, dtype=np.float64)

    def body(state, theta):
        return optim.average_update(theta, state), None

    init = optim.average_init(jnp.float32(iterates[0]))
    final, _ = jax.jit(lambda s, xs: jax.lax.scan(body, s, xs))(init, jnp.asarray(iterates[1:], jnp.float32))
    exact = iterates.mean()  # 1 + H_n / n = 1.000121...
    # A plain float32 incremental mean freezes about 1e-6 away here; compensated, it stays within float32 rounding.
    np.testing.assert_allclose(float(final.mean) - 1.0, exact - 1.0, rtol=2e-3)


@pytest.mark.parametrize("make", [
    lambda: optim.sgd(-0.1), lambda: optim.sgd(0.0), lambda: optim.adam(float("nan")),
    lambda: optim.sgd(0.1, momentum=1.5), lambda: optim.adam(0.1, b2=1.0),
    lambda: optim.adagrad(0.1, eps=-1.0), lambda: optim.inverse_time(-1.0), lambda: optim.staircase(0.1, 0),
])
def test_bad_hyperparameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_update_under_jit_does_not_recompile(getkey):
    opt = optim.adam(0.01)
    calls = []

    @jax.jit
    def step(params, state):
        calls.append(1)
        updates, state = opt.update(params, state)
        return optim.apply_updates(params, updates), state

    params = jax.random.normal(getkey(), (4,))
    state = opt.init(params)
    for _ in range(3):
        params, state = step(params, state)
    assert len(calls) == 1


def test_our_transformations_compose_with_optax():
    """Same contract as optax: optax.chain accepts ours."""
    opt = optax.chain(optax.clip(1.0), optim.scale_by_learning_rate(0.5))
    u, _ = opt.update(jnp.asarray([3.0, -0.2]), opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(u, [-0.5, 0.1], rtol=1e-6)
