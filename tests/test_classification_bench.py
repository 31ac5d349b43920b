"""Smoke test of benchmarks/mnist_epoch.py on tiny sizes (no timings are asserted)."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "mnist_epoch.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("mnist_epoch_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_writes_table_and_json(tmp_path, capsys):
    bench = load_benchmark()
    out = tmp_path / "mnist_epoch.json"
    assert bench.main(["--smoke", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "torch/jax (best)" in table and "random" in table
    record = json.loads(out.read_text())
    (row,) = record["rows"]
    assert row["n_train"] == 256 and row["batches_per_epoch"] == 4 and "jax_vmapped" not in row
    assert row["jax_epoch_s"] > 0 and row["jax"]["last_epoch_mean_batch_loss"] > 0
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "not installed" in row["torch_skipped"]
    else:
        (best,) = [min(t) for t in zip(*(v for k, v in row["epoch_s"].items() if k.startswith("torch")))]
        assert row["speedup_jax_over_torch"] == pytest.approx(best / row["epoch_s"]["jax"][0])
        # Same model and data: after a few epochs on random labels both losses sit near log(10).
        assert abs(row["torch"]["last_epoch_mean_batch_loss"] - row["jax"]["last_epoch_mean_batch_loss"]) < 0.3
