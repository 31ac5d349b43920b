"""N1-N5 quick runs through the CLI (in-process), their results.json, figures and data."""

import importlib.util
import json
import re
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.experiments import get, make_config, networks
from jaxopt_course.results import load_npz

DIVERGED = re.compile(r"^diverged at step \d+$")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    """Run N1-N5 in quick mode once for the whole module."""
    out = tmp_path_factory.mktemp("networks")
    assert cli.main(["run", "N1", "N2", "N3", "N4", "N5", "--quick", "--seed", "0", "--out", str(out)]) == 0
    return out


def _results(out_dir: Path, exp_id: str) -> dict:
    """results.json of one experiment, after checking that its figures and data exist."""
    record = json.loads((out_dir / exp_id / "results.json").read_text())
    assert record["figures"]
    for name in record["figures"]:
        assert (out_dir / exp_id / name).stat().st_size > 10_000
        assert (out_dir / exp_id / name).with_suffix(".npz").exists()
    assert (out_dir / exp_id / "data.npz").exists()
    assert all(DIVERGED.match(msg) for msg in record["diverged"].values())
    return record


def test_configs_have_spec_defaults_and_quick_variants():
    n1, n2, n4, n5 = (get(i).config() for i in ("N1", "N2", "N4", "N5"))
    assert (1,) in n1.architectures and (10, 10) in n1.architectures and n1.num_epochs == 2000
    assert n1.learning_rate == 0.05 and n2.learning_rates == (0.02, 0.05, 0.1, 0.3)
    assert n2.activations == ("relu", "4sigmoid") and get("N3").config().seeds >= 20
    assert n4.optimizers == (("sgd", 0.05), ("adam", 0.1)) and n4.stop_below == 1e-13
    assert n5.grid.ranges == (1.0, 10.0)
    assert make_config(get("N3"), quick=True, seeds=7).seeds == 7


def test_n1_parameter_counts_and_fit(out_dir):
    m = _results(out_dir, "N1")["metrics"]
    assert m["1-1-1"]["num_params"] == 4 and m["1-10-10-1"]["num_params"] == 141
    for arch in ("1-1-1", "1-10-10-1"):
        assert m[arch]["num_inits"] == 4 and m[arch]["diverged_inits"] == 0
        assert 0 < m[arch]["final_train_loss_median"] < 0.2  # below the initial loss, mean(y^2) = 0.20
    data = load_npz(out_dir / "N1" / "data.npz")
    assert data["train_loss"].shape == (2, 4, 301) and data["fit_far"].shape == (2, 4, networks.FIT_POINTS)
    np.testing.assert_array_equal(data["param_counts"], [4, 141])


def test_n2_grid_of_activations_and_step_sizes(out_dir):
    record = _results(out_dir, "N2")
    m = record["metrics"]
    assert set(m) == {f"{a} lr={lr:g}" for a in ("relu", "4sigmoid") for lr in (0.02, 0.05, 0.1, 0.3)}
    for summary in m.values():
        assert summary["diverged_inits"] <= summary["num_inits"] == 4
        assert summary["final_test_loss_median"] is None or summary["final_test_loss_median"] > 0
    assert all(re.match(r"^1-10-10-1 (ReLU|4·sigmoid), γ=[0-9.]+, init \d$", label) for label in record["diverged"])
    assert sum(s["diverged_inits"] for s in m.values()) == len(record["diverged"])
    # N2 trains ReLU at step 0.05 from the same keys and settings as N1's 1-10-10-1 net
    n1 = json.loads((out_dir / "N1" / "results.json").read_text())["metrics"]["1-10-10-1"]
    assert m["relu lr=0.05"]["final_train_loss_median"] == pytest.approx(n1["final_train_loss_median"], rel=1e-5)


def test_n3_spread_over_initializations(out_dir):
    m = _results(out_dir, "N3")["metrics"]
    assert m["num_inits"] == 20
    assert m["final_train_loss_min"] <= m["final_train_loss_median"] <= m["final_train_loss_max"]
    assert m["final_train_loss_min"] < m["final_train_loss_max"]  # different inits, different minima
    assert 0.0 <= m["stuck_fraction"] <= 1.0


