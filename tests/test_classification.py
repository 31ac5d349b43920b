"""The MLP classifier, the minibatch training loop, per-layer gradient norms, and the C1/C2 CLI runs."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import cli, optim
from jaxopt_course.data import batching, digits
from jaxopt_course.experiments import classification as C
from jaxopt_course.models import classifier as mc
from jaxopt_course.problems import classification as cl
from jaxopt_course.results import load_npz


def sklearn_data(n_train=None) -> cl.Data:
    """scikit-learn's bundled 8x8 digits (offline), standardized: a small real classification problem."""
    images, labels = digits.digits_from_sklearn()
    x = images.reshape(len(labels), -1).astype(np.float32) / 16.0
    x = (x - x[:1400].mean()) / x[:1400].std()
    n = 1400 if n_train is None else n_train
    return cl.Data(jnp.asarray(x[:n]), jnp.asarray(labels[:n], jnp.int32), jnp.asarray(x[1400:]),
                   jnp.asarray(labels[1400:], jnp.int32))


# ----------------------------------------------------------------------------- model


def test_parameter_counts_of_the_course_networks(getkey):
    c1 = jax.eval_shape(lambda k: mc.init_params(C.c1_model(C.C1Config()), k, 784), getkey())
    c2 = jax.eval_shape(lambda k: mc.init_params(C.c2_model(C.C2Config()), k, 784), getkey())
    assert mc.count_params(C.c2_model(C.C2Config()), 784) == mc.num_params(c2)
    assert mc.num_params(c1) == 784 * 128 + 128 * 128 * 2 + 128 * 10 == 134_400
    assert mc.num_params(c2) == (784 + 1) * 128 + (128 + 1) * 64 + (64 + 1) * 10 == 109_386
    assert [w.shape for w in mc.layer_kernels(c1)] == [(784, 128), (128, 128), (128, 128), (128, 10)]
    assert all("bias" not in layer for layer in c1.values())


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
    assert C._per_seed_divergence(np.array([-1, k]), 22, "C2 ") == {
        "C2 seed 1": f"diverged at step {k} (epoch {k // 22 + 1})"}


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


def test_diverged_seeds_are_masked_and_left_out_of_the_statistics():
    steps = np.array([0, 10, 20, 30])
    acc = np.array([[0.1, 0.5, 0.7, 0.8], [0.1, 0.6, 0.1, 0.1], [0.1, 0.5, 0.6, 0.9]])
    loss = np.ones((3, 4, 2))
    curves = C.mask_diverged({"test_accuracy": acc, "grad_norm": loss, "train_accuracy": acc, "test_loss": acc,
                              "train_loss": acc}, steps, np.array([-1, 15, -1]))
    np.testing.assert_array_equal(np.isnan(curves["test_accuracy"][1]), [False, False, True, True])
    assert np.isnan(curves["grad_norm"][1, 2:]).all() and not np.isnan(curves["grad_norm"][[0, 2]]).any()
    final = C._final_accuracy(curves)
    assert final["test_accuracy"] == pytest.approx(0.85) and final["test_accuracy_min"] == 0.8
    assert final["test_accuracy_std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert C._shown_seed(np.array([4, -1, -1])) == 1 and C._shown_seed(np.array([3, 5])) == 0


def test_confusion_matrix_and_example_picking():
    labels = np.array([0, 1, 2, 2, 1])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1]])
    matrix = C.confusion_matrix(labels, probs.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 2, 0], [1, 1, 0]])
    typical, wrong = C.pick_examples(labels, probs, 2)
    np.testing.assert_array_equal(typical, [0, 4])
    np.testing.assert_array_equal(wrong, [3, 2])  # highest max-probability errors first


# ----------------------------------------------------------------------------- CLI


def _results(out, exp_id):
    return json.loads((out / exp_id / "results.json").read_text())


