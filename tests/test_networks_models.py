"""The MLP, its training loop (early stop, minibatches), landscapes and Lanczos sharpness."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import optim
from jaxopt_course.models import curvature, landscape, mlp, training
from jaxopt_course.problems import least_squares as ls


def _data(dtype=None) -> training.Dataset:
    """The course's 7 points (training) and a fixed shifted copy (test), as (N, 1) arrays."""
    xs, ys = ls.course_data(dtype=dtype)
    xt = xs + 0.05
    return training.Dataset(xs[:, None], ys[:, None], xt[:, None], ls.target_function(xt)[:, None])


def _loss(model, data):
    """theta -> 1/N sum_i (f(x_i; theta) - y_i)^2."""
    return lambda p: training.mse(functools.partial(mlp.apply, model), p, data.x_train, data.y_train)


# ----------------------------------------------------------------------------- MLP


@pytest.mark.parametrize(
    "widths, use_bias, expected",
    [((1,), True, 4), ((10, 10), True, 141), ((10,), True, 31), ((10, 10), False, 120), ((), True, 2),
     ((3, 4, 5), True, 6 + 16 + 25 + 6)],
)
def test_parameter_count(getkey, widths, use_bias, expected):
    model = mlp.MLP(widths, use_bias=use_bias)
    params = mlp.init_params(model, getkey())
    assert mlp.num_params(params) == expected
    assert mlp.param_count(1, widths, 1, use_bias) == expected


def test_layer_shapes_and_architecture_name(getkey):
    params = mlp.init_params(mlp.MLP((10, 10)), getkey())
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes == {"hidden_0": {"kernel": (1, 10), "bias": (10,)}, "hidden_1": {"kernel": (10, 10), "bias": (10,)},
                      "output": {"kernel": (10, 1), "bias": (1,)}}
    assert mlp.architecture(1, (10, 10)) == "1-10-10-1"


def test_forward_matches_numpy(getkey):
    """f(x) = W3^T a(W2^T a(W1^T x + b1) + b2) + b3 with a = 4 sigmoid, in NumPy."""
    model = mlp.MLP((3, 2), activation="4sigmoid")
    p = jax.tree.map(np.asarray, mlp.init_params(model, getkey()))
    x = np.linspace(-1.0, 1.0, 5, dtype=np.float32)
    a = lambda z: 4.0 / (1.0 + np.exp(-z))  # noqa: E731
    h = a(x[:, None] @ p["hidden_0"]["kernel"] + p["hidden_0"]["bias"])
    h = a(h @ p["hidden_1"]["kernel"] + p["hidden_1"]["bias"])
    expected = (h @ p["output"]["kernel"] + p["output"]["bias"])[:, 0]
    np.testing.assert_allclose(mlp.predict_scalar(model, p, jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)


def test_uniform_init_is_pytorch_rule_and_precision_independent(getkey):
    key = getkey()
    params = mlp.init_params(mlp.MLP((10, 10)), key)
    for layer, fan_in in (("hidden_0", 1), ("hidden_1", 10), ("output", 10)):
        for leaf in params[layer].values():
            assert float(jnp.max(jnp.abs(leaf))) <= 1.0 / np.sqrt(fan_in)
    assert float(jnp.std(params["hidden_1"]["kernel"])) > 0.5 / np.sqrt(3 * 10)  # U(-b, b) has std b/sqrt(3)
    reference = mlp.MLP((10, 10)).init(key, jnp.zeros((1, 1)))["params"]  # flax's own path: same layout
    assert jax.tree.map(lambda a: (a.shape, a.dtype), reference) == jax.tree.map(lambda a: (a.shape, a.dtype), params)
    with jax.enable_x64(True):
        p64 = mlp.init_params(mlp.MLP((10, 10)), key)
        assert p64["hidden_1"]["kernel"].dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(p64["hidden_1"]["kernel"], np.float32), params["hidden_1"]["kernel"])


def test_broadcast_dot_general_is_dense_contraction_in_float64(getkey):
    x, w = jax.random.normal(getkey(), (3, 5, 7)), jax.random.normal(getkey(), (7, 4))
    dims = (((2,), (0,)), ((), ()))
    exact = np.einsum("bnk,kj->bnj", np.float64(x), np.float64(w))
    np.testing.assert_allclose(mlp.broadcast_dot_general(x, w, dims), exact, rtol=1e-5, atol=1e-5)
    other = (((1,), (1,)), ((), ()))  # not nn.Dense's contraction: handed to lax.dot_general
    a, b = jax.random.normal(getkey(), (4, 6)), jax.random.normal(getkey(), (5, 6))
    np.testing.assert_allclose(mlp.broadcast_dot_general(a, b, other), np.float64(a) @ np.float64(b).T, rtol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "4sigmoid"])
