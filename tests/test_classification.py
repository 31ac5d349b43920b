"""The MLP classifier, the minibatch training loop, per-layer gradient norms (C1, C2: tests/experiments/)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import optim
from jaxopt_course.data import batching, digits
from jaxopt_course.models import classifier as mc
from jaxopt_course.models import mlp
from jaxopt_course.problems import classification as cl


def sklearn_data(n_train=None) -> cl.Data:
    """scikit-learn's bundled 8x8 digits (offline), standardized: a small real classification problem."""
    images, labels = digits.digits_from_sklearn()
    x = images.reshape(len(labels), -1).astype(np.float32) / 16.0
    x = (x - x[:1400].mean()) / x[:1400].std()
    n = 1400 if n_train is None else n_train
    return cl.Data(jnp.asarray(x[:n]), jnp.asarray(labels[:n], jnp.int32), jnp.asarray(x[1400:]),
                   jnp.asarray(labels[1400:], jnp.int32))


# ----------------------------------------------------------------------------- model


def test_layer_order_beyond_ten_layers(getkey):
    params = mc.init_params(mc.MLPClassifier((3,) * 11, num_classes=4), getkey(), 5)
    shapes = [w.shape for w in mc.layer_kernels(params)]
    assert shapes == [(5, 3)] + [(3, 3)] * 10 + [(3, 4)]


def test_outputs_are_log_probabilities(getkey):
    model = mc.MLPClassifier((16, 8), use_bias=True)
    params = mc.init_params(model, getkey(), 20)
    log_probs = model.apply({"params": params}, jax.random.normal(getkey(), (7, 20)))
    assert log_probs.shape == (7, 10)
    np.testing.assert_allclose(jax.nn.logsumexp(log_probs, axis=1), 0.0, atol=1e-5)


@pytest.mark.parametrize("initializer, check", [
    ("uniform", lambda w, n: (np.abs(w).max() <= n ** -0.5, np.std(w) * np.sqrt(3 * n))),
    ("he", lambda w, n: (True, np.std(w) / np.sqrt(2.0 / n))),
])
def test_initializations(getkey, initializer, check):
    params = mc.init_params(mc.MLPClassifier((512,), initializer=initializer, use_bias=True), getkey(), 400)
    w = np.asarray(params["layer_0"]["kernel"])
    bounded, ratio = check(w, 400)
    assert bounded and ratio == pytest.approx(1.0, abs=0.02)
    bias = np.asarray(params["layer_0"]["bias"])
    assert (np.abs(bias).max() <= 400 ** -0.5 and bias.std() > 0) if initializer == "uniform" else not bias.any()


def test_select_activation_matches_each_activation():
    x = jnp.linspace(-3, 3, 13)
    for i, name in enumerate(mc.ACTIVATION_NAMES):
        np.testing.assert_allclose(mc.select_activation(jnp.int32(i), x), mc.ACTIVATIONS[name](x), rtol=1e-6)


def test_one_mlp_definition_behind_the_classifier(getkey, x64):
    assert mc.ACTIVATIONS is mlp.ACTIVATIONS and set(mc.INITS) == set(mlp.LAYER_INITS) >= {"uniform", "he"}
    params = mc.init_params(mc.MLPClassifier((6,), initializer="lecun", use_bias=True), getkey(), 5)
    assert not params["layer_0"]["bias"].any() and np.std(params["layer_0"]["kernel"]) > 0
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))  # float32 parameters under x64 too
    x = jax.random.normal(getkey(), (3, 5), jnp.float32)
    out = mc.MLPClassifier((6,), activation="4sigmoid", initializer="lecun", use_bias=True).apply({"params": params}, x)
    assert out.dtype == jnp.float32 and out.shape == (3, 10)


