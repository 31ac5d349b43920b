"""G1: the plateau's regimes (stuck, converged, oscillating, diverged), rescues by decaying steps, the rate grid."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.gd_pitfalls import g1_plateau as G1
from jaxopt_course.results import load_dataset


@pytest.fixture(scope="module")
def quick():
    return G1.run(G1.Config.quick(), jax.random.key(0))


def test_every_regime_and_its_divergence_step(quick):
    m = quick.metrics
    rates = np.array(m["learning_rates"])
    assert rates.min() == pytest.approx(1e-5) and rates.max() == pytest.approx(10.0)
    const = m["constant"]
    status = dict(zip(rates.round(8), const["status"]))
    assert status[1e-5] == "stuck on the plateau" and status[1e-3] == "stuck on the plateau"
    assert status[0.01] == "converged" and status[0.1] == "converged"
    assert status[0.6] == "oscillating"  # 0.6 > 2 / f''(0) = 2 / 4.01: 0 is unstable, yet nothing blows up
    assert G1.final_step("staircase", 0.6, 3000, 100) == pytest.approx(0.6 / 30)
    assert G1.final_step("inverse_time", 0.6, 3000, 100) == pytest.approx(0.6 / 3000)
    assert m["diverged_rates"] == pytest.approx([1.0, 10**0.5, 10.0])
    for rate, step in zip(rates, const["diverged_at"]):
        assert (step is not None) == (rate >= 1.0)
        if step is not None:
            assert quick.diverged[f"schedule=constant, learning_rate={rate:g}"] == f"diverged at step {step}"
            assert int(quick.data.diverged_at.sel(schedule="constant", learning_rate=rate)) == step
    # x1 = 3 - 10 * 3.03 = -27.3, then |x| grows like x^3: inf within a handful of steps.
    assert const["diverged_at"][-1] <= 5
    # converged runs stopped at the tolerance: |f'(x)| <= 1e-6 means |x| <= 1e-6 / 4.01.
    for x, s in zip(const["final_x"], const["status"]):
        if s == "converged":
            assert abs(x) <= 1e-6 / 4.01 * 1.01
    assert m["stable_step_at_minimum"] == pytest.approx(2 / 4.01)


def test_decaying_step_reaches_the_minimum_where_a_constant_step_cannot(quick):
    m = quick.metrics
    rescue = {round(r["gamma0"], 8): r for r in m["decaying_rescues"]}
    assert rescue[0.6]["constant"] == "oscillating"
    assert 0 < rescue[0.6]["iterations_to_tolerance"]["staircase"] < 3000
    # gamma_k = gamma0 / (k+1) jumps the plateau at k = 0 and never oscillates after.
    assert rescue[1.0]["constant"] == "diverged" and rescue[1.0]["iterations_to_tolerance"]["inverse_time"] < 50
    # ...but 1/(k+1) decays too fast to creep over the plateau: sum_k gamma_k ~ gamma0 log k.
    assert m["inverse_time"]["status"][list(np.round(m["learning_rates"], 8)).index(0.1)] == "stuck on the plateau"


def test_the_figure_and_its_labelled_data(quick, tmp_path):
    (png,) = G1.plot(quick, tmp_path)
    assert png.name == "g1_plateau.png" and png.stem in G1.CAPTIONS
    saved = load_dataset(png.with_suffix(".npz"))
    assert saved.f.dims == ("schedule", "learning_rate", "iteration")
    assert list(saved.schedule.values) == list(G1.SCHEDULES)
    np.testing.assert_array_equal(saved.f.sel(schedule="staircase").values,
                                  quick.data.f.sel(schedule="staircase").values)


def test_the_rate_grid_gives_the_single_rate_runs(quick):
    grid = quick.data
    for rate in (0.6, 1.0):  # oscillating, diverging
        one = G1.run(dataclasses.replace(G1.Config.quick(), learning_rates=(rate,)), jax.random.key(0)).data
        assert one.sizes["learning_rate"] == 1
        for name in ("x", "f"):
            np.testing.assert_allclose(grid[name].sel(learning_rate=rate), one[name].sel(learning_rate=rate),
                                       rtol=1e-6)
        for name in ("diverged_at", "stopped_at"):
            np.testing.assert_array_equal(grid[name].sel(learning_rate=rate), one[name].sel(learning_rate=rate))


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match="learning_rates"):
        G1.Config(learning_rates=(0.1, -1.0))
    with pytest.raises(ValueError, match="x0"):
        G1.Config(x0=1.0)


def test_full_config_has_the_spec_values():
    g1 = G1.Config()
    assert min(g1.learning_rates) == pytest.approx(1e-5) and max(g1.learning_rates) == pytest.approx(10.0)
