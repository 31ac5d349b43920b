"""The matrix-sensing benchmark is not a test: this only checks that it runs end to end on tiny sizes."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "matrix_sensing.py"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own import-time warnings
def test_matrix_sensing_benchmark_smoke(capsys):
    spec = importlib.util.spec_from_file_location("matrix_sensing_benchmark", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    payload = module.main(["--smoke"])
    names = {row["implementation"] for row in payload["rows"]}
    assert {"NumPy vectorized, R=2", "ours jit, packed float32, 2-pass XLA, R=2",
            "ours jit, packed float32, 1-pass compiled, R=2",
            "ours jit+vmap, 5 alphas, packed float32, 2-pass XLA, S^T copy, R=12",
            "ours jit+vmap, 5 alphas, packed float32, 1-pass compiled, R=12"} <= names
    ratios = [row["vmapped_over_single_per_run"] for row in payload["rows"] if "vmapped_over_single_per_run" in row]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
    assert all(row["ms_per_step"] > 0 and row["x_one_read_bound"] > 0 for row in payload["rows"])
    assert set(payload["scaling"]) == {"m", "d"}
    written = json.loads(Path(BENCH.parent / "results" / "matrix_sensing_smoke.json").read_text())
    assert written["rows"] == json.loads(json.dumps(payload["rows"]))
    assert "one-read bound" in capsys.readouterr().out
