"""G5: distances, rates and the critical step 2/lambda_max, against (I - gamma H)^k (w0 - w*); a step sweep."""

import dataclasses
import math

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.gd_pitfalls import g5_critical_step as G5
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.results import load_dataset


@pytest.fixture(scope="module")
def quick():
    return G5.run(G5.Config.quick(), jax.random.key(0))


def test_distances_rates_and_critical_step(quick):
    m = quick.metrics
    assert m["critical_step"] == pytest.approx(2 / (15 + math.sqrt(221)), rel=1e-5)
    np.testing.assert_allclose(m["hessian_eigenvalues"], [15 - math.sqrt(221), 15 + math.sqrt(221)], rtol=1e-5)
    H, e0 = np.array(tf.RISK_HESSIAN), -np.array(tf.RISK_MINIMIZER)  # w0 = 0
    assert list(m["final_distance"]) == ["step=0.02", "step=0.05", "step=0.1"]
    for gamma in (0.02, 0.05):
        exact = np.linalg.norm(np.linalg.matrix_power(np.eye(2) - gamma * H, 500) @ e0)
        assert m["final_distance"][f"step={gamma:g}"] == pytest.approx(exact, rel=1e-3)
    diverged_at = m["diverged_at"]["step=0.1"]
    assert m["diverging_steps"] == [0.1] and quick.diverged == {"step=0.1": f"diverged at step {diverged_at}"}
    assert m["final_distance"]["step=0.1"] is None and m["diverged_at"]["step=0.02"] is None
    # ||w_k - w*|| ~ c 1.987^k with c <= ||w0 - w*|| = 3.2 passes 1e12 after at least 38.6 steps.
    assert 30 <= diverged_at <= 50
    np.testing.assert_allclose(list(m["measured_rate"].values()), list(m["predicted_rate"].values()), rtol=1e-3)
    sweep = np.array(G5.Config.quick().sweep_steps)
    assert m["sweep_first_diverging_step"] == pytest.approx(sweep[sweep > m["critical_step"]].min())


def test_the_figure_and_its_labelled_data(quick, tmp_path):
    (png,) = G5.plot(quick, tmp_path)
    assert png.name == "g5_critical_step.png" and png.stem in G5.CAPTIONS
    saved = load_dataset(png.with_suffix(".npz"))
    assert saved.distance.dims == ("step", "iteration") and saved.sweep_distance.dims == ("sweep_step", "iteration")
    np.testing.assert_array_equal(saved.distance.sel(step=0.05).values, quick.data.distance.sel(step=0.05).values)


def test_a_step_sweep_gives_the_single_value_runs(quick):
    swept = quick  # steps 0.02, 0.05, 0.1 in one vmapped call
    for gamma in (0.05, 0.1):
        one = G5.run(dataclasses.replace(G5.Config.quick(), step=gamma), jax.random.key(0))
        assert one.data.step.values.tolist() == [gamma]
        np.testing.assert_allclose(swept.data.distance.sel(step=gamma), one.data.distance.sel(step=gamma), rtol=1e-6)
        assert int(swept.data.diverged_at.sel(step=gamma)) == int(one.data.diverged_at.sel(step=gamma))
        assert swept.metrics["measured_rate"][f"step={gamma:g}"] == pytest.approx(one.metrics["measured_rate"]["all"])


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match="step"):
        G5.Config(step=(0.0,))
    with pytest.raises(ValueError, match="w0"):
        G5.Config(w0=(0.0, 0.0, 0.0))


def test_full_config_has_the_spec_values():
    g5 = G5.Config()
    assert g5.step == (0.02, 0.05, 0.1) and g5.num_steps == 500