def test_nll_and_bad_input():
    log_probs = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    np.testing.assert_allclose(mc.nll(log_probs, jnp.array([1, 2])), [np.log(4.0), -np.log(0.8)], rtol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        mc.nll(log_probs, jnp.array([1, 2, 0]))
    with pytest.raises(ValueError, match="activation must be one of"):
        mc.MLPClassifier((4,), activation="gelu")
    with pytest.raises(ValueError, match="hidden widths"):
        mc.MLPClassifier((4, 0))


# ----------------------------------------------------------------------------- gradients and training


def reference_loss(kernels, biases, x, y, activation):
    """Mean NLL of the MLP written with plain matmuls (independent of flax and of our loss code)."""
    h = x
    for w, b in zip(kernels[:-1], biases[:-1]):
        h = activation(h @ w + jnp.reshape(b, (1, -1)))
    logits = h @ kernels[-1] + jnp.reshape(biases[-1], (1, -1))
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(y.size), y])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_per_layer_gradient_norms_match_an_independent_computation(getkey, activation):
    model = mc.MLPClassifier((6, 5, 4), num_classes=3, activation=activation, use_bias=True)
    params = mc.init_params(model, getkey(), 8)
    x, y = jax.random.normal(getkey(), (9, 8)), jax.random.randint(getkey(), (9,), 0, 3)
    padded_x, padded_y = jnp.concatenate([x, x[:3] * 100.0]), jnp.concatenate([y, y[:3]])
    weight = jnp.concatenate([jnp.ones(9), jnp.zeros(3)])  # a padded last batch: padding must not count
    norms = jax.jit(lambda p: mc.weight_norms(jax.grad(functools.partial(cl.batch_loss, model))(
        p, padded_x, padded_y, weight)))(params)
    kernels = [params[f"layer_{i}"]["kernel"] for i in range(4)]
    biases = [params[f"layer_{i}"]["bias"] for i in range(4)]
    ref = jax.jit(jax.grad(functools.partial(reference_loss, activation=mc.ACTIVATIONS[activation])))(
        kernels, biases, x, y)
    np.testing.assert_allclose(norms, [np.linalg.norm(np.asarray(g)) for g in ref], rtol=1e-5)


