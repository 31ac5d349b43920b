"""Benchmarks are not tests: this only checks that each runs end to end on tiny sizes."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own import-time warnings
def test_sgd_sweep_smoke(capsys):
    payload = _load("sgd_sweep").main(["--smoke"])
    names = {row["implementation"] for row in payload["rows"]}
    assert {"NumPy notebook loop (curves every step)", "jaxopt_course (bulk draws, recorded)"} <= names
    assert all(row["rate_M_per_s"] > 0 for row in payload["rows"])
    written = json.loads((BENCH / "results" / "sgd_sweep_smoke.json").read_text())
    assert written["rows"] == json.loads(json.dumps(payload["rows"]))
    assert "replicate-iterations per second" in capsys.readouterr().out


def test_sharding_smoke():
    payload = _load("sharding").main(["--smoke"])
    assert [row["devices"] for row in payload["rows"]] == [1, 2, 4]
    assert payload["identical_results"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own import-time warnings
def test_mlp_train_smoke(tmp_path):
    """mlp_train.py --smoke writes its JSON report (the PyTorch row only when torch is installed)."""
    has_torch = importlib.util.find_spec("torch") is not None
    args = ["--smoke", "--out", str(tmp_path / "mlp.json")] + ([] if has_torch else ["--no-torch"])
    report = _load("mlp_train").main(args)
    saved = json.loads((tmp_path / "mlp.json").read_text())
    assert saved["inits"] == 4 and saved["epochs"] == 300 and saved["smoke"]
    assert report["jax"]["seconds"] > 0 and 0 < saved["jax"]["final_train_loss_median"] < 1
    if has_torch:
        assert saved["torch"]["seconds"] > 0 and saved["ratio_jax_over_torch"] > 0
        assert 0 < saved["torch"]["final_train_loss"] < 1
    else:
        assert saved["torch"] is None and saved["ratio_jax_over_torch"] is None


@pytest.mark.slow  # two compilations of P3's sweep (~10 s): beyond the default suite's budget
def test_progress_overhead_smoke():
    payload = _load("progress_overhead").main(["--smoke", "--repeats", "1"])
    assert [row["progress"] for row in payload["rows"]] == ["off", "on"]
    assert payload["rows"][0]["host_ticks"] == 0 and payload["rows"][1]["host_ticks"] == 70  # every 3 of 210 steps
    assert payload["tick_cost_us"] >= 0 and payload["overhead_model_percent"] >= 0
