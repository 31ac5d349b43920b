"""optax's own tests, ported to the optimizers that have optax twins.

From optax (github.com/google-deepmind/optax, main at 2edbcbe): ``optax/_src/alias_test.py``,
``transform_test.py``, ``combine_test.py`` / ``transforms/_combining_test.py`` (the same
tests twice: ported once), ``float64_test.py``, ``transforms/_accumulation_test.py`` and
``update_test.py``, keeping optax's problems, step counts and tolerances. Only the cases
that exercise our sgd / heavy_ball / nesterov / adam / adagrad / trace / scale_by_adam /
scale_by_rss / chain / apply_updates are ported; where optax's test loops ``step`` 10^4
times in Python, the loop is a ``lax.fori_loop`` (the recompilation check is kept apart).
optax's own combinators (MultiSteps, inject_hyperparams, partition, ...) are not written for
strict dtype promotion, so the tests that run them do so under standard promotion; the
tests of our code alone run under the suite's strict promotion.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import optim

STANDARD = functools.partial(jax.numpy_dtype_promotion, "standard")

# alias_test._OPTIMIZERS_UNDER_TEST, restricted to our twins (adagrad, adam, sgd with momentum);
# Nesterov and the course's Adagrad are ours in addition.
OPTIMIZERS_UNDER_TEST = {
    "adagrad": (optim.adagrad, {"learning_rate": 1.0, "initial_accumulator_value": 0.1, "eps": 1e-7,
                                "eps_inside_sqrt": True}),  # optax.adagrad's formula and defaults
    "adagrad_course": (optim.adagrad, {"learning_rate": 1.0}),
    "adam": (optim.adam, {"learning_rate": 1e-1}),
    "sgd": (optim.sgd, {"learning_rate": 1e-3, "momentum": 0.9}),
    "nesterov": (optim.sgd, {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True}),
}
OPT_NAMES = sorted(OPTIMIZERS_UNDER_TEST)


def _opt(name):
    factory, kwargs = OPTIMIZERS_UNDER_TEST[name]
    return factory(**kwargs)


def _abs_sq(x):
    return (x.conj() * x).real


def _setup_parabola(dtype):
    initial_params = jnp.array([-1.0, 10.0, 1.0], dtype=dtype)
    final_params = jnp.array([1.0, -1.0, 1.0], dtype=dtype)
    if jnp.iscomplexobj(initial_params):
        final_params = final_params * jnp.asarray(1 + 1j, dtype)
    return initial_params, final_params, lambda params: jnp.sum(_abs_sq(params - final_params))


def _setup_rosenbrock(dtype):
    a, b = 1.0, 100.0
    if jnp.iscomplexobj(jnp.zeros((), dtype)):
        a *= 1 + 1j
    initial_params = jnp.array([0.0, 0.0], dtype=dtype)
    final_params = jnp.array([a, a**2], dtype=dtype)
    a_ = jnp.asarray(a, dtype)

    def objective(params):
        return _abs_sq(a_ - params[0]) + b * _abs_sq(params[1] - params[0] ** 2)

    return initial_params, final_params, objective


def _conj_grad(objective):
    # Complex gradients are conjugated before being added to the parameters (as in optax's test).
    return lambda p: jax.tree.map(jnp.conj, jax.grad(objective)(p))


# ---------------------------------------------------------------- alias_test.py

@pytest.mark.parametrize("dtype", ["float32", "complex64"])
@pytest.mark.parametrize("target", [_setup_parabola, _setup_rosenbrock], ids=["parabola", "rosenbrock"])
@pytest.mark.parametrize("name", OPT_NAMES)
def test_optimization(name, target, dtype):
    opt = _opt(name)
    initial_params, final_params, objective = target(dtype)
    grad = _conj_grad(objective)

    def step(params, state):
        updates, state = opt.update(grad(params), state, params)
        return optim.apply_updates(params, updates), state

    state = opt.init(initial_params)
    with STANDARD():  # a no-op map over the state, to verify that tree_map_params works
        state = optax.tree.map_params(opt, lambda v: v, state)
    run = jax.jit(lambda p, s: jax.lax.fori_loop(0, 10_000, lambda _, c: step(*c), (p, s)))
    params, _ = run(initial_params, state)
    if name == "nesterov" and target is _setup_rosenbrock and dtype == "complex64":
        # Not one of optax's cases: optax.sgd(1e-3, 0.9, nesterov=True) stops short here too, at this point.
        with STANDARD():
            theirs = optax.sgd(1e-3, momentum=0.9, nesterov=True)

            def their_step(params, state):
                updates, state = theirs.update(grad(params), state, params)
                return optax.apply_updates(params, updates), state

            final_params, _ = jax.jit(lambda p, s: jax.lax.fori_loop(0, 10_000, lambda _, c: their_step(*c), (p, s)))(
                initial_params, theirs.init(initial_params))
        np.testing.assert_allclose(params, final_params, rtol=1e-5, atol=1e-6)
        return
    np.testing.assert_allclose(params, final_params, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("name", OPT_NAMES)
def test_optimizer_does_not_recompile_on_second_call(name):
    opt = _opt(name)
    initial_params, _, objective = _setup_rosenbrock("float32")
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)
        updates, state = opt.update(jax.grad(objective)(params), state, params)
        return optim.apply_updates(params, updates), state

    params, state = step(initial_params, opt.init(initial_params))
    step(params, state)
    assert len(traces) == 1


@pytest.mark.parametrize("name", OPT_NAMES)
def test_optimizers_accept_extra_args(name):
    opt = _opt(name)
    initial_params, _, objective = _setup_rosenbrock("float32")

    @jax.jit
    def step(params, state):
        updates = jax.grad(objective)(params)
        updates, state = opt.update(updates, state, params, unexpected_extra_args_your_optimizer_doesnt_expect=1)
        return optim.apply_updates(params, updates), state

    params, state = initial_params, opt.init(initial_params)
    for _ in range(2):
        params, state = step(params, state)
    assert np.all(np.isfinite(params))


@pytest.mark.parametrize("name", OPT_NAMES)
def test_optimizers_can_be_wrapped_in_inject_hyperparams(name):
    factory, kwargs = OPTIMIZERS_UNDER_TEST[name]
    opt = factory(**kwargs)
    params = [jnp.negative(jnp.ones((2, 3))), jnp.ones((2, 5, 2))]
    grads = [jnp.ones((2, 3)), jnp.negative(jnp.ones((2, 5, 2)))]
    with STANDARD():
        opt_inject = optax.inject_hyperparams(factory)(**kwargs)
        updates, new_state = jax.jit(opt.update)(grads, jax.jit(opt.init)(params), params)
        updates_inject, new_state_inject = jax.jit(opt_inject.update)(grads, jax.jit(opt_inject.init)(params), params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3), updates_inject, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4), new_state_inject.inner_state, new_state)


@pytest.mark.parametrize("opt_name", ["sgd_mom", "adam"])
@pytest.mark.parametrize("state_dtype", ["bfloat16", "float32", "complex64", None])
@pytest.mark.parametrize("params_dtype", ["bfloat16", "float32", "complex64", None])
def test_explicit_dtype(params_dtype, state_dtype, opt_name):
    if opt_name == "sgd_mom":
        opt, get = optim.sgd(0.1, momentum=0.9, accumulator_dtype=state_dtype), lambda s: s[0].trace
    else:
        opt, get = optim.adam(0.1, mu_dtype=state_dtype), lambda s: s[0].mu
    params_dtype = jax.dtypes.canonicalize_dtype(params_dtype)
    state = opt.init(jnp.array([0.0, 0.0], dtype=params_dtype))
    expected = params_dtype if state_dtype is None else jax.dtypes.canonicalize_dtype(state_dtype)
    assert get(state).dtype == expected


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("name", OPT_NAMES)
def test_preserve_dtype(name, dtype):
    """The updates have the gradients' dtype."""
    opt = _opt(name)
    params = jnp.array([1.0, 2.0], dtype=dtype)
    grads = jax.grad(lambda x: jnp.sum(x**2))(params)
    updates, _ = jax.jit(opt.update)(grads, jax.jit(opt.init)(params), params)
    assert updates.dtype == grads.dtype


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("name", OPT_NAMES)
def test_state_shape_dtype_shard_stability(name, dtype):
    with jax.enable_x64(dtype in ("float64", "complex128")):
        opt = _opt(name)
        initial_params, _, objective = _setup_parabola(dtype)
        grad = _conj_grad(objective)

        @jax.jit
        def step(params, state):
            updates = grad(params)
            # lax.cond defeats compiler simplification and checks that both branches agree in dtype
            cond = jax.random.randint(jax.random.key(0), (), 0, 2) == 0
            updates, state = jax.lax.cond(cond, lambda: opt.update(updates, state, params), lambda: (params, state))
            return optim.apply_updates(params, updates), state

        params, state = initial_params, opt.init(initial_params)
        for _ in range(2):
            params, new_state = step(params, state)
            assert jax.tree.leaves(params)[0].dtype == jnp.dtype(dtype)
            cond = jax.random.randint(jax.random.key(0), (), 0, 2) == 0
            state = jax.lax.cond(cond, lambda: state, lambda: new_state)  # noqa: B023


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("name", OPT_NAMES)
def test_gradient_accumulation(name, dtype):
    """Our optimizers can be used inside optax.MultiSteps."""
    params = jnp.array([1.0, 2.0], dtype=dtype)
    grads = jax.grad(lambda x: jnp.sum(x**2))(params)
    with STANDARD():
        opt = optax.MultiSteps(_opt(name), every_k_schedule=4)
        updates, _ = jax.jit(opt.update)(grads, jax.jit(opt.init)(params), params)
    np.testing.assert_array_equal(updates, jnp.zeros_like(grads))