def test_epoch_averaged_norms_and_sgd_steps_match_a_python_loop(getkey):
    data = sklearn_data(n_train=10)
    model = mc.MLPClassifier((5,), num_classes=10)
    key, lr, bsz = getkey(), 0.1, 4
    trace = jax.jit(lambda k: cl.train(model, optim.sgd(lr), data, k, epochs=2, batch_size=bsz,
                                       metrics=cl.epoch_metrics))(key)
    init_key, order_key = jax.random.split(key)
    params = mc.init_params(model, init_key, 64)
    zeros = [jnp.zeros(5), jnp.zeros(10)]
    grad = jax.jit(jax.grad(lambda p, x, y: reference_loss([p["layer_0"]["kernel"], p["layer_1"]["kernel"]], zeros,
                                                           x, y, jax.nn.relu)))
    for epoch in range(2):
        batches = batching.epoch_batches(jax.random.fold_in(order_key, epoch), 10, bsz)
        norms = []
        for index, weight in zip(np.asarray(batches.index), np.asarray(batches.weight)):
            real = index[weight > 0]
            g = grad(params, data.x_train[real], data.y_train[real])
            norms.append([np.linalg.norm(g["layer_0"]["kernel"]), np.linalg.norm(g["layer_1"]["kernel"])])
            params = jax.tree.map(lambda p, d: p - lr * d, params, g)
        np.testing.assert_allclose(trace.metrics["grad_norm"][epoch + 1], np.mean(norms, axis=0), rtol=2e-5)
    np.testing.assert_allclose(trace.state.opt.params["layer_0"]["kernel"], params["layer_0"]["kernel"],
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(trace.steps, [0, 3, 6])


@pytest.mark.parametrize("microbatches", [2, 4])
def test_microbatched_loss_and_gradient_equal_the_whole_batch(getkey, microbatches):
    model = mc.MLPClassifier((16, 8), use_bias=True)
    params = mc.init_params(model, getkey(), 12)
    x, y = jax.random.normal(getkey(), (8, 12)), jax.random.randint(getkey(), (8,), 0, 10)
    weight = jnp.array([1, 1, 1, 1, 1, 0, 0, 0], jnp.float32)  # a padded last batch, padding in one slice only
    whole, split = (jax.jit(jax.value_and_grad(functools.partial(cl.batch_loss, model, microbatches=m)))(
        params, x, y, weight) for m in (1, microbatches))
    kernels = [params[f"layer_{i}"]["kernel"] for i in range(3)]
    biases = [params[f"layer_{i}"]["bias"] for i in range(3)]
    reference = reference_loss(kernels, biases, x[:5], y[:5], jax.nn.relu)
    assert float(split[0]) == pytest.approx(float(reference), rel=1e-6)
    assert float(split[0]) == pytest.approx(float(whole[0]), rel=1e-6)
    for a, b in zip(jax.tree.leaves(whole[1]), jax.tree.leaves(split[1])):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_microbatch_choice_and_errors(monkeypatch):
    with pytest.raises(ValueError, match="dividing the batch size 64"):
        cl.check_microbatches(64, 3)
    with pytest.raises(ValueError, match="dividing the batch size"):
        cl.check_microbatches(64, 0)
    with pytest.raises(ValueError, match="dividing the batch size 8, got 3"):
        cl.batch_loss(mc.MLPClassifier((4,)), None, jnp.zeros((8, 2)), jnp.zeros(8, jnp.int32), jnp.ones(8), 3)
    monkeypatch.setattr(cl.os, "cpu_count", lambda: 2)
    cpu = jax.default_backend() == "cpu"
    assert cl.default_microbatches(64, seeds=1) == (2 if cpu else 1)
    assert cl.default_microbatches(64, seeds=4) == 1 and cl.default_microbatches(63, seeds=1) == 1
    monkeypatch.setattr(cl.os, "cpu_count", lambda: 1)
    assert cl.default_microbatches(64, seeds=1) == 1


def test_training_without_norms_or_with_microbatches_follows_the_same_path(getkey):
    data = sklearn_data(n_train=200)
    model = mc.MLPClassifier((16,), use_bias=True)
    key = getkey()

    def final(**kwargs):
        return jax.jit(lambda k: cl.train(model, optim.adam(1e-2), data, k, epochs=2, batch_size=32,
                                          metrics=cl.epoch_metrics, **kwargs))(key)

    tracked, untracked, split = final(), final(grad_norms=False), final(grad_norms=False, microbatches=2)
    assert "grad_norm" in tracked.metrics and "grad_norm" not in untracked.metrics
    for a, b in zip(jax.tree.leaves(tracked.state.opt.params), jax.tree.leaves(untracked.state.opt.params)):
        np.testing.assert_array_equal(a, b)  # the norms are bookkeeping only
    for a, b in zip(jax.tree.leaves(tracked.state.opt.params), jax.tree.leaves(split.state.opt.params)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)  # 14 Adam steps: float rounding only
    np.testing.assert_allclose(split.metrics["batch_loss"], tracked.metrics["batch_loss"], rtol=1e-5)


@jax.jit
def _train_sgd(key, learning_rate, data):
    """3 epochs of minibatch SGD (one compiled program for every learning rate)."""
    return cl.train(mc.MLPClassifier((32,), use_bias=True), optim.sgd(learning_rate), data, key, epochs=3,
                    batch_size=64)


@pytest.fixture(scope="module")
def digits_data():
    return sklearn_data()


def test_short_training_loss_falls(getkey, digits_data):
    trace = _train_sgd(getkey(), 0.1, digits_data)
    train_loss, test_acc = np.asarray(trace.metrics["train_loss"]), np.asarray(trace.metrics["test_accuracy"])
    assert train_loss[0] == pytest.approx(np.log(10), rel=0.15)  # near-uniform predictions at the start
    assert np.all(np.diff(train_loss) < 0) and train_loss[-1] < 0.25 * train_loss[0]
    assert test_acc[0] < 0.3 and test_acc[-1] > 0.85
    assert int(trace.diverged_at) == -1


def test_divergence_is_detected_and_reported(getkey, digits_data):
    trace = _train_sgd(getkey(), 1e30, digits_data)
    k = int(trace.diverged_at)
    assert 1 <= k <= 22  # within the first epoch (22 batches of 64)
    assert np.isnan(trace.metrics["train_loss"][-1]) or np.isinf(trace.metrics["train_loss"][-1])


def test_train_rejects_bad_input(getkey):
    data = sklearn_data(n_train=32)
    model = mc.MLPClassifier((4,))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        cl.train(model, optim.sgd(0.1), data, getkey(), epochs=0, batch_size=8)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        cl.train(model, optim.sgd(0.1), data, getkey(), epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="differ in dimension"):
        cl.train(model, optim.sgd(0.1), data._replace(x_test=data.x_test[:, :10]), getkey(), epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="learning_rate"):
        optim.sgd(-1.0)