def test_n4_early_stop_and_sharpness(out_dir):
    m = _results(out_dir, "N4")["metrics"]
    sgd, adam = m["sgd lr=0.05"], m["adam lr=0.1"]
    assert adam["stopped_inits"] >= 1  # Adam reaches 1e-13 within the quick run's 3000 epochs
    data = load_npz(out_dir / "N4" / "data.npz")
    for c, summary in enumerate((sgd, adam)):
        stops = np.asarray(summary["stop_epochs"])
        assert summary["stopped_inits"] == int(np.sum(stops >= 0))
        final = data["train_loss"][c][:, -1]
        assert np.all(final[stops >= 0] < 1e-13) and np.all(final[stops < 0] >= 1e-13)
        for curve, stop in zip(data["train_loss"][c], stops):  # vmapped: each init frozen at its own epoch
            after = data["epochs"] >= stop
            if stop >= 0:
                np.testing.assert_array_equal(curve[after], curve[after][0])
                assert np.all(curve[data["epochs"] < stop] >= 1e-13)
        assert all(v > 0 for v in summary["top_hessian_eigenvalues"])
    assert sgd["gd_stability_threshold"] == 40.0 and "gd_stability_threshold" not in adam
    assert data["train_loss"].dtype == np.float64  # N4 trains in float64


def test_n5_landscapes_and_sharpness(out_dir):
    m = _results(out_dir, "N5")["metrics"]
    data = load_npz(out_dir / "N5" / "data.npz")
    for c, act in enumerate(("relu", "4sigmoid")):
        assert m[act]["top_hessian_eigenvalue_median"] > 0
        for kind in ("Gaussian", "filter"):
            slice_1 = data[f"slice_{kind}_0"][c]
            mid = slice_1.shape[-1] // 2  # t = 0 is the trained point: the slices' common value
            np.testing.assert_allclose(slice_1[:, mid], data[f"slice_{kind}_1"][c][:, mid], rtol=1e-6)
            surface = data[f"surface_{kind}"][c]
            np.testing.assert_allclose(surface[:, surface.shape[1] // 2, surface.shape[2] // 2], slice_1[:, mid],
                                       rtol=1e-5)
    assert data["surface_Gaussian"].shape == (2, 2, 11, 11)


def test_equal_sweeps_reuse_the_compiled_program(out_dir, caplog):
    """networks.Bound hashes by value: re-running N3's quick sweep compiles nothing."""
    config = networks.N3Config.quick()
    net = networks.Net(config.widths, config.activation, "sgd", config.learning_rate, config.num_epochs)
    fn = networks.Bound(networks.curves, (net,))
    assert fn == networks.Bound(networks.curves, (net,)) and hash(fn) == hash(networks.Bound(networks.curves, (net,)))
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        out = networks._sweep(fn, jax.random.key(0), config.seeds, networks.course_dataset())
    assert not [r for r in caplog.records if "Compiling" in r.getMessage() and "curves" in r.getMessage()]
    saved = json.loads((out_dir / "N3" / "results.json").read_text())["metrics"]
    assert np.median(out["train_loss"][:, -1]) == pytest.approx(saved["final_train_loss_median"], rel=1e-6)


def test_cli_rejects_bad_seeds_value(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "N1", "--quick", "--seeds", "0"])
    assert "positive integer" in capsys.readouterr().err


def test_benchmark_smoke(out_dir, tmp_path):
    """benchmarks/mlp_train.py --smoke writes its JSON report (PyTorch row when torch is installed).

    Its JAX program equals N1's quick 1-10-10-1 sweep (4 inits, 300 epochs): after ``out_dir``
    it is a compile-cache hit.
    """
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mlp_train.py"
    spec = importlib.util.spec_from_file_location("mlp_train_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    has_torch = importlib.util.find_spec("torch") is not None
    report = bench.main(["--smoke", "--out", str(tmp_path / "mlp.json")] + ([] if has_torch else ["--no-torch"]))
    saved = json.loads((tmp_path / "mlp.json").read_text())
    assert saved["inits"] == 4 and saved["epochs"] == 300 and saved["smoke"]
    assert report["jax"]["seconds"] > 0 and 0 < saved["jax"]["final_train_loss_median"] < 1
    if has_torch:
        assert saved["torch"]["seconds"] > 0 and saved["ratio_jax_over_torch"] > 0
        assert 0 < saved["torch"]["final_train_loss"] < 1
    else:
        assert saved["torch"] is None and saved["ratio_jax_over_torch"] is None