# ---------------------------------------------------------------- transform_test.py

INIT_PARAMS = (jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0]))
PER_STEP_UPDATES = (jnp.array([500.0, 5.0]), jnp.array([300.0, 3.0]))
STEPS, LR = 50, 1e-2


def test_scalers_adam():
    scaler = optim.scale_by_adam()
    state = jax.jit(scaler.init)(INIT_PARAMS)
    updates, state = jax.jit(scaler.update)(PER_STEP_UPDATES, state, INIT_PARAMS)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves((INIT_PARAMS, updates, state)))
    assert jax.tree.map(jnp.shape, updates) == jax.tree.map(jnp.shape, INIT_PARAMS)


def test_apply_every():
    k = 4
    sgd = optim.sgd(LR, 0.0)
    with STANDARD():
        sgd_apply_every = optax.chain(optax.apply_every(k=k), optim.trace(decay=0, nesterov=False), optax.scale(-LR))
        transform_fn = jax.jit(sgd_apply_every.update)
        sgd_params, every_params = INIT_PARAMS, INIT_PARAMS
        state_sgd, state_every = sgd.init(sgd_params), sgd_apply_every.init(every_params)
        for i in range(STEPS):
            updates_sgd, state_sgd = sgd.update(PER_STEP_UPDATES, state_sgd)
            sgd_params = optim.apply_updates(sgd_params, updates_sgd)
            updates_every, state_every = transform_fn(PER_STEP_UPDATES, state_every)
            every_params = optim.apply_updates(every_params, updates_every)
            if i % k == k - 1:
                jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5),
                             every_params, sgd_params)
            else:
                jax.tree.map(lambda u: np.testing.assert_array_equal(u, 0.0), updates_every)


