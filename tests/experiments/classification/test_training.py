"""What C1 and C2 share: the course's networks, curves masked after a divergence, statistics over seeds."""

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.classification import c1_gradient_norms as C1
from jaxopt_course.experiments.classification import c2_classifier as C2
from jaxopt_course.experiments.classification import training
from jaxopt_course.models import classifier as mc


def test_parameter_counts_of_the_course_networks(getkey):
    c1 = jax.eval_shape(lambda k: mc.init_params(training.model(C1.Config()), k, 784), getkey())
    c2 = jax.eval_shape(lambda k: mc.init_params(training.model(C2.Config()), k, 784), getkey())
    assert mc.count_params(training.model(C2.Config()), 784) == mc.num_params(c2)
    assert mc.num_params(c1) == 784 * 128 + 128 * 128 * 2 + 128 * 10 == 134_400
    assert mc.num_params(c2) == (784 + 1) * 128 + (128 + 1) * 64 + (64 + 1) * 10 == 109_386
    assert [w.shape for w in mc.layer_kernels(c1)] == [(784, 128), (128, 128), (128, 128), (128, 10)]
    assert all("bias" not in layer for layer in c1.values())
    assert training.architecture(784, C2.Config()) == "784-128-64-10, relu, with bias, log-softmax"


def test_diverged_seeds_are_masked_and_left_out_of_the_statistics():
    steps = np.array([0, 10, 20, 30])
    acc = np.array([[[0.1, 0.5, 0.7, 0.8], [0.1, 0.6, 0.1, 0.1], [0.1, 0.5, 0.6, 0.9]]])  # (lr, seed, epoch)
    records = {"test_accuracy": acc, "grad_norm": np.ones((1, 3, 4, 2)), "train_accuracy": acc, "test_loss": acc,
               "train_loss": acc}
    d = training.curves(C2.Config(seeds=3, epochs=3), records, steps, np.array([[-1, 15, -1]]))
    assert d.test_accuracy.dims == ("learning_rate", "seed", "epoch") and list(d.learning_rate.values) == [1e-3]
    np.testing.assert_array_equal(np.isnan(d.test_accuracy.sel(seed=1).squeeze()), [False, False, True, True])
    norms = d.grad_norm.sel(epoch=slice(1, None)).squeeze("learning_rate")
    assert np.isnan(norms.sel(seed=1, epoch=[2, 3])).all() and not np.isnan(norms.sel(seed=[0, 2])).any()
    assert np.isnan(d.grad_norm.sel(epoch=0)).all()  # no batch has run at epoch 0
    final = training.final_metrics(d)
    assert final["test_accuracy"]["all"] == pytest.approx(0.85) and final["test_accuracy_min"]["all"] == 0.8
    assert final["test_accuracy_std"]["all"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert final["test_accuracy_per_seed"]["all"] == [0.8, None, 0.9]
    assert training.diverged(d.diverged_at, "C2") == {"C2": "1 of 3 seeds diverged, the first at step 15"}
    assert C2.shown_seed(np.array([4, -1, -1])) == 1 and C2.shown_seed(np.array([3, 5])) == 0


def test_one_seed_has_no_spread():
    acc = np.array([[[0.1, 0.7]]])
    d = training.curves(C1.Config(seeds=1, epochs=1), {name: acc for name in training.CURVES}, np.array([0, 5]),
                        np.array([[-1]]))
    assert training.final_metrics(d)["test_accuracy_std"] == {"all": 0.0}


def test_configs_are_validated():
    with pytest.raises(ValueError, match="sweep_activations"):
        C1.Config(sweep_activations=("relu", "gelu"))
    with pytest.raises(ValueError, match="source must be one of"):
        C2.Config(source="web")
    with pytest.raises(ValueError, match="epochs"):
        C2.Config(epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        C1.Config(learning_rate=(0.1, -1.0))
    with pytest.raises(ValueError, match="dividing the batch size 64, got 3"):
        C2.Config(microbatches=3)
