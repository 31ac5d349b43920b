"""Smoke test of benchmarks/mnist_epoch.py on tiny sizes (no timings are asserted)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
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
    assert "index/jax" in table and "DataLoader/jax" in table and "random" in table
    record = json.loads(out.read_text())
    (row,) = record["rows"]
    assert row["n_train"] == 256 and row["batches_per_epoch"] == 4 and "jax_vmapped" not in row
    assert row["jax_epoch_s"] > 0 and row["jax"]["last_epoch_mean_batch_loss"] > 0
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "not installed" in row["torch_skipped"]
    else:
        (best,) = [min(t) for t in zip(*(row["epoch_s"][k] for k in bench.INDEX_LOOPS if k in row["epoch_s"]))]
        assert row["speedup_jax_over_torch"] == pytest.approx(best / row["epoch_s"]["jax"][0])
        (loader,) = row["epoch_s"]["torch_dataloader"]
        assert row["speedup_jax_over_torch_dataloader"] == pytest.approx(loader / row["epoch_s"]["jax"][0])
        # Same model, data and number of epochs: both first calls' mean losses sit near log(10).
        first = [row[k]["first_call_mean_batch_loss"] for k in ("torch", "jax")]
        assert abs(first[0] - first[1]) < 0.1 and all(abs(v - np.log(10)) < 0.2 for v in first)
