"""Argument checks of the optimizers (by value where concrete, by shape always) and optax compatibility."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import optim

STANDARD = functools.partial(jax.numpy_dtype_promotion, "standard")


# ---------------------------------------------------------------- array-valued arguments

@pytest.mark.parametrize("make", [
    lambda: optim.sgd(jnp.array([-0.1, -0.1])),
    lambda: optim.sgd(jnp.array([0.1, float("nan")])),
    lambda: optim.sgd(np.array([0.1, 0.0])),
    lambda: optim.adam(jnp.array([0.1, float("inf")])),
    lambda: optim.scaled_gd(0.1, jnp.array([1.0, -1.0])),
    lambda: optim.scaled_gd(0.1, jnp.array([1.0, float("nan")])),
    lambda: optim.scaled_gd(0.1, {"w": jnp.ones(2), "b": jnp.array([0.0])}),
    lambda: optim.trace(1.5),
    lambda: optim.trace(-0.1),
    lambda: optim.adam(0.1, eps_root=-1.0),
], ids=["sgd_negative_array", "sgd_nan_entry", "sgd_zero_entry", "adam_inf_entry", "diag_negative", "diag_nan",
        "diag_zero_in_pytree", "trace_above_one", "trace_negative", "eps_root_negative"])
def test_bad_array_values_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("make", [lambda: optim.sgd("0.1"), lambda: optim.adam(None), lambda: optim.sgd(1j)])
def test_non_real_step_size_names_the_argument(make):
    with pytest.raises(TypeError, match="learning_rate"):
        make()


def test_array_step_size_is_per_coordinate():
    opt = optim.sgd(jnp.array([0.1, 0.5]))
    u, _ = opt.update(jnp.array([1.0, 1.0]), opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(u, [-0.1, -0.5], rtol=1e-7)


@pytest.mark.parametrize("make,params", [
    (lambda: optim.sgd(jnp.array([0.1, 0.2, 0.3])), jnp.zeros(2)),
    (lambda: optim.scaled_gd(0.1, jnp.ones(3)), jnp.zeros(2)),
    (lambda: optim.scaled_gd(0.1, jnp.ones((2, 2))), jnp.zeros(2)),
], ids=["lr_shape", "diag_shape", "diag_rank"])
def test_shapes_are_checked_even_under_jit(make, params):
    opt = make()
    with pytest.raises(ValueError, match="shape"):
        jax.jit(lambda p: opt.update(p, opt.init(p), p))(params)


def test_traced_values_are_left_to_the_caller():
    """A vmapped learning rate or diagonal is traced: no value check, the sweep runs."""

    def run(lr, diag):
        opt = optim.chain(optim.scaled_gd(lr, diag), optim.trace(0.5))
        u, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        return u

    u = jax.jit(jax.vmap(run))(jnp.array([0.1, 0.2]), jnp.ones((2, 2)))
    np.testing.assert_allclose(u, [[-0.1, -0.1], [-0.2, -0.2]], rtol=1e-6)


def test_trace_accepts_decay_one():
    """optax's own tests use trace(1.0): m_k = sum of the gradients."""
    opt = optim.trace(1.0)
    state = opt.init(jnp.zeros(2))
    for _ in range(3):
        u, state = opt.update(jnp.array([1.0, 2.0]), state)
    np.testing.assert_allclose(u, [3.0, 6.0])


# ---------------------------------------------------------------- optax contract

def test_apply_updates_skips_none_leaves():
    params = {"frozen": None, "w": jnp.ones(2)}
    new = optim.apply_updates(params, {"frozen": None, "w": jnp.array([0.5, -0.5])})
    assert new["frozen"] is None
    np.testing.assert_allclose(new["w"], [1.5, 0.5])


def test_chain_passes_extra_args_only_to_parts_that_take_them():
    seen = []

    def plain(updates, state, params=None):
        return updates, state

    def wants_loss(updates, state, params=None, *, loss, **extra_args):
        seen.append((loss, sorted(extra_args)))
        return jax.tree.map(lambda u: u / loss, updates), state

    opt = optim.chain(optim.GradientTransformation(lambda p: (), plain), optim.adam(0.1),
                      optim.GradientTransformation(lambda p: (), wants_loss))
    params = jnp.ones(2)
    u, _ = opt.update(jnp.array([1.0, -1.0]), opt.init(params), params, loss=2.0, other=1)
    assert seen == [(2.0, ["other"])]
    np.testing.assert_allclose(u, [-0.05, 0.05], rtol=1e-4)


def _run(opt, params, grad_fn, steps, apply_updates):
    """``steps`` jitted steps (ours and optax's alike: eager combinators retrace their conds at every call)."""
    state, out = opt.init(params), []
    update, apply, grad_fn = jax.jit(opt.update), jax.jit(apply_updates), jax.jit(grad_fn)
    for _ in range(steps):
        updates, state = update(grad_fn(params), state, params)
        params = apply(params, updates)
        out.append(params)
    return out


def _grad(p):
    return {"w": 2.0 * p["w"] - 1.0, "b": p["b"] ** 3}


PARAMS = {"w": jnp.array([3.0, -2.0, 0.5]), "b": jnp.array([1.5])}


@pytest.mark.parametrize("name", ["adam", "sgd_momentum", "adagrad"])
def test_inside_optax_chain_with_clip(name):
    ours, theirs = {
        "adam": (optim.adam(0.1), optax.adam(0.1)),
        "sgd_momentum": (optim.sgd(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.9)),
        "adagrad": (optim.adagrad(0.5, 0.1, 1e-7, True), optax.adagrad(0.5)),
    }[name]
    with STANDARD():
        mine = _run(optax.chain(ours, optax.clip(0.05)), PARAMS, _grad, 20, optim.apply_updates)
        reference = _run(optax.chain(theirs, optax.clip(0.05)), PARAMS, _grad, 20, optax.apply_updates)
    for p, q in zip(mine, reference):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6), p, q)


def test_inject_hyperparams_follows_changed_learning_rate_like_optax():
    with STANDARD():
        ours = optax.inject_hyperparams(optim.adam)(learning_rate=0.1, b1=0.8)
        theirs = optax.inject_hyperparams(optax.adam)(learning_rate=0.1, b1=0.8)
        trajectories = []
        for opt in (ours, theirs):
            params, state, out = PARAMS, opt.init(PARAMS), []
            update = jax.jit(opt.update)
            for k in range(10):
                if k == 5:
                    state.hyperparams["learning_rate"] = jnp.asarray(0.01)
                updates, state = update(_grad(params), state, params)
                params = optax.apply_updates(params, updates)
                out.append(params)
            trajectories.append(out)
    for p, q in zip(*trajectories):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6), p, q)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_multi_steps_matches_optax(dtype):
    params = jax.tree.map(lambda x: x.astype(dtype), PARAMS)
    with STANDARD():
        mine = _run(optax.MultiSteps(optim.adam(0.1), every_k_schedule=3), params, _grad, 12, optim.apply_updates)
        reference = _run(optax.MultiSteps(optax.adam(0.1), every_k_schedule=3), params, _grad, 12, optax.apply_updates)
    tol = 4 * float(jnp.finfo(dtype).eps) * 3.0
    for p, q in zip(mine, reference):
        assert jax.tree.map(lambda x: x.dtype, p) == jax.tree.map(lambda x: x.dtype, q)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                                             rtol=0, atol=tol), p, q)
