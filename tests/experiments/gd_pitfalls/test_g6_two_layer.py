"""G6: hand-written backpropagation against jax.grad, the symmetry of zero init, the adaptive rule, the sweeps."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import labelled
from jaxopt_course.data.batching import Batches
from jaxopt_course.experiments.gd_pitfalls import g6_two_layer as G6
from jaxopt_course.problems import two_layer_sigmoid as tl
from jaxopt_course.results import load_dataset

# 8 points, full-batch minibatches (B = n: the minibatch mode is GD), 3 epochs: the sweep tests' size.
TINY = G6.Config(num_points=8, batch_size=8, epochs=3, seeds=2, grid_size=3)


@pytest.fixture(scope="module")
def quick():
    return G6.run(G6.Config.quick(), jax.random.key(0))


@pytest.fixture(scope="module")
def tiny_runs():
    """A run sweeping alpha, learning_rate and adaptive_lr0 (2 values each), and single-value runs at both ends."""
    swept = G6.run(dataclasses.replace(TINY, alpha=(3.0, 10.0), learning_rate=(0.01, 0.5), adaptive_lr0=(0.1, 0.7)),
                   jax.random.key(1))
    singles = {v: G6.run(dataclasses.replace(TINY, alpha=v[0], learning_rate=v[1], adaptive_lr0=v[2]),
                         jax.random.key(1)) for v in ((3.0, 0.01, 0.1), (10.0, 0.5, 0.7))}
    return swept, singles


# jit-compiled data and init: one compilation each instead of one per random primitive.
_blobs = jax.jit(tl.xor_blobs, static_argnums=1)
_gaussian = jax.jit(tl.gaussian_init, static_argnums=1, static_argnames="scale")


@jax.jit
def _both_gradients(params, X, y, alpha):
    return tl.risk_grad(params, X, y, alpha), jax.grad(tl.risk)(params, X, y, alpha)


def test_scaled_sigmoid_derivative(x64):
    v = jnp.linspace(-3.0, 3.0, 61)
    for alpha in (1.0, 3.0, 10.0):
        auto = jax.vmap(jax.grad(tl.scaled_sigmoid), in_axes=(0, None))(v, alpha)
        np.testing.assert_allclose(tl.scaled_sigmoid_grad(v, alpha), auto, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(tl.scaled_sigmoid(jnp.array([0.0, 1.0]), 3.0), [0.5, 1 / (1 + np.exp(-3.0))], rtol=1e-15)


@pytest.mark.parametrize("alpha", [3.0, 10.0])
def test_backward_equations_equal_jax_grad(x64, getkey, alpha):
    X, y = _blobs(getkey(), 24)
    params = _gaussian(getkey(), 5, scale=0.7)
    hand, auto = _both_gradients(params, X, y, alpha)
    for h, a in zip(hand, auto):
        np.testing.assert_allclose(h, a, rtol=1e-11, atol=1e-14)
    assert max(float(jnp.max(jnp.abs(a))) for a in auto) > 1e-3  # a real, non-vanishing gradient was compared


def test_backward_equations_in_float32(getkey):
    X, y = _blobs(getkey(), 24)
    params = _gaussian(getkey(), 5, scale=0.7)
    hand, auto = _both_gradients(params, X, y, 10.0)
    for h, a in zip(hand, auto):
        assert h.dtype == jnp.float32
        np.testing.assert_allclose(h, a, rtol=2e-4, atol=1e-6)


def test_minibatch_gradient_is_the_average_of_per_sample_gradients(x64, getkey):
    X, y = _blobs(getkey(), 20)
    params = _gaussian(getkey(), 4)
    idx = np.array([3, 7, 11, 0, 19])
    batch = jax.jit(tl.risk_grad)(params, X[idx], y[idx], 10.0)
    singles = jax.jit(jax.vmap(lambda i: tl.risk_grad(params, X[i][None], y[i][None], 10.0)))(idx)
    for b, s in zip(batch, singles):
        np.testing.assert_allclose(b, np.mean(s, axis=0), rtol=1e-12, atol=1e-16)


def test_zero_init_is_stationary_for_balanced_labels(getkey):
    """At theta = 0, y_hat = 1/2 = mean(y) and w2 = 0: every component of the full gradient is exactly 0."""
    X, y = _blobs(getkey(), 40)
    for leaf in tl.risk_grad(tl.zeros_init(6), X, y, 10.0):
        assert float(jnp.max(jnp.abs(leaf))) == 0.0


def test_zero_init_symmetry_survives_sgd_exactly(getkey):
    X, y = _blobs(getkey(), 40)
    zero, gauss = tl.zeros_init(6), _gaussian(getkey(), 6)

    @jax.jit
    def per_sample_sgd(p):
        def body(p, i):
            g = tl.risk_grad(p, jax.lax.dynamic_slice_in_dim(X, i, 1), jax.lax.dynamic_slice_in_dim(y, i, 1), 10.0)
            return jax.tree.map(lambda a, b: a - 0.5 * b, p, g), None

        return jax.lax.scan(body, p, jnp.tile(jnp.arange(40), 5))[0]

    trained = per_sample_sgd(zero)
    assert float(tl.hidden_unit_spread(trained)) == 0.0
    assert float(jnp.min(jnp.abs(trained.W1))) > 0 and float(jnp.min(jnp.abs(trained.w2))) > 1e-2  # all moved
    assert float(tl.hidden_unit_spread(per_sample_sgd(gauss))) > 1e-2


def test_hidden_unit_spread_is_exactly_zero_for_equal_units_and_sees_one_ulp():
    v = np.float32(0.8132702)  # the float32 mean of three copies of v is not v
    assert float(jnp.mean(jnp.full(3, v))) != v
    equal = tl.TwoLayerParams(W1=jnp.full((3, 2), v), b1=jnp.full(3, v), w2=jnp.full(3, -v), b2=jnp.float32(1.0))
    assert float(tl.hidden_unit_spread(equal)) == 0.0
    nudged = equal._replace(w2=equal.w2.at[2].set(np.nextafter(-v, np.float32(0))))
    assert float(tl.hidden_unit_spread(nudged)) == float(np.spacing(v))


def test_adaptive_rule_shrinks_the_step_only_when_the_risk_rises(getkey):
    X, y = _blobs(getkey(), 8)
    params = _gaussian(getkey(), 3, scale=1.0)
    risk0 = tl.risk(params, X, y, 10.0)
    step = G6.adaptive_step(X, y, 10.0, 8, 0.9)
    run_epoch = jax.jit(lambda s: jax.lax.fori_loop(
        0, 8, lambda k, s: step(s, k, Batches(jnp.array([k]), jnp.ones(1, jnp.float32))), s))
    seen = set()
    for lr in (1e-6, 1e3):
        state = run_epoch(G6.AdaptiveState(params, jnp.float32(lr), risk0))
        rose = bool(tl.risk(state.params, X, y, 10.0) > risk0)
        seen.add(rose)
        assert float(state.lr) == pytest.approx(lr * 0.9 if rose else lr, rel=1e-6)
        assert float(state.last_risk) == pytest.approx(float(tl.risk(state.params, X, y, 10.0)), rel=1e-6)
    assert seen == {True, False}  # a tiny step lowers the risk, a huge one overshoots: both branches ran


def test_xor_blobs_are_balanced_and_not_linearly_separable(getkey):
    X, y = _blobs(getkey(), 400)
    assert X.shape == (400, 2) and y.shape == (400,)
    assert float(jnp.mean(y)) == 0.5
    A = np.c_[np.ones(400), np.asarray(X)]
    w = np.linalg.lstsq(A, np.asarray(y), rcond=None)[0]
    assert np.mean((A @ w > 0.5) == (np.asarray(y) > 0.5)) < 0.7  # the best linear fit is near chance


def test_bad_input_raises_value_error(getkey):
    params = tl.zeros_init(3)
    with pytest.raises(ValueError, match="X must be"):
        tl.risk(params, jnp.ones((4, 3)), jnp.ones(4), 1.0)
    with pytest.raises(ValueError, match="y must"):
        tl.risk(params, jnp.ones((4, 2)), jnp.ones(5), 1.0)
    with pytest.raises(ValueError, match="multiple of 4"):
        _blobs(getkey(), 10)
    with pytest.raises(ValueError, match="num_hidden"):
        tl.zeros_init(0)
    with pytest.raises(ValueError, match="batch_size"):
        G6.Config(num_points=100, batch_size=7)
    with pytest.raises(ValueError, match="alpha"):
        G6.Config(alpha=(3.0, -1.0))


def test_quick_run_metrics(quick):
    m, final = quick.metrics, quick.data.isel(epoch=-1)
    assert m["backprop_max_abs_error"] < 1e-12
    assert m["zero_init_hidden_spread"] == 0.0  # symmetry never broken, in any mode
    assert m["gaussian_init_hidden_spread_min"] > 1e-3
    for mode in G6.MODES:  # the metrics are the dataset's cells
        assert m["accuracy"][mode] == labelled.cells(G6.over_seeds(np.mean, final[f"{mode}_accuracy"]))
        assert m["final_risk"][mode] == labelled.cells(G6.over_seeds(np.median, final[f"{mode}_risk"]))
        assert float(final[f"{mode}_spread"].sel(init="zeros").max()) == 0.0
    accuracy = {mode: final[f"{mode}_accuracy"].mean("seed").squeeze(G6.STEP_FIELD[mode]) for mode in G6.MODES}
    # alpha = 10 with a random init learns XOR; zero init computes a one-unit network (at most 3 of 4 blobs).
    assert float(accuracy["per_sample"].sel(alpha=10.0, init="gaussian")) >= 0.75
    for mode in G6.MODES:
        assert float(accuracy[mode].sel(init="zeros").max()) <= 0.76
    risk = final.per_sample_risk.median("seed").sel(alpha=10.0, learning_rate=0.01)
    assert float(risk.sel(init="gaussian")) < float(risk.sel(init="zeros"))
    assert m["adaptive_final_lr"] == labelled.cells(G6.over_seeds(np.median, final.adaptive_lr))
    for lr in m["adaptive_final_lr"].values():  # gamma_E = 0.1 * 0.9^(number of epochs where the risk rose)
        rises = np.log(lr / 0.1) / np.log(0.9)
        assert abs(rises - round(rises)) < 1e-3 and 0 <= round(rises) <= 30
    assert quick.diverged == {}


def test_dataset_dims_and_figures(quick, tmp_path):
    d = quick.data
    assert d.per_sample_risk.dims == ("alpha", "learning_rate", "init", "seed", "epoch")
    assert d.per_sample_risk.shape == (2, 1, 2, 3, 31)  # alphas, steps, inits, seeds, epochs + 1
    assert d.adaptive_lr.dims == ("alpha", "adaptive_lr0", "init", "seed", "epoch")
    assert d.predictions.shape == (2, 1, 2, 21, 21)
    assert list(d.alpha.values) == [3.0, 10.0] and list(d.init.values) == list(G6.INITS)
    paths = G6.plot(quick, tmp_path)
    assert sorted(p.name for p in paths) == ["g6_predictions.png", "g6_risk.png"] and set(G6.CAPTIONS) == {
        p.stem for p in paths}
    assert load_dataset(tmp_path / "g6_predictions.npz").predictions.dims == d.predictions.dims


@pytest.mark.slow  # several compiles; the sweep mechanism itself: tests/test_run.py, other sections' sweep tests
def test_a_sweep_gives_at_each_value_the_single_value_run(tiny_runs):
    swept, singles = tiny_runs
    d = swept.data
    assert list(d.learning_rate.values) == [0.01, 0.5] and list(d.adaptive_lr0.values) == [0.1, 0.7]
    assert d.per_sample_risk.sizes["alpha"] == 2 and d.adaptive_risk.sizes["adaptive_lr0"] == 2
    for (alpha, lr, lr0), single in singles.items():
        s = single.data
        for mode in G6.MODES:
            cell = {"alpha": alpha, G6.STEP_FIELD[mode]: lr0 if mode == "adaptive" else lr}
            for name in ("risk", "accuracy", "spread"):
                np.testing.assert_allclose(d[f"{mode}_{name}"].sel(cell).values,
                                           s[f"{mode}_{name}"].sel(cell).values, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(d.adaptive_lr.sel(alpha=alpha, adaptive_lr0=lr0).values,
                                   s.adaptive_lr.sel(alpha=alpha, adaptive_lr0=lr0).values, rtol=1e-6)
        np.testing.assert_allclose(d.predictions.sel(alpha=alpha, learning_rate=lr).values,
                                   s.predictions.sel(alpha=alpha, learning_rate=lr).values, rtol=1e-5, atol=1e-7)


def test_batch_size_is_honoured_full_batch_minibatches_are_gd(tiny_runs):
    """With B = n one minibatch step per epoch is a full GD step: the recorded risks follow GD from the same init."""
    (alpha, lr, _), single = next(iter(tiny_runs[1].items()))
    c = dataclasses.replace(TINY, alpha=alpha, learning_rate=lr)
    data_key, train_key, _ = jax.random.split(jax.random.key(1), 3)
    X, y = _blobs(data_key, c.num_points, c.spread)
    init_key = jax.random.split(jax.random.split(train_key, c.seeds)[0])[0]
    params = jax.jit(G6.init_params, static_argnums=2)(init_key, 1, c)
    grad = jax.jit(tl.risk_grad)
    risks = [float(tl.risk(params, X, y, alpha))]
    for _ in range(c.epochs):
        params = jax.tree.map(lambda p, g: p - lr * g, params, grad(params, X, y, alpha))
        risks.append(float(tl.risk(params, X, y, alpha)))
    recorded = single.data.minibatch_risk.sel(alpha=alpha, learning_rate=lr, init="gaussian", seed=0).values
    np.testing.assert_allclose(recorded, risks, rtol=1e-5)
    assert single.data.minibatch_risk.sizes["epoch"] == c.epochs + 1


def test_batch_size_is_a_settable_field():
    assert G6.Config(batch_size=20).batch_size == 20
    assert dataclasses.replace(G6.Config.quick(), batch_size=20).batch_size == 20  # 40 points: 2 batches


def test_full_config_has_the_spec_values():
    c = G6.Config()
    assert (c.learning_rate, c.epochs, c.batch_size, c.adaptive_factor, c.init_scale) == (0.01, 100, 5, 0.9, 0.1)
    assert c.alpha == (3.0, 10.0)
