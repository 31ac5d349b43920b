"""P1-P4 numbers against independent NumPy computations, and their CLI runs."""

import json

import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.experiments import least_squares as P
from jaxopt_course.results import load_npz

XS = np.linspace(-1, 1, 7)
YS = np.sin(5 * XS) * np.exp(np.abs(2 * XS)) / 10


def _numpy_min_norm():
    return np.linalg.pinv(np.vander(XS, 10, increasing=True)) @ YS


def _numpy_gd_steps_to(tol, max_steps=200_000):
    """First k with ||theta_k - theta*||^2 <= tol for GD with step 1/beta from 0 (float64 NumPy loop)."""
    X = np.vander(XS, 10, increasing=True)
    beta = 2 / 7 * np.linalg.eigvalsh(X.T @ X).max()
    star, theta = _numpy_min_norm(), np.zeros(10)
    for k in range(1, max_steps):
        theta = theta - (2 / 7) * X.T @ (X @ theta - YS) / beta
        if np.sum((theta - star) ** 2) <= tol:
            return k
    return None


@pytest.fixture(scope="module")
def p4_results():
    import jax

    config = P.P4Config(gd_steps=60_000, sgd_steps=200_000, seeds=4, adam_steps=20_000, scaled_gd_steps=600_000)
    return P.run_p4(config, jax.random.key(0)).metrics


def test_p4_gd_reaches_min_norm_exactly_when_numpy_does(p4_results):
    assert p4_results["gd_steps_to_1e-16"] == _numpy_gd_steps_to(1e-16)
    assert p4_results["gd_sq_dist_final"] < 1e-20


def test_p4_scaled_gd_converges_and_adam_does_not(p4_results):
    assert p4_results["scaled_gd_sq_dist_final"] < 1e-16
    assert p4_results["adam_loss_final"] < 1e-8  # Adam interpolates ...
    assert p4_results["adam_sq_dist_final"] > 1e-4  # ... but not at the minimum-norm solution
    assert p4_results["sgd_sq_dist_final"] < 1e-3


def test_p4_projection_norms_grow_with_the_scaling(p4_results):
    np.testing.assert_allclose(p4_results["projection_norm_scale_0"], np.linalg.norm(_numpy_min_norm()), rtol=1e-10)
    norms = [p4_results[f"projection_norm_scale_{s}"] for s in ("0", "10", "100", "1000")]
    assert all(b > 5 * a for a, b in zip(norms, norms[1:]))


def test_p2_gd_iterate_gap_matches_numpy_loop():
    import jax

    res = P.run_p2(P.P2Config(degrees=(3,), num_steps=300, num_records=3), jax.random.key(0))
    X = np.vander(XS, 4, increasing=True)
    beta = 2 / 7 * np.linalg.eigvalsh(X.T @ X).max()
    star = np.linalg.lstsq(X, YS, rcond=None)[0]
    theta, total = np.zeros(4), np.zeros(4)
    for _ in range(300):
        theta = theta - (2 / 7) * X.T @ (X @ theta - YS) / beta
        total += theta
    avg = (total + np.zeros(4)) / 301  # the average includes theta_0 = 0
    gap = lambda t: np.mean((X @ (t - star)) ** 2)  # noqa: E731
    np.testing.assert_allclose(res.metrics["gap_final_n3"], gap(theta), rtol=2e-3)
    np.testing.assert_allclose(res.metrics["gap_avg_final_n3"], gap(avg), rtol=2e-3)


def test_cli_runs_p1_and_p3_quick(tmp_path, capsys):
    assert cli.main(["run", "p1", "P3", "--quick", "--seeds", "3", "--out", str(tmp_path)]) == 0
    p1 = json.loads((tmp_path / "P1" / "results.json").read_text())["metrics"]
    np.testing.assert_allclose(p1["beta_n9"], 2 / 7 * np.linalg.norm(np.vander(XS, 10, increasing=True), 2) ** 2,
                               rtol=1e-12)
    np.testing.assert_allclose(p1["min_norm_solution_n9"], _numpy_min_norm(), rtol=1e-8, atol=1e-10)
    p3 = json.loads((tmp_path / "P3" / "results.json").read_text())
    assert p3["config"]["seeds"] == 3 and p3["diverged"] == {}
    assert p3["metrics"]["gap_final_median_n3_constant"] < 0.1
    assert (tmp_path / "P3" / "p3_sgd.png").stat().st_size > 10_000
    assert set(load_npz(tmp_path / "P3" / "p3_sgd.npz")) >= {"gap_n3_constant", "steps_n3_constant"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_cli_list_names_every_p_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"P{i} " in out for i in range(1, 5))


@pytest.mark.parametrize("argv,message", [
    (["run", "Z9"], "unknown experiment"),
    (["run", "P1", "--seeds", "0"], "positive integer"),
    (["run", "P1", "--seed", "-3"], "non-negative"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_bad_input_exits_2(argv, message, capsys):
    with pytest.raises(SystemExit) if argv[0] == "frobnicate" or "--seed" in argv or "--seeds" in argv else _noop():
        code = cli.main(argv)
        assert code == 2
    assert message in capsys.readouterr().err


def test_cli_unwritable_output_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert cli.main(["run", "P1", "--out", str(blocker / "sub")]) == 2
    assert "cannot create output directory" in capsys.readouterr().err


def test_cli_refuses_a_foreign_output_directory(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("someone else's work")
    assert cli.main(["run", "P1", "--quick", "--out", str(tmp_path)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_cli_reuses_its_own_output_directory(tmp_path):
    assert cli.main(["run", "P1", "--quick", "--out", str(tmp_path)]) == 0
    assert cli.main(["run", "P1", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "P1" / "results.json").exists()


class _noop:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
