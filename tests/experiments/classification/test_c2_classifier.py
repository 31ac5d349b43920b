"""C2: the Adam classifier over vmapped seeds, its predictions; a learning-rate sweep is the single-value runs."""

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.classification import c2_classifier as C2
from jaxopt_course.results import load_dataset

TINY = dict(hidden=(16,), epochs=2, seeds=2, batch_size=32, examples=2, source="digits")


def test_quick_run(quick_record):
    results, r, _ = quick_record("C2")
    m = r["metrics"]
    assert r["quick"] and r["diverged"] == {} and r["config"]["source"] == "digits"
    assert m["microbatches"] == 1 and r["config"]["microbatches"] is None  # 4 vmapped seeds: no split
    assert "cached at" in m["data_source"] and "stratified split" in m["data_source"]
    per_seed = m["test_accuracy_per_seed"]["all"]
    assert len(per_seed) == 4 and m["test_accuracy_std"]["all"] > 0
    assert m["test_accuracy"]["all"] > 0.8 and m["test_accuracy_per_epoch"]["all"][0] < 0.3
    np.testing.assert_allclose(m["test_accuracy_from_predictions"]["all"], per_seed, atol=1e-5)
    matrix = np.asarray(m["confusion_matrix"]["all"])
    assert matrix.sum() == m["n_test"] and np.trace(matrix) / m["n_test"] == pytest.approx(per_seed[0], abs=1e-5)
    errors = m["most_confident_errors"]["all"]
    assert len(errors) == 4 and all(e["label"] != e["predicted"] for e in errors)
    assert [e["probability"] for e in errors] == sorted((e["probability"] for e in errors), reverse=True)
    assert results.data.test_accuracy.dims == ("learning_rate", "seed", "epoch")


def test_figures_and_their_labelled_data(quick_record):
    results, r, out_dir = quick_record("C2")
    assert r["figures"] == ["c2_examples.png", "c2_confusion.png", "c2_curves.png"]
    for name in ("c2_examples", "c2_confusion", "c2_curves"):
        assert (out_dir / f"{name}.png").stat().st_size > 1000 and (out_dir / f"{name}.npz").exists()
    shown = load_dataset(out_dir / "c2_examples.npz")
    assert list(shown.example_kind.values) == ["typical"] * 4 + ["confidently wrong"] * 4
    wrong = shown.sel(example=shown.example_kind == "confidently wrong").squeeze("learning_rate")
    assert (wrong.example_probs.argmax("class") != wrong.example_labels).all()
    saved = load_dataset(out_dir / "data.npz")
    np.testing.assert_array_equal(saved.confusion_matrix.values, results.data.confusion_matrix.values)


def test_confusion_matrix_and_example_picking():
    labels = np.array([0, 1, 2, 2, 1])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1]])
    matrix = C2.confusion_matrix(labels, probs.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 2, 0], [1, 1, 0]])
    typical, wrong = C2.pick_examples(labels, probs, 2)
    np.testing.assert_array_equal(typical, [0, 4])
    np.testing.assert_array_equal(wrong, [3, 2])  # highest max-probability errors first


@pytest.mark.slow  # several compiles; the sweep mechanism itself: tests/test_run.py, other sections' sweep tests
def test_a_learning_rate_sweep_gives_the_single_value_runs_and_reports_divergence(small_digits_dir, tmp_path):
    swept = C2.run(C2.Config(learning_rate=(1e-2, 1e30), data_dir=small_digits_dir, **TINY), jax.random.key(1))
    d = swept.data
    np.testing.assert_allclose(d.learning_rate.values, [1e-2, 1e30])
    for lr in (1e-2, 1e30):
        single = C2.run(C2.Config(learning_rate=lr, data_dir=small_digits_dir, **TINY), jax.random.key(1)).data
        for name in ("train_loss", "test_accuracy", "test_accuracy_from_predictions", "example_probs"):
            np.testing.assert_allclose(d[name].sel(learning_rate=lr).values, single[name].sel(learning_rate=lr).values,
                                       rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(d.diverged_at.sel(learning_rate=lr), single.diverged_at.sel(learning_rate=lr))
    k = d.diverged_at.sel(learning_rate=1e30).values
    assert ((1 <= k) & (k <= 13)).all()  # within the first epoch (13 batches of 32)
    assert swept.diverged == {"C2, learning_rate=1e+30": f"2 of 2 seeds diverged, the first at step {k.min()}"}
    assert np.isnan(d.test_accuracy.sel(learning_rate=1e30).isel(epoch=-1)).all()  # masked, not drawn
    assert swept.metrics["test_accuracy"]["learning_rate=0.01"] > 0.5
    assert swept.metrics["test_accuracy"]["learning_rate=1e+30"] is None
    assert [p.name for p in C2.plot(swept, tmp_path)] == ["c2_examples.png", "c2_confusion.png", "c2_curves.png"]
