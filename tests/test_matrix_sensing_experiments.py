"""M1-M3: recovery at small alpha versus none at alpha = 1, divergence reporting, and quick CLI runs."""

import json

import jax
import numpy as np
import pytest

from jaxopt_course import cli, kernels
from jaxopt_course.experiments import matrix_sensing as M


def test_small_init_recovers_and_alpha_one_does_not():
    """R = d on a reduced over-parameterized problem (m = 100 < d(d+1)/2 = 210), both alphas in one run."""
    config = M.M2Config(d=20, r=1, m=100, num_steps=400, alphas=(1.0, 1e-3), num_records=20)
    results = M.run_m2(config, jax.random.key(0))
    final = results.metrics["relative_error_final"]
    assert final["1e-3"] < 1e-2
    assert final["1"] > 0.5
    erank = results.metrics["effective_rank_final"]
    assert erank["1e-3"] < 1.5 < 5 < erank["1"]  # near rank r = 1 versus spread over many directions
    sv = results.data["singular_values"]
    assert sv.shape == (2, results.data["steps"].size, M.TOP_K)
    np.testing.assert_allclose(sv[1, -1, 0], results.metrics["singular_values_of_U_star"][0], rtol=1e-2)
    assert not results.diverged


def test_a_diverging_step_is_reported_not_plotted(tmp_path):
    config = M.M2Config(d=10, r=1, m=40, num_steps=50, alphas=(1.0, 1e-3), step_constant=50.0, num_records=10)
    results = M.run_m2(config, jax.random.key(1))
    assert results.diverged["alpha=1"].startswith("diverged at step ")
    assert results.metrics["relative_error_final"]["1"] is None
    assert results.metrics["diverged_at"]["1"] == int(results.diverged["alpha=1"].split()[-1])
    paths = M.plot_m2(results, tmp_path)
    assert all(p.exists() and p.with_suffix(".npz").exists() for p in paths)


def _run_cli(tmp_path, exp_id):
    assert cli.main(["run", exp_id, "--quick", "--out", str(tmp_path)]) == 0
    out = tmp_path / exp_id
    record = json.loads((out / "results.json").read_text())
    assert record["figures"] and all((out / f).exists() for f in record["figures"])
    return record


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sensing")
    return {e: _run_cli(tmp, e) for e in ("M1", "M2", "M3")}


def test_m1_quick_recovers_to_float32_accuracy(cli_runs):
    m = cli_runs["M1"]["metrics"]
    assert m["relative_error_final_max"] < 1e-5
    assert m["seeds_reaching_1e-3"] == 4 and m["diverged_seeds"] == 0
    assert 0 < m["step_size"] < 1


def test_m2_quick_implicit_regularization(cli_runs):
    m = cli_runs["M2"]["metrics"]
    final = m["relative_error_final"]
    assert final["1e-3"] < 1e-2 and final["1e-4"] < final["1e-3"] < final["1e-1"] < final["1"]
    assert final["1"] > 1.0
    assert all(m["best_step"][a] is not None for a in final)
    assert m["effective_rank_final"]["1e-4"] < 2.5 < 10 < m["effective_rank_final"]["1"]
    assert cli_runs["M2"]["diverged"] == {}


def test_m3_quick_saddle_at_zero(cli_runs):
    m = cli_runs["M3"]["metrics"]
    lam1 = m["eigenvalues_of_X_star"][0]
    np.testing.assert_allclose(m["hessian_min_eigenvalue_at_0"], -2 * lam1, rtol=1e-5)
    kinds = [p["kind"] for p in m["critical_points"]]
    assert kinds == ["saddle", "minimum", "minimum", "saddle", "saddle"]  # r = 2: 0, +-v1, +-v2
    assert max(p["gradient_norm"] for p in m["critical_points"]) < 1e-5
    np.testing.assert_allclose(m["population_gd_final_F"], m["population_gd_final_F_closed_form"], rtol=1e-4)
    assert m["population_gd_final_alignment_with_v1"] > 0.999
    assert m["hessian_autodiff_vs_closed_form_max_abs"] < 1e-5


def test_cli_runs_record_the_step_kernel(cli_runs):
    expected = "compiled" if kernels.available() else "xla"  # one CPU device here
    assert cli_runs["M1"]["metrics"]["step_kernel"] == expected
    assert cli_runs["M2"]["metrics"]["step_kernel"] == expected