def test_rms_match_adam():
    """optax.scale_by_rms(eps_in_sqrt=False, bias_correction=True) matches our scale_by_adam(b1=0)."""
    fun = lambda x: sum(jnp.sum(t**2) for t in x)  # noqa: E731
    with STANDARD():
        rms = optax.scale_by_rms(decay=0.999, eps_in_sqrt=False, bias_correction=True)
        rms_params, rms_state = INIT_PARAMS, rms.init(INIT_PARAMS)
        for _ in range(5):
            rms_updates, rms_state = rms.update(jax.grad(fun)(rms_params), rms_state)
            rms_params = optax.apply_updates(rms_params, rms_updates)
    adam = optim.scale_by_adam(b1=0)
    adam_params, adam_state = INIT_PARAMS, adam.init(INIT_PARAMS)
    for _ in range(5):
        adam_updates, adam_state = adam.update(jax.grad(fun)(adam_params), adam_state)
        adam_params = optim.apply_updates(adam_params, adam_updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=0), adam_params, rms_params)


# ---------------------------------------------------------------- combine_test.py / transforms/_combining_test.py

@pytest.mark.parametrize("last", ["optax.scale", "ours"])
def test_chain(last):
    final = optax.scale(-LR) if last == "optax.scale" else optim.scale_by_learning_rate(LR)
    transformations = [optim.scale_by_adam(), optim.trace(decay=0, nesterov=False), final]
    chained = optim.chain(*transformations)
    chain_params, state = INIT_PARAMS, chained.init(INIT_PARAMS)
    assert isinstance(state, tuple)
    update_fn = jax.jit(chained.update)
    for _ in range(STEPS):
        updates, state = update_fn(PER_STEP_UPDATES, state)
        assert isinstance(state, tuple)
        chain_params = optim.apply_updates(chain_params, updates)
    manual_params, states = INIT_PARAMS, [t.init(INIT_PARAMS) for t in transformations]
    for _ in range(STEPS):
        updates, new_states = PER_STEP_UPDATES, []
        for t, s in zip(transformations, states):
            updates, s = t.update(updates, s)
            new_states.append(s)
        manual_params, states = optim.apply_updates(manual_params, updates), new_states
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4), manual_params, chain_params)


