"""G6: hand-written backpropagation against jax.grad, the symmetry of zero init, the adaptive rule, the CLI."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.experiments import two_layer
from jaxopt_course.problems import two_layer_sigmoid as tl
from jaxopt_course.results import load_npz


@pytest.fixture(scope="module")
def g6_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("g6")
    assert cli.main(["run", "G6", "--quick", "--out", str(out)]) == 0
    return json.loads((out / "G6" / "results.json").read_text()) | {"dir": out / "G6"}


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
    run_epoch = jax.jit(lambda s: jax.lax.fori_loop(
        0, 8, lambda k, s: two_layer.adaptive_step(X, y, 10.0, 8, 0.9)(s, k, jnp.array([k])), s))
    seen = set()
    for lr in (1e-6, 1e3):
        state = run_epoch(two_layer.AdaptiveState(params, jnp.float32(lr), risk0))
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
        two_layer.TwoLayerConfig(num_points=100, batch_size=7)


def test_quick_cli_run_metrics(g6_quick):
    m = g6_quick["metrics"]
    assert m["backprop_max_abs_error"] < 1e-12
    assert m["zero_init_hidden_spread"] == 0.0  # symmetry never broken, in any mode
    assert m["gaussian_init_hidden_spread_min"] > 1e-3
    # alpha = 10 with a random init learns XOR; zero init computes a one-unit network (at most 3 of 4 blobs).
    assert m["accuracy"]["per_sample"]["alpha=10"]["gaussian"] >= 0.75
    for mode in two_layer.MODES:
        for a in ("alpha=3", "alpha=10"):
            assert m["accuracy"][mode][a]["zeros"] <= 0.76
    assert m["final_risk"]["per_sample"]["alpha=10"]["gaussian"] < m["final_risk"]["per_sample"]["alpha=10"]["zeros"]
    for a in ("alpha=3", "alpha=10"):  # gamma_E = 0.1 * 0.9^(number of epochs where the risk rose)
        for lr in m["adaptive_final_lr"][a].values():
            rises = np.log(lr / 0.1) / np.log(0.9)
            assert abs(rises - round(rises)) < 1e-3 and 0 <= round(rises) <= 30
    assert sorted(g6_quick["figures"]) == ["g6_predictions.png", "g6_risk.png"]
    data = load_npz(g6_quick["dir"] / "data.npz")
    assert data["per_sample_risk"].shape == (3, 2, 2, 31)  # seeds, alphas, inits, epochs + 1
    assert data["predictions"].shape == (2, 2, 21, 21)


def test_full_config_has_the_spec_values():
    c = two_layer.TwoLayerConfig()
    assert (c.learning_rate, c.epochs, c.batch_size, c.adaptive_factor, c.init_scale) == (0.01, 100, 5, 0.9, 0.1)
    assert c.alphas == (3.0, 10.0)