def test_broadcast_products_give_the_dot_networks_values_and_gradients(getkey, activation):
    dot, bcast = mlp.MLP((10, 10), activation=activation), mlp.MLP((10, 10), activation=activation,
                                                                  matmul="broadcast")
    params = mlp.init_params(dot, getkey())
    x, y = jax.random.normal(getkey(), (7, 1)), jax.random.normal(getkey(), (7, 1))
    loss = lambda model: jax.value_and_grad(  # noqa: E731
        lambda p: training.mse(functools.partial(mlp.apply, model), p, x, y))(params)
    (l_dot, g_dot), (l_b, g_b) = loss(dot), loss(bcast)
    np.testing.assert_allclose(l_b, l_dot, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g_b, g_dot)


def test_activations_and_bad_input():
    x = jnp.linspace(-3.0, 3.0, 7)
    np.testing.assert_allclose(mlp.activation_fn("4sigmoid")(x), 4.0 / (1.0 + np.exp(-np.asarray(x))), rtol=1e-6)
    assert mlp.activation_fn(jnp.sin) is jnp.sin
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.MLP(activation="swish2")
    with pytest.raises(ValueError, match="widths"):
        mlp.MLP((10, 0))
    with pytest.raises(ValueError, match="initializer"):
        mlp.MLP(initializer="orthogonal")
    with pytest.raises(ValueError, match="matmul"):
        mlp.MLP(matmul="einsum")
    with pytest.raises(ValueError, match="1-D"):
        mlp.predict_scalar(mlp.MLP((2,)), None, jnp.ones((3, 1)))


# ----------------------------------------------------------------------------- training loss and gradient


def test_mse_is_the_course_loss(getkey):
    model, data = mlp.MLP((4,)), _data()
    p = mlp.init_params(model, getkey())
    pred = np.asarray(mlp.predict_scalar(model, p, data.x_train[:, 0]))
    expected = np.mean((pred - np.asarray(data.y_train[:, 0])) ** 2)
    np.testing.assert_allclose(_loss(model, data)(p), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        training.mse(functools.partial(mlp.apply, model), p, data.x_train, data.y_train[:, 0])


def test_grad_matches_central_differences(x64, getkey):
    """dL/dtheta_j against (L(theta + h e_j) - L(theta - h e_j)) / 2h for every parameter (ReLU net)."""
    model, data = mlp.MLP((3, 3), activation="relu"), _data()
    params = mlp.init_params(model, getkey())
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    loss = lambda w: _loss(model, data)(unravel(w))  # noqa: E731
    h = 1e-6
    fd = jax.jit(jax.vmap(lambda e: (loss(flat + h * e) - loss(flat - h * e)) / (2 * h)))(jnp.eye(flat.size))
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(flat), fd, rtol=1e-5, atol=1e-8)


def test_grad_directional_derivative_on_the_141_parameter_net(x64, getkey):
    """<grad L, v> against a central difference along a random v, 1-10-10-1 with 4 sigmoid."""
    model, data = mlp.MLP((10, 10), activation="4sigmoid"), _data()
    params = mlp.init_params(model, getkey())
    v = landscape.gaussian_direction(getkey(), params)
    loss = _loss(model, data)
    h = 1e-6
    fd = (loss(jax.tree.map(lambda p, d: p + h * d, params, v)) - loss(jax.tree.map(lambda p, d: p - h * d, params, v)))
    g = jax.grad(loss)(params)
    directional = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(v)))
    np.testing.assert_allclose(directional, fd / (2 * h), rtol=1e-6)


# ----------------------------------------------------------------------------- training loop


def _train(model, params, opt, data, epochs, **kwargs):
    """training.train under jit."""
    apply_fn = functools.partial(mlp.apply, model)
    return jax.jit(lambda p: training.train(apply_fn, p, opt, data, epochs, **kwargs))(params)