def test_extra_args():
    def update_fn(updates, state, params=None, *, loss, **extra_args):
        del extra_args, params
        assert loss == 1
        return updates, state

    t = optax.GradientTransformationExtraArgs(lambda params: (), update_fn)
    result = optim.chain(optim.adam(1e-3), t)
    params = {"a": 1, "b": 2}  # Python ints, as in optax's test: only standard promotion makes sense of them
    with STANDARD():
        result.update(params, result.init(params), loss=1, ignored_kwarg="hi")


def test_extra_args_chaining():
    """Chaining transformations that take no extra arguments gives one that accepts them."""

    def update_fn(updates, state, params=None):
        del params
        return updates, state

    t1 = optim.GradientTransformation(lambda params: {}, update_fn)
    t2 = optim.chain(t1, t1)
    params = {"a": jnp.ones(2)}
    updates, _ = t2.update(params, t2.init(params), None, loss=1, ignored_kwarg="hi")
    np.testing.assert_array_equal(updates["a"], params["a"])


def test_extra_args_positional_params():
    def update_fn(updates, state, params=None):
        assert params is not None
        return updates, state

    def update_fn_kwargs(updates, state, params=None, **extra_args):
        del extra_args
        assert params is not None
        return updates, state

    t1 = optim.GradientTransformation(lambda params: (), update_fn)
    t2 = optax.GradientTransformationExtraArgs(lambda params: (), update_fn_kwargs)
    opt = optim.chain(t1, t2)
    params = {"a": 1, "b": 2}
    state = opt.init(params)
    opt.update(params, state, params, ignored_kwarg="hi")
    opt.update(params, state, params=params, ignored_kwarg="hi")


@pytest.mark.parametrize("container", [list, tuple, dict])
def test_partition_empty(container):
    with STANDARD():
        init_fn, update_fn = optax.partition({0: optim.sgd(1.0)}, lambda _: 0)
        updates, _ = update_fn(container(), init_fn(container()))
    assert updates == container()


@pytest.mark.parametrize("use_fn", [False, True])
@pytest.mark.parametrize("use_extra_label", [False, True])
def test_partition_labels_mismatch(use_extra_label, use_fn):
    params = jax.tree.map(jnp.asarray, {"a": 1.0, "b": [2.0, 3.0], "c": {"d": 4.0, "e": (5.0, 6.0)}})
    label_tree = {"a": 0, "b": [1, 0], "c": 1}
    if use_extra_label:
        label_tree["a"] = 3
    transforms = {0: optim.sgd(1.0), 1: optim.adam(1.0, b1=0.0, b2=0.0), 2: optim.trace(1.0)}
    with STANDARD():
        init_fn, update_fn = optax.partition(transforms, (lambda _: label_tree) if use_fn else label_tree)
        if use_extra_label:
            with pytest.raises(ValueError):
                jax.jit(init_fn)(params)
        else:
            state = jax.jit(init_fn)(params)
            jax.jit(update_fn)(jax.tree.map(lambda x: x / 10.0, params), state)


# ---------------------------------------------------------------- float64_test.py

FLOAT64_MODULES = {
    "trace": (optim.trace, {"decay": 0.5, "nesterov": False}),
    "trace_with_nesterov": (optim.trace, {"decay": 0.5, "nesterov": True}),
    "scale_by_rss": (optim.scale_by_rss, {}),
    "scale_by_adam": (optim.scale_by_adam, {}),
    "adagrad": (optim.adagrad, {"learning_rate": 0.1}),
    "adam": (optim.adam, {"learning_rate": 0.1}),
    "sgd": (optim.sgd, {"learning_rate": 0.1}),
}


