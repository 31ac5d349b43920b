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
