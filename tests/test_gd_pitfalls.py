"""G1, G2, G5: plateau, zig-zag and the critical step, against closed forms."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.experiments import gd_pitfalls
from jaxopt_course.problems import toy_functions as tf
from jaxopt_course.results import load_npz


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("gd_pitfalls")
    assert cli.main(["run", "G1", "G2", "G5", "--quick", "--out", str(out)]) == 0
    return {e: json.loads((out / e / "results.json").read_text()) | {"dir": out / e} for e in ("G1", "G2", "G5")}


# ----------------------------------------------------------------------------- the functions


def test_hand_gradients_match_jax_grad(x64, getkey):
    x = jax.random.uniform(getkey(), (25,), jnp.float64, -3.0, 4.0)
    a, c = jnp.array([2.0, 0.1]), jnp.array([1.0, -1.0])
    w = jax.random.normal(getkey(), (2,), jnp.float64)

    @jax.jit
    def pairs(x, w):
        """(hand-written, autodiff) gradient pairs of the four functions."""
        auto = lambda f: jax.vmap(jax.grad(f))(x)  # noqa: E731
        return [(tf.plateau_grad(x), auto(tf.plateau)), (tf.double_well_grad(x), auto(tf.double_well)),
                (tf.anisotropic_quadratic_grad(w, a, c), jax.grad(tf.anisotropic_quadratic)(w, a, c)),
                (tf.quadratic_risk_grad(w), jax.grad(tf.quadratic_risk)(w))]

    for hand, auto in pairs(x, w):
        np.testing.assert_allclose(hand, auto, rtol=1e-12, atol=1e-12)


def test_plateau_has_one_minimum_and_a_shelf(x64):
    x = jnp.linspace(-5.0, 6.0, 2001)
    g = tf.plateau_grad(x)
    assert np.all(np.sign(g) == np.sign(x))  # f' = x ((x-a)^2 + eps): its only root is 0
    assert float(tf.plateau_grad(2.0)) == pytest.approx(2.0 * 0.01)  # the shelf's slope a * eps
    assert float(tf.plateau(0.0)) == 0.0


def test_quadratic_risk_minimizer_and_hessian(x64):
    w_star = jnp.array(tf.RISK_MINIMIZER)
    np.testing.assert_array_equal(tf.quadratic_risk_grad(w_star), [0.0, 0.0])
    np.testing.assert_array_equal(jax.jit(jax.hessian(tf.quadratic_risk))(w_star), [[26.0, -10.0], [-10.0, 4.0]])
    lam = np.linalg.eigvalsh(np.array(tf.RISK_HESSIAN))
    np.testing.assert_allclose(lam, [15 - math.sqrt(221), 15 + math.sqrt(221)], rtol=1e-14)
    H = tf.quadratic_risk_hessian()
    assert float(tf.critical_step(H)) == pytest.approx(2 / (15 + math.sqrt(221)), rel=1e-12)
    for gamma in (0.02, 0.05, 0.1):  # rho = ||I - gamma H||_2, the spectral norm of the iteration matrix
        assert float(tf.contraction_factor(gamma, H)) == pytest.approx(np.linalg.norm(np.eye(2) - gamma * H, 2))


# ----------------------------------------------------------------------------- G1


def test_g1_every_regime_and_its_divergence_step(quick_runs):
    r = quick_runs["G1"]
    m = r["metrics"]
    rates = np.array(m["learning_rates"])
    assert rates.min() == pytest.approx(1e-5) and rates.max() == pytest.approx(10.0)
    const = m["constant"]
    status = dict(zip(rates.round(8), const["status"]))
    assert status[1e-5] == "stuck on the plateau" and status[1e-3] == "stuck on the plateau"
    assert status[0.01] == "converged" and status[0.1] == "converged"
    assert status[0.6] == "oscillating"  # 0.6 > 2 / f''(0) = 2 / 4.01: 0 is unstable, yet nothing blows up
    assert gd_pitfalls.final_step("staircase", 0.6, 3000, 100) == pytest.approx(0.6 / 30)
    assert gd_pitfalls.final_step("inverse_time", 0.6, 3000, 100) == pytest.approx(0.6 / 3000)
    assert m["diverged_rates"] == pytest.approx([1.0, 10**0.5, 10.0])
    for rate, step in zip(rates, const["diverged_at"]):
        assert (step is not None) == (rate >= 1.0)
        if step is not None:
            assert r["diverged"][f"G1 constant gamma0={rate:.3g}"] == f"diverged at step {step}"
    # x1 = 3 - 10 * 3.03 = -27.3, then |x| grows like x^3: inf within a handful of steps.
    assert const["diverged_at"][-1] <= 5
    # converged runs stopped at the tolerance: |f'(x)| <= 1e-6 means |x| <= 1e-6 / 4.01.
    for x, s in zip(const["final_x"], const["status"]):
        if s == "converged":
            assert abs(x) <= 1e-6 / 4.01 * 1.01
    assert m["stable_step_at_minimum"] == pytest.approx(2 / 4.01)


def test_g1_decaying_step_reaches_the_minimum_where_a_constant_step_cannot(quick_runs):
    m = quick_runs["G1"]["metrics"]
    rescue = {round(r["gamma0"], 8): r for r in m["decaying_rescues"]}
    assert rescue[0.6]["constant"] == "oscillating"
    assert 0 < rescue[0.6]["iterations_to_tolerance"]["staircase"] < 3000
    # gamma_k = gamma0 / (k+1) jumps the plateau at k = 0 and never oscillates after.
    assert rescue[1.0]["constant"] == "diverged" and rescue[1.0]["iterations_to_tolerance"]["inverse_time"] < 50
    # ...but 1/(k+1) decays too fast to creep over the plateau: sum_k gamma_k ~ gamma0 log k.
    assert m["inverse_time"]["status"][list(np.round(m["learning_rates"], 8)).index(0.1)] == "stuck on the plateau"


# ----------------------------------------------------------------------------- G2


def test_g2_zigzag_against_the_closed_form(quick_runs):
    m = quick_runs["G2"]["metrics"]
    large, small = m["large"], m["small"]
    np.testing.assert_allclose(large["factors"], [1 - 2 * 0.45 * 2.0, 1 - 2 * 0.45 * 0.1], rtol=1e-12)
    assert large["zigzags_x1"] == large["num_steps"]  # factor -0.8 < 0: x1 - c1 flips at every step
    assert small["zigzags_x1"] == 0 and small["step"] == pytest.approx(large["step"] / 10)
    for run in (large, small):
        assert run["final_distance"] == pytest.approx(run["predicted_final_distance"], rel=1e-4)
    data = load_npz(quick_runs["G2"]["dir"] / "g2_zigzag.npz")
    assert data["large_x"].shape == (31, 2) and np.all(data["large_x"][0] == [-0.5, -4.0])


# ----------------------------------------------------------------------------- G5


def test_g5_distances_rates_and_critical_step(quick_runs):
    r = quick_runs["G5"]
    m = r["metrics"]
    assert m["critical_step"] == pytest.approx(2 / (15 + math.sqrt(221)), rel=1e-5)
    np.testing.assert_allclose(m["hessian_eigenvalues"], [15 - math.sqrt(221), 15 + math.sqrt(221)], rtol=1e-5)
    H, e0 = np.array(tf.RISK_HESSIAN), -np.array(tf.RISK_MINIMIZER)  # w0 = 0
    for gamma, dist in zip(m["steps"][:2], m["final_distance"][:2]):
        exact = np.linalg.norm(np.linalg.matrix_power(np.eye(2) - gamma * H, 500) @ e0)
        assert dist == pytest.approx(exact, rel=1e-3)
    assert m["diverging_steps"] == [0.1] and r["diverged"] == {"G5 step=0.1": f"diverged at step {m['diverged_at'][2]}"}
    # ||w_k - w*|| ~ c 1.987^k with c <= ||w0 - w*|| = 3.2 passes 1e12 after at least 38.6 steps.
    assert 30 <= m["diverged_at"][2] <= 50
    np.testing.assert_allclose(m["measured_rate"], m["predicted_rate"], rtol=1e-3)
    sweep = np.array(gd_pitfalls.CriticalStepConfig.quick().sweep_steps)
    assert m["sweep_first_diverging_step"] == pytest.approx(sweep[sweep > m["critical_step"]].min())


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match="learning_rates"):
        gd_pitfalls.PlateauConfig(learning_rates=(0.1, -1.0))
    with pytest.raises(ValueError, match="x0"):
        gd_pitfalls.PlateauConfig(x0=1.0)
    with pytest.raises(ValueError, match="two entries"):
        gd_pitfalls.ZigZagConfig(a=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="steps"):
        gd_pitfalls.CriticalStepConfig(steps=(0.0,))


def test_full_configs_have_the_spec_values():
    g1 = gd_pitfalls.PlateauConfig()
    assert min(g1.learning_rates) == pytest.approx(1e-5) and max(g1.learning_rates) == pytest.approx(10.0)
    g2 = gd_pitfalls.ZigZagConfig()
    assert g2.a == (2.0, 0.1) and g2.small_factor == 100
    g5 = gd_pitfalls.CriticalStepConfig()
    assert g5.steps == (0.02, 0.05, 0.1) and g5.num_steps == 500