def test_c2_quick_cli(tmp_path):
    assert cli.main(["run", "C2", "--quick", "--out", str(tmp_path)]) == 0
    r = _results(tmp_path, "C2")
    m = r["metrics"]
    assert r["quick"] and r["diverged"] == {} and r["config"]["source"] == "digits"
    assert m["microbatches"] == 1 and r["config"]["microbatches"] is None  # 4 vmapped seeds: no split
    assert "cached at" in m["data_source"] and "stratified split" in m["data_source"]
    assert len(m["test_accuracy_per_seed"]) == 4 and m["test_accuracy_std"] > 0
    assert m["test_accuracy"] > 0.8 and m["test_accuracy_per_epoch"][0] < 0.3
    np.testing.assert_allclose(m["test_accuracy_from_predictions"], m["test_accuracy_per_seed"], atol=1e-5)
    matrix = np.asarray(m["confusion_matrix"])
    assert matrix.sum() == m["n_test"] and np.trace(matrix) / m["n_test"] == pytest.approx(
        m["test_accuracy_per_seed"][0], abs=1e-5)
    errors = m["most_confident_errors"]
    assert len(errors) == 4 and all(e["label"] != e["predicted"] for e in errors)
    assert [e["probability"] for e in errors] == sorted((e["probability"] for e in errors), reverse=True)
    for name in ("c2_examples", "c2_confusion", "c2_curves"):
        assert (tmp_path / "C2" / f"{name}.png").stat().st_size > 1000 and (tmp_path / "C2" / f"{name}.npz").exists()


def test_c1_quick_cli(tmp_path):
    assert cli.main(["run", "C1", "--quick", "--seeds", "1", "--out", str(tmp_path)]) == 0
    r = _results(tmp_path, "C1")
    m = r["metrics"]
    assert r["config"]["seeds"] == 1 and r["diverged"] == {}
    assert m["num_params"] == m["input_dim"] * 128 + 2 * 128 * 128 + 1280
    assert len(m["grad_norm_epoch1"]) == 4 and all(v > 0 for v in m["grad_norm_epoch1"])
    assert np.asarray(m["grad_norm_per_epoch"]).shape == (4, 4)
    assert m["train_loss_per_epoch"][-1] < m["train_loss_per_epoch"][0]
    sweep = m["sweep_grad_norm_epoch1"]
    assert len(sweep) == 2 * 3 * 2 and len(sweep["depth 8, tanh, he init"]) == 9
    ratio = m["sweep_first_over_last_layer"]
    assert ratio["depth 8, sigmoid, uniform init"] < 1e-3  # vanishing gradients towards the input
    assert ratio["depth 8, sigmoid, uniform init"] < ratio["depth 2, sigmoid, uniform init"]
    assert 0.1 < ratio["depth 8, relu, he init"] < 10  # He initialization keeps ReLU norms level
    data = load_npz(tmp_path / "C1" / "data.npz")
    assert data["sweep_grad_norm_depth8"].shape == (1, 2, 3, 9)
    for name in ("c1_grad_norms", "c1_curves", "c1_depth_sweep"):
        assert (tmp_path / "C1" / f"{name}.png").exists()


def test_cli_reports_data_errors_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(digits.CACHE_ENV, str(tmp_path / "empty_cache"))
    assert cli.main(["run", "C2", "--quick", "--out", str(tmp_path)]) == 2
    assert "run `python -m jaxopt_course.data.fetch_digits`" in capsys.readouterr().err
    assert cli.main(["run", "C1", "--data-dir", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_configs_are_validated():
    with pytest.raises(ValueError, match="sweep_activations"):
        C.run_c1(C.C1Config(sweep_activations=("relu", "gelu")), jax.random.key(0))
    with pytest.raises(ValueError, match="source must be one of"):
        C.run_c2(C.C2Config(source="web"), jax.random.key(0))
    with pytest.raises(ValueError, match="epochs"):
        C.run_c2(C.C2Config(epochs=0), jax.random.key(0))