def test_full_batch_training_is_gradient_descent(getkey):
    """Three epochs equal three hand-written steps theta <- theta - gamma grad L(theta) (ours and optax's SGD)."""
    model, data = mlp.MLP((5,)), _data()
    params = mlp.init_params(model, getkey())
    trace = _train(model, params, optim.sgd(0.05), data, 3)
    expected = params
    for _ in range(3):
        g = jax.grad(_loss(model, data))(expected)
        expected = jax.tree.map(lambda p, gi: p - 0.05 * gi, expected, g)
    for a, b in zip(jax.tree.leaves(trace.state.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(trace.steps, [0, 1, 2, 3])
    with_optax = _train(model, params, optax.sgd(0.05), data, 3)  # any optax optimizer runs too
    for a, b in zip(jax.tree.leaves(with_optax.state.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(trace.metrics["train_loss"][-1], _loss(model, data)(expected), rtol=1e-6)
    xt, yt = data.x_test, data.y_test
    np.testing.assert_allclose(trace.metrics["test_loss"][0],
                               training.mse(functools.partial(mlp.apply, model), params, xt, yt), rtol=1e-6)


def test_early_stop_inside_the_scan_freezes_at_the_first_epoch_below_tol(getkey):
    model, data = mlp.MLP((10, 10)), _data()
    params = mlp.init_params(model, getkey())
    opt = optim.sgd(0.05)
    free = _train(model, params, opt, data, 400)
    losses = np.asarray(free.metrics["train_loss"])
    first = int(np.argmax(losses <= losses[300]))
    tol = (losses[first] + losses[:first].min()) / 2  # half-way between: no rounding can move the stop
    assert 0 < first <= 300 and losses[:first].min() - tol > 1e-5 * tol
    stopped = _train(model, params, opt, data, 400, stop_below=float(tol))
    assert int(stopped.stopped_at) == first
    curve = np.asarray(stopped.metrics["train_loss"])
    np.testing.assert_allclose(curve[: first + 1], losses[: first + 1], rtol=1e-5)
    np.testing.assert_array_equal(curve[first:], curve[first])  # frozen: masked updates
    assert curve[-1] < tol < losses[first - 1]
    prefix = _train(model, params, opt, data, first)
    for a, b in zip(jax.tree.leaves(stopped.state.params), jax.tree.leaves(prefix.state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_minibatch_epoch_matches_a_python_loop(getkey):
    """Batch B < N: floor(N/B) averaged-gradient steps over the epoch's permutation."""
    model, data = mlp.MLP((4,)), _data()
    params, key = mlp.init_params(model, getkey()), getkey()
    trace = _train(model, params, optim.sgd(0.1), data, 2, batch_size=2, key=key)
    perms = training.EpochSampler(7)(jax.random.fold_in(key, 0), 2)  # the runner's bulk draw
    loss = functools.partial(training.mse, functools.partial(mlp.apply, model))
    expected = params
    for epoch in range(2):
        for b in range(3):
            idx = perms[epoch, 2 * b: 2 * b + 2]
            g = jax.grad(loss)(expected, data.x_train[idx], data.y_train[idx])
            expected = jax.tree.map(lambda p, gi: p - 0.1 * gi, expected, g)
    for a, b in zip(jax.tree.leaves(trace.state.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert sorted(np.asarray(perms[0]).tolist()) == list(range(7))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_epochs": 0}, "num_epochs"), ({"batch_size": 8}, "batch_size"), ({"batch_size": 0}, "batch_size"),
     ({"batch_size": 3}, "key"), ({"stop_below": -1.0}, "stop_below")],
)
def test_training_rejects_bad_input(kwargs, match):
    model, data = mlp.MLP((2,)), _data()
    args = {"num_epochs": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        training.train(functools.partial(mlp.apply, model), None, optim.sgd(0.1), data, args.pop("num_epochs"), **args)
    with pytest.raises(ValueError, match="same non-zero"):
        training.check_dataset(data._replace(y_test=data.y_test[:3]))


# ----------------------------------------------------------------------------- landscapes


def test_filter_normalization_matches_per_filter_norms(getkey):
    params = mlp.init_params(mlp.MLP((10, 10)), getkey())
    d = landscape.gaussian_direction(getkey(), params)
    fn = landscape.filter_normalize(d, params)
    for layer in params:
        k_p, k_d, k_n = params[layer]["kernel"], d[layer]["kernel"], fn[layer]["kernel"]
        # filter j = the weights into output unit j = column j of the (in, out) kernel
        np.testing.assert_allclose(np.linalg.norm(k_n, axis=0), np.linalg.norm(k_p, axis=0), rtol=1e-5)
        ratio = np.asarray(k_n) / np.asarray(k_d)
        np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-5)  # same d_j direction
        assert np.all(ratio > 0)
        np.testing.assert_array_equal(fn[layer]["bias"], 0.0)
    copied = landscape.filter_normalize(d, params, bias="copy")
    np.testing.assert_array_equal(copied["hidden_1"]["bias"], params["hidden_1"]["bias"])
    np.testing.assert_allclose(landscape.filter_norms(jnp.ones((2, 3, 4))), np.full(4, np.sqrt(6.0)))
    with pytest.raises(ValueError, match="bias"):
        landscape.filter_normalize(d, params, bias="keep")
    with pytest.raises(ValueError, match="structure"):
        landscape.filter_normalize({"a": d["output"]}, params)


def test_slices_and_surfaces_match_direct_evaluation(getkey):
    model, data = mlp.MLP((6,), activation="tanh"), _data()
    params = mlp.init_params(model, getkey())
    d1, d2 = landscape.gaussian_direction(getkey(), params), landscape.gaussian_direction(getkey(), params)
    loss = _loss(model, data)
    ts, ss = jnp.linspace(-1.0, 1.0, 5), jnp.linspace(-0.5, 0.5, 3)
    direct = jax.jit(lambda t, s: loss(jax.tree.map(lambda p, a, b: p + t * a + s * b, params, d1, d2)))
    np.testing.assert_allclose(landscape.slice_1d(loss, params, d1, ts), [direct(t, 0.0) for t in ts], rtol=1e-5)
    surface = landscape.surface_2d(loss, params, d1, d2, ts, ss)
    assert surface.shape == (3, 5)
    expected = [[direct(t, s) for t in ts] for s in ss]
    np.testing.assert_allclose(surface, expected, rtol=1e-5)
    np.testing.assert_allclose(surface[1, 2], loss(params), rtol=1e-6)


# ----------------------------------------------------------------------------- curvature


def test_lanczos_top_eigenvalues_match_the_dense_hessian(x64, getkey):
    """At a random (indefinite) point: k = n gives the top of the spectrum exactly, k = 12 the top one."""
    model, data = mlp.MLP((3, 3), activation="tanh"), _data()
    params = mlp.init_params(model, getkey())
    loss = _loss(model, data)
    H = np.asarray(curvature.dense_hessian(loss, params))
    matvec, n = curvature.flat_hvp(loss, params)
    v = jax.random.normal(getkey(), (n,))
    np.testing.assert_allclose(jax.jit(matvec)(v), H @ np.asarray(v), rtol=1e-10, atol=1e-12)  # HVP = H v
    eig = np.linalg.eigvalsh(H)[::-1]
    assert eig[-1] < 0 < eig[0]  # indefinite: the largest eigenvalue, not the largest |eigenvalue|
    top = curvature.hessian_top_eigenvalues(loss, params, getkey(), num_steps=n, top=3)
    np.testing.assert_allclose(top, eig[:3], rtol=1e-8, atol=1e-10)
    few = curvature.hessian_top_eigenvalue(loss, params, getkey(), num_steps=12)
    np.testing.assert_allclose(few, eig[0], rtol=1e-6)


def test_lanczos_at_a_trained_minimum_of_the_141_parameter_net(x64, getkey):
    """Lanczos (40 steps; rank-deficient Hessian, so restarts) against the dense 141 x 141 spectrum."""
    model, data = mlp.MLP((10, 10)), _data()
    params = mlp.init_params(model, getkey())
    trained = _train(model, params, optim.adam(0.05), data, 500, record=[0, 500])
    assert float(trained.metrics["train_loss"][-1]) < 1e-3
    loss = _loss(model, data)
    top = float(jax.jit(lambda p, k: curvature.hessian_top_eigenvalue(loss, p, k))(trained.state.params, getkey()))
    eig = np.linalg.eigvalsh(np.asarray(curvature.dense_hessian(loss, trained.state.params)))
    assert eig[-1] > 1.0 and np.sum(np.abs(eig) > 1e-6 * eig[-1]) < 141  # near-singular: Krylov space closes
    np.testing.assert_allclose(top, eig[-1], rtol=1e-8)


def test_lanczos_handles_invariant_krylov_spaces_and_bad_input(x64, getkey):
    """A = diag(5, 3, 1, 0, ..., 0): the Krylov space is invariant after 4 steps; restarts keep T exact."""
    diag = jnp.concatenate([jnp.array([5.0, 3.0, 1.0]), jnp.zeros(17)])
    alpha, beta = curvature.lanczos_tridiagonal(lambda v: diag * v, getkey(), 20, 20)
    np.testing.assert_allclose(np.sort(curvature.ritz_values(alpha, beta)), np.sort(diag), atol=1e-10)
    assert np.sum(np.asarray(beta) == 0.0) >= 1
    with pytest.raises(ValueError, match="num_steps"):
        curvature.lanczos_tridiagonal(lambda v: v, getkey(), 5, 6)
    with pytest.raises(ValueError, match="top"):
        curvature.hessian_top_eigenvalues(lambda p: jnp.sum(p ** 2), jnp.ones(4), getkey(), num_steps=2, top=3)