@pytest.mark.parametrize("name", sorted(FLOAT64_MODULES))
def test_mixed_dtype_input_outputs(name, x64):
    make, kwargs = FLOAT64_MODULES[name]
    initial_params = (jnp.array([1.0, 2.0], dtype=jnp.float32), jnp.array([3.0, 4.0], dtype=jnp.float64))
    updates = (jnp.array([10.0, 21.0], dtype=jnp.float32), jnp.array([33.0, 42.0], dtype=jnp.float64))
    scaler = make(**kwargs)
    initial_state = jax.jit(scaler.init)(initial_params)
    updates, new_state = jax.jit(scaler.update)(updates, initial_state, params=initial_params)
    new_params = optim.apply_updates(initial_params, updates)
    dtypes = functools.partial(jax.tree.map, lambda t: t.dtype)
    assert dtypes(initial_state) == dtypes(new_state)
    assert dtypes(initial_params) == dtypes(new_params)


# ---------------------------------------------------------------- transforms/_accumulation_test.py

def _dense_init(key, x_size=7, features=10, param_dtype=jnp.float32):
    """flax.linen.Dense(10)'s parameters (lecun-normal kernel, zero bias), as in optax's Loss module."""
    kernel = jax.random.truncated_normal(key, -2.0, 2.0, (x_size, features)) / np.sqrt(x_size) / 0.87962566
    return {"Dense_0": {"kernel": kernel.astype(param_dtype), "bias": jnp.zeros((features,), param_dtype)}}


def _dense_loss(params, data):
    """sum(Dense(10)(x)^2), computed in float32 like flax's Dense(dtype=float32)."""
    p = jax.tree.map(lambda t: t.astype(jnp.float32), params["Dense_0"])
    return jnp.sum((data.astype(jnp.float32) @ p["kernel"] + p["bias"][None, :]) ** 2)


def test_multi_steps():
    k_steps, data = 4, jnp.ones([32, 7])
    params = _dense_init(jax.random.key(0))
    with STANDARD():
        # A non-trivial inner optimizer: it has a state, and it needs the params for the update.
        ms_opt = optax.MultiSteps(
            optim.chain(optim.scale_by_adam(), optax.add_decayed_weights(1e-2), optax.scale(-1e-4)), k_steps)
        opt_init, opt_update = ms_opt.gradient_transformation()

        @jax.jit
        def train_step(data, opt_state, params):
            return opt_update(jax.grad(_dense_loss)(params, data), opt_state, params)

        opt_state = opt_init(params)
        prev_loss = _dense_loss(params, data)
        for idx in range(5 * k_steps):
            updates, opt_state = train_step(data, opt_state, params)
            new_params = optim.apply_updates(params, updates)
            new_loss = _dense_loss(new_params, data)
            if idx % k_steps < k_steps - 1:
                jax.tree.map(np.testing.assert_array_equal, new_params, params)
                np.testing.assert_equal(new_loss, prev_loss)
                assert not ms_opt.has_updated(opt_state)
            else:
                np.testing.assert_array_less(new_loss, prev_loss)
                prev_loss = new_loss
                assert ms_opt.has_updated(opt_state)
            params = new_params


def test_multi_steps_every_k_schedule():
    with STANDARD():
        ms_opt = optax.MultiSteps(optim.sgd(1e-4), lambda grad_step: jnp.where(grad_step < 2, 1, 3))
        opt_init, opt_update = ms_opt.gradient_transformation()
        opt_update = jax.jit(opt_update)
        params = {"a": jnp.zeros([])}
        opt_state, grad = opt_init(params), {"a": jnp.zeros([])}
        assert not ms_opt.has_updated(opt_state)
        for _ in range(2):
            _, opt_state = opt_update(grad, opt_state, params)
            assert ms_opt.has_updated(opt_state)
        for _ in range(5):
            for _ in range(2):
                _, opt_state = opt_update(grad, opt_state, params)
                assert not ms_opt.has_updated(opt_state)
            _, opt_state = opt_update(grad, opt_state, params)
            assert ms_opt.has_updated(opt_state)


def test_multi_steps_scan_dtype_stability():
    params = {"a": jnp.zeros([], dtype=jnp.bfloat16)}
    with STANDARD():
        ms_opt = optax.MultiSteps(optim.sgd(1e-4), 2, accumulator_dtype=jnp.float32)
        opt_init, opt_update = ms_opt.gradient_transformation()

        def train_step(state, _):
            updates, opt_state = opt_update({"a": jnp.ones([], dtype=jnp.bfloat16)}, state, params)
            return opt_state, updates

        final_state, _ = jax.lax.scan(train_step, opt_init(params), jnp.arange(4))
    assert final_state.acc_grads["a"].dtype == jnp.float32


def test_multi_steps_zero_nans():
    with STANDARD():
        ms_opt = optax.MultiSteps(optim.chain(optax.zero_nans(), optim.sgd(1e-4)), every_k_schedule=2)
        opt_init, opt_update = ms_opt.gradient_transformation()
        params = {"a": jnp.zeros([])}
        opt_update({"a": jnp.zeros([])}, opt_init(params), params)


def test_multi_steps_skip_not_finite():
    with STANDARD():
        ms_opt = optax.MultiSteps(optim.sgd(1.0), 2, should_skip_update_fn=optax.skip_not_finite)
        opt_init, opt_update = ms_opt.gradient_transformation()
        opt_init, opt_update = jax.jit(opt_init), jax.jit(opt_update)
        params = {"a": jnp.zeros([])}
        opt_state = opt_init(params)

        def step(value, params, opt_state, mini_step):
            updates, opt_state = opt_update({"a": jnp.full([], value)}, opt_state, params)
            assert int(opt_state.mini_step) == mini_step
            return optim.apply_updates(params, updates), opt_state

        params, opt_state = step(1.0, params, opt_state, 1)  # good updates
        params, opt_state = step(1.0, params, opt_state, 0)
        np.testing.assert_array_equal(params["a"], -1.0)
        for bad in (float("inf"), float("nan")):  # no increase in mini_step, no change
            params, opt_state = step(bad, params, opt_state, 0)
            np.testing.assert_array_equal(params["a"], -1.0)
        params, opt_state = step(1.0, params, opt_state, 1)  # final good updates
        params, opt_state = step(1.0, params, opt_state, 0)
        np.testing.assert_array_equal(params["a"], -2.0)


@pytest.mark.parametrize("opt_kwargs", [{"learning_rate": 0.1}, {"learning_rate": 0.1, "mu_dtype": jnp.float32}],
                         ids=["adam", "adam_mu_float32"])
def test_multi_steps_mixed_precision(opt_kwargs):
    k_steps, data = 4, jnp.ones([32, 7])
    opt = optim.adam(**opt_kwargs)
    dtypes = functools.partial(jax.tree.map, lambda x: x.dtype)

    def train_step(opt_update_fn):
        @functools.partial(jax.jit, static_argnames="upd_dtype")  # jitted (optax's runs eagerly): same numbers
        def step(data, opt_state, params, upd_dtype):
            grad = jax.tree.map(lambda x: x.astype(upd_dtype), jax.grad(_dense_loss)(params, data))
            return opt_update_fn(grad, opt_state, params)

        return step

    with STANDARD():
        ms_opt = optax.MultiSteps(opt, k_steps)
        ms_opt_init, ms_opt_update = ms_opt.gradient_transformation()
        step, ms_step = train_step(opt.update), train_step(ms_opt_update)
        for upd_dtype in (jnp.float32, jnp.float16, jnp.bfloat16):
            for param_dtype in (jnp.float32, jnp.float16, jnp.bfloat16):
                params = _dense_init(jax.random.key(0), param_dtype=param_dtype)
                opt_state, ms_opt_state = opt.init(params), ms_opt_init(params)
                for _ in range(k_steps + 1):
                    updates, opt_state = step(data, opt_state, params, upd_dtype=upd_dtype)
                    ms_updates, ms_opt_state = ms_step(data, ms_opt_state, params, upd_dtype=upd_dtype)
                    assert dtypes(updates) == dtypes(ms_updates), (upd_dtype, param_dtype)
                    new_params = optim.apply_updates(params, ms_updates)
                    assert dtypes(params) == dtypes(new_params), (upd_dtype, param_dtype)
                    params = new_params


# ---------------------------------------------------------------- update_test.py

def test_apply_updates():
    params = ({"a": jnp.ones((3, 2))}, jnp.ones((1,)))
    grads = jax.tree.map(lambda t: 2 * t, params)
    new_params = jax.jit(optim.apply_updates)(params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-10, rtol=1e-5),
                 jax.tree.map(lambda t: 3 * t, params), new_params)


def test_apply_updates_mixed_precision():
    params = ({"a": jnp.ones((3, 2), dtype=jnp.bfloat16)}, jnp.ones((1,), dtype=jnp.bfloat16))
    grads = jax.tree.map(lambda t: (2 * t).astype(jnp.float32), params)
    new_params = jax.jit(optim.apply_updates)(params, grads)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(new_params))


def test_apply_updates_none_argument():
    assert optim.apply_updates(None, jnp.array([1.0, 2.0, 3.0])) is None
